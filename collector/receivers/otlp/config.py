"""Config of the ``otlp`` receiver (otelcol's keys where they overlap)."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from collector.net import split_endpoint

__all__ = ["AuthConfig", "Config", "CorsConfig", "GrpcConfig", "HttpConfig", "Protocols", "ServerTLSConfig"]

MIB = 1024 * 1024


class AuthConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    bearer_token: str = Field(min_length=1, description="clients must send 'Authorization: Bearer <token>'")


class CorsConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    allowed_origins: list[str] = Field(default_factory=list, description="origins, '*' wildcards allowed")
    allowed_headers: list[str] = Field(default_factory=list, description="beyond the CORS-safelisted ones")
    max_age: int = Field(default=0, ge=0, description="seconds a browser may cache a preflight answer")


class ServerTLSConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    cert_file: Path = Field(description="PEM certificate chain the server presents")
    key_file: Path = Field(description="PEM private key of that certificate")
    client_ca_file: Path | None = Field(default=None, description="require client certificates signed by this CA")

    def ssl_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(str(self.cert_file), str(self.key_file))
        if self.client_ca_file is not None:
            ctx.load_verify_locations(str(self.client_ca_file))
            ctx.verify_mode = ssl.CERT_REQUIRED
        return ctx


def _check_endpoint(value: str) -> str:
    split_endpoint(value)
    return value


class GrpcConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    endpoint: str = "localhost:4317"
    max_recv_msg_size_mib: int = Field(default=4, ge=1)
    auth: AuthConfig | None = None
    tls: ServerTLSConfig | None = None

    _endpoint = field_validator("endpoint")(_check_endpoint)


class HttpConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    endpoint: str = "localhost:4318"
    traces_url_path: str = "/v1/traces"
    metrics_url_path: str = "/v1/metrics"
    logs_url_path: str = "/v1/logs"
    max_request_body_size: int = Field(default=20 * MIB, ge=1, description="bytes on the wire (413 above)")
    max_decompressed_body_size: int = Field(
        default=64 * MIB, ge=1, description="bytes after gunzip: a compression bomb is cut off here (413)"
    )
    cors: CorsConfig | None = None
    auth: AuthConfig | None = None
    tls: ServerTLSConfig | None = None

    _endpoint = field_validator("endpoint")(_check_endpoint)


class Protocols(BaseModel):
    model_config = ConfigDict(extra="forbid")

    grpc: GrpcConfig | None = None
    http: HttpConfig | None = None

    @field_validator("grpc", "http", mode="before")
    @classmethod
    def _empty_enables(cls, value: Any) -> Any:
        return {} if value is None else value

    @model_validator(mode="after")
    def _at_least_one(self) -> Protocols:
        if self.grpc is None and self.http is None:
            raise ValueError("must enable at least one protocol: grpc, http")
        return self


class Config(BaseModel):
    model_config = ConfigDict(extra="forbid")

    protocols: Protocols = Field(default_factory=lambda: Protocols(grpc=GrpcConfig(), http=HttpConfig()))
