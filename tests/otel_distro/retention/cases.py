"""Retention cases that run against the stand-in (tests/otel_distro/retention/test_cases.py) and against a real
cluster (tests/integration/test_retention_elasticsearch.py): only the public Elasticsearch API is used to set
them up, so a difference between the stand-in and Elasticsearch shows up there."""

from __future__ import annotations

import io
import secrets
import time

from elasticsearch import Elasticsearch

from otel_distro.retention import RetentionConfig, run

__all__ = ["an_old_backing_index_is_snapshotted_then_deleted"]


def an_old_backing_index_is_snapshotted_then_deleted(client: Elasticsearch, url: str, repository: str,
                                                     **client_keys: object) -> None:
    token = secrets.token_hex(4)
    stream = f"logs-retention.{token}-default"
    template = f"retention-{token}"
    snapshots: list[str] = []
    client.indices.put_index_template(name=template, index_patterns=[f"logs-retention.{token}-*"], data_stream={},
                                      priority=500)
    try:
        client.bulk(operations=[{"create": {"_index": stream}}, {"@timestamp": "2026-01-01T00:00:00Z", "n": 1}],
                    refresh=True)
        client.indices.rollover(alias=stream)
        client.bulk(operations=[{"create": {"_index": stream}}, {"@timestamp": "2026-01-02T00:00:00Z", "n": 2}],
                    refresh=True)
        old, write = _backing_indices(client, stream)
        hundred_days_ago = int((time.time() - 100 * 86400) * 1000)
        client.indices.put_settings(index=old, settings={"index.lifecycle.origination_date": hundred_days_ago})

        dry = io.StringIO()
        config = RetentionConfig.model_validate({
            "elasticsearch": {"url": url, "repository": repository, "data_streams": [stream], **client_keys},
            "retry": {"attempts": 3, "initial_interval": "100ms"}})
        run(config, dry_run=True, out=dry)
        assert f"then delete index {old} (data stream {stream}" in dry.getvalue(), dry.getvalue()

        report = run(config, out=io.StringIO())
        assert report.ok, report.failures
        assert [o.candidate.name for o in report.deleted] == [old]
        backup = report.deleted[0].backup
        assert backup is not None
        snapshot = backup.split(":", 1)[1]
        snapshots.append(snapshot)
        assert _backing_indices(client, stream) == [write]
        [info] = client.snapshot.get(repository=repository, snapshot=snapshot)["snapshots"]
        assert info["state"] == "SUCCESS" and old in info["indices"]
    finally:
        for snapshot in snapshots:
            client.snapshot.delete(repository=repository, snapshot=snapshot)
        client.options(ignore_status=404).indices.delete_data_stream(name=stream)
        client.options(ignore_status=404).indices.delete_index_template(name=template)


def _backing_indices(client: Elasticsearch, stream: str) -> list[str]:
    [found] = client.indices.get_data_stream(name=stream)["data_streams"]
    return [i["index_name"] for i in found["indices"]]
