"""``resource``: the same actions as ``attributes``, on resource attributes (key ``attributes``)."""

from __future__ import annotations

from collector.component import ComponentID, CreateSettings
from collector.processors import resource
from tests.collector.sending.fakes import traces


def test_resource_processor_edits_resource_attributes() -> None:
    b = traces(1)
    b.resources[0].resource.attributes.add(key="host.name").value.string_value = "box"
    proc = resource.create(CreateSettings(ComponentID("resource")), resource.Config.model_validate(
        {"attributes": [{"key": "deployment.environment", "action": "upsert", "value": "prod"},
                        {"key": "host.name", "action": "delete"}]}))
    proc(b)
    attrs = {kv.key: kv.value.string_value for kv in b.resources[0].resource.attributes}
    assert attrs == {"deployment.environment": "prod"}
