"""The fast path's own tests run where it is on; with it off (the CI matrix's run with ``OTEL_DISTRO_FAST_PATH=false``,
or an OpenTelemetry release outside the known range) the rest of the suite checks the plain SDK path instead."""

from __future__ import annotations

import pytest

from otel_distro._internal import fastpath


@pytest.fixture(autouse=True)
def _only_with_the_fast_path_on() -> None:
    if not fastpath.active():
        pytest.skip(f"the fast path is off in this run ({fastpath.status().reason})")
