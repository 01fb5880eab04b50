"""From text to a raw mapping, as otelcol's confmap: read the YAML, then expand references in every value.

``${env:VAR}``, ``${env:VAR:-default}`` and ``${VAR}`` expand to the variable (a value that is one whole
reference takes the YAML type of what it expands to: ``${env:PORT}`` can be an int); ``$$`` is a literal ``$``.
Keys are never expanded.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

__all__ = ["ConfigError", "expand_env", "read"]


class ConfigError(Exception):
    """Every problem found in a configuration, one line each, each naming its key path."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


_REF_RE = re.compile(r"\$\$|\$\{(?:env:)?(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>[^}]*))?\}")


def _expand_str(text: str, environ: Mapping[str, str]) -> Any:
    whole = _REF_RE.fullmatch(text)
    if whole is not None and whole.group("name"):
        value = environ.get(whole.group("name"), whole.group("default") or "")
        # Like otelcol, a value that is a whole reference takes the YAML type of what it expands to.
        try:
            parsed = yaml.safe_load(value) if value else value
        except yaml.YAMLError:
            return value
        return parsed if isinstance(parsed, str | int | float | bool) else value

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
