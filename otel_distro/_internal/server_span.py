"""The request middleware's server span: an SDK span without the SDK's per-span copies.

`opentelemetry.sdk.trace.Tracer.start_span` wraps the attributes in a `BoundedAttributes` (a lock, and a
validation call per value), makes an event list and a link list with their own locks, and `Span.end` copies
the span into a new `ReadableSpan` for the processors: about a third of what a traced request costs. The
middleware's attributes are its own strings and integers, known to be valid, so `ServerSpan` keeps them in a
plain dict, makes the event and link lists on first use, and hands itself to the processors at end (it
refuses changes once ended, which is what the copy guarded against).

Everything else is the provider's: its sampler decides, its id generator makes the ids (deterministic ids in
tests stay deterministic), its processors see ``on_start`` / ``on_end`` in order, its limits apply to
anything the app adds. Values the app sets on the span (``get_current_span().set_attribute(...)``) go
through the SDK's own validation: on the first such call the attributes move into a `BoundedAttributes`.
`start_server_span` falls back to ``tracer.start_span`` for any tracer that is not the SDK's.
"""

from __future__ import annotations

import dis
import logging
import threading
from collections.abc import Mapping
from time import time_ns as _time_ns
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.attributes import BoundedAttributes
from opentelemetry.sdk import trace as sdk_trace
from opentelemetry.sdk.trace import sampling
from opentelemetry.sdk.util import BoundedList
from opentelemetry.trace import SpanContext, SpanKind, TraceFlags
from opentelemetry.trace.status import Status, StatusCode
from opentelemetry.util import types

from otel_distro._internal.context import current_span_context

__all__ = ["ServerSpan", "start_server_span"]

_logger = logging.getLogger("opentelemetry.sdk.trace")

_UNSET = Status(StatusCode.UNSET)
_NO_LINKS: tuple[Any, ...] = ()
_FLAGS: dict[int, TraceFlags] = {}


def _flags(value: int) -> TraceFlags:
    flags = _FLAGS.get(value)
    if flags is None:
        flags = _FLAGS[value] = TraceFlags(value)
    return flags


class ServerSpan(sdk_trace.Span):
    """An SDK `Span` (and so a `ReadableSpan` for every processor and exporter) built in one step.

    The fields every server span starts with the same value of are class attributes (a setter that changes one
    makes an instance attribute, as for any Python object); only the nine that differ are set per span.
    """

    _kind = SpanKind.SERVER
    _instrumentation_info = None
    _end_time: int | None = None
    _events: Any = ()
    _links: Any = _NO_LINKS
    _status = _UNSET
    _sampler = None
    _trace_config = None
    _record_exception = True
    _set_status_on_exception = True
    _record_end_metrics: Any = None
    #: One lock for all server spans: it only orders the end of a span against setters on other threads, for
    #: a few instructions each, so sharing it costs nothing measurable and saves a lock object per request.
    _lock = threading.Lock()

    def __init__(  # noqa: PLR0917 - one field each, set directly
        self,
        name: str,
        context: SpanContext,
        parent: SpanContext | None,
        resource: Any,
        attributes: dict[str, Any],
        span_processor: Any,
        scope: Any,
        limits: Any,
        record_end_metrics: Any,
    ) -> None:
        # No super().__init__: the per-span fields `sdk_trace.Span.__init__` sets, without its copies.
        self._name = name
        self._context = context
        self._parent = parent
        self._start_time = _time_ns()
        self._attributes: Any = attributes
        self._resource = resource
        self._span_processor = span_processor
        self._limits = limits
        self._instrumentation_scope = scope
        if record_end_metrics is not None:
            self._record_end_metrics = record_end_metrics

    def _bounded(self) -> BoundedAttributes:
        """The attributes as the SDK keeps them (limits, validation), from the first value the app sets."""
        attributes = self._attributes
        if not isinstance(attributes, BoundedAttributes):
            attributes = self._attributes = BoundedAttributes(
                self._limits.max_span_attributes,
                attributes,
                immutable=False,
                max_value_len=self._limits.max_span_attribute_length,
            )
        return attributes

    def set_attributes(self, attributes: Mapping[str, types.AnyValue]) -> None:
        if self._end_time is None:
            self._bounded()
        super().set_attributes(attributes)

    def set_attribute(self, key: str, value: types.AnyValue) -> None:
        if self._end_time is None:
            self._bounded()
        super().set_attribute(key, value)

    def _set_own_attributes(self, attributes: Mapping[str, Any]) -> None:
        """The middleware's own closing attributes (plain strings and integers) while the span is open."""
        if self._end_time is not None:
            return
        current = self._attributes
        if isinstance(current, BoundedAttributes):
            current._set_items(attributes)
        else:
            current.update(attributes)

    def _add_event(self, event: sdk_trace.EventBase) -> None:
        if self._end_time is not None:
            super()._add_event(event)  # the SDK's warning
            return
        if not isinstance(self._events, BoundedList):
            self._events = BoundedList(self._limits.max_events)
        self._events.append(event)

    def _add_link(self, link: trace.Link) -> None:
        if self._end_time is None and not isinstance(self._links, BoundedList):
            self._links = BoundedList(self._limits.max_links)
        super()._add_link(link)

    def end(self, end_time: int | None = None) -> None:
        with self._lock:
            if self._end_time is not None:
                _logger.warning("Calling end() on an ended span.")  # as the SDK says it
                return
            self._end_time = end_time if end_time is not None else _time_ns()
            if isinstance(self._attributes, BoundedAttributes):
                self._attributes._immutable = True
        if self._record_end_metrics is not None:
            self._record_end_metrics()
        processor = self._span_processor
        for on_ending in _hooks(processor)[1]:
            on_ending(self)
        # The span itself, not a copy: nothing can change it any more (every setter checks the end time).
        processor.on_end(self)


