"""The sentry exporter: config, `classify()`, and sending envelopes to a local Sentry envelope endpoint."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import structlog
from pydantic import ValidationError

from collector.component import ComponentID, CreateSettings
from collector.errors import PermanentError, RetryableError
from collector.exporters import sentry
from collector.exporters.sentry import Config, Outcome, SentryExporter, Verdict, classify
from collector.exporters.sentry._transport import EnvelopeClient
from collector.pdata import Batch, Signal
from collector.sending.settings import SenderSettings
from otel_distro.scrubbing import Scrubber
from tests.collector.exporters._sentry_data import Sdk, failing_request
from tests.servers.sentry import SentryReceiver, check_event

# -- config --------------------------------------------------------------------------------------------


def test_defaults() -> None:
    config = Config()
    assert (config.dsn, config.min_severity, config.transactions) == ("", "error", False)
    assert config.exception_span_events is True
    assert (config.concurrency, config.timeout) == (4, 30.0)
    assert config.retry_on_failure.enabled  # the sender's settings come with it


def test_unknown_keys_are_rejected() -> None:
    with pytest.raises(ValidationError, match="dns"):
        Config.model_validate({"dns": "https://k@o1.ingest.sentry.io/1"})


@pytest.mark.parametrize("dsn", ["not a url", "ftp://key@host/1", "https://host/1", "https://key@host/notanumber"])
def test_a_bad_dsn_is_an_error_on_dsn(dsn: str) -> None:
    with pytest.raises(ValidationError) as info:
        Config(dsn=dsn)
    [error] = info.value.errors()
    assert error["loc"] == ("dsn",)
    assert "Sentry DSN" in error["msg"]


def test_min_severity_accepts_level_names_in_any_case() -> None:
    assert Config.model_validate({"min_severity": "WARNING"}).min_severity_number == 13
    with pytest.raises(ValidationError, match="min_severity"):
        Config.model_validate({"min_severity": "loud"})


def test_sender_keys_are_accepted() -> None:
    config = Config.model_validate({"dsn": "", "retry_on_failure": {"initial_interval": "1s"}, "timeout": "2s"})
    assert (config.retry_on_failure.initial_interval, config.timeout) == (1.0, 2.0)


def test_the_pseudonym_key_is_read_from_the_named_env_var_never_the_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SENTRY_USER_KEY", raising=False)
    config = Config(dsn="https://key@o1.ingest.sentry.io/1", user_pseudonym_key_env="SENTRY_USER_KEY")
    with pytest.raises(ValueError, match="user_pseudonym_key_env: environment variable SENTRY_USER_KEY is not set"):
        sentry.create(CreateSettings(ComponentID("sentry")), config)
    sentry.create(CreateSettings(ComponentID("sentry")), Config(user_pseudonym_key_env="SENTRY_USER_KEY"))  # off
    with pytest.raises(ValidationError, match="environment variable"):
        Config(user_pseudonym_key_env="not a name!")


def test_enduser_id_is_pseudonymised_by_the_pii_engine_with_the_key_from_env(
    monkeypatch: pytest.MonkeyPatch, receiver: SentryReceiver, s: Sdk
) -> None:
    key = "k" * 32
    monkeypatch.setenv("SENTRY_USER_KEY", key)
    failing_request(s, user="alice@example.com")
    _export(receiver.dsn, s.traces_batch(), user_pseudonym_key_env="SENTRY_USER_KEY", tag_attributes=["enduser.id"])
    [event] = receiver.events()
    expected = Scrubber(hmac_key=key.encode()).pseudonymize("user", "alice@example.com")
    assert event["user"] == {"id": expected}
    assert event["tags"] == {"enduser.id": expected}
    assert expected.startswith("[user:")
    assert "alice" not in repr(event)


def test_a_short_pseudonym_key_is_refused_naming_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SENTRY_USER_KEY", "short")
    with pytest.raises(ValueError, match="user_pseudonym_key_env: the key in SENTRY_USER_KEY is unusable"):
        sentry.create(
            CreateSettings(ComponentID("sentry")),
            Config(dsn="https://key@o1.ingest.sentry.io/1", user_pseudonym_key_env="SENTRY_USER_KEY"),
        )


def test_the_module_has_the_component_shape() -> None:
    assert sentry.TYPE == "sentry"
    assert frozenset({Signal.LOGS, Signal.TRACES}) == sentry.SIGNALS
    assert issubclass(sentry.Config, SenderSettings)  # so the pipeline wraps it in queue -> retry -> timeout


# -- classify ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "headers", "category", "expected"),
    [
        (200, {}, "error", Outcome(Verdict.SENT)),
        (202, {"X-Sentry-Rate-Limits": "60:error"}, "error", Outcome(Verdict.SENT)),
        (429, {}, "error", Outcome(Verdict.RETRY, 60.0)),
        (429, {"Retry-After": "17"}, "error", Outcome(Verdict.RETRY, 17.0)),
        (429, {"x-sentry-rate-limits": "30:error;transaction:key"}, "error", Outcome(Verdict.RETRY, 30.0)),
        (429, {"X-Sentry-Rate-Limits": "30:transaction:key, 90::organization"}, "error", Outcome(Verdict.RETRY, 90.0)),
        (429, {"X-Sentry-Rate-Limits": "30:transaction", "Retry-After": "5"}, "error", Outcome(Verdict.RETRY, 5.0)),
        (429, {"X-Sentry-Rate-Limits": "30:transaction;error, 45:error"}, "error", Outcome(Verdict.RETRY, 45.0)),
        (500, {}, "error", Outcome(Verdict.RETRY)),
        (502, {}, "error", Outcome(Verdict.RETRY)),
        (503, {"Retry-After": "3"}, "error", Outcome(Verdict.RETRY, 3.0)),
        (504, {}, "transaction", Outcome(Verdict.RETRY)),
        (408, {}, "error", Outcome(Verdict.RETRY)),
        (400, {}, "error", Outcome(Verdict.DROP)),
        (401, {}, "error", Outcome(Verdict.DROP)),
        (403, {}, "error", Outcome(Verdict.DROP)),
        (404, {}, "error", Outcome(Verdict.DROP)),
        (413, {}, "error", Outcome(Verdict.DROP)),
        (302, {}, "error", Outcome(Verdict.DROP)),
    ],
)
def test_classify(status: int, headers: dict[str, str], category: str, expected: Outcome) -> None:
    outcome = classify(status, headers, category)
    assert (outcome.verdict, outcome.retry_after) == (expected.verdict, expected.retry_after)


def test_classify_reads_a_retry_after_date() -> None:
    outcome = classify(503, {"Retry-After": "Fri, 31 Dec 1999 23:59:59 GMT"})
    assert (outcome.verdict, outcome.retry_after) == (Verdict.RETRY, 0.0)


# -- sending -------------------------------------------------------------------------------------------




def _export(dsn: str, *batches: Batch, **config: Any) -> None:
    """Export batches through one exporter's whole lifecycle; the first error propagates."""

    async def run() -> None:
        exporter = sentry.create(CreateSettings(ComponentID("sentry")), Config(dsn=dsn, **config))
        await exporter.start()
        try:
            for batch in batches:
                await exporter.export(batch)
        finally:
            await exporter.shutdown()

    asyncio.run(run())


