"""One failure, one Sentry event: an exception recorded on the span *and* logged (the most common pattern) is
merged into one event — within a batch, and across the logs and traces batches that arrive separately."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from collector.component import ComponentID, CreateSettings, NoopTelemetry, Telemetry
from collector.errors import RetryableError
from collector.exporters import sentry
from collector.exporters.sentry import Config
from collector.exporters.sentry._dedupe import Deduper, fingerprint, merge_items
from collector.pdata import Signal
from tests.collector.exporters._sentry_data import Sdk, failing_request, sdk
from tests.servers.sentry import SentryReceiver, relay_errors


class _Host:
    """A stand-in for the running service: what makes the logs and traces instances share one memory."""

    def get_extension(self, id: ComponentID) -> None:
        return None


class _Counts(NoopTelemetry):
    def __init__(self) -> None:
        self.counts: dict[str, float] = {}

    def add(self, name: str, value: float, attributes: Any = None, *, description: str = "") -> None:
        self.counts[name] = self.counts.get(name, 0) + value




def _pair(dsn: str, telemetry: Telemetry | None = None, **dedupe: Any) -> tuple[Any, Any]:
    """The exporter's two instances, as a collector builds them for a logs and a traces pipeline."""
    host = _Host()
    config = Config(dsn=dsn, dedupe={"window": "2s", **dedupe})
    extra = {"telemetry": telemetry} if telemetry is not None else {}
    logs = sentry.create(CreateSettings(ComponentID("sentry"), Signal.LOGS, host, **extra), config)
    traces = sentry.create(CreateSettings(ComponentID("sentry"), Signal.TRACES, host, **extra), config)
    return logs, traces


async def _run(logs: Any, traces: Any, *steps: Any) -> None:
    await logs.start()
    await traces.start()
    try:
        for step in steps:
            await step
    finally:
        await logs.shutdown()
        await traces.shutdown()


def test_a_failure_both_recorded_on_the_span_and_logged_is_one_event(receiver: SentryReceiver, s: Sdk) -> None:
    failing_request(s)
    logs, traces = _pair(receiver.dsn)

    async def both() -> None:
        await asyncio.gather(logs.export(s.logs_batch()), traces.export(s.traces_batch()))

    asyncio.run(_run(logs, traces, both()))
    [event] = receiver.events()
    assert event["logentry"] == {"formatted": "chat request failed"}  # the log's message and logger
    assert event["logger"] == "chat.api"
    assert event["transaction"] == "POST /chat"  # the span's name, request and trace context
    assert event["request"]["method"] == "POST"
    assert event["contexts"]["trace"]["op"] == "http.server"
    assert event["contexts"]["otel"]["attributes"]["http.route"] == "/chat"
    [value] = event["exception"]["values"]
    assert (value["type"], value["value"]) == ("ValueError", "model backend returned garbage")
    assert value["stacktrace"]["frames"][-1]["function"] == "handler"
    assert relay_errors(event) == []


def test_the_counterpart_may_arrive_first_from_either_signal(receiver: SentryReceiver, s: Sdk) -> None:
    failing_request(s)
    logs, traces = _pair(receiver.dsn)

    async def traces_then_logs() -> None:
        first = asyncio.create_task(traces.export(s.traces_batch()))
        await asyncio.sleep(0.3)  # a later batch of the other signal, inside the window
        await logs.export(s.logs_batch())
        await first

    asyncio.run(_run(logs, traces, traces_then_logs()))
    [event] = receiver.events()
    assert "logentry" in event and event["transaction"] == "POST /chat"


def test_a_counterpart_after_the_window_is_dropped_and_counted(receiver: SentryReceiver, s: Sdk) -> None:
    failing_request(s)
    telemetry = _Counts()
    logs, traces = _pair(receiver.dsn, telemetry, window="0.2s")

    async def far_apart() -> None:
        await logs.export(s.logs_batch())  # waits its window, then is sent alone
        await traces.export(s.traces_batch())  # remembered: not a second event

    asyncio.run(_run(logs, traces, far_apart()))
    [event] = receiver.events()
    assert event["logentry"] == {"formatted": "chat request failed"}
    assert telemetry.counts["otelcol_exporter_sentry_deduplicated_items"] == 1


