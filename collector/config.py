"""Loading ``otel-collector.yaml``: `collector.confmap` (YAML, env expansion) -> each component's ``Config`` -> a
checked `ServiceConfig`.

As in otelcol, every component starts from its module's ``Config()`` defaults with the user's keys on top, and
every problem in the file is collected (not just the first), each line naming its key path::

    processors::pii/strict::rules[2]::pattern: ...
    exporters::elastic/logs: unknown type "elastic" (valid values: [...])
    service::pipelines::traces: references processor "x" which is not configured

Components that are configured but used by no pipeline are still validated: a typo is an error either way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from collector import registry
from collector.component import ComponentID, Kind
from collector.config_types import Duration
from collector.confmap import ConfigError, ExpandedFloat, ExpandedInt, expand_env, read
from collector.pdata import Signal

__all__ = [
    "ComponentConfig",
    "ConfigError",
    "PipelineConfig",
    "ServiceConfig",
    "TelemetrySettings",
    "expand_env",
    "format_validation_error",
    "load",
    "validate",
]

_M = TypeVar("_M", bound=BaseModel)
_TOP_LEVEL = ("receivers", "processors", "exporters", "extensions", "connectors", "service")
_KIND_NOUN = {
    Kind.RECEIVER: "receiver",
    Kind.PROCESSOR: "processor",
    Kind.EXPORTER: "exporter",
    Kind.EXTENSION: "extension",
    Kind.CONNECTOR: "connector",
}


# --- the checked result -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ComponentConfig:
    kind: Kind
    id: ComponentID
    module: ModuleType
    config: BaseModel


@dataclass(frozen=True, slots=True)
class PipelineConfig:
    name: str  # "traces" or "traces/name"
    signal: Signal
    receivers: tuple[ComponentID, ...]
    processors: tuple[ComponentID, ...]
    exporters: tuple[ComponentID, ...]


@dataclass(frozen=True, slots=True)
class TelemetrySettings:
    metrics_address: str | None = "localhost:8888"  # None: self-metrics are not served
    log_level: str = "info"
    log_encoding: str = "json"


@dataclass(frozen=True, slots=True)
class ServiceConfig:
    components: dict[Kind, dict[ComponentID, ComponentConfig]]
    extensions: tuple[ComponentID, ...]  # enabled in service::extensions, in start order
    pipelines: dict[str, PipelineConfig]
    telemetry: TelemetrySettings = field(default_factory=TelemetrySettings)
    shutdown_timeout: float = 20.0  # seconds for the whole drain on SIGTERM; what is left then is counted lost

    def component(self, kind: Kind, id: ComponentID) -> ComponentConfig:
        return self.components[kind][id]


# --- the service section -----------------------------------------------------------------------------------


class _PipelineModel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    receivers: list[str] = Field(default_factory=list)
    processors: list[str] = Field(default_factory=list)
    exporters: list[str] = Field(default_factory=list)


class _MetricsTelemetryModel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    level: str = Field(default="normal", pattern="^(none|basic|normal|detailed)$")
    address: str = "localhost:8888"


class _LogsTelemetryModel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    level: str = Field(default="info", pattern="^(debug|info|warn|warning|error)$")
    encoding: str = Field(default="json", pattern="^(json|console)$")


class _TelemetryModel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    metrics: _MetricsTelemetryModel = Field(default_factory=_MetricsTelemetryModel)
    logs: _LogsTelemetryModel = Field(default_factory=_LogsTelemetryModel)


class _ServiceModel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    extensions: list[str] = Field(default_factory=list)
    pipelines: dict[str, _PipelineModel | None] = Field(default_factory=dict)
    telemetry: _TelemetryModel = Field(default_factory=_TelemetryModel)
    shutdown_timeout: Duration = Field(
        default=20.0, gt=0,
        description="the whole drain on SIGTERM must end within this (keep it under the orchestrator's grace "
        "period); what an in-memory queue still holds then is counted as dropped, a persistent queue keeps it",
    )


# --- errors with paths -------------------------------------------------------------------------------------


def _loc_path(prefix: str, loc: Sequence[int | str]) -> str:
    path = prefix
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f"::{part}" if path else str(part)
    return path


def _model_keys(model: type[BaseModel], loc: Sequence[int | str]) -> list[str] | None:
    """The valid keys of the model at ``loc[:-1]``, for an "unknown key" message (best effort)."""
    current: Any = model
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        fields = getattr(current, "model_fields", None)
        if fields is None or part not in fields:
            return None
        annotation = fields[part].annotation
        current = next(
            (a for a in (annotation, *getattr(annotation, "__args__", ())) if isinstance(a, type)
             and issubclass(a, BaseModel)),
            None,
        )
        if current is None:
            return None
    fields = getattr(current, "model_fields", None)
    return sorted(fields) if fields is not None else None


def format_validation_error(prefix: str, model: type[BaseModel], err: ValidationError) -> list[str]:
    """One ``path: message`` line per pydantic error."""
    lines = []
    for e in err.errors(include_url=False):
        loc = tuple(p for p in e["loc"] if p != "__root__")
        path = _loc_path(prefix, loc)
        if e["type"] == "extra_forbidden":
            keys = _model_keys(model, loc)
            hint = f" (valid keys: {', '.join(keys)})" if keys else ""
            lines.append(f"{path}: unknown key{hint}")
        elif e["type"] in {"value_error", "assertion_error"}:
            msg = str(e["msg"]).removeprefix("Value error, ")
            lines.append(f"{path}: {msg}")
        else:
            lines.append(f"{path}: {e['msg']} (got {e['input']!r})")
    return lines


# --- loading -----------------------------------------------------------------------------------------------


def _with_text_at(value: Any, loc: Sequence[int | str]) -> tuple[Any, bool]:
    """``value`` (a tree of dicts and lists) with the number at ``loc`` replaced by its ``${env:VAR}`` text,
    and whether there was one to replace."""
    if not loc:
        if isinstance(value, ExpandedInt | ExpandedFloat):
            return value.text, True
        return value, False
    head, rest = loc[0], loc[1:]
    if isinstance(value, Mapping) and head in value:
        inner, changed = _with_text_at(value[head], rest)
        return ({**value, head: inner}, True) if changed else (value, False)
    if isinstance(value, list) and isinstance(head, int) and 0 <= head < len(value):
        inner, changed = _with_text_at(value[head], rest)
        return ([*value[:head], inner, *value[head + 1:]], True) if changed else (value, False)
    return value, False


def validate(model: type[_M], values: Mapping[str, Any]) -> _M:
    """``model`` from ``values``; a number that ``${env:VAR}`` typed where the key wants a string gets the
    variable's text instead (as otelcol does), so ``password: ${env:PW}`` works for ``PW=123456``."""
    data: Any = dict(values)
    while True:
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            changed = False
            for e in exc.errors(include_url=False):
                if e["type"] == "string_type" and isinstance(e["input"], ExpandedInt | ExpandedFloat):
                    data, replaced = _with_text_at(data, e["loc"])
                    changed = changed or replaced
            if not changed:
                raise


