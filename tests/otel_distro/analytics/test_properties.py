"""Properties of analytics storage, checked with hypothesis against the real PostgreSQL:

* completeness — every tracked event is stored exactly once, whatever the flushes, the write failures (before
  the commit, or after it with the answer lost) and the client's resends;
* anonymization — no stored row contains a generated e-mail address, phone number, card number or token.
"""

from __future__ import annotations

import json
import random
import uuid
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.exc import OperationalError

from otel_distro.analytics import Analytics, AnalyticsEvent
from otel_distro.scrubbing._corpus import SENSITIVE
from tests.otel_distro.analytics.conftest import pg_rows, pg_url

FIXTURES_OK = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def stored_runs(schema: str, run: str) -> list[dict[str, Any]]:
    return pg_rows(schema, f"SELECT * FROM analytics_events WHERE properties->>'run' = '{run}'")


class Flaky:
    """Wraps the store's insert: each call fails or not as planned (then succeeds once the plan is spent)."""

    def __init__(self, analytics: Analytics, plan: list[str]) -> None:
        self.real = analytics.store.insert
        self.plan = iter(plan)

    def __call__(self, rows: Any) -> None:
        mode = next(self.plan, "ok")
        if mode == "fail_before":
            raise OperationalError("INSERT", None, ConnectionResetError("connection reset (simulated)"))
        self.real(rows)
        if mode == "fail_after":  # committed, but the answer never arrived: the buffer must write it again
            raise OperationalError("COMMIT", None, ConnectionResetError("connection lost (simulated)"))


operation = st.one_of(
    st.tuples(st.just("track"), st.sampled_from(["login", "chat_message_sent", "image_generated", "custom_x"]),
              st.one_of(st.none(), st.text(min_size=1, max_size=20))),
    st.tuples(st.just("resend"), st.just("page_viewed"), st.none()),
    st.tuples(st.just("flush"), st.none(), st.none()),
)


@FIXTURES_OK
@given(operations=st.lists(operation, min_size=1, max_size=30),
       plan=st.lists(st.sampled_from(["ok", "fail_before", "fail_after"]), max_size=12))
def test_every_tracked_event_is_stored_exactly_once(pg_schema: str, tmp_path: Path,
                                                    operations: list[tuple[str, Any, Any]], plan: list[str]) -> None:
    run = uuid.uuid4().hex
    analytics = Analytics(pg_url(pg_schema), key_file=tmp_path / "key", batch_size=4, max_backoff=0.01)
    analytics.store.insert = Flaky(analytics, plan)  # type: ignore[method-assign]
    try:
        track(analytics, run, operations, plan)
    finally:
        analytics.close(timeout=2)
    stored = sorted(row["properties"]["seq"] for row in stored_runs(pg_schema, run))
    assert stored == sorted(seq for seq, (kind, _, _) in enumerate(operations) if kind != "flush")


def track(analytics: Analytics, run: str, operations: list[tuple[str, Any, Any]], plan: list[str]) -> None:
    for seq, (kind, name, user_id) in enumerate(operations):
        if kind == "track":
            assert analytics.track(name, {"run": run, "seq": seq}, user_id=user_id)
        elif kind == "resend":  # a browser batch sent again after a lost answer: same event id
            event = AnalyticsEvent(name=name, properties={"run": run, "seq": seq}, source="browser")
            assert analytics.add([event])
            assert analytics.add([event])
        else:
            analytics.flush(5)
    for _ in range(len(plan) + 2):
        if analytics.flush(5):
            break
    assert len(analytics.buffer) == 0, analytics.buffer.last_error


PII_KINDS = ["email", "phone", "credit_card", "jwt", "bearer_token", "github_token", "stripe_key", "secret"]


@st.composite
def pii(draw: st.DrawFn) -> tuple[str, str, str, str]:
    """(kind, text carrying it, the value itself, a key that names it)."""
    kind = draw(st.sampled_from(PII_KINDS))
    fragment, value, key = SENSITIVE[kind](random.Random(draw(st.integers(0, 2**32))))
    return kind, fragment, value, key


def digits(text: str) -> str:
    return "".join(ch for ch in text if ch.isdigit())


@FIXTURES_OK
@given(found=st.lists(pii(), min_size=1, max_size=6), keyed=st.booleans(),
       words=st.lists(st.sampled_from(["hello", "order", "failed", "see", "für", "sipariş", "ok"]), max_size=4))
def test_no_stored_row_contains_a_generated_email_phone_card_or_token(
        pg_schema: str, tmp_path: Path, found: list[tuple[str, str, str, str]], keyed: bool, words: list[str]) -> None:
    run = uuid.uuid4().hex
    analytics = Analytics(pg_url(pg_schema), key_file=tmp_path / "key", scrub_key=b"p" * 32 if keyed else None)
    try:
        for i, (kind, fragment, value, key) in enumerate(found):
            properties = {"run": run, "note": " ".join([*words, fragment, *words]), key: value,
                          "nested": {"list": [fragment], "kind": kind}}
            user_id = value if kind in ("email", "phone") else None
            assert analytics.track("custom_event", properties, user_id=user_id, session_id=f"s{i}")
        assert analytics.flush(10)
    finally:
        analytics.close()
    rows = stored_runs(pg_schema, run)
    assert len(rows) == len(found)
    text = json.dumps(rows, default=str, ensure_ascii=False)
    for kind, _, value, _ in found:
        assert value not in text, f"{kind} value stored: {value!r}"
        if kind in ("phone", "credit_card"):
            assert digits(value) not in digits(text.replace(run, "")), f"{kind} digits stored: {value!r}"
