"""Backups on by default: the shipped config registers an ``fs`` snapshot repository on ``path.repo``, an SLM
policy on it and ``wait_for_snapshot`` in the ILM delete phase; when backups cannot be on, start-up warns with
the reason (``elasticsearch_backups_off``) and the collector still runs."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from structlog.testing import capture_logs

from collector.confmap import expand_env
from collector.exporters.elasticsearch import Config
from tests.servers.elasticsearch import ElasticsearchServer
from tests.support import ROOT

from ._backends import export
from ._data import log_batch


@pytest.fixture
def es() -> Iterator[ElasticsearchServer]:
    with ElasticsearchServer(path_repo=("/usr/share/elasticsearch/snapshots",)) as server:
        yield server


def _shipped(es: ElasticsearchServer, monkeypatch: pytest.MonkeyPatch, **env: str) -> Config:
    """The `elasticsearch` exporter of the shipped otel-collector.yaml, with the environment compose gives."""
    for key in ("ELASTICSEARCH_SNAPSHOT_REPOSITORY", "ELASTICSEARCH_SNAPSHOT_REPOSITORY_TYPE",
                "ELASTICSEARCH_SNAPSHOT_LOCATION", "ELASTICSEARCH_API_KEY"):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    raw: dict[str, Any] = expand_env(yaml.safe_load((ROOT / "otel-collector.yaml").read_text()))
    keys = dict(raw["exporters"]["elasticsearch"])
    keys.pop("sending_queue")
    keys.pop("dead_letter")
    return Config.model_validate({**keys, "endpoints": [es.url], "flush": {"interval": "0s"}})


def _ilm_delete_phase(es: ElasticsearchServer) -> dict[str, Any]:
    status, answer = es.call("GET", "/_ilm/policy/otel-distro-retention")
    assert status == 200
    phase: dict[str, Any] = answer["otel-distro-retention"]["policy"]["phases"]["delete"]
    return phase


def test_the_shipped_config_registers_the_repository_and_waits_for_snapshots(
        es: ElasticsearchServer, monkeypatch: pytest.MonkeyPatch) -> None:
    with capture_logs() as logs:
        run = export(_shipped(es, monkeypatch), [log_batch([{"body": "kept"}])])
    assert run.outcomes == [None]
    status, repos = es.call("GET", "/_snapshot/otel-distro-backups")
    assert status == 200 and repos["otel-distro-backups"] == {"type": "fs",
                                                              "settings": {"location": "otel-distro-backups"}}
    status, slm = es.call("GET", "/_slm/policy/otel-distro-nightly")
    assert status == 200 and slm["otel-distro-nightly"]["policy"]["repository"] == "otel-distro-backups"
    assert _ilm_delete_phase(es)["actions"]["wait_for_snapshot"] == {"policy": "otel-distro-nightly"}
    assert not [e for e in logs if e["event"] == "elasticsearch_backups_off"]


def test_an_existing_repository_is_never_changed(es: ElasticsearchServer, monkeypatch: pytest.MonkeyPatch) -> None:
    s3 = {"type": "s3", "settings": {"bucket": "prod-backups"}}
    assert es.call("PUT", "/_snapshot/otel-distro-backups", s3)[0] == 200
    export(_shipped(es, monkeypatch), [])
    assert es.call("GET", "/_snapshot/otel-distro-backups")[1]["otel-distro-backups"] == s3
    assert "wait_for_snapshot" in _ilm_delete_phase(es)["actions"]


def test_a_repository_outside_path_repo_turns_backups_off_loudly(es: ElasticsearchServer,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    with capture_logs() as logs:
        run = export(_shipped(es, monkeypatch, ELASTICSEARCH_SNAPSHOT_LOCATION="/elsewhere"),
                     [log_batch([{"body": "still exported"}])])
    assert run.outcomes == [None]  # the collector runs: logs still arrive
    [warning] = [e for e in logs if e["event"] == "elasticsearch_backups_off"]
    assert warning["log_level"] == "warning"
    assert "registering snapshot repository 'otel-distro-backups' (fs) failed: HTTP 500" in warning["reason"]
    assert "path.repo" in warning["reason"] and "no snapshot" in warning["consequence"]
    assert "wait_for_snapshot" not in _ilm_delete_phase(es)["actions"]
    assert es.call("GET", "/_slm/policy/otel-distro-nightly")[0] == 404


def test_no_repository_named_turns_backups_off_loudly(es: ElasticsearchServer) -> None:
    config = Config.model_validate({"endpoints": [es.url], "flush": {"interval": "0s"}})
    with capture_logs() as logs:
        export(config, [])
    [warning] = [e for e in logs if e["event"] == "elasticsearch_backups_off"]
    assert warning["reason"].startswith("lifecycle::slm::repository is not set")
