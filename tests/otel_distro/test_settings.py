"""The settings table: every OTEL_DISTRO_* variable in one place, validated, errors naming variable and value."""

from __future__ import annotations

import dataclasses

import pytest

from otel_distro.settings import SETTINGS_TABLE, Settings, SettingsError, load_settings


def test_unset_and_empty_variables_give_the_documented_defaults() -> None:
    assert load_settings({}) == Settings()
    assert load_settings({"OTEL_DISTRO_LOG_FORMAT": "  "}) == Settings()


def test_every_row_fills_a_field_and_every_field_has_a_row() -> None:
    fields = {f.name for f in dataclasses.fields(Settings)}
    rows = [row.field for row in SETTINGS_TABLE]
    assert sorted(rows) == sorted(fields)
    # SENTRY_DSN is Sentry's own name for the one DSN, shared with the SDKs.
    assert all(row.env.startswith("OTEL_DISTRO_") or row.env == "SENTRY_DSN" for row in SETTINGS_TABLE)


def test_values_are_parsed() -> None:
    settings = load_settings(
        {
            "OTEL_DISTRO_LOG_FORMAT": "Console",
            "OTEL_DISTRO_LOG_LEVEL": "DEBUG",
            "OTEL_DISTRO_ASGI_SEND_RECEIVE_SPANS": "yes",
            "OTEL_DISTRO_QUIET_PATHS": "/healthz, /livez/",
            "OTEL_DISTRO_REQUEST_ID_HEADER": "X-Correlation-ID",
            "OTEL_DISTRO_METRICS_PATH": "/internal/metrics",
            "OTEL_DISTRO_PROMETHEUS": "off",
            "OTEL_DISTRO_SCRUB": "0",
        }
    )
    assert settings.log_format == "console"
    assert settings.log_level == "debug"
    assert settings.asgi_send_receive_spans is True
    assert settings.quiet_paths == ("/healthz", "/livez")
    assert settings.request_id_header == "x-correlation-id"
    assert settings.metrics_path == "/internal/metrics"
    assert settings.prometheus == "off"
    assert settings.scrub is False


@pytest.mark.parametrize(
    ("variable", "value", "allowed"),
    [
        ("OTEL_DISTRO_LOG_FORMAT", "xml", "json or console"),
        ("OTEL_DISTRO_LOG_LEVEL", "loud", "debug, info, warning, error or critical"),
        ("OTEL_DISTRO_SCRUB", "maybe", "true or false"),
        ("OTEL_DISTRO_METRICS_PATH", "metrics", "a path starting with /"),
        ("OTEL_DISTRO_REQUEST_ID_HEADER", "x id", "an HTTP header name"),
        ("OTEL_DISTRO_PROMETHEUS", "sometimes", "auto, on or off"),
    ],
)
def test_a_bad_value_names_the_variable_the_value_and_what_is_allowed(variable: str, value: str, allowed: str) -> None:
    with pytest.raises(SettingsError) as raised:
        load_settings({variable: value})
    message = str(raised.value)
    assert f"{variable}={value!r}" in message
    assert allowed in message


def test_all_bad_values_are_reported_together() -> None:
    with pytest.raises(SettingsError) as raised:
        load_settings({"OTEL_DISTRO_LOG_FORMAT": "xml", "OTEL_DISTRO_LOG_LEVEL": "loud"})
    assert len(raised.value.problems) == 2


def test_the_scrub_key_is_never_shown() -> None:
    settings = load_settings({"OTEL_DISTRO_SCRUB_KEY": "s3cr3t-key-0123456789"})
    assert settings.scrub_key == "s3cr3t-key-0123456789"
    assert "s3cr3t" not in repr(settings)


def test_a_scrub_key_too_short_for_the_engine_is_refused_without_showing_it() -> None:
    with pytest.raises(SettingsError) as raised:
        load_settings({"OTEL_DISTRO_SCRUB_KEY": "short-s3cr3t"})
    message = str(raised.value)
    assert message.startswith("OTEL_DISTRO_SCRUB_KEY=<secret> is not allowed")
    assert "at least 16 bytes" in message
    assert "s3cr3t" not in message


def test_a_scrub_key_of_16_bytes_configures_the_scrubber() -> None:
    from otel_distro._internal.scrub import scrubbing_hooks  # noqa: PLC0415

    settings = load_settings({"OTEL_DISTRO_SCRUB_KEY": "k" * 16})
    assert scrubbing_hooks(settings).structlog is not None


def test_analytics_and_browser_settings_are_parsed() -> None:
    settings = load_settings({
        "OTEL_DISTRO_ANALYTICS_FLUSH_INTERVAL": "5m",
        "OTEL_DISTRO_ANALYTICS_BATCH_SIZE": "50",
        "OTEL_DISTRO_ANALYTICS_RATE_LIMIT": "0",
        "OTEL_DISTRO_CORS_ORIGINS": "https://app.example/, http://localhost:5173",
        "SENTRY_DSN": "https://key:secret@o1.ingest.sentry.io/42",
        "OTEL_DISTRO_SENTRY_TUNNEL_DSNS": "https://a@sentry.example/1,https://b@sentry.example/prefix/2",
        "OTEL_DISTRO_SENTRY_TRACES_SAMPLE_RATE": "0.5",
    })
    assert settings.analytics_flush_interval == 300.0
    assert settings.analytics_batch_size == 50
    assert settings.analytics_rate_limit == 0
    assert settings.cors_origins == ("https://app.example", "http://localhost:5173")
    assert settings.sentry_tunnel_dsns == ("https://a@sentry.example/1", "https://b@sentry.example/prefix/2")
    assert settings.sentry_traces_sample_rate == 0.5
    assert "secret" not in repr(settings)