def _error(dsn: str, batch: Batch, **config: Any) -> RetryableError:
    with pytest.raises(RetryableError) as info:
        _export(dsn, batch, **config)
    return info.value


@pytest.mark.parametrize("compression", ["gzip", "none"])
def test_events_arrive_as_envelopes_sentry_can_read(receiver: SentryReceiver, s: Sdk, compression: str) -> None:
    failing_request(s)
    # two events of one failure: dedupe (tested in test_sentry_dedupe.py) is off to see both envelopes
    _export(receiver.dsn, s.logs_batch(), s.traces_batch(), compression=compression, dedupe={"enabled": False})
    log_event, span_event = receiver.events()
    assert log_event["logentry"] == {"formatted": "chat request failed"}
    assert span_event["transaction"] == "POST /chat"
    assert log_event["contexts"]["trace"]["trace_id"] == span_event["contexts"]["trace"]["trace_id"]
    request = receiver.received[0]
    assert request.path == f"/api/{receiver.project_id}/envelope/"
    assert request.headers["x-sentry-auth"].startswith(f"Sentry sentry_key={receiver.public_key}, sentry_version=7")
    assert request.headers["content-type"] == "application/x-sentry-envelope"
    assert request.headers.get("content-encoding") == ("gzip" if compression == "gzip" else None)
    headers = request.envelope.headers
    assert headers["event_id"] == log_event["event_id"]
    assert headers["trace"]["trace_id"] == log_event["contexts"]["trace"]["trace_id"]
    assert headers["trace"]["public_key"] == receiver.public_key
    assert (headers["trace"]["release"], headers["trace"]["environment"]) == ("2.4.1", "staging")


