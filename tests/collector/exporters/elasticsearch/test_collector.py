"""The elasticsearch exporter inside a running collector, behind the shared sender: the OTel SDK's OTLP
exporters in, documents out — through partial failures, mapping errors and an outage, after which every
record has arrived exactly once."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import structlog

from collector.testing import running_collector
from tests.collector.exporters._through_collector import collector_config, send_with_sdk, wait_for_log
from tests.servers.elasticsearch import ElasticsearchServer
from tests.support import free_port

from ._data import sdk_records

pytestmark = pytest.mark.slow


def _config(port: int, es_url: str, **elasticsearch: Any) -> dict[str, Any]:
    return collector_config(port, "elasticsearch", {
        "endpoints": [es_url],
        "flush": {"interval": "50ms"},
        "lifecycle": {"slm": {"repository": "backups"}},
        **elasticsearch,
    })


def _bodies(docs: list[dict[str, Any]]) -> list[str]:
    return sorted(d["body"]["text"] for d in docs)


def test_sdk_data_flows_through_the_collector_and_is_found_by_trace_id() -> None:
    spans, logs = sdk_records(n_logs=3)
    trace_id = format(spans[0].context.trace_id, "032x")
    port = free_port()
    with ElasticsearchServer(repositories=("backups",)) as es, running_collector(_config(port, es.url)):
        send_with_sdk(port, spans, logs)
        es.wait_for_documents("logs-*", 3)
        es.wait_for_documents("traces-*", 1)

        found_logs = es.search("logs-*", {"term": {"trace_id": trace_id}})
        [span] = es.search("traces-*", {"bool": {"filter": [{"term": {"trace_id": trace_id}},
                                                            {"term": {"kind": "Server"}}]}})

    assert _bodies(found_logs) == ["message 0 stored", "message 1 stored", "message 2 stored"]
    assert span["name"] == "POST /chat/messages"
    assert span["resource"]["attributes"]["service.name"] == "chat-api"


def test_every_record_arrives_once_after_an_elasticsearch_outage() -> None:
    rounds = [sdk_records(n_logs=4, message=f"round {r} message %d") for r in range(3)]
    port = free_port()
    es = ElasticsearchServer(repositories=("backups",)).start()
    es_url = es.url
    es.stop()  # Elasticsearch is down before the collector starts
    try:
        with structlog.testing.capture_logs() as captured, running_collector(_config(port, es_url)) as collector:
            for spans, logs in rounds:
                send_with_sdk(port, spans, logs)  # accepted although Elasticsearch is down
            retrying = wait_for_log(captured, "export_retrying")
            es.start()
            stored_logs = es.wait_for_documents("logs-*", 12, timeout=30)
            stored_spans = es.wait_for_documents("traces-*", 3, timeout=30)
        sent = collector.telemetry.value("otelcol_exporter_sent_log_records", exporter="elasticsearch")
    finally:
        es.stop()

    assert retrying["exporter"] == "elasticsearch"
    assert _bodies(stored_logs) == sorted(f"round {r} message {i}" for r in range(3) for i in range(4))
    assert len(stored_spans) == 3
    assert sent == 12
    assert es.call("GET", "/_index_template/otel-distro-logs")[0] == 200  # installed once it came back


def test_items_refused_with_429_are_retried_until_stored_exactly_once() -> None:
    _, logs = sdk_records(n_logs=6)
    port = free_port()
    with ElasticsearchServer(repositories=("backups",)) as es:
        with running_collector(_config(port, es.url)):
            es.fail_items(429, times=4)
            send_with_sdk(port, [], logs)
            es.wait_for_documents("logs-*", 6)
        stored = es.documents("logs-*")  # the collector has drained: a duplicate would be here by now
        bulk_requests = [r for r in es.requests if r.path == "/_bulk"]

    assert _bodies(stored) == [f"message {i} stored" for i in range(6)]
    assert len(bulk_requests) >= 2  # the first answer was partial, a retry carried the rest


def test_mapping_errors_are_dead_lettered_once_and_not_retried(tmp_path: Path) -> None:
    _, logs = sdk_records(n_logs=3)
    dead_letter = tmp_path / "dead-letter.ndjson"
    port = free_port()
    config = _config(port, "", dead_letter={"path": str(dead_letter)})
    with ElasticsearchServer(repositories=("backups",)) as es:
        config["exporters"]["elasticsearch"]["endpoints"] = [es.url]
        with running_collector(config) as collector:
            es.fail_items(400, times=1)
            send_with_sdk(port, [], logs)
            es.wait_for_documents("logs-*", 2)
        failed = collector.telemetry.value("otelcol_exporter_send_failed_log_records", exporter="elasticsearch")
        dead = collector.telemetry.value("otelcol_elasticsearch_docs_dead_lettered", exporter="elasticsearch")
        bulk_requests = [r for r in es.requests if r.path == "/_bulk"]

    [entry] = [json.loads(line) for line in dead_letter.read_text().splitlines()]
    assert entry["error"]["type"] == "document_parsing_exception"
    assert entry["document"]["body"]["text"] == "message 0 stored"
    assert (failed, dead) == (1, 1)
    assert len(bulk_requests) == 1  # rejected for good: never sent again


def test_with_a_persistent_queue_records_survive_a_collector_restart_during_an_outage(tmp_path: Path) -> None:
    _, logs = sdk_records(n_logs=5, message="kept %d")
    port = free_port()
    es = ElasticsearchServer(repositories=("backups",)).start()
    es_url = es.url
    es.stop()
    config = _config(port, es_url, sending_queue={"storage": "file_storage"})
    config["extensions"] = {"file_storage": {"directory": str(tmp_path / "storage")}}
    config["service"]["extensions"] = ["file_storage"]
    try:
        with structlog.testing.capture_logs() as captured, running_collector(config):
            send_with_sdk(port, [], logs)
            wait_for_log(captured, "export_retrying")
        # the collector is gone with the records on disk; Elasticsearch comes back, then the collector
        es.start()
        with running_collector(config):
            es.wait_for_documents("logs-*", 5, timeout=30)
        stored = es.documents("logs-*")  # drained: a duplicate would be here by now
    finally:
        es.stop()

    assert _bodies(stored) == [f"kept {i}" for i in range(5)]
