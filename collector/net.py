"""Endpoint strings as otelcol writes them: ``host:port``, ``:port`` (all interfaces), ``[::1]:port``."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

__all__ = ["listening", "split_endpoint"]


def split_endpoint(endpoint: str) -> tuple[str | None, int]:
    """``"localhost:4318"`` -> ``("localhost", 4318)``; ``":4318"`` -> ``(None, 4318)`` (every interface)."""
    host, sep, port = endpoint.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"invalid endpoint {endpoint!r}: expected host:port, e.g. localhost:4318")
    host = host.strip("[]")
    return (host or None), int(port)


@contextlib.contextmanager
def listening(key: str, endpoint: str) -> Iterator[None]:
    """Re-raise a failure to listen on ``endpoint`` (a port in use, say) naming the config ``key`` that set it:
    ``receivers::otlp::protocols::http::endpoint: cannot listen on 127.0.0.1:4318: Address already in use``.
    An `OSError` stays one; anything else (gRPC's bind failure) becomes a `RuntimeError`."""
    try:
        yield
    except OSError as exc:
        raise OSError(exc.errno, f"{key}: cannot listen on {endpoint}: {exc.strerror or exc}") from exc
    except RuntimeError as exc:
        raise RuntimeError(f"{key}: cannot listen on {endpoint}: {exc}") from exc
