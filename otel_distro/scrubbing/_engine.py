"""The scrubbing engine: one RE2 set finds which rules can match, their validators confirm, spans are replaced.

Text is scrubbed as UTF-8 bytes. Matching is linear in the input: `re2.Set` answers "which rules occur" in
one DFA pass (most telemetry lines: none, and the line is returned untouched), then only those rules' RE2
patterns run, and validators look at candidates only. Only the sensitive span is replaced, never the line.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import re
import threading
from collections import Counter
from collections.abc import Container, Iterable, Mapping, Sequence
from functools import lru_cache
from typing import Any
from urllib.parse import unquote, unquote_to_bytes

import phonenumbers
import re2
from re2 import _re2

from otel_distro.scrubbing._rules import (
    KeyPolicy,
    Rule,
    default_key_policy,
    default_rules,
    normalize_key,
    split_key,
)
from otel_distro.scrubbing._validators import VALIDATORS, Hit, Validator, accept, is_placeholder

__all__ = ["CORRELATION_KEYS", "IDENTITY_KINDS", "KEYED_KINDS", "Scrubber", "default_scrubber"]

#: Fields that carry correlation ids, skipped outright by the span, log-record and structlog adapters: the trace
#: and span ids, and the request id (made by the middleware, or a client's own that matched its
#: ``[A-Za-z0-9._:-]{1,128}`` check). The default rules list them as ``never`` keys too; skipping them before any
#: lookup keeps a value that is new on every request from costing the per-field work (measured: ~2% of a
#: request's instructions), and keeps them as they are whatever rules an app configures.
CORRELATION_KEYS = frozenset({"trace_id", "span_id", "parent_span_id", "request_id"})

IDENTITY_KINDS = frozenset(
    {"email", "phone", "ipv4", "ipv6", "person", "user", "ssn", "tckn", "credit_card", "iban"}
)
"""Kinds replaced by a keyed pseudonym when an HMAC key is set; every other kind (secrets) by a placeholder."""

KEYED_KINDS = frozenset({"secret", "person", "user", "phone", "ssn"})
"""Kinds a key can name (``password=...`` is a secret, ``full_name=...`` a person)."""

_UNANCHORED = _re2.RE2.Anchor.UNANCHORED
_ANCHOR_BOTH = _re2.RE2.Anchor.ANCHOR_BOTH
_KEY_CACHE_MAX = 8192
# Recently seen texts with nothing to redact (methods, routes, paths, user agents, messages repeat on every
# request): remembered so that each costs one dict lookup instead of an encode and a trigger-set pass.
_CLEAN_CACHE_MAX = 4096
_CLEAN_CACHE_TEXT_MAX = 512
# Recently seen (key, str or int value) fields with nothing to redact, for `scrub_fields`: one dict lookup
# instead of classifying the key and looking the text up. Exact types only, so that True never finds 1's entry.
_CLEAN_PAIRS_MAX = 4096
_UNKNOWN = object()
_WALKED = (str, bytes, dict, list, tuple, set, frozenset)  # what `scrub_value` looks inside; the rest as is
_WORD = frozenset(b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_")
_DIGIT = frozenset(b"0123456789")
_PLACEHOLDER_IN_TEXT = re.compile(r"\[(?:REDACTED:[a-z0-9_]+|[a-z0-9_]+:[0-9a-f]{16})\]")
_NUMBER_GAP = frozenset(b" -./")  # what separates the groups of one written number
# `bytes.__contains__` given bytes first tries the operand as an int and raises (and clears) a TypeError: a byte
# given as an int is looked up directly, ten times cheaper on the path every value takes.
_PERCENT = ord("%")
_MAX_ROUNDS = 3  # passes over a value whose redactions touched a word character or a neighbouring number


def _encoded_offset(escapes: list[int], decoded: int) -> int:
    """The offset in a percent-encoded text of the byte at offset `decoded` of its decoding (or of the end), given
    the offsets of its ``%XX`` escapes: each escape before it is two bytes longer encoded (``+`` maps one to one)."""
    shift = 0
    for k, at in enumerate(escapes):
        if at - 2 * k >= decoded:  # escape k decodes to offset `at - 2k`
            break
        shift += 2
    return decoded + shift


_ESCAPE = re.compile(rb"%[0-9A-Fa-f]{2}")


def _without_groups(pattern: str) -> str:
    """`pattern` with its capturing groups made non-capturing: the same matches, found by RE2's DFA alone."""
    out: list[str] = []
    i, n, in_class = 0, len(pattern), False
    while i < n:
        c = pattern[i]
        if c == "\\":
            out.append(pattern[i : i + 2])
            i += 2
            continue
        if in_class:
            in_class = c != "]"
        elif c == "[":
            in_class = True
            for opening in ("[^]", "[]"):  # a `]` first in a class is a literal
                if pattern.startswith(opening, i):
                    out.append(opening)
                    i += len(opening)
                    break
            else:
                out.append(c)
                i += 1
            continue
        elif c == "(" and not pattern.startswith("(?", i):
            out.append("(?:")
            i += 1
            continue
        out.append(c)
        i += 1
    return "".join(out)


