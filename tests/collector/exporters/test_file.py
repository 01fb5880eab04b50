"""``file``: one OTLP/JSON request per line that decodes back to exactly what was sent."""

from __future__ import annotations

import asyncio
import gzip
import os
from pathlib import Path

import pytest
import structlog

from collector import otlpjson
from collector.component import ComponentID, CreateSettings
from collector.exporters.file import Config, create
from collector.pdata import Signal


@pytest.mark.parametrize(("name", "signal"), [("trace.json", Signal.TRACES), ("metrics.json", Signal.METRICS),
                                              ("logs.json", Signal.LOGS), ("events.json", Signal.LOGS)])
def test_lines_decode_back_to_the_request(otlp_examples: Path, tmp_path: Path, name: str, signal: Signal) -> None:
    sent = otlpjson.decode(signal, (otlp_examples / name).read_bytes())
    exporter = create(CreateSettings(ComponentID("file")), Config(path=tmp_path / "out.jsonl"))

    async def scenario() -> None:
        await exporter.start()
        await exporter.export(sent)
        await exporter.export(sent)
        await exporter.shutdown()

    asyncio.run(scenario())
    lines = (tmp_path / "out.jsonl").read_text().splitlines()
    assert len(lines) == 2
    assert all(otlpjson.decode(signal, line).request == sent.request for line in lines)


def test_instances_for_several_signals_share_one_file(otlp_examples: Path, tmp_path: Path) -> None:
    cfg = Config(path=tmp_path / "deep" / "out.jsonl", flush_interval=0)
    traces_exp = create(CreateSettings(ComponentID("file"), Signal.TRACES), cfg)
    logs_exp = create(CreateSettings(ComponentID("file"), Signal.LOGS), cfg)
    traces = otlpjson.decode(Signal.TRACES, (otlp_examples / "trace.json").read_bytes())
    logs = otlpjson.decode(Signal.LOGS, (otlp_examples / "logs.json").read_bytes())

    async def scenario() -> None:
        await traces_exp.start()
        await logs_exp.start()
        await traces_exp.export(traces)
        await logs_exp.export(logs)
        await traces_exp.shutdown()
        await logs_exp.export(logs)  # still open for the other user
        await logs_exp.shutdown()

    asyncio.run(scenario())
    lines = (tmp_path / "deep" / "out.jsonl").read_text().splitlines()
    assert [next(iter(__import__("json").loads(x))) for x in lines] == ["resourceSpans", "resourceLogs",
                                                                          "resourceLogs"]


def test_rotation_keeps_max_backups_files_of_about_max_megabytes(tmp_path: Path) -> None:
    line_batch = otlpjson.decode(Signal.LOGS, b'{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":{"stringValue":"'
                                 + b"x" * 300_000 + b'"}}]}]}]}')
    cfg = Config.model_validate({"path": str(tmp_path / "out.jsonl"), "flush_interval": 0,
                                 "rotation": {"max_megabytes": 1, "max_backups": 2}})
    exporter = create(CreateSettings(ComponentID("file")), cfg)

    async def scenario() -> None:
        await exporter.start()
        for _ in range(10):  # ~3 MB: 3 lines per file
            await exporter.export(line_batch)
        await exporter.shutdown()

    asyncio.run(scenario())
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["out.jsonl", "out.jsonl.1", "out.jsonl.2"]
    assert [len((tmp_path / f).read_text().splitlines()) for f in files] == [1, 3, 3]
    assert all((tmp_path / f).stat().st_size <= 1_000_000 for f in files)


def test_a_full_disk_is_reported_and_the_periodic_flush_keeps_going(otlp_examples: Path) -> None:
    sent = otlpjson.decode(Signal.TRACES, (otlp_examples / "trace.json").read_bytes())
    exporter = create(CreateSettings(ComponentID("file/full")), Config(path=Path("/dev/full"), flush_interval=0.01))

    async def scenario() -> list[dict[str, object]]:
        with structlog.testing.capture_logs() as logs:
            await exporter.start()
            for _ in range(3):
                await exporter.export(sent)
                await asyncio.sleep(0.05)
            flusher = exporter._flusher
            assert flusher is not None and not flusher.done()  # still flushing after the failures
            with pytest.raises(OSError):
                await exporter.shutdown()
        return logs

    logs = asyncio.run(scenario())
    assert sum(e["event"] == "file_flush_failed" for e in logs) >= 1
    reopened = create(CreateSettings(ComponentID("file/full")), Config(path=Path("/dev/full"), flush_interval=0))
    asyncio.run(reopened.start())  # the failed close did not leave a half-closed shared file behind
    with pytest.raises(OSError):
        asyncio.run(reopened.shutdown())


