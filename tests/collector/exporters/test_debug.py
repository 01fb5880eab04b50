from __future__ import annotations

import asyncio
from pathlib import Path

from structlog.testing import capture_logs

from collector import otlpjson
from collector.component import ComponentID, CreateSettings
from collector.exporters.debug import Config, create
from collector.pdata import Signal


def test_basic_logs_counts_and_detailed_logs_the_request(otlp_examples: Path) -> None:
    batch = otlpjson.decode(Signal.TRACES, (otlp_examples / "trace.json").read_bytes())
    with capture_logs() as logs:
        asyncio.run(create(CreateSettings(ComponentID("debug")), Config()).export(batch))
        asyncio.run(create(CreateSettings(ComponentID("debug")), Config(verbosity="detailed")).export(batch))
    assert logs[0]["event"] == "debug_export"
    assert logs[0]["items"] == 1
    assert "request" not in logs[0]
    assert logs[1]["request"]["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["name"] == "I'm a server span"
