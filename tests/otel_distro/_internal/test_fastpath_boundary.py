"""Every private name of another package the distro touches is inside the fast-path room (`_internal/fastpath`).

Outside it the distro's code reads and writes only names it defines itself, or public ones: an attribute or a
``getattr``/``hasattr``/``setattr`` name starting with ``_`` that nothing in ``otel_distro`` defines is some other
package's private name, and belongs in the room, behind its version check. The few exceptions are listed here with
their reason (and in the room's docstring).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import otel_distro

PACKAGE = Path(otel_distro.__file__).parent
ROOM = PACKAGE / "_internal" / "fastpath"

#: Private-looking names that are public API: namedtuple's methods, the stdlib's documented ``os._exit`` and
#: ``sys._getframe``.
PUBLIC = frozenset({"_replace", "_asdict", "_fields", "_make", "_exit", "_getframe"})

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


def _own_names() -> set[str]:
    """Every name the distro defines anywhere (room included): functions, classes, assigned names and attributes,
    parameters, module names."""
    names: set[str] = set()
    for path in _files(PACKAGE):
        names.add(path.stem)
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                names.add(node.name)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                names.add(node.id)
            elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
                names.add(node.attr)
            elif isinstance(node, ast.arg):
                names.add(node.arg)
            elif isinstance(node, ast.alias) and node.asname:
                names.add(node.asname)
    return names


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _private_uses(tree: ast.AST) -> Iterator[tuple[int, str]]:
    """``x._name`` (not on ``self``/``cls``) and ``getattr(x, "_name")`` / ``hasattr`` / ``setattr``."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and _private(node.attr):
            if not (isinstance(node.value, ast.Name) and node.value.id in {"self", "cls"}):
                yield node.lineno, node.attr
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in {"getattr", "hasattr", "setattr", "delattr"}
            and len(node.args) >= 2
            and isinstance(node.args[1], ast.Constant)
            and isinstance(node.args[1].value, str)
            and _private(node.args[1].value)
        ):
            yield node.lineno, node.args[1].value


def test_no_other_packages_private_name_is_used_outside_the_room() -> None:
    own = _own_names()
    found = [
        f"{path.relative_to(PACKAGE.parent)}:{line}: {name}"
        for path in _outside_room()
        for line, name in _private_uses(ast.parse(path.read_text()))
        if name not in own and name not in PUBLIC
    ]
    assert found == []


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
