"""PII and secret scrubbing: one engine for the collector's `pii` processor, the app's own outputs and the CLI.

What it finds — in free text, attribute values, JSON, URLs (query values decoded), headers and command lines —
is listed as data in ``default_rules.yaml``: e-mail, phone numbers (libphonenumber validity; TR, US, DE, GB and
any ``+`` number), IPv4/IPv6, US SSN, TC Kimlik No, person names where a key or phrase says so, payment cards
(Luhn and issuer ranges), IBAN (mod-97 and per-country length), JWTs, Bearer/Basic credentials, cookies
(framework session cookies by name in JSON too), URL passwords (host and port stay), SQL that sets a password,
PEM private keys, well-known token shapes, and any value whose key names a secret (``MYSQL_PWD`` and kin). Trace
and span ids, UUIDs, timestamps, versions, hashes, routes, hostnames, container image references, SQL bound
parameters (``%(name)s``, ``$1``, ``:name``, ``?``) and ids that fail the checksums are kept.

Only the sensitive span is replaced: ``[REDACTED:email]``, or ``[email:3f9a0c1d2e4b5a69]`` (HMAC-SHA256,
joinable across logs, traces and analytics) when a key is given. Secrets are never pseudonymised.

* `Scrubber` — the engine: ``scrub_text``, ``scrub_value`` (dicts/lists, keys considered), ``scrub_fields``
  (a flat record; fields seen clean recently cost a lookup), ``pseudonymize``, ``redaction_counts``;
  configured by its constructor (extra rules, blocked keys, keys never touched, kinds turned off, HMAC key).
  It reads no environment variables. `default_scrubber()` — the shared default one.
* `StructlogScrubber` — a structlog processor; `ScrubbingSpanProcessor` / `ScrubbingLogRecordProcessor` —
  OpenTelemetry SDK processors to register before the exporting ones; `sentry_before_send` — for
  ``sentry_sdk.init(before_send=...)``.
* ``otel-distro scrub`` (`otel_distro.scrubbing.cli`) — stdin lines to stdout lines, to try it on your data.

Example::

    scrubber = Scrubber(extra_patterns=[Rule("customer_id", "customer_id", r"\\bCUST-\\d{6}\\b")],
                        allowed_keys=["debug.sql"], disabled_kinds=["ipv4"], hmac_key=key_bytes)
    scrubber.scrub_text("mail jane@example.com, card 4111 1111 1111 1111")
    # 'mail [email:...], card [credit_card:...]'

Names are imported on first use: the engine, its rules and the CLI need no OpenTelemetry SDK (the collector's
`pii` processor imports them without it); only the SDK processors import `opentelemetry.sdk`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from otel_distro.scrubbing._engine import IDENTITY_KINDS, KEYED_KINDS, Scrubber, default_scrubber
    from otel_distro.scrubbing._otel import ScrubbingLogRecordProcessor, ScrubbingSpanProcessor
    from otel_distro.scrubbing._rules import Rule, default_rules
    from otel_distro.scrubbing._sentry import sentry_before_send
    from otel_distro.scrubbing._structlog import StructlogScrubber
    from otel_distro.scrubbing._summary import COUNT_KEY, KINDS_KEY

__all__ = [
    "COUNT_KEY",
    "IDENTITY_KINDS",
    "KEYED_KINDS",
    "KINDS_KEY",
    "Rule",
    "Scrubber",
    "ScrubbingLogRecordProcessor",
    "ScrubbingSpanProcessor",
    "StructlogScrubber",
    "default_rules",
    "default_scrubber",
    "sentry_before_send",
]

_HOMES = {
    "COUNT_KEY": "otel_distro.scrubbing._summary",
    "IDENTITY_KINDS": "otel_distro.scrubbing._engine",
    "KEYED_KINDS": "otel_distro.scrubbing._engine",
    "KINDS_KEY": "otel_distro.scrubbing._summary",
    "Rule": "otel_distro.scrubbing._rules",
    "Scrubber": "otel_distro.scrubbing._engine",
    "ScrubbingLogRecordProcessor": "otel_distro.scrubbing._otel",
    "ScrubbingSpanProcessor": "otel_distro.scrubbing._otel",
    "StructlogScrubber": "otel_distro.scrubbing._structlog",
    "default_rules": "otel_distro.scrubbing._rules",
    "default_scrubber": "otel_distro.scrubbing._engine",
    "sentry_before_send": "otel_distro.scrubbing._sentry",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'otel_distro.scrubbing' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
