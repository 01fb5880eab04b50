"""The engine, its rules and the CLI load without the OpenTelemetry SDK, and so does the collector's `pii`
processor that uses them: only the SDK processors (`ScrubbingSpanProcessor`, ...) import `opentelemetry.sdk`."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

# A fresh interpreter in which any import of `opentelemetry.sdk` fails, as in an environment without the SDK.
_BLOCK_SDK = textwrap.dedent(
    """
    import importlib.abc
    import sys

    class BlockSdk(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name == "opentelemetry.sdk" or name.startswith("opentelemetry.sdk."):
                raise ImportError(f"blocked: {name}")
            return None

    sys.meta_path.insert(0, BlockSdk())
    """
)


def _run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", _BLOCK_SDK + textwrap.dedent(code)],
                          capture_output=True, text=True, timeout=120, check=False)


def test_the_block_works() -> None:
    proc = _run("import opentelemetry.sdk.trace")
    assert proc.returncode != 0
    assert "blocked: opentelemetry.sdk" in proc.stderr


@pytest.mark.parametrize("code", [
    "import collector.processors.pii",
    "from otel_distro.scrubbing import Scrubber, Rule, default_rules, default_scrubber, COUNT_KEY, KINDS_KEY\n"
    "assert Scrubber().scrub_text('mail jane@example.com') == 'mail [REDACTED:email]'",
    "from otel_distro.scrubbing import StructlogScrubber, sentry_before_send",
    "import otel_distro.scrubbing.cli",
])
def test_importable_without_the_sdk(code: str) -> None:
    proc = _run(code + "\nimport sys\nassert not any(m.startswith('opentelemetry.sdk') for m in sys.modules)")
    assert proc.returncode == 0, proc.stderr


def test_the_sdk_processors_still_import_on_demand() -> None:
    from otel_distro import scrubbing  # noqa: PLC0415

    assert scrubbing.ScrubbingSpanProcessor.__name__ == "ScrubbingSpanProcessor"
    assert sorted(dir(scrubbing)) == sorted(scrubbing.__all__)
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = scrubbing.nope
