"""Every private name of another package the distro touches is inside the fast-path room (`_internal/fastpath`).

Outside it the distro's code reads and writes only names it defines itself, or public ones: an attribute or a
``getattr``/``hasattr``/``setattr`` name starting with ``_`` used on anything but ``self``/``cls``, one of the
distro's modules or a listed member of one of its classes is some other package's private name (even when the
distro defines a name alike: ``span._lock``), and belongs in the room, behind its version check. The few exceptions
are listed here with their reason (and in the room's docstring).
"""

from __future__ import annotations

import ast
import importlib
import inspect
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

import otel_distro

PACKAGE = Path(otel_distro.__file__).parent
ROOM = PACKAGE / "_internal" / "fastpath"

#: Private-looking names that are public API: namedtuple's methods, the stdlib's documented ``os._exit`` and
#: ``sys._getframe``.
PUBLIC = frozenset({"_replace", "_asdict", "_fields", "_make", "_exit", "_getframe"})

#: The distro's own private members used outside the room on another of its objects (not ``self``), with the class
#: that defines each. Any other private name used there on anything but ``self``/``cls`` or one of the distro's
#: modules is taken for another package's.
OWN_MEMBERS = {
    "_task": "otel_distro._internal.health_monitor.HealthMonitor",
    "_set_own_attributes": "otel_distro._internal.fastpath.server_span.ServerSpan",
    "_decode": "otel_distro._internal.otlp_sink.OtlpHttpSink",
    "_record": "otel_distro._internal.otlp_sink.OtlpHttpSink",
    "_count_bytes": "otel_distro._internal.otlp_sink.OtlpHttpSink",
}

#: Modules with a private segment imported outside the room, and why they stay.
PRIVATE_MODULES = {
    # The OpenTelemetry logs API and SDK are published only under these names (the logs signal is still marked
    # experimental upstream); they are the documented entry points, not internals.
    "opentelemetry._logs": "the logs API's only import path",
    "opentelemetry.sdk._logs": "the logs SDK's only import path",
    "opentelemetry.sdk._logs.export": "the logs SDK's only import path",
    # google-re2's compiled module: the scrubbing engine's matcher (RE2 sets, anchors, options) has no other form, and
    # the engine must import without the distro's `_internal` (the collector loads it).
    "re2._re2": "the scrubbing engine's matcher",
}

#: Third-party classes whose public methods the distro replaces outside the room, and why they stay.
PATCHED = {
    "fastapi.applications.FastAPI.build_middleware_stack": "Starlette's public hook for the app's stack",
    "Dialect.engine_created": "SQLAlchemy's documented dialect hook, wrapped to learn of every engine",
}


def _files(root: Path) -> Iterator[Path]:
    yield from sorted(root.rglob("*.py"))


def _outside_room() -> Iterator[Path]:
    for path in _files(PACKAGE):
        if ROOM not in path.parents:
            yield path


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _distro_modules(tree: ast.AST) -> set[str]:
    """The names a file binds to modules of ``otel_distro`` (``from otel_distro._internal import health``)."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.ImportFrom | ast.Import):
            continue
        module = node.module if isinstance(node, ast.ImportFrom) and node.level == 0 else None
        if module and module.startswith("otel_distro"):
            for alias in node.names:
                path = PACKAGE.parent.joinpath(*module.split("."), alias.name)
                if path.is_dir() or path.with_suffix(".py").is_file():
                    names.add(alias.asname or alias.name)
        elif isinstance(node, ast.Import):
            names.update(alias.asname for alias in node.names if alias.asname and alias.name.startswith("otel_distro"))
    return names


def _private_uses(tree: ast.AST, *, skip: frozenset[str] = frozenset()) -> Iterator[tuple[int, str]]:
    """``x._name`` and ``getattr(x, "_name")`` / ``hasattr`` / ``setattr``, where ``x`` is not a name in ``skip``
    and not ``self``/``cls``."""
    mine = {"self", "cls"} | skip
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and _private(node.attr):
            if not (isinstance(node.value, ast.Name) and node.value.id in mine):
                yield node.lineno, node.attr
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in {"getattr", "hasattr", "setattr", "delattr"}
            and len(node.args) >= 2
            and not (isinstance(node.args[0], ast.Name) and node.args[0].id in mine)
            and isinstance(node.args[1], ast.Constant)
            and isinstance(node.args[1].value, str)
            and _private(node.args[1].value)
        ):
            yield node.lineno, node.args[1].value


def _foreign_private_uses(tree: ast.AST) -> list[tuple[int, str]]:
    """Private names used on objects the file cannot show to be the distro's: anything but ``self``/``cls``, a module
    of ``otel_distro``, or a member on `OWN_MEMBERS`. (Deciding by the name alone would let through every private
    of another package that the distro happens to define too: ``span._lock``, ``tracer._sampler``.)"""
    skip = frozenset(_distro_modules(tree))
    return [
        (line, name)
        for line, name in _private_uses(tree, skip=skip)
        if name not in PUBLIC and name not in OWN_MEMBERS
    ]


def test_no_other_packages_private_name_is_used_outside_the_room() -> None:
    found = [
        f"{path.relative_to(PACKAGE.parent)}:{line}: {name}"
        for path in _outside_room()
        for line, name in _foreign_private_uses(ast.parse(path.read_text()))
    ]
    assert found == []


@pytest.mark.parametrize(("name", "owner"), sorted(OWN_MEMBERS.items()))
def test_each_listed_own_member_is_the_distros(name: str, owner: str) -> None:
    """A method of the class, or an attribute its methods set on ``self``."""
    module_name, _, class_name = owner.rpartition(".")
    cls = getattr(importlib.import_module(module_name), class_name)
    tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    defined = {node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)} | {
        node.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store)
        and isinstance(node.value, ast.Name) and node.value.id == "self"
    }
    assert name in defined


def test_the_rooms_private_names_of_other_packages_appear_nowhere_else() -> None:
    """The names the room reaches for (``_attributes``, ``_CONTEXT_VARS``, ``_telemetry``, ...) are not used outside
    it on anything but the distro's own objects (``self``), even where the distro defines a name alike."""
    reached = {name for path in _files(ROOM) for _, name in _private_uses(ast.parse(path.read_text()))}
    assert {"_attributes", "_CONTEXT_VARS", "_telemetry", "_span_processors"} <= reached  # the room is read
    found = [
        f"{path.relative_to(PACKAGE.parent)}:{line}: {name}"
        for path in _outside_room()
        for line, name in _private_uses(ast.parse(path.read_text()))
        if name in reached
    ]
    assert found == []