def test_transactions_arrive_as_transaction_items(receiver: SentryReceiver, s: Sdk) -> None:
    failing_request(s)
    _export(receiver.dsn, s.traces_batch(), transactions=True)
    [transaction] = receiver.transactions()
    assert transaction["transaction"] == "POST /chat"
    assert len(receiver.events()) == 1


def test_a_batch_without_errors_sends_nothing(receiver: SentryReceiver, s: Sdk) -> None:
    s.logger.info("all good")
    with s.tracer.start_as_current_span("GET /health"):
        pass
    _export(receiver.dsn, s.logs_batch(), s.traces_batch())
    assert receiver.received == []
    assert receiver.rejected == []


def test_a_wrong_key_is_permanent(receiver: SentryReceiver, s: Sdk) -> None:
    failing_request(s)
    dsn = receiver.dsn.replace(receiver.public_key, "wrongkey")
    with structlog.testing.capture_logs() as logs, pytest.raises(PermanentError) as info:
        _export(dsn, s.logs_batch())
    assert info.value.rejected_items == 1
    assert receiver.rejected == [(401, "invalid or missing sentry_key in X-Sentry-Auth")]
    [log] = [entry for entry in logs if entry["event"] == "sentry_event_rejected"]
    assert log["status"] == 401


def test_a_rejected_event_does_not_stop_the_others(receiver: SentryReceiver, s: Sdk) -> None:
    for n in range(3):
        s.logger.error("failure %d", n)
    receiver.answer(400)
    with pytest.raises(PermanentError) as info:
        _export(receiver.dsn, s.logs_batch(), concurrency=1)
    assert info.value.rejected_items == 1
    assert [e["logentry"]["formatted"] for e in receiver.events()] == ["failure 1", "failure 2"]


def test_a_rate_limit_hands_back_what_is_left_with_sentrys_delay(receiver: SentryReceiver, s: Sdk) -> None:
    for n in range(3):
        s.logger.error("failure %d", n)
    batch = s.logs_batch()
    receiver.answer(200)
    receiver.answer(429, {"X-Sentry-Rate-Limits": "42:error:organization:quota_exceeded", "Retry-After": "1"})
    with structlog.testing.capture_logs() as logs:
        error = _error(receiver.dsn, batch, concurrency=1)
    assert error.retry_after == pytest.approx(42.0)
    assert error.batch is not None
    records = error.batch.resources[0].scope_logs[0].log_records
    assert [r.body.string_value for r in records] == ["failure 1", "failure 2"]
    assert {"event": "sentry_rate_limited", "category": "error", "retry_after": pytest.approx(42.0),
            "log_level": "warning"} in [{k: v for k, v in e.items() if k != "component"} for e in logs]
    assert len(receiver.events()) == 1


def test_during_a_rate_limit_nothing_of_that_category_is_sent(receiver: SentryReceiver, s: Sdk) -> None:
    failing_request(s)
    receiver.answer(200, {"X-Sentry-Rate-Limits": "600:transaction"})

    async def run() -> tuple[RetryableError, int]:
        config = Config(dsn=receiver.dsn, transactions=True, dedupe={"enabled": False})  # both error events go
        exporter = SentryExporter(CreateSettings(ComponentID("sentry")), config)
        await exporter.start()
        try:
            await exporter.export(s.logs_batch())  # accepted, and announces a limit on transactions
            before = len(receiver.received)
            with pytest.raises(RetryableError) as info:
                await exporter.export(s.traces_batch())  # its error event goes; its transaction waits
            return info.value, len(receiver.received) - before
        finally:
            await exporter.shutdown()

    error, sent = asyncio.run(run())
    assert sent == 1
    assert error.retry_after == pytest.approx(600, abs=5)
    assert error.batch is not None and error.batch.item_count() == 2  # the root span and its child, for later
    assert receiver.transactions() == []
    assert len(receiver.events()) == 2


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_errors_are_retryable_and_the_retry_completes(receiver: SentryReceiver, s: Sdk, status: int) -> None:
    for n in range(4):
        s.logger.error("failure %d", n)
    receiver.answer(200, times=2)
    receiver.answer(status, {"Retry-After": "2"})
    error = _error(receiver.dsn, s.logs_batch(), concurrency=1)
    assert error.retry_after == 2.0
    assert error.batch is not None and error.batch.item_count() == 2
    _export(receiver.dsn, error.batch)
    assert len(receiver.events()) == 4
    assert len(receiver.received) == 4  # nothing was sent twice


