"""``Retry-After`` as every HTTP exporter reads it: delay-seconds or an HTTP-date."""

from __future__ import annotations

import email.utils

import pytest

from collector.sending.retry_after import parse_retry_after, retry_after_header


@pytest.mark.parametrize(("value", "seconds"), [
    ("120", 120.0),
    (" 7 ", 7.0),
    ("1.5", 1.5),
    ("0", 0.0),
    (email.utils.formatdate(1_000_030, usegmt=True), 30.0),
    (email.utils.formatdate(999_000, usegmt=True), 0.0),  # in the past: now
    ("Wed, 21 Oct 2015 07:28:30 GMT", 1445412510.0 - 1_000_000),
    ("Wed, 21 Oct 2015 07:28:30 -0000", 1445412510.0 - 1_000_000),  # no zone: GMT, not local time
    (None, None),
    ("", None),
    ("later", None),
    ("-5", None),
    ("nan", None),
    ("inf", None),
])
def test_seconds_and_http_dates(value: str | None, seconds: float | None) -> None:
    assert parse_retry_after(value, now=1_000_000) == (pytest.approx(seconds) if seconds is not None else None)


def test_the_header_is_found_whatever_its_case() -> None:
    assert retry_after_header({"Retry-After": "3"}) == 3.0
    assert retry_after_header({"retry-after": "4"}) == 4.0
    assert retry_after_header({"RETRY-AFTER": "5"}) == 5.0
    assert retry_after_header({"Content-Type": "text/plain"}) is None
