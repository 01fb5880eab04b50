# ruff: noqa: RUF001
"""Properties of scrubbing (issue 14), for any input hypothesis can build: it never raises, it is idempotent
(what it returns has nothing left to find, even where values are glued to each other), and a line with
nothing personal in it comes back unchanged (never longer)."""

from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from otel_distro.scrubbing import Scrubber
from otel_distro.scrubbing._corpus import KEEP, SENSITIVE
from otel_distro.scrubbing._engine import _ANCHOR_BOTH, _UNANCHORED, default_scrubber

_SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Pieces that start or end what the rules look for, so random text reaches the validators' edge cases.
_TRICKY = ["%40", "%2B", "%20", "Bearer ", "Basic ", "password=", "pwd: ", "Cookie: a=b; ", "eyJ", "::", "://u:",
           "@", "+90 5", "0 5", "4111 ", "TR33 ", "name is ", "Sayın ", "-----BEGIN PRIVATE KEY-----", "\\n", "\\",
           "'", '"', "=", "&", "?", ";", "[REDACTED:", "]", "%(x)s", "IDENTIFIED BY ", "xapp-1-", "AKIA"]
_SEPARATORS = [" ", "=", ": ", "&", "\n", ", ", '"', "'", "/", "?", "\t", ";"]


def _sensitive(rnd: random.Random) -> str:
    fragment, _value, key = SENSITIVE[rnd.choice(sorted(SENSITIVE))](rnd)
    return rnd.choice([fragment, f"{key}={fragment}", f'"{key}": "{fragment}"'])


def _keep(rnd: random.Random) -> str:
    value, key = KEEP[rnd.choice(sorted(KEEP))](rnd)
    return rnd.choice([value, f"{key}={value}"])


_pieces = st.one_of(
    st.text(max_size=12),
    st.sampled_from(_TRICKY),
    st.sampled_from(_SEPARATORS),
    st.randoms(use_true_random=False).map(_sensitive),
    st.randoms(use_true_random=False).map(_keep),
)
_lines = st.lists(_pieces, max_size=14).map("".join)
_clean_lines = st.lists(
    st.one_of(st.randoms(use_true_random=False).map(_keep),
              st.sampled_from(["user", "login", "ok", "GET", "/api/v1/items", "status", "retry", "ms"])),
    min_size=1, max_size=10,
).flatmap(lambda parts: st.sampled_from([" ", " | ", ", ", "\t"]).map(lambda sep: sep.join(parts)))


@pytest.fixture(scope="module", params=[None, b"k" * 32], ids=["placeholders", "pseudonyms"])
def scrubber(request: pytest.FixtureRequest) -> Scrubber:
    return Scrubber(hmac_key=request.param)


@_SETTINGS
@given(text=st.one_of(st.text(), _lines))
def test_scrubbing_never_raises(scrubber: Scrubber, text: str) -> None:
    out = scrubber.scrub_text(text)
    assert isinstance(out, str)


@_SETTINGS
@given(text=_lines)
def test_scrubbing_is_idempotent(scrubber: Scrubber, text: str) -> None:
    once = scrubber.scrub_text(text)
    assert scrubber.scrub_text(once) == once


@_SETTINGS
@given(text=_clean_lines)
def test_a_clean_line_comes_back_unchanged(scrubber: Scrubber, text: str) -> None:
    out = scrubber.scrub_text(text)
    assert out == text
    assert len(out) <= len(text)


@_SETTINGS
@given(value=st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), _lines),
    lambda children: st.one_of(st.lists(children, max_size=4),
                               st.dictionaries(st.one_of(st.sampled_from(["password", "email", "phone", "name",
                                                                          "full_name", "trace_id", "cookies"]),
                                                         st.text(max_size=8)), children, max_size=4)),
    max_leaves=12,
))
def test_structured_scrubbing_never_raises_and_is_idempotent(scrubber: Scrubber, value: object) -> None:
    once = scrubber.scrub_value(value)
    assert scrubber.scrub_value(once) == once


_KEYED_PIECES = st.one_of(
    _pieces,
    st.sampled_from(["password", "api_key", "Full-Name", "şifre", "x.pwd", "PGPASSWORD", "cookie", "ssn", "telefon",
                     "\\\"", "\\'", " => ", ":", "\\n", "\\t", "{", "}", "[", "]", "(", ")", "|", "<", ">"]),
)


@_SETTINGS
@given(text=st.lists(_KEYED_PIECES, max_size=16).map("".join))
def test_keyed_value_groups_are_the_full_patterns_groups(text: str) -> None:
    """The keyed_value rule's groups are read by a smaller program on each of the pattern's matches (the key
    runs up to the value tail); on any text they are the groups the rule's own pattern gives."""
    scrubber = default_scrubber()
    names = [rule.name for rule in scrubber.rules]
    rule = scrubber.rules[names.index("keyed_value")]
    locate, match = scrubber._plan[names.index("keyed_value")][:2]
    full = Scrubber._compile("keyed_value", rule.pattern)
    assert match is not None and match.__self__.ProgramSize() < full.ProgramSize() // 4
    buf = text.encode("utf-8", "surrogatepass")
    pos, n = 0, len(buf)
    while pos <= n:
        start, end = locate(_UNANCHORED, buf, pos, n)[0]
        if start < 0:
            break
        assert match(_ANCHOR_BOTH, buf, start, end) == full.Match(_ANCHOR_BOTH, buf, start, end)
        assert full.Match(_UNANCHORED, buf, pos, n)[0] == (start, end)
        pos = end if end > start else end + 1