# The key of a keyed_value-style pattern: a run of letters, digits and `_.-` around a keyword alternation. It can
# hold none of the bytes the value tail starts with (`\\ " '`, spaces, `:` `=`), so on a match it ends at the
# first of them: the same key group, found by a much smaller program (RE2's bit-state search instead of its NFA).
_KEY_RUN = r"[\p{L}\p{N}_.-]*"
_KEY_WORDS = re.compile(r"\(\?:(?:[^\W\d_]+|\[_\.-\]\?|\||\(\?:|\)|\?)*\)")
_KEY_UP_TO_TAIL = r"""([^\\"'\t\n\f\r :=]*)"""


def _group_finder(pattern: str, regex: Any) -> Any:
    """What finds `pattern`'s groups on one of its whole matches (anchored at both ends): `regex` itself, or, for
    a ``(?i)(<key run>)<keyed value tail>`` pattern, an equivalent with the key found as "up to the tail"."""
    prefix = f"(?i)({_KEY_RUN}"
    suffix = f"{_KEY_RUN}){_KEYED_VALUE_TAIL}"
    if not (pattern.startswith(prefix) and pattern.endswith(suffix)):
        return regex
    words = pattern[len(prefix) : len(pattern) - len(suffix)]
    if _KEY_WORDS.fullmatch(words) is None:  # letters, `[_.-]?` and non-capturing groups only
        return regex
    relaxed = _re2.RE2(f"(?i){_KEY_UP_TO_TAIL}{_KEYED_VALUE_TAIL}".encode(), _options())
    if not relaxed.ok() or relaxed.NumberOfCapturingGroups() != regex.NumberOfCapturingGroups():
        return regex
    return relaxed


def _options(max_mem: int = 8 << 20) -> Any:
    """RE2 options. A rule's regex keeps RE2's default memory budget (past it, RE2 falls back from the DFA to the
    NFA: slower, still linear, still right); the trigger set gets more, as it must answer in one DFA pass."""
    options = re2.Options()
    options.max_mem = max_mem
    options.log_errors = False
    return options


# A `key=value` pair of a query string or form body with a %XX escape in its key or its value.
_ENCODED_VALUE = _re2.RE2(  # no capture group: found by RE2's DFA alone
    rb"[^\s&?=#\"'<>]*%[0-9A-Fa-f]{2}[^\s&?=#\"'<>]*=[^&\s#\"'<>]*"
    rb"|[^\s&?=#\"'<>]*=[^&\s#\"'<>]*%[0-9A-Fa-f]{2}[^&\s#\"'<>]*",
    _options(),
)


