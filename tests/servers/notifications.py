"""Where Alertmanager's notifications land in tests: a Slack-compatible incoming-webhook server (Slack answers
``200 ok`` to a JSON POST) and an SMTP server (aiosmtpd) keeping every mail, both in-process, both thread-safe."""

from __future__ import annotations

import json
import threading
from email import message_from_bytes
from typing import Any

from aiosmtpd.controller import Controller

from tests.servers._http import LocalHTTPServer
from tests.support import free_port

__all__ = ["Mailbox", "SlackWebhook"]


class SlackWebhook(LocalHTTPServer):
    thread_name = "slack-webhook"

    def __init__(self) -> None:
        super().__init__()
        self._messages: list[dict[str, Any]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/services/T000/B000/XXXX"

    def serve(self, method: str, target: str, headers: dict[str, str], body: bytes) -> tuple[
            int, dict[str, str], bytes]:
        if method != "POST":
            return 405, {}, b""
        with self._lock:
            self._messages.append(json.loads(body))
        return 200, {"Content-Type": "text/plain"}, b"ok"

    @property
    def messages(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._messages)

    def titles(self, channel: str) -> list[str]:
        return [m["attachments"][0]["title"] for m in self.messages if m.get("channel") == channel]


class Mailbox:
    """``with Mailbox() as box:`` an SMTP server on ``box.port``; ``box.mails``: (recipients, subject, body)."""

    def __init__(self) -> None:
        self.port = free_port()
        self._mails: list[tuple[list[str], str, str]] = []
        self._lock = threading.Lock()
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(self, server: object, session: object, envelope: Any) -> str:
        msg = message_from_bytes(envelope.content)
        body = msg.get_payload(decode=True) if not msg.is_multipart() else msg.get_payload(0).get_payload(decode=True)
        with self._lock:
            self._mails.append((list(envelope.rcpt_tos), str(msg["Subject"]),
                                (body or b"").decode("utf-8", "replace")))
        return "250 OK"

    @property
    def mails(self) -> list[tuple[list[str], str, str]]:
        with self._lock:
            return list(self._mails)

    def subjects(self, to: str) -> list[str]:
        return [subject for rcpt, subject, _ in self.mails if to in rcpt]

    def __enter__(self) -> Mailbox:
        self._controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._controller.stop()
