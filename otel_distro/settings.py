"""The distro's own settings: every ``OTEL_DISTRO_*`` variable, read in one table and validated at start.

Standard ``OTEL_*`` variables (service name, resource attributes, exporters, endpoints, samplers) keep
their upstream meaning and are read by the OpenTelemetry SDK itself; only what the SDK has no variable for
lives here. A bad value raises `SettingsError`, whose message names the variable, the value and what is
allowed; the configurator turns it into a failed start-up.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

__all__ = [
    "RETENTION_SETTINGS_TABLE",
    "SETTINGS_TABLE",
    "RetentionSettings",
    "Setting",
    "Settings",
    "SettingsError",
    "load_retention_settings",
    "load_settings",
    "uses_upstream_http_instrumentation",
]

LogFormat = Literal["json", "console"]
LogLevel = Literal["debug", "info", "warning", "error", "critical"]
PrometheusMode = Literal["auto", "on", "off"]
RaiseMode = Literal["auto", "true", "false"]
HttpInstrumentation = Literal["distro", "upstream"]


class SettingsError(ValueError):
    """One or more ``OTEL_DISTRO_*`` variables hold a value that is not allowed (one line per variable)."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True, slots=True)
class Settings:
    """Validated distro settings. Field defaults are the documented defaults of the table below."""

    enabled: bool = True
    log_format: LogFormat = "json"
    log_level: LogLevel = "info"
    log_export: bool = True
    log_request_start: bool = False
    access_log: bool = False
    request_id_header: str = "x-request-id"
    quiet_paths: tuple[str, ...] = ("/health", "/health/detailed", "/metrics")
    asgi_send_receive_spans: bool = False
    http_instrumentation: HttpInstrumentation = "distro"
    metrics_path: str = "/metrics"
    prometheus: PrometheusMode = "auto"
    health_path: str = "/health"
    health_redis_url: str | None = None
    system_metrics: bool = True
    environment: str = "development"
    service_version: str | None = None
    scrub: bool = True
    scrub_key: str | None = dataclasses.field(default=None, repr=False)
    raise_internal_errors: RaiseMode = "auto"
    analytics: bool = True
    analytics_database_url: str | None = dataclasses.field(default=None, repr=False)
    analytics_batch_size: int = 100
    analytics_flush_interval: float = 300.0
    analytics_buffer_size: int = 10_000
    analytics_rate_limit: int = 600
    cors_origins: tuple[str, ...] = ()
    sentry_dsn: str | None = dataclasses.field(default=None, repr=False)
    sentry_browser_dsn: str | None = None
    sentry_tunnel_dsns: tuple[str, ...] = ()
    sentry_tunnel_max_bytes: int = 1 << 20
    sentry_traces_sample_rate: float = 0.1
    sentry_sample_rate: float = 1.0
    health_interval: float = 30.0
    health_timeout: float = 5.0
    health_http_checks: tuple[tuple[str, str], ...] = ()
    health_optional: tuple[str, ...] = ()
    health_token: str | None = dataclasses.field(default=None, repr=False)
    health_disk_path: str = "."
    alert_latency_p95: float = 5.0
    alert_error_rate: float = 0.05
    alert_window: float = 300.0
    alert_min_requests: int = 20
    alertmanager_url: str | None = None
    alerts_database_url: str = "sqlite:///data/alert-history.db"
    alerts_escalate_after: float = 900.0
    alerts_escalate_again_after: float = 900.0
    fast_path: bool = True


@dataclass(frozen=True, slots=True)
class Setting:
    """One row of the table: the variable, the `Settings` field it fills, and how its text is parsed."""

    env: str
    field: str
    parse: Callable[[str], Any]
    allowed: str
    help: str
    secret: bool = False


def _bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ValueError(text)


def _choice(*allowed: str) -> Callable[[str], str]:
    def parse(text: str) -> str:
        lowered = text.strip().lower()
        if lowered not in allowed:
            raise ValueError(text)
        return lowered

    return parse


def _path(text: str) -> str:
    stripped = text.strip()
    if not stripped.startswith("/") or " " in stripped or len(stripped) > 200:
        raise ValueError(text)
    return stripped.rstrip("/") or "/"


def _paths(text: str) -> tuple[str, ...]:
    return tuple(_path(part) for part in text.split(",") if part.strip())