def test_different_failures_in_one_span_stay_separate_events(receiver: SentryReceiver, s: Sdk) -> None:
    def handler() -> None:
        raise ValueError("timeout talking to the model")

    failing_request(s)
    failing_request(s, fail=handler)
    logs, traces = _pair(receiver.dsn)

    async def both() -> None:
        await asyncio.gather(logs.export(s.logs_batch()), traces.export(s.traces_batch()))

    asyncio.run(_run(logs, traces, both()))
    events = receiver.events()
    assert sorted(e["exception"]["values"][-1]["value"] for e in events) == [
        "model backend returned garbage", "timeout talking to the model"]
    assert all("logentry" in e and "transaction" in e for e in events)


def test_the_same_error_logged_twice_in_one_batch_is_one_event(receiver: SentryReceiver, s: Sdk) -> None:
    with s.tracer.start_as_current_span("POST /chat"):
        try:
            raise KeyError("session")
        except KeyError:
            s.logger.exception("lookup failed")
            s.logger.exception("request failed")  # the outer layer logs it again
    items, merged = merge_items(sentry.EventBuilder(Config())(s.logs_batch()))
    assert (len(items), merged) == (1, 1)
    assert len(items[0].sources) == 2  # a retry still covers both records
    logs, traces = _pair(receiver.dsn, window=0)
    asyncio.run(_run(logs, traces, logs.export(s.logs_batch())))
    [event] = receiver.events()
    assert event["logentry"] == {"formatted": "lookup failed"}


def test_errors_without_a_span_are_never_merged(receiver: SentryReceiver) -> None:
    with sdk() as s:
        s.logger.error("disk full")
        s.logger.error("disk full")
        assert [fingerprint(item) for item in sentry.EventBuilder(Config())(s.logs_batch())] == [None, None]


def test_when_the_merged_event_cannot_be_sent_both_records_are_retried(receiver: SentryReceiver, s: Sdk) -> None:
    failing_request(s)
    receiver.answer(503)
    logs, traces = _pair(receiver.dsn)
    outcomes: list[BaseException | None] = []

    async def both() -> None:
        results = await asyncio.gather(logs.export(s.logs_batch()), traces.export(s.traces_batch()),
                                       return_exceptions=True)
        outcomes.extend(r if isinstance(r, BaseException) else None for r in results)

    asyncio.run(_run(logs, traces, both()))
    assert all(isinstance(o, RetryableError) for o in outcomes), outcomes
    retry_logs, retry_traces = (o.batch for o in outcomes if isinstance(o, RetryableError))
    assert retry_logs is not None and retry_traces is not None
    assert retry_logs.item_count() == 1 and retry_traces.item_count() >= 1  # nothing accepted is lost

    logs, traces = _pair(receiver.dsn)

    async def retried() -> None:
        assert retry_logs is not None and retry_traces is not None
        await asyncio.gather(logs.export(retry_logs), traces.export(retry_traces))

    asyncio.run(_run(logs, traces, retried()))
    [event] = receiver.events()
    assert "logentry" in event and event["transaction"] == "POST /chat"


def test_the_memory_of_sent_failures_is_bounded() -> None:
    deduper = Deduper(window=0, memory=600, max_entries=2)
    for n in range(3):
        deduper.mark_sent(("t", "s", "E", str(n)))
    assert not deduper.was_sent(("t", "s", "E", "0"))
    assert deduper.was_sent(("t", "s", "E", "1")) and deduper.was_sent(("t", "s", "E", "2"))


def test_the_memory_of_sent_failures_expires() -> None:
    deduper = Deduper(window=0, memory=0.01, max_entries=10)
    deduper.mark_sent(("t", "s", "E", "m"))
    time.sleep(0.02)
    assert not deduper.was_sent(("t", "s", "E", "m"))


