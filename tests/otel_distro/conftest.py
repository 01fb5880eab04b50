"""Fixtures for the distro's tests: the demo app on a fresh SQLite file, instrumented as in production."""

from __future__ import annotations

import gc
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from otel_distro.testing import OtelCapture
from tests.support import ROOT

sys.path.insert(0, str(ROOT / "examples"))


@pytest.fixture
def demo_app(tmp_path: Path, otel: OtelCapture):  # type: ignore[no-untyped-def]
    otel.instrument_sqlalchemy()
    from demo_app.main import create_app  # noqa: PLC0415 - after instrumenting, as under the distro

    return create_app(f"sqlite:///{tmp_path / 'demo.db'}")


@pytest.fixture
def client(demo_app, otel: OtelCapture) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    otel.instrument(demo_app)
    with TestClient(demo_app) as test_client:
        otel.clear()  # start-up noise (seeding) is not what the tests look at
        yield test_client


@pytest.fixture(autouse=True)
def _fresh_health_state() -> Iterator[None]:
    """Each test sees only its own engines, health checks, monitor and request totals."""
    from otel_distro._internal import health, health_monitor, request_stats, state  # noqa: PLC0415

    settings = state._current
    yield
    state.set_settings(settings)
    health._engines.clear()
    gc.collect()  # a test's disposed engines go now: a later `track_sqlalchemy_engines` would find and check them
    health._checks.clear()
    health_monitor.reset_monitor()
    request_stats.reset_request_stats()
