"""``gate``: a test processor that records which batches it saw, in which order and on which thread, and holds
a big batch (above `OFF_LOOP_BYTES`) until the test opens the gate. Registered by the tests that use it."""

from __future__ import annotations

import threading

from pydantic import BaseModel, ConfigDict

from collector.component import OFF_LOOP_BYTES, CreateSettings
from collector.pdata import Batch, Signal

TYPE = "gate"
SIGNALS = frozenset(Signal)


class Config(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Gate:
    thread_safe = True

    def __init__(self) -> None:
        self.events: list[str] = []
        self.threads: dict[str, int] = {}
        self.big_entered = threading.Event()
        self.open = threading.Event()

    def __call__(self, batch: Batch) -> Batch:
        kind = "big" if batch.byte_size() > OFF_LOOP_BYTES else "small"
        self.threads[kind] = threading.get_ident()
        if kind == "small":
            self.events.append("small")
            return batch
        self.events.append("big entered")
        self.big_entered.set()
        self.open.wait(30)  # on the event loop this would stall every other request for that long
        self.events.append("big left")
        return batch


GATES: list[Gate] = []


def create(settings: CreateSettings, config: Config) -> Gate:
    gate = Gate()
    GATES.append(gate)
    return gate