@pytest.mark.parametrize(
    ("variable", "value", "shown"),
    [
        ("OTEL_DISTRO_ANALYTICS_FLUSH_INTERVAL", "soon", "'soon'"),
        ("OTEL_DISTRO_ANALYTICS_RATE_LIMIT", "50", "'50'"),  # below one full batch
        ("OTEL_DISTRO_CORS_ORIGINS", "app.example", "'app.example'"),
        ("OTEL_DISTRO_SENTRY_SAMPLE_RATE", "1.5", "'1.5'"),
        ("SENTRY_DSN", "https://sentry.example/not-a-project", "<secret>"),  # a DSN may hold a secret: never shown
        ("OTEL_DISTRO_ANALYTICS_DATABASE_URL", "analytics.db", "<secret>"),
    ],
)
def test_bad_analytics_and_browser_values_name_the_variable(variable: str, value: str, shown: str) -> None:
    with pytest.raises(SettingsError) as raised:
        load_settings({variable: value})
    assert str(raised.value).startswith(f"{variable}={shown} is not allowed: expected ")
@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("500ms", 0.5), ("30s", 30), ("1.5m", 90), ("5m", 300), ("1h", 3600), ("90d", 90 * 86400), (" 2S ", 2),
        ("30", 30), (".5s", 0.5), ("0s", 0),
    ],
)
def test_durations_are_a_number_and_a_unit(text: str, seconds: float) -> None:
    from otel_distro.settings import _duration  # noqa: PLC0415

    assert _duration(text) == seconds


@pytest.mark.parametrize("text", ["s", "1 h 2", "-1s", "1w", "1e3s", "nan", "inf", "", "5 minutes"])
def test_what_is_not_a_duration_is_refused(text: str) -> None:
    from otel_distro.settings import _duration  # noqa: PLC0415

    with pytest.raises(ValueError):
        _duration(text)


def test_health_and_alert_settings() -> None:
    settings = load_settings(
        {
            "OTEL_DISTRO_HEALTH_INTERVAL": "1s",
            "OTEL_DISTRO_HEALTH_TIMEOUT": "250ms",
            "OTEL_DISTRO_HEALTH_HTTP_CHECKS": "payments=https://pay.example/health, search=http://search:9200/",
            "OTEL_DISTRO_HEALTH_OPTIONAL": "search,Redis",
            "OTEL_DISTRO_HEALTH_TOKEN": "operator-token-0123456789",
            "OTEL_DISTRO_ALERT_LATENCY_P95": "2s",
            "OTEL_DISTRO_ALERT_ERROR_RATE": "0.1",
            "OTEL_DISTRO_ALERT_WINDOW": "10m",
            "OTEL_DISTRO_ALERT_MIN_REQUESTS": "50",
            "OTEL_DISTRO_ALERTMANAGER_URL": "http://alertmanager:9093/",
        }
    )
    assert (settings.health_interval, settings.health_timeout) == (1.0, 0.25)
    assert settings.health_http_checks == (
        ("payments", "https://pay.example/health"),
        ("search", "http://search:9200/"),
    )
    assert settings.health_optional == ("search", "redis")
    assert settings.health_token == "operator-token-0123456789"
    assert "operator-token" not in repr(settings)
    assert (settings.alert_latency_p95, settings.alert_error_rate, settings.alert_window) == (2.0, 0.1, 600.0)
    assert settings.alert_min_requests == 50
    assert settings.alertmanager_url == "http://alertmanager:9093"
    defaults = load_settings({})
    assert (defaults.health_interval, defaults.alert_latency_p95, defaults.alert_error_rate) == (30.0, 5.0, 0.05)


@pytest.mark.parametrize(
    ("variable", "value", "allowed"),
    [
        ("OTEL_DISTRO_HEALTH_INTERVAL", "30x", "a duration such as 500ms, 30s, 5m, 1h"),
        ("OTEL_DISTRO_HEALTH_INTERVAL", "0s", "a duration"),
        ("OTEL_DISTRO_HEALTH_HTTP_CHECKS", "payments", "name=http(s)://url"),
        ("OTEL_DISTRO_HEALTH_HTTP_CHECKS", "a=ftp://x", "name=http(s)://url"),
        ("OTEL_DISTRO_HEALTH_HTTP_CHECKS", "a=http://x,a=http://y", "each name once"),
        ("OTEL_DISTRO_ALERT_ERROR_RATE", "150%", "a fraction"),
        ("OTEL_DISTRO_ALERT_MIN_REQUESTS", "0", "a whole number"),
        ("OTEL_DISTRO_ALERTMANAGER_URL", "alertmanager:9093", "an http(s):// URL"),
    ],
)
def test_bad_health_settings_name_the_variable(variable: str, value: str, allowed: str) -> None:
    with pytest.raises(SettingsError) as raised:
        load_settings({variable: value})
    assert f"{variable}={value!r}" in str(raised.value)
    assert allowed in str(raised.value)


def test_a_short_health_token_is_refused_without_showing_it() -> None:
    with pytest.raises(SettingsError) as raised:
        load_settings({"OTEL_DISTRO_HEALTH_TOKEN": "s3cr3t"})
    assert "OTEL_DISTRO_HEALTH_TOKEN=<secret>" in str(raised.value)
    assert "s3cr3t" not in str(raised.value)
