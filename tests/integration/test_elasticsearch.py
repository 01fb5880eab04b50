"""The elasticsearch exporter, and the REST behaviour the local stand-in copies, against a real cluster.

Runs when ``ELASTICSEARCH_URL`` is set; skipped visibly otherwise. The cases are the very ones the stand-in
passes (tests/collector/exporters/elasticsearch/cases.py and rest_cases.py), so a difference between the two
shows up here. Optional: ``ELASTICSEARCH_API_KEY`` or ``ELASTICSEARCH_USER`` / ``ELASTICSEARCH_PASSWORD``,
``ELASTICSEARCH_CA_FILE``, and ``ELASTICSEARCH_SNAPSHOT_REPOSITORY`` (a registered repository, for the SLM
policy and ``wait_for_snapshot``; without it those two are not installed). Everything a case creates is named
after a random token and deleted afterwards.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import elasticsearch
import pytest
from elasticsearch import Elasticsearch

from tests.collector.exporters.elasticsearch import cases, rest_cases
from tests.collector.exporters.elasticsearch._backends import Backend, RemoteBackend

URL = os.environ.get("ELASTICSEARCH_URL", "")
CLIENT_MAJOR = elasticsearch.VERSION[0]

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not URL, reason="ELASTICSEARCH_URL is not set: the real-Elasticsearch suite needs a cluster"),
]


@pytest.fixture
def backend() -> RemoteBackend:
    return RemoteBackend(URL.split(",")[0].strip())


def _connect(backend: RemoteBackend) -> Callable[[], Elasticsearch]:
    keys = backend.exporter_keys()
    options: dict[str, Any] = {"hosts": [backend.url], "request_timeout": 30}
    if "api_key" in keys:
        options["api_key"] = keys["api_key"]
    if "user" in keys:
        options["basic_auth"] = (keys["user"], keys["password"])
    if "tls" in keys:
        options["ca_certs"] = keys["tls"]["ca_file"]
    return lambda: Elasticsearch(**options)


@pytest.mark.parametrize("case", cases.ALL, ids=lambda c: c.__name__)
def test_exporter_case(case: Callable[[Backend], None], backend: RemoteBackend) -> None:
    case(backend)


def test_mapping_conflicts_are_dead_lettered_not_retried(backend: RemoteBackend, tmp_path: Path) -> None:
    cases.mapping_conflicts_are_dead_lettered_not_retried(backend, tmp_path)


@pytest.mark.parametrize("case", rest_cases.ALL, ids=lambda c: c.__name__)
def test_rest_case(case: Callable[[rest_cases.Connect], None], backend: RemoteBackend) -> None:
    status, info = backend.get("/")
    assert status == 200, info
    cluster_major = int(info["version"]["number"].split(".")[0])
    if cluster_major != CLIENT_MAJOR:
        pytest.skip(f"the REST cases use the official client's typed API, which speaks to Elasticsearch "
                    f"{CLIENT_MAJOR} only (cluster: {info['version']['number']})")
    case(_connect(backend))
