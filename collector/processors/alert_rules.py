r"""``alert_rules``: alerts on the log and trace stream, for what Prometheus rules cannot express.

The processor passes every batch on unchanged; it only looks. Rule types (elastalert's names where they exist):

* ``frequency``: at least ``threshold`` matching records in ``window``;
* ``spike``: the matching records in the last ``window`` are at least ``spike_ratio`` times those of the window
  before (and at least ``min_count``), once the processor has watched two windows (no spike at start-up);
* ``flatline``: a group (by default a service) that sent matching records stops sending for ``window``;
* ``new_term``: a value of ``term`` (an attribute such as ``exception.type``, or ``fingerprint``: the message
  with numbers, ids and quoted values masked) not seen in the last ``lookback``; the seen-set is kept in the
  ``file_storage`` extension named by ``storage`` and survives restarts. The alert fires for ``window``. A rule
  that starts with nothing remembered (first start, or no ``storage``) learns for ``learning_period`` first: the
  values it sees then are what the service already sends, remembered without an alert (elastalert reads them from
  past data; here there is none), so a first deployment is not a burst of alerts for every known exception; a
  restart within that period learns on until it ends (its end is kept with the seen-sets);
* ``threshold``: spans (or log records) whose ``field`` (``duration`` in seconds, or a numeric attribute) is above
  ``above``, at least ``threshold`` of them in ``window`` — e.g. a route's server spans slower than 5 s.

Matching (``match``) is on severity, service, span kind and name, body and attributes, with RE2 patterns
(`collector.processors._alert_match`). Alerts go to Alertmanager's ``/api/v2/alerts``
(`collector.alertmanager_sink`: bounded buffer, retries, never blocks the pipeline) with the labels
``alertname``, ``severity``, ``source="otel-collector"``, ``rule_type``, one label per ``group_by`` key (dots become
``_``; ``service.name`` also gives ``job`` = ``<service.namespace>/<service.name>`` as the Prometheus exporter
names it), and the rule's ``labels``; annotations ``summary``, ``description``, ``trace_id`` (the last matching
record's), ``grafana_url`` and the rule's ``annotations``. ``generatorURL`` is a Grafana Explore link: the trace
when there is one, else the service's logs. In ``summary``/``description``, ``{service}``, ``{count}``,
``{value}``, ``{term}``, ``{window}``, ``{trace_id}`` and each group label (``{http_route}``) are replaced.

Firing alerts are sent again every ``resend_interval``; a condition that no longer holds (checked every
``evaluation_interval``) sends the resolution. Example::

    processors:
      alert_rules:
        alertmanager: {endpoint: "${env:OTEL_DISTRO_ALERTMANAGER_URL:-}"}
        grafana_url: ${env:GRAFANA_URL:-}
        storage: file_storage/queue
        rules:
          - name: ErrorLogBurst
            type: frequency
            match: {severity: error}
            threshold: 20
            window: 1m
          - name: SlowRoute
            type: threshold
            signal: traces
            match: {span_kind: server}
            group_by: [service.name, http.route]
            above: 5
            labels: {severity: warning}
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import time
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from collector.alertmanager_sink import Alert, AlertmanagerSink, SinkConfig
from collector.component import ComponentID, CreateSettings, Kind
from collector.config_types import Duration, parse_duration
from collector.pdata import Batch, Signal
from collector.processors._alert_eval import Group, Window, term_of
from collector.processors._alert_match import Match, Matcher, Record, any_value

__all__ = ["SIGNALS", "TYPE", "AlertRulesProcessor", "Config", "RuleConfig", "create"]

TYPE = "alert_rules"
SIGNALS = frozenset({Signal.LOGS, Signal.TRACES})
MULTI_PROCESS = False  # alert state (counts, windows) must see all of the data: one process

RuleType = Literal["frequency", "spike", "flatline", "new_term", "threshold"]
_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_LABEL_UNSAFE = re.compile(r"[^A-Za-z0-9_]")
_PLACEHOLDER = re.compile(r"\{([A-Za-z0-9_.]+)\}")
_LEARNING_KEY = ".learning_until"  # in the seen-sets file: rule -> end of its learning period (never a rule name)

_DEFAULT_SUMMARY: dict[str, str] = {
    "frequency": "{service}: {count} matching records in {window}",
    "spike": "{service}: matching records spiked to {count} in {window} ({value}x the window before)",
    "flatline": "{service}: no matching records for {window}",
    "new_term": "{service}: new {term_name} {term}",
    "threshold": "{service}: {count} records with {field} above {above} in {window} (last {value})",
}


def _long_duration(value: object) -> float:
    """A duration that may also be whole days (``30d``), as look-back periods are written."""
    if isinstance(value, str) and value.strip().endswith("d") and value.strip()[:-1].isdigit():
        return int(value.strip()[:-1]) * 86400.0
    return parse_duration(value)


LongDuration = Annotated[float, BeforeValidator(_long_duration)]


def _window_text(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


class RuleConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="the alertname")
    type: RuleType
    signal: Literal["logs", "traces"] = "logs"
    match: Match = Field(default_factory=Match)
    group_by: list[str] = Field(default_factory=lambda: ["service.name"])
    window: Duration = Field(default=300.0, gt=0)
    threshold: int = Field(default=1, ge=1, description="frequency, threshold: records needed in the window")
    spike_ratio: float = Field(default=3.0, gt=1)
    min_count: int = Field(default=10, ge=1, description="spike: records needed in the current window")
    term: str | None = Field(default=None, description="new_term: the field tracked, or 'fingerprint'")
    lookback: LongDuration = Field(default=30 * 86400.0, gt=0, description="new_term: seen within this is not new")
    learning_period: LongDuration = Field(default=3600.0, ge=0, description="new_term: with nothing remembered at "
                                          "start, values seen this long are learnt without an alert (0: none)")
    max_terms: int = Field(default=10000, ge=1, description="new_term: values remembered (least recently seen "
                                                             "are forgotten first)")
    field: str = Field(default="duration", description="threshold: 'duration' (spans, s) or a numeric attribute")
    above: float | None = Field(default=None, description="threshold: the value a record must exceed")
    max_groups: int = Field(default=1000, ge=1, description="distinct group_by values tracked per rule")
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if not _NAME_RE.match(self.name):
            raise ValueError(f"name: {self.name!r} must be letters, digits and '_' (it becomes the alertname)")
        for key in self.labels:
            if not _NAME_RE.match(key):
                raise ValueError(f"labels::{key}: label names are letters, digits and '_'")
        if self.type == "new_term" and not self.term:
            raise ValueError("term: required for a new_term rule (an attribute such as exception.type, or "
                             "'fingerprint')")
        if self.type == "threshold" and self.above is None:
            raise ValueError("above: required for a threshold rule (e.g. 5 for spans slower than 5 s)")
        if self.type == "threshold" and self.field == "duration" and self.signal != "traces":
            raise ValueError("field: 'duration' needs signal: traces (log records have no duration)")
        if self.match.span_kind is not None and self.signal != "traces":
            raise ValueError("match::span_kind: only for signal: traces")
        return self


class Config(BaseModel):
    model_config = ConfigDict(extra="forbid")

    alertmanager: SinkConfig = Field(default_factory=SinkConfig)
    grafana_url: str = Field(default="", description="base URL for Explore links, e.g. http://grafana:3000")
    grafana_logs_datasource: str = "elasticsearch-logs"
    grafana_traces_datasource: str = "jaeger"
    storage: str | None = Field(default=None, description="file_storage extension keeping new_term seen-sets")
    evaluation_interval: Duration = Field(default=1.0, gt=0, description="how often resolutions, flatlines "
                                                                         "and re-sends are checked")
    resend_interval: Duration = Field(default=60.0, gt=0, description="firing alerts are sent again this often")
    rules: list[RuleConfig] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_names(self) -> Self:
        seen: set[tuple[str, str]] = set()
        for i, rule in enumerate(self.rules):
            if (rule.name, rule.signal) in seen:
                raise ValueError(f"rules[{i}]::name: {rule.name!r} is used twice for {rule.signal}")
            seen.add((rule.name, rule.signal))
        return self


class _Rule:
    """A rule and its groups."""

    def __init__(self, config: RuleConfig, since: float) -> None:
        self.config = config
        self.since = since  # when the processor began watching: a spike needs the whole window before watched
        self.type = config.type
        self.matcher: Matcher = config.match.compile()
        self.groups: dict[tuple[str, ...], Group] = {}
        self.terms: dict[str, float] = {}  # new_term: term -> last seen (epoch)
        self.learning_until = since + config.learning_period  # new_term: until then, terms are learnt silently
        self.terms_dirty = False
        self.overflowed = False
        self._keys = list(config.group_by)

    def group(self, record: Record, now: float) -> Group | None:
        values = tuple(record.field(k) or "" for k in self._keys)
        group = self.groups.get(values)
        if group is None:
            if len(self.groups) >= self.config.max_groups:
                self.overflowed = True
                return None
            labels = {_label(k): v for k, v in zip(self._keys, values, strict=True) if v}
            if "service.name" in self._keys and "job" not in labels and record.service:
                namespace = record.resource_attrs.get("service.namespace")
                labels["job"] = f"{namespace}/{record.service}" if namespace else record.service
            keep = 2 if self.type == "spike" else 1
            group = Group(labels=labels, service=record.service, window=Window(self.config.window, keep),
                          first_seen=now)
            self.groups[values] = group
        return group

    def observe(self, record: Record, now: float) -> Group | None:
        """Count a matching record; the group whose state it changed, or None."""
        cfg = self.config
        value: float | None = None
        if self.type == "threshold":
            value = record.duration if cfg.field == "duration" else _number(record.field(cfg.field))
            if value is None or cfg.above is None or value <= cfg.above:
                return None
        elif self.type == "new_term":
            term = term_of(record, cfg.term or "")
            if not term:
                return None
            terms = self.terms
            seen = terms.pop(term, None)
            terms[term] = now  # re-inserted: the dict stays ordered by last sight, oldest first
            self.terms_dirty = True
            if len(terms) > cfg.max_terms:
                del terms[next(iter(terms))]
            if (seen is not None and now - seen < cfg.lookback) or now < self.learning_until:
                return None
            return self._term_group(record, term, now)
        group = self.group(record, now)
        if group is None:
            return None
        group.window.add(now)
        group.last_seen = now
        trace = record.trace_id
        if trace:
            group.trace_bytes = trace
        if value is not None:
            group.value = value
        return group

    def _term_group(self, record: Record, term: str, now: float) -> Group | None:
        base = self.group(record, now)
        if base is None:
            return None
        key = ("\x00term", *(f"{k}={v}" for k, v in sorted(base.labels.items())), term)
        if len(self.groups) >= self.config.max_groups:
            self.overflowed = True
            return None
        group = Group(labels={**base.labels, "term": term[:200]}, service=base.service,
                      window=Window(self.config.window), first_seen=now, last_seen=now, term=term,
                      trace_bytes=record.trace_id)
        self.groups[key] = group
        return group

    def holds(self, group: Group, now: float) -> bool:
        cfg = self.config
        if self.type in ("frequency", "threshold"):
            count = group.window.count(now)
            group.extra["count"] = count
            return count >= cfg.threshold
        if self.type == "spike":
            current, previous = group.window.count(now), group.window.previous(now)
            group.extra["count"] = current
            group.value = round(current / previous, 2) if previous else float(current)
            watched = now - self.since >= 2 * cfg.window  # else "previous" is only what arrived since start-up
            return watched and current >= cfg.min_count and current >= cfg.spike_ratio * previous
        if self.type == "flatline":
            return now - group.last_seen >= cfg.window
        # new_term: a term's group fires for one window (the service's group it hangs off never does)
        return bool(group.term) and now - group.first_seen < cfg.window

    def forget(self, key: tuple[str, ...], group: Group, now: float) -> bool:
        """Whether a quiet group can be dropped (flatline groups are kept: silence is what they watch)."""
        if group.firing or self.type == "flatline":
            return False
        if self.type == "new_term":
            return key[0] != "\x00term" or not self.holds(group, now)
        return group.window.empty(now)


def _label(key: str) -> str:
    return _LABEL_UNSAFE.sub("_", key)


def _number(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        return float(text)
    except ValueError:
        return None


class AlertRulesProcessor:
    def __init__(self, settings: CreateSettings, config: Config, *,
                 clock: Callable[[], float] = time.time) -> None:
        self._config = config
        self._settings = settings
        self._now = clock
        self._log = settings.logger
        self._telemetry = settings.telemetry
        self._attrs = {"processor": str(settings.id)}
        signal = settings.signal or Signal.LOGS
        self._signal = signal
        self._is_span = signal is Signal.TRACES
        self._rules = [_Rule(r, clock()) for r in config.rules if r.signal == signal.value]
        self.sink = AlertmanagerSink(config.alertmanager, settings.telemetry, self._attrs, settings.logger)
        self._task: asyncio.Task[None] | None = None
        self._state_file: Path | None = None

    # --- the hot path: look, never change, never wait ---------------------------------------------------------

    def __call__(self, batch: Batch) -> Batch:
        if not self._rules:
            return batch
        now = self._now()
        changed: dict[int, tuple[_Rule, Group]] = {}  # each group checked once per batch
        items_field = "spans" if self._is_span else "log_records"
        scopes_field = "scope_spans" if self._is_span else "scope_logs"
        request: Any = batch.view  # read only: the batch keeps the bytes it arrived as
        for res in request.resource_spans if self._is_span else request.resource_logs:
            rattrs = {kv.key: any_value(kv.value) for kv in res.resource.attributes}
            service = str(rattrs.get("service.name", "unknown_service"))
            rules = [r for r in self._rules if r.matcher.service_ok(service)]
            if not rules:
                continue
            for scope in getattr(res, scopes_field):
                for item in getattr(scope, items_field):
                    record = Record(item, rattrs, service, is_span=self._is_span)
                    for rule in rules:
                        if rule.matcher(record):
                            group = rule.observe(record, now)
                            if group is not None and not group.firing:
                                changed[id(group)] = (rule, group)
        for rule, group in changed.values():
            if not group.firing and rule.type != "flatline" and rule.holds(group, now):
                self._fire(rule, group, now)
        return batch

    # --- lifecycle and the clock ---------------------------------------------------------------------------

    async def start(self) -> None:
        if self._config.storage and any(r.type == "new_term" for r in self._rules):
            self._state_file = self._storage_dir() / "new_terms.json"
            await asyncio.to_thread(self._load_terms)
        await self.sink.start()
        self._task = asyncio.get_running_loop().create_task(self._clock(), name=f"{self._attrs['processor']}-clock")
        self._log.info("alert_rules_started", signal=self._signal.value, rules=[r.config.name for r in self._rules],
                       alertmanager=self._config.alertmanager.endpoint or None)

    async def shutdown(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self._save_terms()
        await self.sink.shutdown()

    def _storage_dir(self) -> Path:
        storage = self._config.storage or ""
        ext = self._settings.host.get_extension(ComponentID.parse(storage))
        directory_for = getattr(ext, "directory_for", None)
        if directory_for is None:
            raise RuntimeError(f"processors::{self._settings.id}::storage: extension {storage!r} is not running "
                               "(name a file_storage extension listed in service::extensions)")
        path: Path = directory_for(Kind.PROCESSOR, self._settings.id, self._signal.value)
        return path

    async def _clock(self) -> None:
        while True:
            await asyncio.sleep(self._config.evaluation_interval)
            try:
                self.evaluate(self._now())
                await self._save_terms()
            except Exception:
                self._log.exception("alert_rules_evaluation_failed")

    def evaluate(self, now: float) -> None:
        """Resolutions, flatlines and re-sends: what changes with time alone (called every evaluation_interval)."""
        for rule in self._rules:
            for key, group in list(rule.groups.items()):
                holds = rule.holds(group, now)
                if holds and not group.firing:
                    self._fire(rule, group, now)
                elif holds and now - group.last_sent >= self._config.resend_interval:
                    self._send(rule, group, now, resolved=False)
                elif not holds and group.firing:
                    group.firing = False
                    self._send(rule, group, now, resolved=True)
                    self._log.info("alert_resolved", alertname=rule.config.name, labels=group.labels)
                if not group.firing and rule.forget(key, group, now):
                    del rule.groups[key]
            if rule.overflowed:
                rule.overflowed = False
                self._telemetry.add("otelcol_processor_alert_rules_groups_overflow_total", 1,
                                    {**self._attrs, "rule": rule.config.name})
                self._log.warning("alert_rules_too_many_groups", rule=rule.config.name,
                                  max_groups=rule.config.max_groups)
        self._telemetry.set("otelcol_processor_alert_rules_alerts_firing",
                            sum(g.firing for r in self._rules for g in r.groups.values()), self._attrs)

    # --- alerts --------------------------------------------------------------------------------------------

    def _fire(self, rule: _Rule, group: Group, now: float) -> None:
        group.firing = True
        group.started = now
        self._telemetry.add("otelcol_processor_alert_rules_alerts_fired_total", 1,
                            {**self._attrs, "rule": rule.config.name})
        self._log.warning("alert_fired", alertname=rule.config.name, rule_type=rule.type, labels=group.labels)
        self._send(rule, group, now, resolved=False)

    def _send(self, rule: _Rule, group: Group, now: float, *, resolved: bool) -> None:
        group.last_sent = now
        cfg = rule.config
        labels = {"alertname": cfg.name, "severity": "warning", "source": "otel-collector", "rule_type": rule.type,
                  **group.labels, **cfg.labels}
        values = self._values(rule, group)
        annotations = {
            "summary": _fill(cfg.annotations.get("summary", _DEFAULT_SUMMARY[rule.type]), values),
            "description": _fill(cfg.annotations.get("description", _default_description(rule)), values),
        }
        annotations.update({k: _fill(v, values) for k, v in cfg.annotations.items()
                            if k not in ("summary", "description")})
        if group.trace_id:
            annotations["trace_id"] = group.trace_id
        url = self._explore_url(group)
        if url:
            annotations["grafana_url"] = url
        key = f"{cfg.name}\x00" + "\x00".join(f"{k}={v}" for k, v in sorted(labels.items()))
        self.sink.submit(Alert(key=key, labels=labels, annotations=annotations, starts_at=group.started,
                               ends_at=now if resolved else None, generator_url=url))

    def _values(self, rule: _Rule, group: Group) -> dict[str, str]:
        cfg = rule.config
        values = {
            "service": group.service, "count": str(group.extra.get("count", "")),
            "value": f"{group.value:g}", "term": group.term, "term_name": cfg.term or "",
            "window": _window_text(cfg.window), "trace_id": group.trace_id, "field": cfg.field,
            "above": f"{cfg.above:g}" if cfg.above is not None else "",
        }
        values.update(group.labels)
        return values

    def _explore_url(self, group: Group) -> str:
        base = self._config.grafana_url.rstrip("/")
        if not base:
            return ""
        if group.trace_id:
            # Jaeger's query without a queryType is a trace id; Tempo's TraceQL accepts a trace id as a query
            query: dict[str, str] = {"refId": "A", "query": group.trace_id}
            if "tempo" in self._config.grafana_traces_datasource:
                query["queryType"] = "traceql"
            pane: dict[str, Any] = {"datasource": self._config.grafana_traces_datasource, "queries": [query]}
        else:
            pane = {"datasource": self._config.grafana_logs_datasource,
                    "queries": [{"refId": "A", "query": f'service.name:"{group.service}"'}]}
        pane["range"] = {"from": "now-1h", "to": "now"}
        panes = json.dumps({"a": pane}, separators=(",", ":"))
        return f"{base}/explore?schemaVersion=1&orgId=1&panes={urllib.parse.quote(panes)}"

    # --- the new_term seen-sets ----------------------------------------------------------------------------

    def _load_terms(self) -> None:
        if self._state_file is None or not self._state_file.exists():
            return
        try:
            data = json.loads(self._state_file.read_text())
            if not isinstance(data, dict):
                raise ValueError(f"expected an object of rules, got {type(data).__name__}")
            loaded = {rule: dict(sorted(((str(k), float(v)) for k, v in terms.items()), key=lambda kv: kv[1]))
                      for rule in self._rules if isinstance(terms := data.get(rule.config.name), dict)}
            learning = data.get(_LEARNING_KEY)
            until = {str(k): float(v) for k, v in learning.items()} if isinstance(learning, dict) else {}
        except (OSError, ValueError, TypeError) as exc:  # the terms are learnt again rather than stop the collector
            self._log.error("alert_rules_state_unreadable", path=str(self._state_file), error=str(exc))
            return
        for rule, terms in loaded.items():
            rule.terms = terms
            if terms:  # what it learnt before is remembered (an empty set is nothing): learning goes on only until
                # the period begun before a restart ends, never longer than one begun now
                rule.learning_until = min(until.get(rule.config.name, rule.since), rule.learning_until)

    async def _save_terms(self) -> None:
        if self._state_file is None or not any(r.terms_dirty for r in self._rules):
            return
        data: dict[str, Any] = {r.config.name: dict(r.terms) for r in self._rules if r.type == "new_term"}
        now = self._now()
        learning = {r.config.name: r.learning_until for r in self._rules
                    if r.type == "new_term" and r.learning_until > now}
        if learning:
            data[_LEARNING_KEY] = learning
        for rule in self._rules:
            rule.terms_dirty = False
        await asyncio.to_thread(_write_atomically, self._state_file, json.dumps(data))


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _fill(template: str, values: dict[str, str]) -> str:
    return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), template)


def _default_description(rule: _Rule) -> str:
    cfg = rule.config
    what = {
        "frequency": f"At least {cfg.threshold} matching records arrived within {{window}}.",
        "spike": f"Matching records in the last {{window}} are at least {cfg.spike_ratio:g}x those of the window "
                 "before.",
        "flatline": "A source that was sending matching records has been silent for {window}.",
        "new_term": "A value never seen in the lookback period appeared.",
        "threshold": f"At least {cfg.threshold} records with {cfg.field} above {{above}} within {{window}}.",
    }[rule.type]
    return f"{what} Rule {cfg.name} of the collector's alert_rules processor."


def create(settings: CreateSettings, config: Config) -> AlertRulesProcessor:
    return AlertRulesProcessor(settings, config)
