"""From text to a raw mapping, as otelcol's confmap: read the YAML, then expand references in every value.

``${env:VAR}``, ``${env:VAR:-default}`` and ``${VAR}`` expand to the variable (a value that is one whole
reference takes the YAML 1.2 type of what it expands to: ``${env:PORT}`` can be an int, ``on`` stays text);
``$$`` is a literal ``$``.
Keys are never expanded.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

__all__ = ["ConfigError", "ExpandedFloat", "ExpandedInt", "expand_env", "read"]


class ConfigError(Exception):
    """Every problem found in a configuration, one line each, each naming its key path."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


_REF_RE = re.compile(r"\$\$|\$\{(?:env:)?(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>[^}]*))?\}")


_INT_RE = re.compile(r"[-+]?(?:0|[1-9][0-9]*)")
_FLOAT_RE = re.compile(r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?")
_BOOLS = {"true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False}


class ExpandedInt(int):
    """An int that ``${env:VAR}`` produced; keeps the variable's text for a key that wants a string."""

    text: str

    def __new__(cls, text: str) -> ExpandedInt:
        self = super().__new__(cls, int(text))
        self.text = text
        return self


class ExpandedFloat(float):
    """A float that ``${env:VAR}`` produced; keeps the variable's text for a key that wants a string."""

    text: str

    def __new__(cls, text: str) -> ExpandedFloat:
        self = super().__new__(cls, float(text))
        self.text = text
        return self


def _typed(value: str) -> str | int | float | bool:
    """``value`` as the YAML 1.2 core schema reads a plain scalar (as otelcol's YAML does): ints, floats and
    ``true``/``false``. Anything else stays text — ``yes``, ``off``, ``0x1F``, ``0123`` or ``1:30`` too, which
    YAML 1.1 would turn into booleans and numbers (a password ``on`` must stay ``on``). Numbers remember their
    text (`ExpandedInt`, `ExpandedFloat`): as otelcol, a key that wants a string gets the text back
    (``password: ${env:PW}`` with ``PW=123456`` is ``"123456"``)."""
    if value in _BOOLS:
        return _BOOLS[value]
    if _INT_RE.fullmatch(value):
        return ExpandedInt(value)
    if _FLOAT_RE.fullmatch(value) and any(c in value for c in ".eE"):
        return ExpandedFloat(value)
    return value


def _expand_str(text: str, environ: Mapping[str, str]) -> Any:
    whole = _REF_RE.fullmatch(text)
    if whole is not None and whole.group("name"):
        value = environ.get(whole.group("name"), whole.group("default") or "")
        # Like otelcol, a value that is a whole reference takes the YAML type of what it expands to.
        return _typed(value)

    def sub(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        return environ.get(m.group("name"), m.group("default") or "")

    return _REF_RE.sub(sub, text)


def expand_env(value: Any, environ: Mapping[str, str] | None = None) -> Any:
    """Expand ``${env:VAR}``, ``${env:VAR:-default}`` and ``${VAR}`` in every string; ``$$`` is a literal ``$``."""
    env = os.environ if environ is None else environ
    if isinstance(value, str):
        return _expand_str(value, env)
    if isinstance(value, Mapping):
        return {k: expand_env(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [expand_env(v, env) for v in value]
    return value


def read(source: str | Path | Mapping[str, Any]) -> Any:
    """A YAML file's content (a mapping passes through as it is); raises `ConfigError` naming the file."""
    if isinstance(source, Mapping):
        return source
    path = Path(source)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read: {exc.strerror or exc}"]) from None
    try:
        return yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise ConfigError([f"{path}: invalid YAML: {exc}".replace("\n", " ")]) from None
