"""The middleware's server span behaves as the SDK's own span would, for every processor and exporter."""

from __future__ import annotations

import logging
import threading
from typing import Any
from unittest import mock

import pytest
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, SpanLimits, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.id_generator import IdGenerator
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ParentBased, TraceIdRatioBased
from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, StatusCode, TraceFlags
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from otel_distro._internal.fastpath.server_span import ServerSpan, start_server_span


class _Recording(SpanProcessor):
    def __init__(self) -> None:
        self.started: list[Any] = []
        self.ended: list[Any] = []

    def on_start(self, span: Any, parent_context: Context | None = None) -> None:
        self.started.append(span)

    def on_end(self, span: ReadableSpan) -> None:
        self.ended.append(span)


class _FixedIds(IdGenerator):
    def generate_trace_id(self) -> int:
        return 0x1234

    def generate_span_id(self) -> int:
        return 0x99


def _provider(**kwargs: Any) -> tuple[TracerProvider, InMemorySpanExporter, _Recording]:
    provider = TracerProvider(**kwargs)
    recording = _Recording()
    exporter = InMemorySpanExporter()
    provider.add_span_processor(recording)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, exporter, recording


def test_a_root_span_is_exported_with_its_attributes_kind_and_times() -> None:
    provider, exporter, recording = _provider()
    span = start_server_span(provider.get_tracer("t"), "GET", None, {"http.request.method": "GET"})
    assert isinstance(span, ServerSpan)
    span._set_own_attributes({"http.route": "/items/{id}", "http.response.status_code": 200})
    span.update_name("GET /items/{id}")
    span.end()

    (exported,) = exporter.get_finished_spans()
    assert exported is span and recording.started == [span] and recording.ended == [span]
    assert exported.name == "GET /items/{id}"
    assert exported.kind is SpanKind.SERVER
    assert dict(exported.attributes or {}) == {
        "http.request.method": "GET", "http.route": "/items/{id}", "http.response.status_code": 200,
    }
    assert exported.parent is None
    assert exported.start_time is not None and exported.end_time is not None
    assert exported.start_time <= exported.end_time
    assert exported.resource is provider.resource
    assert exported.instrumentation_scope is not None and exported.instrumentation_scope.name == "t"
    assert exported.context.trace_flags.sampled
    assert exported.events == () and exported.links == () and exported.dropped_attributes == 0
    assert '"kind": "SpanKind.SERVER"' in exported.to_json()


def test_a_remote_parent_from_traceparent_is_the_parent_and_sets_the_trace() -> None:
    provider, exporter, _ = _provider()
    carrier = {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}
    parent = TraceContextTextMapPropagator().extract(carrier)
    span = start_server_span(provider.get_tracer("t"), "GET", parent, {})
    span.end()
    (exported,) = exporter.get_finished_spans()
    assert exported.context.trace_id == 0x0AF7651916CD43DD8448EB211C80319C
    assert exported.parent is not None and exported.parent.span_id == 0xB7AD6B7169203331
    assert exported.parent.is_remote


def test_the_providers_id_generator_makes_the_ids() -> None:
    provider, exporter, _ = _provider(id_generator=_FixedIds())
    start_server_span(provider.get_tracer("t"), "GET", None, {}).end()
    (exported,) = exporter.get_finished_spans()
    assert (exported.context.trace_id, exported.context.span_id) == (0x1234, 0x99)


def test_a_sampler_that_drops_gives_a_non_recording_span_that_is_never_exported() -> None:
    provider, exporter, recording = _provider(sampler=ALWAYS_OFF)
    span = start_server_span(provider.get_tracer("t"), "GET", None, {"a": 1})
    assert isinstance(span, NonRecordingSpan) and not span.is_recording()
    assert span.get_span_context().is_valid and not span.get_span_context().trace_flags.sampled
    span.end()
    assert exporter.get_finished_spans() == () and recording.started == []


