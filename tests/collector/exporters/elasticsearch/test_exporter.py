"""The exporter against the local Elasticsearch stand-in: the shared cases (also run against a real cluster by
tests/integration/test_elasticsearch.py), then what only a scripted server can show — per-item 429/5xx,
whole-request failures, outages, auth and TLS."""

from __future__ import annotations

import json
import ssl
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from collector.errors import PermanentError, RetryableError
from collector.exporters.elasticsearch import Config
from collector.exporters.elasticsearch._exporter import select
from tests.servers.elasticsearch import ElasticsearchServer
from tests.support import free_port

from . import cases
from ._backends import Backend, LocalBackend, export
from ._data import bodies, log_batch, sdk_batches, sdk_metrics


@pytest.fixture
def es() -> Iterator[ElasticsearchServer]:
    with ElasticsearchServer(repositories=("backups",)) as server:
        yield server


@pytest.fixture
def backend(es: ElasticsearchServer) -> LocalBackend:
    return LocalBackend(es)


def _config(es: ElasticsearchServer, **keys: object) -> Config:
    return Config.model_validate({"endpoints": [es.url], "flush": {"interval": "0s"},
                                  "lifecycle": {"slm": {"repository": "backups"}}, **keys})


@pytest.mark.parametrize("case", cases.ALL, ids=lambda c: c.__name__)
def test_shared_case(case: Callable[[Backend], None], backend: LocalBackend) -> None:
    case(backend)


def test_mapping_conflicts_are_dead_lettered_not_retried(backend: LocalBackend, tmp_path: Path) -> None:
    cases.mapping_conflicts_are_dead_lettered_not_retried(backend, tmp_path)


def test_items_answered_429_or_5xx_come_back_as_the_batch_still_to_send(es: ElasticsearchServer) -> None:
    batch = log_batch([{"body": f"r{i}"} for i in range(5)])
    es.fail_items(429, times=1)  # r0
    es.fail_items(503, times=1)  # r1

    run = export(_config(es), [batch])

    [error] = run.outcomes
    assert isinstance(error, RetryableError)
    assert error.batch is not None
    assert bodies(error.batch) == ["r0", "r1"]
    assert sorted(d["body"]["text"] for d in es.documents("logs-*")) == ["r2", "r3", "r4"]
    assert run.telemetry.value("otelcol_elasticsearch_docs_processed", outcome="too_many") == 1
    assert run.telemetry.value("otelcol_elasticsearch_docs_processed", outcome="failed_server") == 1
    assert run.telemetry.value("otelcol_elasticsearch_bulk_requests", outcome="partial") == 1


def test_the_retried_subset_lands_and_nothing_is_duplicated(es: ElasticsearchServer) -> None:
    batch = log_batch([{"body": f"r{i}"} for i in range(4)])
    es.fail_items(429, times=2)

    first = export(_config(es), [batch])
    [error] = first.outcomes
    assert isinstance(error, RetryableError) and error.batch is not None
    second = export(_config(es), [error.batch])

    assert second.outcomes == [None]
    assert sorted(d["body"]["text"] for d in es.documents("logs-*")) == ["r0", "r1", "r2", "r3"]


def test_mixed_outcomes_retry_the_retryable_and_dead_letter_the_rejected(es: ElasticsearchServer,
                                                                         tmp_path: Path) -> None:
    dead_letter = tmp_path / "dl.ndjson"
    es.fail_items(400, times=1)
    es.fail_items(429, times=1)

    run = export(_config(es, dead_letter={"path": str(dead_letter)}),
                 [log_batch([{"body": "bad"}, {"body": "later"}, {"body": "fine"}])])

    [error] = run.outcomes
    assert isinstance(error, RetryableError) and error.batch is not None
    assert bodies(error.batch) == ["later"]
    assert error.rejected_items == 1  # the sender counts it failed now, not only the dead-letter file
    assert [json.loads(line)["document"]["body"]["text"] for line in dead_letter.read_text().splitlines()] == ["bad"]


