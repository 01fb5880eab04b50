"""The routes the browser modules call, added to every FastAPI app beside /health and /metrics:

* ``GET /monitoring/config`` — the page's runtime config: public Sentry DSN, environment, release, sample
  rates, the tunnel and the analytics endpoint (one frontend build serves every environment);
* ``POST /monitoring/tunnel`` — Sentry envelopes, scrubbed, to the configured DSNs only (`sentry_tunnel`);
* ``POST /analytics/events`` — analytics batches (`otel_distro.analytics`), when analytics is on; the app's
  lifespan is wrapped so that its shutdown writes the analytics buffer.

Each answers CORS preflights for ``OTEL_DISTRO_CORS_ORIGINS``. A route the app defines itself is left alone.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from otel_distro._internal import guard, setup, state
from otel_distro._internal.cors import Cors
from otel_distro._internal.ratelimit import RateLimiter
from otel_distro._internal.sentry_tunnel import Dsn, Tunnel
from otel_distro.settings import Settings

__all__ = ["ANALYTICS_PATH", "CONFIG_PATH", "TUNNEL_PATH", "add_browser_routes", "monitoring_config"]

CONFIG_PATH = "/monitoring/config"
TUNNEL_PATH = "/monitoring/tunnel"
ANALYTICS_PATH = "/analytics/events"


def monitoring_config(settings: Settings) -> dict[str, Any]:
    """What ``GET /monitoring/config`` answers (the contract the browser modules are built to)."""
    from otel_distro.analytics._validate import MAX_EVENTS  # noqa: PLC0415

    text = settings.sentry_browser_dsn or settings.sentry_dsn
    dsn = Dsn.parse(text) if text else None
    environment: Any = settings.environment
    release: Any = settings.service_version
    current = setup.runtime()
    if current is not None:
        attributes = current.resource.attributes
        environment = attributes.get("deployment.environment.name", environment)
        version = attributes.get("service.version")
        if version not in (None, "", "unknown"):
            release = version
    return {
        "sentry": {
            "dsn": dsn.public if dsn is not None else None,
            "environment": str(environment),
            "release": None if release is None else str(release),
            "tracesSampleRate": settings.sentry_traces_sample_rate,
            "sampleRate": settings.sentry_sample_rate,
            "tunnel": TUNNEL_PATH,
        },
        "analytics": {"endpoint": ANALYTICS_PATH, "maxBatch": MAX_EVENTS},
    }


def add_browser_routes(app: Any, taken: set[Any]) -> None:
    """Add the three routes where ``taken`` (the app's own paths) has none. A failure here costs these routes
    only (logged once), never the request middleware and the other routes."""
    try:
        _add(app, taken)
    except Exception as exc:
        guard.internal_error("add_browser_routes", exc)


def _add(app: Any, taken: set[Any]) -> None:
    settings = state.settings()
    cors = Cors(settings.cors_origins, settings.request_id_header)

    async def config(request: Request) -> Response:
        if request.method == "OPTIONS":
            return cors.preflight(request, ("GET",))
        return JSONResponse(monitoring_config(settings), headers={**cors.headers(request), "Cache-Control": "no-cache"})

    wanted: list[tuple[str, Callable[[Request], Any], list[str]]] = [
        (CONFIG_PATH, config, ["GET", "OPTIONS"]),
        (TUNNEL_PATH, _tunnel(settings, cors).__call__, ["POST", "OPTIONS"]),  # a method: a request endpoint
    ]
    if settings.analytics:
        from otel_distro.analytics._route import IngestRoute  # noqa: PLC0415
        from otel_distro.analytics._tracker import current  # noqa: PLC0415

        limiter = RateLimiter(settings.analytics_rate_limit)
        wanted.append((ANALYTICS_PATH, IngestRoute(current, cors, limiter).__call__, ["POST", "OPTIONS"]))
        _close_analytics_at_shutdown(app)
    for path, endpoint, methods in wanted:
        if path not in taken:
            app.router.add_route(path, endpoint, methods=methods, include_in_schema=False)


def _tunnel(settings: Settings, cors: Cors) -> Tunnel:
    from otel_distro.scrubbing import default_scrubber  # noqa: PLC0415

    scrubber = default_scrubber(key=settings.scrub_key.encode()) if settings.scrub_key else default_scrubber()
    dsns = [d for d in (settings.sentry_dsn, settings.sentry_browser_dsn, *settings.sentry_tunnel_dsns) if d]
    return Tunnel(dsns, scrubber=scrubber, cors=cors, max_bytes=settings.sentry_tunnel_max_bytes)


def _close_analytics_at_shutdown(app: Any) -> None:
    """Wrap the app's lifespan (its own, or Starlette's default): start-up makes the analytics service, shutdown
    ends by writing its buffer, both off the event loop. SIGTERM under uvicorn arrives here too: uvicorn shuts the
    app down first."""
    router = app.router
    original = router.lifespan_context
    if getattr(original, "__otel_distro_analytics__", False):
        return

    @contextlib.asynccontextmanager
    async def lifespan(asgi_app: Any) -> AsyncIterator[Any]:
        from otel_distro.analytics._tracker import current, shutdown  # noqa: PLC0415

        try:
            # Made now, off the loop, rather than by the first request that tracks an event (reads the key file).
            await asyncio.to_thread(current)
        except Exception as exc:
            guard.internal_error("analytics_start", exc)
        try:
            async with original(asgi_app) as maybe_state:
                yield maybe_state
        finally:
            await asyncio.to_thread(shutdown)

    lifespan.__otel_distro_analytics__ = True  # type: ignore[attr-defined]
    router.lifespan_context = lifespan
