"""``otel-distro alerts``: bad settings stop it with a message naming the variable."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest


@pytest.mark.parametrize(("env", "message"), [
    ({"OTEL_DISTRO_ALERTS_ESCALATE_AFTER": "soon"}, "OTEL_DISTRO_ALERTS_ESCALATE_AFTER='soon' is not allowed"),
    ({"OTEL_DISTRO_ALERTMANAGER_URL": "alertmanager:9093"}, "OTEL_DISTRO_ALERTMANAGER_URL='alertmanager:9093'"),
    ({"OTEL_DISTRO_ALERTS_DATABASE_URL": "history.db"}, "OTEL_DISTRO_ALERTS_DATABASE_URL=<secret> is not allowed"),
])
def test_a_bad_setting_is_named_and_nothing_starts(env: dict[str, str], message: str) -> None:
    out = subprocess.run([sys.executable, "-m", "otel_distro.cli", "alerts", "serve", "--port", "0"],
                         env={**os.environ, **env}, capture_output=True, text=True, timeout=60, check=False)
    assert out.returncode == 2
    assert message in out.stderr


def test_a_bad_check_interval_is_named() -> None:
    out = subprocess.run([sys.executable, "-m", "otel_distro.cli", "alerts", "serve", "--check-interval", "often"],
                         capture_output=True, text=True, timeout=60, check=False)
    assert out.returncode == 2
    assert "--check-interval 'often' is not a duration" in out.stderr
