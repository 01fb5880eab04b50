"""Attribute actions shared by the ``attributes`` and ``resource`` processors (otelcol's attraction).

Each action edits one key of a repeated ``KeyValue`` list in place:

* ``insert``: set the key when it is absent;  ``update``: when present;  ``upsert``: either way —
  from ``value`` or from another attribute (``from_attribute``);
* ``delete``: remove the key;  ``hash``: replace its value by the SHA-256 hex digest of its text.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any, Literal, Self

from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["Action", "apply_actions", "prepared", "to_any_value"]

_SETTERS = ("insert", "update", "upsert")


class Action(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key: str = Field(min_length=1)
    action: Literal["insert", "update", "upsert", "delete", "hash"]
    value: str | bool | int | float | list[Any] | dict[str, Any] | None = None
    from_attribute: str | None = None

    @model_validator(mode="after")
    def _value_matches_action(self) -> Self:
        has_source = (self.value is not None) + (self.from_attribute is not None)
        if self.action in _SETTERS and has_source != 1:
            raise ValueError(f"action {self.action!r} on key {self.key!r} needs exactly one of value, from_attribute")
        if self.action not in _SETTERS and has_source:
            raise ValueError(f"action {self.action!r} on key {self.key!r} takes no value or from_attribute")
        return self


def to_any_value(value: Any) -> AnyValue:
    out = AnyValue()
    if isinstance(value, bool):
        out.bool_value = value
    elif isinstance(value, int):
        out.int_value = value
    elif isinstance(value, float):
        out.double_value = value
    elif isinstance(value, str):
        out.string_value = value
    elif isinstance(value, list):
        out.array_value.values.extend(to_any_value(v) for v in value)
    elif isinstance(value, dict):
        for k, v in value.items():
            out.kvlist_value.values.add(key=str(k), value=to_any_value(v))
    return out


def _text(value: AnyValue) -> str:
    kind = value.WhichOneof("value")
    if kind is None:
        return ""
    if kind == "bytes_value":
        return value.bytes_value.hex()
    return str(getattr(value, kind)) if kind not in {"array_value", "kvlist_value"} else value.SerializeToString().hex()


def _index(attrs: Any, key: str) -> int:
    for i, kv in enumerate(attrs):
        if kv.key == key:
            return i
    return -1


def apply_actions(attrs: Any, actions: Sequence[tuple[Action, AnyValue | None]]) -> None:
    """Apply ``actions`` (each with its precomputed value) to one repeated ``KeyValue`` field, in order."""
    for action, value in actions:
        i = _index(attrs, action.key)
        kind = action.action
        if kind == "delete":
            if i >= 0:
                del attrs[i]
        elif kind == "hash":
            if i >= 0:
                digest = hashlib.sha256(_text(attrs[i].value).encode()).hexdigest()
                attrs[i].value.Clear()
                attrs[i].value.string_value = digest
        else:
            if (kind == "insert" and i >= 0) or (kind == "update" and i < 0):
                continue
            if value is None:  # from_attribute
                j = _index(attrs, action.from_attribute or "")
                if j < 0:
                    continue
                source = AnyValue()
                source.CopyFrom(attrs[j].value)
            else:
                source = value
            if i >= 0:
                attrs[i].value.CopyFrom(source)
            else:
                attrs.add(key=action.key, value=source)


def prepared(actions: Sequence[Action]) -> list[tuple[Action, AnyValue | None]]:
    return [(a, to_any_value(a.value) if a.value is not None else None) for a in actions]
