"""The Sentry tunnel (``POST /monitoring/tunnel``) and the page's runtime config (``GET /monitoring/config``).

The tunnel forwards an allowed envelope, scrubbed, to a local Sentry envelope receiver that parses it with
sentry-sdk's own `Envelope`, and refuses forged, malformed and oversized ones without forwarding anything.
"""

from __future__ import annotations

import dataclasses
import json
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from sentry_sdk.envelope import Envelope, Item, PayloadRef
from starlette.applications import Starlette
from starlette.routing import Route
from starlette.testclient import TestClient

from otel_distro._internal import state
from otel_distro._internal.cors import Cors
from otel_distro._internal.sentry_tunnel import Tunnel
from otel_distro.scrubbing import default_scrubber
from otel_distro.testing import OtelCapture
from tests.servers.sentry import SentryReceiver

EMAIL = "jane.doe@example.org"
CARD = "4111 1111 1111 1111"


@pytest.fixture
def sentry() -> Iterator[SentryReceiver]:
    with SentryReceiver() as receiver:
        yield receiver


@pytest.fixture
def make_client(otel: OtelCapture) -> Iterator[Callable[..., TestClient]]:
    previous = state.settings()
    clients: list[TestClient] = []

    def make(**changes: Any) -> TestClient:
        state.set_settings(dataclasses.replace(previous, **changes))
        app = FastAPI()
        otel.instrument(app)
        client = TestClient(app)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()
    state.set_settings(previous)


def sentry_event(**extra: Any) -> dict[str, Any]:
    return {
        "event_id": uuid.uuid4().hex,
        "timestamp": time.time(),
        "platform": "javascript",
        "level": "error",
        "message": f"checkout failed for {EMAIL}",
        "exception": {"values": [{"type": "Error", "value": f"card {CARD} declined"}]},
        "user": {"id": "user-42", "email": EMAIL, "ip_address": "203.0.113.9"},
        "request": {"url": "https://app.example/pay?token=eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.abcdefghijklmnop",
                    "headers": {"Cookie": "session=abcdef123456"}},
        **extra,
    }


def envelope(dsn: str, *events: dict[str, Any], items: tuple[Item, ...] = ()) -> bytes:
    env = Envelope(headers={"dsn": dsn, "sent_at": "2026-12-06T18:00:00Z",
                            **({"event_id": events[0]["event_id"]} if events else {})})
    for event in events:
        env.add_event(event)
    for item in items:
        env.add_item(item)
    return env.serialize()


def tunnel(client: TestClient, body: bytes) -> Any:
    # As the browser SDK posts it: text/plain, so no preflight is needed.
    return client.post("/monitoring/tunnel", content=body, headers={"content-type": "text/plain;charset=UTF-8"})


def test_an_allowed_envelope_is_forwarded_scrubbed(sentry: SentryReceiver, make_client: Callable[..., TestClient],
                                                   otel: OtelCapture) -> None:
    client = make_client(sentry_dsn=sentry.dsn, scrub_key="k" * 32)
    event = sentry_event()
    answer = tunnel(client, envelope(sentry.dsn, event))
    assert answer.status_code == 200, answer.text
    [received] = sentry.wait_for_events(1)
    assert received["event_id"] == event["event_id"]
    text = json.dumps(received)
    for raw in (EMAIL, "4111", "eyJzdWIiOiIxIn0", "abcdef123456", "203.0.113.9", "user-42"):
        assert raw not in text, raw
    assert received["user"]["id"].startswith("[user:")
    assert received["exception"]["values"][0]["type"] == "Error"
    [request] = sentry.received
    assert request.envelope.headers["dsn"] == sentry.dsn


def test_the_upstream_is_the_configured_dsn_not_what_the_envelope_says(
        sentry: SentryReceiver, make_client: Callable[..., TestClient]) -> None:
    client = make_client(sentry_dsn=sentry.dsn)
    claimed = sentry.dsn.replace(sentry.public_key, "ffffffffffffffff")  # same host and project, another key
    assert tunnel(client, envelope(claimed, sentry_event())).status_code == 200
    [request] = sentry.received
    assert f"sentry_key={sentry.public_key}" in request.headers["x-sentry-auth"]
    assert request.path == f"/api/{sentry.project_id}/envelope/"


