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

from otel_distro._internal import fastpath
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
    makes an instance attribute, as for any Python object); only those that differ are set per span. The
    middleware's own attributes stay a plain dict unless span limits would cut them (a length limit, or more
    of them than the count limit); then, as from the app's first ``set_attribute``, a `BoundedAttributes`.
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
        self._resource = resource
        self._span_processor = span_processor
        self._limits = limits
        self._instrumentation_scope = scope
        # Re-entrant: code reached from inside a change (the SDK's set_status warning, through a logging handler)
        # may touch this span again on the same thread.
        self._lock = threading.RLock()  # type: ignore[assignment]
        if record_end_metrics is not None:
            self._record_end_metrics = record_end_metrics
        max_count, max_length = limits.max_span_attributes, limits.max_span_attribute_length
        own: Any = attributes
        if max_length is not None or (max_count is not None and len(attributes) > max_count):
            own = BoundedAttributes(max_count, attributes, immutable=False, max_value_len=max_length)
        self._attributes: Any = own

    # Every change checks the end time and changes the span under the span's lock, so nothing can change a span
    # once `end` has handed it to the processors (it is not copied; the scrubber rewrites it in place).

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
        with self._lock:
            if self._end_time is None:
                self._bounded()._set_items(attributes)
                return
        _logger.warning("Setting attribute on ended span.")

    def set_attribute(self, key: str, value: types.AnyValue) -> None:
        with self._lock:
            if self._end_time is None:
                self._bounded()[key] = value
                return
        _logger.warning("Setting attribute on ended span.")

    def _set_own_attributes(self, attributes: Mapping[str, Any]) -> None:
        """The middleware's own closing attributes (plain strings and integers) while the span is open."""
        with self._lock:
            if self._end_time is not None:
                return
            current = self._attributes
            max_count = self._limits.max_span_attributes
            if isinstance(current, BoundedAttributes) or (
                max_count is not None and len(current) + len(attributes) > max_count
            ):
                self._bounded()._set_items(attributes)
            else:
                current.update(attributes)

    def _add_event(self, event: sdk_trace.EventBase) -> None:
        with self._lock:
            if self._end_time is None:
                if not isinstance(self._events, BoundedList):
                    self._events = BoundedList(self._limits.max_events)
                self._events.append(event)
                return
        _logger.warning("Tried calling %s on an ended span.", "_add_event")

    def _add_link(self, link: trace.Link) -> None:
        with self._lock:
            if self._end_time is None:
                if not isinstance(self._links, BoundedList):
                    self._links = BoundedList(self._limits.max_links)
                self._links.append(link)
                return
        _logger.warning("Tried calling %s on an ended span.", "_add_link")

    def update_name(self, name: str) -> None:
        with self._lock:
            if self._end_time is None:
                self._name = name
                return
        _logger.warning("Tried calling %s on an ended span.", "update_name")

    def set_status(self, status: Status | StatusCode, description: str | None = None) -> None:
        with self._lock:  # the SDK's rules (its method checks the end time itself), but under the lock
            super().set_status(status, description)

    def end(self, end_time: int | None = None) -> None:
        with self._lock:
            ended = self._end_time is not None
            if not ended:
                self._end_time = end_time if end_time is not None else _time_ns()
                if isinstance(self._attributes, BoundedAttributes):
                    self._attributes._immutable = True
        if ended:
            _logger.warning("Calling end() on an ended span.")  # as the SDK says it
            return
        if self._record_end_metrics is not None:
            self._record_end_metrics()
        processor = self._span_processor
        for hooked, _, empty in _hooks(processor):
            if not empty or "_on_ending" in getattr(hooked, "__dict__", _NO_DICT):
                hooked._on_ending(self)
        # The span itself, not a copy: nothing can change it any more (every change checks the end time under
        # the lock that `end` set it under).
        processor.on_end(self)


def _does_nothing(function: Any) -> bool:
    """Whether ``function``'s body is only ``pass`` / ``return None`` (a docstring aside)."""
    code = getattr(function, "__code__", None)
    if code is None:
        return False
    steps = [(i.opname, i.argval) for i in dis.get_instructions(code) if i.opname not in {"RESUME", "NOP"}]
    return steps in ([("LOAD_CONST", None), ("RETURN_VALUE", None)], [("RETURN_CONST", None)])


#: A processor and whether its class's ``on_start`` and ``_on_ending`` are empty.
_Hook = tuple[Any, bool, bool]
_hook_cache: dict[int, tuple[Any, tuple[_Hook, ...]]] = {}
_NO_DICT: dict[str, Any] = {}


def _hooks(processor: Any) -> tuple[_Hook, ...]:
    """The provider's processors, each with whether its class leaves ``on_start`` / ``_on_ending`` empty.

    Most processors do (the batch processors, the distro's own); calling them would cost two calls each per
    request. Looked up again whenever the provider's processor tuple is replaced (adding a processor makes a
    new one); a hook set on the instance itself (``mock.patch.object``) is always called, one patched onto a
    processor's class after its first server span is not. Any other composite
    processor is called as it is.
    """
    inner = getattr(processor, "_span_processors", None)
    if type(processor) is not sdk_trace.SynchronousMultiSpanProcessor or not isinstance(inner, tuple):
        return ((processor, False, False),)
    cached = _hook_cache.get(id(processor))
    if cached is not None and cached[0] is inner:
        return cached[1]
    hooks = tuple(
        (
            p,
            _does_nothing(getattr(type(p), "on_start", None)),
            _does_nothing(getattr(type(p), "_on_ending", None)),
        )
        for p in inner
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
    if not fastpath.active() or not isinstance(tracer, sdk_trace.Tracer):
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
        # What the sampler kept, validated as the SDK's own spans keep it (a sampler may add any value).
        attributes = BoundedAttributes(  # type: ignore[assignment]
            limits.max_span_attributes,
            result.attributes,
            immutable=False,
            max_value_len=limits.max_span_attribute_length,
        )
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
    for hooked, empty, _ in _hooks(processor):
        if not empty or "on_start" in getattr(hooked, "__dict__", _NO_DICT):
            hooked.on_start(span, parent_context=parent)
    return span

