"""The ``sentry`` exporter's configuration (keys follow otelcol-contrib's sentryexporter where they overlap)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from sentry_sdk.utils import BadDsn, Dsn

from collector.config_types import Duration
from collector.sending.settings import SenderSettings

__all__ = ["SEVERITY_NUMBERS", "Config", "DedupeConfig"]

SEVERITY_NUMBERS: dict[str, int] = {"trace": 1, "debug": 5, "info": 9, "warn": 13, "error": 17, "fatal": 21}
"""The lowest OTLP severity_number of each level name."""

DEFAULT_TAG_ATTRIBUTES = [
    "service.name",
    "service.namespace",
    "host.name",
    "http.route",
    "http.request.method",
    "http.response.status_code",
]


class DedupeConfig(BaseModel):
    """One event per failure: an exception recorded on a span and logged too becomes one Sentry event."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    window: Duration = Field(
        default=5.0, ge=0.0, le=60.0,
        description="how long an error event with a span waits for its counterpart from the other signal "
        "(logs vs traces) before it is sent alone; 0 sends at once and still drops a late duplicate",
    )
    memory: Duration = Field(
        default=600.0, gt=0.0, description="how long the fingerprint of a sent failure is remembered"
    )
    max_entries: int = Field(default=10_000, ge=1, le=1_000_000, description="fingerprints remembered at most")


class Config(SenderSettings):
    model_config = ConfigDict(extra="forbid")

    dsn: str = Field(
        default="",
        description="the project's DSN; empty switches the exporter off (left out of the pipelines, logged once)",
    )
    min_severity: Literal["trace", "debug", "info", "warn", "error", "fatal"] = Field(
        default="error", description="log records at or above this level become Sentry events"
    )
    exception_span_events: bool = Field(default=True, description="span events named `exception` become events")
    transactions: bool = Field(
        default=False,
        description="local root spans become Sentry transactions (with their child spans from the same batch)",
    )
    tag_attributes: list[str] = Field(
        default_factory=lambda: list(DEFAULT_TAG_ATTRIBUTES),
        description="attribute keys (record or span first, then resource) copied into Sentry tags",
    )
    environment: str | None = Field(
        default=None, description="used when a resource has no `deployment.environment.name`"
    )
    user_pseudonym_key_env: str | None = Field(
        default=None,
        description="name of the env var holding the HMAC key that pseudonymises `enduser.id` (never the key)",
    )
    dedupe: DedupeConfig = Field(default_factory=DedupeConfig)
    compression: Literal["gzip", "none"] = "gzip"
    concurrency: int = Field(default=4, ge=1, le=64, description="envelopes in flight at once, per export")
    timeout: Duration = Field(default=30.0, description="for one export call (all of a batch's envelopes)")

    @field_validator("min_severity", mode="before")
    @classmethod
    def _level_name(cls, value: object) -> object:
        if isinstance(value, str):
            value = value.strip().lower()
            return "warn" if value == "warning" else value
        return value

    @field_validator("dsn")
    @classmethod
    def _valid_dsn(cls, value: str) -> str:
        value = value.strip()
        if value:
            try:
                Dsn(value)
            except BadDsn as exc:
                raise ValueError(
                    f"not a Sentry DSN ({exc}): expected https://<public_key>@<host>/<project_id>"
                ) from None
        return value

    @field_validator("user_pseudonym_key_env")
    @classmethod
    def _env_name(cls, value: str | None) -> str | None:
        if value is not None and not value.replace("_", "a").isalnum():
            raise ValueError(f"expected the name of an environment variable, got {value!r}")
        return value

    @model_validator(mode="after")
    def _window_within_timeout(self) -> Config:
        # A held event waits the window inside the export call that `timeout` bounds: it needs time left to send.
        if self.dedupe.enabled and self.timeout and self.dedupe.window > self.timeout / 2:
            if "window" not in self.dedupe.model_fields_set:  # the default window: shortened to fit
                self.dedupe.window = self.timeout / 2
                return self
            raise ValueError(
                f"dedupe.window ({self.dedupe.window:g}s) must be at most half of timeout ({self.timeout:g}s): "
                "an event held for its counterpart waits inside the export call, and is sent after the window"
            )
        return self

    @property
    def min_severity_number(self) -> int:
        return SEVERITY_NUMBERS[self.min_severity]


def disabled_reason(config: Config) -> str | None:
    """An empty DSN switches the exporter off (see `collector.component`)."""
    return "dsn is empty (set SENTRY_DSN)" if not config.dsn else None
