"""The shipped Alertmanager config, rendered by the shipped entrypoint (alertmanager/entrypoint.sh), for tests:
addresses point at the test's servers, and the grouping waits are shortened."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from tests.support import ROOT

__all__ = ["ENTRYPOINT", "TEMPLATE", "render", "shorten_waits"]

ENTRYPOINT = ROOT / "alertmanager" / "entrypoint.sh"
TEMPLATE = ROOT / "alertmanager" / "alertmanager.yml"


def render(out: Path, env: Mapping[str, str]) -> Path:
    """``entrypoint.sh render`` with ``env`` (on top of a clean environment)."""
    clean = {"PATH": os.environ["PATH"], **env}
    subprocess.run(["sh", str(ENTRYPOINT), "render", str(TEMPLATE), str(out)], env=clean, check=True,
                   capture_output=True, text=True)
    return out


def shorten_waits(path: Path, wait: str = "1s") -> dict[str, Any]:
    """group_wait and group_interval of every route set to ``wait`` (the test config derived from the shipped
    one); returns the config."""
    config: dict[str, Any] = yaml.safe_load(path.read_text())
    for route in [config["route"], *config["route"].get("routes", [])]:
        route["group_wait"] = wait
        route["group_interval"] = wait
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return config
