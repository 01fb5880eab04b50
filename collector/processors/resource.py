"""``resource``: insert/update/upsert/delete/hash resource attributes (key ``attributes``, as in otelcol)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from collector.component import CreateSettings
from collector.pdata import Batch, Signal
from collector.processors._actions import Action, apply_actions, prepared

__all__ = ["SIGNALS", "TYPE", "Config", "ResourceProcessor", "create"]

TYPE = "resource"
SIGNALS = frozenset(Signal)


class Config(BaseModel):
    model_config = ConfigDict(extra="forbid")

    attributes: list[Action] = Field(default_factory=list)


class ResourceProcessor:
    thread_safe = True  # its state is read only
    def __init__(self, config: Config) -> None:
        self._actions = prepared(config.attributes)

    def __call__(self, batch: Batch) -> Batch:
        for entry in batch.resources:
            apply_actions(entry.resource.attributes, self._actions)
        return batch


def create(settings: CreateSettings, config: Config) -> ResourceProcessor:
    return ResourceProcessor(config)
