"""``attributes``: insert/update/upsert/delete/hash attributes of spans, log records and metric data points."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from collector.component import CreateSettings
from collector.pdata import Batch, Signal
from collector.processors._actions import Action, apply_actions, prepared

__all__ = ["SIGNALS", "TYPE", "AttributesProcessor", "Config", "create"]

TYPE = "attributes"
SIGNALS = frozenset(Signal)


class Config(BaseModel):
    model_config = ConfigDict(extra="forbid")

    actions: list[Action] = Field(default_factory=list)


class AttributesProcessor:
    thread_safe = True  # its state is read only
    def __init__(self, config: Config) -> None:
        self._actions = prepared(config.actions)

    def __call__(self, batch: Batch) -> Batch:
        if not self._actions:
            return batch
        actions = self._actions
        if batch.signal is Signal.TRACES:
            for rs in batch.resources:
                for ss in rs.scope_spans:
                    for span in ss.spans:
                        apply_actions(span.attributes, actions)
        elif batch.signal is Signal.LOGS:
            for rl in batch.resources:
                for sl in rl.scope_logs:
                    for record in sl.log_records:
                        apply_actions(record.attributes, actions)
        else:
            for rm in batch.resources:
                for sm in rm.scope_metrics:
                    for metric in sm.metrics:
                        kind = metric.WhichOneof("data")
                        if kind is None:
                            continue
                        for point in getattr(metric, kind).data_points:
                            apply_actions(point.attributes, actions)
        return batch


def create(settings: CreateSettings, config: Config) -> AttributesProcessor:
    return AttributesProcessor(config)