def test_dedupe_can_be_switched_off(receiver: SentryReceiver, s: Sdk) -> None:
    failing_request(s)
    config = Config(dsn=receiver.dsn, dedupe={"enabled": False})
    host = _Host()
    logs = sentry.create(CreateSettings(ComponentID("sentry"), Signal.LOGS, host), config)
    traces = sentry.create(CreateSettings(ComponentID("sentry"), Signal.TRACES, host), config)
    asyncio.run(_run(logs, traces, logs.export(s.logs_batch()), traces.export(s.traces_batch())))
    assert len(receiver.events()) == 2


def test_dedupe_keys_are_validated() -> None:
    with pytest.raises(ValueError, match=r"dedupe\.window"):
        Config.model_validate({"dedupe": {"window": "5m"}})
    with pytest.raises(ValueError, match=r"dedupe\.windw"):
        Config.model_validate({"dedupe": {"windw": "1s"}})


def test_a_record_merged_into_an_unsent_event_is_retried_even_when_its_own_batch_also_fails(
    receiver: SentryReceiver, s: Sdk
) -> None:
    failing_request(s)  # the span's exception (traces) and the log of it (logs)
    s.logger.error("disk full")  # another error in the logs batch, sent by the logs call itself
    receiver.answer(503, times=10)
    logs, traces = _pair(receiver.dsn)
    outcomes: list[BaseException | None] = []

    async def traces_then_logs() -> None:
        first = asyncio.create_task(traces.export(s.traces_batch()))  # holds the failure's event
        await asyncio.sleep(0.3)
        results = await asyncio.gather(logs.export(s.logs_batch()), first, return_exceptions=True)
        outcomes.extend(r if isinstance(r, BaseException) else None for r in results)

    asyncio.run(_run(logs, traces, traces_then_logs()))
    logs_outcome = outcomes[0]
    assert isinstance(logs_outcome, RetryableError), outcomes
    assert logs_outcome.batch is not None
    assert logs_outcome.batch.item_count() == 2  # "disk full" and the log merged into the unsent event


def test_a_window_the_export_timeout_cannot_hold_is_refused() -> None:
    # the held event waits the window inside the export call that `timeout` bounds: with a window as long as
    # the timeout every such call timed out, was retried, held again, and the event was never sent
    with pytest.raises(ValueError, match=r"dedupe\.window"):
        Config.model_validate({"timeout": "5s", "dedupe": {"window": "5s"}})
    with pytest.raises(ValueError, match=r"dedupe\.window"):
        Config.model_validate({"dedupe": {"window": "60s"}})  # the default timeout is 30 s
    Config.model_validate({"timeout": "5s", "dedupe": {"window": "2s"}})
    assert Config.model_validate({"timeout": "2s"}).dedupe.window == 1.0  # the default window is made to fit
    Config.model_validate({"timeout": "5s", "dedupe": {"enabled": False, "window": "10s"}})


def test_a_cancelled_export_does_not_cancel_another_waiting_on_the_same_event(
    receiver: SentryReceiver, s: Sdk
) -> None:
    # two logs batches carry the failure the traces call holds; the first logs call is cancelled (the sender's
    # timeout) while both wait for that event: the second must still learn it was sent (a CancelledError in
    # its place killed the sender's consumer task)
    failing_request(s)
    logs, traces = _pair(receiver.dsn)
    outcome: list[BaseException | None] = []

    async def scenario() -> None:
        go = asyncio.Event()
        send = traces._client.send

        async def held_send(envelope: Any) -> Any:  # the merged event's send takes a while
            await go.wait()
            return await send(envelope)

        traces._client.send = held_send
        owner = asyncio.create_task(traces.export(s.traces_batch()))
        await asyncio.sleep(0.2)
        first = asyncio.create_task(logs.export(s.logs_batch()))
        second = asyncio.create_task(logs.export(s.logs_batch()))
        await asyncio.sleep(0.2)  # both joined, and wait for the event's outcome
        first.cancel()
        await asyncio.sleep(0)
        go.set()
        results = await asyncio.gather(second, owner, return_exceptions=True)
        outcome.append(results[0] if isinstance(results[0], BaseException) else None)

    asyncio.run(_run(logs, traces, scenario()))
    assert outcome == [None]
    [event] = receiver.events()
    assert "logentry" in event and event["transaction"] == "POST /chat"
