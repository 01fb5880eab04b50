"""structlog's bound context merged into each event: through structlog's private registry on structlog's known
releases, through its public processor otherwise, with the same result either way."""

from __future__ import annotations

import contextvars
import logging
from typing import Any

import pytest
import structlog

from otel_distro._internal import fastpath
from otel_distro._internal.fastpath import structlog_context


@pytest.fixture(autouse=True)
def _only_with_the_fast_path_on() -> None:
    """Both paths are checked here whatever this run's setting (in place of the conftest's skip)."""


@pytest.fixture(params=["room", "public"])
def merge(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Any:
    on = request.param == "room"
    monkeypatch.setattr(fastpath, "library_active", lambda distribution: on and distribution == "structlog")
    structlog.contextvars.clear_contextvars()
    merger = structlog_context.merger()
    assert (merger is structlog.contextvars.merge_contextvars) is not on
    yield merger
    structlog.contextvars.clear_contextvars()


def test_nothing_bound_adds_nothing(merge: Any) -> None:
    assert merge(None, "info", {"event": "x"}) == {"event": "x"}


def test_bound_values_are_added_and_never_replace_the_events_own(merge: Any) -> None:
    structlog.contextvars.bind_contextvars(user_id=7, order="a-1")
    assert merge(None, "info", {"event": "x", "order": "own"}) == {"event": "x", "user_id": 7, "order": "own"}


def test_unbound_and_cleared_values_are_gone(merge: Any) -> None:
    structlog.contextvars.bind_contextvars(a=1, b=2)
    structlog.contextvars.unbind_contextvars("a")
    assert merge(None, "info", {}) == {"b": 2}
    structlog.contextvars.clear_contextvars()
    assert merge(None, "info", {}) == {}


def test_each_context_sees_its_own_values(merge: Any) -> None:
    structlog.contextvars.bind_contextvars(request="outer")

    def inner() -> dict[str, Any]:
        structlog.contextvars.bind_contextvars(request="inner", extra=True)
        return dict(merge(None, "info", {}))

    assert contextvars.copy_context().run(inner) == {"request": "inner", "extra": True}
    assert merge(None, "info", {}) == {"request": "outer"}


def test_the_public_processor_when_the_registry_is_not_where_expected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fastpath, "library_active", lambda distribution: True)
    monkeypatch.delattr(structlog.contextvars, "_CONTEXT_VARS")
    assert structlog_context.merger() is structlog.contextvars.merge_contextvars


def test_a_registry_it_cannot_read_falls_back_to_the_public_processor_once(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A structlog release inside the range that keeps something else in the registry: the app's log call goes on,
    with structlog's own merge, and the distro says so once (the app's logging is never broken)."""
    from otel_distro._internal import guard  # noqa: PLC0415

    monkeypatch.setattr(fastpath, "library_active", lambda distribution: True)
    monkeypatch.setattr(guard, "should_raise", lambda: False)
    monkeypatch.setattr(guard, "_reported", set())
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(user_id=7)
    monkeypatch.setitem(structlog.contextvars._CONTEXT_VARS, "structlog_odd", object())
    merge = structlog_context.merger()
    with caplog.at_level(logging.ERROR, logger="otel_distro"):
        first = merge(None, "info", {"event": "x"})
        second = merge(None, "info", {"event": "y"})
    structlog.contextvars.clear_contextvars()
    assert (first, second) == ({"event": "x", "user_id": 7}, {"event": "y", "user_id": 7})
    assert [getattr(r, "where", None) for r in caplog.records] == ["structlog_context"]
