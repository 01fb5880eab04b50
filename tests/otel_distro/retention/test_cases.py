"""The shared retention cases (also run against a real cluster by tests/integration/) on the stand-in."""

from __future__ import annotations

from elasticsearch import Elasticsearch

from tests.servers.elasticsearch import ElasticsearchServer

from . import cases


def test_an_old_backing_index_is_snapshotted_then_deleted() -> None:
    with ElasticsearchServer(repositories=("backups",)) as es, Elasticsearch(es.url) as client:
        cases.an_old_backing_index_is_snapshotted_then_deleted(client, es.url, "backups")
