r"""``pii``: scrub personal data and secrets from spans, logs and metrics, in place on the OTLP request.

Same engine and default rules as ``otel-distro scrub`` and the app-side adapters (`otel_distro.scrubbing`).
It looks at span names, attributes, events, links and status messages; log bodies (string or structured) and
attributes; metric data point and exemplar attributes; resource and scope attributes. Only the sensitive span of
a value is replaced (``[REDACTED:email]``, or a keyed pseudonym ``[email:3f9a...]`` when an HMAC key is set).

Keys shared with otelcol-contrib's ``redaction`` processor keep their meaning where it makes sense:
``allow_all_keys`` / ``allowed_keys`` (attributes not allowed are removed; here ``allow_all_keys`` defaults to
true because detection reads values), ``ignored_keys`` (never touched), ``blocked_key_patterns`` (values of
matching keys are redacted whole), ``blocked_values`` (value patterns), ``allowed_values`` (findings to keep),
``hash_function`` and ``summary``.

The HMAC key is read from the environment variable named by ``hmac_key_env``, never from the config file.
Attributes removed because they are not in ``allowed_keys`` are counted as kind ``disallowed_key``. Every
redaction is counted in ``otelcol_processor_pii_redactions_total{processor, kind}``; spans and log records that
had any also get ``redaction.count`` and ``redaction.kinds`` (metric points do not: it would split the series).

Example::

    processors:
      pii:
        hmac_key_env: OTEL_DISTRO_SCRUB_KEY      # pseudonyms when set, [REDACTED:<kind>] otherwise
        disabled_kinds: [ipv4]                   # keep client IPs, e.g. on an internal pipeline
        ignored_keys: [db.statement]             # never touched
        blocked_key_patterns: ["^x-internal-"]   # values of these keys always go
        rules:
          - {name: customer_id, kind: customer_id, pattern: '\bCUST-\d{6}\b'}
"""

from __future__ import annotations

import os
import re
from collections import Counter
from typing import Any, Literal, Self

from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Status
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from collector.component import CreateSettings, Telemetry
from collector.pdata import Batch, Signal
from collector.processors._pii_wire import (
    BYTES_TAG,
    LEAN_EVENT,
    LEAN_LINK,
    LEAN_LOGS,
    LEAN_TRACES,
    any_string,
    encode_any_string,
    encode_key_value,
    split_key_value,
)
from otel_distro.scrubbing import COUNT_KEY, KEYED_KINDS, KINDS_KEY, Rule, Scrubber, default_rules

__all__ = ["SIGNALS", "TYPE", "Config", "PiiProcessor", "RuleConfig", "create"]

TYPE = "pii"
SIGNALS = frozenset(Signal)

_REDACTIONS_METRIC = "otelcol_processor_pii_redactions_total"
_REMOVED_KIND = "disallowed_key"
_KIND_RE = re.compile(r"^[a-z][a-z0-9_]*$")
_UNKEYED_HASHES = ("md5", "sha1", "sha3", "sha256", "sha512")


def _check_pattern(pattern: str) -> str:
    try:
        Scrubber(rules=[], extra_patterns=[pattern])
    except ValueError as exc:
        raise ValueError(str(exc).replace("rule 'extra_0': ", "")) from None
    return pattern


