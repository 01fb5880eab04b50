"""The retention job's invariants, over generated clusters (hypothesis): whatever the ages, ILM states and
snapshot failures, an index is deleted only if a snapshot that completed and holds it was taken before; never
a write index, never an index younger than the limit, never one ILM is working on; a dry run deletes nothing."""

from __future__ import annotations

import io
import itertools
from collections.abc import Iterator

import pytest
from elasticsearch import Elasticsearch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from otel_distro.retention import run
from tests.servers.elasticsearch import ElasticsearchServer

from .conftest import REPOSITORY, config

_ILM_STATES = [None, ("hot", "complete", "complete"), ("warm", "forcemerge", "forcemerge"),
               ("delete", "wait_for_snapshot", "wait-for-snapshot"), ("hot", "rollover", "ERROR")]
_counter = itertools.count()


@pytest.fixture(scope="module")
def cluster() -> Iterator[ElasticsearchServer]:
    with ElasticsearchServer(repositories=(REPOSITORY,)) as es:
        assert es.call("PUT", "/_ilm/policy/p", {"policy": {"phases": {"hot": {"actions": {}}}}})[0] == 200
        assert es.call("PUT", "/_index_template/t", {"index_patterns": ["logs-*-*"], "data_stream": {},
                                                     "template": {"settings": {"index.lifecycle.name": "p"}}})[0] == 200
        yield es


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(indices=st.lists(st.tuples(st.integers(0, 200), st.sampled_from(_ILM_STATES)), min_size=1, max_size=5),
       snapshot_failures=st.integers(0, 3), dry_run=st.booleans())
def test_deletions_are_always_backed_by_an_earlier_complete_snapshot(
        cluster: ElasticsearchServer, indices: list[tuple[int, tuple[str, str, str] | None]], snapshot_failures: int,
        dry_run: bool) -> None:
    stream = f"logs-case{next(_counter)}-default"
    with Elasticsearch(cluster.url) as client:
        for i, _ in enumerate(indices):
            if i:
                cluster.rollover(stream)
            client.bulk(operations=[{"create": {"_index": stream}}, {"@timestamp": "2026-01-01T00:00:00Z", "n": i}])
    names = cluster.index_names(stream)
    for name, (age, ilm) in zip(names, indices, strict=True):
        cluster.age_index(name, age)
        if ilm is not None:
            cluster.set_ilm_step(name, *ilm)
    cluster.fail_snapshots(times=snapshot_failures)
    start = len(cluster.requests)

    report = run(config(cluster, attempts=3, elasticsearch={"url": cluster.url, "repository": REPOSITORY,
                                                            "data_streams": [stream]}),
                 dry_run=dry_run, out=io.StringIO(), sleep=lambda _: None)

    cluster.clear_faults()  # an example that needed fewer failures leaves none for the next
    remaining = set(cluster.index_names(stream))
    deleted = [n for n in names if n not in remaining]
    calls = cluster.requests[start:]
    if dry_run:
        assert deleted == [] and not [r for r in calls if r.method in ("PUT", "DELETE")]
        return
    assert names[-1] in remaining  # the write index
    for name in deleted:
        age, ilm = indices[names.index(name)]
        assert age >= 90  # created `age` days before the run started: 90 is a few milliseconds past the limit
        assert ilm is None or ilm[0] == "delete" or ilm[2] == "complete"
        deleted_at = next(i for i, r in enumerate(calls) if r.method == "DELETE" and r.path == f"/{name}")
        snapshots = [r.path.rsplit("/", 1)[1] for r in calls[:deleted_at]
                     if r.method == "PUT" and r.path.startswith(f"/_snapshot/{REPOSITORY}/")]
        held = [s for s in snapshots
                if cluster.call("GET", f"/_snapshot/{REPOSITORY}/{s}")[1]["snapshots"][0]["state"] == "SUCCESS"
                and name in cluster.snapshot_documents(REPOSITORY, s)]
        assert held, f"{name} deleted without a complete snapshot holding it"
    if snapshot_failures >= 3:  # every attempt failed: nothing may go
        assert deleted == [] and (report.ok or report.failures)