def test_concurrent_sends_hand_back_exactly_what_was_not_sent(receiver: SentryReceiver, s: Sdk) -> None:
    for n in range(40):
        s.logger.error("failure %d", n)
    receiver.answer(200, times=10)
    receiver.answer(503, times=3)
    error = _error(receiver.dsn, s.logs_batch(), concurrency=4)
    assert error.batch is not None
    accepted = len(receiver.received)
    assert 10 <= accepted < 40
    assert error.batch.item_count() == 40 - accepted
    _export(receiver.dsn, error.batch, concurrency=4)
    assert len(receiver.events()) == 40
    assert len(receiver.received) == 40  # nothing was sent twice


def test_a_batch_retried_whole_resumes_where_it_stopped(receiver: SentryReceiver, s: Sdk) -> None:
    """After a timeout the sender retries the batch it had; events Sentry accepted are not sent again."""
    for n in range(6):
        s.logger.error("failure %d", n)
    batch = s.logs_batch()
    receiver.answer(200, times=2)
    receiver.answer(503)

    async def run() -> None:
        exporter = SentryExporter(CreateSettings(ComponentID("sentry")), Config(dsn=receiver.dsn, concurrency=1))
        await exporter.start()
        try:
            with pytest.raises(RetryableError):
                await exporter.export(batch)
            await exporter.export(batch)
        finally:
            await exporter.shutdown()

    asyncio.run(run())
    assert len(receiver.events()) == 6
    assert len(receiver.received) == 6


def test_when_sentry_is_down_everything_is_retryable_and_arrives_once_it_is_back(s: Sdk) -> None:
    failing_request(s)
    failing_request(s)
    with SentryReceiver() as receiver:
        dsn = receiver.dsn
        receiver.stop()
        logs_error = _error(dsn, s.logs_batch())
        traces_error = _error(dsn, s.traces_batch())
        assert "cannot reach Sentry" in str(logs_error)
        assert logs_error.retry_after is None
        receiver.start()
        assert logs_error.batch is not None and traces_error.batch is not None
        _export(dsn, logs_error.batch, traces_error.batch)
        events = receiver.events()  # one per failure: each logged and recorded on its span
        assert len(events) == 2
        assert [e["logentry"]["formatted"] for e in events] == ["chat request failed"] * 2


def test_an_empty_dsn_switches_the_exporter_off(s: Sdk) -> None:
    failing_request(s)
    with structlog.testing.capture_logs() as logs:
        _export("", s.logs_batch())
    assert [e["event"] for e in logs] == ["sentry_exporter_disabled"]


# -- the stand-in is strict ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"event_id": "not-hex"}, "event_id"),
        ({"level": "loud"}, "level"),
        ({"platform": "cobol"}, "platform"),
        ({"tags": {"k": "x" * 201}}, "tag"),
        ({"contexts": {"trace": {"trace_id": "0" * 32, "span_id": "short"}}}, "contexts.trace"),
        ({"exception": {"values": [{"stacktrace": {"frames": []}}]}}, "type or a value"),
    ],
)
def test_the_local_endpoint_refuses_what_sentry_would(receiver: SentryReceiver, s: Sdk, change: dict[str, Any],
                                                      problem: str) -> None:
    failing_request(s)
    [item] = sentry.EventBuilder(Config())(s.traces_batch())
    assert check_event(item.event, "event") is None
    item.event.update(change)
    if "event_id" not in change:
        assert problem in (check_event(item.event, "event") or "")

    async def run() -> None:
        client = EnvelopeClient(receiver.dsn)
        await client.start()
        try:
            response = await client.send(client.envelope(item))
        finally:
            await client.close()
        assert response.status == 400
        assert problem in response.body

    asyncio.run(run())
