"""What retention needs, installed on start and idempotently: an SLM snapshot policy against the configured
repository, an ILM policy (daily rollover, delete after 90 days, but only once the SLM policy has taken a
snapshot), and component + index templates that put the logs/traces data streams on that policy with
``best_compression``.

`desired_resources` is pure (the bodies, tested as data); `install` compares each with what the cluster holds
(a fingerprint stored in ``_meta``, or the policy's own fields for SLM, which has no ``_meta``) and only PUTs
what is missing or different.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from ._config import LifecycleSettings, SLMSettings
from ._transport import Answer

__all__ = ["ClusterUnavailable", "InstallReport", "LifecycleError", "Resource", "desired_resources", "install"]

MANAGED_BY = "otel-distro"
_SLM_FIELDS = ("name", "schedule", "repository", "config", "retention")

Kind = Literal["slm_policy", "ilm_policy", "component_template", "index_template"]


class LifecycleError(Exception):
    """Elasticsearch refused a policy or template (4xx): a configuration problem, not an outage."""


class ClusterUnavailable(Exception):
    """Elasticsearch answered 429 or 5xx: try again later."""


class _Transport(Protocol):
    async def request(self, method: str, path: str, *, params: Mapping[str, str] | None = None,
                      body: Any = None, ndjson: bool = False) -> Answer: ...


@dataclass(frozen=True, slots=True)
class Resource:
    kind: Kind
    name: str
    body: dict[str, Any]

    @property
    def path(self) -> str:
        prefix = {
            "slm_policy": "/_slm/policy/",
            "ilm_policy": "/_ilm/policy/",
            "component_template": "/_component_template/",
            "index_template": "/_index_template/",
        }[self.kind]
        return prefix + self.name

    @property
    def fingerprint(self) -> str:
        return _fingerprint(self.kind, self.body)


@dataclass(slots=True)
class InstallReport:
    created: list[str]
    updated: list[str]
    unchanged: list[str]
    backups_off: str | None = None  # why indices are not snapshotted before ILM deletes them (None: they are)


def _hash(data: Any) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:16]


def _fingerprint(kind: Kind, body: Mapping[str, Any]) -> str:
    if kind == "slm_policy":
        return _hash({k: body.get(k) for k in _SLM_FIELDS})
    stored = body.get("policy", body) if kind == "ilm_policy" else body
    return _hash({k: v for k, v in stored.items() if k != "_meta"})


def _with_meta(kind: Kind, name: str, body: dict[str, Any]) -> Resource:
    """Stamp the body with its fingerprint so that the next start can tell it is unchanged."""
    if kind != "slm_policy":
        meta = {"managed_by": MANAGED_BY, "fingerprint": _fingerprint(kind, body)}
        target = body["policy"] if kind == "ilm_policy" else body
        target["_meta"] = meta
    return Resource(kind, name, body)


def desired_resources(settings: LifecycleSettings, mapping_mode: str = "otel") -> list[Resource]:
    """Everything to install, in dependency order (a policy before what names it)."""
    ilm, slm, templates = settings.ilm, settings.slm, settings.templates
    out: list[Resource] = []
    snapshot = slm.enabled and slm.repository is not None
    if snapshot:
        out.append(_with_meta("slm_policy", slm.policy_name, {
            "name": slm.snapshot_name,
            "schedule": slm.schedule,
            "repository": slm.repository,
            "config": {"indices": list(slm.indices), "include_global_state": False, "ignore_unavailable": True},
            "retention": {"expire_after": slm.expire_after, "min_count": slm.min_count, "max_count": slm.max_count},
        }))
    if ilm.enabled:
        delete_actions: dict[str, Any] = {}
        if ilm.wait_for_snapshot and snapshot:
            delete_actions["wait_for_snapshot"] = {"policy": slm.policy_name}
        delete_actions["delete"] = {"delete_searchable_snapshot": True}
        out.append(_with_meta("ilm_policy", ilm.policy_name, {"policy": {"phases": {
            "hot": {"min_age": "0ms", "actions": {"rollover": {
                "max_age": ilm.rollover_max_age,
                "max_primary_shard_size": ilm.rollover_max_primary_shard_size,
            }}},
            "delete": {"min_age": ilm.delete_after, "actions": delete_actions},
        }}}))
    if not templates.enabled:
        return out
    prefix = templates.name_prefix
    index_settings: dict[str, Any] = {"codec": templates.codec}
    if ilm.enabled:
        index_settings["lifecycle"] = {"name": ilm.policy_name}
    if templates.number_of_replicas is not None:
        index_settings["number_of_replicas"] = templates.number_of_replicas
    settings_name = f"{prefix}@settings"
    out.append(_with_meta("component_template", settings_name, {"template": {"settings": {"index": index_settings}}}))
    for signal, patterns in (("logs", templates.logs_index_patterns), ("traces", templates.traces_index_patterns),
                             ("metrics", templates.metrics_index_patterns)):
        mappings_name = f"{prefix}-{signal}@mappings"
        out.append(_with_meta("component_template", mappings_name,
                              {"template": {"mappings": _mappings(signal, mapping_mode)}}))
        custom = f"{signal}@custom"
        out.append(_with_meta("index_template", f"{prefix}-{signal}", {
            "index_patterns": list(patterns),
            "data_stream": {},
            "priority": templates.priority,
            "composed_of": [settings_name, mappings_name, custom],
            "ignore_missing_component_templates": [custom],
        }))
    return out


def _mappings(signal: str, mode: str) -> dict[str, Any]:
    keyword = {"type": "keyword", "ignore_above": 1024}
    props: dict[str, Any] = {
        "@timestamp": {"type": "date_nanos"},
        "data_stream": {"properties": {
            "type": {"type": "constant_keyword"},
            "dataset": {"type": "constant_keyword"},
            "namespace": {"type": "constant_keyword"},
        }},
    }
    if mode == "otel":
        # OTel attribute names are dotted and prefix one another (`code.function`, `code.function.name`):
        # kept as leaf names they never clash as object vs. value
        leaf_names = {"type": "object", "subobjects": False}
        props |= {
            "trace_id": keyword,
            "span_id": keyword,
            "attributes": leaf_names,
            "resource": {"properties": {"attributes": leaf_names}},
            "scope": {"properties": {"attributes": leaf_names}},
        }
        if signal == "metrics":
            props |= {"start_timestamp": {"type": "date_nanos"}, "unit": keyword, "metrics": leaf_names}
        elif signal == "logs":
            props |= {
                "observed_timestamp": {"type": "date_nanos"},
                "severity_text": keyword,
                "severity_number": {"type": "byte"},
                "event_name": keyword,
                "body": {"properties": {"text": {"type": "match_only_text"}, "structured": {"type": "flattened"}}},
            }
        else:
            props |= {
                "events": {"properties": {"attributes": leaf_names}},
                "links": {"properties": {"attributes": leaf_names}},
                "parent_span_id": keyword,
                "name": keyword,
                "kind": keyword,
                "duration": {"type": "long"},
                "status": {"properties": {"code": keyword, "message": {"type": "match_only_text"}}},
            }
    else:
        props |= {"trace.id": keyword, "span.id": keyword, "service.name": keyword}
        if signal == "metrics":
            pass  # metric names are fields of their own, mapped as they come
        elif signal == "logs":
            props |= {"message": {"type": "match_only_text"}, "log.level": keyword}
        else:
            props |= {"parent.id": keyword, "span.name": keyword, "event.duration": {"type": "long"}}
    return {
        "dynamic_templates": [
            {"strings_as_keyword": {"match_mapping_type": "string", "mapping": keyword}},
        ],
        "properties": props,
    }


_ABSENT = "absent"


def _current_fingerprint(resource: Resource, answer: Any) -> str | None:
    """The fingerprint of what the cluster holds under the resource's name, from its GET answer:
    `_ABSENT` when it holds nothing, None when it holds something not stamped by us."""
    if not isinstance(answer, Mapping):
        return _ABSENT
    if resource.kind in ("slm_policy", "ilm_policy"):
        entry = answer.get(resource.name)
        policy = entry.get("policy") if isinstance(entry, Mapping) else None
        if not isinstance(policy, Mapping):
            return _ABSENT
        if resource.kind == "slm_policy":
            return _fingerprint("slm_policy", policy)
        meta = policy.get("_meta")
    else:
        list_key, item_key = (
            ("component_templates", "component_template") if resource.kind == "component_template"
            else ("index_templates", "index_template")
        )
        found = [t for t in answer.get(list_key, []) if isinstance(t, Mapping) and t.get("name") == resource.name]
        if not found:
            return _ABSENT
        meta = found[0].get(item_key, {}).get("_meta")
    return meta.get("fingerprint") if isinstance(meta, Mapping) else None


async def install(transport: _Transport, settings: LifecycleSettings, mapping_mode: str = "otel") -> InstallReport:
    """PUT what is missing or changed. Raises `LifecycleError` on a 4xx, `ClusterUnavailable` on 429/5xx;
    transport errors (no answer) propagate. Both of the latter are for the caller to retry."""
    report = InstallReport([], [], [])
    report.backups_off = await _ensure_repository(transport, settings.slm, report)
    if report.backups_off is not None and settings.slm.enabled:
        settings = settings.model_copy(update={"slm": settings.slm.model_copy(update={"enabled": False})})
    for resource in desired_resources(settings, mapping_mode):
        label = f"{resource.kind}:{resource.name}"
        status, _, body = await transport.request("GET", resource.path)
        if status == 404:
            current: str | None = _ABSENT
        else:
            _check(status, body, label)
            current = _current_fingerprint(resource, body)
        if current == resource.fingerprint:
            report.unchanged.append(label)
            continue
        status, _, body = await transport.request("PUT", resource.path, body=resource.body)
        _check(status, body, label)
        (report.created if current == _ABSENT else report.updated).append(label)
    return report


async def _ensure_repository(transport: _Transport, slm: SLMSettings, report: InstallReport) -> str | None:
    """Register the snapshot repository when `repository_type` asks for it and the cluster has none by that
    name; why backups are off, or None. A repository named without a type is left to the SLM policy's PUT
    (which Elasticsearch refuses when it does not exist)."""
    if not slm.enabled:
        return "lifecycle::slm::enabled is false"
    if slm.repository is None:
        return "lifecycle::slm::repository is not set (ELASTICSEARCH_SNAPSHOT_REPOSITORY in the shipped config)"
    if slm.repository_type is None:
        return None
    label = f"snapshot_repository:{slm.repository}"
    path = f"/_snapshot/{slm.repository}"
    status, _, body = await transport.request("GET", path)
    if 200 <= status < 300:
        report.unchanged.append(label)
        return None
    if status != 404:
        _check(status, body, label)
    status, _, body = await transport.request(
        "PUT", path, body={"type": slm.repository_type, "settings": dict(slm.repository_settings)})
    if 200 <= status < 300:
        report.created.append(label)
        return None
    if status in (408, 429, 502, 503, 504):
        raise ClusterUnavailable(f"{label}: HTTP {status}: {_reason(body)}")
    # e.g. 500 repository_exception: the location is not under path.repo; 400: unknown type (plugin missing)
    return f"registering snapshot repository {slm.repository!r} ({slm.repository_type}) failed: HTTP {status}: " \
        f"{_reason(body)}"


def _check(status: int, body: Any, label: str) -> None:
    if 200 <= status < 300:
        return
    if status in (408, 429) or status >= 500:
        raise ClusterUnavailable(f"{label}: HTTP {status}: {_reason(body)}")
    raise LifecycleError(f"{label}: HTTP {status}: {_reason(body)}")


def _reason(body: Any) -> str:
    if isinstance(body, Mapping) and isinstance(body.get("error"), Mapping):
        error = body["error"]
        return f"{error.get('type')}: {error.get('reason')}"
    return str(body)[:300]
