"""``before_send`` for the Sentry SDK: the event is scrubbed before it leaves the process."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from otel_distro.scrubbing._engine import Scrubber, default_scrubber

__all__ = ["sentry_before_send"]

_log = logging.getLogger(__name__)

# Event fields that identify the event, its code location and its trace: never personal data.
_KEEP = frozenset({
    "event_id", "timestamp", "start_timestamp", "level", "platform", "sdk", "release", "environment", "dist",
    "server_name", "modules", "logger", "type", "transaction_info", "measurements",
})
_USER_PSEUDONYMIZED = ("id", "username")
_PERSON_NAME = "name"  # `user.name` and `contexts.feedback.name`: a person's name, whatever it looks like

Event = dict[str, Any]
BeforeSend = Callable[[Event, dict[str, Any]], Event | None]


def sentry_before_send(scrubber: Scrubber | None = None) -> BeforeSend:
    """``sentry_sdk.init(before_send=sentry_before_send(scrubber))``.

    Scrubs messages, exception values, breadcrumbs, request data, frame variables and tags (keys considered);
    `user.id` and `user.username` become pseudonyms (joinable when an HMAC key is set). If scrubbing fails, the
    event is dropped rather than sent unscrubbed."""
    engine = scrubber or default_scrubber()
    failed = False

    def before_send(event: Event, hint: dict[str, Any]) -> Event | None:
        nonlocal failed
        try:
            return scrub_event(engine, event)
        except Exception:
            if not failed:
                failed = True
                _log.exception("scrubbing_sentry_event_failed")
            return None

    return before_send


def scrub_event(scrubber: Scrubber, event: Event) -> Event:
    out: Event = {}
    for key, value in event.items():
        if key in _KEEP:
            out[key] = value
        elif key == "user" and isinstance(value, dict):
            user = dict(value)
            for field in _USER_PSEUDONYMIZED:
                if user.get(field) not in (None, ""):
                    user[field] = scrubber.pseudonymize("user", str(user[field]))
            out[key] = {k: v if k in _USER_PSEUDONYMIZED else scrubber.redact_as("person", v) if k == _PERSON_NAME
                        else scrubber.scrub_value(v, k) for k, v in user.items()}
        elif key == "contexts" and isinstance(value, dict) and isinstance(value.get("feedback"), dict):
            feedback = value["feedback"]
            out[key] = scrubber.scrub_value({**value, "feedback": {k: v for k, v in feedback.items()
                                                                   if k != _PERSON_NAME}}, key)
            if _PERSON_NAME in feedback:
                out[key]["feedback"][_PERSON_NAME] = scrubber.redact_as("person", feedback[_PERSON_NAME])
        else:
            out[key] = scrubber.scrub_value(value, key)
    return out