def _header(text: str) -> str:
    stripped = text.strip().lower()
    if not stripped or not all(c.isalnum() or c == "-" for c in stripped):
        raise ValueError(text)
    return stripped


def _text(text: str) -> str:
    stripped = text.strip()
    if not stripped:
        raise ValueError(text)
    return stripped


def _int_range(low: int, high: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        value = int(text.strip())
        if not low <= value <= high:
            raise ValueError(text)
        return value

    return parse


def _rate_limit(text: str) -> int:
    value = int(text.strip())
    if value != 0 and not 100 <= value <= 10_000_000:  # a full batch (100 events) must be able to pass
        raise ValueError(text)
    return value


def _url(text: str) -> str:
    stripped = text.strip()
    scheme, sep, rest = stripped.partition("://")
    if not sep or not scheme or not rest or " " in stripped:
        raise ValueError(text)
    return stripped


def _origins(text: str) -> tuple[str, ...]:
    origins = tuple(part.strip().rstrip("/") for part in text.split(",") if part.strip())
    for origin in origins:
        if origin != "*" and not origin.startswith(("http://", "https://")):
            raise ValueError(text)
    return origins


def _dsn(text: str) -> str:
    """A Sentry DSN: ``https://<public key>@<host>/<project id>`` (a path prefix before the id is allowed)."""
    from urllib.parse import urlsplit  # noqa: PLC0415

    stripped = text.strip()
    parts = urlsplit(stripped)
    project = parts.path.rstrip("/").rpartition("/")[2]
    if parts.scheme not in ("http", "https") or not parts.username or not parts.hostname or not project.isdigit():
        raise ValueError("<dsn>")
    return stripped


def _dsns(text: str) -> tuple[str, ...]:
    return tuple(_dsn(part) for part in text.split(",") if part.strip())


#: The scrubbing engine's minimum HMAC key length: shorter keys make pseudonyms guessable.
MIN_SCRUB_KEY_BYTES = 16


def _secret_key(text: str) -> str:
    stripped = text.strip()
    if len(stripped.encode()) < MIN_SCRUB_KEY_BYTES:
        raise ValueError("<secret>")  # never the value itself
    return stripped


_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_DURATION = re.compile(r"(\d+(?:\.\d+)?|\.\d+)\s*(ms|s|m|h|d)?")


def _duration(text: str) -> float:
    """Seconds in a duration string: a number and a unit, ``500ms``, ``30s``, ``1.5m``, ``1h``, ``90d``; a bare
    number is seconds. Never negative; zero is a duration (`_positive_duration` refuses it)."""
    matched = _DURATION.fullmatch(text.strip().lower())
    if matched is None:
        raise ValueError(text)
    return float(matched.group(1)) * _DURATION_UNITS[matched.group(2) or "s"]


def _positive_duration(text: str) -> float:
    """A `_duration` above zero."""
    seconds = _duration(text)
    if seconds <= 0:
        raise ValueError(text)
    return seconds


def _ratio(text: str) -> float:
    """A fraction in [0, 1], written ``0.05`` or ``5%``."""
    stripped = text.strip()
    value = float(stripped[:-1]) / 100 if stripped.endswith("%") else float(stripped)
    if not 0 <= value <= 1:
        raise ValueError(text)
    return value


def _positive_int(text: str) -> int:
    value = int(text.strip())
    if value < 1:
        raise ValueError(text)
    return value


_CHECK_NAME = re.compile(r"[a-z0-9][a-z0-9_.:-]{0,63}")


def _check_names(text: str) -> tuple[str, ...]:
    names = tuple(part.strip().lower() for part in text.split(",") if part.strip())
    if not all(_CHECK_NAME.fullmatch(name) for name in names):
        raise ValueError(text)
    return names


def _http_checks(text: str) -> tuple[tuple[str, str], ...]:
    """``name=url`` pairs, comma-separated; each URL http(s) with a host, each name once."""
    pairs: list[tuple[str, str]] = []
    for part in text.split(","):
        if not part.strip():
            continue
        name, equals, url = part.partition("=")
        name, url = name.strip().lower(), url.strip()
        parts = urlsplit(url)
        if not equals or not _CHECK_NAME.fullmatch(name) or parts.scheme not in {"http", "https"} or not parts.hostname:
            raise ValueError(text)
        pairs.append((name, url))
    if len({name for name, _ in pairs}) != len(pairs):
        raise ValueError(text)
    return tuple(pairs)


def _http_url(text: str) -> str:
    stripped = text.strip().rstrip("/")
    parts = urlsplit(stripped)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ValueError(text)
    return stripped


def _token(text: str) -> str:
    stripped = text.strip()
    if len(stripped) < MIN_SCRUB_KEY_BYTES or any(c.isspace() for c in stripped):
        raise ValueError("<secret>")
    return stripped


def _database_url(text: str) -> str:
    stripped = text.strip()
    if "://" not in stripped:
        raise ValueError(text)
    return stripped


_BOOL = "true or false (also 1/0, yes/no, on/off)"
_DURATION_TEXT = "a duration such as 500ms, 30s, 5m, 1h"

SETTINGS_TABLE: tuple[Setting, ...] = (
    Setting("OTEL_DISTRO_ENABLED", "enabled", _bool, _BOOL, "master switch; false leaves the app untouched"),
    Setting("OTEL_DISTRO_LOG_FORMAT", "log_format", _choice("json", "console"), "json or console",
            "json: one JSON object per line; console: human-readable lines for local development"),
    Setting("OTEL_DISTRO_LOG_LEVEL", "log_level", _choice("debug", "info", "warning", "error", "critical"),
            "debug, info, warning, error or critical", "lowest level printed and exported"),
    Setting("OTEL_DISTRO_LOG_EXPORT", "log_export", _bool, _BOOL, "also export log records over OTLP"),
    Setting("OTEL_DISTRO_LOG_REQUEST_START", "log_request_start", _bool, _BOOL,
            "log `request_started` at info (default: at debug, so only `request_finished` prints)"),
    Setting("OTEL_DISTRO_ACCESS_LOG", "access_log", _bool, _BOOL,
            "keep uvicorn's access log (off by default: `request_finished` carries the same and more)"),
    Setting("OTEL_DISTRO_REQUEST_ID_HEADER", "request_id_header", _header, "an HTTP header name",
            "header the request id is read from and returned in"),
    Setting("OTEL_DISTRO_QUIET_PATHS", "quiet_paths", _paths, "comma-separated paths starting with /",
            "paths whose requests are neither logged nor traced"),
    Setting("OTEL_DISTRO_ASGI_SEND_RECEIVE_SPANS", "asgi_send_receive_spans", _bool, _BOOL,
            "keep the per-request ASGI `http send` / `http receive` internal spans (implies upstream below)"),
    Setting("OTEL_DISTRO_HTTP_INSTRUMENTATION", "http_instrumentation", _choice("distro", "upstream"),
            "distro or upstream",
            "who makes the HTTP server spans and duration metric: the distro's lean ASGI middleware, or the "
            "OpenTelemetry FastAPI/ASGI instrumentation"),
    Setting("OTEL_DISTRO_METRICS_PATH", "metrics_path", _path, "a path starting with /",
            "where Prometheus text metrics are served on FastAPI apps"),
    Setting("OTEL_DISTRO_PROMETHEUS", "prometheus", _choice("auto", "on", "off"), "auto, on or off",
            "serve the metrics path: auto = on with one worker, an explanatory 503 with several"),
    Setting("OTEL_DISTRO_HEALTH_PATH", "health_path", _path, "a path starting with /",
            "health summary from the background monitor's last run; `<path>/detailed` for operators"),
    Setting("OTEL_DISTRO_HEALTH_REDIS_URL", "health_redis_url", _text, "a redis:// URL",
            "Redis checked by the health monitor"),
    Setting("OTEL_DISTRO_SYSTEM_METRICS", "system_metrics", _bool, _BOOL,
            "CPU, memory, disk and network metrics from psutil"),
    Setting("OTEL_DISTRO_ENVIRONMENT", "environment", _text, "a non-empty name",
            "deployment.environment.name unless OTEL_RESOURCE_ATTRIBUTES sets it"),
    Setting("OTEL_DISTRO_SERVICE_VERSION", "service_version", _text, "a non-empty version",
            "service.version unless OTEL_RESOURCE_ATTRIBUTES sets it"),
    Setting("OTEL_DISTRO_SCRUB", "scrub", _bool, _BOOL, "scrub PII and secrets from logs and spans at the source"),
    Setting("OTEL_DISTRO_SCRUB_KEY", "scrub_key", _secret_key,
            f"a secret of at least {MIN_SCRUB_KEY_BYTES} bytes (e.g. `openssl rand -hex 32`)",
            "HMAC key for stable pseudonyms of scrubbed values (never logged)", secret=True),
    Setting("OTEL_DISTRO_RAISE_INTERNAL_ERRORS", "raise_internal_errors", _choice("auto", "true", "false"),
            "auto, true or false", "raise the distro's own failures (auto: only under pytest)"),
    Setting("OTEL_DISTRO_ANALYTICS", "analytics", _bool, _BOOL,
            "product analytics: `track_event` and the `POST /analytics/events` route"),
    Setting("OTEL_DISTRO_ANALYTICS_DATABASE_URL", "analytics_database_url", _url,
            "a SQLAlchemy URL (e.g. postgresql+psycopg://user@host/db)",
            "where analytics events are stored (table analytics_events); default SQLite "
            "./otel-distro-analytics.db", secret=True),
    Setting("OTEL_DISTRO_ANALYTICS_BATCH_SIZE", "analytics_batch_size", _int_range(1, 10_000),
            "an integer from 1 to 10000", "buffered analytics events that start a flush (and rows per insert)"),
    Setting("OTEL_DISTRO_ANALYTICS_FLUSH_INTERVAL", "analytics_flush_interval", _positive_duration, _DURATION_TEXT,
            "longest time an analytics event waits in the buffer"),
    Setting("OTEL_DISTRO_ANALYTICS_BUFFER_SIZE", "analytics_buffer_size", _int_range(100, 10_000_000),
            "an integer from 100 to 10000000",
            "most analytics events held in memory (while the database is away); beyond it new events are dropped"),
    Setting("OTEL_DISTRO_ANALYTICS_RATE_LIMIT", "analytics_rate_limit", _rate_limit,
            "an integer, 0 = no limit, else at least 100",
            "analytics events per minute one client may send to POST /analytics/events"),
    Setting("OTEL_DISTRO_CORS_ORIGINS", "cors_origins", _origins,
            "comma-separated origins (https://app.example.com) or *",
            "browser origins allowed to call the distro's routes (analytics, Sentry tunnel, monitoring config)"),
    Setting("SENTRY_DSN", "sentry_dsn", _dsn, "a Sentry DSN https://<key>@<host>/<project id>",
            "the Sentry project; the browser tunnel forwards only to it (and to the DSNs listed below)", secret=True),
    Setting("OTEL_DISTRO_SENTRY_BROWSER_DSN", "sentry_browser_dsn", _dsn, "a Sentry DSN",
            "the DSN the browser is given by GET /monitoring/config (default: SENTRY_DSN); allowed by the tunnel"),
    Setting("OTEL_DISTRO_SENTRY_TUNNEL_DSNS", "sentry_tunnel_dsns", _dsns, "comma-separated Sentry DSNs",
            "more DSNs the browser tunnel may forward to (matched on host and project id)"),
    Setting("OTEL_DISTRO_SENTRY_TUNNEL_MAX_BYTES", "sentry_tunnel_max_bytes", _int_range(1024, 200 << 20),
            "an integer from 1024 to 209715200", "largest envelope POST /monitoring/tunnel takes"),
    Setting("OTEL_DISTRO_SENTRY_TRACES_SAMPLE_RATE", "sentry_traces_sample_rate", _ratio,
            "a fraction from 0 to 1 (0.1 or 10%)",
            "tracesSampleRate given to the browser SDK by GET /monitoring/config"),
    Setting("OTEL_DISTRO_SENTRY_SAMPLE_RATE", "sentry_sample_rate", _ratio, "a fraction from 0 to 1 (0.1 or 10%)",
            "sampleRate (errors) given to the browser SDK by GET /monitoring/config"),
    Setting("OTEL_DISTRO_HEALTH_INTERVAL", "health_interval", _positive_duration, _DURATION_TEXT,
            "how often the background monitor runs every health check"),
    Setting("OTEL_DISTRO_HEALTH_TIMEOUT", "health_timeout", _positive_duration, _DURATION_TEXT,
            "how long one health check may take before it counts as failed (at most the interval)"),
    Setting("OTEL_DISTRO_HEALTH_HTTP_CHECKS", "health_http_checks", _http_checks,
            "comma-separated name=http(s)://url pairs, each name once",
            "external HTTP services the monitor checks (a status below 400 is up)"),
    Setting("OTEL_DISTRO_HEALTH_OPTIONAL", "health_optional", _check_names, "comma-separated check names",
            "checks reported but not required: their failure does not turn /health to 503"),
    Setting("OTEL_DISTRO_HEALTH_TOKEN", "health_token", _token,
            f"a secret of at least {MIN_SCRUB_KEY_BYTES} characters, no spaces",
            "bearer token that opens /health/detailed to non-loopback clients (never logged)", secret=True),
    Setting("OTEL_DISTRO_HEALTH_DISK_PATH", "health_disk_path", _text, "a directory",
            "the data volume whose disk use /health/detailed reports"),
    Setting("OTEL_DISTRO_ALERT_LATENCY_P95", "alert_latency_p95", _positive_duration, _DURATION_TEXT,
            "raise `HighLatency` when the p95 response time over the window exceeds this"),
    Setting("OTEL_DISTRO_ALERT_ERROR_RATE", "alert_error_rate", _ratio, "a fraction such as 0.05 or 5%",
            "raise `HighErrorRate` when the share of 5xx responses over the window exceeds this"),
    Setting("OTEL_DISTRO_ALERT_WINDOW", "alert_window", _positive_duration, _DURATION_TEXT,
            "the sliding window the latency and error-rate thresholds are computed over"),
    Setting("OTEL_DISTRO_ALERT_MIN_REQUESTS", "alert_min_requests", _positive_int, "a whole number >= 1",
            "fewer requests in the window than this never raise a threshold alert"),
    Setting("OTEL_DISTRO_ALERTMANAGER_URL", "alertmanager_url", _http_url, "an http(s):// URL",
            "Alertmanager the app posts its threshold alerts to (`<url>/api/v2/alerts`); `otel-distro alerts "
            "serve` re-posts escalations there and reads its silences"),
    Setting("OTEL_DISTRO_ALERTS_DATABASE_URL", "alerts_database_url", _database_url,
            "a SQLAlchemy URL, e.g. postgresql+psycopg://user:pw@host/db", "alert history database "
            "(`otel-distro alerts serve`; SQLite file by default)", secret=True),
    Setting("OTEL_DISTRO_ALERTS_ESCALATE_AFTER", "alerts_escalate_after", _positive_duration, _DURATION_TEXT,
            "a critical alert firing and not acknowledged this long is escalated (escalation_level=1)"),
    Setting("OTEL_DISTRO_ALERTS_ESCALATE_AGAIN_AFTER", "alerts_escalate_again_after", _positive_duration,
            _DURATION_TEXT, "still not acknowledged this long after level 1: escalation_level=2"),
    Setting("OTEL_DISTRO_FAST_PATH", "fast_path", _bool, _BOOL,
            "use OpenTelemetry internals for speed on the releases known to work (else the plain SDK path)"),
)


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Read every row of `SETTINGS_TABLE` from ``environ`` (default `os.environ`); unset or empty = default."""
    return Settings(**_read(SETTINGS_TABLE, environ))


def _read(table: tuple[Setting, ...], environ: Mapping[str, str] | None) -> dict[str, Any]:
    """The parsed value of every row that is set (unset or empty = default); `SettingsError` lists every
    bad one."""
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    problems: list[str] = []
    for row in table:
        text = env.get(row.env)
        if text is None or not text.strip():
            continue
        try:
            values[row.field] = row.parse(text)
        except ValueError:
            shown = "<secret>" if row.secret else repr(text)
            problems.append(f"{row.env}={shown} is not allowed: expected {row.allowed} ({row.help})")
    if problems:
        raise SettingsError(problems)
    return values


def uses_upstream_http_instrumentation(settings: Settings) -> bool:
    """Whether the OpenTelemetry FastAPI/ASGI instrumentation makes the server spans (else the distro does)."""
    return settings.http_instrumentation == "upstream" or settings.asgi_send_receive_spans


# -- the retention job (`otel-distro retention run|schedule`) ----------------------------------------------------


@dataclass(frozen=True, slots=True)
class RetentionSettings:
    """What `otel-distro retention` reads from the environment; a ``--config`` file and flags override it."""

    older_than: float = 90 * 86400.0
    at: str = "03:00"
    data_streams: tuple[str, ...] = ("logs-*", "traces-*", "metrics-*")
    files: tuple[str, ...] = ()
    archive_dir: str | None = None
    elasticsearch_url: str | None = None
    elasticsearch_api_key: str | None = dataclasses.field(default=None, repr=False)
    snapshot_repository: str = "otel-distro-backups"
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_username: str | None = None
    smtp_password: str | None = dataclasses.field(default=None, repr=False)
    smtp_from: str = "otel-distro-retention@localhost"
    smtp_starttls: bool = False
    admin_email: str | None = None


def _clock_time(text: str) -> str:
    hours, sep, minutes = text.strip().partition(":")
    if not sep or not (hours.isdigit() and minutes.isdigit()) or int(hours) > 23 or int(minutes) > 59:
        raise ValueError(text)
    return f"{int(hours):02d}:{int(minutes):02d}"


def _list(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def _port(text: str) -> int:
    value = int(text.strip())
    if not 0 < value < 65536:
        raise ValueError(text)
    return value


def _address(text: str) -> str:
    stripped = text.strip()
    local, at, domain = stripped.rpartition("@")
    if not at or not local or not domain or " " in stripped:
        raise ValueError(text)
    return stripped


RETENTION_SETTINGS_TABLE: tuple[Setting, ...] = (
    Setting("OTEL_DISTRO_RETENTION_OLDER_THAN", "older_than", _positive_duration, "a duration such as 90d or 12h",
            "what is older than this is snapshotted or archived, then deleted"),
    Setting("OTEL_DISTRO_RETENTION_AT", "at", _clock_time, "a local time HH:MM",
            "when `otel-distro retention schedule` runs each night (the process's local time zone, TZ)"),
    Setting("OTEL_DISTRO_RETENTION_DATA_STREAMS", "data_streams", _list, "comma-separated data stream patterns",
            "Elasticsearch data streams whose old backing indices are snapshotted and deleted"),
    Setting("OTEL_DISTRO_RETENTION_FILES", "files", _list, "comma-separated file globs",
            "local files (e.g. the collector's rotated file exporter output) archived with gzip, then deleted"),
    Setting("OTEL_DISTRO_RETENTION_ARCHIVE_DIR", "archive_dir", _text, "a directory",
            "where the gzip archives go (default: an `archive` directory beside each file)"),
    Setting("ELASTICSEARCH_URL", "elasticsearch_url", _text, "an http(s) URL",
            "the Elasticsearch cluster (unset: the retention job leaves Elasticsearch alone)"),
    Setting("ELASTICSEARCH_API_KEY", "elasticsearch_api_key", _text, "a base64 id:api_key",
            "Elasticsearch API key", secret=True),
    Setting("ELASTICSEARCH_SNAPSHOT_REPOSITORY", "snapshot_repository", _text, "a registered repository name",
            "snapshot repository the retention job (and the collector's SLM policy) writes to"),
    Setting("SMTP_HOST", "smtp_host", _text, "a host name", "SMTP server for the retention summary e-mail"),
    Setting("SMTP_PORT", "smtp_port", _port, "a port number 1-65535", "SMTP server port"),
    Setting("SMTP_USERNAME", "smtp_username", _text, "a user name", "SMTP login (unset: no login)"),
    Setting("SMTP_PASSWORD", "smtp_password", _text, "a password", "SMTP password", secret=True),
    Setting("SMTP_FROM", "smtp_from", _address, "an e-mail address", "sender of the summary e-mail"),
    Setting("SMTP_STARTTLS", "smtp_starttls", _bool, _BOOL, "upgrade the SMTP connection with STARTTLS"),
    Setting("RETENTION_ADMIN_EMAIL", "admin_email", _address, "an e-mail address",
            "who receives the retention summary (unset: no e-mail)"),
)


def load_retention_settings(environ: Mapping[str, str] | None = None) -> RetentionSettings:
    """Read every row of `RETENTION_SETTINGS_TABLE` from ``environ`` (default `os.environ`)."""
    return RetentionSettings(**_read(RETENTION_SETTINGS_TABLE, environ))
