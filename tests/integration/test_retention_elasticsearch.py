"""The retention job against a real Elasticsearch: runs when ``ELASTICSEARCH_URL`` and
``ELASTICSEARCH_SNAPSHOT_REPOSITORY`` (a registered repository) are set; skipped visibly otherwise. Optional:
``ELASTICSEARCH_API_KEY``. Everything the case creates is named after a random token and deleted afterwards."""

from __future__ import annotations

import os

import pytest
from elasticsearch import Elasticsearch

from tests.otel_distro.retention import cases

URL = os.environ.get("ELASTICSEARCH_URL", "").split(",")[0].strip()
REPOSITORY = os.environ.get("ELASTICSEARCH_SNAPSHOT_REPOSITORY", "")
API_KEY = os.environ.get("ELASTICSEARCH_API_KEY") or None

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not URL or not REPOSITORY, reason="ELASTICSEARCH_URL and ELASTICSEARCH_SNAPSHOT_REPOSITORY "
                       "are not both set: the real-Elasticsearch retention case needs a cluster and a repository"),
]


def test_an_old_backing_index_is_snapshotted_then_deleted() -> None:
    with Elasticsearch(URL, api_key=API_KEY) as client:
        keys = {"api_key": API_KEY} if API_KEY else {}
        cases.an_old_backing_index_is_snapshotted_then_deleted(client, URL, REPOSITORY, **keys)
