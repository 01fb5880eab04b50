"""Every registered component whose module exists has the shape `collector.component` documents."""

from __future__ import annotations

import importlib
import importlib.util
import inspect

import pytest
from pydantic import BaseModel

from collector import registry
from collector.component import Kind
from collector.pdata import Signal


def _registered() -> list[tuple[Kind, str, str]]:
    out = []
    for kind, types in registry.COMPONENTS.items():
        for name, path in types.items():
            if importlib.util.find_spec(path) is not None:
                out.append((kind, name, path))
    return out


COMPONENTS = _registered()


def test_the_core_components_are_all_present() -> None:
    present = {(k, n) for k, n, _ in COMPONENTS}
    core = {(Kind.RECEIVER, "otlp"), (Kind.PROCESSOR, "batch"), (Kind.PROCESSOR, "memory_limiter"),
            (Kind.PROCESSOR, "attributes"), (Kind.PROCESSOR, "resource"), (Kind.EXPORTER, "otlp"),
            (Kind.EXPORTER, "otlphttp"), (Kind.EXPORTER, "file"), (Kind.EXPORTER, "debug"),
            (Kind.EXTENSION, "health_check"), (Kind.EXTENSION, "file_storage")}
    assert core <= present


@pytest.mark.parametrize(("kind", "name", "path"), COMPONENTS, ids=[f"{k.value}/{n}" for k, n, _ in COMPONENTS])
def test_component_shape(kind: Kind, name: str, path: str) -> None:
    module = importlib.import_module(path)
    assert name == module.TYPE, "TYPE must equal the registry key (= module name = YAML key)"
    config = module.Config
    assert issubclass(config, BaseModel)
    assert config.model_config.get("extra") == "forbid", "unknown keys must be errors"
    config()  # the defaults validate on their own
    assert callable(module.create)
    params = list(inspect.signature(module.create).parameters)
    assert len(params) == (3 if kind is Kind.RECEIVER else 2), params
    if kind is not Kind.EXTENSION:
        assert module.SIGNALS and set(module.SIGNALS) <= set(Signal)