def _load_components(kind: Kind, section: Any, problems: list[str]) -> dict[ComponentID, ComponentConfig]:
    out: dict[ComponentID, ComponentConfig] = {}
    if section is None:
        return out
    if not isinstance(section, Mapping):
        problems.append(f"{kind.value}: expected a mapping of component id -> config, got {type(section).__name__}")
        return out
    for raw_id, raw_cfg in section.items():
        prefix = f"{kind.value}::{raw_id}"
        try:
            cid = ComponentID.parse(str(raw_id))
        except ValueError as exc:
            problems.append(f"{prefix}: {exc}")
            continue
        try:
            module = registry.load(kind, cid.type)
        except registry.UnknownTypeError:
            problems.append(f'{prefix}: unknown type "{cid.type}" (valid values: {registry.valid_types(kind)})')
            continue
        except ImportError as exc:
            problems.append(f'{prefix}: type "{cid.type}" is not available: {exc}')
            continue
        model: type[BaseModel] = module.Config
        values = {} if raw_cfg is None else raw_cfg
        if not isinstance(values, Mapping):
            problems.append(f"{prefix}: expected a mapping, got {values!r}")
            continue
        try:
            config = validate(model, values)
        except ValidationError as exc:
            problems.extend(format_validation_error(prefix, model, exc))
            continue
        out[cid] = ComponentConfig(kind, cid, module, config)
    return out


def _parse_ids(refs: Sequence[str], path: str, problems: list[str]) -> list[ComponentID]:
    ids = []
    for i, ref in enumerate(refs):
        try:
            ids.append(ComponentID.parse(ref))
        except ValueError as exc:
            problems.append(f"{path}[{i}]: {exc}")
    return ids


def _declared(section: Any) -> set[ComponentID]:
    """Ids present in a section, valid or not (a reference to an invalid one is not a second problem)."""
    ids = set()
    for raw_id in section if isinstance(section, Mapping) else {}:
        try:
            ids.add(ComponentID.parse(str(raw_id)))
        except ValueError:
            continue
    return ids


def _check_refs(
    kind: Kind,
    *,
    ids: Sequence[ComponentID],
    signal: Signal,
    configured: Mapping[ComponentID, ComponentConfig],
    declared: set[ComponentID],
    path: str,
    problems: list[str],
) -> None:
    noun = _KIND_NOUN[kind]
    seen: set[ComponentID] = set()
    for cid in ids:
        if cid in seen:
            problems.append(f'{path}: references {noun} "{cid}" more than once')
        seen.add(cid)
        comp = configured.get(cid)
        if comp is None and cid in declared:
            continue  # configured but invalid: already reported
        if comp is None:
            problems.append(f'{path}: references {noun} "{cid}" which is not configured')
            continue
        signals = getattr(comp.module, "SIGNALS", frozenset(Signal))
        if signal not in signals:
            problems.append(f'{path}: {noun} "{cid}" does not support {signal.value}')