def test_an_unsampled_remote_parent_is_followed_by_the_parent_based_sampler() -> None:
    provider, exporter, _ = _provider(sampler=ParentBased(TraceIdRatioBased(1.0)))
    parent_ctx = SpanContext(0xABC, 0xDEF, is_remote=True, trace_flags=TraceFlags(0))
    parent = trace.set_span_in_context(NonRecordingSpan(parent_ctx))
    span = start_server_span(provider.get_tracer("t"), "GET", parent, {})
    assert not span.is_recording()
    span.end()
    assert exporter.get_finished_spans() == ()


def test_a_disabled_tracer_makes_no_recording_span() -> None:
    provider, _, _ = _provider()
    provider._disabled = True  # OTEL_SDK_DISABLED: the provider hands out no-op tracers
    span = start_server_span(provider.get_tracer("t"), "GET", None, {})
    assert not span.is_recording()


def test_any_other_tracer_is_used_as_it_is() -> None:
    span = start_server_span(trace.NoOpTracer(), "GET", None, {"a": 1})
    assert isinstance(span, NonRecordingSpan)


def test_values_the_app_sets_are_validated_and_limited_as_the_sdk_does(caplog: pytest.LogCaptureFixture) -> None:
    limits = SpanLimits(max_span_attributes=4, max_span_attribute_length=5)
    provider, exporter, _ = _provider(span_limits=limits)
    tracer = provider.get_tracer("t")
    ours = start_server_span(tracer, "GET", None, {"a": 1, "b": 2})
    sdk = tracer.start_span("GET", None, SpanKind.SERVER, {"a": 1, "b": 2})
    assert isinstance(ours, ServerSpan) and not isinstance(sdk, ServerSpan)
    for span in (ours, sdk):
        span.set_attribute("user.name", "abcdefgh")  # cut to the length limit
        with caplog.at_level(logging.WARNING):
            span.set_attribute("bad", object())  # type: ignore[arg-type]  # not a valid attribute value
        span.set_attributes({"c": 3, "d": 4})  # over the count limit: dropped and counted
        span.end()
    exported_ours, exported_sdk = exporter.get_finished_spans()
    assert dict(exported_ours.attributes or {}) == dict(exported_sdk.attributes or {})
    assert exported_ours.attributes is not None and exported_ours.attributes["user.name"] == "abcde"
    assert exported_ours.dropped_attributes == exported_sdk.dropped_attributes >= 1


def test_events_exceptions_status_and_links_are_recorded() -> None:
    provider, exporter, _ = _provider()
    span = start_server_span(provider.get_tracer("t"), "GET", None, {})
    span.add_event("cache_miss", {"key": "k"})
    try:
        raise ValueError("boom")
    except ValueError as exc:
        span.record_exception(exc)
    span.set_status(trace.Status(StatusCode.ERROR, "ValueError: boom"))
    span.add_link(SpanContext(0x1, 0x2, is_remote=True))
    span.end()
    (exported,) = exporter.get_finished_spans()
    assert [event.name for event in exported.events] == ["cache_miss", "exception"]
    assert exported.events[1].attributes is not None
    assert exported.events[1].attributes["exception.type"] == "ValueError"
    assert exported.status.status_code is StatusCode.ERROR
    assert [link.context.span_id for link in exported.links] == [0x2]


def test_an_ended_span_is_exported_once_and_no_longer_changes(caplog: pytest.LogCaptureFixture) -> None:
    provider, exporter, recording = _provider()
    span = start_server_span(provider.get_tracer("t"), "GET", None, {"a": 1})
    assert isinstance(span, ServerSpan)
    span.end()
    with caplog.at_level(logging.WARNING):
        span.end()
        span.set_attribute("late", 1)
        span._set_own_attributes({"late2": 2})
        span.add_event("late")
        span.update_name("renamed")
    assert len(exporter.get_finished_spans()) == 1 and len(recording.ended) == 1
    assert dict(span.attributes or {}) == {"a": 1}
    assert span.events == () and span.name == "GET"
    assert "ended span" in caplog.text


