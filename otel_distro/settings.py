"""The distro's own settings: every ``OTEL_DISTRO_*`` variable, read in one table and validated at start.

Standard ``OTEL_*`` variables (service name, resource attributes, exporters, endpoints, samplers) keep
their upstream meaning and are read by the OpenTelemetry SDK itself; only what the SDK has no variable for
lives here. A bad value raises `SettingsError`, whose message names the variable, the value and what is
allowed; the configurator turns it into a failed start-up.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

__all__ = [
    "SETTINGS_TABLE",
    "Setting",
    "Settings",
    "SettingsError",
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
    alertmanager_url: str | None = None
    alerts_database_url: str = "sqlite:///data/alert-history.db"
    alerts_escalate_after: float = 900.0
    alerts_escalate_again_after: float = 900.0


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


#: The scrubbing engine's minimum HMAC key length: shorter keys make pseudonyms guessable.
MIN_SCRUB_KEY_BYTES = 16


def _secret_key(text: str) -> str:
    stripped = text.strip()
    if len(stripped.encode()) < MIN_SCRUB_KEY_BYTES:
        raise ValueError("<secret>")  # never the value itself
    return stripped


_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def _duration(text: str) -> float:
    """``500ms``, ``30s``, ``5m``, ``1h``, ``90d`` (or plain seconds) -> seconds."""
    stripped = text.strip().lower()
    for unit in ("ms", "s", "m", "h", "d"):
        number = stripped.removesuffix(unit)
        if number != stripped:
            break
    else:
        unit = "s"
    try:
        value = float(number) * _DURATION_UNITS[unit]
    except ValueError:
        raise ValueError(text) from None
    if not value >= 0:  # negative or NaN
        raise ValueError(text)
    return value


def _url(text: str) -> str:
    stripped = text.strip().rstrip("/")
    if not stripped.startswith(("http://", "https://")) or " " in stripped:
        raise ValueError(text)
    return stripped


def _database_url(text: str) -> str:
    stripped = text.strip()
    if "://" not in stripped:
        raise ValueError(text)
    return stripped


_BOOL = "true or false (also 1/0, yes/no, on/off)"

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
            "liveness route; `<path>/detailed` adds database and Redis checks"),
    Setting("OTEL_DISTRO_HEALTH_REDIS_URL", "health_redis_url", _text, "a redis:// URL",
            "Redis checked by the detailed health route"),
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
    Setting("OTEL_DISTRO_ALERTMANAGER_URL", "alertmanager_url", _url, "an http(s):// URL",
            "Alertmanager that alerts are posted to (<url>/api/v2/alerts) and silences read from"),
    Setting("OTEL_DISTRO_ALERTS_DATABASE_URL", "alerts_database_url", _database_url,
            "a SQLAlchemy URL, e.g. postgresql+psycopg://user:pw@host/db", "alert history database "
            "(`otel-distro alerts serve`; SQLite file by default)", secret=True),
    Setting("OTEL_DISTRO_ALERTS_ESCALATE_AFTER", "alerts_escalate_after", _duration, "a duration such as 15m",
            "a critical alert firing and not acknowledged this long is escalated (escalation_level=1)"),
    Setting("OTEL_DISTRO_ALERTS_ESCALATE_AGAIN_AFTER", "alerts_escalate_again_after", _duration,
            "a duration such as 15m", "still not acknowledged this long after level 1: escalation_level=2"),
)


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Read every row of `SETTINGS_TABLE` from ``environ`` (default `os.environ`); unset or empty = default."""
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    problems: list[str] = []
    for row in SETTINGS_TABLE:
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
    return Settings(**values)


def uses_upstream_http_instrumentation(settings: Settings) -> bool:
    """Whether the OpenTelemetry FastAPI/ASGI instrumentation makes the server spans (else the distro does)."""
    return settings.http_instrumentation == "upstream" or settings.asgi_send_receive_spans
