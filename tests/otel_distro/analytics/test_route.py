"""``POST /analytics/events``: browser batches land anonymized with their trace and request ids; malformed,
oversized and too frequent batches are refused with messages that name the field; CORS for configured origins."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from starlette.testclient import TestClient

from otel_distro.analytics import flush
from otel_distro.settings import Settings
from otel_distro.testing import OtelCapture
from tests.otel_distro.analytics.conftest import PG_PORT, pg_rows, pg_url

ORIGIN = "https://app.example"
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"


@pytest.fixture
def client(otel: OtelCapture, use_settings: Callable[..., Settings], pg_schema: str) -> Iterator[TestClient]:
    use_settings(analytics_database_url=pg_url(pg_schema), cors_origins=(ORIGIN,), analytics_rate_limit=100,
                 scrub_key="s" * 32)
    app = FastAPI()
    otel.instrument(app)
    with TestClient(app) as test_client:
        yield test_client


def event(name: str = "login", **fields: Any) -> dict[str, Any]:
    properties = {"login": {"success": True}, "chat_message_sent": {"message_length": 5},
                  "image_generated": {"prompt_length": 9}}.get(name, {})
    return {"name": name, "properties": properties, **fields}


def post(client: TestClient, events: Any, **headers: str) -> Any:
    return client.post("/analytics/events", content=json.dumps({"events": events}),
                       headers={"content-type": "application/json", **headers})


def test_a_batch_lands_anonymized_with_the_browser_trace_and_request_ids(
        client: TestClient, pg_schema: str) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    batch = [
        event("login", id=str(uuid.uuid4()), user_id="jane@example.com", session_id="s-1",
              timestamp=now.isoformat().replace("+00:00", "Z"),
              properties={"success": True, "method": "password", "comment": "write to jane@example.com"}),
        event("chat_message_sent", properties={"message_length": 12, "has_attachments": False}),
        event("image_generated", properties={"prompt_length": 30, "width": 512, "height": 512, "duration_ms": 812.5}),
        event("settings_opened", properties={"tab": "privacy"}),
    ]
    answer = post(client, batch, traceparent=TRACEPARENT, **{"x-request-id": "req-abc-123"})
    assert answer.status_code == 202, answer.text
    assert answer.json() == {"accepted": 4, "results": [{"index": i, "status": "accepted"} for i in range(4)]}
    assert flush(10)
    rows = {r["name"]: r for r in pg_rows(pg_schema)}
    assert set(rows) == {"login", "chat_message_sent", "image_generated", "settings_opened"}
    login = rows["login"]
    assert login["id"] == batch[0]["id"]
    assert login["trace_id"] == TRACE_ID and login["request_id"] == "req-abc-123"
    assert login["source"] == "browser" and login["session_id"] == "s-1"
    assert login["occurred_at"] == now
    assert login["user_pseudonym"].startswith("[user:")
    assert "jane" not in json.dumps(login, default=str)
    assert rows["image_generated"]["properties"] == {"prompt_length": 30, "width": 512, "height": 512,
                                                     "duration_ms": 812.5}


def test_app_shutdown_writes_what_is_buffered(otel: OtelCapture, use_settings: Callable[..., Settings],
                                              pg_schema: str) -> None:
    use_settings(analytics_database_url=pg_url(pg_schema))
    app = FastAPI()
    otel.instrument(app)
    with TestClient(app) as client:
        assert post(client, [event("login")]).status_code == 202
        assert pg_rows(pg_schema, "SELECT count(*) AS n FROM information_schema.tables WHERE "
                                  "table_schema = current_schema()")[0]["n"] == 0  # still buffered
    assert [r["name"] for r in pg_rows(pg_schema)] == ["login"]


def test_a_resent_batch_is_stored_once(client: TestClient, pg_schema: str) -> None:
    batch = [event("login", id=str(uuid.uuid4())), event("login", id=str(uuid.uuid4()))]
    assert post(client, batch).status_code == 202
    assert flush(10)
    assert post(client, batch).status_code == 202  # the client did not see the first answer and retried
    assert flush(10)
    assert sorted(r["id"] for r in pg_rows(pg_schema)) == sorted(e["id"] for e in batch)


def test_invalid_events_are_rejected_one_by_one_naming_the_field(client: TestClient, pg_schema: str,
                                                                 otel: OtelCapture) -> None:
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    batch = [
        event("login"),
        event("Login Clicked"),
        event("login", properties={"success": "yes"}),
        event("chat_message_sent", properties={"message_length": -1}),
        event("image_generated", properties={}),
        event("login", timestamp=future),
        event("login", timestamp="yesterday"),
        event("login", id="not-a-uuid"),
        event("login", page="/home"),
        event("x", properties={"deep": {"a": {"b": {"c": 1}}}}),
        event("x", properties={"long": "a" * 2000}),
        event("login", timestamp="2026-12-06T18:00:00"),
    ]
    answer = post(client, batch)
    assert answer.status_code == 202
    body = answer.json()
    assert body["accepted"] == 1
    errors = {r["index"]: r.get("error") for r in body["results"] if r["status"] == "rejected"}
    assert errors == {
        1: "events[1].name: expected a snake_case name (a-z, 0-9, _; starting with a letter; at most 64 characters)",
        2: "events[2].properties.success: expected a boolean, got a string",
        3: "events[3].properties.message_length: expected an integer >= 0, got -1",
        4: "events[4].properties.prompt_length: required for image_generated (an integer)",
        5: "events[5].timestamp: more than 5 minutes in the future (check the client's clock)",
        6: "events[6].timestamp: not an RFC 3339 date-time (e.g. 2026-12-06T18:39:18.123Z)",
        7: "events[7].id: expected a UUID (the client's id of the event, kept across retries)",
        8: "events[8].page: unknown field (allowed: id, name, properties, session_id, timestamp, user_id)",
        9: "events[9].properties.deep.a.b: nested deeper than 3 levels",
        10: "events[10].properties.long: string longer than 1024 characters",
        11: "events[11].timestamp: needs a date, a time and an offset or Z (RFC 3339)",
    }
    assert flush(10)
    assert len(pg_rows(pg_schema)) == 1
    assert otel.metric_total("app.analytics.events", {"name": "_invalid", "outcome": "rejected"}) == 11
    assert otel.metric_total("app.analytics.events", {"name": "login", "outcome": "accepted"}) == 1
    assert otel.metric_total("app.analytics.events", {"name": "login", "outcome": "stored"}) == 1


def test_a_batch_with_no_valid_event_is_422_with_the_first_error(client: TestClient) -> None:
    answer = post(client, [event("login", properties={"success": 1})])
    assert answer.status_code == 422
    assert answer.json()["error"] == "events[0].properties.success: expected a boolean, got 1"
    assert answer.json()["accepted"] == 0


@pytest.mark.parametrize(
    ("body", "status", "error"),
    [
        (b"{not json", 400, "body: not valid JSON"),
        (b"[]", 422, 'body: expected a JSON object {"events": [...]}'),
        (b'{"evts": []}', 422, "evts: unknown field (a batch has only 'events')"),
        (b"{}", 422, "events: required (a list of 1 to 100 events)"),
        (b'{"events": {}}', 422, "events: expected a list of events"),
        (b'{"events": []}', 422, "events: empty; send 1 to 100 events"),
        (json.dumps({"events": [{"name": "a"}] * 101}).encode(), 413, "events: 101 events in one batch; at most 100"),
        (json.dumps({"events": [{"name": "a", "properties": {"t": "x" * 1000}}] * 70}).encode(), 413,
         "body: "),
    ],
)
def test_malformed_and_oversized_batches_are_refused_naming_what_is_wrong(client: TestClient, body: bytes,
                                                                          status: int, error: str) -> None:
    answer = client.post("/analytics/events", content=body, headers={"content-type": "application/json"})
    assert answer.status_code == status
    assert answer.json()["error"].startswith(error)


def test_a_beacon_with_text_plain_is_read_as_json(client: TestClient, pg_schema: str) -> None:
    answer = client.post("/analytics/events", content=json.dumps({"events": [event("login")]}),
                         headers={"content-type": "text/plain;charset=UTF-8"})
    assert answer.status_code == 202


def test_a_client_over_its_events_per_minute_gets_429_with_retry_after(client: TestClient) -> None:
    assert post(client, [event("login")] * 100).status_code == 202  # a minute's worth at once
    answer = post(client, [event("login")] * 100)  # the next full batch only after a minute's refill
    assert answer.status_code == 429
    assert int(answer.headers["retry-after"]) >= 1
    assert "more than 100 analytics events a minute" in answer.json()["error"]


def test_cors_preflight_and_answers_for_the_configured_origins(client: TestClient) -> None:
    preflight = client.options("/analytics/events", headers={
        "origin": ORIGIN, "access-control-request-method": "POST",
        "access-control-request-headers": "content-type, traceparent, x-request-id"})
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == ORIGIN
    allowed = {h.strip() for h in preflight.headers["access-control-allow-headers"].split(",")}
    assert {"content-type", "traceparent", "x-request-id"} <= allowed
    assert "POST" in preflight.headers["access-control-allow-methods"]

    answer = post(client, [event("login")], origin=ORIGIN)
    assert answer.headers["access-control-allow-origin"] == ORIGIN
    assert "x-request-id" in answer.headers["access-control-expose-headers"]

    stranger = client.options("/analytics/events", headers={
        "origin": "https://evil.example", "access-control-request-method": "POST"})
    assert stranger.status_code == 403
    assert "access-control-allow-origin" not in stranger.headers
    assert "access-control-allow-origin" not in post(client, [event("login")], origin="https://evil.example").headers


def test_a_route_the_app_defines_itself_is_kept(otel: OtelCapture, use_settings: Callable[..., Settings],
                                                pg_schema: str) -> None:
    use_settings(analytics_database_url=pg_url(pg_schema))
    app = FastAPI()

    @app.post("/analytics/events")
    def own() -> dict[str, str]:
        return {"own": "yes"}

    otel.instrument(app)
    with TestClient(app) as client:
        assert client.post("/analytics/events", json={}).json() == {"own": "yes"}


def test_with_analytics_off_there_is_no_route(otel: OtelCapture, use_settings: Callable[..., Settings]) -> None:
    use_settings(analytics=False)
    app = FastAPI()
    otel.instrument(app)
    with TestClient(app) as client:
        assert client.post("/analytics/events", json={"events": [event()]}).status_code in (404, 405)


@pytest.mark.parametrize("route_kind", ["async", "sync"])  # sync routes run on the thread pool
def test_track_event_in_a_route_carries_the_request_trace_and_request_id(
        otel: OtelCapture, use_settings: Callable[..., Settings], pg_schema: str, route_kind: str) -> None:
    use_settings(analytics_database_url=pg_url(pg_schema), scrub_key="s" * 32)
    from otel_distro.analytics import track_event  # noqa: PLC0415

    app = FastAPI()

    if route_kind == "async":
        @app.post("/chat")
        async def chat() -> dict[str, bool]:
            return {"buffered": track_event("chat_message_sent", {"message_length": 3}, user_id="u-9")}
    else:
        @app.post("/chat")
        def chat_sync() -> dict[str, bool]:
            return {"buffered": track_event("chat_message_sent", {"message_length": 3}, user_id="u-9")}

    otel.instrument(app)
    with TestClient(app) as client:
        answer = client.post("/chat", headers={"traceparent": TRACEPARENT, "x-request-id": "req-chat-1"})
        assert answer.json() == {"buffered": True}
        assert flush(10)
    [row] = pg_rows(pg_schema)
    assert (row["trace_id"], row["request_id"], row["source"]) == (TRACE_ID, "req-chat-1", "server")
    [span] = otel.spans("POST /chat")
    assert format(span.context.trace_id, "032x") == TRACE_ID


@pytest.mark.parametrize("switch", [{"analytics": False}, {"enabled": False}])
def test_track_event_is_a_no_op_when_analytics_is_off(use_settings: Callable[..., Settings],
                                                      switch: dict[str, bool], tmp_path: Any) -> None:
    from otel_distro.analytics import track_event  # noqa: PLC0415

    use_settings(analytics_database_url=f"sqlite:///{tmp_path / 'never.db'}", **switch)
    assert track_event("login", {"success": True}) is False
    assert flush() is True
    assert not (tmp_path / "never.db").exists()


def test_a_chunked_body_is_cut_off_at_the_limit(client: TestClient) -> None:
    def chunks() -> Iterator[bytes]:  # no Content-Length: the size is only known while reading
        yield b'{"events": ['
        for _ in range(200):
            yield json.dumps({"name": "a", "properties": {"t": "x" * 500}}).encode() + b","
        yield b'{"name": "a"}]}'

    answer = client.post("/analytics/events", content=chunks(), headers={"content-type": "application/json"})
    assert answer.status_code == 413
    assert "at most 65536 bytes per batch" in answer.json()["error"]


def test_a_full_buffer_answers_503_so_the_browser_resends_later(
        otel: OtelCapture, use_settings: Callable[..., Settings], pg_schema: str) -> None:
    from tests.servers.tcp_proxy import TcpProxy  # noqa: PLC0415

    proxy = TcpProxy(PG_PORT).start()
    proxy.stop()  # the database is away: nothing leaves the buffer
    use_settings(analytics_database_url=pg_url(pg_schema, proxy.port), analytics_buffer_size=100)
    app = FastAPI()
    otel.instrument(app)
    try:
        with TestClient(app) as client:
            assert post(client, [event("login")] * 100).status_code == 202
            answer = post(client, [event("login")])
            assert answer.status_code == 503
            assert answer.headers["retry-after"] == "30"
            assert "resend later with the same event ids" in answer.json()["error"]
            proxy.start()  # back before shutdown: the accepted ones are written then
    finally:
        proxy.stop()
    assert len(pg_rows(pg_schema)) == 100


def test_personal_data_used_as_a_nested_property_key_never_reaches_the_database(
        client: TestClient, pg_schema: str) -> None:
    # Only top-level property names are restricted; deeper keys are whatever the page sent.
    answer = post(client, [event("invite_sent", properties={
        "invited": {"jane.doe@example.org": True, "+33 6 12 34 56 78": "sms"}, "count": 2})])
    assert answer.status_code == 202, answer.text
    assert flush(10)
    [row] = pg_rows(pg_schema)
    text = json.dumps(row, default=str)
    assert "jane.doe" not in text and "12 34 56" not in text
    assert row["properties"]["count"] == 2 and len(row["properties"]["invited"]) == 2
