"""``POST /analytics/events``: browser batches, validated, rate-limited per client, buffered for the store.

Answers (bodies are JSON): 202 ``{"accepted": n, "results": [{"index": i, "status": "accepted"|"rejected",
"error": "events[i]...: ..."}]}`` when at least one event was taken; 422 with the same body and ``"error"`` when
none was; 400 not JSON; 422 not a batch; 413 more than 64 KB or 100 events; 429 with ``Retry-After`` past the
client's events per minute; 503 with ``Retry-After`` when the buffer is full (resend with the same ids: they are
stored once). Any ``Content-Type`` is read as JSON, since ``navigator.sendBeacon`` posts text/plain.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response

from otel_distro._internal.body import BodyTooLarge, read_body
from otel_distro._internal.cors import Cors
from otel_distro._internal.ratelimit import RateLimiter
from otel_distro.analytics._event import request_correlation
from otel_distro.analytics._tracker import Analytics
from otel_distro.analytics._validate import MAX_BODY_BYTES, BatchError, parse_batch

__all__ = ["IngestRoute"]

_METHODS = ("POST",)


class IngestRoute:
    """The endpoint; ``analytics`` is asked for on each request (it is made on first use, closed at shutdown)."""

    def __init__(self, analytics: Callable[[], Analytics | None], cors: Cors, limiter: RateLimiter) -> None:
        self._analytics = analytics
        self._cors = cors
        self._limiter = limiter

    async def __call__(self, request: Request) -> Response:
        if request.method == "OPTIONS":
            return self._cors.preflight(request, _METHODS)
        headers = self._cors.headers(request)

        def refuse(status: int, error: str, extra: dict[str, str] | None = None) -> Response:
            return JSONResponse({"error": error}, status_code=status, headers={**headers, **(extra or {})})

        analytics = self._analytics()
        if analytics is None:
            return refuse(404, "analytics is off (OTEL_DISTRO_ANALYTICS=false)")
        try:
            body = await read_body(request, MAX_BODY_BYTES)
        except BodyTooLarge as too_large:
            return refuse(413, f"body: {too_large.args[0]} bytes or more; at most {MAX_BODY_BYTES} bytes per batch")
        except ClientDisconnect:
            return refuse(400, "body: the client went away before sending it all")
        trace_id, request_id = request_correlation()
        try:
            results = parse_batch(body, received_at=datetime.now(UTC), trace_id=trace_id, request_id=request_id)
        except BatchError as error:
            return refuse(error.status, error.message)
        valid = [r.event for r in results if r.event is not None]
        client = request.client.host if request.client else "unknown"
        wait = self._limiter.take(client, max(1, len(results)))
        if wait:
            return refuse(429, f"more than {self._limiter.per_minute} analytics events a minute from this client; "
                               f"retry in {wait} s", {"Retry-After": str(wait)})
        rejected = [r for r in results if r.event is None]
        if rejected:
            analytics.count_rejected(["_invalid"] * len(rejected))  # their own names may be anything
        if valid and not analytics.add(valid):
            return refuse(503, "the analytics buffer is full (the database is away?); resend later with the same "
                               "event ids", {"Retry-After": "30"})
        answer: dict[str, Any] = {
            "accepted": len(valid),
            "results": [
                {"index": r.index, "status": "accepted"} if r.event is not None
                else {"index": r.index, "status": "rejected", "error": r.error}
                for r in results
            ],
        }
        if not valid:
            answer = {"error": rejected[0].error, **answer}
            return JSONResponse(answer, status_code=422, headers=headers)
        return JSONResponse(answer, status_code=202, headers=headers)