class Scrubber:
    """Finds and replaces personal data and secrets in text and structured values.

    Args:
        rules: the detectors; the shipped defaults when None.
        extra_patterns: more detectors: `Rule`s, or bare RE2 patterns (kind ``custom``).
        blocked_keys: key names whose values are always redacted (compared normalised: ``X-Api-Key`` ==
            ``x_api_key``).
        blocked_key_patterns: RE2 patterns; a key that matches one has its value redacted.
        allowed_keys: key names never touched, in addition to the defaults (trace context, timestamps).
        allowed_values: RE2 patterns; a finding that one of them matches whole is kept (``.+@example\\.com``).
        disabled_kinds: kinds that are not redacted (``ipv4``, ``person``, ...).
        hmac_key: when set, identity kinds become keyed pseudonyms (``[email:3f9a0c1d2e4b5a69]``) that join
            across logs, traces and analytics; otherwise typed placeholders (``[REDACTED:email]``). At least
            16 bytes (32 random ones recommended): pseudonyms of e-mails and phone numbers are only as hard to
            reverse as the key is to guess.
        key_policy: which keys name secrets, persons, phones; the shipped defaults when None.
        max_field_bytes: longer values are scrubbed in pieces of at most this size, cut at a line end or space.
    """

    def __init__(
        self,
        rules: Sequence[Rule] | None = None,
        *,
        extra_patterns: Iterable[Rule | str] = (),
        blocked_keys: Iterable[str] = (),
        blocked_key_patterns: Iterable[str] = (),
        allowed_keys: Iterable[str] = (),
        allowed_values: Iterable[str] = (),
        disabled_kinds: Iterable[str] = (),
        hmac_key: bytes | None = None,
        key_policy: KeyPolicy | None = None,
        max_field_bytes: int = 1 << 20,
    ) -> None:
        if hmac_key is not None and len(hmac_key) < 16:
            raise ValueError("hmac_key must be at least 16 bytes (use a random secret, e.g. `openssl rand -hex 32`)")
        if max_field_bytes < 1024:
            raise ValueError(f"max_field_bytes must be at least 1024, got {max_field_bytes}")
        self._max_field_bytes = max_field_bytes
        self._hmac_key = hmac_key
        self._disabled = frozenset(disabled_kinds)
        self._policy = key_policy or default_key_policy()
        self._blocked_keys = frozenset(normalize_key(k) for k in blocked_keys)
        self._never_keys = self._policy.never | {normalize_key(k) for k in allowed_keys}
        self._blocked_key_res = [self._compile(f"blocked_key_patterns[{i}]", p)
                                 for i, p in enumerate(blocked_key_patterns)]
        self._allowed_value_res = [self._compile(f"allowed_values[{i}]", p) for i, p in enumerate(allowed_values)]

        all_rules = list(default_rules() if rules is None else rules)
        for i, extra in enumerate(extra_patterns):
            all_rules.append(extra if isinstance(extra, Rule) else Rule(f"extra_{i}", "custom", extra))
        blocked_rule = _blocked_keys_rule(blocked_keys)
        if blocked_rule is not None:
            all_rules.append(blocked_rule)
        names = [r.name for r in all_rules]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"duplicate rule names: {', '.join(dupes)}")

        self._rules: list[Rule] = []
        # per rule, what the hot loop needs: (locate, match or None, validator or None when it accepts every
        # match, group, kind, is_keyed, budget)
        self._plan: list[tuple[Any, Any, Validator | None, int, str, bool, int]] = []
        self._set = _re2.Set(_UNANCHORED, _options(64 << 20))
        for rule in all_rules:
            if rule.kind in self._disabled and rule.validator != "keyed_value":
                continue
            regex = self._compile(f"rule {rule.name!r}", rule.pattern)
            if rule.group > regex.NumberOfCapturingGroups():
                raise ValueError(f"rule {rule.name!r}: group {rule.group} does not exist in its pattern")
            validator = VALIDATORS.get(rule.validator)
            if validator is None:
                raise ValueError(f"rule {rule.name!r}: unknown validator {rule.validator!r} "
                                 f"(valid: {', '.join(sorted(VALIDATORS))})")
            trigger = rule.trigger or rule.pattern
            if rule.trigger:
                self._compile(f"rule {rule.name!r} trigger", rule.trigger)
            if self._set.Add(trigger.encode("utf-8")) != len(self._rules):
                raise ValueError(f"rule {rule.name!r}: pattern cannot join the rule set")
            locate, match = regex.Match, None
            if regex.NumberOfCapturingGroups() > 0:
                locator = _re2.RE2(_without_groups(rule.pattern).encode("utf-8"), _options())
                if locator.ok() and locator.NumberOfCapturingGroups() == 0:
                    locate, match = locator.Match, _group_finder(rule.pattern, regex).Match
            self._rules.append(rule)
            self._plan.append((locate, match, None if validator is accept else validator, rule.group, rule.kind,
                               rule.validator == "keyed_value", rule.budget))
        if self._rules and not self._set.Compile():
            raise ValueError("the rule set is too large to compile")

        self._key_cache: dict[str, str | None] = {}
        self._clean: dict[str, None] = {}
        self._clean_pairs: dict[tuple[str, str | int], None] = {}
        self._bkey_cache: dict[bytes, str | None] = {}
        self._placeholders: dict[str, bytes] = {}
        self._totals: Counter[str] = Counter()
        self._lock = threading.Lock()

    @staticmethod
    def _compile(where: str, pattern: str) -> Any:
        regex = _re2.RE2(pattern.encode("utf-8"), _options())
        if not regex.ok():
            error = regex.error()
            message = error.decode("utf-8", "replace") if isinstance(error, bytes) else str(error)
            raise ValueError(f"{where}: invalid RE2 pattern {pattern!r}: {message}")
        return regex

    # --- public API ----------------------------------------------------------------------------------------------

    @property
    def rules(self) -> tuple[Rule, ...]:
        """The active rules, in priority order."""
        return tuple(self._rules)

    def scrub_text(self, text: str, counts: Counter[str] | None = None) -> str:
        """`text` with every sensitive span replaced; `counts` (when given) gets one per redaction, by kind."""
        if len(text) < 5 or text in self._clean:
            return text
        buf = text.encode("utf-8", "surrogatepass")
        if len(buf) > self._max_field_bytes:
            out = self._scrub_pieces(buf, counts)
        else:
            matched = self._set.Match(buf)
            if not matched and _PERCENT not in buf:
                # The common case, decided in one pass of the trigger set; remembered for the next time.
                if len(text) <= _CLEAN_CACHE_TEXT_MAX:
                    clean = self._clean
                    if len(clean) >= _CLEAN_CACHE_MAX:
                        clean.clear()
                    clean[text] = None
                return text
            out = self._scrub(buf, counts, matched)
        if out is None:
            return text
        return out.decode("utf-8", "surrogatepass")

    def scrub_bytes(self, buf: bytes, counts: Counter[str] | None = None) -> bytes | None:
        """UTF-8 in, UTF-8 out; None when nothing was redacted (the caller keeps its original).

        Values longer than `max_field_bytes` are scrubbed in pieces cut at a line end or a space, so memory
        and the validation budget stay bounded whatever arrives."""
        if len(buf) > self._max_field_bytes:
            return self._scrub_pieces(buf, counts)
        return self._scrub(buf, counts, None)

    def _scrub(self, buf: bytes, counts: Counter[str] | None, matched: list[int] | None) -> bytes | None:
        hits = self._find(buf, matched)
        if not hits:
            return None
        local: dict[str, int] = {}
        out, glued = self._replace(buf, hits, local)
        for _ in range(_MAX_ROUNDS - 1):
            # A redaction glued to a word (`...0BEARER x`, `<hash>AKIA...`) puts a word boundary where there was
            # none: what it uncovers is found now, so that scrubbing the output again finds nothing (rare).
            if not glued:
                break
            more = self.find(out)
            if not more:
                break
            out, glued = self._replace(out, more, local)
        self._count(local, counts)
        return out

    def _replace(self, buf: bytes, hits: list[Hit], local: dict[str, int]) -> tuple[bytes, bool]:
        """`buf` with `hits` replaced, and whether any of them touched a word character."""
        pieces: list[bytes] = []
        pos = 0
        glued = False
        n = len(buf)
        placeholders = self._placeholders if self._hmac_key is None else {}
        append = pieces.append
        for start, end, kind in hits:
            append(buf[pos:start])
            placeholder = placeholders.get(kind)
            append(placeholder if placeholder is not None else self._replacement(kind, buf[start:end]))
            local[kind] = local.get(kind, 0) + 1
            if not glued:  # next to a word, or to more digits a number rule may now read on their own
                if start > 0:
                    c = buf[start - 1]
                    glued = c in _WORD or (start > 1 and c in _NUMBER_GAP and buf[start - 2] in _DIGIT)
                if not glued and end < n:
                    c = buf[end]
                    glued = c in _WORD or (end + 1 < n and c in _NUMBER_GAP and buf[end + 1] in _DIGIT)
            pos = end
        pieces.append(buf[pos:])
        return b"".join(pieces), glued

    def _scrub_pieces(self, buf: bytes, counts: Counter[str] | None) -> bytes | None:
        out: list[bytes] = []
        changed = False
        pos, n, size = 0, len(buf), self._max_field_bytes
        while pos < n:
            stop = min(pos + size, n)
            if stop < n:
                cut = max(buf.rfind(b"\n", pos, stop), buf.rfind(b" ", pos, stop))
                if cut > pos:
                    stop = cut + 1
                else:
                    while stop > pos + 1 and buf[stop] & 0xC0 == 0x80:  # never inside a UTF-8 sequence
                        stop -= 1
            piece = buf[pos:stop]
            scrubbed = self.scrub_bytes(piece, counts)
            changed = changed or scrubbed is not None
            out.append(piece if scrubbed is None else scrubbed)
            pos = stop
        return b"".join(out) if changed else None

    def find(self, buf: bytes) -> list[Hit]:
        """The spans to redact in `buf`, sorted and non-overlapping: ``(start, end, kind)`` byte offsets.

        URL-encoded values (``?phone=%2B90%20532...``) are also decoded and searched, and what is found there is
        mapped back onto the encoded text."""
        return self._find(buf, None)

    def _find(self, buf: bytes, matched: list[int] | None) -> list[Hit]:
        """`find`, given the trigger set's answer for `buf` when the caller already has it."""
        hits = self._find_plain(buf, matched)
        if _PERCENT in buf:
            hits.extend(self._find_encoded(buf))
        if self._disabled:
            hits = [h for h in hits if h[2] not in self._disabled]
        if self._allowed_value_res and hits:
            hits = [h for h in hits if not self._allowed_value(buf[h[0] : h[1]])]
        if len(hits) < 2:
            return hits
        hits.sort(key=lambda h: (h[0], -h[1], h[2] == "secret"))  # on a tie the specific kind names the span
        merged: list[Hit] = [hits[0]]
        last_end = hits[0][1]
        for start, end, kind in hits[1:]:
            if start < last_end:
                if end > last_end:
                    last = merged[-1]
                    merged[-1] = (last[0], end, last[2])
                    last_end = end
            else:
                merged.append((start, end, kind))
                last_end = end
        return merged

    def _allowed_value(self, value: bytes) -> bool:
        anchor_both = _re2.RE2.Anchor.ANCHOR_BOTH
        return any(r.Match(anchor_both, value, 0, len(value))[0][0] >= 0 for r in self._allowed_value_res)

    def _find_encoded(self, buf: bytes) -> list[Hit]:
        hits: list[Hit] = []
        pos, n = 0, len(buf)
        while pos < n:
            spans = _ENCODED_VALUE.Match(_UNANCHORED, buf, pos, n)
            if spans[0][0] < 0:
                break
            v_start, v_end = spans[0]
            raw = buf[v_start:v_end]
            found = self._find_plain(unquote_to_bytes(raw.replace(b"+", b" ")))
            if found:  # map back onto the encoded text (rare: only then are the escapes listed)
                escapes = [m.start() for m in _ESCAPE.finditer(raw)]
                for start, end, kind in found:
                    hits.append((v_start + _encoded_offset(escapes, start), v_start + _encoded_offset(escapes, end),
                                 kind))
            pos = spans[0][1]
        return hits

    def _find_plain(self, buf: bytes, matched: list[int] | None = None) -> list[Hit]:
        if matched is None:
            matched = self._set.Match(buf)
        if not matched:
            return []
        hits: list[Hit] = []
        n = len(buf)
        plan = self._plan
        unanchored, anchor_both = _UNANCHORED, _ANCHOR_BOTH
        if len(matched) > 1:
            matched = sorted(matched)  # rule order: on identical spans the earlier rule names the kind
        for i in matched:
            locate, match, validate, group, kind, is_keyed, budget = plan[i]
            pos = 0
            while pos <= n:
                spans = locate(unanchored, buf, pos, n)
                start, end = spans[0]
                if start < 0:
                    break
                if match is not None:  # the rule's capture groups, found on the match alone
                    spans = match(anchor_both, buf, start, end)
                if validate is None:  # `accept`, without the call (its hits need no budget)
                    g_start, g_end = spans[group]
                    if g_start >= 0:
                        hits.append((g_start, g_end, kind))
                elif budget > 0:
                    hits += validate(buf, spans, group, kind, self)
                    budget -= 1
                else:
                    g_start, g_end = spans[group]
                    if g_start >= 0 and not is_keyed:
                        hits.append((g_start, g_end, kind))
                pos = end if end > start else end + 1
        return hits

    def scrub_value(self, value: Any, key: str | None = None, counts: Counter[str] | None = None) -> Any:
        """Walks dicts, lists, tuples and sets (keys considered) and scrubs strings, and bytes that are UTF-8 text
        (an OpenTelemetry attribute may be bytes; they stay bytes); other values are kept.

        A value whose key names a secret is replaced whole; a key never to touch keeps its value as is.
        Containers are copied, never mutated."""
        if key is not None:
            key_kind = self.classify_key(key)
            if key_kind == "never":
                return value
            if key_kind is not None:
                return self.redact_as(key_kind, value, counts)
        if isinstance(value, str):
            return self.scrub_text(value, counts)
        if isinstance(value, bytes):
            try:
                text = value.decode("utf-8")
            except UnicodeDecodeError:
                return value  # binary: nothing to read as text
            scrubbed = self.scrub_text(text, counts)
            return value if scrubbed is text else scrubbed.encode("utf-8", "surrogatepass")
        if isinstance(value, dict):
            out: dict[Any, Any] = {}
            for k, v in value.items():
                if not isinstance(k, str):
                    out[k] = self.scrub_value(v, None, counts)
                    continue
                nested = self.classify_nested(key, k) if key is not None else None
                out[k] = self.redact_as(nested, v, counts) if nested else self.scrub_value(v, k, counts)
            return out
        if isinstance(value, list):
            return [self.scrub_value(v, None, counts) for v in value]
        if isinstance(value, tuple | set | frozenset):
            return type(value)(self.scrub_value(v, None, counts) for v in value)
        return value

    def scrub_fields(self, fields: Mapping[str, Any], counts: Counter[str] | None = None,
                     skip: Container[str] | None = None) -> tuple[dict[str, Any] | None, Counter[str] | None]:
        """`scrub_value(value, key, counts)` for each field of a flat record (span attributes, a log event) but
        those in `skip`; `fields` is only read. Returns the fields that got a new value (None when none did) and
        the counts: `counts` itself, or, when it is None, a new `Counter` once some field had to be scrubbed — so
        a record with nothing to redact allocates nothing.

        A field seen clean recently costs one dict lookup: a (key, value) pair of an exact `str` or `int`, a key
        never touched, or a number or None under a key that names nothing."""
        pairs, kinds = self._clean_pairs, self._key_cache
        changes: dict[str, Any] | None = None
        for item in fields.items():
            key, value = item
            if skip is not None and key in skip:
                continue
            cls = type(value)
            cacheable = cls is str or cls is int
            if cacheable and item in pairs:
                continue
            kind = kinds.get(key, _UNKNOWN)
            if kind == "never" or (kind is None and not isinstance(value, _WALKED)):
                continue
            if counts is None:
                counts = Counter()
            before = counts.total()
            new = self.scrub_value(value, key, counts)
            if new is value:
                if cacheable and counts.total() == before and (cls is int or len(value) <= _CLEAN_CACHE_TEXT_MAX):
                    if len(pairs) >= _CLEAN_PAIRS_MAX:
                        pairs.clear()
                    pairs[key, value] = None
            else:
                if changes is None:
                    changes = {}
                changes[key] = new
        return changes, counts

    def known_clean(self, text: str) -> bool:
        """True when `scrub_text` is known to return `text` as it is without looking (short, or seen clean
        recently); False when it would have to look."""
        return len(text) < 5 or text in self._clean

    def classify_key(self, key: str) -> str | None:
        """``"never"`` for keys never touched, the kind a key's value is redacted as, or None."""
        try:
            return self._key_cache[key]
        except KeyError:
            pass
        norm = normalize_key(key)
        kind: str | None
        if norm in self._never_keys:
            kind = "never"
        elif norm in self._blocked_keys or any(
            r.Match(_UNANCHORED, key.encode("utf-8"), 0, len(key.encode("utf-8")))[0][0] >= 0
            for r in self._blocked_key_res
        ):
            kind = "secret"
        else:
            kind = self._policy.classify(key)
            if kind in self._disabled:
                kind = None
        if len(self._key_cache) >= _KEY_CACHE_MAX:
            self._key_cache.clear()
        self._key_cache[key] = kind
        return kind

    def classify_nested(self, parent: str, key: str) -> str | None:
        """What ``{parent: {key: ...}}`` holds when `key` alone says nothing: ``customer`` + ``name`` is a
        person, ``service`` + ``name`` is not. None when the key is never touched or says nothing either way."""
        if self.classify_key(key) is not None:
            return None
        kind = self.classify_key(f"{parent}.{key}")
        return None if kind == "never" else kind

    def classify_key_bytes(self, key: bytes) -> str | None:
        """`classify_key` for a key found in UTF-8 text."""
        try:
            return self._bkey_cache[key]
        except KeyError:
            pass
        kind = self.classify_key(key.decode("utf-8", "replace"))
        if len(self._bkey_cache) >= _KEY_CACHE_MAX:
            self._bkey_cache.clear()
        self._bkey_cache[key] = kind
        return kind

    def pseudonymize(self, kind: str, value: str) -> str:
        """A keyed HMAC pseudonym (``[email:3f9a0c1d2e4b5a69]``) of `value` when a key is set and `kind` is an
        identity kind; the typed placeholder (``[REDACTED:email]``) otherwise. Values are normalised first
        (e-mail case, phone format, separators) so the same person gets the same pseudonym everywhere."""
        return self._replacement(kind, value.encode("utf-8", "surrogatepass")).decode("utf-8")

    def redaction_counts(self) -> dict[str, int]:
        """Redactions so far by kind, across all calls (never the values)."""
        with self._lock:
            return dict(self._totals)

    # --- internals -----------------------------------------------------------------------------------------------

    def _count(self, local: Mapping[str, int], counts: Counter[str] | None) -> None:
        if counts is not None:
            counts.update(local)
        totals = self._totals
        with self._lock:
            for kind, n in local.items():
                totals[kind] += n

    def _replacement(self, kind: str, value: bytes) -> bytes:
        if self._hmac_key is not None and kind in IDENTITY_KINDS:
            norm = _normalize_value(kind, value.decode("utf-8", "replace"))
            digest = hmac.new(self._hmac_key, f"{kind}:{norm}".encode(), hashlib.sha256).hexdigest()[:16]
            return f"[{kind}:{digest}]".encode()
        placeholder = self._placeholders.get(kind)
        if placeholder is None:
            placeholder = self._placeholders[kind] = f"[REDACTED:{kind}]".encode()
        return placeholder

    def redact_as(self, kind: str, value: Any, counts: Counter[str] | None = None) -> Any:
        """The value of a key that names `kind` (``secret``, ``person``, ``phone``, ...): scalars are replaced
        whole (a phone or SSN key only when the value has the digits of one), containers leaf by leaf."""
        if value is None or isinstance(value, bool):
            return value
        if isinstance(value, dict):
            return {k: self.redact_as(kind, v, counts) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return type(value)(self.redact_as(kind, v, counts) for v in value)
        if not isinstance(value, str | int | float | bytes):
            return value
        text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
        stripped = text.strip()
        if stripped.lower() in ("", "null", "none", "undefined") or is_placeholder(stripped.encode("utf-8", "replace")):
            return value
        # the digits of earlier redactions (`[person:3f9a...]`) are not the value's: a second pass must agree
        digits = sum(ch.isdigit() for ch in _PLACEHOLDER_IN_TEXT.sub("", text)) if "[" in text else sum(
            ch.isdigit() for ch in text)
        if (kind == "phone" and digits < 7) or (kind == "ssn" and digits != 9):
            return self.scrub_value(value, None, counts)
        self._count(Counter({kind: 1}), counts)
        return self.pseudonymize(kind, text)


def _normalize_value(kind: str, value: str) -> str:
    value = value.strip()
    if kind == "email":
        return unquote(value).lower()
    if kind == "phone":
        return _e164(value)
    if kind in ("credit_card", "iban", "ssn", "tckn"):
        return "".join(ch for ch in value if ch.isalnum()).upper()
    if kind in ("ipv4", "ipv6"):
        try:
            return ipaddress.ip_address(value).compressed
        except ValueError:
            return value.lower()
    if kind == "person":
        return " ".join(value.casefold().split())
    return value


@lru_cache(maxsize=4096)
def _e164(value: str) -> str:
    for region in (None,) if value.startswith("+") else ("TR", "US", "DE", "GB"):
        try:
            number = phonenumbers.parse(value, region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(number):
            return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))
    return "".join(ch for ch in value if ch.isdigit() or ch == "+")