def test_a_whole_request_429_is_retried_after_the_servers_hint(es: ElasticsearchServer) -> None:
    es.fail_requests(429, retry_after=7)
    batch = log_batch([{"body": "a"}, {"body": "b"}])

    [error] = export(_config(es), [batch]).outcomes

    assert isinstance(error, RetryableError)
    assert error.retry_after == 7
    assert error.batch is not None and bodies(error.batch) == ["a", "b"]
    assert es.documents("logs-*") == []


def test_a_stopped_cluster_is_a_retryable_error_and_the_lifecycle_waits_for_it(tmp_path: Path) -> None:
    port = free_port()
    server = ElasticsearchServer(port=port, repositories=("backups",))
    config = _config(server)  # nothing listens yet
    batch = log_batch([{"body": "held"}])

    [error] = export(config, [batch]).outcomes
    assert isinstance(error, RetryableError)

    with server:
        assert export(config, [batch]).outcomes == [None]
        assert [d["body"]["text"] for d in server.documents("logs-*")] == ["held"]
        status, _ = server.call("GET", "/_index_template/otel-distro-logs")
        assert status == 200


def test_a_permanent_lifecycle_error_fails_start_with_the_reason(es: ElasticsearchServer) -> None:
    config = _config(es, lifecycle={"slm": {"repository": "no-such-repo"}})

    with pytest.raises(RuntimeError, match=r"no such repository \[no-such-repo\].*lifecycle::install: false"):
        export(config, [])


def test_without_lifecycle_install_nothing_but_bulk_is_sent(es: ElasticsearchServer) -> None:
    export(_config(es, lifecycle={"install": False}), [log_batch([{"body": "x"}])])

    assert {r.path for r in es.requests} == {"/_bulk"}


