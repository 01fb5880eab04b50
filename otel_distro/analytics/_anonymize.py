"""Anonymization before storage, with the scrubbing engine: the row that is stored, never the raw values.

* ``user_id`` becomes ``Scrubber.pseudonymize("user", user_id)`` — the function the log chain and the Sentry
  ``before_send`` use for user names and ids — so with ``OTEL_DISTRO_SCRUB_KEY`` set, one user has the same
  ``[user:3f9a0c1d2e4b5a69]`` in logs, traces, Sentry and analytics.
* Without that key the logs write ``[REDACTED:user]``, which joins nothing; analytics still never stores the
  raw id: it keys the same function with a random per-install key, made once and kept in a file (see
  `install_key`), so pseudonyms stay stable across restarts of this install (not across hosts: set the key).
* Properties go through ``Scrubber.scrub_value`` (keys considered: a ``password`` property is replaced whole,
  an e-mail inside a text becomes ``[email:...]``); the session id is kept only when it is a sane token
  (1-128 of ``[A-Za-z0-9._:-]``) with nothing in it that would be redacted.
"""

from __future__ import annotations

import logging
import os
import secrets
import threading
from pathlib import Path
from typing import Any

from otel_distro.analytics._event import SESSION_ID, AnalyticsEvent, jsonable
from otel_distro.scrubbing import Scrubber, default_scrubber
from otel_distro.scrubbing._keys import scrub_keys

__all__ = ["Anonymizer", "install_key"]

_log = logging.getLogger("otel_distro.analytics")
_KEY_BYTES = 32


def install_key(path: Path | None = None) -> bytes:
    """The per-install pseudonym key: read from ``path`` (default ``$XDG_DATA_HOME/otel-distro/analytics.key``,
    i.e. ``~/.local/share/otel-distro/analytics.key``), created there (mode 0600) on first use. When it can be
    neither read nor written, a random key for this process only (logged once as
    ``analytics_pseudonym_key_ephemeral``)."""
    path = path or _default_key_path()
    try:
        data = path.read_bytes()
        if len(data) >= _KEY_BYTES:
            return data[:_KEY_BYTES]
    except OSError:
        pass
    key = secrets.token_bytes(_KEY_BYTES)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as file:
            file.write(key)
        return key
    except FileExistsError:  # another process made it first: use theirs
        try:
            data = path.read_bytes()
            if len(data) >= _KEY_BYTES:
                return data[:_KEY_BYTES]
        except OSError:
            pass
    except OSError:
        pass
    _log.warning("analytics_pseudonym_key_ephemeral", extra={"key_file": str(path)})
    return key


def _default_key_path() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "otel-distro" / "analytics.key"


class Anonymizer:
    """Turns a buffered `AnalyticsEvent` into the row that is stored.

    Args:
        scrub_key: ``OTEL_DISTRO_SCRUB_KEY`` (its bytes); None = a per-install key from `install_key`.
        key_file: where the per-install key lives (tests).
    """

    def __init__(self, scrub_key: bytes | None = None, *, key_file: Path | None = None) -> None:
        self._key_file = key_file
        self._pseudonyms: Scrubber | None = None
        if scrub_key is not None:
            self._scrubber = self._pseudonyms = default_scrubber(key=scrub_key)
        else:
            # Properties: typed placeholders, as in the logs. Pseudonyms: the same function under a key of this
            # install, read (or made) when the first one is needed.
            self._scrubber = default_scrubber()
        self._lock = threading.Lock()

    def pseudonym(self, user_id: str) -> str:
        engine = self._pseudonyms
        if engine is None:
            with self._lock:
                if self._pseudonyms is None:
                    # An engine with no rules costs nothing to build; only its keyed `pseudonymize` is used.
                    self._pseudonyms = Scrubber(rules=[], hmac_key=install_key(self._key_file))
                engine = self._pseudonyms
        return engine.pseudonymize("user", user_id)

    def row(self, event: AnalyticsEvent) -> dict[str, Any]:
        """The stored row: nothing of ``event``'s raw user id or personal data in its properties."""
        properties = scrub_keys(self._scrubber, self._scrubber.scrub_value(jsonable(dict(event.properties))))
        session_id = event.session_id
        if session_id is not None and (not SESSION_ID.fullmatch(session_id)
                                       or self._scrubber.scrub_text(session_id) != session_id):
            session_id = None
        return {
            "id": event.id,
            "name": event.name,
            "user_pseudonym": None if event.user_id in (None, "") else self.pseudonym(str(event.user_id)),
            "properties": properties,
            "occurred_at": event.occurred_at,
            "received_at": event.received_at,
            "trace_id": event.trace_id,
            "request_id": event.request_id,
            "session_id": session_id,
            "source": event.source,
        }
