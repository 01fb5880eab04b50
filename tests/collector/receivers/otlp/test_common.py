"""What both OTLP servers share: inflating bodies under a limit."""

from __future__ import annotations

import gzip
import zlib

import pytest

from collector.receivers.otlp.common import BodyTooLarge, decompress


def test_every_member_of_a_multi_member_gzip_body_is_inflated() -> None:
    body = gzip.compress(b"first half, ") + gzip.compress(b"second half")
    assert decompress(body, "gzip", 1000) == b"first half, second half"


def test_the_limit_counts_every_member() -> None:
    body = gzip.compress(b"a" * 600) + gzip.compress(b"b" * 600)
    with pytest.raises(BodyTooLarge):
        decompress(body, "gzip", 1000)


def test_garbage_after_a_body_is_an_error_not_ignored() -> None:
    with pytest.raises(ValueError, match="after"):
        decompress(zlib.compress(b"data") + b"junk", "deflate", 1000)
    with pytest.raises(ValueError):
        decompress(gzip.compress(b"data") + b"junk", "gzip", 1000)


def test_identity_and_truncation() -> None:
    assert decompress(b"plain", "", 10) == b"plain"
    with pytest.raises(ValueError, match="truncated"):
        decompress(gzip.compress(b"x" * 100)[:-12], "gzip", 1000)
