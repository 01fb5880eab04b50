"""Cases that hold for the local stand-in and for a real cluster alike: `test_exporter.py` runs them against
the stand-in, `tests/integration/test_elasticsearch.py` against ``ELASTICSEARCH_URL``."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from collector.errors import PermanentError
from collector.exporters.elasticsearch._exporter import make_client
from collector.exporters.elasticsearch._lifecycle import install
from collector.exporters.elasticsearch._transport import Transport, auth_headers

from ._backends import Backend, export, exporter_config, isolated
from ._data import in_namespace, log_batch, sdk_batches, sdk_metrics


def logs_and_spans_land_in_data_streams_and_are_found_by_trace_id(backend: Backend) -> None:
    traces, logs = sdk_batches(n_logs=3)
    trace_id = traces.resources[0].scope_spans[0].spans[0].trace_id.hex()
    with isolated(backend) as token:
        run = export(exporter_config(backend, token), [in_namespace(logs, token), in_namespace(traces, token)])
        assert run.outcomes == [None, None]

        found_logs = backend.search(f"logs-*-{token}", {"term": {"trace_id": trace_id}})
        assert sorted(d["body"]["text"] for d in found_logs) == [f"message {i} stored" for i in range(3)]
        assert {d["data_stream"]["dataset"] for d in found_logs} == {"generic.otel"}
        assert found_logs[0]["resource"]["attributes"]["service.name"] == "chat-api"

        [span] = backend.search(f"traces-*-{token}", {"term": {"trace_id": trace_id}})
        assert span["name"] == "POST /chat/messages"
        assert span["kind"] == "Server"
        assert span["data_stream"] == {"type": "traces", "dataset": "generic.otel", "namespace": token}

        status, streams = backend.get(f"/_data_stream/logs-generic.otel-{token}")
        assert status == 200
        [stream] = streams["data_streams"]
        assert stream["template"] == f"{token}-logs"
        assert stream["ilm_policy"] == f"{token}-ilm"
        write_index = stream["indices"][-1]["index_name"]
        status, settings = backend.get(f"/{write_index}/_settings?flat_settings=true")
        assert settings[write_index]["settings"]["index.codec"] == "best_compression"
        assert settings[write_index]["settings"]["index.lifecycle.name"] == f"{token}-ilm"


def records_route_by_data_stream_attributes(backend: Backend) -> None:
    with isolated(backend) as token:
        batch = log_batch(
            [{"body": "from the resource"}, {"body": "from the record", "data_stream.dataset": "Audit/Trail"}],
            resource={"service.name": "chat-api", "data_stream.dataset": "chat", "data_stream.namespace": token},
        )
        assert export(exporter_config(backend, token), [batch]).outcomes == [None]

        chat = backend.search(f"logs-chat.otel-{token}", {"match_all": {}})
        audit = backend.search(f"logs-audit_trail.otel-{token}", {"match_all": {}})
        assert [d["body"]["text"] for d in chat] == ["from the resource"]
        assert [d["body"]["text"] for d in audit] == ["from the record"]


def mapping_conflicts_are_dead_lettered_not_retried(backend: Backend, tmp_path: Path) -> None:
    dead_letter = tmp_path / "dead-letter.ndjson"
    with isolated(backend) as token:
        batch = log_batch(
            [{"body": "ok", "count": 5}, {"body": "conflict", "count": "many"}, {"body": "ok too", "count": 7}],
            resource={"service.name": "chat-api", "data_stream.namespace": token},
        )
        run = export(exporter_config(backend, token, dead_letter={"path": str(dead_letter)}), [batch])

        [error] = run.outcomes
        assert isinstance(error, PermanentError)
        assert error.rejected_items == 1
        stored = backend.search(f"logs-*-{token}", {"match_all": {}})
        assert sorted(d["body"]["text"] for d in stored) == ["ok", "ok too"]
        [line] = dead_letter.read_text().splitlines()
        entry: dict[str, Any] = json.loads(line)
        assert entry["status"] == 400
        assert entry["error"]["type"] in ("document_parsing_exception", "mapper_parsing_exception")
        assert entry["document"]["body"]["text"] == "conflict"
        assert entry["index"] == f"logs-generic.otel-{token}"
        assert run.telemetry.value("otelcol_elasticsearch_docs_dead_lettered") == 1
        assert run.telemetry.value("otelcol_elasticsearch_docs_processed", outcome="success") == 2


def dotted_attributes_that_prefix_each_other_do_not_clash(backend: Backend) -> None:
    with isolated(backend) as token:
        batch = log_batch(
            [{"body": "old semconv", "code.function": "send"}, {"body": "new semconv", "code.function.name": "send"}],
            resource={"service.name": "chat-api", "data_stream.namespace": token},
        )
        assert export(exporter_config(backend, token), [batch]).outcomes == [None]

        stored = backend.search(f"logs-*-{token}", {"term": {"attributes.code.function.name": "send"}})
        assert [d["body"]["text"] for d in stored] == ["new semconv"]


def metric_points_land_in_a_metrics_data_stream(backend: Backend) -> None:
    with isolated(backend) as token:
        assert export(exporter_config(backend, token), [in_namespace(sdk_metrics(), token)]).outcomes == [None]

        stored = backend.search(f"metrics-generic.otel-{token}", {"exists": {"field": "metrics.chat.requests"}})
        [requests] = stored
        assert requests["metrics"]["chat.requests"] == 3
        assert requests["attributes"]["room"] == "general"
        assert len(backend.search(f"metrics-*-{token}", {"match_all": {}})) == 3


def lifecycle_install_is_idempotent(backend: Backend) -> None:
    with isolated(backend) as token:
        config = exporter_config(backend, token)
        first = asyncio.run(_install(backend, config))
        second = asyncio.run(_install(backend, config))

        assert first.updated == [] and first.unchanged == []
        assert second.created == [] and second.updated == []
        assert sorted(second.unchanged) == sorted(first.created)
        status, policies = backend.get(f"/_ilm/policy/{token}-ilm")
        assert status == 200
        phases = policies[f"{token}-ilm"]["policy"]["phases"]
        assert phases["hot"]["actions"]["rollover"]["max_age"] == "1d"
        assert phases["delete"]["min_age"] == "90d"
        if backend.repository:
            assert phases["delete"]["actions"]["wait_for_snapshot"] == {"policy": f"{token}-slm"}
            status, slm = backend.get(f"/_slm/policy/{token}-slm")
            assert status == 200
            assert slm[f"{token}-slm"]["policy"]["repository"] == backend.repository
        status, templates = backend.get(f"/_index_template/{token}-logs")
        [template] = templates["index_templates"]
        assert template["index_template"]["data_stream"] is not None
        assert template["index_template"]["index_patterns"] == [f"logs-*-{token}"]


async def _install(backend: Backend, config: Any) -> Any:
    client = make_client(config, [backend.url])
    try:
        return await install(Transport(client, auth_headers(config)), config.lifecycle, config.mapping.mode)
    finally:
        await client.close()


def ecs_mode_writes_ecs_fields(backend: Backend) -> None:
    traces, logs = sdk_batches(n_logs=1)
    trace_id = traces.resources[0].scope_spans[0].spans[0].trace_id.hex()
    with isolated(backend) as token:
        config = exporter_config(backend, token, mapping={"mode": "ecs"})
        assert export(config, [in_namespace(logs, token), in_namespace(traces, token)]).outcomes == [None, None]

        [log] = backend.search(f"logs-generic-{token}", {"term": {"trace.id": trace_id}})
        assert log["message"] == "message 0 stored"
        assert log["log.level"] == "info"
        assert log["service.name"] == "chat-api"
        assert log["service.environment"] == "test"
        [span] = backend.search(f"traces-generic-{token}", {"term": {"trace.id": trace_id}})
        assert span["span.name"] == "POST /chat/messages"
        assert span["event.outcome"] == "unknown"


ALL = [
    logs_and_spans_land_in_data_streams_and_are_found_by_trace_id,
    records_route_by_data_stream_attributes,
    dotted_attributes_that_prefix_each_other_do_not_clash,
    metric_points_land_in_a_metrics_data_stream,
    lifecycle_install_is_idempotent,
    ecs_mode_writes_ecs_fields,
]
"""Cases taking only a backend (mapping_conflicts_are_dead_lettered_not_retried also takes tmp_path)."""