def test_a_forged_dsn_is_refused_and_logged_without_its_content(
        sentry: SentryReceiver, make_client: Callable[..., TestClient], otel: OtelCapture) -> None:
    client = make_client(sentry_dsn=sentry.dsn)
    forged = [
        f"http://{sentry.public_key}@evil.example/{sentry.project_id}",  # another host
        f"http://{sentry.public_key}@127.0.0.1:{sentry.port}/999",  # another project
        f"http://{sentry.public_key}@127.0.0.1:{sentry.port + 1}/{sentry.project_id}",  # another port
    ]
    for dsn in forged:
        answer = tunnel(client, envelope(dsn, sentry_event()))
        assert answer.status_code == 403
        assert answer.json() == {"error": "this DSN is not served by this tunnel"}
    assert sentry.received == [] and sentry.rejected == []
    refused = [log for log in otel.logs if log.get("event") == "sentry_tunnel_refused"
               or log.get("message") == "sentry_tunnel_refused"]
    # one line per reason per 10 s, however many arrive: a flood of forged envelopes is not a flood of lines
    assert len(refused) == 1 and refused[0]["reason"] == "dsn_not_allowed" and refused[0]["suppressed"] == 0
    assert EMAIL not in json.dumps(otel.logs) and "checkout failed" not in json.dumps(otel.logs)


def test_dsns_listed_for_the_tunnel_are_forwarded_too(make_client: Callable[..., TestClient]) -> None:
    with SentryReceiver() as backend, SentryReceiver(project_id="77") as browser_project:
        client = make_client(sentry_dsn=backend.dsn, sentry_tunnel_dsns=(browser_project.dsn,))
        assert tunnel(client, envelope(browser_project.dsn, sentry_event())).status_code == 200
        assert len(browser_project.wait_for_events(1)) == 1
        assert backend.received == []


@pytest.mark.parametrize(
    ("body", "status", "error"),
    [
        (b"not json\n", 400, "not a Sentry envelope: envelope header: not a JSON header line"),
        (b'{"event_id": "x"}\n{"type": "event", "length": 2}\n{}\n', 400, "the envelope header has no valid dsn"),
        (b'{"dsn": "DSN"}\n{"type": "event", "length": 99}\n{}\n', 400, "not a Sentry envelope: item 0: length 99"),
    ],
)
def test_malformed_envelopes_are_refused(sentry: SentryReceiver, make_client: Callable[..., TestClient],
                                         body: bytes, status: int, error: str) -> None:
    client = make_client(sentry_dsn=sentry.dsn)
    answer = tunnel(client, body.replace(b"DSN", sentry.dsn.encode()))
    assert answer.status_code == status
    assert answer.json()["error"].startswith(error)
    assert sentry.received == []


def test_an_oversized_envelope_is_refused(sentry: SentryReceiver, make_client: Callable[..., TestClient]) -> None:
    client = make_client(sentry_dsn=sentry.dsn, sentry_tunnel_max_bytes=2048)
    answer = tunnel(client, envelope(sentry.dsn, sentry_event(extra={"blob": "x" * 4096})))
    assert answer.status_code == 413
    assert "OTEL_DISTRO_SENTRY_TUNNEL_MAX_BYTES" in answer.json()["error"]
    assert sentry.received == []