def test_private_modules_outside_the_room_are_the_listed_ones() -> None:
    found: set[str] = set()
    for path in _outside_room():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                if node.module.startswith("otel_distro") or node.module == "__future__":
                    continue
                if any(_private(part) for part in node.module.split(".")):
                    found.add(node.module)
                found.update(f"{node.module}.{a.name}" for a in node.names if _private(a.name))
            elif isinstance(node, ast.Import):
                found.update(a.name for a in node.names if any(_private(p) for p in a.name.split(".")))
    assert found <= set(PRIVATE_MODULES), found - set(PRIVATE_MODULES)


def test_third_party_methods_are_replaced_only_in_the_room_or_as_listed() -> None:
    """``SomeClass.method = ...`` on a class imported from another package (uvicorn's, the SDK's, ...)."""
    found: set[str] = set()
    for path in _outside_room():
        tree = ast.parse(path.read_text())
        imported = {
            alias.asname or alias.name
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and node.module and not node.module.startswith("otel_distro")
            and node.level == 0
            for alias in node.names
        } | {
            (alias.asname or alias.name).split(".")[0]
            for node in ast.walk(tree)
            if isinstance(node, ast.Import)
            for alias in node.names
            if not alias.name.startswith("otel_distro")
        }
        for node in ast.walk(tree):
            if isinstance(node, ast.Assign):
                for target in node.targets:
                    if isinstance(target, ast.Attribute):
                        root: ast.expr = target
                        while isinstance(root, ast.Attribute):
                            root = root.value
                        if isinstance(root, ast.Name) and root.id in imported:
                            found.add(ast.unparse(target))
    assert found <= set(PATCHED), found - set(PATCHED)


@pytest.mark.parametrize(
    "source",
    [
        "def f(span):\n    return span._lock\n",  # the SDK span's lock: the distro's classes have a _lock too
        "def f(tracer):\n    return tracer._sampler\n",
        "def f(span):\n    return getattr(span, '_limits', None)\n",
        "def f(provider):\n    return provider._active_span_processor\n",
        "def f(span):\n    span._attributes = {}\n",
    ],
)
def test_another_packages_private_is_found_even_when_the_distro_has_a_name_alike(source: str) -> None:
    assert _foreign_private_uses(ast.parse(source)) != []


@pytest.mark.parametrize(
    "source",
    [
        "def f(self):\n    return self._lock\n",
        "from otel_distro._internal import health\n\ndef f():\n    return health._in_daemon_thread\n",
        "def f(monitor):\n    return monitor._task\n",  # on `OWN_MEMBERS`
        "def f(parts):\n    return parts._replace(a=1)\n",
    ],
)
def test_the_distros_own_privates_are_not_reported(source: str) -> None:
    assert _foreign_private_uses(ast.parse(source)) == []
