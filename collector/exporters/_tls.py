"""Client TLS settings shared by the OTLP exporters (otelcol's ``tls`` block)."""

from __future__ import annotations

import ssl
from pathlib import Path

from pydantic import BaseModel, ConfigDict

__all__ = ["TLSClientConfig"]


class TLSClientConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    insecure: bool = False  # gRPC: plaintext, no TLS at all
    insecure_skip_verify: bool = False
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None

    def ssl_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=str(self.ca_file) if self.ca_file else None)
        if self.insecure_skip_verify:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        if self.cert_file and self.key_file:
            ctx.load_cert_chain(str(self.cert_file), str(self.key_file))
        return ctx

    def read(self, path: Path | None) -> bytes | None:
        return path.read_bytes() if path else None