def test_sessions_lose_their_user_and_binary_items_are_not_forwarded(
        sentry: SentryReceiver, make_client: Callable[..., TestClient]) -> None:
    client = make_client(sentry_dsn=sentry.dsn)
    session = Item(payload=PayloadRef(json={"sid": uuid.uuid4().hex, "did": EMAIL, "status": "ok", "init": True,
                                            "attrs": {"release": "1.0", "ip_address": "203.0.113.9"}}),
                   type="session")
    attachment = Item(payload=PayloadRef(bytes=b"\x89PNG\x00\x01 " + EMAIL.encode()), type="attachment",
                      filename="screenshot.png")
    assert tunnel(client, envelope(sentry.dsn, items=(session, attachment))).status_code == 200
    [request] = sentry.received
    types = [item.type for item in request.envelope.items]
    assert types == ["session"]
    forwarded = json.loads(request.envelope.items[0].get_bytes())
    assert forwarded["did"].startswith("[") and EMAIL not in json.dumps(forwarded)
    assert "ip_address" not in forwarded["attrs"] and forwarded["attrs"]["release"] == "1.0"


def test_sentry_rate_limits_reach_the_browser_sdk(sentry: SentryReceiver,
                                                  make_client: Callable[..., TestClient]) -> None:
    client = make_client(sentry_dsn=sentry.dsn)
    sentry.answer(429, {"Retry-After": "60", "X-Sentry-Rate-Limits": "60:error:project"})
    answer = tunnel(client, envelope(sentry.dsn, sentry_event()))
    assert answer.status_code == 429
    assert answer.headers["retry-after"] == "60"
    assert answer.headers["x-sentry-rate-limits"] == "60:error:project"


def test_an_unreachable_sentry_is_502(make_client: Callable[..., TestClient]) -> None:
    receiver = SentryReceiver().start()
    dsn = receiver.dsn
    receiver.stop()
    client = make_client(sentry_dsn=dsn)
    answer = tunnel(client, envelope(dsn, sentry_event()))
    assert answer.status_code == 502
    assert answer.json() == {"error": "Sentry cannot be reached"}


def test_monitoring_config_serves_the_public_dsn_and_the_page_settings(
        make_client: Callable[..., TestClient]) -> None:
    client = make_client(sentry_dsn="https://abc123:secret456@o1.ingest.sentry.io/4505", environment="staging",
                         service_version="2.3.1", sentry_traces_sample_rate=0.25, cors_origins=("https://app.example",))
    answer = client.get("/monitoring/config", headers={"origin": "https://app.example"})
    assert answer.status_code == 200
    assert answer.json() == {
        "sentry": {"dsn": "https://abc123@o1.ingest.sentry.io/4505", "environment": "staging", "release": "2.3.1",
                   "tracesSampleRate": 0.25, "sampleRate": 1.0, "tunnel": "/monitoring/tunnel"},
        "analytics": {"endpoint": "/analytics/events", "maxBatch": 100},
    }
    assert "secret456" not in answer.text
    assert answer.headers["access-control-allow-origin"] == "https://app.example"


def test_monitoring_config_says_null_when_sentry_is_off(make_client: Callable[..., TestClient]) -> None:
    client = make_client(sentry_dsn=None, sentry_browser_dsn=None)
    assert client.get("/monitoring/config").json()["sentry"]["dsn"] is None


def test_the_browser_dsn_is_what_the_page_gets(make_client: Callable[..., TestClient]) -> None:
    client = make_client(sentry_dsn="https://backend@o1.ingest.sentry.io/1",
                         sentry_browser_dsn="https://browser@o1.ingest.sentry.io/2")
    assert client.get("/monitoring/config").json()["sentry"]["dsn"] == "https://browser@o1.ingest.sentry.io/2"


def test_a_sentry_that_does_not_answer_in_time_is_504(sentry: SentryReceiver) -> None:
    sentry.latency = 2.0
    tunnel_route = Tunnel([sentry.dsn], scrubber=default_scrubber(), cors=Cors(()), timeout=0.3)
    app = Starlette(routes=[Route("/monitoring/tunnel", tunnel_route.__call__, methods=["POST"])])
    with TestClient(app) as client:
        answer = tunnel(client, envelope(sentry.dsn, sentry_event()))
    assert answer.status_code == 504
    assert answer.json() == {"error": "Sentry did not answer in time"}