def _does_nothing(function: Any) -> bool:
    """Whether ``function``'s body is only ``pass`` / ``return None`` (a docstring aside)."""
    code = getattr(function, "__code__", None)
    if code is None:
        return False
    steps = [(i.opname, i.argval) for i in dis.get_instructions(code) if i.opname not in {"RESUME", "NOP"}]
    return steps in ([("LOAD_CONST", None), ("RETURN_VALUE", None)], [("RETURN_CONST", None)])


_hook_cache: dict[int, tuple[Any, tuple[tuple[Any, ...], tuple[Any, ...]]]] = {}


def _hooks(processor: Any) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    """The ``on_start`` and ``_on_ending`` hooks of the provider's processors that do something.

    Most processors leave both empty (the batch processors, the distro's own); calling them would cost two
    calls each per request. Looked up again whenever the provider's processor tuple is replaced (adding a
    processor makes a new one). For any other composite processor, its own two methods.
    """
    inner = getattr(processor, "_span_processors", None)
    if type(processor) is not sdk_trace.SynchronousMultiSpanProcessor or not isinstance(inner, tuple):
        return (processor.on_start,), (processor._on_ending,)
    cached = _hook_cache.get(id(processor))
    if cached is not None and cached[0] is inner:
        return cached[1]
    hooks = (
        tuple(p.on_start for p in inner if not _does_nothing(getattr(type(p), "on_start", None))),
        tuple(p._on_ending for p in inner if not _does_nothing(getattr(type(p), "_on_ending", None))),
    )
    if len(_hook_cache) >= 64:
        _hook_cache.clear()
    _hook_cache[id(processor)] = (inner, hooks)  # the processor holds the tuple, and the tuple its processors
    return hooks


def _default_sampler(sampler: Any) -> bool:
    """Whether ``sampler`` is the SDK's default ``parentbased_always_on``: sample new traces, follow the parent."""
    return (
        type(sampler) is sampling.ParentBased
        and getattr(sampler, "_root", None) is sampling.ALWAYS_ON
        and getattr(sampler, "_remote_parent_sampled", None) is sampling.ALWAYS_ON
        and getattr(sampler, "_remote_parent_not_sampled", None) is sampling.ALWAYS_OFF
        and getattr(sampler, "_local_parent_sampled", None) is sampling.ALWAYS_ON
        and getattr(sampler, "_local_parent_not_sampled", None) is sampling.ALWAYS_OFF
    )


