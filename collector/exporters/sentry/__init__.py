"""The ``sentry`` exporter: errors from log records and `exception` span events (optionally root spans as
transactions) sent to Sentry as envelopes, with sentry-sdk's own envelope, DSN and rate-limit code."""

from collector.exporters.sentry._config import Config, disabled_reason
from collector.exporters.sentry._events import EventBuilder, SentryItem
from collector.exporters.sentry._exporter import SIGNALS, TYPE, SentryExporter, create, subset
from collector.exporters.sentry._stacktrace import parse_stacktrace
from collector.exporters.sentry._transport import Outcome, Verdict, classify

__all__ = [
    "SIGNALS",
    "TYPE",
    "Config",
    "EventBuilder",
    "Outcome",
    "SentryExporter",
    "SentryItem",
    "Verdict",
    "classify",
    "create",
    "disabled_reason",
    "parse_stacktrace",
    "subset",
]
