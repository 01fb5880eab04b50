"""Talking to Sentry: envelopes built with sentry-sdk's own `Envelope` / `Dsn` / `Auth`, one HTTP request per
envelope, and `classify()`, the one place that decides what an answer means.

sentry-sdk's transport drops an envelope it could not send and works in its own thread; here the request is
made on the collector's event loop and every failure is reported to the shared sender, which retries.
"""

from __future__ import annotations

import gzip
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, cast

import aiohttp
from sentry_sdk.envelope import Envelope
from sentry_sdk.transport import _parse_rate_limits
from sentry_sdk.utils import Dsn

from collector.exporters.sentry._events import SDK_INFO, SentryItem
from collector.sending.retry_after import retry_after_header

if TYPE_CHECKING:
    from sentry_sdk._types import Event

__all__ = ["EnvelopeClient", "Outcome", "Response", "Verdict", "classify", "rate_limits"]

DEFAULT_RATE_LIMIT = 60.0
"""Seconds to hold off after a 429 that says nothing else (sentry-sdk's own default)."""


class Verdict(StrEnum):
    SENT = "sent"
    RETRY = "retry"
    DROP = "drop"


@dataclass(frozen=True, slots=True)
class Outcome:
    verdict: Verdict
    retry_after: float | None = None
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    headers: Mapping[str, str] = field(default_factory=dict)
    body: str = ""


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is None:
        lowered = name.lower()
        value = next((v for k, v in headers.items() if k.lower() == lowered), None)
    return value


def rate_limits(headers: Mapping[str, str], now: datetime | None = None) -> dict[str | None, float]:
    """``X-Sentry-Rate-Limits`` -> seconds each data category is limited for (None: every category),
    parsed by sentry-sdk's own parser."""
    header = _header(headers, "X-Sentry-Rate-Limits")
    if not header:
        return {}
    now = now or datetime.now(UTC)
    limits: dict[str | None, float] = {}
    for category, until in _parse_rate_limits(header, now):
        seconds = (until - now).total_seconds()
        limits[category] = max(seconds, limits.get(category, 0.0))
    return limits


def classify(status: int, headers: Mapping[str, str], category: str = "error") -> Outcome:
    """What one answer of Sentry's envelope endpoint means for an item of `category`.

    2xx: sent. 429: retry once the item's category is free again (``X-Sentry-Rate-Limits``, else
    ``Retry-After``, else 60 s). 408 and 5xx: retry (after ``Retry-After`` when given). Anything else
    (400 invalid envelope, 401/403 bad key, 413 too large, ...) will never succeed: drop.
    """
    if 200 <= status < 300:
        return Outcome(Verdict.SENT)
    retry_after = retry_after_header(headers)
    if status == 429:
        limits = rate_limits(headers)
        hits = [limits[c] for c in (category, None) if c in limits]
        delay = max(hits) if hits else retry_after if retry_after is not None else DEFAULT_RATE_LIMIT
        return Outcome(Verdict.RETRY, delay, f"rate limited (HTTP 429) for {delay:g}s")
    if status == 408 or status >= 500:
        return Outcome(Verdict.RETRY, retry_after, f"HTTP {status}")
    return Outcome(Verdict.DROP, None, f"HTTP {status}")


class EnvelopeClient:
    """One DSN's envelope endpoint. `send` raises aiohttp / OS errors for the caller to classify."""

    def __init__(self, dsn: str, *, compression: str = "gzip", timeout: float = 5.0) -> None:
        self.dsn = Dsn(dsn)
        self._auth = self.dsn.to_auth(f"{SDK_INFO['name']}/{SDK_INFO['version']}")
        self.url = self._auth.get_api_url()
        self._gzip = compression == "gzip"
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def envelope(self, item: SentryItem) -> Envelope:
        event = item.event
        headers: dict[str, Any] = {
            "event_id": item.event_id,
            "sent_at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        }
        trace = event.get("contexts", {}).get("trace")
        if trace:
            dsc = {"trace_id": trace["trace_id"], "public_key": self.dsn.public_key}
            for key in ("release", "environment", "transaction"):
                if event.get(key):
                    dsc[key] = event[key]
            headers["trace"] = dsc
        envelope = Envelope(headers=headers)
        if item.item_type == "transaction":
            envelope.add_transaction(cast("Event", event))
        else:
            envelope.add_event(cast("Event", event))
        return envelope

    async def send(self, envelope: Envelope) -> Response:
        if self._session is None:
            raise RuntimeError("EnvelopeClient.send() before start()")
        body = envelope.serialize()
        headers = {
            "Content-Type": "application/x-sentry-envelope",
            "X-Sentry-Auth": self._auth.to_header(),
            "User-Agent": str(self._auth.client),
        }
        if self._gzip:
            body = gzip.compress(body, compresslevel=6)
            headers["Content-Encoding"] = "gzip"
        async with self._session.post(self.url, data=body, headers=headers, allow_redirects=False) as response:
            text = await response.text(errors="replace")
            return Response(response.status, dict(response.headers), text[:500])