def test_the_users_name_and_a_feedback_name_do_not_reach_sentry(
        sentry: SentryReceiver, make_client: Callable[..., TestClient]) -> None:
    # The Sentry user interface's `name` is the person's name; user feedback carries the name typed in the form.
    client = make_client(sentry_dsn=sentry.dsn)
    event = sentry_event(user={"id": "user-42", "name": "Jane Doe"})
    feedback = Item(payload=PayloadRef(json={
        "event_id": uuid.uuid4().hex, "timestamp": time.time(), "platform": "javascript",
        "contexts": {"feedback": {"name": "John Smith", "contact_email": EMAIL, "message": "the page hangs"}},
    }), type="feedback")
    assert tunnel(client, envelope(sentry.dsn, event, items=(feedback,))).status_code == 200
    [request] = sentry.received
    forwarded = [json.loads(item.get_bytes()) for item in request.envelope.items]
    text = json.dumps(forwarded)
    assert "Jane Doe" not in text and "John Smith" not in text and EMAIL not in text
    assert forwarded[1]["contexts"]["feedback"]["message"] == "the page hangs"


def test_an_upstream_that_answers_garbage_is_502_not_500() -> None:
    # Something at Sentry's address that does not speak HTTP (a wrong port, a broken proxy).
    import socket  # noqa: PLC0415
    import threading  # noqa: PLC0415

    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]

    def answer_garbage() -> None:
        with server:
            conn, _ = server.accept()
            with conn:
                conn.recv(65536)
                conn.sendall(b"SSH-2.0-OpenSSH_9.6\r\n")

    thread = threading.Thread(target=answer_garbage, daemon=True)
    thread.start()
    dsn = f"http://abc@127.0.0.1:{port}/1"
    tunnel_route = Tunnel([dsn], scrubber=default_scrubber(), cors=Cors(()), timeout=5.0)
    app = Starlette(routes=[Route("/monitoring/tunnel", tunnel_route.__call__, methods=["POST"])])
    with TestClient(app, raise_server_exceptions=False) as client:
        answer = tunnel(client, envelope(dsn, sentry_event()))
    thread.join(10)
    assert answer.status_code == 502
    assert answer.json() == {"error": "Sentry cannot be reached"}


def test_personal_data_used_as_a_key_does_not_reach_sentry(
        sentry: SentryReceiver, make_client: Callable[..., TestClient]) -> None:
    client = make_client(sentry_dsn=sentry.dsn)
    event = sentry_event(extra={EMAIL: "vip"}, contexts={"cart": {CARD: 1}},
                         breadcrumbs={"values": [{"category": "ui", "data": {EMAIL: "clicked"}}]})
    client_report = Item(payload=PayloadRef(json={"discarded_events": [], EMAIL: 1}), type="client_report")
    assert tunnel(client, envelope(sentry.dsn, event, items=(client_report,))).status_code == 200
    [request] = sentry.received
    text = json.dumps([json.loads(item.get_bytes()) for item in request.envelope.items])
    assert EMAIL not in text and "4111" not in text
    assert "vip" in text and "clicked" in text


def test_a_fingerprint_the_page_built_from_personal_data_is_scrubbed(
        sentry: SentryReceiver, make_client: Callable[..., TestClient]) -> None:
    # Sentry.captureException(error, {fingerprint: ["checkout", user.email]}): the page chooses the fingerprint.
    client = make_client(sentry_dsn=sentry.dsn)
    event = sentry_event(fingerprint=["{{ default }}", "checkout", EMAIL])
    assert tunnel(client, envelope(sentry.dsn, event)).status_code == 200
    [received] = sentry.wait_for_events(1)
    assert received["fingerprint"][:2] == ["{{ default }}", "checkout"]
    assert EMAIL not in json.dumps(received["fingerprint"])


