"""``POST /monitoring/tunnel``: the browser SDK's envelopes, scrubbed, forwarded to Sentry — not an open relay.

* Only envelopes whose header ``dsn`` has the host and project id of a configured DSN (``SENTRY_DSN``,
  ``OTEL_DISTRO_SENTRY_BROWSER_DSN``, ``OTEL_DISTRO_SENTRY_TUNNEL_DSNS``) are forwarded, and to the URL built from
  that configured DSN (``<scheme>://<host>/api/<project>/envelope/``), never from anything in the request.
  Any other gets 403, logged as ``sentry_tunnel_refused`` with the reason and the DSN's host — never the content
  (at most one line per reason per 10 s, with the count of those suppressed).
* Bodies are size-limited (``OTEL_DISTRO_SENTRY_TUNNEL_MAX_BYTES``, 413) and must parse (400).
* Before forwarding, items are scrubbed with the engine: events and transactions as the Sentry ``before_send``
  does (``user.id`` pseudonymised, ``user.ip_address`` removed), other JSON items (sessions, logs, spans, ...)
  value by value, a session's distinct id pseudonymised, and in items of any other type a ``user`` object at any
  depth treated as an event's, ``user.id`` / ``user_id`` / ``user.username`` fields pseudonymised; items that
  are not JSON (attachments, replay recordings) cannot be scrubbed and are dropped.
* Scrubbing and forwarding run on a worker thread (the upstream call with a timeout), at most ``max_in_flight``
  envelopes at once (more get 429 with ``Retry-After``: never a queue of them); Sentry's answer is passed
  on (429 with its ``Retry-After`` / ``X-Sentry-Rate-Limits``, so the SDK backs off), 502/504 when it cannot be
  reached.
"""

from __future__ import annotations

import asyncio
import http.client
import logging
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import orjson
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response

from otel_distro._internal.body import BodyTooLarge, read_body
from otel_distro._internal.cors import Cors
from otel_distro._internal.envelope import Envelope, EnvelopeError, Item, parse_envelope
from otel_distro.scrubbing import Scrubber
from otel_distro.scrubbing._keys import scrub_keys
from otel_distro.scrubbing._sentry import scrub_event

__all__ = ["Dsn", "Tunnel"]

_log = logging.getLogger("otel_distro.sentry_tunnel")
_METHODS = ("POST",)
_EVENT_TYPES = frozenset({"event", "transaction", "feedback", "replay_event"})  # the ones with the scope's user
_ATTRIBUTE_ITEMS = frozenset({"log", "trace_metric", "span"})  # {"items": [{"attributes": {"user.id": {...}}}]}
_USER_ID_FIELDS = frozenset({"user.id", "user_id", "user.username"})  # flat forms of the scope's user, pseudonymised
_USER_WALK_DEPTH = 64  # how deep an item of another type is searched for the user (deeper: scrubbed as values only)
_PASSED_HEADERS = ("retry-after", "x-sentry-rate-limits")
_DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True, slots=True)
class Dsn:
    """A parsed Sentry DSN: ``<scheme>://<public key>[:<secret>]@<host>[:<port>][/<prefix>]/<project id>``."""

    scheme: str
    host: str  # lower-case host name, and ``:port`` unless the scheme's default
    prefix: str
    project_id: str
    public_key: str

    @classmethod
    def parse(cls, text: str) -> Dsn | None:
        try:
            parts = urlsplit(text.strip())
            port = parts.port
        except ValueError:
            return None
        path, _, project = parts.path.rstrip("/").rpartition("/")
        if parts.scheme not in _DEFAULT_PORTS or not parts.hostname or not parts.username or not project.isdigit():
            return None
        host = parts.hostname.lower()
        if port is not None and port != _DEFAULT_PORTS[parts.scheme]:
            host = f"{host}:{port}"
        return cls(parts.scheme, host, path, project, parts.username)

    @property
    def envelope_url(self) -> str:
        return f"{self.scheme}://{self.host}{self.prefix}/api/{self.project_id}/envelope/"

    @property
    def public(self) -> str:
        """The DSN without its secret: what a browser may be given."""
        return f"{self.scheme}://{self.public_key}@{self.host}{self.prefix}/{self.project_id}"


