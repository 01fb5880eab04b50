"""Elasticsearch data streams: old backing indices are snapshotted, the snapshot verified, then deleted; never
before the snapshot exists, never the write index, never an index ILM is still working on."""

from __future__ import annotations

import io

from structlog.testing import capture_logs

from otel_distro.retention import run
from tests.servers.elasticsearch import ElasticsearchServer

from .conftest import REPOSITORY, STREAM, config


def _no_sleep(_: float) -> None:
    pass


def test_old_backing_indices_are_snapshotted_then_deleted_and_the_write_index_stays(es: ElasticsearchServer) -> None:
    first, second, write = es.index_names(STREAM)
    out = io.StringIO()
    with capture_logs() as logs:
        report = run(config(es), out=out, sleep=_no_sleep)
    assert report.ok, report.failures
    assert es.index_names(STREAM) == [write]
    assert [d["body"]["text"] for d in es.documents(STREAM)] == ["today"]
    deleted = [e for e in logs if e["event"] == "retention_index_deleted"]
    assert {e["index"] for e in deleted} == {first, second}
    snapshot = deleted[0]["snapshot"]
    assert all(e["snapshot"] == snapshot and e["data_stream"] == STREAM and e["bytes"] > 0 for e in deleted)
    held = es.snapshot_documents(REPOSITORY, snapshot)
    assert sorted(held) == sorted([first, second])
    assert [d["body"]["text"] for d in held[first]] == ["first day", "first day again"]
    assert [k.name for k in report.kept] == [write]
    assert "write index" in report.kept[0].reason


def test_nothing_is_deleted_before_the_snapshot_exists(es: ElasticsearchServer) -> None:
    """Every DELETE of an index comes after the PUT that created the snapshot and the GET that read it back."""
    run(config(es), out=io.StringIO(), sleep=_no_sleep)
    calls = [(r.method, r.path) for r in es.requests]
    created = next(i for i, (m, p) in enumerate(calls) if m == "PUT" and p.startswith(f"/_snapshot/{REPOSITORY}/"))
    verified = next(i for i, (m, p) in enumerate(calls) if m == "GET" and p.startswith(f"/_snapshot/{REPOSITORY}/"))
    deletes = [i for i, (m, p) in enumerate(calls) if m == "DELETE"]
    assert len(deletes) == 2
    assert created < verified < min(deletes)


def test_dry_run_prints_exactly_what_a_run_deletes_and_deletes_nothing(es: ElasticsearchServer) -> None:
    first, second, write = es.index_names(STREAM)
    out = io.StringIO()
    report = run(config(es), dry_run=True, out=out, sleep=_no_sleep)
    assert es.index_names(STREAM) == [first, second, write]
    assert not [r for r in es.requests if r.method in ("PUT", "POST", "DELETE") and "_bulk" not in r.path
                and "_rollover" not in r.path and not r.path.startswith(("/_ilm", "/_index_template"))]
    would = [line for line in out.getvalue().splitlines() if line.startswith("would snapshot")]
    assert len(would) == 2
    assert first in would[0] and second in would[1] and STREAM in would[0]
    assert f"would keep elasticsearch {write}: write index" in out.getvalue()

    real = run(config(es), out=io.StringIO(), sleep=_no_sleep)
    assert [o.candidate.name for o in real.deleted] == [c.name for c in report.planned]


def test_a_failing_snapshot_stops_the_deletion(es: ElasticsearchServer) -> None:
    es.fail_snapshots(times=3, state="PARTIAL")
    before = es.index_names(STREAM)
    with capture_logs() as logs:
        report = run(config(es, attempts=3), out=io.StringIO(), sleep=_no_sleep)
    assert es.index_names(STREAM) == before
    assert not [r for r in es.requests if r.method == "DELETE"]
    assert not report.ok and "no verified snapshot" in report.failures[0]
    assert [e["attempt"] for e in logs if e["event"] == "retention_attempt_failed"] == [1, 2, 3]
    assert any(e["event"] == "retention_snapshot_failed" for e in logs)


def test_snapshot_failures_and_errors_are_retried_with_backoff(es: ElasticsearchServer) -> None:
    es.fail_snapshots(times=1, state="FAILED")
    es.fail_snapshots(times=1, status=503)
    slept: list[float] = []
    report = run(config(es, attempts=4), out=io.StringIO(), sleep=slept.append)
    assert report.ok, report.failures
    assert len(report.deleted) == 2
    assert slept == [0.01, 0.02]  # doubling, capped at max_interval


def test_a_missing_repository_is_a_permanent_error_naming_it(es: ElasticsearchServer) -> None:
    assert es.call("DELETE", f"/_snapshot/{REPOSITORY}")[0] == 200
    slept: list[float] = []
    report = run(config(es), out=io.StringIO(), sleep=slept.append)
    assert slept == []  # not retried
    assert f"snapshot repository '{REPOSITORY}' is not registered" in report.failures[0]
    assert len(es.index_names(STREAM)) == 3


def test_an_index_ilm_is_still_working_on_is_kept(es: ElasticsearchServer) -> None:
    first, second, _ = es.index_names(STREAM)
    es.set_ilm_step(first, "warm", "shrink", "shrink")
    es.set_ilm_step(second, "delete", "wait_for_snapshot", "wait-for-snapshot")  # ILM wants it gone too
    report = run(config(es), out=io.StringIO(), sleep=_no_sleep)
    assert [o.candidate.name for o in report.deleted] == [second]
    assert first in es.index_names(STREAM)
    assert any(k.name == first and "ILM is still working on it (phase warm, action shrink" in k.reason
               for k in report.kept)


def test_young_indices_are_left_alone(es: ElasticsearchServer) -> None:
    report = run(config(es, older_than="200d"), out=io.StringIO(), sleep=_no_sleep)
    assert report.planned == [] and report.kept == [] and report.ok
    assert len(es.index_names(STREAM)) == 3


def test_an_unreachable_cluster_is_reported_after_the_retries(es: ElasticsearchServer) -> None:
    url = es.url
    es.stop()
    cfg = config(es, attempts=2)
    assert cfg.elasticsearch.url == url
    report = run(cfg, out=io.StringIO(), sleep=_no_sleep)
    assert not report.ok
    assert "could not list what is old" in report.failures[0] and "gave up after 2 attempts" in report.failures[0]


def test_a_failing_delete_is_retried_then_reported_and_the_others_still_go(es: ElasticsearchServer) -> None:
    first, second, write = es.index_names(STREAM)
    es.fail_calls("DELETE", f"/{first}", 503, times=2)  # retried: gone at the third attempt
    es.fail_calls("DELETE", f"/{second}", 403)  # permanent: reported at once
    slept: list[float] = []
    with capture_logs() as logs:
        report = run(config(es, attempts=3), out=io.StringIO(), sleep=slept.append)
    assert es.index_names(STREAM) == [second, write]
    assert slept == [0.01, 0.02]
    assert not report.ok
    [failed] = [o for o in report.outcomes if not o.deleted]
    assert failed.candidate.name == second and "HTTP 403" in str(failed.error)
    assert failed.backup is not None and failed.backup.startswith(f"{REPOSITORY}:retention-")
    [event] = [e for e in logs if e["event"] == "retention_delete_failed"]
    assert event["index"] == second and event["log_level"] == "error"
