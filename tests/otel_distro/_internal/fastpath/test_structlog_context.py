"""structlog's bound context merged into each event: through structlog's private registry on structlog's known
releases, through its public processor otherwise, with the same result either way."""

from __future__ import annotations

import contextvars
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