_parts: dict[int, tuple[Any, tuple[Any, ...] | None]] = {}


def _sdk_parts(tracer: Any) -> tuple[Any, ...] | None:
    """What a `ServerSpan` needs from an SDK tracer (looked up once per tracer), or None for any other tracer."""
    cached = _parts.get(id(tracer))
    if cached is not None and cached[0] is tracer:
        return cached[1]
    parts = _lookup_parts(tracer)
    if len(_parts) >= 64:
        _parts.clear()
    _parts[id(tracer)] = (tracer, parts)  # the tracer is held, so its id is not reused while cached
    return parts


def _lookup_parts(tracer: Any) -> tuple[Any, ...] | None:
    if not isinstance(tracer, sdk_trace.Tracer):
        return None
    try:
        parts = (
            tracer.sampler,
            tracer.id_generator,
            tracer.span_processor,
            tracer._span_limits,
            tracer._instrumentation_scope,
            tracer._tracer_metrics,
            _default_sampler(tracer.sampler),
        )
    except AttributeError:
        return None
    if not all(hasattr(tracer.span_processor, name) for name in ("on_start", "_on_ending", "on_end")):
        return None
    return parts


def start_server_span(
    tracer: trace.Tracer, name: str, parent: otel_context.Context | None, attributes: dict[str, Any]
) -> trace.Span:
    """A started SERVER span named ``name`` under the span in ``parent`` (or a new trace), owning ``attributes``.

    Same decisions as ``tracer.start_span(name, parent, SpanKind.SERVER, attributes)``: the tracer's enabled
    flag, sampler (its attributes and trace state included), id generator and processors.
    """
    parts = _sdk_parts(tracer)
    if parts is None:
        return tracer.start_span(name, parent, SpanKind.SERVER, attributes)
    sampler, ids, processor, limits, scope, tracer_metrics, default_sampler = parts
    if not tracer._is_enabled():  # type: ignore[attr-defined]
        return tracer.start_span(name, parent, SpanKind.SERVER, attributes)
    parent_context: SpanContext | None = (
        current_span_context() if parent is None else trace.get_current_span(parent).get_span_context()
    )
    if parent_context is None or not parent_context.is_valid:
        parent_context = None
        trace_id = ids.generate_trace_id()
        random_trace_id = ids.is_trace_id_random()
    else:
        trace_id = parent_context.trace_id
        random_trace_id = parent_context.trace_flags.random_trace_id
    if default_sampler:
        # What ParentBased(ALWAYS_ON) answers, without its three calls: the parent's decision and trace state,
        # or sampled for a new trace; the attributes as given.
        sampled = parent_context is None or parent_context.trace_flags.sampled
        decision: Any = sampling.Decision.RECORD_AND_SAMPLE if sampled else sampling.Decision.DROP
        trace_state = parent_context.trace_state if parent_context is not None else None
    else:
        result = sampler.should_sample(parent, trace_id, name, SpanKind.SERVER, attributes, _NO_LINKS)
        decision, trace_state = result.decision, result.trace_state
        attributes = dict(result.attributes)  # what the sampler kept, as the SDK does
    flags = TraceFlags.SAMPLED if decision.is_sampled() else TraceFlags.DEFAULT
    if random_trace_id:
        flags |= TraceFlags.RANDOM_TRACE_ID
    span_context = SpanContext(
        trace_id, ids.generate_span_id(), is_remote=False, trace_flags=_flags(flags), trace_state=trace_state
    )
    end_metrics = tracer_metrics.start_span(parent_context, decision)
    if not decision.is_recording():
        return trace.NonRecordingSpan(span_context)
    span = ServerSpan(
        name,
        span_context,
        parent_context,
        tracer.resource,  # type: ignore[attr-defined]
        attributes,
        processor,
        scope,
        limits,
        None if getattr(end_metrics, "__name__", "") == "noop" else end_metrics,
    )
    for on_start in _hooks(processor)[0]:
        on_start(span, parent_context=parent)
    return span

