"""The distro's two steps at uvicorn's server: right after uvicorn applied its logging config, and once it has shut
down. On uvicorn's known releases they hook its methods; otherwise they run at the app's lifespan instead."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from starlette.testclient import TestClient
from uvicorn.config import LOGGING_CONFIG, Config
from uvicorn.server import Server

from otel_distro._internal import fastpath
from otel_distro._internal.fastpath import uvicorn_server
from otel_distro.testing import OtelCapture


@pytest.fixture(autouse=True)
def _only_with_the_fast_path_on() -> None:
    """Both paths are checked here whatever this run's setting (in place of the conftest's skip): these hooks
    are needed on every path; only uvicorn's release decides."""


@pytest.fixture
def restored(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """uvicorn's methods and the fall-back steps put back after the test; the steps run, in order."""
    monkeypatch.setattr(Config, "configure_logging", Config.configure_logging)
    monkeypatch.setattr(Server, "shutdown", Server.shutdown)
    monkeypatch.setattr(uvicorn_server, "_on_app_start", None)
    monkeypatch.setattr(uvicorn_server, "_on_lifespan_end", None)
    yield []


def _known(monkeypatch: pytest.MonkeyPatch, known: bool) -> None:
    status = fastpath.Status(True) if known else fastpath.Status(False, "unsupported_version")
    monkeypatch.setattr(fastpath, "library_status", lambda distribution: status)


def test_a_known_uvicorn_runs_the_step_each_time_it_configures_logging(
    restored: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _known(monkeypatch, True)
    uvicorn_server.after_configure_logging(lambda: restored.append("first"))
    uvicorn_server.after_configure_logging(lambda: restored.append("adopt"))  # the latest step replaces the first

    Config(app="app:app", log_config=LOGGING_CONFIG)
    Config(app="app:app", log_config=LOGGING_CONFIG)

    assert restored == ["adopt", "adopt"]
    assert logging.getLogger("uvicorn").handlers  # uvicorn's own config did apply, before the step
    uvicorn_server.app_starting()
    assert restored == ["adopt", "adopt"]


def test_an_unknown_uvicorn_is_left_alone_and_the_step_runs_when_the_app_starts(
    restored: list[str], monkeypatch: pytest.MonkeyPatch, otel: OtelCapture
) -> None:
    _known(monkeypatch, False)
    original = Config.configure_logging
    uvicorn_server.after_configure_logging(lambda: restored.append("adopt"))
    assert Config.configure_logging is original

    Config(app="app:app", log_config=LOGGING_CONFIG)
    assert restored == []
    app = FastAPI()
    otel.instrument(app)
    with TestClient(app):  # the app's lifespan starts: its middleware stack is built
        assert restored == ["adopt"]


def test_a_known_uvicorn_runs_the_step_after_its_shutdown(
    restored: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _known(monkeypatch, True)

    async def shutdown(self: Server, sockets: Any = None) -> None:
        restored.append("uvicorn shut down")

    monkeypatch.setattr(Server, "shutdown", shutdown)
    uvicorn_server.after_shutdown(lambda: restored.append("flush"))
    uvicorn_server.after_shutdown(lambda: restored.append("again"))  # installed once

    import asyncio  # noqa: PLC0415

    asyncio.run(Server(Config(app="app:app", log_config=None)).shutdown())
    assert restored == ["uvicorn shut down", "flush"]
    uvicorn_server.lifespan_ended()
    assert restored == ["uvicorn shut down", "flush"]


def test_an_unknown_uvicorn_is_left_alone_and_the_step_runs_when_the_lifespan_ends(
    restored: list[str], monkeypatch: pytest.MonkeyPatch, otel: OtelCapture
) -> None:
    _known(monkeypatch, False)
    original = Server.shutdown
    uvicorn_server.after_shutdown(lambda: restored.append("flush"))
    assert Server.shutdown is original

    app = FastAPI()
    otel.instrument(app)
    with TestClient(app) as client:
        client.get("/missing")
        assert restored == []
    assert restored == ["flush"]


def test_the_switch_does_not_turn_them_off(monkeypatch: pytest.MonkeyPatch) -> None:
    """They are not about speed: only uvicorn's release decides."""
    monkeypatch.setattr(fastpath, "status", lambda: fastpath.Status(False, "switched_off"))
    fastpath.library_status.cache_clear()
    try:
        assert uvicorn_server._patchable() == fastpath.library_status("uvicorn").active
    finally:
        fastpath.library_status.cache_clear()


@pytest.mark.parametrize("known", [True, False], ids=["known", "unknown"])
def test_under_a_real_uvicorn_its_lines_become_the_distros_and_the_telemetry_is_flushed(
    restored: list[str], monkeypatch: pytest.MonkeyPatch, otel: OtelCapture, known: bool
) -> None:
    """A uvicorn server run in a thread: its loggers are adopted from the moment the step runs (at once on a
    known release; once the app starts otherwise), and the shutdown step runs in both cases."""
    import threading  # noqa: PLC0415
    import time  # noqa: PLC0415

    from otel_distro._internal.logs import pipeline  # noqa: PLC0415

    _known(monkeypatch, known)
    # The `otel` fixture installed the log chain on this process's real uvicorn release: start from uvicorn's own.
    original = getattr(Config.configure_logging, "__otel_distro_original__", Config.configure_logging)
    monkeypatch.setattr(Config, "configure_logging", original)
    pipeline._patch_uvicorn_logging(access_log=False)
    uvicorn_server.after_shutdown(lambda: restored.append("flush"))
    app = FastAPI()
    otel.instrument(app)
    server = Server(Config(app, host="127.0.0.1", port=0, log_config=LOGGING_CONFIG, lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.started
    server.should_exit = True
    thread.join(30)
    assert not thread.is_alive()

    adopted = [line["message"] for line in otel.logs if line.get("logger") == "uvicorn.error"]
    assert "Application startup complete." in adopted
    assert "Shutting down" in adopted
    assert ("Waiting for application startup." in adopted) is known  # before the app starts: only the hook sees it
    assert restored == ["flush"]


@pytest.fixture
def production() -> Iterator[None]:
    """Internal failures swallowed and logged once, as in an app (under pytest they are raised)."""
    from otel_distro._internal import guard, state  # noqa: PLC0415
    from otel_distro.settings import Settings  # noqa: PLC0415

    previous = state.settings() if state.is_loaded() else None
    state.set_settings(Settings(raise_internal_errors="false"))
    guard._reported.clear()
    yield
    state.set_settings(previous)
    guard._reported.clear()


def test_a_failing_step_never_breaks_uvicorn(
    restored: list[str], monkeypatch: pytest.MonkeyPatch, production: None, caplog: pytest.LogCaptureFixture
) -> None:
    """On a known uvicorn the steps run inside uvicorn's own methods: a failure there would stop the server from
    starting, or make its shutdown raise. It is logged once per step instead."""
    _known(monkeypatch, True)

    def broken() -> None:
        restored.append("step")
        raise RuntimeError("step failed")

    async def shutdown(self: Server, sockets: Any = None) -> None:
        restored.append("uvicorn shut down")

    monkeypatch.setattr(Server, "shutdown", shutdown)
    uvicorn_server.after_configure_logging(broken)
    uvicorn_server.after_shutdown(broken)

    import asyncio  # noqa: PLC0415

    with caplog.at_level(logging.ERROR, logger="otel_distro"):
        config = Config(app="app:app", log_config=LOGGING_CONFIG)  # configures logging
        Config(app="app:app", log_config=LOGGING_CONFIG)
        asyncio.run(Server(config).shutdown())
        asyncio.run(Server(config).shutdown())

    assert restored == ["step", "step", "uvicorn shut down", "step", "uvicorn shut down", "step"]
    places = [getattr(r, "where", None) for r in caplog.records if r.getMessage() == "otel_distro_internal_error"]
    assert places == ["uvicorn_configure_logging", "uvicorn_shutdown"]
