"""Config of the ``elasticsearch`` exporter. Keys follow otelcol-contrib's elasticsearchexporter where they
overlap (``endpoints``, ``logs_index``, ``logs_dynamic_index``, ``mapping::mode``, ``api_key``, ``user`` /
``password``, ``tls``, ``flush``); ``lifecycle`` and ``dead_letter`` are ours."""

from __future__ import annotations

import os
import re
from typing import Any, Literal, Self
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from collector.config_types import Duration
from collector.sending.settings import SenderSettings

__all__ = [
    "ENDPOINT_ENV_VAR",
    "Config",
    "DeadLetterSettings",
    "DynamicIndexSettings",
    "FlushSettings",
    "ILMSettings",
    "LifecycleSettings",
    "MappingSettings",
    "SLMSettings",
    "TLSSettings",
    "TemplateSettings",
]

ENDPOINT_ENV_VAR = "ELASTICSEARCH_URL"
"""Comma-separated endpoints used when the config names none (as otelcol-contrib does)."""

_INDEX_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._+-]*$")
_AGE_RE = re.compile(r"^\d+(d|h|m|s|ms|micros|nanos)$")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MappingSettings(_Model):
    mode: Literal["otel", "ecs"] = Field(
        default="otel",
        description="document shape: 'otel' (OTel-native, datasets suffixed '.otel') or 'ecs' (Elastic Common Schema)",
    )


class DynamicIndexSettings(_Model):
    enabled: bool = Field(
        default=False,
        description="route by the 'elasticsearch.index' attribute (record, then scope, then resource) when set",
    )


class FlushSettings(_Model):
    bytes: int = Field(default=5_000_000, ge=1, description="send a _bulk request once this many bytes are buffered")
    interval: Duration = Field(
        default=1.0,
        description="send what is buffered after this long (0 = send every export at once); exports wait for "
        "their documents' results, so keep it below `timeout`",
    )


def _empty_is_unset(value: object) -> object:
    """``${env:VAR}`` of an unset variable is "": treat it as the key not being set."""
    return None if value == "" else value


class TLSSettings(_Model):
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    insecure_skip_verify: bool = False

    _unset = field_validator("ca_file", "cert_file", "key_file", mode="before")(_empty_is_unset)

    @model_validator(mode="after")
    def _pair(self) -> Self:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("tls: cert_file and key_file must be set together")
        return self


class ILMSettings(_Model):
    enabled: bool = True
    policy_name: str = "otel-distro-retention"
    rollover_max_age: str = "1d"
    rollover_max_primary_shard_size: str = "50gb"
    delete_after: str = "90d"
    wait_for_snapshot: bool = Field(
        default=True,
        description="do not delete an index before the SLM policy has snapshotted it (needs slm::repository)",
    )

    @field_validator("rollover_max_age", "delete_after")
    @classmethod
    def _age(cls, value: str) -> str:
        if not _AGE_RE.match(value):
            raise ValueError(f"expected an Elasticsearch time unit such as '1d' or '12h', got {value!r}")
        return value


class SLMSettings(_Model):
    enabled: bool = True
    policy_name: str = "otel-distro-nightly"
    repository: str | None = Field(
        default=None,
        description="snapshot repository (registered in Elasticsearch); unset = no SLM policy and no "
        "wait_for_snapshot, with a warning at start",
    )
    repository_type: str | None = Field(
        default=None,
        description="register `repository` on start when the cluster has none by that name, with this type: "
        "'fs' (its `location` must be under the cluster's `path.repo`), or 's3' / 'gcs' / 'azure' (the production "
        "choice; the plugin's settings in `repository_settings`). An existing repository is never changed. "
        "Unset = the repository must exist already. When registering fails, start-up warns "
        "(`elasticsearch_backups_off`) and ILM runs without `wait_for_snapshot`",
    )
    repository_settings: dict[str, Any] = Field(
        default_factory=dict, description="settings of a repository registered here, e.g. {location: backups} for fs"
    )
    schedule: str = "0 30 1 * * ?"
    snapshot_name: str = "<otel-distro-{now/d}>"
    indices: list[str] = Field(default_factory=lambda: ["logs-*", "traces-*", "metrics-*"])
    expire_after: str = "30d"
    min_count: int = Field(default=5, ge=0)
    max_count: int = Field(default=50, ge=1)

    _unset = field_validator("repository", "repository_type", mode="before")(_empty_is_unset)