def test_gzip_output_decodes_back_across_restarts(otlp_examples: Path, tmp_path: Path) -> None:
    sent = otlpjson.decode(Signal.TRACES, (otlp_examples / "trace.json").read_bytes())
    cfg = Config.model_validate({"path": str(tmp_path / "out.jsonl.gz"), "compression": "gzip"})

    async def run_once() -> None:
        exporter = create(CreateSettings(ComponentID("file")), cfg)
        await exporter.start()
        await exporter.export(sent)
        await exporter.export(sent)
        await exporter.shutdown()

    asyncio.run(run_once())
    asyncio.run(run_once())  # a second start appends a gzip member
    lines = gzip.decompress((tmp_path / "out.jsonl.gz").read_bytes()).splitlines()
    assert len(lines) == 4
    assert all(otlpjson.decode(Signal.TRACES, line).request == sent.request for line in lines)


def test_gzip_rotation_counts_compressed_bytes(tmp_path: Path) -> None:
    random_text = os.urandom(200_000).hex()  # barely compressible: ~400 kB per line either way
    line_batch = otlpjson.decode(Signal.LOGS, b'{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":{"stringValue":"'
                                 + random_text.encode() + b'"}}]}]}]}')
    cfg = Config.model_validate({"path": str(tmp_path / "out.gz"), "compression": "gzip", "flush_interval": 0,
                                 "rotation": {"max_megabytes": 1, "max_backups": 5}})
    exporter = create(CreateSettings(ComponentID("file")), cfg)

    async def scenario() -> None:
        await exporter.start()
        for _ in range(8):
            await exporter.export(line_batch)
        await exporter.shutdown()

    asyncio.run(scenario())
    files = sorted(tmp_path.iterdir())
    assert len(files) > 1  # rotated
    decoded = [line for f in files for line in gzip.decompress(f.read_bytes()).splitlines()]
    assert len(decoded) == 8  # nothing lost across rotations
    assert all(f.stat().st_size < 2_000_000 for f in files)


def test_a_gzip_file_cut_short_by_a_crash_is_set_aside_not_appended_to(otlp_examples: Path, tmp_path: Path) -> None:
    sent = otlpjson.decode(Signal.TRACES, (otlp_examples / "trace.json").read_bytes())
    path = tmp_path / "out.jsonl.gz"
    cfg = Config.model_validate({"path": str(path), "compression": "gzip", "flush_interval": 0})

    async def run_once() -> None:
        exporter = create(CreateSettings(ComponentID("file")), cfg)
        await exporter.start()
        await exporter.export(sent)
        await exporter.shutdown()

    asyncio.run(run_once())
    path.write_bytes(path.read_bytes()[:-8])  # the trailer never written: killed mid-run
    with structlog.testing.capture_logs() as logs:
        asyncio.run(run_once())
        asyncio.run(run_once())
    assert [otlpjson.decode(Signal.TRACES, line).request == sent.request
            for line in gzip.decompress(path.read_bytes()).splitlines()] == [True, True]
    assert (tmp_path / "out.jsonl.gz.partial").exists()
    assert [e["event"] for e in logs if e["event"] == "file_gzip_partial_set_aside"] == ["file_gzip_partial_set_aside"]


def test_a_line_cut_short_by_a_crash_does_not_swallow_the_next_one(otlp_examples: Path, tmp_path: Path) -> None:
    sent = otlpjson.decode(Signal.TRACES, (otlp_examples / "trace.json").read_bytes())
    path = tmp_path / "out.jsonl"
    path.write_bytes(b'{"resourceSpans":[{"scopeSp')  # killed in the middle of a write
    exporter = create(CreateSettings(ComponentID("file")), Config(path=path, flush_interval=0))

    async def scenario() -> None:
        await exporter.start()
        await exporter.export(sent)
        await exporter.shutdown()

    asyncio.run(scenario())
    cut, line = path.read_bytes().splitlines()
    assert cut == b'{"resourceSpans":[{"scopeSp'
    assert otlpjson.decode(Signal.TRACES, line).request == sent.request
