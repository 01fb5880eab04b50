"""What retention needs, as data (the bodies) and as behaviour (idempotent install, refusals)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from collector.exporters.elasticsearch import Config
from collector.exporters.elasticsearch._config import LifecycleSettings
from collector.exporters.elasticsearch._exporter import make_client
from collector.exporters.elasticsearch._lifecycle import InstallReport, LifecycleError, desired_resources, install
from collector.exporters.elasticsearch._transport import Transport
from tests.servers.elasticsearch import ElasticsearchServer


def _settings(**keys: Any) -> LifecycleSettings:
    return LifecycleSettings.model_validate({"slm": {"repository": "backups"}, **keys})


def _by_name(settings: LifecycleSettings) -> dict[str, dict[str, Any]]:
    return {r.name: r.body for r in desired_resources(settings)}


def test_the_ilm_policy_rolls_over_daily_and_deletes_after_90_days_once_snapshotted() -> None:
    policy = _by_name(_settings())["otel-distro-retention"]["policy"]

    assert policy["phases"]["hot"]["actions"]["rollover"] == {"max_age": "1d", "max_primary_shard_size": "50gb"}
    assert policy["phases"]["delete"]["min_age"] == "90d"
    assert policy["phases"]["delete"]["actions"] == {
        "wait_for_snapshot": {"policy": "otel-distro-nightly"},
        "delete": {"delete_searchable_snapshot": True},
    }
    assert policy["_meta"]["managed_by"] == "otel-distro"


def test_the_slm_policy_snapshots_every_signal_to_the_repository() -> None:
    slm = _by_name(_settings())["otel-distro-nightly"]

    assert slm["repository"] == "backups"
    assert slm["config"]["indices"] == ["logs-*", "traces-*", "metrics-*"]
    assert slm["schedule"] == "0 30 1 * * ?"
    assert slm["retention"]["expire_after"] == "30d"


def test_templates_put_data_streams_on_the_policy_with_best_compression() -> None:
    bodies = _by_name(_settings())

    assert bodies["otel-distro@settings"]["template"]["settings"]["index"] == {
        "codec": "best_compression", "lifecycle": {"name": "otel-distro-retention"}}
    logs = bodies["otel-distro-logs"]
    assert logs["index_patterns"] == ["logs-*-*"]
    assert logs["data_stream"] == {}
    assert logs["priority"] == 200
    assert logs["composed_of"] == ["otel-distro@settings", "otel-distro-logs@mappings", "logs@custom"]
    assert logs["ignore_missing_component_templates"] == ["logs@custom"]
    assert bodies["otel-distro-traces"]["index_patterns"] == ["traces-*-*"]
    assert bodies["otel-distro-metrics"]["index_patterns"] == ["metrics-*-*"]


def test_dependencies_come_first() -> None:
    kinds = [r.kind for r in desired_resources(_settings())]

    assert kinds.index("slm_policy") < kinds.index("ilm_policy") < kinds.index("component_template") \
        < kinds.index("index_template")


def test_without_a_repository_there_is_no_slm_policy_and_no_wait_for_snapshot() -> None:
    settings = LifecycleSettings()

    bodies = _by_name(settings)

    assert "otel-distro-nightly" not in bodies
    assert "wait_for_snapshot" not in bodies["otel-distro-retention"]["policy"]["phases"]["delete"]["actions"]


def test_switches() -> None:
    assert {r.kind for r in desired_resources(_settings(ilm={"enabled": False}, slm={"enabled": False}))} == {
        "component_template", "index_template"}
    assert "lifecycle" not in _by_name(_settings(ilm={"enabled": False}))["otel-distro@settings"]["template"][
        "settings"]["index"]
    assert {r.kind for r in desired_resources(_settings(templates={"enabled": False}))} == {"slm_policy",
                                                                                            "ilm_policy"}


@pytest.fixture
def es() -> Iterator[ElasticsearchServer]:
    with ElasticsearchServer(repositories=("backups",)) as server:
        yield server


def _install(es: ElasticsearchServer, settings: LifecycleSettings) -> InstallReport:
    async def main() -> InstallReport:
        client = make_client(Config(), [es.url])
        try:
            return await install(Transport(client, {}), settings)
        finally:
            await client.close()

    return asyncio.run(main())


def test_install_creates_then_leaves_alone_then_updates_what_changed(es: ElasticsearchServer) -> None:
    first = _install(es, _settings())
    again = _install(es, _settings())
    changed = _install(es, _settings(ilm={"delete_after": "30d"}))

    assert len(first.created) == 9 and first.updated == []
    assert again.created == [] and again.updated == [] and len(again.unchanged) == 9
    assert changed.updated == ["ilm_policy:otel-distro-retention"]
    status, policy = es.call("GET", "/_ilm/policy/otel-distro-retention")
    assert status == 200
    assert policy["otel-distro-retention"]["version"] == 2
    assert policy["otel-distro-retention"]["policy"]["phases"]["delete"]["min_age"] == "30d"
    assert sum(1 for r in es.requests if r.method == "PUT") == 9 + 1


def test_a_policy_someone_else_wrote_is_replaced(es: ElasticsearchServer) -> None:
    es.call("PUT", "/_ilm/policy/otel-distro-retention", {"policy": {"phases": {"delete": {"min_age": "1d",
                                                                                       "actions": {"delete": {}}}}}})

    report = _install(es, _settings())

    assert "ilm_policy:otel-distro-retention" in report.updated


def test_a_missing_repository_is_a_lifecycle_error_naming_it(es: ElasticsearchServer) -> None:
    with pytest.raises(LifecycleError, match=r"slm_policy:otel-distro-nightly: HTTP 400: .*no such repository"):
        _install(es, _settings(slm={"repository": "nope"}))