# The value part of a `key=value`, `key: value`, `"key": "value"` pair (as in the keyed_value rule).
_KEYED_VALUE_TAIL = (
    r"""\\?["']?\s{0,8}(?:[:=]|=>)\s{0,8}(?:\\?"((?:[^"\\\r\n]|\\[^"\r\n])*)\\?"|'([^'\r\n]*)'"""
    r"""|((?:[^\s"'&,;{}\[\])<>|\\]|\\[^\snrt])(?:[^\s"'&,;}\])<>|\\]|\\[^\snrt])*))"""
)


def _blocked_keys_rule(keys: Iterable[str]) -> Rule | None:
    """Blocked keys in free text too: each key matched across ``_ - .`` and case (``X-Internal-Note``)."""
    alternatives = sorted({r"[_.\- ]?".join(re2.escape(seg) for seg in split_key(k)) for k in keys} - {""})
    if not alternatives:
        return None
    pattern = f"(?i)\\b({'|'.join(alternatives)}){_KEYED_VALUE_TAIL}"
    return Rule("blocked_keys", "secret", pattern, validator="keyed_value")


_DEFAULTS: dict[bytes | None, Scrubber] = {}
_DEFAULTS_LOCK = threading.Lock()


def default_scrubber(key: bytes | None = None) -> Scrubber:
    """The shared scrubber with the default rules (one per HMAC key), built once."""
    with _DEFAULTS_LOCK:
        scrubber = _DEFAULTS.get(key)
        if scrubber is None:
            scrubber = _DEFAULTS[key] = Scrubber(hmac_key=key)
        return scrubber
