"""The documented events and what their properties must be; every other snake_case name is a custom event.

==================== ================================================================================
event                properties (other properties are allowed, under the generic rules)
==================== ================================================================================
``login``            ``success`` boolean (required); ``method`` string (``password``, ``oauth``, ...);
                     ``failure_reason`` string
``chat_message_sent`` ``message_length`` integer >= 0 (required); ``conversation_id`` string;
                     ``has_attachments`` boolean
``image_generated``  ``prompt_length`` integer >= 0 (required); ``width``, ``height`` integers > 0;
                     ``style`` string; ``duration_ms`` number >= 0; ``success`` boolean
==================== ================================================================================

Never put the message text, the prompt or a password in properties: lengths and flags are what is counted.
(Whatever arrives is scrubbed before storage anyway.)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["EVENT_SCHEMAS", "Property", "check_known_properties"]

Kind = Literal["boolean", "string", "integer", "number"]


@dataclass(frozen=True, slots=True)
class Property:
    kind: Kind
    required: bool = False
    minimum: float | None = None
    exclusive_minimum: bool = False


EVENT_SCHEMAS: dict[str, dict[str, Property]] = {
    "login": {
        "success": Property("boolean", required=True),
        "method": Property("string"),
        "failure_reason": Property("string"),
    },
    "chat_message_sent": {
        "message_length": Property("integer", required=True, minimum=0),
        "conversation_id": Property("string"),
        "has_attachments": Property("boolean"),
    },
    "image_generated": {
        "prompt_length": Property("integer", required=True, minimum=0),
        "width": Property("integer", minimum=0, exclusive_minimum=True),
        "height": Property("integer", minimum=0, exclusive_minimum=True),
        "style": Property("string"),
        "duration_ms": Property("number", minimum=0),
        "success": Property("boolean"),
    },
}

_ARTICLE = {"boolean": "a boolean", "string": "a string", "integer": "an integer", "number": "a number"}


def _is(kind: Kind, value: Any) -> bool:
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "string":
        return isinstance(value, str)
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, int | float) and not isinstance(value, bool)


def check_known_properties(name: str, properties: dict[str, Any]) -> str | None:
    """What is wrong with a documented event's properties (``"message_length: expected an integer >= 0, got
    'x'"``), or None (also for custom events)."""
    schema = EVENT_SCHEMAS.get(name)
    if schema is None:
        return None
    for key, prop in schema.items():
        if key not in properties:
            if prop.required:
                return f"{key}: required for {name} ({_ARTICLE[prop.kind]})"
            continue
        value = properties[key]
        bound = ""
        if prop.minimum is not None:
            bound = f" {'>' if prop.exclusive_minimum else '>='} {prop.minimum:g}"
        ok = _is(prop.kind, value)
        if ok and prop.minimum is not None:
            ok = value > prop.minimum if prop.exclusive_minimum else value >= prop.minimum
        if not ok:
            return f"{key}: expected {_ARTICLE[prop.kind]}{bound}, got {_show(value)}"
    return None


def _show(value: Any) -> str:
    """Numbers, booleans and null as they are; other values by their JSON type only (never echo a text)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return "a string"
    return "an array" if isinstance(value, list) else "an object" if isinstance(value, dict) else "another type"
