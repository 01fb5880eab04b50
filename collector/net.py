"""Endpoint strings as otelcol writes them: ``host:port``, ``:port`` (all interfaces), ``[::1]:port``."""

from __future__ import annotations

__all__ = ["split_endpoint"]


def split_endpoint(endpoint: str) -> tuple[str | None, int]:
    """``"localhost:4318"`` -> ``("localhost", 4318)``; ``":4318"`` -> ``(None, 4318)`` (every interface)."""
    host, sep, port = endpoint.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"invalid endpoint {endpoint!r}: expected host:port, e.g. localhost:4318")
    host = host.strip("[]")
    return (host or None), int(port)
