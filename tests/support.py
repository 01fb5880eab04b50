"""Helpers shared by the whole suite (import as ``from tests.support import ...``)."""

from __future__ import annotations

import socket
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OTLP_EXAMPLES = ROOT.parent / "shared" / "data" / "otlp-examples"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_healthy(port: int, timeout: float = 30.0) -> None:
    """Until ``http://127.0.0.1:<port>/`` answers 200 (a collector's health_check); raises after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/") as r:
                if r.status == 200:
                    return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
