"""Checks that turn a pattern's candidate into a redaction, narrow it, or reject it.

A validator gets the whole buffer (UTF-8 bytes), the match's group spans (``spans[0]`` is the whole match) and
the redacted group, and returns the spans to redact as ``(start, end, kind)`` — usually one, none to reject.
Validators look at the neighbours of a candidate (a digit run inside a UUID or a dotted version is not a card
or an IP) and run the real checks: Luhn and issuer ranges, IBAN mod-97 and length, TCKN checksum,
libphonenumber validity.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import TYPE_CHECKING

import phonenumbers

if TYPE_CHECKING:
    from otel_distro.scrubbing._engine import Scrubber

__all__ = ["VALIDATORS", "Hit", "Validator", "card_number_ok", "iban_ok", "is_placeholder", "luhn_ok", "tckn_ok"]

Hit = tuple[int, int, str]
Spans = Sequence[tuple[int, int]]
Validator = Callable[[bytes, Spans, int, str, "Scrubber"], list[Hit]]
"""(buffer, group spans, redacted group, kind, scrubber) -> spans to redact."""

_ALNUM = frozenset(b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
_DIGITS = frozenset(b"0123456789")
_HEX = frozenset(b"0123456789abcdefABCDEF")
_DIGIT_BYTES = b"0123456789"
_NOT_DIGIT_BYTES = bytes(c for c in range(256) if c not in _DIGITS)
# Digits are counted and kept by `bytes.translate` (one C call) rather than a loop over the bytes.


_LETTER = ord("a")


def _before(buf: bytes, i: int, k: int = 1) -> int:
    """The byte `k` before `i` (-1 at the start); the end of a placeholder reads as a letter, as the value it
    replaced did, so that scrubbing what was scrubbed finds nothing new next to it."""
    if i - k < 0:
        return -1
    c = buf[i - k]
    if c == 0x5D and k == 1:
        open_at = buf.rfind(b"[", max(0, i - 48), i)
        if open_at >= 0 and _PLACEHOLDER_WHOLE.fullmatch(buf, open_at, i) is not None:
            return _LETTER
    return c


def _after(buf: bytes, i: int, k: int = 0) -> int:
    """The byte `k` after `i` (-1 at the end); the start of a placeholder reads as a letter."""
    if i + k >= len(buf):
        return -1
    c = buf[i + k]
    if c == 0x5B and k == 0 and _PLACEHOLDER_WHOLE.match(buf, i) is not None:
        return _LETTER
    return c


def _glued(buf: bytes, start: int, end: int, joiners: bytes = b"-.") -> bool:
    """True when the candidate is one part of a longer token such as ``a1b2-4111...`` or ``1.2.3.4.5``."""
    joiners = frozenset(joiners)  # type: ignore[assignment]
    b1 = _before(buf, start)
    if b1 in joiners and _before(buf, start, 2) in _ALNUM:
        return True
    a0 = _after(buf, end)
    return a0 in joiners and _after(buf, end, 1) in _ALNUM


def accept(buf: bytes, spans: Spans, group: int, kind: str, scrubber: Scrubber) -> list[Hit]:
    start, end = spans[group]
    return [(start, end, kind)] if start >= 0 else []


# --- numbers with checksums -------------------------------------------------------------------------------------


_LUHN_DOUBLED = {str(d): (2 * d - 9 if 2 * d > 9 else 2 * d) for d in range(10)}


def luhn_ok(digits: str) -> bool:
    if digits.isascii() and digits.isdigit():  # the common case, summed by C loops: every other digit doubled
        backwards = digits[::-1]
        return (sum(map(int, backwards[0::2])) + sum(map(_LUHN_DOUBLED.__getitem__, backwards[1::2]))) % 10 == 0
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def _issuer_ok(digits: str) -> bool:
    """Issuer ranges (IIN) and lengths of the card networks in use."""
    n = len(digits)
    p2, p3, p4, p6 = int(digits[:2]), int(digits[:3]), int(digits[:4]), int(digits[:6])
    if digits[0] == "4":
        return n in (13, 16, 19)  # Visa
    if 51 <= p2 <= 55 or 2221 <= p4 <= 2720:
        return n == 16  # Mastercard
    if p2 in (34, 37):
        return n == 15  # American Express
    if 2200 <= p4 <= 2204:
        return 16 <= n <= 19  # Mir
    if p4 == 9792:
        return n == 16  # Troy
    if p4 == 6011 or 644 <= p3 <= 649 or p2 == 65 or 622126 <= p6 <= 622925:
        return 16 <= n <= 19  # Discover (and Troy's 65 range)
    if p2 == 62:
        return 16 <= n <= 19  # UnionPay
    if 3528 <= p4 <= 3589:
        return 16 <= n <= 19  # JCB
    if 300 <= p3 <= 305 or p2 in (36, 38, 39):
        return 14 <= n <= 19  # Diners Club
    if p2 in (50, 56, 57, 58, 63, 67) or p2 == 60:
        return 12 <= n <= 19  # Maestro and others
    return False


def card_number_ok(digits: str) -> bool:
    return 12 <= len(digits) <= 19 and _issuer_ok(digits) and luhn_ok(digits)


def credit_card(buf: bytes, spans: Spans, group: int, kind: str, scrubber: Scrubber) -> list[Hit]:
    start, end = spans[group]
    cand = buf[start:end]
    if cand.isdigit():  # the common shape: one run of digits
        ok = card_number_ok(cand.decode("ascii")) and not _glued(buf, start, end)
        return [(start, end, kind)] if ok else []
    if _glued(buf, start, end):
        return []
    seps = {c for c in cand if c not in _DIGITS}
    if len(seps) > 1:
        return []
    # Offsets (exclusive ends) at which the digit run may stop: the end, or any group boundary.
    digit_pos = [i for i, c in enumerate(cand) if c in _DIGITS]
    digits = cand.translate(None, _NOT_DIGIT_BYTES).decode("ascii")
    cuts = [len(digits)]
    if seps:
        count = 0
        for c in cand:
            if c in _DIGITS:
                count += 1
            elif count not in cuts:
                cuts.append(count)
    for n in sorted(cuts, reverse=True):
        if card_number_ok(digits[:n]):
            return [(start, start + digit_pos[n - 1] + 1, kind)]
    return []


_IBAN_LENGTHS: dict[str, int] = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22, "BI": 27,
    "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DJ": 27, "DK": 18, "DO": 28,
    "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FK": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23,
    "GL": 18, "GR": 27, "GT": 28, "HN": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26,
    "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21,
    "LY": 25, "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MN": 20, "MR": 27, "MT": 31, "MU": 30, "NI": 28,
    "NL": 18, "NO": 15, "OM": 23, "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22,
    "RU": 33, "SA": 24, "SC": 31, "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "SO": 23, "ST": 25,
    "SV": 28, "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20, "YE": 30,
}  # fmt: skip


def iban_ok(compact: str) -> bool:
    """Per-country length and the ISO 7064 mod-97 check, on an IBAN without spaces."""
    length = _IBAN_LENGTHS.get(compact[:2])
    if length is None or len(compact) != length or not compact[2:4].isdigit():
        return False
    moved = compact[4:] + compact[:4]
    if moved.isascii() and moved.isalnum():  # the common case: one translation, letters to their base-36 values
        return int(moved.translate(_BASE36)) % 97 == 1
    number = "".join(str(int(ch, 36)) for ch in moved)
    return int(number) % 97 == 1


_BASE36 = str.maketrans({ch: str(int(ch, 36)) for ch in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"})


def iban(buf: bytes, spans: Spans, group: int, kind: str, scrubber: Scrubber) -> list[Hit]:
    start, end = spans[group]
    cand = buf[start:end]
    length = _IBAN_LENGTHS.get(cand[:2].decode("ascii", "replace"))
    if length is None:
        return []
    if 0x20 not in cand:  # one group of characters
        if len(cand) < length:
            return []
        compact = cand[:length].decode("ascii")
        stop = length
    else:
        pos = [i for i, c in enumerate(cand) if c != 0x20]
        if len(pos) < length:
            return []
        compact = bytes(cand[i] for i in pos[:length]).decode("ascii")
        stop = pos[length - 1] + 1
    if stop < len(cand) and cand[stop] != 0x20:  # the country length ends inside a group
        return []
    return [(start, start + stop, kind)] if iban_ok(compact) else []


def tckn_ok(digits: str) -> bool:
    """Turkish identity number: 11 digits, no leading zero, two check digits."""
    if len(digits) != 11 or not digits.isdigit() or digits[0] == "0":
        return False
    d = [ord(c) - 48 for c in digits]
    if ((d[0] + d[2] + d[4] + d[6] + d[8]) * 7 - (d[1] + d[3] + d[5] + d[7])) % 10 != d[9]:
        return False
    return sum(d[:10]) % 10 == d[10]


def tckn(buf: bytes, spans: Spans, group: int, kind: str, scrubber: Scrubber) -> list[Hit]:
    start, end = spans[group]
    b = buf[start:end]  # digit values are byte values - 48: the sums are taken over the bytes, in C
    if ((sum(b[0:9:2]) - 240) * 7 - (sum(b[1:8:2]) - 192)) % 10 != b[9] - 48 or (sum(b[:10]) - 480) % 10 != b[10] - 48:
        return []  # the checksum first: it rejects 99 of 100 ids
    if _glued(buf, start, end, b"-.,+") or _before(buf, start) == ord("+"):
        return []
    return [(start, end, kind)]


def ssn_ok(digits: str) -> bool:
    if len(digits) != 9 or not digits.isdigit():
        return False
    area, group, serial = digits[:3], digits[3:5], digits[5:]
    return area not in ("000", "666") and area[0] != "9" and group != "00" and serial != "0000"


def ssn(buf: bytes, spans: Spans, group: int, kind: str, scrubber: Scrubber) -> list[Hit]:
    start, end = spans[group]
    if _glued(buf, start, end, b"-."):
        return []
    digits = buf[start:end].decode("ascii").replace("-", "")
    return [(start, end, kind)] if ssn_ok(digits) else []


# --- phone numbers -----------------------------------------------------------------------------------------------

_NATIONAL_REGIONS = ("TR", "DE", "GB")


@lru_cache(maxsize=4096)
def phone_valid(text: str, regions: tuple[str, ...]) -> bool:
    """libphonenumber validity (not shape) in any of `regions`, or as an international number."""
    for region in regions if not text.startswith("+") else (None,):
        try:
            number = phonenumbers.parse(text, region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(number):
            return True
    return False


def _date_like(cand: bytes) -> bool:
    """``25.11.2024``, ``2024-11-25``, ``11/25/24``: not phone numbers."""
    parts = cand.replace(b"/", b".").replace(b"-", b".").split(b".")
    if len(parts) != 3 or not all(p.isdigit() for p in parts):
        return False
    sizes = tuple(len(p) for p in parts)
    return (sizes[0] <= 2 and sizes[1] <= 2 and sizes[2] in (2, 4)) or (sizes[0] == 4 and max(sizes[1:]) <= 2)


def _phone_hits(buf: bytes, start: int, end: int, kind: str, regions: tuple[str, ...]) -> list[Hit]:
    """Try the whole candidate, then shorter ones ending at a group boundary (a number followed by a year)."""
    cand = buf[start:end]
    if _date_like(cand):
        return []
    stops = [len(cand)]
    for i in range(len(cand) - 1, 0, -1):
        if cand[i] in b" .-/" and cand[i - 1] in _DIGITS:
            stops.append(i)
    for stop in stops[:4]:
        text = cand[:stop].decode("ascii", "replace")
        digits = stop - len(cand[:stop].translate(None, _DIGIT_BYTES))  # the ASCII digits: all `text` can hold
        if digits < 7:
            break
        if digits <= 15 and phone_valid(text, regions):
            return [(start, start + stop, kind)]
    return []


def phone_international(buf: bytes, spans: Spans, group: int, kind: str, scrubber: Scrubber) -> list[Hit]:
    start, end = spans[group]
    if _before(buf, start) in _ALNUM or _after(buf, end) in _ALNUM:
        return []
    return _phone_hits(buf, start, end, kind, ())


def phone_national(buf: bytes, spans: Spans, group: int, kind: str, scrubber: Scrubber) -> list[Hit]:
    start, end = spans[group]
    if _glued(buf, start, end, b"-.:/") or _before(buf, start) == ord("+"):
        return []
    return _phone_hits(buf, start, end, kind, _NATIONAL_REGIONS)


def phone_us(buf: bytes, spans: Spans, group: int, kind: str, scrubber: Scrubber) -> list[Hit]:
    start, end = spans[group]
    if _glued(buf, start, end, b"-.:/") or _before(buf, start) == ord("+"):
        return []
    return _phone_hits(buf, start, end, kind, ("US",))


# --- network addresses -------------------------------------------------------------------------------------------

_VERSION_WORD = re.compile(rb"(?i)(?<![a-z])(?:version|ver|build|release|firmware|v)[\s=:\"']{0,3}$")
_KEEP_IPS = frozenset({"0.0.0.0", "127.0.0.1", "255.255.255.255", "::", "::1"})


def ipv4(buf: bytes, spans: Spans, group: int, kind: str, scrubber: Scrubber) -> list[Hit]:
    start, end = spans[group]
    b1 = _before(buf, start)
    if b1 == ord(".") or (_after(buf, end) == ord(".") and _after(buf, end, 1) in _DIGITS):
        return []  # one part of a longer dotted number (an OID, a 5-part version)
    if b1 == ord("/") and _before(buf, start, 2) in _ALNUM:
        return []  # a product version: Chrome/120.0.0.0
    if _VERSION_WORD.search(buf[max(0, start - 16) : start]):
        return []  # `version 1.2.3.4`, `build=10.0.0.1`
    text = buf[start:end].decode("ascii")
    return [] if text in _KEEP_IPS else [(start, end, kind)]


def ipv6(buf: bytes, spans: Spans, group: int, kind: str, scrubber: Scrubber) -> list[Hit]:
    start, end = spans[group]
    b1, a0 = _before(buf, start), _after(buf, end)
    if b1 in _ALNUM or b1 == ord(":") or a0 in _ALNUM or a0 == ord(":"):
        return []
    text = buf[start:end].decode("ascii")
    if text in _KEEP_IPS or not _ipv6_ok(text):
        return []
    return [(start, end, kind)]


def _ipv6_ok(text: str) -> bool:
    """An IPv6 address, for a candidate of hex digits and colons (and dots): groups counted and measured, the
    standard library asked only about an IPv4 tail."""
    if "." in text:
        try:
            ipaddress.IPv6Address(text)
        except ValueError:
            return False
        return True
    halves = text.split("::")
    if len(halves) > 2:
        return False
    groups = [g for half in halves if half for g in half.split(":")]
    if len(groups) > (7 if len(halves) == 2 else 8) or (len(halves) == 1 and len(groups) != 8):
        return False
    return all(0 < len(g) <= 4 for g in groups)


# --- e-mail --------------------------------------------------------------------------------------------------------

_NOT_TLDS = frozenset(
    b"png jpg jpeg gif svg webp ico js mjs ts tsx jsx py pyc css scss html htm json yaml yml toml txt log md "
    b"tar gz tgz zip whl so dll exe jar war map lock ini cfg conf sh".split()
)
_NOT_MAILBOXES = frozenset({b"git"})
_PCT_DELIMS = (b"%3d", b"%26", b"%3f", b"%2f", b"%3a", b"%20", b"%22", b"%27", b"%3c", b"%3e", b"%2c", b"%3b")


def email(buf: bytes, spans: Spans, group: int, kind: str, scrubber: Scrubber) -> list[Hit]:
    start, end = spans[group]
    cand = buf[start:end]
    lower = cand.lower()
    at = lower.find(b"@")
    at_len = 1
    if at < 0:
        at, at_len = lower.find(b"%40"), 3
    local = lower[:at]
    # URL-encoded text: the mailbox starts after the last encoded delimiter (`email%3Djohn%40...`).
    cut = max((i + 3 for d in _PCT_DELIMS if (i := local.rfind(d)) >= 0), default=0) if 0x25 in local else 0
    if cut >= at:
        return []
    local = local[cut:]
    token_start = max(buf.rfind(b" ", 0, start), buf.rfind(b"=", 0, start)) + 1
    scheme = buf.find(b"://", token_start, start)
    if scheme >= 0 and buf.find(b":", scheme + 3, start + cut) >= 0 and buf.find(b"/", scheme + 3, start) < 0:
        return []  # URL userinfo (`scheme://user:pass#word@host`): the url_password rule takes the password
    if local in _NOT_MAILBOXES or local.strip(b".") == b"":
        return []
    tld = lower[lower.rfind(b".") + 1 :]
    if tld in _NOT_TLDS or at + at_len >= len(cand):
        return []
    return [(start + cut, end, kind)]


# --- secrets -------------------------------------------------------------------------------------------------------


def basic_auth(buf: bytes, spans: Spans, group: int, kind: str, scrubber: Scrubber) -> list[Hit]:
    start, end = spans[group]
    token = buf[start:end]
    try:
        raw = base64.b64decode(token + b"=" * (-len(token) % 4), validate=True)
        text = raw.decode("utf-8")
    except (binascii.Error, ValueError):
        return []
    if ":" not in text or not text.isprintable():
        return []
    return [(start, end, kind)]


def bearer_token(buf: bytes, spans: Spans, group: int, kind: str, scrubber: Scrubber) -> list[Hit]:
    """RFC 6750 b64token; not a word (`expires_in`) and not the key of a following `key=value`."""
    start, end = spans[group]
    token = buf[start:end]
    word = token.replace(b"_", b"")
    is_key = _after(buf, end) == ord("=") or (token.endswith(b"=") and _after(buf, end) in _ALNUM)
    if is_key or (len(token) < 16 and word.isalpha() and word.islower()):
        return []
    return [(start, end, kind)]


def mixed_token(buf: bytes, spans: Spans, group: int, kind: str, scrubber: Scrubber) -> list[Hit]:
    """A token shape that words can also take (`sk-...`): needs digits and both cases to look random."""
    start, end = spans[group]
    body = buf[start:end]
    if len(body.translate(None, _DIGIT_BYTES)) < len(body) and body.lower() != body and body.upper() != body:
        return [(start, end, kind)]
    return []


_SET_COOKIE_ATTRS = frozenset(
    {"path", "domain", "expires", "max-age", "samesite", "secure", "httponly", "priority", "partitioned", "version"}
)


def cookie(buf: bytes, spans: Spans, group: int, kind: str, scrubber: Scrubber) -> list[Hit]:
    """Every cookie value in a Cookie / Set-Cookie header; names and Set-Cookie attributes stay."""
    start, end = spans[group]
    hits: list[Hit] = []
    pos = start
    for part in buf[start:end].split(b";"):
        eq = part.find(b"=")
        if eq >= 0:
            name = part[:eq].strip().decode("utf-8", "replace").lower()
            value = part[eq + 1 :]
            v_start = pos + eq + 1 + (len(value) - len(value.lstrip()))
            v_end = pos + len(part.rstrip())
            if name not in _SET_COOKIE_ATTRS and name and v_end > v_start and not is_placeholder(buf[v_start:v_end]):
                hits.append((v_start, v_end, kind))
        pos += len(part) + 1
    return hits


_EMPTY_VALUES = frozenset({b"", b"null", b"none", b"nil", b"true", b"false", b"undefined", b"-", b"n/a"})
_AUTH_SCHEMES = frozenset({b"bearer", b"basic", b"digest", b"negotiate", b"token", b"apikey", b"hmac"})


def sql_password(buf: bytes, spans: Spans, group: int, kind: str, scrubber: Scrubber) -> list[Hit]:
    """The password literal of SQL that sets one (`WITH PASSWORD '...'`, `IDENTIFIED BY ...`); not a bound
    parameter, not `NULL`."""
    start, end = _first_group(spans, range(1, 7))
    if start < 0:
        return []
    value = buf[start:end]
    if value.lower() in _EMPTY_VALUES or is_placeholder(value) or is_sql_parameter(buf, start, end):
        return []
    return [(start, end, kind)]


def _first_group(spans: Spans, groups: range) -> tuple[int, int]:
    """The span of the first group of `groups` (ascending) that took part in the match."""
    n = len(spans)
    for g in groups:
        if g >= n:
            break
        span = spans[g]
        if span[0] >= 0:
            return span
    return (-1, -1)


def secret_phrase(buf: bytes, spans: Spans, group: int, kind: str, scrubber: Scrubber) -> list[Hit]:
    start, end = _first_group(spans, range(1, 3))
    if start < 0 or buf[start:end].lower() in _EMPTY_VALUES:
        return []
    return [(start, end, kind)]


_PLACEHOLDER_RE = re.compile(rb"\[(?:redacted:[a-z0-9_]+|[a-z0-9_]+:[0-9a-f]{16})\]?", re.IGNORECASE)
_PLACEHOLDER_WHOLE = re.compile(rb"\[(?:REDACTED:[a-z0-9_]+|[a-z0-9_]+:[0-9a-f]{16})\]")


def is_placeholder(value: bytes) -> bool:
    """Already scrubbed (``[REDACTED:x]``, ``[email:3f9a...]``) or masked (``****``): nothing to redact."""
    if not value:
        return False
    first = value[0]
    if first == 0x5B:  # `[`
        return _PLACEHOLDER_RE.match(value) is not None
    return first == 0x2A and not value.strip(b"*")


# A bound parameter of a SQL statement (DB-API `%s` / `%(name)s`, PostgreSQL `$1`, named `:name`, `?`), maybe
# cast (`%(x)s::VARCHAR`), taking the whole value: structure, not a value to redact.
_SQL_PARAM = re.compile(rb"(?:%(?:\([^()\s]{1,64}\))?[sdfbr]|\$\d{1,3}|:[a-z_][a-z0-9_]{0,63}|\?)"
                        rb"(?:::[A-Za-z][A-Za-z0-9_]{0,30}(?:\[\])?)?(?=[\s,;)\]}'\"]|$)")


_SQL_PARAM_FIRST = frozenset(b"%$:?")


def is_sql_parameter(buf: bytes, start: int, end: int) -> bool:
    """True when the value at `start` (up to `end`, or past it for a bare value cut at `)`) is a SQL parameter."""
    if start >= len(buf) or buf[start] not in _SQL_PARAM_FIRST:
        return False
    m = _SQL_PARAM.match(buf, start)
    return m is not None and m.end() >= end


def _digits(value: bytes) -> int:
    return len(value) - len(value.translate(None, _DIGIT_BYTES))


def keyed_value(buf: bytes, spans: Spans, group: int, kind: str, scrubber: Scrubber) -> list[Hit]:
    """`key=value`, `key: value`, `"key": "value"`: the key decides whether, and as what, the value goes."""
    k_start, k_end = spans[1]
    key_kind = scrubber.classify_key_bytes(buf[k_start:k_end])
    if key_kind is None or key_kind == "never":
        return []
    if k_start > 0 and buf[k_start - 1] == 0x5B and is_placeholder(buf[k_start - 1 : k_end + 18]):
        return []  # our own pseudonym, `[phone:3f9a0c1d2e4b5a69]`
    start, end = _first_group(spans, range(2, 5))
    if start < 0:
        return []
    value = buf[start:end]
    lowered = value.strip().lower()
    if lowered in _EMPTY_VALUES or is_placeholder(lowered) or is_sql_parameter(buf, start, end):
        return []
    if key_kind == "phone":
        if spans[4][0] >= 0:  # bare `GSM: 532 123 45 67` stops at the first space: take the digit groups after it
            end = _phone_end(buf, start, _extend_digit_groups(buf, end), scrubber)
        if _digits(buf[start:end]) < 7:
            return []  # the key says phone: any value with enough digits goes
    elif key_kind == "ssn":
        stop = start
        while stop < end and buf[stop] in _SSN_CHARS:
            stop += 1
        while stop > start and buf[stop - 1] not in _DIGITS:
            stop -= 1
        if _digits(buf[start:stop]) != 9:
            return []
        if spans[4][0] >= 0:
            end = stop  # a bare value: the number, not what is glued after it (`ssn=123-45-6789aws_key=...`)
    elif spans[4][0] >= 0 and value.endswith(b"("):
        return []  # a function call, `SET PASSWORD = PASSWORD('...')`: the sql_password rule takes its argument
    elif key_kind in ("person", "user") and spans[4][0] >= 0:
        end = _extend_name(buf, end)
    elif (scheme := lowered.split(None, 1)[0]) in _AUTH_SCHEMES:
        # `Authorization: Bearer <credentials>`: the scheme stays, whatever follows it goes
        start += len(value) - len(value.lstrip()) + len(scheme)
        if start >= end:  # a bare value stopped at the space: take the next token
            while start < len(buf) and buf[start] in b" \t":
                start += 1
            end = start
            while end < len(buf) and buf[end] not in b" \t\r\n\"',;":
                end += 1
        while start < end and buf[start] in b" \t":
            start += 1
        if end == start or is_placeholder(buf[start:end]):
            return []
    elif 0x3D in value and buf[k_start:k_end].lower().endswith(b"cookie"):
        return cookie(buf, ((start, end),), 0, "cookie", scrubber)  # `Cookie: a=b; c=d`: names stay, values go
    elif key_kind == "secret" and value.find(b"://") >= 0:
        url = _URL_PASSWORD.match(buf, start)  # from the value on: a bare value stops at a `]` in the password
        if url is not None:  # `CACHE_AUTH=redis://:pw@cache:6379`: the password goes, host and port stay
            return [] if is_placeholder(url.group(1)) else [(url.start(1), url.end(1), key_kind)]
    return [(start, end, key_kind)]


_URL_PASSWORD = re.compile(rb"\s*[A-Za-z][A-Za-z0-9+.-]{1,20}://[^\s/:@?#]*:([^\s/?]+)@")
_PHONE_CHARS = frozenset(b"0123456789+() ./-")
_SSN_CHARS = frozenset(b"0123456789- .")


def _phone_end(buf: bytes, start: int, end: int, scrubber: Scrubber) -> int:
    """A bare phone value with text glued after it (`phone=+905321234567abc`) ends at its last digit, when
    what comes before holds a phone number's digits and the tail is plain text: a tail that reads as a key, or
    in which (with the next word) something would be found once the phone before it is replaced (`...0BEARER
    x1y2`), goes with the value, so that scrubbing twice changes nothing."""
    stop = start
    while stop < end:
        if buf[stop] in _PHONE_CHARS:
            stop += 1
        elif buf[stop] == 0x25 and _after(buf, stop, 1) in _HEX and _after(buf, stop, 2) in _HEX:
            stop += 3  # `%2B`, `%20`: a query string's encoded `+` and space
        else:
            break
    if stop == end:
        return end
    while stop > start and buf[stop - 1] not in _DIGITS:
        stop -= 1
    if stop == start or _digits(buf[start:stop]) < 7 or 0x3D in buf[stop:end] or 0x3A in buf[stop:end]:
        return end
    found = scrubber.find(b" " + buf[stop : min(len(buf), end + 64)])
    return end if any(hit_start <= end - stop for hit_start, _, _ in found) else stop


def _extend_digit_groups(buf: bytes, end: int) -> int:
    for _ in range(5):
        if _after(buf, end) != 0x20 or _after(buf, end, 1) not in _DIGITS:
            break
        stop = end + 1
        while stop < len(buf) and buf[stop] in _DIGITS:
            stop += 1
        if stop < len(buf) and buf[stop] in _ALNUM:
            break  # `532 123 items`: a word, not a group
        end = stop
    return end


def _extend_name(buf: bytes, end: int) -> int:
    """A bare `name=Jane Q Doe` value ends at the space; take up to two more capitalised words."""
    for _ in range(2):
        if _after(buf, end) != 0x20:
            break
        nxt = end + 1
        stop, limit = nxt, min(len(buf), nxt + 48)  # a longer "word" is no name (and no line is read twice)
        while stop < limit and buf[stop] not in b" \t\r\n,;&=\"'":
            stop += 1
        if stop == limit and limit < len(buf):
            break
        word = buf[nxt:stop].decode("utf-8", "replace")
        if not word or not word[0].isupper() or not word.isalpha():
            break
        end = stop
    return end


VALIDATORS: dict[str, Validator] = {
    "accept": accept,
    "basic_auth": basic_auth,
    "bearer_token": bearer_token,
    "cookie": cookie,
    "credit_card": credit_card,
    "email": email,
    "iban": iban,
    "ipv4": ipv4,
    "ipv6": ipv6,
    "keyed_value": keyed_value,
    "mixed_token": mixed_token,
    "phone_international": phone_international,
    "phone_national": phone_national,
    "phone_us": phone_us,
    "secret_phrase": secret_phrase,
    "sql_password": sql_password,
    "ssn": ssn,
    "tckn": tckn,
}
