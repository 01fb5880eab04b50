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

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from collector.component import CreateSettings, Telemetry
from collector.pdata import Batch, Signal
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
_SCALARS = frozenset({None, "int_value", "double_value", "bool_value", "bytes_value"})


class PiiProcessor:
    """Edits the batch in place and returns it; counts redactions by kind.

    The walk reads the request without taking it for editing (`Batch.view`): a batch in which nothing was
    redacted keeps the bytes it arrived as, and is not serialized again. Two caches keep the per-attribute cost
    at a dict lookup or two: the kind of each key seen (``never``: skipped without reading the value), and
    texts recently found clean — route names, methods, user agents, status messages repeat on every request.
    Only clean values are remembered; a value that held something to redact is never kept.
    """

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
        self._counts: Counter[str] = Counter()

    def __call__(self, batch: Batch) -> Batch:
        total: Counter[str] = Counter()
        request: Any = batch.view
        if batch.signal is Signal.TRACES:
            for rs in request.resource_spans:
                self._attributes(rs.resource.attributes, total)
                for ss in rs.scope_spans:
                    self._attributes(ss.scope.attributes, total)
                    for span in ss.spans:
                        self._span(span, total)
        elif batch.signal is Signal.LOGS:
            for rl in request.resource_logs:
                self._attributes(rl.resource.attributes, total)
                for sl in rl.scope_logs:
                    self._attributes(sl.scope.attributes, total)
                    for record in sl.log_records:
                        self._log_record(record, total)
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

    def _span(self, span: Any, total: Counter[str]) -> None:
        counts = self._counts  # one Counter, emptied after each span that used it
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

    def _log_record(self, record: Any, total: Counter[str]) -> None:
        counts = self._counts
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
        attributes.add(key=COUNT_KEY).value.int_value = total
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
        elif key_kind is not None and which in ("int_value", "double_value", "bytes_value"):
            raw = getattr(value, which)
            text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
            new = self._scrubber.redact_as(key_kind, text, counts)
            if new != text:
                value.string_value = new


def create(settings: CreateSettings, config: Config) -> PiiProcessor:
    key = _hmac_key(config)
    try:
        scrubber = build_scrubber(config, key)
    except ValueError as exc:  # only the key can fail here: the rest was checked with the config
        raise ValueError(f"hmac_key_env: the key in {config.hmac_key_env} is unusable: {exc}") from None
    return PiiProcessor(scrubber, config, settings.telemetry, str(settings.id))