class TemplateSettings(_Model):
    enabled: bool = True
    name_prefix: str = "otel-distro"
    priority: int = Field(default=200, ge=0, description="above the built-in logs/traces templates (100)")
    codec: Literal["best_compression", "default"] = "best_compression"
    logs_index_patterns: list[str] = Field(default_factory=lambda: ["logs-*-*"])
    traces_index_patterns: list[str] = Field(default_factory=lambda: ["traces-*-*"])
    metrics_index_patterns: list[str] = Field(default_factory=lambda: ["metrics-*-*"])
    number_of_replicas: int | None = Field(default=None, ge=0)


class LifecycleSettings(_Model):
    install: bool = Field(default=True, description="install ILM, SLM and templates on start (idempotent)")
    ilm: ILMSettings = Field(default_factory=ILMSettings)
    slm: SLMSettings = Field(default_factory=SLMSettings)
    templates: TemplateSettings = Field(default_factory=TemplateSettings)


class DeadLetterSettings(_Model):
    path: str | None = Field(
        default=None,
        description="NDJSON file receiving documents Elasticsearch rejected for good (mapping errors); unset = "
        "they are logged and counted only",
    )


class Config(SenderSettings):
    endpoint: str | None = None
    endpoints: list[str] = Field(default_factory=list)
    logs_index: str = Field(default="", description="a fixed index or data stream for logs (empty = route)")
    traces_index: str = Field(default="", description="a fixed index or data stream for spans (empty = route)")
    metrics_index: str = Field(default="", description="a fixed index or data stream for metrics (empty = route)")
    logs_dynamic_index: DynamicIndexSettings = Field(default_factory=DynamicIndexSettings)
    traces_dynamic_index: DynamicIndexSettings = Field(default_factory=DynamicIndexSettings)
    metrics_dynamic_index: DynamicIndexSettings = Field(default_factory=DynamicIndexSettings)
    mapping: MappingSettings = Field(default_factory=MappingSettings)
    api_key: SecretStr | None = Field(default=None, description="base64 'id:api_key' as Elasticsearch encodes it")
    user: str | None = None
    password: SecretStr | None = None
    tls: TLSSettings = Field(default_factory=TLSSettings)
    headers: dict[str, str] = Field(default_factory=dict)
    compression: Literal["none", "gzip"] = "gzip"
    flush: FlushSettings = Field(default_factory=FlushSettings)
    lifecycle: LifecycleSettings = Field(default_factory=LifecycleSettings)
    dead_letter: DeadLetterSettings = Field(default_factory=DeadLetterSettings)
    timeout: Duration = 30.0

    _unset = field_validator("api_key", "user", "password", "endpoint", mode="before")(_empty_is_unset)

    @field_validator("endpoints", mode="before")
    @classmethod
    def _drop_empty(cls, value: object) -> object:
        return [u for u in value if u != ""] if isinstance(value, list) else value

    @field_validator("endpoints")
    @classmethod
    def _urls(cls, value: list[str]) -> list[str]:
        for url in value:
            _check_url(url)
        return value

    @field_validator("endpoint")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value:
            _check_url(value)
        return value or None

    @field_validator("logs_index", "traces_index", "metrics_index")
    @classmethod
    def _index_name(cls, value: str) -> str:
        if value and not _INDEX_NAME_RE.match(value):
            raise ValueError(
                f"{value!r} is not a valid index name: lower case letters, digits and '.', '_', '+', '-'"
            )
        return value

    @model_validator(mode="after")
    def _cross_checks(self) -> Self:
        if self.user is not None and self.password is None:
            raise ValueError("password: required when user is set")
        if self.password is not None and self.user is None:
            raise ValueError("user: required when password is set")
        if self.api_key is not None and self.user is not None:
            raise ValueError("api_key: set either api_key or user/password, not both")
        if self.timeout > 0 and self.flush.interval >= self.timeout:
            raise ValueError(
                f"flush::interval: {self.flush.interval}s must be below timeout ({self.timeout}s): "
                "an export waits for its documents to be flushed"
            )
        return self

    def resolved_endpoints(self) -> list[str]:
        """``endpoints`` + ``endpoint``, else ``$ELASTICSEARCH_URL`` (comma-separated); raises ValueError."""
        urls = [*self.endpoints, *([self.endpoint] if self.endpoint else [])]
        if not urls:
            urls = [u.strip() for u in os.environ.get(ENDPOINT_ENV_VAR, "").split(",") if u.strip()]
            for url in urls:
                try:
                    _check_url(url)
                except ValueError as exc:
                    raise ValueError(f"{ENDPOINT_ENV_VAR}: {exc}") from None
        if not urls:
            raise ValueError(f"endpoints: no Elasticsearch endpoint configured: set endpoints or {ENDPOINT_ENV_VAR}")
        return urls


def _check_url(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{url!r} is not an http(s) URL such as 'https://localhost:9200'")
