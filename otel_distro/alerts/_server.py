"""The HTTP side of ``otel-distro alerts serve`` (aiohttp):

* ``POST /webhook`` — Alertmanager's webhook: every alert of the notification is recorded (200 once stored;
  400 naming the field on a malformed body, so that Alertmanager does not retry what can never be stored;
  503 when the database is unavailable, so that it does retry);
* ``GET /api/alerts`` — the history, newest first, filtered by ``since`` / ``until`` (RFC 3339),
  ``service``, ``severity``, ``alertname``, ``state`` (firing, resolved, acknowledged, unacknowledged), ``limit``;
* ``GET /api/alerts/{fingerprint}`` — the latest episode of one alert, with notifications and events;
* ``POST /api/alerts/{fingerprint}/ack`` — ``{"by": "...", "reason": "..."}``: stops its escalation;
* ``GET /health`` — for the blackbox probe.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import structlog
from aiohttp import web
from pydantic import ValidationError
from sqlalchemy.exc import SQLAlchemyError

from otel_distro.alerts._escalation import rfc3339
from otel_distro.alerts._store import AlertFilter, AlertStore
from otel_distro.alerts._webhook import WebhookMessage

__all__ = ["create_app"]

_log = structlog.get_logger("otel_distro.alerts")
_MAX_BY = 200  # the acked_by column
_STATES = ("firing", "resolved", "acknowledged", "unacknowledged")


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def _time(params: Any, name: str) -> float | None:
    text = params.get(name)
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise web.HTTPBadRequest(text=json.dumps({"error": f"{name}: expected an RFC 3339 time, got {text!r}"}),
                                 content_type="application/json") from None


def _public(row: dict[str, Any]) -> dict[str, Any]:
    ack = None if row["acked_at"] is None else {"by": row["acked_by"], "reason": row["ack_reason"],
                                                "at": rfc3339(row["acked_at"])}
    out = {
        "fingerprint": row["fingerprint"], "alertname": row["alertname"], "severity": row["severity"],
        "service": row["service"], "state": row["state"], "labels": row["labels"], "annotations": row["annotations"],
        "generator_url": row["generator_url"], "starts_at": rfc3339(row["starts_at"]),
        "ends_at": rfc3339(row["ends_at"]) if row["ends_at"] is not None else None,
        "acknowledged": ack, "escalation_level": row["escalation_level"],
        "receivers": sorted({n["receiver"] for n in row.get("notifications", [])}),
    }
    out["notifications"] = [{"receiver": n["receiver"], "status": n["status"], "escalation_level":
                             n["escalation_level"], "received_at": rfc3339(n["received_at"])}
                            for n in row.get("notifications", [])]
    out["events"] = [{"kind": e["kind"], "level": e["level"], "by": e["by"], "reason": e["reason"],
                      "at": rfc3339(e["at"])} for e in row.get("events", [])]
    return out


def create_app(store: AlertStore, *, clock: Callable[[], float] = time.time) -> web.Application:
    routes = web.RouteTableDef()

    @routes.post("/webhook")
    async def webhook(request: web.Request) -> web.Response:
        try:
            message = WebhookMessage.model_validate_json(await request.read())
        except ValidationError as exc:
            first = exc.errors(include_url=False)[0]
            where = ".".join(str(p) for p in first["loc"]) or "body"
            return _error(400, f"{where}: {first['msg']}")
        now = clock()
        try:
            await asyncio.to_thread(store.record_notifications, [alert.as_row() for alert in message.alerts],
                                    receiver=message.receiver, group_key=message.groupKey, now=now)
        except SQLAlchemyError as exc:
            _log.error("alert_history_write_failed", error=str(exc))
            return _error(503, "the alert history database is unavailable")
        _log.info("alert_notification_recorded", receiver=message.receiver, status=message.status,
                  alerts=len(message.alerts))
        return web.json_response({"recorded": len(message.alerts)})

    @routes.get("/api/alerts")
    async def list_alerts(request: web.Request) -> web.Response:
        params = request.query
        state = params.get("state") or None
        if state is not None and state not in _STATES:
            return _error(400, f"state: expected one of {', '.join(_STATES)}, got {state!r}")
        try:
            limit = int(params.get("limit", "100"))
        except ValueError:
            return _error(400, f"limit: expected a number, got {params.get('limit')!r}")
        flt = AlertFilter(since=_time(params, "since"), until=_time(params, "until"),
                          service=params.get("service") or None, severity=params.get("severity") or None,
                          alertname=params.get("alertname") or None, state=state, limit=max(1, min(limit, 1000)))
        rows = await asyncio.to_thread(store.find, flt)
        return web.json_response({"alerts": [_public(r) for r in rows]})

    @routes.get("/api/alerts/{fingerprint}")
    async def get_alert(request: web.Request) -> web.Response:
        row = await asyncio.to_thread(store.latest, request.match_info["fingerprint"])
        if row is None:
            return _error(404, f"no alert with fingerprint {request.match_info['fingerprint']!r}")
        return web.json_response(_public(row))

    @routes.post("/api/alerts/{fingerprint}/ack")
    async def ack(request: web.Request) -> web.Response:
        fingerprint = request.match_info["fingerprint"]
        try:
            body = await request.json()
        except ValueError:
            return _error(400, 'body: expected JSON {"by": "...", "reason": "..."}')
        by = body.get("by") if isinstance(body, dict) else None
        reason = body.get("reason", "") if isinstance(body, dict) else ""
        if not isinstance(by, str) or not by.strip():
            return _error(400, "by: required (who acknowledges)")
        if not isinstance(reason, str):
            return _error(400, "reason: expected a string")
        if len(by.strip()) > _MAX_BY:
            return _error(400, f"by: at most {_MAX_BY} characters")
        found = await asyncio.to_thread(store.acknowledge, fingerprint, by=by.strip(), reason=reason, now=clock())
        if not found:
            return _error(404, f"no alert with fingerprint {fingerprint!r}")
        _log.info("alert_acknowledged", fingerprint=fingerprint, by=by.strip(), via="api")
        row = await asyncio.to_thread(store.latest, fingerprint)
        return web.json_response(_public(row) if row else {})

    @routes.get("/health")
    async def health(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    app = web.Application(client_max_size=4 * 1024 * 1024)
    app.add_routes(routes)
    return app
