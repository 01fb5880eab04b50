"""Rules as data: the `Rule` type, the shipped defaults (``default_rules.yaml``) and key classification."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

import yaml

__all__ = ["KeyPolicy", "Rule", "default_key_policy", "default_rules", "normalize_key", "split_key"]

_KIND_RE = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True, slots=True)
class Rule:
    """One detector: an RE2 pattern, the capture group to redact, and the validator that confirms a match.

    `validator` names a function in `otel_distro.scrubbing._validators.VALIDATORS`; user rules use the default
    ``"accept"`` (every match is redacted). All rules' triggers (or patterns) form one RE2 set that picks, in
    one pass over a value, the rules worth running."""

    name: str
    kind: str
    pattern: str
    group: int = 0
    validator: str = "accept"
    trigger: str | None = None
    """A cheaper RE2 pattern that matches wherever `pattern` can; it only decides whether `pattern` runs."""
    budget: int = 4096
    """Validations per value; beyond it (hostile input) further matches are redacted unvalidated."""

    def __post_init__(self) -> None:
        if not _KIND_RE.match(self.kind):
            raise ValueError(f"rule {self.name!r}: kind {self.kind!r} must be lower-case letters, digits and '_'")
        if self.group < 0:
            raise ValueError(f"rule {self.name!r}: group must be >= 0, got {self.group}")
        if self.budget < 1:
            raise ValueError(f"rule {self.name!r}: budget must be >= 1, got {self.budget}")


@dataclass(frozen=True, slots=True)
class _Match:
    contains: tuple[str, ...] = ()
    exact: frozenset[str] = frozenset()
    ends_with: tuple[str, ...] = ()
    starts_with: frozenset[str] = frozenset()

    @classmethod
    def from_data(cls, data: dict[str, Any] | None) -> _Match:
        data = data or {}
        return cls(
            contains=tuple(normalize_key(x) for x in data.get("contains", ())),
            exact=frozenset(normalize_key(x) for x in data.get("exact", ())),
            ends_with=tuple(normalize_key(x) for x in data.get("ends_with", ())),
            starts_with=frozenset(str(x).lower() for x in data.get("starts_with", ())),
        )

    def matches(self, norm: str, first_segment: str = "") -> bool:
        return (
            norm in self.exact
            or any(c in norm for c in self.contains)
            or norm.endswith(self.ends_with)
            or first_segment in self.starts_with
        )


@dataclass(frozen=True, slots=True)
class KeyPolicy:
    """Which keys name a secret, a person, a user, a phone number or an SSN, and which are never touched."""

    secret: _Match = field(default_factory=_Match)
    not_secret: _Match = field(default_factory=_Match)
    person: _Match = field(default_factory=_Match)
    user: _Match = field(default_factory=_Match)
    phone: _Match = field(default_factory=_Match)
    ssn: _Match = field(default_factory=_Match)
    never: frozenset[str] = frozenset()

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> KeyPolicy:
        return cls(
            secret=_Match.from_data(data.get("secret")),
            not_secret=_Match.from_data(data.get("not_secret")),
            person=_Match.from_data(data.get("person")),
            user=_Match.from_data(data.get("user")),
            phone=_Match.from_data(data.get("phone")),
            ssn=_Match.from_data(data.get("ssn")),
            never=frozenset(normalize_key(k) for k in data.get("never", ())),
        )

    def classify(self, key: str) -> str | None:
        """The kind a key's value is redacted as (``secret``, ``person``, ``user``, ``phone``, ``ssn``) or None."""
        norm = normalize_key(key)
        if not norm or norm in self.never:
            return None
        norm = norm.rstrip("0123456789") or norm  # `first_name_2`, `password1` read as their stem
        segments = split_key(key)
        first = segments[0] if segments else ""
        if self.secret.matches(norm) and not self.not_secret.matches(norm, first):
            return "secret"
        for kind, match in (("user", self.user), ("person", self.person), ("phone", self.phone), ("ssn", self.ssn)):
            if match.matches(norm):
                return kind
        return None


_FOLD = str.maketrans({"ş": "s", "\u0131": "i", "ğ": "g", "ü": "u", "ö": "o", "ç": "c", "ä": "a", "ß": "ss",
                       "Ş": "s", "İ": "i", "Ğ": "g", "Ü": "u", "Ö": "o", "Ç": "c", "Ä": "a"})
_SEGMENT_RE = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+")


@cache
def normalize_key(key: str) -> str:
    """``Client-Secret`` / ``client_secret`` / ``clientSecret`` / ``Şifre`` -> ``clientsecret`` / ``sifre``."""
    folded = key.translate(_FOLD)
    folded = unicodedata.normalize("NFKD", folded).encode("ascii", "ignore").decode("ascii")
    return "".join(ch for ch in folded.lower() if ch.isalnum())


def split_key(key: str) -> list[str]:
    """Words of a key across ``_ - .`` and camelCase: ``isTokenValid`` -> ``["is", "token", "valid"]``."""
    folded = unicodedata.normalize("NFKD", key.translate(_FOLD)).encode("ascii", "ignore").decode("ascii")
    return [s.lower() for s in _SEGMENT_RE.findall(folded)]


@cache
def _load() -> dict[str, Any]:
    text = resources.files("otel_distro.scrubbing").joinpath("default_rules.yaml").read_text("utf-8")
    data: dict[str, Any] = yaml.safe_load(text)
    return data


def default_rules() -> tuple[Rule, ...]:
    """The shipped rules, in priority order."""
    return tuple(Rule(**item) for item in _load()["rules"])


def default_key_policy() -> KeyPolicy:
    return KeyPolicy.from_data(_load()["keys"])
