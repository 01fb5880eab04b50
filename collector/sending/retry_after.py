"""``Retry-After`` (RFC 9110 §10.2.3), the one parser every HTTP exporter's ``classify()`` uses.

The value is delay-seconds or an HTTP-date; either becomes seconds from now (never negative). An absent or
unreadable value is None: the sender's backoff schedule applies then.
"""

from __future__ import annotations

import email.utils
import re
import time
from collections.abc import Mapping

__all__ = ["parse_retry_after", "retry_after_header"]

_SECONDS_RE = re.compile(r"\d+(?:\.\d+)?")  # RFC: 1*DIGIT; a fraction is tolerated


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait for ``value`` (delay-seconds or an HTTP-date, ``now`` = `time.time()` by default)."""
    if not value:
        return None
    text = value.strip()
    if _SECONDS_RE.fullmatch(text):
        return float(text)
    parsed = email.utils.parsedate_tz(text)
    if parsed is None:
        return None
    if parsed[9] is None:  # no zone (or "-0000"): HTTP-dates are always GMT
        parsed = (*parsed[:9], 0)
    return max(0.0, email.utils.mktime_tz(parsed) - (time.time() if now is None else now))


def retry_after_header(headers: Mapping[str, str], *, now: float | None = None) -> float | None:
    """`parse_retry_after` of the ``Retry-After`` header, looked up case-insensitively."""
    value = headers.get("Retry-After")
    if value is None:
        value = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
    return parse_retry_after(value, now=now)