def test_replay_events_and_user_reports_lose_the_users_identity(
        sentry: SentryReceiver, make_client: Callable[..., TestClient]) -> None:
    # A replay event carries the scope's user like an error does; a (v7) user report the name typed in the form.
    client = make_client(sentry_dsn=sentry.dsn, scrub_key="k" * 32)
    replay = Item(payload=PayloadRef(json={
        "type": "replay_event", "replay_id": uuid.uuid4().hex, "segment_id": 0, "timestamp": time.time(),
        "user": {"id": "user-42", "name": "Jane Doe", "ip_address": "203.0.113.9"}, "urls": ["https://app.example/"],
    }), type="replay_event")
    report = Item(payload=PayloadRef(json={"event_id": uuid.uuid4().hex, "name": "John Smith", "email": EMAIL,
                                           "comments": "the page hangs"}), type="user_report")
    assert tunnel(client, envelope(sentry.dsn, items=(replay, report))).status_code == 200
    [request] = sentry.received
    forwarded = {item.type: json.loads(item.get_bytes()) for item in request.envelope.items}
    text = json.dumps(forwarded)
    for raw in ("user-42", "Jane Doe", "203.0.113.9", "John Smith", EMAIL):
        assert raw not in text, raw
    assert forwarded["replay_event"]["user"]["id"].startswith("[user:")
    assert forwarded["user_report"]["comments"] == "the page hangs"


def test_envelopes_beyond_the_in_flight_limit_are_refused_not_queued(sentry: SentryReceiver) -> None:
    # A slow Sentry holds a worker thread per envelope, and those threads are the app's asyncio.to_thread pool.
    import threading  # noqa: PLC0415

    tunnel_route = Tunnel([sentry.dsn], scrubber=default_scrubber(), cors=Cors(()), max_in_flight=1)
    entered, release = threading.Event(), threading.Event()
    forward = tunnel_route._forward

    def slow_forward(upstream: Any, body: bytes) -> Any:
        entered.set()
        release.wait(10)
        return forward(upstream, body)

    tunnel_route._forward = slow_forward  # type: ignore[method-assign]
    app = Starlette(routes=[Route("/monitoring/tunnel", tunnel_route.__call__, methods=["POST"])])
    answers: list[Any] = []
    with TestClient(app) as client:
        first = threading.Thread(target=lambda: answers.append(tunnel(client, envelope(sentry.dsn, sentry_event()))))
        first.start()
        assert entered.wait(10)
        busy = tunnel(client, envelope(sentry.dsn, sentry_event()))
        release.set()
        first.join(10)
    assert busy.status_code == 429 and busy.headers["retry-after"] == "1"
    assert "busy" in busy.json()["error"]
    assert [a.status_code for a in answers] == [200] and len(sentry.received) == 1


CONTENT_TYPES = {"log": "application/vnd.sentry.items.log+json",
                 "trace_metric": "application/vnd.sentry.items.trace-metric+json",
                 "span": "application/vnd.sentry.items.span.v2+json"}


@pytest.mark.parametrize("item_type", sorted(CONTENT_TYPES))
def test_logs_and_metrics_lose_the_users_identity_and_keep_valid_attributes(
        sentry: SentryReceiver, make_client: Callable[..., TestClient], item_type: str) -> None:
    # Sentry.logger.info(...) or Sentry.metrics.count(...) after Sentry.setUser(...): the SDK puts the user in
    # each record's attributes.
    client = make_client(sentry_dsn=sentry.dsn, scrub_key="k" * 32)
    log = Item(payload=PayloadRef(json={"items": [{
        "timestamp": time.time(), "level": "info", "body": f"cart saved for {EMAIL}", "trace_id": "a" * 32,
        "attributes": {"user.id": {"value": "user-42", "type": "string"},
                       "user.name": {"value": "Jane Doe", "type": "string"},
                       "user.email": {"value": EMAIL, "type": "string"},
                       "sentry.release": {"value": "1.2.3", "type": "string"}},
    }]}), type=item_type, content_type=CONTENT_TYPES[item_type])
    assert tunnel(client, envelope(sentry.dsn, items=(log,))).status_code == 200
    [request] = sentry.received
    [record] = json.loads(request.envelope.items[0].get_bytes())["items"]
    text = json.dumps(record)
    for raw in ("user-42", "Jane Doe", EMAIL):
        assert raw not in text, raw
    attributes = record["attributes"]
    assert attributes["user.id"]["value"].startswith("[user:")
    assert {attr["type"] for attr in attributes.values()} == {"string"}
    assert attributes["sentry.release"] == {"value": "1.2.3", "type": "string"}


