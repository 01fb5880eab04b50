"""PII and secret scrubbing: one engine for the collector's `pii` processor, the app's own outputs and the CLI.

* `Scrubber` — the engine (`scrub_text`, `scrub_value`, `pseudonymize`, `redaction_counts`);
  `default_scrubber()` — the shared one with the shipped rules.
* Source-side adapters: `StructlogScrubber` (a structlog processor), `ScrubbingSpanProcessor` and
  `ScrubbingLogRecordProcessor` (OpenTelemetry SDK), `sentry_before_send` (Sentry SDK).
"""

from otel_distro.scrubbing._engine import IDENTITY_KINDS, Scrubber, default_scrubber
from otel_distro.scrubbing._otel import ScrubbingLogRecordProcessor, ScrubbingSpanProcessor
from otel_distro.scrubbing._rules import Rule, default_rules
from otel_distro.scrubbing._sentry import sentry_before_send
from otel_distro.scrubbing._structlog import StructlogScrubber
from otel_distro.scrubbing._summary import COUNT_KEY, KINDS_KEY

__all__ = [
    "COUNT_KEY",
    "IDENTITY_KINDS",
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
