"""`exception.stacktrace` text -> Sentry exception values with frames.

The OTel SDKs record a stack trace as one string in the language's own format. Python's (what
`traceback.format_exception` prints, chained causes and exception groups included) is parsed into frames, and
so is structlog's structured form (the JSON list `dict_tracebacks` makes); any other text becomes a single
frame that carries the raw lines, so nothing is lost.
"""

from __future__ import annotations

import json
import re
from typing import Any

__all__ = ["MAX_FRAMES", "parse_stacktrace", "split_type"]

MAX_FRAMES = 250
"""Frames kept per exception (Sentry's own limit); the oldest and newest halves are kept."""

_HEADER = re.compile(r"^(?:Exception Group )?Traceback \(most recent call last\):\s*$")
_GROUP_HEADER = re.compile(r"^\s*\+ Exception Group Traceback \(most recent call last\):\s*$")
_GROUP_PREFIX = re.compile(r"^\s{0,2}[+|] ?")
_GROUP_SPLIT = re.compile(r"^\s*\+-")
_CHAIN = frozenset(
    {
        "The above exception was the direct cause of the following exception:",
        "During handling of the above exception, another exception occurred:",
    }
)
_FRAME = re.compile(r'^  File "(?P<path>.*)", line (?P<lineno>\d+)(?:, in (?P<function>.+))?$')
_REPEATED = re.compile(r"^\s*\[Previous line repeated \d+ more times?\]$")
_CARETS = re.compile(r"^\s*[\^~\s]+$")
_EXC_LINE = re.compile(r"^(?P<type>[A-Za-z_][\w.]*)(?::(?: (?P<value>.*))?)?$")
_SITE = re.compile(r"[/\\](?:site|dist)-packages[/\\]")
_STDLIB = re.compile(r"[/\\]lib[/\\]python\d+(?:\.\d+)?[/\\]")
_RAW_LINES = 50


def split_type(name: str) -> tuple[str, str | None]:
    """``"pkg.mod.Error"`` -> ``("Error", "pkg.mod")``; a bare name has no module."""
    module, dot, short = name.rpartition(".")
    return (short, module) if dot and module else (name, None)


def parse_stacktrace(text: str, exc_type: str = "", exc_value: str = "") -> list[dict[str, Any]]:
    """Sentry ``exception.values`` (oldest cause first, the raised exception last) for one stack trace.

    `exc_type` / `exc_value` (the ``exception.type`` / ``exception.message`` attributes) name the raised
    exception when the text does not, and win over what the text says, since they are not truncated.
    """
    values = (_parse_structlog(text) or _parse_python(text)) if text else None
    if values is None:
        values = [{"type": exc_type or "Error", "value": exc_value}]
        if text.strip():
            values[0]["stacktrace"] = {"frames": [_raw_frame(text)]}
    last = values[-1]
    if exc_type:
        last["type"] = exc_type
    if exc_value:
        last["value"] = exc_value
    for value in values:
        short, module = split_type(str(value["type"]))
        value["type"] = short
        if module is not None:
            value["module"] = module
    return values


def _parse_python(text: str) -> list[dict[str, Any]] | None:
    lines = text.splitlines()
    if any(_GROUP_HEADER.match(line) for line in lines[:1]):
        kept: list[str] = []
        for line in lines:
            if _GROUP_SPLIT.match(line):
                break  # the sub-exceptions of a group: the group itself is what was raised here
            kept.append(_GROUP_PREFIX.sub("", line, count=1))
        lines = kept
    if not any(_HEADER.match(line) for line in lines):
        return None
    pieces: list[list[str]] = [[]]
    for line in lines:
        if line.strip() in _CHAIN:
            pieces.append([])
        else:
            pieces[-1].append(line)
    values = [v for v in (_parse_piece(p) for p in pieces) if v is not None]
    return values or None


def _parse_structlog(text: str) -> list[dict[str, Any]] | None:
    """structlog's ``dict_tracebacks`` JSON: the raised exception first, then its causes, each with frames."""
    if not text.lstrip().startswith("[{"):
        return None
    try:
        stacks = json.loads(text)
    except ValueError:
        return None
    if not isinstance(stacks, list) or not all(isinstance(s, dict) and "exc_type" in s for s in stacks):
        return None
    values: list[dict[str, Any]] = []
    for stack in reversed(stacks):  # Sentry wants the oldest cause first
        value: dict[str, Any] = {"type": str(stack["exc_type"]), "value": str(stack.get("exc_value") or "")}
        notes = [str(n) for n in stack.get("exc_notes") or ()]
        if notes:
            value["value"] = "\n".join([value["value"], *notes])
        frames = [
            _frame(str(f.get("filename", "?")), int(f.get("lineno") or 0), f.get("name"))
            for f in stack.get("frames") or ()
            if isinstance(f, dict)
        ]
        if frames:
            value["stacktrace"] = {"frames": _cap(frames)}
        values.append(value)
    return values or None


def _parse_piece(lines: list[str]) -> dict[str, Any] | None:
    while lines and not lines[0].strip():
        lines = lines[1:]
    while lines and not lines[-1].strip():
        lines = lines[:-1]
    if not lines:
        return None
    i = 1 if _HEADER.match(lines[0]) else 0
    frames: list[dict[str, Any]] = []
    while i < len(lines):
        line = lines[i]
        m = _FRAME.match(line)
        if m is not None:
            frames.append(_frame(m.group("path"), int(m.group("lineno")), m.group("function")))
        elif _REPEATED.match(line):
            pass
        elif line.startswith("    ") and frames:
            if "context_line" not in frames[-1] and not _CARETS.match(line):
                frames[-1]["context_line"] = line.strip()
        else:
            break
        i += 1
    if i >= len(lines):
        return None
    m = _EXC_LINE.match(lines[i])
    if m is None:
        return None
    value_lines = [m.group("value") or "", *lines[i + 1 :]]
    value: dict[str, Any] = {"type": m.group("type"), "value": "\n".join(value_lines).strip("\n")}
    if frames:
        value["stacktrace"] = {"frames": _cap(frames)}
    return value


def _frame(path: str, lineno: int, function: str | None) -> dict[str, Any]:
    frame: dict[str, Any] = {"abs_path": path, "filename": path, "lineno": lineno, "function": function or "?"}
    site = _SITE.search(path)
    if site is not None:
        relative = path[site.end() :]
        frame["filename"] = relative
        stem = relative.removesuffix(".py").replace("\\", "/")
        frame["module"] = stem.removesuffix("/__init__").replace("/", ".")
        frame["in_app"] = False
    else:
        frame["in_app"] = not (path.startswith("<") or _STDLIB.search(path))
    return frame


def _cap(frames: list[dict[str, Any]]) -> list[dict[str, Any]]:
    if len(frames) <= MAX_FRAMES:
        return frames
    half = MAX_FRAMES // 2
    return frames[:half] + frames[-half:]


def _raw_frame(text: str) -> dict[str, Any]:
    """The whole trace, unparsed, as one frame: Sentry shows its lines as the frame's source context."""
    lines = [line.rstrip() for line in text.strip().splitlines()][:_RAW_LINES]
    return {
        "function": "<unparsed stack trace>",
        "filename": "<raw>",
        "in_app": True,
        "context_line": lines[0],
        "post_context": lines[1:],
    }