class RuleConfig(BaseModel):
    """A user detector: every match of `pattern` (RE2 syntax) — or of its capture `group` — is redacted."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    kind: str = "custom"
    pattern: str = Field(min_length=1)
    group: int = Field(default=0, ge=0)

    @field_validator("kind")
    @classmethod
    def _kind_shape(cls, value: str) -> str:
        if not _KIND_RE.match(value):
            raise ValueError(f"kind {value!r} must be lower-case letters, digits and '_' (e.g. 'customer_id')")
        return value

    @field_validator("pattern")
    @classmethod
    def _pattern_compiles(cls, value: str) -> str:
        return _check_pattern(value)

    @model_validator(mode="after")
    def _group_exists(self) -> Self:
        try:
            Scrubber(rules=[Rule(self.name, self.kind, self.pattern, self.group)])
        except ValueError as exc:
            raise ValueError(str(exc)) from None
        return self


class Config(BaseModel):
    model_config = ConfigDict(extra="forbid")

    default_rules: bool = True
    """Use the shipped detectors (e-mail, phone, cards, IBAN, tokens, keys naming secrets, ...)."""
    rules: list[RuleConfig] = Field(default_factory=list)
    disabled_kinds: list[str] = Field(default_factory=list)
    allow_all_keys: bool = True
    allowed_keys: list[str] = Field(default_factory=list)
    ignored_keys: list[str] = Field(default_factory=list)
    blocked_keys: list[str] = Field(default_factory=list)
    blocked_key_patterns: list[str] = Field(default_factory=list)
    blocked_values: list[str] = Field(default_factory=list)
    allowed_values: list[str] = Field(default_factory=list)
    """Patterns for findings to keep (matched against the whole finding), e.g. ``.+@example\\.com``."""
    hash_function: str | None = None
    """None: keyed pseudonyms when the key variable is set, placeholders otherwise. ``hmac-sha256``: pseudonyms,
    and the key variable must be set. ``none``: always placeholders."""
    hmac_key_env: str = Field(default="OTEL_DISTRO_SCRUB_KEY", min_length=1)
    summary: Literal["silent", "info", "debug"] = "info"
    """``info`` / ``debug``: spans and log records that had redactions get ``redaction.count`` and
    ``redaction.kinds``; ``silent``: nothing is added (redactions are still counted in the metric)."""

    @field_validator("blocked_key_patterns", "blocked_values", "allowed_values")
    @classmethod
    def _patterns_compile(cls, values: list[str]) -> list[str]:
        for i, pattern in enumerate(values):
            try:
                _check_pattern(pattern)
            except ValueError as exc:
                raise ValueError(f"[{i}]: {exc}") from None
        return values

    @field_validator("hash_function")
    @classmethod
    def _hash_function(cls, value: str | None) -> str | None:
        if value is None:
            return None
        lowered = value.lower()
        if lowered in _UNKEYED_HASHES:
            raise ValueError(f"{value!r} is an unkeyed hash: e-mails and phone numbers are few enough to be "
                             "recovered from it by brute force; use 'hmac-sha256' (key from hmac_key_env) or 'none'")
        if lowered not in ("none", "hmac-sha256"):
            raise ValueError(f"unknown hash_function {value!r} (valid: 'hmac-sha256', 'none')")
        return lowered

    @field_validator("disabled_kinds")
    @classmethod
    def _known_kinds(cls, values: list[str]) -> list[str]:
        bad = [v for v in values if not _KIND_RE.match(v)]
        if bad:
            raise ValueError(f"invalid kind(s) {bad}: kinds are lower-case letters, digits and '_'")
        return values

    @model_validator(mode="after")
    def _allowed_keys_need_allow_all_off(self) -> Self:
        if self.allowed_keys and self.allow_all_keys:
            raise ValueError("allowed_keys has no effect while allow_all_keys is true; "
                             "set allow_all_keys: false to remove every attribute not listed")
        return self

    @model_validator(mode="after")
    def _kinds_exist_and_rules_combine(self) -> Self:
        known = KEYED_KINDS | {"blocked_value"} | {r.kind for r in self.rules}
        if self.default_rules:
            known |= {r.kind for r in default_rules()}
        unknown = sorted(set(self.disabled_kinds) - known)
        if unknown:
            raise ValueError(f"disabled_kinds: unknown kind(s) {', '.join(unknown)} "
                             f"(valid: {', '.join(sorted(known))})")
        try:
            build_scrubber(self, hmac_key=None)
        except ValueError as exc:
            raise ValueError(str(exc)) from None
        return self


def _hmac_key(config: Config) -> bytes | None:
    if config.hash_function == "none":
        return None
    value = os.environ.get(config.hmac_key_env, "")
    if not value:
        if config.hash_function == "hmac-sha256":
            raise ValueError(f"hash_function: hmac-sha256 needs the HMAC key in the environment variable "
                             f"{config.hmac_key_env} (hmac_key_env), which is not set")
        return None
    return value.encode("utf-8")


def build_scrubber(config: Config, hmac_key: bytes | None = None) -> Scrubber:
    extra = [Rule(r.name, r.kind, r.pattern, r.group) for r in config.rules]
    extra += [Rule(f"blocked_values[{i}]", "blocked_value", p) for i, p in enumerate(config.blocked_values)]
    return Scrubber(
        rules=None if config.default_rules else [],
        extra_patterns=extra,
        blocked_keys=config.blocked_keys,
        blocked_key_patterns=config.blocked_key_patterns,
        allowed_keys=config.ignored_keys,
        allowed_values=config.allowed_values,
        disabled_kinds=config.disabled_kinds,
        hmac_key=hmac_key,
    )


_CACHE_MAX = 8192  # entries of each processor cache (cleared when full)
_CLEAN_TEXT_MAX = 512  # longer texts are not remembered
_UNSEEN = "?"  # not a kind: a key not classified yet
_CLEAN_KV_MAX = 600  # longer serialized pairs are not remembered
_SCALAR_TAGS = frozenset({b"", b"\x10", b"\x18", b"\x21"})  # no value, bool, int, double (bytes may hold text)
_COUNT_KEY_B = COUNT_KEY.encode()
_INT64_MAX = 2**63 - 1
_KINDS_KEY_B = KINDS_KEY.encode()
_SCALARS = frozenset({None, "int_value", "double_value", "bool_value"})


class PiiProcessor:
    """Edits the batch in place and returns it; counts redactions by kind.

    The walk reads the request without taking it for editing (`Batch.view`): a batch in which nothing was
    redacted keeps the bytes it arrived as, and is not serialized again. Two caches keep the per-attribute cost
    at a dict lookup or two: the kind of each key seen (``never``: skipped without reading the value), and
    texts recently found clean — route names, methods, user agents, status messages repeat on every request.
    Only clean values are remembered; a value that held something to redact is never kept.

    Thread safe (a big batch is processed in a worker thread while the event loop runs others): per-call state
    stays in the call; the caches only ever hold entries that are true, so a lost insertion costs a lookup.
    """

    thread_safe = True

    def __init__(self, scrubber: Scrubber, config: Config, telemetry: Telemetry, component: str) -> None:
        self._scrubber = scrubber
        self._summary = config.summary != "silent"
        self._telemetry = telemetry
        self._component = component
        self._allowed: frozenset[str] | None = None
        if not config.allow_all_keys:
            self._allowed = frozenset(config.allowed_keys) | frozenset(config.ignored_keys)
        self._kinds: dict[str, str | None] = {}
        self._clean: dict[str, None] = {}
        self._kinds_b: dict[bytes, str | None] = {}
        self._clean_kv: dict[bytes, None] = {}  # serialized KeyValues found clean

    def __call__(self, batch: Batch) -> Batch:
        if self._allowed is None and batch.signal is not Signal.METRICS and not batch.message_held:
            return self._lean(batch)  # the pipeline's case: a batch as received
        total: Counter[str] = Counter()
        counts: Counter[str] = Counter()  # per call, emptied after each item that used it (thread safe)
        request: Any = batch.view
        if batch.signal is Signal.TRACES:
            for rs in request.resource_spans:
                self._attributes(rs.resource.attributes, total)
                for ss in rs.scope_spans:
                    self._attributes(ss.scope.attributes, total)
                    for span in ss.spans:
                        self._span(span, total, counts)
        elif batch.signal is Signal.LOGS:
            for rl in request.resource_logs:
                self._attributes(rl.resource.attributes, total)
                for sl in rl.scope_logs:
                    self._attributes(sl.scope.attributes, total)
                    for record in sl.log_records:
                        self._log_record(record, total, counts)
        else:
            for rm in request.resource_metrics:
                self._attributes(rm.resource.attributes, total)
                for sm in rm.scope_metrics:
                    self._attributes(sm.scope.attributes, total)
                    for metric in sm.metrics:
                        self._metric(metric, total)
        if total:  # something was redacted or removed: the bytes the batch came with are stale
            batch.request  # noqa: B018 - taking the message for editing drops them
        for kind, n in total.items():
            self._telemetry.add(_REDACTIONS_METRIC, n, {"processor": self._component, "kind": kind},
                                description="Values redacted by the pii processor, by kind")
        return batch

    # --- traces and logs, on their serialized attributes (`_pii_wire`) ----------------------------------------

    def _lean(self, batch: Batch) -> Batch:
        total: Counter[str] = Counter()
        counts: Counter[str] = Counter()  # per call, emptied after each item that used it (thread safe)
        request: Any
        if batch.signal is Signal.TRACES:
            request = LEAN_TRACES.FromString(batch.to_bytes())
            for rs in request.resource_spans:
                self._kvs(rs.resource.attributes, total)
                for ss in rs.scope_spans:
                    self._kvs(ss.scope.attributes, total)
                    for span in ss.spans:
                        self._lean_span(span, total, counts)
        else:
            request = LEAN_LOGS.FromString(batch.to_bytes())
            for rl in request.resource_logs:
                self._kvs(rl.resource.attributes, total)
                for sl in rl.scope_logs:
                    self._kvs(sl.scope.attributes, total)
                    for record in sl.log_records:
                        self._lean_record(record, total, counts)
        if total:  # something was redacted: the batch is what the lean messages hold now
            batch.replace_bytes(request.SerializeToString())
        for kind, n in total.items():
            self._telemetry.add(_REDACTIONS_METRIC, n, {"processor": self._component, "kind": kind},
                                description="Values redacted by the pii processor, by kind")
        return batch

    def _lean_span(self, span: Any, total: Counter[str], counts: Counter[str]) -> None:
        name = span.name
        if name and name not in self._clean:
            new = self._text(name, counts)
            if new is not name:
                span.name = new
        self._kvs(span.attributes, counts)
        events = span.events
        if events:
            for i, data in enumerate(events):
                event = LEAN_EVENT.FromString(data)
                before = counts.total()
                ev_name = event.name
                if ev_name and ev_name not in self._clean:
                    new = self._text(ev_name, counts)
                    if new is not ev_name:
                        event.name = new
                self._kvs(event.attributes, counts)
                if counts.total() != before:
                    events[i] = event.SerializeToString()
        links = span.links
        if links:
            for i, data in enumerate(links):
                link = LEAN_LINK.FromString(data)
                before = counts.total()
                self._kvs(link.attributes, counts)
                if counts.total() != before:
                    links[i] = link.SerializeToString()
        status = span.status
        if status and b"\x12" in status:  # it may have a message (field 2): a bare code never does
            self._lean_status(span, status, counts)
        if counts:
            self._summarise_lean(span.attributes, counts)
            total.update(counts)
            counts.clear()

    def _lean_status(self, span: Any, data: bytes, counts: Counter[str]) -> None:
        status = Status.FromString(data)
        message = status.message
        if message and message not in self._clean:
            new = self._text(message, counts)
            if new is not message:
                status.message = new
                span.status = status.SerializeToString()

    def _lean_record(self, record: Any, total: Counter[str], counts: Counter[str]) -> None:
        if record.HasField("body"):
            body = record.body
            text = any_string(body)
            if text is not None:
                new = self._scrub(text, counts)
                if new is not None:
                    record.body = encode_any_string(new)
            else:
                value = AnyValue.FromString(body)
                before = counts.total()
                self._value(value, None, counts)
                if counts.total() != before:
                    record.body = value.SerializeToString()
        self._kvs(record.attributes, counts)
        if counts:
            self._summarise_lean(record.attributes, counts)
            total.update(counts)
            counts.clear()

    def _scrub(self, text: bytes, counts: Counter[str]) -> bytes | None:
        """`Scrubber.scrub_text` on UTF-8: the new bytes, or None when nothing was redacted."""
        if len(text) < 5 or (not text.isascii() and len(text.decode("utf-8", "surrogatepass")) < 5):
            return None  # what scrub_text returns untouched
        return self._scrubber.scrub_bytes(text, counts)

    def _kvs(self, attributes: Any, counts: Counter[str]) -> None:
        """Serialized ``KeyValue``s: a pair seen clean is one lookup; a short string pair is read inline; the
        rest are split, or read whole."""
        if not attributes:
            return
        clean, kinds = self._clean_kv, self._kinds_b
        for i, kv in enumerate(attributes):
            if kv in clean:
                continue
            # the usual shape, every length under 128: 0A klen key 12 vlen 0A slen text
            n = len(kv)
            if n > 5 and kv[0] == 0x0A and kv[1] < 0x80:
                end = 2 + kv[1]
                key = kv[2:end]
                kind = kinds.get(key, _UNSEEN)
                if kind == "never":
                    continue
                if (kind is None and end + 4 <= n and kv[end] == 0x12 and kv[end + 1] == n - end - 2
                        and kv[end + 2] == 0x0A and kv[end + 3] == n - end - 4):
                    new = self._scrub(kv[end + 4 :], counts)
                    if new is None:
                        if n <= _CLEAN_KV_MAX:
                            if len(clean) >= _CACHE_MAX:
                                clean.clear()
                            clean[kv] = None
                    else:
                        attributes[i] = encode_key_value(key, new)
                    continue
            self._kv(attributes, i, kv, counts)

    def _kv(self, attributes: Any, i: int, kv: bytes, counts: Counter[str]) -> None:
        """Any other serialized ``KeyValue``."""
        parts = split_key_value(kv)
        if parts is None:
            self._kv_message(attributes, i, kv, counts)
            return
        key, value = parts
        kind = self._kinds_b.get(key, _UNSEEN)
        if kind == _UNSEEN:
            kind = self._kind_b(key)
        if kind == "never":
            return
        if kind is not None:
            self._kv_message(attributes, i, kv, counts)
            return
        text, tag = any_string(value), 0x0A
        if text is None:  # bytes: scrubbed as text when they are UTF-8, and stay bytes; binary ones are kept
            text, tag = any_string(value, BYTES_TAG), BYTES_TAG
            if text is None and value[:1] not in _SCALAR_TAGS:  # an array, a kvlist: walked with the full types
                self._kv_message(attributes, i, kv, counts)
                return
        new = None if text is None or (tag == BYTES_TAG and not _is_utf8(text)) else self._scrub(text, counts)
        if new is None:
            if len(kv) <= _CLEAN_KV_MAX:
                clean = self._clean_kv
                if len(clean) >= _CACHE_MAX:
                    clean.clear()
                clean[kv] = None
        else:
            attributes[i] = encode_key_value(key, new, tag)

    def _kind_b(self, key: bytes) -> str | None:
        kinds = self._kinds_b
        if len(kinds) >= _CACHE_MAX:
            kinds.clear()
        kind = kinds[key] = self._scrubber.classify_key(key.decode("utf-8", "surrogatepass"))
        return kind

    def _kv_message(self, attributes: Any, i: int, kv: bytes, counts: Counter[str]) -> None:
        """One attribute read with the full types (a key that names a kind, a structured value, an unusual
        encoding); written back only when something in it was redacted."""
        message = KeyValue.FromString(kv)
        key = message.key
        key_kind = self._kinds[key] if key in self._kinds else self._kind(key)
        if key_kind == "never":
            return
        before = counts.total()
        self._value(message.value, key_kind, counts, key)
        if counts.total() != before:
            attributes[i] = message.SerializeToString()

    def _summarise_lean(self, attributes: Any, counts: Counter[str]) -> None:
        """`_summarise` on serialized attributes."""
        if not self._summary:
            return
        total, kinds = sum(counts.values()), set(counts)
        kept: list[bytes] = []
        for kv in attributes:
            if _COUNT_KEY_B not in kv and _KINDS_KEY_B not in kv:  # cannot be either: no need to read its key
                kept.append(kv)
                continue
            parts = split_key_value(kv)
            key = parts[0] if parts is not None else KeyValue.FromString(kv).key.encode()
            if key == _COUNT_KEY_B:
                total += KeyValue.FromString(kv).value.int_value
            elif key == _KINDS_KEY_B:
                kinds.update(v.string_value for v in KeyValue.FromString(kv).value.array_value.values)
            else:
                kept.append(kv)
        count = KeyValue(key=COUNT_KEY)
        count.value.int_value = min(total, _INT64_MAX)
        summary = KeyValue(key=KINDS_KEY)
        values = summary.value.array_value.values
        for kind in sorted(kinds):
            values.add().string_value = kind
        kept += [count.SerializeToString(), summary.SerializeToString()]
        del attributes[:]
        attributes.extend(kept)

    # --- records ---------------------------------------------------------------------------------------------

    def _text(self, text: str, counts: Counter[str]) -> str:
        """`Scrubber.scrub_text`, remembering texts found clean (the same object back means nothing changed)."""
        new = self._scrubber.scrub_text(text, counts)
        if new is text and len(text) <= _CLEAN_TEXT_MAX:
            clean = self._clean
            if len(clean) >= _CACHE_MAX:
                clean.clear()
            clean[text] = None
        return new

    def _span(self, span: Any, total: Counter[str], counts: Counter[str]) -> None:
        clean = self._clean
        name = span.name
        if name not in clean:
            new = self._text(name, counts)
            if new is not name:
                span.name = new
        self._attributes(span.attributes, counts)
        events = span.events
        if events:
            for event in events:
                ev_name = event.name
                if ev_name not in clean:
                    new = self._text(ev_name, counts)
                    if new is not ev_name:
                        event.name = new
                self._attributes(event.attributes, counts)
        links = span.links
        if links:
            for link in links:
                self._attributes(link.attributes, counts)
        message = span.status.message
        if message and message not in clean:
            new = self._text(message, counts)
            if new is not message:
                span.status.message = new
        if counts:
            self._summarise(span.attributes, counts)
            total.update(counts)
            counts.clear()

    def _log_record(self, record: Any, total: Counter[str], counts: Counter[str]) -> None:
        body = record.body
        text = body.string_value
        if text:  # the common body: a string (a non-empty string value is the string case of the oneof)
            if text not in self._clean:
                new = self._text(text, counts)
                if new is not text:
                    body.string_value = new
        elif record.HasField("body"):
            self._value(body, None, counts)
        self._attributes(record.attributes, counts)
        if counts:
            self._summarise(record.attributes, counts)
            total.update(counts)
            counts.clear()

    def _metric(self, metric: Any, total: Counter[str]) -> None:
        kind = metric.WhichOneof("data")
        if kind is None:
            return
        for point in getattr(metric, kind).data_points:
            # No summary here: extra attributes would make a new time series.
            self._attributes(point.attributes, total)
            for exemplar in getattr(point, "exemplars", ()):
                self._attributes(exemplar.filtered_attributes, total)

    def _summarise(self, attributes: Any, counts: Counter[str]) -> None:
        """Adds ``redaction.count`` / ``redaction.kinds``, on top of what an earlier scrubber (the app's) said."""
        if not self._summary:
            return
        total, kinds = sum(counts.values()), set(counts)
        for kv in list(attributes):
            if kv.key == COUNT_KEY:
                total += kv.value.int_value
                attributes.remove(kv)
            elif kv.key == KINDS_KEY:
                kinds.update(v.string_value for v in kv.value.array_value.values)
                attributes.remove(kv)
        attributes.add(key=COUNT_KEY).value.int_value = min(total, _INT64_MAX)  # a hostile count cannot overflow
        values = attributes.add(key=KINDS_KEY).value.array_value.values
        for kind in sorted(kinds):
            values.add().string_value = kind

    # --- values ----------------------------------------------------------------------------------------------

    def _kind(self, key: str) -> str | None:
        kinds = self._kinds
        if len(kinds) >= _CACHE_MAX:
            kinds.clear()
        kind = kinds[key] = self._scrubber.classify_key(key)
        return kind

    def _attributes(self, attributes: Any, counts: Counter[str]) -> None:
        if not attributes:
            return
        if self._allowed is not None:
            kept = [kv for kv in attributes if kv.key in self._allowed]
            removed = len(attributes) - len(kept)
            if removed:
                counts[_REMOVED_KIND] += removed
                survivors = [type(kv)() for kv in kept]
                for dst, src in zip(survivors, kept, strict=True):
                    dst.CopyFrom(src)
                del attributes[:]
                attributes.extend(survivors)
        kinds, clean = self._kinds, self._clean
        for kv in attributes:
            key = kv.key
            key_kind = kinds.get(key, _UNSEEN)
            if key_kind is None:  # the common case, inline: a key that says nothing, a string value
                value = kv.value
                text = value.string_value
                if text:
                    if text not in clean:
                        new = self._text(text, counts)
                        if new is not text:
                            value.string_value = new
                    continue
                if value.WhichOneof("value") in _SCALARS:
                    continue
                self._value(value, None, counts, key)
                continue
            if key_kind == _UNSEEN:
                key_kind = self._kind(key)
                if key_kind is None:
                    self._value(kv.value, None, counts, key)
                    continue
            if key_kind != "never":
                self._value(kv.value, key_kind, counts, key)

    def _value(self, value: Any, key_kind: str | None, counts: Counter[str], parent: str | None = None) -> None:
        which = value.WhichOneof("value")
        if which == "string_value":
            text = value.string_value
            if key_kind is not None:
                new = self._scrubber.redact_as(key_kind, text, counts)
            else:
                new = self._scrubber.scrub_text(text, counts)
            if new is not text:
                value.string_value = new
        elif which == "kvlist_value":
            classify = self._scrubber.classify_key
            for kv in value.kvlist_value.values:
                inner = classify(kv.key) if key_kind is None else key_kind
                if inner is None and parent is not None:
                    inner = self._scrubber.classify_nested(parent, kv.key)  # {"customer": {"name": ...}}
                if inner != "never":
                    self._value(kv.value, inner, counts, kv.key)
        elif which == "array_value":
            for item in value.array_value.values:
                self._value(item, key_kind, counts, parent)
        elif which == "bytes_value" and key_kind is None:  # UTF-8 text is scrubbed as text, and stays bytes
            raw = value.bytes_value
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                return  # binary
            new = self._scrubber.scrub_text(text, counts)
            if new is not text:
                value.bytes_value = new.encode("utf-8", "surrogatepass")
        elif key_kind is not None and which in ("int_value", "double_value", "bytes_value"):
            raw = getattr(value, which)
            text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
            new = self._scrubber.redact_as(key_kind, text, counts)
            if new != text:
                value.string_value = new


def _is_utf8(data: bytes) -> bool:
    if data.isascii():
        return True
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def create(settings: CreateSettings, config: Config) -> PiiProcessor:
    key = _hmac_key(config)
    try:
        scrubber = build_scrubber(config, key)
    except ValueError as exc:  # only the key can fail here: the rest was checked with the config
        raise ValueError(f"hmac_key_env: the key in {config.hmac_key_env} is unusable: {exc}") from None
    return PiiProcessor(scrubber, config, settings.telemetry, str(settings.id))
