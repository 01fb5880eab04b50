"""The sender: queue -> retry -> timeout -> export, and what it does with each outcome."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import structlog
from structlog.testing import capture_logs

from collector.component import ComponentID
from collector.errors import PermanentError, Refused, RetryableError
from collector.pdata import Signal
from collector.sending.persistent_queue import PersistentQueue
from collector.sending.queue import QueueFull
from collector.sending.sender import Sender
from collector.sending.settings import SenderSettings
from collector.testing import RecordingTelemetry
from tests.collector.sending.fakes import ScriptedExporter, names, traces

FAST = {"initial_interval": 0.001, "max_interval": 0.002, "randomization_factor": 0}


def settings(**overrides: Any) -> SenderSettings:
    base: dict[str, Any] = {"retry_on_failure": dict(FAST), "timeout": 5}
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            base[key] = {**base[key], **value}
        else:
            base[key] = value
    return SenderSettings.model_validate(base)


def make(exporter: ScriptedExporter, cfg: SenderSettings, **kw: Any) -> tuple[Sender, RecordingTelemetry]:
    tel = RecordingTelemetry()
    return Sender(ComponentID("fake"), Signal.TRACES, exporter, cfg, telemetry=tel,
                  logger=structlog.get_logger("test"), **kw), tel


async def run_through(sender: Sender, *batches: Any, until: Any = None) -> None:
    """Start, consume, wait for ``until()`` (if given), shut down."""
    await sender.start()
    for b in batches:
        await sender.consume(b)
    for _ in range(1000):
        if until is None or until():
            break
        await asyncio.sleep(0.005)
    await sender.shutdown()


def test_success_is_counted_as_sent() -> None:
    exp = ScriptedExporter()
    sender, tel = make(exp, settings())
    asyncio.run(run_through(sender, traces(3), traces(2)))
    assert tel.value("otelcol_exporter_sent_spans", exporter="fake") == 5
    assert exp.started and exp.stopped


def test_a_permanent_error_is_counted_logged_and_dropped_without_retry() -> None:
    exp = ScriptedExporter([PermanentError("mapping conflict", rejected_items=2)])
    sender, tel = make(exp, settings())
    with capture_logs() as logs:
        asyncio.run(run_through(sender, traces(3)))
    assert len(exp.attempts) == 1
    assert tel.value("otelcol_exporter_send_failed_spans") == 2
    assert tel.value("otelcol_exporter_sent_spans") == 0
    assert any(e["event"] == "export_failed" and e["reason"] == "permanent" for e in logs)


def test_retryable_errors_are_retried_until_sent() -> None:
    exp = ScriptedExporter([RetryableError("503"), TimeoutError(), ConnectionRefusedError()])
    sender, tel = make(exp, settings())
    asyncio.run(run_through(sender, traces(1), until=lambda: exp.sent))
    assert len(exp.attempts) == 4
    assert tel.value("otelcol_exporter_sent_spans") == 1


def test_the_backends_retry_after_wins_over_the_schedule() -> None:
    exp = ScriptedExporter([RetryableError("429", retry_after=0.01)])
    sender, _ = make(exp, settings(retry_on_failure={"initial_interval": 30, "max_interval": 60}))
    with capture_logs() as logs:
        asyncio.run(run_through(sender, traces(1), until=lambda: exp.sent))
    (retry,) = [e for e in logs if e["event"] == "export_retrying"]
    assert retry["retry_in_seconds"] == 0.01
    assert len(exp.sent) == 1


def test_only_the_part_still_to_send_is_retried() -> None:
    rest = traces(1, name="rest")
    exp = ScriptedExporter([RetryableError("partial", batch=rest)])
    sender, _ = make(exp, settings())
    asyncio.run(run_through(sender, traces(3), until=lambda: exp.sent))
    assert names(exp.sent[0]) == ["rest0"]


def test_a_slow_export_times_out_and_is_retried() -> None:
    exp = ScriptedExporter(hang=True)
    sender, _ = make(exp, settings(timeout=0.05))
    asyncio.run(run_through(sender, traces(1), until=lambda: exp.sent))
    assert len(exp.attempts) == 2
    assert len(exp.sent) == 1


def test_without_a_persistent_queue_data_is_dropped_when_retries_run_out() -> None:
    exp = ScriptedExporter([RetryableError("down")] * 1000)
    sender, tel = make(exp, settings(retry_on_failure={"max_elapsed_time": 0.02}))
    with capture_logs() as logs:
        asyncio.run(run_through(sender, traces(2), until=lambda: tel.value("otelcol_exporter_send_failed_spans")))
    assert tel.value("otelcol_exporter_send_failed_spans") == 2
    assert any(e["event"] == "export_failed" and e["reason"] == "retries_exhausted" for e in logs)


def test_retry_disabled_means_one_attempt() -> None:
    exp = ScriptedExporter([RetryableError("down")])
    sender, tel = make(exp, settings(retry_on_failure={"enabled": False}))
    asyncio.run(run_through(sender, traces(1)))
    assert len(exp.attempts) == 1
    assert tel.value("otelcol_exporter_send_failed_spans") == 1


def test_a_full_queue_refuses_with_back_pressure() -> None:
    async def scenario() -> None:
        exp = ScriptedExporter(hang=True)
        sender, tel = make(exp, settings(sending_queue={"queue_size": 1, "num_consumers": 1}, timeout=0))
        await sender.start()
        await sender.consume(traces(1))  # taken by the consumer, which hangs
        await asyncio.sleep(0.01)
        await sender.consume(traces(1))  # fills the queue
        with pytest.raises(Refused, match="full"):
            await sender.consume(traces(1))
        assert tel.value("otelcol_exporter_enqueue_failed_spans") == 1
        assert tel.value("otelcol_exporter_queue_capacity") == 1
        await sender.abandon(grace=0)

    asyncio.run(scenario())


def test_shutdown_drains_the_memory_queue() -> None:
    exp = ScriptedExporter()
    sender, tel = make(exp, settings(sending_queue={"num_consumers": 1}))

    async def scenario() -> None:
        await sender.start()
        for i in range(50):
            await sender.consume(traces(1, name=f"b{i}-"))
        await sender.shutdown()

    asyncio.run(scenario())
    assert len(exp.sent) == 50
    assert tel.value("otelcol_exporter_queue_size") == 0


def test_without_a_queue_export_is_inline_and_failure_refuses() -> None:
    exp = ScriptedExporter([RetryableError("down")])
    sender, _ = make(exp, settings(sending_queue={"enabled": False}, retry_on_failure={"enabled": False}))

    async def scenario() -> None:
        await sender.start()
        with pytest.raises(Refused):
            await sender.consume(traces(1))
        await sender.consume(traces(1))
        await sender.shutdown()

    asyncio.run(scenario())
    assert len(exp.sent) == 1


def test_with_a_persistent_queue_data_whose_retries_ran_out_goes_back_to_the_queue(tmp_path: Path) -> None:
    exp = ScriptedExporter([RetryableError("down")] * 5)
    queue = PersistentQueue(tmp_path / "q", 10)
    sender, tel = make(exp, settings(retry_on_failure={"max_elapsed_time": 0.001, "initial_interval": 0.01},
                                     sending_queue={"num_consumers": 1}), queue=queue)

    async def scenario() -> None:
        await sender.start()
        await sender.consume(traces(2))
        for _ in range(500):
            if exp.sent:
                break
            await asyncio.sleep(0.01)
        await sender.shutdown()

    with capture_logs() as logs:
        asyncio.run(scenario())
    assert len(exp.sent) == 1  # after 5 rounds of "retries ran out -> back to the queue"
    assert tel.value("otelcol_exporter_send_failed_spans") == 0
    assert sum(e["event"] == "export_requeued" for e in logs) == 5
    assert list((tmp_path / "q").iterdir()) == []


def test_a_persistent_queue_keeps_unsent_data_across_shutdown(tmp_path: Path) -> None:
    down = ScriptedExporter([RetryableError("down")] * 1000)
    sender, _ = make(down, settings(retry_on_failure={"initial_interval": 0.01}), queue=PersistentQueue(tmp_path, 10))
    asyncio.run(run_through(sender, traces(1, "a"), traces(1, "b")))
    assert down.sent == []
    up = ScriptedExporter()
    sender, _ = make(up, settings(), queue=PersistentQueue(tmp_path, 10))

    async def restart() -> None:
        await sender.start()
        for _ in range(500):
            if len(up.sent) == 2:
                break
            await asyncio.sleep(0.01)
        await sender.shutdown()

    asyncio.run(restart())
    assert sorted(names(b)[0] for b in up.sent) == ["a0", "b0"]


def test_block_on_overflow_waits_for_room_instead_of_refusing() -> None:
    async def scenario() -> None:
        exp = ScriptedExporter(hang=True)
        sender, _ = make(exp, settings(sending_queue={"queue_size": 1, "num_consumers": 1, "block_on_overflow": True},
                                       timeout=0.2))
        await sender.start()
        await sender.consume(traces(1, "a"))  # taken by the consumer, which hangs until the timeout
        await asyncio.sleep(0.01)
        await sender.consume(traces(1, "b"))  # fills the queue
        await asyncio.wait_for(sender.consume(traces(1, "c")), 5)  # waits for room, no Refused
        for _ in range(500):
            if len(exp.sent) == 3:
                break
            await asyncio.sleep(0.01)
        await sender.shutdown()
        assert sorted(names(b)[0] for b in exp.sent) == ["a0", "b0", "c0"]

    asyncio.run(scenario())


def test_a_partial_failure_counts_the_settled_part_as_sent_and_the_rejected_part_as_failed() -> None:
    rest = traces(1, name="rest")
    exp = ScriptedExporter([RetryableError("partial", batch=rest, rejected_items=1)])
    sender, tel = make(exp, settings())
    asyncio.run(run_through(sender, traces(4), until=lambda: exp.sent))
    assert names(exp.sent[0]) == ["rest0"]
    assert tel.value("otelcol_exporter_sent_spans") == 3  # 2 with the first answer, the rest later
    assert tel.value("otelcol_exporter_send_failed_spans") == 1


@pytest.mark.parametrize("retry", [
    {"max_elapsed_time": 1},  # the backend asks for more than the retry budget: retries run out at once
    {"enabled": False},
])
def test_with_a_persistent_queue_a_backend_that_asks_to_wait_is_not_hammered(tmp_path: Path, retry: Any) -> None:
    exp = ScriptedExporter([RetryableError("429", retry_after=60)] * 10_000)
    sender, _ = make(exp, settings(retry_on_failure=retry, sending_queue={"num_consumers": 2}),
                     queue=PersistentQueue(tmp_path, 10))

    async def scenario() -> None:
        await sender.start()
        await sender.consume(traces(1))
        await asyncio.sleep(0.3)
        await sender.shutdown()

    with capture_logs() as logs:
        asyncio.run(scenario())
    assert 1 <= len(exp.attempts) <= 2  # one per consumer, each then waits the 60 s it was asked to
    assert sum(e["event"] == "export_requeued" for e in logs) == len(exp.attempts)
    assert len(list(tmp_path.glob("*.pb"))) == 1  # kept for the next start


class _DiskFullOnRewrite(PersistentQueue):
    """A queue whose disk fills up after the first batch was stored."""

    def _write(self, *args: Any) -> Path:
        if any(self.directory.glob("*.pb")):
            raise QueueFull(f"cannot store the batch in {self.directory}: No space left on device")
        return super()._write(*args)


def test_when_the_rest_of_a_partly_sent_batch_cannot_be_stored_the_whole_is_kept_and_sent(tmp_path: Path) -> None:
    whole = traces(3, name="w")
    exp = ScriptedExporter([RetryableError("partial", batch=traces(1, name="rest"))])
    sender, _ = make(exp, settings(retry_on_failure={"max_elapsed_time": 0.001, "initial_interval": 0.01},
                                   sending_queue={"num_consumers": 1}), queue=_DiskFullOnRewrite(tmp_path, 10))
    with capture_logs() as logs:
        asyncio.run(run_through(sender, whole, until=lambda: exp.sent))
    assert [names(b) for b in exp.sent] == [["w0", "w1", "w2"]]  # at-least-once: the whole again
    assert any(e["event"] == "persistent_queue_rewrite_failed" for e in logs)
    assert list(tmp_path.glob("*.pb")) == []


class _AckFailsOnce(PersistentQueue):
    """A queue whose first delete fails (a read-only remount, say)."""

    failed = False

    def ack(self, item: Any) -> None:
        if not self.failed:
            self.failed = True
            raise PermissionError(13, "Permission denied")
        super().ack(item)


def test_a_consumer_survives_a_queue_error_and_keeps_sending(tmp_path: Path) -> None:
    exp = ScriptedExporter()
    sender, _ = make(exp, settings(sending_queue={"num_consumers": 1}), queue=_AckFailsOnce(tmp_path, 10))
    with capture_logs() as logs:
        asyncio.run(run_through(sender, traces(1, "a"), traces(1, "b"), until=lambda: len(exp.sent) >= 2))
    assert sorted(names(b)[0] for b in exp.sent) == ["a0", "b0"]
    assert any(e["event"] == "sending_queue_settle_failed" for e in logs)


def test_a_queue_directory_in_use_is_reported_naming_the_key(tmp_path: Path) -> None:
    async def scenario() -> None:
        owner = PersistentQueue(tmp_path, 10)
        await owner.open()
        exp = ScriptedExporter()
        sender, _ = make(exp, settings(), queue=PersistentQueue(tmp_path, 10))
        with pytest.raises(RuntimeError, match=r"exporters::fake::sending_queue::storage: .* in use"):
            await sender.start()
        assert exp.stopped  # what had started is stopped again
        await owner.close(drain=False)

    asyncio.run(scenario())


def test_queue_gauges_of_one_exporter_are_kept_apart_per_signal() -> None:
    tel = RecordingTelemetry()

    async def scenario() -> None:
        traces_sender = Sender(ComponentID("es"), Signal.TRACES, ScriptedExporter(hang=True),
                               settings(sending_queue={"queue_size": 7, "num_consumers": 1}), telemetry=tel)
        logs_sender = Sender(ComponentID("es"), Signal.LOGS, ScriptedExporter(),
                             settings(sending_queue={"queue_size": 9}), telemetry=tel)
        await traces_sender.start()
        await logs_sender.start()
        for _ in range(3):
            await traces_sender.consume(traces(1))  # the first hangs in export, two wait in the queue
        await logs_sender.shutdown()
        assert tel.value("otelcol_exporter_queue_size", exporter="es", data_type="traces") == 2
        await traces_sender.abandon(grace=0)

    asyncio.run(scenario())
    assert tel.value("otelcol_exporter_queue_capacity", exporter="es", data_type="traces") == 7
    assert tel.value("otelcol_exporter_queue_capacity", exporter="es", data_type="logs") == 9
    assert tel.value("otelcol_exporter_queue_size", exporter="es", data_type="logs") == 0


class _FailsThenHangs(ScriptedExporter):
    """The first export fails (the consumer waits out its backoff), every later one never answers."""

    async def export(self, batch: Any) -> None:
        self.attempts.append(batch)
        if len(self.attempts) == 1:
            raise RetryableError("HTTP 503")
        await asyncio.sleep(3600)


def test_abandon_ends_even_when_a_consumer_outlives_its_cancellation() -> None:
    # abandon (the shutdown deadline passed) on a sender whose own shutdown never began (another exporter held
    # the drain): its consumer, waiting out a backoff, can survive the cancel (the wait ended at the same time:
    # Python 3.11's wait_for then returns instead of raising) and take the next queued batch to a backend that
    # never answers; abandon must end anyway, and count what the queue still held
    exp = _FailsThenHangs()
    sender, tel = make(exp, settings(retry_on_failure={"initial_interval": 60, "max_interval": 60},
                                     sending_queue={"num_consumers": 1}))

    async def scenario() -> int:
        await sender.start()
        for n in (2, 3, 4):
            await sender.consume(traces(n))
        while not exp.attempts:
            await asyncio.sleep(0.005)
        return await asyncio.wait_for(sender.abandon(), 20)  # a guard against a hang, not a timing check

    asyncio.run(scenario())
    assert len(exp.attempts) == 1  # nothing more is taken from the queue once abandon began
    assert tel.value("otelcol_exporter_send_failed_spans", exporter="fake") == 9  # each item counted once
