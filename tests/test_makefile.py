"""The Makefile's SDK matrix: its oldest run is on the oldest releases pyproject.toml allows, not near them."""

from __future__ import annotations

import re
import tomllib

from packaging.requirements import Requirement
from packaging.version import Version

from tests.support import ROOT


def _make_variables() -> dict[str, str]:
    text = (ROOT / "Makefile").read_text()
    return {m[1]: m[2].strip() for m in re.finditer(r"^([A-Z_]+)\s*:?=\s*(.*)$", text, re.MULTILINE)}


def _floors() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"].values()
    dependencies = [*project["dependencies"], *(d for extra in extras for d in extra)]
    floors: dict[str, str] = {}
    for requirement in map(Requirement, dependencies):
        for spec in requirement.specifier:
            if spec.operator == ">=":
                floors[requirement.name] = spec.version
    return floors


def test_the_oldest_matrix_run_is_on_the_floors_pyproject_allows() -> None:
    # Raising a floor in pyproject.toml without moving the matrix's pins would leave the new floor untested.
    variables, floors = _make_variables(), _floors()
    pins = dict(pin.split("==") for pin in variables["FASTAPI_OLDEST_PINS"].split())
    assert Version(variables["OTEL_OLDEST"]) == Version(floors["opentelemetry-sdk"])
    assert Version(variables["OTEL_CONTRIB_OLDEST"]) == Version(floors["opentelemetry-instrumentation-fastapi"])
    assert Version(pins["fastapi"]) == Version(floors["fastapi"])