class Tunnel:
    """The endpoint. ``dsns``: the configured DSNs (texts); ``scrubber``: the engine the envelopes go through."""

    def __init__(self, dsns: Iterable[str], *, scrubber: Scrubber, cors: Cors, max_bytes: int = 1 << 20,
                 timeout: float = 10.0, max_in_flight: int = 4) -> None:
        self._allowed: dict[tuple[str, str], Dsn] = {}
        for text in dsns:
            dsn = Dsn.parse(text)
            if dsn is not None:
                self._allowed.setdefault((dsn.host, dsn.project_id), dsn)
        self._scrubber = scrubber
        self._cors = cors
        self.max_bytes = max_bytes
        self._timeout = timeout
        self._refusals = _Throttle(10.0)
        # Envelopes scrubbed or forwarded at once. The worker threads are the loop's default executor (the app's
        # too: 5 on 1 core), and a slow Sentry holds each for up to ``timeout``: the rest are refused, not queued.
        self._slots = threading.BoundedSemaphore(max_in_flight)

    async def __call__(self, request: Request) -> Response:
        if request.method == "OPTIONS":
            return self._cors.preflight(request, _METHODS)
        headers = self._cors.headers(request)

        def refuse(status: int, error: str, reason: str, **fields: Any) -> Response:
            suppressed = self._refusals.admit(reason)
            if suppressed is not None:
                _log.warning("sentry_tunnel_refused", extra={"reason": reason, "status": status,
                                                             "suppressed": suppressed, **fields})
            return JSONResponse({"error": error}, status_code=status, headers=headers)

        try:
            body = await read_body(request, self.max_bytes)
        except BodyTooLarge:
            return refuse(413, f"envelope larger than {self.max_bytes} bytes (OTEL_DISTRO_SENTRY_TUNNEL_MAX_BYTES)",
                          "too_large")
        except ClientDisconnect:
            return refuse(400, "the client went away before sending the whole envelope", "disconnected")
        try:
            envelope = parse_envelope(body)
        except EnvelopeError as error:
            return refuse(400, f"not a Sentry envelope: {error}", "malformed")
        claimed = envelope.headers.get("dsn")
        dsn = Dsn.parse(claimed) if isinstance(claimed, str) else None
        if dsn is None:
            return refuse(400, "the envelope header has no valid dsn", "no_dsn")
        upstream = self._allowed.get((dsn.host, dsn.project_id))
        if upstream is None:
            return refuse(403, "this DSN is not served by this tunnel", "dsn_not_allowed",
                          dsn_host=dsn.host[:100], dsn_project=dsn.project_id[:20])
        # Scrubbing (up to max_bytes of text) and the upstream call both run on a worker thread, off the loop.
        if not self._slots.acquire(blocking=False):
            busy = refuse(429, "the tunnel is busy forwarding other envelopes; retry shortly", "busy")
            busy.headers["Retry-After"] = "1"
            return busy
        try:
            status, answer_headers, answer = await asyncio.to_thread(self._scrub_and_forward, envelope, upstream)
        finally:
            self._slots.release()
        return Response(answer, status_code=status, media_type="application/json",
                        headers={**headers, **answer_headers})

    def _scrub_and_forward(self, envelope: Envelope, upstream: Dsn) -> tuple[int, dict[str, str], bytes]:
        try:
            envelope.headers = self._scrubber.scrub_value(
                {k: v for k, v in envelope.headers.items() if k != "dsn"}) | {"dsn": upstream.public}
            envelope.items = [scrubbed for item in envelope.items if (scrubbed := self._scrub(item)) is not None]
        except Exception as error:  # never forward what could not be scrubbed
            _log.error("sentry_tunnel_scrub_failed", extra={"error_type": type(error).__name__})
            return 400, {}, b'{"error": "the envelope could not be scrubbed"}'
        if not envelope.items:
            return 200, {}, b"{}"
        return self._forward(upstream, envelope.serialize())

    def _scrub(self, item: Item) -> Item | None:
        try:
            payload = orjson.loads(item.payload)
        except orjson.JSONDecodeError:
            return None  # binary (attachments, replay recordings): nothing to scrub it with, so not forwarded
        if item.type in _EVENT_TYPES and isinstance(payload, dict):
            user = payload.get("user")
            if isinstance(user, dict) and "ip_address" in user:
                # The client's address is personal data, and a pseudonym there is not an address to Sentry.
                payload["user"] = {k: v for k, v in user.items() if k != "ip_address"}
            payload = scrub_event(self._scrubber, payload)
        elif item.type == "user_report" and isinstance(payload, dict):  # v7 user feedback: the name typed in
            payload = self._scrubber.scrub_value(payload) | (
                {"name": self._scrubber.redact_as("person", payload["name"])} if "name" in payload else {})
        elif item.type == "session" and isinstance(payload, dict):
            payload = self._scrub_session(payload)
        elif item.type in _ATTRIBUTE_ITEMS and isinstance(payload, dict) and isinstance(payload.get("items"), list):
            payload = {**self._scrubber.scrub_value({k: v for k, v in payload.items() if k != "items"}),
                       "items": [self._scrub_log(record) for record in payload["items"]]}
        else:
            payload = self._scrub_other(payload)
        return Item(dict(item.headers), orjson.dumps(scrub_keys(self._scrubber, payload)))

    def _scrub_other(self, value: Any, key: str | None = None, depth: int = 0) -> Any:
        """An item of a type with no rule of its own: as ``scrub_value`` would (each value under its key and its
        parent's: a container under a secret key is redacted leaf by leaf, ``{"customer": {"name": ...}}`` is a
        person, a key never touched keeps its value), and the scope's user wherever it is, as in events (below
        ``_USER_WALK_DEPTH``, the rest as ``scrub_value`` only)."""
        scrubber = self._scrubber
        if depth > _USER_WALK_DEPTH or not isinstance(value, dict | list) or (
                key is not None and scrubber.classify_key(key) is not None):
            return scrubber.scrub_value(value, key)
        if isinstance(value, list):
            return [self._scrub_other(v, None, depth + 1) for v in value]
        out: dict[str, Any] = {}
        for k, v in value.items():
            if k == "user" and isinstance(v, dict):
                out[k] = scrub_event(scrubber, {"user": {f: x for f, x in v.items() if f != "ip_address"}})["user"]
            elif k in _USER_ID_FIELDS and isinstance(v, str | int) and not isinstance(v, bool) and v != "":
                out[k] = scrubber.pseudonymize("user", str(v))
            elif key is not None and isinstance(k, str) and (nested := scrubber.classify_nested(key, k)):
                out[k] = scrubber.redact_as(nested, v)
            else:
                out[k] = self._scrub_other(v, k if isinstance(k, str) else None, depth + 1)
        return out

    def _scrub_log(self, record: Any) -> Any:
        """A log record: its ``attributes`` (``{"user.id": {"value": ..., "type": "string"}, ...}``, the scope's
        user among them) value by value, the user as in events, each attribute keeping a valid ``type``."""
        attributes = record.get("attributes") if isinstance(record, dict) else None
        if not isinstance(attributes, dict):
            return self._scrubber.scrub_value(record)
        out: dict[str, Any] = self._scrubber.scrub_value({k: v for k, v in record.items() if k != "attributes"})
        out["attributes"] = scrubbed = {}
        for key, attribute in attributes.items():
            if not isinstance(attribute, dict) or "value" not in attribute:
                scrubbed[key] = self._scrubber.scrub_value(attribute, key)
                continue
            value = attribute["value"]
            if key in ("user.id", "user.username") and value not in (None, ""):
                scrubbed[key] = {"value": self._scrubber.pseudonymize("user", str(value)), "type": "string"}
            elif key == "user.name":
                scrubbed[key] = {"value": self._scrubber.redact_as("person", value), "type": "string"}
            else:
                scrubbed[key] = {**attribute, "value": self._scrubber.scrub_value(value, key)}
        return out

    def _scrub_session(self, session: dict[str, Any]) -> dict[str, Any]:
        did = session.get("did")
        attrs = {k: v for k, v in (session.get("attrs") or {}).items() if k not in ("ip_address", "user_agent")}
        out: dict[str, Any] = self._scrubber.scrub_value(
            {k: v for k, v in session.items() if k not in ("did", "attrs")})
        if did not in (None, ""):
            out["did"] = self._scrubber.pseudonymize("user", str(did))
        if attrs:
            out["attrs"] = self._scrubber.scrub_value(attrs)
        return out

    def _forward(self, upstream: Dsn, body: bytes) -> tuple[int, dict[str, str], bytes]:
        request = urllib.request.Request(  # noqa: S310 - the URL is built from configuration, http(s) only
            upstream.envelope_url, data=body, method="POST",
            headers={
                "Content-Type": "application/x-sentry-envelope",
                "X-Sentry-Auth": f"Sentry sentry_version=7, sentry_key={upstream.public_key}, "
                                 "sentry_client=otel-distro-tunnel/1.0",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=self._timeout) as answer:  # noqa: S310
                data = answer.read(64 * 1024)
                return answer.status, {}, data if _is_json(data) else b"{}"
        except urllib.error.HTTPError as error:
            passed = {k: v for k in _PASSED_HEADERS if (v := error.headers.get(k))}
            _log.warning("sentry_tunnel_upstream_error", extra={"status": error.code})
            if error.code == 429:
                return 429, passed, b'{"error": "Sentry is rate limiting this project"}'
            if error.code >= 500:
                return 502, passed, orjson.dumps({"error": f"Sentry answered {error.code}"})
            return error.code, passed, orjson.dumps({"error": f"Sentry refused the envelope ({error.code})"})
        except TimeoutError:
            _log.warning("sentry_tunnel_upstream_error", extra={"error_type": "timeout"})
            return 504, {}, b'{"error": "Sentry did not answer in time"}'
        except (urllib.error.URLError, OSError, http.client.HTTPException) as error:  # not HTTP: BadStatusLine
            reason = getattr(error, "reason", error)
            if isinstance(reason, TimeoutError):
                return 504, {}, b'{"error": "Sentry did not answer in time"}'
            _log.warning("sentry_tunnel_upstream_error", extra={"error_type": type(reason).__name__})
            return 502, {}, b'{"error": "Sentry cannot be reached"}'


class _Throttle:
    """At most one log line per key per ``period`` seconds: a flood of forged envelopes is not a flood of lines."""

    def __init__(self, period: float) -> None:
        self._period = period
        self._state: dict[str, tuple[float, int]] = {}  # key -> (last logged at, refusals since)
        self._lock = threading.Lock()

    def admit(self, key: str) -> int | None:
        """None: stay quiet; else log now, reporting how many were suppressed since the last line."""
        now = time.monotonic()
        with self._lock:
            last, since = self._state.get(key, (-self._period, 0))
            if now - last < self._period:
                self._state[key] = (last, since + 1)
                return None
            self._state[key] = (now, 0)
            return since


def _is_json(data: bytes) -> bool:
    try:
        orjson.loads(data)
    except orjson.JSONDecodeError:
        return False
    return True
