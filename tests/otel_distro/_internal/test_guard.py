"""Internal failures: raised under pytest, otherwise logged once per place and swallowed."""

from __future__ import annotations

import logging

import pytest

from otel_distro._internal import guard, state
from otel_distro.settings import Settings


@pytest.fixture
def production() -> object:
    previous = state.settings() if state.is_loaded() else None
    state.set_settings(Settings(raise_internal_errors="false"))
    guard._reported.clear()
    yield
    state.set_settings(previous)
    guard._reported.clear()


def test_under_pytest_internal_errors_raise() -> None:
    with pytest.raises(ZeroDivisionError):
        guard.internal_error("somewhere", ZeroDivisionError("x"))


def test_in_production_an_internal_error_is_logged_once_per_place(
    production: object, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="otel_distro"):
        for _ in range(3):
            guard.internal_error("export_hook", RuntimeError("broken"))
        guard.internal_error("other_place", RuntimeError("broken"))

    events = [(r.getMessage(), getattr(r, "where", None)) for r in caplog.records]
    assert events == [("otel_distro_internal_error", "export_hook"), ("otel_distro_internal_error", "other_place")]
