"""Sentry envelopes as bytes, checked against sentry-sdk's own `Envelope` in both directions."""

from __future__ import annotations

import json

import pytest
from sentry_sdk.envelope import Envelope as SdkEnvelope
from sentry_sdk.envelope import Item as SdkItem
from sentry_sdk.envelope import PayloadRef

from otel_distro._internal.envelope import EnvelopeError, parse_envelope
from otel_distro._internal.sentry_tunnel import Dsn


def sdk_envelope() -> SdkEnvelope:
    env = SdkEnvelope(headers={"dsn": "https://k@o1.ingest.sentry.io/5", "event_id": "a" * 32})
    env.add_event({"event_id": "a" * 32, "message": "line one\nline two"})
    env.add_item(SdkItem(payload=PayloadRef(bytes=b"\x00\x01binary\n\n"), type="attachment", filename="x.bin"))
    env.add_item(SdkItem(payload=PayloadRef(json={"sid": "s", "status": "ok"}), type="session"))
    return env


def test_what_sentry_sdk_writes_is_read_item_by_item() -> None:
    parsed = parse_envelope(sdk_envelope().serialize())
    assert parsed.headers["dsn"] == "https://k@o1.ingest.sentry.io/5"
    assert [item.type for item in parsed.items] == ["event", "attachment", "session"]
    assert json.loads(parsed.items[0].payload)["message"] == "line one\nline two"
    assert parsed.items[1].payload == b"\x00\x01binary\n\n"


def test_what_it_writes_sentry_sdk_reads_back_the_same() -> None:
    again = SdkEnvelope.deserialize(parse_envelope(sdk_envelope().serialize()).serialize())
    assert again.headers == sdk_envelope().headers
    assert [item.get_bytes() for item in again.items] == [item.get_bytes() for item in sdk_envelope().items]


def test_items_without_a_length_end_at_the_newline() -> None:
    body = b'{"dsn": "https://k@h/1"}\n{"type": "event"}\n{"event_id": "e"}\n\n{"type": "client_report"}\n{}'
    parsed = parse_envelope(body)
    assert [(i.type, i.payload) for i in parsed.items] == [("event", b'{"event_id": "e"}'), ("client_report", b"{}")]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "envelope header: not a JSON header line"),
        (b"[1]\n", "envelope header: the header must be a JSON object"),
        (b'{}\n{"type": "event", "length": 10}\n{}', "item 0: length 10 does not fit the body"),
        (b'{}\n{"length": 2}\n{}\n', "item 0: the header has no type"),
        (b'{}\nnope\n', "item 0 header: not a JSON header line"),
    ],
)
def test_malformed_envelopes_say_where(body: bytes, message: str) -> None:
    with pytest.raises(EnvelopeError, match=message):
        parse_envelope(body)


@pytest.mark.parametrize(
    ("text", "host", "project", "url"),
    [
        ("https://pub@o1.ingest.sentry.io/4505", "o1.ingest.sentry.io", "4505",
         "https://o1.ingest.sentry.io/api/4505/envelope/"),
        ("https://pub:secret@SENTRY.example:443/prefix/7", "sentry.example", "7",
         "https://sentry.example/prefix/api/7/envelope/"),
        ("http://pub@127.0.0.1:9000/42", "127.0.0.1:9000", "42", "http://127.0.0.1:9000/api/42/envelope/"),
    ],
)
def test_dsns_are_matched_on_host_port_and_project(text: str, host: str, project: str, url: str) -> None:
    dsn = Dsn.parse(text)
    assert dsn is not None
    assert (dsn.host, dsn.project_id, dsn.envelope_url) == (host, project, url)
    assert "secret" not in dsn.public


@pytest.mark.parametrize("text", ["", "not a dsn", "ftp://k@h/1", "https://h/1", "https://k@h/project", "https://k@h:x/1"])
def test_what_is_not_a_dsn(text: str) -> None:
    assert Dsn.parse(text) is None