def test_bulk_bodies_are_ndjson_create_actions_gzipped_and_capped_by_flush_bytes(es: ElasticsearchServer) -> None:
    batch = log_batch([{"body": "x" * 400} for _ in range(10)])

    assert export(_config(es, flush={"bytes": 2000, "interval": "0s"}), [batch]).outcomes == [None]

    bulks = [r for r in es.requests if r.path == "/_bulk"]
    assert len(bulks) > 1
    for request in bulks:
        assert request.headers["content-encoding"] == "gzip"
        assert request.headers["content-type"] == "application/x-ndjson"  # no compatible-with: 8 and 9 alike
        lines = request.body.decode().splitlines()
        assert [json.loads(a) for a in lines[0::2]] == [{"create": {"_index": "logs-generic.otel-default"}}] * (
            len(lines) // 2)
    assert sum(len(r.body.decode().splitlines()) // 2 for r in bulks) == 10
    assert len(es.documents("logs-*")) == 10


def test_api_key_auth(tmp_path: Path) -> None:
    with ElasticsearchServer(api_key="aWQ6c2VjcmV0") as server:
        good = export(_config(server, api_key="aWQ6c2VjcmV0", lifecycle={"install": False}),
                      [log_batch([{"body": "in"}])])
        bad = export(_config(server, api_key="d3Jvbmc=", lifecycle={"install": False},
                             dead_letter={"path": str(tmp_path / "dl.ndjson")}),
                     [log_batch([{"body": "out"}])])

        assert good.outcomes == [None]
        [error] = bad.outcomes
        assert isinstance(error, PermanentError)
        assert "401" in str(error) and "api_key" in str(error)
        assert [d["body"]["text"] for d in server.documents("logs-*")] == ["in"]
        assert "out" in (tmp_path / "dl.ndjson").read_text()


def test_user_password_auth() -> None:
    with ElasticsearchServer(basic_auth=("elastic", "changeme"), repositories=("backups",)) as server:
        run = export(_config(server, user="elastic", password="changeme"), [log_batch([{"body": "in"}])])

        assert run.outcomes == [None]
        assert server.requests[-1].headers["authorization"].startswith("Basic ")


@pytest.fixture
def tls_files(tmp_path: Path) -> tuple[Path, Path]:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )
    return cert, key


def test_tls_with_a_ca_file(tls_files: tuple[Path, Path]) -> None:
    cert, key = tls_files
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    with ElasticsearchServer(ssl_context=context) as server:
        trusted = export(_config(server, tls={"ca_file": str(cert)}, lifecycle={"install": False}),
                         [log_batch([{"body": "over tls"}])])
        untrusted = export(_config(server, lifecycle={"install": False}), [log_batch([{"body": "never"}])])

        assert server.url.startswith("https://")
        assert trusted.outcomes == [None]
        assert isinstance(untrusted.outcomes[0], RetryableError)
        assert [d["body"]["text"] for d in server.documents("logs-*")] == ["over tls"]


def test_sdk_spans_keep_their_events_and_parentage(es: ElasticsearchServer) -> None:
    traces, _ = sdk_batches(n_logs=0)

    assert export(_config(es), [traces]).outcomes == [None]

    [span] = es.documents("traces-*")
    assert span["events"][0]["name"] == "message.stored"
    assert span["events"][0]["attributes"] == {"message.length": 42}
    assert "parent_span_id" not in span
    assert span["duration"] >= 0


def test_select_keeps_resources_scopes_and_order_of_the_chosen_records() -> None:
    batch = log_batch([{"body": "a0"}, {"body": "a1"}, {"body": "a2"}], resource={"service.name": "first"})
    second = log_batch([{"body": "b0"}, {"body": "b1"}], resource={"service.name": "second"})
    batch.resources.extend(second.resources)

    picked = select(batch, [(1, 0, 1), (0, 0, 2), (0, 0, 0)])

    assert bodies(picked) == ["a0", "a2", "b1"]
    assert [r.resource.attributes[0].value.string_value for r in picked.resources] == ["first", "second"]
    assert picked.resources[0].scope_logs[0].scope.name == "tests"
    assert bodies(batch) == ["a0", "a1", "a2", "b0", "b1"]  # the original is untouched


def test_a_refused_metric_point_comes_back_alone_with_its_metric(es: ElasticsearchServer) -> None:
    batch = sdk_metrics()
    es.fail_items(503, times=1)

    [error] = export(_config(es), [batch]).outcomes

    assert isinstance(error, RetryableError) and error.batch is not None
    assert error.batch.item_count() == 1
    [metric] = error.batch.resources[0].scope_metrics[0].metrics
    assert metric.name == batch.resources[0].scope_metrics[0].metrics[0].name
    assert len(es.documents("metrics-*")) == batch.item_count() - 1


@pytest.mark.parametrize("major", [8, 9])
def test_works_with_elasticsearch_8_and_9(major: int) -> None:
    with ElasticsearchServer(major=major, repositories=("backups",)) as server:
        run = export(_config(server), [log_batch([{"body": f"to {major}"}])])

        assert run.outcomes == [None]
        assert [d["body"]["text"] for d in server.documents("logs-*")] == [f"to {major}"]


def test_a_server_that_is_not_elasticsearch_is_not_trusted_with_data() -> None:
    with ElasticsearchServer(product_header=False) as impostor:
        [error] = export(_config(impostor, lifecycle={"install": False}), [log_batch([{"body": "x"}])]).outcomes

    assert isinstance(error, RetryableError)
    assert "X-Elastic-Product" in str(error)


def test_a_request_too_large_for_the_cluster_is_split_until_it_fits(tmp_path: Path) -> None:
    dead_letter = tmp_path / "dl.ndjson"
    batch = log_batch([{"body": "x" * 300} for _ in range(8)] + [{"body": "y" * 5000}])
    with ElasticsearchServer(max_content_length=1500, repositories=("backups",)) as server:
        run = export(_config(server, lifecycle={"install": False}, dead_letter={"path": str(dead_letter)}), [batch])

        stored = server.documents("logs-*")

    [error] = run.outcomes
    assert isinstance(error, PermanentError) and error.rejected_items == 1  # only the one that can never fit
    assert len(stored) == 8
    assert "y" * 5000 in dead_letter.read_text()
