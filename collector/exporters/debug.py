"""``debug``: logs what passes through — counts (``basic``), or each request as OTLP/JSON (``detailed``)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from collector import otlpjson
from collector.component import CreateSettings
from collector.pdata import Batch, Signal

__all__ = ["SIGNALS", "TYPE", "Config", "DebugExporter", "create"]

TYPE = "debug"
SIGNALS = frozenset(Signal)


class Config(BaseModel):
    model_config = ConfigDict(extra="forbid")

    verbosity: Literal["basic", "normal", "detailed"] = "basic"


class DebugExporter:
    def __init__(self, settings: CreateSettings, config: Config) -> None:
        self._log = settings.logger
        self._verbosity = config.verbosity

    async def start(self) -> None:
        return None

    async def export(self, batch: Batch) -> None:
        if self._verbosity == "detailed":
            self._log.info("debug_export", signal=batch.signal.value, items=batch.item_count(),
                           request=otlpjson.encode_message(batch.view))
        else:
            self._log.info("debug_export", signal=batch.signal.value, items=batch.item_count(),
                           resources=len(batch.resources))

    async def shutdown(self) -> None:
        return None


def create(settings: CreateSettings, config: Config) -> DebugExporter:
    return DebugExporter(settings, config)
