"""The sentry exporter against a real Sentry project. Runs when ``SENTRY_DSN`` is set; skipped visibly otherwise.

With ``SENTRY_AUTH_TOKEN``, ``SENTRY_ORG`` and ``SENTRY_PROJECT`` (and ``SENTRY_URL`` for self-hosted or a
region, default https://sentry.io) it also reads the event back through Sentry's API and checks its fields.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from sentry_sdk.utils import Dsn

from collector.component import ComponentID, CreateSettings
from collector.errors import PermanentError
from collector.exporters import sentry
from collector.pdata import Batch
from collector.testing import RecordingTelemetry
from tests.collector.exporters._sentry_data import Sdk, failing_request, sdk

DSN = os.environ.get("SENTRY_DSN", "")

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not DSN, reason="SENTRY_DSN is not set: the real-Sentry suite needs a project DSN"),
]


@pytest.fixture
def s() -> Iterator[Sdk]:
    with sdk({"service.name": "otel-distro-it", "service.version": "it-1", "deployment.environment.name": "ci"}) as s:
        yield s


def _export(dsn: str, *batches: Batch, telemetry: Any = None, **config: Any) -> None:
    async def run() -> None:
        settings = CreateSettings(ComponentID("sentry"), telemetry=telemetry or RecordingTelemetry())
        exporter = sentry.create(settings, sentry.Config(dsn=dsn, **config))
        await exporter.start()
        try:
            for batch in batches:
                await exporter.export(batch)
        finally:
            await exporter.shutdown()

    asyncio.run(run())


def test_sentry_accepts_error_events_and_transactions(s: Sdk) -> None:
    failing_request(s)
    telemetry = RecordingTelemetry()
    _export(DSN, s.logs_batch(), s.traces_batch(), telemetry=telemetry, transactions=True)
    assert telemetry.value("otelcol_exporter_sentry_sent_items", type="event") == 2
    assert telemetry.value("otelcol_exporter_sentry_sent_items", type="transaction") == 1


def test_a_wrong_key_is_a_permanent_error(s: Sdk) -> None:
    failing_request(s)
    dsn = Dsn(DSN)
    dsn.public_key = "0" * 32
    with pytest.raises(PermanentError):
        _export(str(dsn), s.logs_batch())


def _api(path: str) -> Any:
    base = os.environ.get("SENTRY_URL", "https://sentry.io").rstrip("/")
    request = urllib.request.Request(
        f"{base}/api/0/{path}", headers={"Authorization": f"Bearer {os.environ['SENTRY_AUTH_TOKEN']}"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


@pytest.mark.skipif(
    not all(os.environ.get(v) for v in ("SENTRY_DSN", "SENTRY_AUTH_TOKEN", "SENTRY_ORG", "SENTRY_PROJECT")),
    reason="reading events back needs SENTRY_DSN, SENTRY_AUTH_TOKEN, SENTRY_ORG and SENTRY_PROJECT",
)
def test_the_event_reads_back_with_its_fields(s: Sdk) -> None:
    failing_request(s)
    [item] = sentry.EventBuilder(sentry.Config())(s.traces_batch())
    _export(DSN, s.traces_batch())
    path = f"projects/{os.environ['SENTRY_ORG']}/{os.environ['SENTRY_PROJECT']}/events/{item.event_id}/"
    deadline = time.monotonic() + 120
    while True:
        try:
            event = _api(path)
            break
        except urllib.error.HTTPError as exc:
            if exc.code != 404 or time.monotonic() > deadline:
                raise
            time.sleep(3)  # ingestion is asynchronous
    assert event["release"] is not None and event["release"]["version"] == "it-1"
    tags = {t["key"]: t["value"] for t in event["tags"]}
    assert tags["environment"] == "ci"
    assert tags["http.route"] == "/chat"
    assert event["contexts"]["trace"]["trace_id"] == item.event["contexts"]["trace"]["trace_id"]
    [exception] = [e for e in event["entries"] if e["type"] == "exception"]
    assert exception["data"]["values"][-1]["type"] == "ValueError"
