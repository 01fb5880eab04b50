"""The retention job's configuration: one pydantic model, filled from the environment (the settings table in
`otel_distro.settings`), then from an optional YAML file (``--config FILE``), then from command-line flags.

    older_than: 90d
    elasticsearch:
      url: http://elasticsearch:9200
      data_streams: [logs-*, traces-*, metrics-*]
      repository: otel-distro-backups
    files:
      paths: [/var/lib/otel-collector/otlp.jsonl.*]
    smtp: {host: smtp, port: 25, from: retention@example.com, to: [admin@example.com]}
    retry: {attempts: 5, initial_interval: 1s, max_interval: 30s}
    schedule: {at: "03:00"}
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from otel_distro.settings import RetentionSettings, _clock_time, _duration

__all__ = ["ConfigError", "ElasticsearchConfig", "FilesConfig", "RetentionConfig", "RetryConfig", "SMTPConfig",
           "load_config"]


class ConfigError(ValueError):
    """The configuration is not valid: one line per problem, each naming its key path."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


def _seconds(value: object) -> object:
    if not isinstance(value, str):
        return value
    try:
        return _duration(value)
    except ValueError:
        raise ValueError(f"{value!r} is not a duration such as '90d', '12h', '30s' or '500ms'") from None


class RetryConfig(_Model):
    attempts: int = Field(default=5, ge=1, description="tries per operation (snapshot, verify, delete, archive)")
    initial_interval: float = Field(default=1.0, ge=0, description="first backoff (a duration such as 1s)")
    max_interval: float = Field(default=30.0, ge=0, description="backoff ceiling; it doubles up to this")

    _durations = field_validator("initial_interval", "max_interval", mode="before")(_seconds)


class ElasticsearchConfig(_Model):
    url: str | None = Field(default=None, description="cluster URL (comma-separated nodes); unset = left alone")
    api_key: SecretStr | None = None
    data_streams: list[str] = Field(default_factory=lambda: ["logs-*", "traces-*", "metrics-*"])
    repository: str = Field(default="otel-distro-backups", description="registered snapshot repository")
    snapshot_prefix: str = Field(default="retention", pattern=r"^[a-z0-9][a-z0-9_-]*$")
    timeout: float = Field(default=3600.0, gt=0, description="how long a snapshot may take (a duration)")

    _durations = field_validator("timeout", mode="before")(_seconds)

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        for url in (value or "").split(","):  # comma-separated nodes, as ELASTICSEARCH_URL is for the collector
            if url.strip() and not url.strip().startswith(("http://", "https://")):
                raise ValueError(f"{url.strip()!r} is not an http(s) URL such as 'http://elasticsearch:9200'")
        return value or None

    def nodes(self) -> list[str]:
        return [u.strip() for u in (self.url or "").split(",") if u.strip()]


class FilesConfig(_Model):
    paths: list[str] = Field(default_factory=list, description="globs of files to archive (gzip) then delete")
    archive_dir: str | None = Field(default=None, description="default: an `archive` directory beside each file")


class SMTPConfig(_Model):
    host: str | None = Field(default=None, description="unset = no summary e-mail")
    port: int = Field(default=25, gt=0, lt=65536)
    username: str | None = None
    password: SecretStr | None = None
    from_: str = Field(default="otel-distro-retention@localhost", alias="from")
    to: list[str] = Field(default_factory=list, description="the admin address(es)")
    starttls: bool = False
    timeout: float = 30.0

    _durations = field_validator("timeout", mode="before")(_seconds)


class ScheduleConfig(_Model):
    at: str = Field(default="03:00", description="local time (HH:MM) of the nightly run")

    @field_validator("at")
    @classmethod
    def _at(cls, value: str) -> str:
        try:
            return _clock_time(value)
        except ValueError:
            raise ValueError(f"{value!r} is not a local time HH:MM such as '03:00'") from None


class RetentionConfig(_Model):
    older_than: float = Field(default=90 * 86400.0, gt=0, description="age limit (a duration such as 90d)")
    elasticsearch: ElasticsearchConfig = Field(default_factory=ElasticsearchConfig)
    files: FilesConfig = Field(default_factory=FilesConfig)
    smtp: SMTPConfig = Field(default_factory=SMTPConfig)
    retry: RetryConfig = Field(default_factory=RetryConfig)
    schedule: ScheduleConfig = Field(default_factory=ScheduleConfig)

    _durations = field_validator("older_than", mode="before")(_seconds)


def _from_settings(settings: RetentionSettings) -> dict[str, Any]:
    return {
        "older_than": settings.older_than,
        "elasticsearch": {
            "url": settings.elasticsearch_url,
            "api_key": settings.elasticsearch_api_key,
            "data_streams": list(settings.data_streams),
            "repository": settings.snapshot_repository,
        },
        "files": {"paths": list(settings.files), "archive_dir": settings.archive_dir},
        "smtp": {
            "host": settings.smtp_host,
            "port": settings.smtp_port,
            "username": settings.smtp_username,
            "password": settings.smtp_password,
            "from": settings.smtp_from,
            "to": [settings.admin_email] if settings.admin_email else [],
            "starttls": settings.smtp_starttls,
        },
        "schedule": {"at": settings.at},
    }


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def load_config(settings: RetentionSettings, file: Path | None = None,
                overrides: dict[str, Any] | None = None) -> RetentionConfig:
    """Environment, then `file` (YAML), then `overrides`; raises `ConfigError` naming every bad key path."""
    data = _from_settings(settings)
    if file is not None:
        try:
            loaded = yaml.safe_load(file.read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"{file}: cannot read it: {exc}") from None
        if not isinstance(loaded, dict):
            raise ConfigError(f"{file}: expected a mapping at the top level, got {type(loaded).__name__}")
        data = _merge(data, loaded)
    data = _merge(data, overrides or {})
    try:
        return RetentionConfig.model_validate(data)
    except ValidationError as exc:
        lines = []
        for error in exc.errors():
            path = "::".join(str(p) for p in error["loc"]) or "(root)"
            secret = error["loc"][-1:] in (("password",), ("api_key",))
            shown = "" if secret or error["type"] == "missing" else f" (got {error.get('input')!r})"
            lines.append(f"{path}: {error['msg']}{shown}")
        raise ConfigError("\n".join(lines)) from None
