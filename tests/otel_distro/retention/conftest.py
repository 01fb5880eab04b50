"""Fixtures for the retention job: an Elasticsearch stand-in holding a data stream with old backing indices,
an in-process SMTP server, and a config pointing at both."""

from __future__ import annotations

from collections.abc import Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from elasticsearch import Elasticsearch

from otel_distro.retention import RetentionConfig
from tests.servers.elasticsearch import ElasticsearchServer
from tests.support import free_port

REPOSITORY = "otel-distro-backups"
STREAM = "logs-app.otel-default"


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        self.messages.append(message)
        return "250 OK"


@pytest.fixture
def mailbox() -> Iterator[tuple[Mailbox, int]]:
    box = Mailbox()
    port = free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield box, port
    finally:
        controller.stop()


def _bulk(es: ElasticsearchServer, stream: str, messages: list[str]) -> None:
    lines = []
    for i, text in enumerate(messages):
        lines.append({"create": {"_index": stream}})
        lines.append({"@timestamp": f"2026-01-01T00:00:{i:02d}Z", "body": {"text": text}})
    with Elasticsearch(es.url) as client:
        answer = client.bulk(operations=lines)
    assert not answer["errors"], answer


@pytest.fixture
def es() -> Iterator[ElasticsearchServer]:
    """A cluster with the ILM policy, a data stream template on it, and `STREAM` holding three backing indices:
    two rolled over and 120 / 100 days old, the write index (also 100 days old: no rollover since)."""
    with ElasticsearchServer(repositories=(REPOSITORY,)) as server:
        assert server.call("PUT", "/_ilm/policy/otel-distro-retention", {"policy": {"phases": {
            "hot": {"actions": {"rollover": {"max_age": "1d"}}},
            "delete": {"min_age": "90d", "actions": {"delete": {}}}}}})[0] == 200
        assert server.call("PUT", "/_index_template/logs", {
            "index_patterns": ["logs-*-*"], "data_stream": {}, "priority": 200,
            "template": {"settings": {"index": {"lifecycle": {"name": "otel-distro-retention"}}}}})[0] == 200
        _bulk(server, STREAM, ["first day", "first day again"])
        server.rollover(STREAM)
        _bulk(server, STREAM, ["second day"])
        server.rollover(STREAM)
        _bulk(server, STREAM, ["today"])
        first, second, write = server.index_names(STREAM)
        server.age_index(first, 120)
        server.age_index(second, 100)
        server.age_index(write, 100)
        yield server


def config(es: ElasticsearchServer | None = None, *, smtp_port: int | None = None, files: list[str] | None = None,
           archive_dir: str | None = None, attempts: int = 3, **extra: Any) -> RetentionConfig:
    return RetentionConfig.model_validate({
        "older_than": "90d",
        "elasticsearch": {"url": es.url if es else None, "repository": REPOSITORY, "data_streams": ["logs-*"]},
        "files": {"paths": files or [], "archive_dir": archive_dir},
        "smtp": {"host": "127.0.0.1" if smtp_port else None, "port": smtp_port or 25, "from": "retention@example.com",
                 "to": ["admin@example.com"]},
        "retry": {"attempts": attempts, "initial_interval": "10ms", "max_interval": "20ms"},
        **extra,
    })