@pytest.mark.parametrize("sampled", [True, False])
def test_with_the_default_sampler_a_remote_parents_decision_and_trace_state_are_kept(sampled: bool) -> None:
    provider, exporter, _ = _provider()  # the SDK default: parentbased_always_on
    flags = "01" if sampled else "00"
    carrier = {
        "traceparent": f"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-{flags}",
        "tracestate": "vendor=abc",
    }
    parent = TraceContextTextMapPropagator().extract(carrier)
    ours = start_server_span(provider.get_tracer("t"), "GET", parent, {"a": 1})
    sdk = provider.get_tracer("t").start_span("GET", parent, SpanKind.SERVER, {"a": 1})
    for span in (ours, sdk):
        assert span.is_recording() is sampled
        context = span.get_span_context()
        assert context.trace_flags.sampled is sampled
        assert context.trace_state.get("vendor") == "abc"
        assert context.trace_flags == sdk.get_span_context().trace_flags
        span.end()
    assert len(exporter.get_finished_spans()) == (2 if sampled else 0)


class _Ending(SpanProcessor):
    def __init__(self) -> None:
        self.ending: list[Any] = []

    def _on_ending(self, span: Any) -> None:
        self.ending.append(span.name)


def test_processors_added_later_see_start_and_ending_too() -> None:
    provider, _, first = _provider()
    tracer = provider.get_tracer("t")
    start_server_span(tracer, "GET", None, {}).end()
    later, ending = _Recording(), _Ending()
    provider.add_span_processor(later)
    provider.add_span_processor(ending)
    span = start_server_span(tracer, "POST", None, {})
    span.end()
    assert later.started == [span] and later.ended == [span]
    assert ending.ending == ["POST"]
    assert len(first.started) == 2


def test_only_empty_hooks_are_skipped() -> None:
    from otel_distro._internal.fastpath.server_span import _does_nothing  # noqa: PLC0415 - the detail under test

    def documented(self: Any, span: Any) -> None:
        """Does nothing, but says so."""

    def returns_none(self: Any, span: Any) -> None:
        return None

    def records(self: Any, span: Any) -> None:
        self.seen = span

    assert _does_nothing(documented) and _does_nothing(returns_none) and _does_nothing(SpanProcessor.on_start)
    assert not _does_nothing(records) and not _does_nothing(_Recording.on_start)
    assert not _does_nothing(len)  # a builtin: no code to read, so it is called


def test_span_limits_apply_to_the_middlewares_own_attributes_too() -> None:
    limits = SpanLimits(max_span_attributes=3, max_span_attribute_length=4)
    provider, exporter, _ = _provider(span_limits=limits)
    tracer = provider.get_tracer("t")
    start = {"url.path": "/a/long/path", "user_agent.original": "curl/8.0", "url.scheme": "http"}
    closing = {"http.route": "/a/{b}", "http.response.status_code": 200}
    ours = start_server_span(tracer, "GET", None, dict(start))
    assert isinstance(ours, ServerSpan)
    ours._set_own_attributes(closing)
    sdk = tracer.start_span("GET", None, SpanKind.SERVER, dict(start))
    sdk.set_attributes(closing)
    ours.end()
    sdk.end()
    exported_ours, exported_sdk = exporter.get_finished_spans()
    assert dict(exported_ours.attributes or {}) == dict(exported_sdk.attributes or {})
    assert all(len(v) <= 4 for v in (exported_ours.attributes or {}).values() if isinstance(v, str))
    assert exported_ours.dropped_attributes == exported_sdk.dropped_attributes == 2