def _build_pipelines(
    service: _ServiceModel,
    components: Mapping[Kind, Mapping[ComponentID, ComponentConfig]],
    declared: Mapping[Kind, set[ComponentID]],
    problems: list[str],
) -> dict[str, PipelineConfig]:
    pipelines: dict[str, PipelineConfig] = {}
    for name, maybe_pipe in service.pipelines.items():
        path = f"service::pipelines::{name}"
        signal_name, _, _ = name.partition("/")
        try:
            signal = Signal(signal_name)
        except ValueError:
            problems.append(f"{path}: unknown signal {signal_name!r} (valid values: {[s.value for s in Signal]})")
            continue
        pipe = maybe_pipe or _PipelineModel()
        receivers = _parse_ids(pipe.receivers, f"{path}::receivers", problems)
        processors = _parse_ids(pipe.processors, f"{path}::processors", problems)
        exporters = _parse_ids(pipe.exporters, f"{path}::exporters", problems)
        if not receivers:
            problems.append(f"{path}: must have at least one receiver")
        if not exporters:
            problems.append(f"{path}: must have at least one exporter")
        for kind, ids in ((Kind.RECEIVER, receivers), (Kind.PROCESSOR, processors), (Kind.EXPORTER, exporters)):
            _check_refs(kind, ids=ids, signal=signal, configured=components[kind], declared=declared[kind],
                        path=path, problems=problems)
        pipelines[name] = PipelineConfig(name, signal, tuple(receivers), tuple(processors), tuple(exporters))
    return pipelines


def _check_storage_refs(
    components: Mapping[Kind, Mapping[ComponentID, ComponentConfig]],
    enabled: Sequence[ComponentID],
    problems: list[str],
) -> None:
    """``sending_queue.storage`` (exporters) and ``storage`` (processors keeping state, ``alert_rules``) must
    name a configured and enabled ``file_storage`` extension."""
    named: list[tuple[str, str]] = []
    for cid, comp in components[Kind.EXPORTER].items():
        queue = getattr(comp.config, "sending_queue", None)
        storage = getattr(queue, "storage", None)
        if storage:
            named.append((f"exporters::{cid}::sending_queue::storage", storage))
    for cid, comp in components[Kind.PROCESSOR].items():
        storage = getattr(comp.config, "storage", None)
        if isinstance(storage, str) and storage:
            named.append((f"processors::{cid}::storage", storage))
    for path, storage in named:
        try:
            sid = ComponentID.parse(storage)
        except ValueError as exc:
            problems.append(f"{path}: {exc}")
            continue
        if sid.type != "file_storage":
            problems.append(f'{path}: "{sid}" is not a file_storage extension')
        elif sid not in components[Kind.EXTENSION]:
            problems.append(f'{path}: references extension "{sid}" which is not configured')
        elif sid not in enabled:
            problems.append(f'{path}: extension "{sid}" is not enabled in service::extensions')


def load(source: str | Path | Mapping[str, Any], environ: Mapping[str, str] | None = None) -> ServiceConfig:
    """Load and check a configuration (a YAML file path or an already parsed mapping); raises `ConfigError`."""
    raw = read(source)
    problems: list[str] = []
    if not isinstance(raw, Mapping):
        raise ConfigError([f"top level: expected a mapping, got {type(raw).__name__}"])
    raw = expand_env(raw, environ)
    for key in raw:
        if key not in _TOP_LEVEL:
            problems.append(f"{key}: unknown top-level key (valid keys: {', '.join(_TOP_LEVEL)})")

    components = {kind: _load_components(kind, raw.get(kind.value), problems) for kind in Kind}

    try:
        service = validate(_ServiceModel, raw.get("service") or {})
    except ValidationError as exc:
        problems.extend(format_validation_error("service", _ServiceModel, exc))
        raise ConfigError(problems) from None

    declared = {kind: _declared(raw.get(kind.value)) for kind in Kind}
    enabled = _parse_ids(service.extensions, "service::extensions", problems)
    for cid in enabled:
        if cid not in declared[Kind.EXTENSION]:
            problems.append(f'service::extensions: references extension "{cid}" which is not configured')
    pipelines = _build_pipelines(service, components, declared, problems)
    if not pipelines:
        problems.append("service::pipelines: at least one pipeline must be configured")
    _check_storage_refs(components, enabled, problems)
    if problems:
        raise ConfigError(problems)

    metrics = service.telemetry.metrics
    telemetry = TelemetrySettings(
        metrics_address=None if metrics.level == "none" else metrics.address,
        log_level=service.telemetry.logs.level,
        log_encoding=service.telemetry.logs.encoding,
    )
    return ServiceConfig(components, tuple(enabled), pipelines, telemetry, service.shutdown_timeout)
