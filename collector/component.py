"""Component identities, kinds and the protocols every component module follows.

A component module (``collector/<kind>s/<type>.py``; type = module name = YAML key) holds, in order:

* ``TYPE: str`` — its type name, e.g. ``"pii"``;
* ``SIGNALS: frozenset[Signal]`` — the signals it supports (receivers, processors, exporters);
* ``class Config(pydantic.BaseModel)`` with ``model_config = ConfigDict(extra="forbid")``; defaults live on the
  model only. Loading = ``Config()`` defaults, then the user's keys on top. Cross-field checks are
  ``model_validator``s raising ``ValueError`` with a message that names the key.
* ``def create(settings: CreateSettings, config: Config) -> <runtime>`` where the runtime is a `Processor`,
  an `Exporter`, an `Extension`, or (receivers) ``create(settings, config, consumers)`` -> `Receiver`.

An exporter whose ``Config`` subclasses `collector.sending.settings.SenderSettings` is wrapped by the pipeline
in the shared sender (queue -> retry -> timeout -> export); its ``export`` then only has to raise the right
`collector.errors.ExportError` (see its module's ``classify()``). Pull exporters (``prometheus``) do not
subclass it.

An exporter module may define ``disabled_reason(config: Config) -> str | None``: a non-None answer (its backend
address is empty, e.g. ``endpoint: ${env:PROMETHEUS_REMOTE_WRITE_URL:-}``) leaves the exporter out of every
pipeline, logged once as ``exporter_disabled``. This is how ``otel-collector.yaml`` switches backends on by env var.

Optional module attributes read by the pipeline:

* ``MUTATES_DATA: bool`` (exporters, default False) — the exporter edits the batch it is given; the fan-out
  hands it a copy when other exporters share the batch.

A receiver's ``consumers`` is a ``Mapping[Signal, Consumer]``: one head per signal whose pipelines use it.
A processor that must keep state across batches (``batch``) returns a `StatefulProcessor` instead of a
plain callable: the pipeline binds it to the next stage and starts/shuts it down (shutdown flushes).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable

import structlog

from collector.pdata import Batch, Signal

__all__ = [
    "OFF_LOOP_BYTES",
    "ComponentID",
    "Consumer",
    "CreateSettings",
    "Exporter",
    "Extension",
    "Host",
    "Kind",
    "NoopTelemetry",
    "Processor",
    "Receiver",
    "StatefulProcessor",
    "Telemetry",
    "for_transport",
]


class Kind(StrEnum):
    RECEIVER = "receivers"
    PROCESSOR = "processors"
    EXPORTER = "exporters"
    EXTENSION = "extensions"
    CONNECTOR = "connectors"


_ID_RE = re.compile(r"^(?P<type>[a-z][a-z0-9_]*)(?:/(?P<name>[^/\s]+))?$")


@dataclass(frozen=True, slots=True)
class ComponentID:
    """``type[/name]``, e.g. ``pii/strict``."""

    type: str
    name: str = ""

    @classmethod
    def parse(cls, text: str) -> ComponentID:
        m = _ID_RE.match(text.strip())
        if m is None:
            raise ValueError(
                f"invalid component id {text!r}: expected 'type' or 'type/name' "
                "(type: lower-case letters, digits and '_')"
            )
        return cls(m.group("type"), m.group("name") or "")

    def __str__(self) -> str:
        return f"{self.type}/{self.name}" if self.name else self.type


class Telemetry(Protocol):
    """The collector's own metrics (served on :8888). Names follow otelcol's ``otelcol_*`` where they map;
    attributes always include the component id (``receiver``, ``processor`` or ``exporter``)."""

    def add(self, name: str, value: float, attributes: Mapping[str, str] | None = None, *,
            description: str = "") -> None: ...

    def set(self, name: str, value: float, attributes: Mapping[str, str] | None = None, *,
            description: str = "") -> None: ...

    def observe(self, name: str, value: float, attributes: Mapping[str, str] | None = None, *,
                description: str = "") -> None: ...


class NoopTelemetry:
    """A `Telemetry` that records nothing (unit tests of single components)."""

    def add(self, name: str, value: float, attributes: Mapping[str, str] | None = None, *,
            description: str = "") -> None:
        return None

    def set(self, name: str, value: float, attributes: Mapping[str, str] | None = None, *,
            description: str = "") -> None:
        return None

    def observe(self, name: str, value: float, attributes: Mapping[str, str] | None = None, *,
                description: str = "") -> None:
        return None


class Host(Protocol):
    """What a component may ask of the running service."""

    def get_extension(self, id: ComponentID) -> Extension | None: ...


class _NoHost:
    def get_extension(self, id: ComponentID) -> Extension | None:
        return None


@dataclass(slots=True)
class CreateSettings:
    """Passed to every factory."""

    id: ComponentID
    signal: Signal | None = None  # the pipeline's signal; None for extensions and shared receivers
    host: Host = field(default_factory=_NoHost)
    telemetry: Telemetry = field(default_factory=NoopTelemetry)
    logger: Any = None  # a structlog BoundLogger bound with the component id

    def __post_init__(self) -> None:
        if self.logger is None:
            self.logger = structlog.get_logger("collector").bind(component=str(self.id))


Processor = Callable[[Batch], Batch]
"""A processor: takes a batch, returns it (edited in place or new). No I/O, never calls the next stage.
Drops with `collector.errors.DropBatch`; refuses (back-pressure) with `collector.errors.Refused`.

A processor whose instance has ``thread_safe = True`` may be called from a worker thread while the event loop
calls it for other batches (its own state stays consistent): a batch above `OFF_LOOP_BYTES` is processed in a
thread when every processor of its run says so, so that it does not stall every other client's request."""

#: Requests and batches above this many bytes are decoded and processed off the event loop (in a worker thread).
OFF_LOOP_BYTES = 256 * 1024


@runtime_checkable
class Exporter(Protocol):
    async def start(self) -> None: ...

    async def export(self, batch: Batch) -> None:
        """Send one batch. Return on success; raise `PermanentError` / `RetryableError` otherwise."""
        ...

    async def shutdown(self) -> None: ...


class Consumer(Protocol):
    """What a receiver pushes into: the head of a pipeline. Raises `Refused` under back-pressure."""

    async def consume(self, batch: Batch) -> None: ...


def for_transport(consumers: Mapping[Signal, Consumer], transport: str) -> dict[Signal, Consumer]:
    """The heads a receiver's ``transport`` (``grpc``, ``http``) pushes into: the same, counted under that
    transport where the head counts (`collector.pipeline.ObservedConsumer`)."""
    out: dict[Signal, Consumer] = {}
    for signal, consumer in consumers.items():
        view = getattr(consumer, "for_transport", None)
        out[signal] = view(transport) if view is not None else consumer
    return out


@runtime_checkable
class Receiver(Protocol):
    async def start(self) -> None: ...

    async def shutdown(self) -> None: ...


@runtime_checkable
class Extension(Protocol):
    async def start(self) -> None: ...

    async def shutdown(self) -> None: ...


@runtime_checkable
class StatefulProcessor(Protocol):
    """A processor that holds data across calls and emits it later (``batch``): a `Consumer` bound to the next
    stage. ``shutdown`` flushes what it holds downstream."""

    def bind(self, next: Consumer) -> None: ...

    async def consume(self, batch: Batch) -> None: ...

    async def start(self) -> None: ...

    async def shutdown(self) -> None: ...