def test_too_many_own_attributes_for_the_count_limit_are_dropped_and_counted() -> None:
    provider, exporter, _ = _provider(span_limits=SpanLimits(max_span_attributes=2))
    span = start_server_span(provider.get_tracer("t"), "GET", None, {"a": 1, "b": 2, "c": 3})
    span.end()
    (exported,) = exporter.get_finished_spans()
    assert len(exported.attributes or {}) == 2 and exported.dropped_attributes == 1


def test_each_span_has_its_own_lock() -> None:
    provider, _, _ = _provider()
    tracer = provider.get_tracer("t")
    first, second = (start_server_span(tracer, "GET", None, {}) for _ in range(2))
    assert isinstance(first, ServerSpan) and isinstance(second, ServerSpan)
    assert first._lock is not second._lock


def test_a_processor_or_log_handler_touching_the_span_while_it_ends_does_not_deadlock(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Toucher(SpanProcessor):
        def on_end(self, span: ReadableSpan) -> None:
            span.set_attribute("late", 1)  # type: ignore[attr-defined]  # refused (ended), with the SDK's warning
            span.end()  # type: ignore[attr-defined]  # a second end: warned

    class Handler(logging.Handler):
        touched = False

        def emit(self, record: logging.LogRecord) -> None:
            if not self.touched:  # once: its own warning would come back here
                self.touched = True
                trace.get_current_span().set_attribute("warned", record.getMessage())

    provider, exporter, _ = _provider()
    provider.add_span_processor(Toucher())
    handler = Handler()
    logging.getLogger("opentelemetry.sdk.trace").addHandler(handler)
    done = threading.Event()

    errors: list[BaseException] = []

    def run() -> None:
        try:
            span = start_server_span(provider.get_tracer("t"), "GET", None, {})
            with trace.use_span(span, end_on_exit=False):
                span.end()
        except BaseException as exc:  # reported below, not lost in the thread
            errors.append(exc)
        done.set()

    try:
        worker = threading.Thread(target=run, daemon=True)
        worker.start()
        assert done.wait(10), "ending the span deadlocked"
        assert errors == []
        assert handler.touched
    finally:
        logging.getLogger("opentelemetry.sdk.trace").removeHandler(handler)
    (exported,) = exporter.get_finished_spans()
    assert "late" not in (exported.attributes or {}) and "warned" not in (exported.attributes or {})


def test_a_hook_patched_on_the_processor_instance_is_called() -> None:
    provider, _, _ = _provider()
    plain = SimpleSpanProcessor(InMemorySpanExporter())
    provider.add_span_processor(plain)
    tracer = provider.get_tracer("t")
    with mock.patch.object(plain, "on_start") as on_start, mock.patch.object(plain, "_on_ending") as on_ending:
        span = start_server_span(tracer, "GET", None, {})
        span.end()
    assert on_start.call_count == 1 and on_ending.call_count == 1


def test_attributes_a_custom_sampler_adds_are_kept_as_the_sdk_keeps_them() -> None:
    from opentelemetry.sdk.trace.sampling import Decision, Sampler, SamplingResult  # noqa: PLC0415

    class Tagging(Sampler):
        def should_sample(self, parent_context: Any, trace_id: int, name: str, kind: Any = None,
                          attributes: Any = None, links: Any = None, trace_state: Any = None) -> SamplingResult:
            return SamplingResult(Decision.RECORD_AND_SAMPLE, {**(attributes or {}), "sampler.tags": ["a", "b"]})

        def get_description(self) -> str:
            return "Tagging"

    provider, exporter, _ = _provider(sampler=Tagging())
    tracer = provider.get_tracer("t")
    start_server_span(tracer, "GET", None, {"a": 1}).end()
    tracer.start_span("GET", None, SpanKind.SERVER, {"a": 1}).end()
    ours, sdk = exporter.get_finished_spans()
    assert dict(ours.attributes or {}) == dict(sdk.attributes or {}) == {"a": 1, "sampler.tags": ("a", "b")}