def test_every_config_answer_varies_by_origin(make_client: Callable[..., TestClient]) -> None:
    # The allow-origin header depends on the Origin: an answer without it, cached, must not be served to a page
    # of an allowed origin (its browser would then hide the config).
    client = make_client(cors_origins=("https://app.example",))
    for origin in ("https://app.example", "https://other.example", None):
        answer = client.get("/monitoring/config", headers={"origin": origin} if origin else {})
        assert answer.headers.get("vary") == "Origin", origin


def test_items_of_other_types_lose_the_users_identity_wherever_it_is(
        sentry: SentryReceiver, make_client: Callable[..., TestClient]) -> None:
    # Item types the tunnel has no rule of its own for (profiles, check-ins, client reports, newer SDK items) may
    # still carry the scope's user: as a `user` object at any depth, or as `user.id` / `user_id` fields.
    client = make_client(sentry_dsn=sentry.dsn, scrub_key="k" * 32)  # pseudonyms, so the user stays joinable
    profile = Item(payload=PayloadRef(json={
        "platform": "javascript", "transaction": {"name": "/checkout"},
        "context": {"user": {"id": "user-42", "username": "jdoe", "name": "Jane Doe", "ip_address": "203.0.113.9"}},
        "tags": {"user.id": "user-43", "user_id": 44, "route": "/checkout"},
    }), type="profile")
    assert tunnel(client, envelope(sentry.dsn, items=(profile,))).status_code == 200
    [request] = sentry.received
    forwarded = json.loads(request.envelope.items[0].get_bytes())
    text = json.dumps(forwarded)
    for raw in ("user-42", "jdoe", "Jane Doe", "203.0.113.9", "user-43", '"user_id": 44'):
        assert raw not in text, raw
    user = forwarded["context"]["user"]
    assert user["id"].startswith("[user:") and user["username"].startswith("[user:"), user
    assert "ip_address" not in user
    assert forwarded["tags"]["user.id"].startswith("[user:") and forwarded["tags"]["user_id"].startswith("[user:")
    assert forwarded["tags"]["route"] == "/checkout" and forwarded["transaction"] == {"name": "/checkout"}


def test_items_of_other_types_keep_what_a_key_says_about_its_value_when_searched_for_the_user(
        sentry: SentryReceiver, make_client: Callable[..., TestClient]) -> None:
    # The user search walks the item itself; the engine's key rules must still see each value under its key and
    # parent: a container under a secret key is a secret leaf by leaf, `customer.name` is a person.
    client = make_client(sentry_dsn=sentry.dsn, scrub_key="k" * 32)
    check_in = Item(payload=PayloadRef(json={
        "check_in_id": "83a7c0d5d2b04b3fb9f1d5bcb1c2b1a1", "status": "error",
        "customer": {"name": "Jane Doe"},
        "credentials": {"aws": "hunter2-xyz", "ids": ["opaque-42"]},
        "contexts": {"trace": {"trace_id": "4bf92f3577b34da6a3ce929d0e0e4736"}},
    }), type="check_in")
    assert tunnel(client, envelope(sentry.dsn, items=(check_in,))).status_code == 200
    [request] = sentry.received
    forwarded = json.loads(request.envelope.items[0].get_bytes())
    text = json.dumps(forwarded)
    for raw in ("Jane Doe", "hunter2-xyz", "opaque-42"):
        assert raw not in text, raw
    assert forwarded["customer"]["name"].startswith("[person:"), forwarded
    assert forwarded["credentials"] == {"aws": "[REDACTED:secret]", "ids": ["[REDACTED:secret]"]}
    assert forwarded["contexts"] == {"trace": {"trace_id": "4bf92f3577b34da6a3ce929d0e0e4736"}}
    assert forwarded["status"] == "error"
