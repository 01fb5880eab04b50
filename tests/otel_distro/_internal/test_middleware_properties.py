"""Property: the request counters count every request, whatever the sequence of status codes.

For any sequence of answers (any status from 200 to 599, or an unhandled exception), ``http.server.request.count``
grows by exactly the number of requests, by status class; ``http.server.error.count`` by the 5xx answers and
failures; the duration histogram and the ``request_finished`` / ``request_failed`` lines once per request.
"""

from __future__ import annotations

from collections import Counter

import pytest
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.responses import Response
from starlette.testclient import TestClient

from otel_distro.testing import OtelCapture

RAISE = 0  # stands for an unhandled exception (answered 500)
ROUTE = "/answer/{status}"


@pytest.fixture(scope="module")
def app() -> FastAPI:
    app = FastAPI()

    @app.get(ROUTE)
    async def answer(status: int) -> Response:
        if status == RAISE:
            raise RuntimeError("unhandled")
        return Response(status_code=status)

    return app


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.one_of(st.just(RAISE), st.integers(200, 599)), max_size=25))
def test_every_request_is_counted_once(app: FastAPI, otel: OtelCapture, statuses: list[int]) -> None:
    otel.instrument(app)
    otel.clear()
    # One event-loop portal for the whole sequence (without ``with``, the test client starts and stops one per request).
    with TestClient(app, raise_server_exceptions=False) as client:
        for status in statuses:
            assert client.get(f"/answer/{status}").status_code == (status or 500)

    answered = [status or 500 for status in statuses]
    by_class = Counter(f"{status // 100}xx" for status in answered)
    route = {"http.route": ROUTE}
    assert otel.metric_total("http.server.request.count", route) == len(statuses)
    for status_class in ("2xx", "3xx", "4xx", "5xx"):
        counted = otel.metric_total("http.server.request.count", {**route, "http.response.status_class": status_class})
        assert counted == by_class[status_class]
    assert otel.metric_total("http.server.error.count", route) == by_class["5xx"]
    assert otel.metric_total("http.server.request.duration", route) == len(statuses)
    finished = [e for e in otel.logs if e["message"] in ("request_finished", "request_failed")]
    assert sorted(e["status"] for e in finished) == sorted(answered)
    assert sum(e["message"] == "request_failed" for e in finished) == statuses.count(RAISE)
