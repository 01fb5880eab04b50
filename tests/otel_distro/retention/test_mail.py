"""The summary e-mail reaches the admin through a real SMTP server (aiosmtpd, in-process)."""

from __future__ import annotations

import io
from pathlib import Path

from otel_distro.retention import run
from tests.servers.elasticsearch import ElasticsearchServer
from tests.support import free_port

from .conftest import STREAM, Mailbox, config


def test_the_summary_reaches_the_admin(es: ElasticsearchServer, mailbox: tuple[Mailbox, int]) -> None:
    box, port = mailbox
    first, _, write = es.index_names(STREAM)
    report = run(config(es, smtp_port=port), out=io.StringIO())
    assert report.ok
    [message] = box.messages
    assert message["To"] == "admin@example.com" and message["From"] == "retention@example.com"
    assert message["Subject"].startswith("[otel-distro] retention OK: 2 deleted")
    body = message.get_content()
    snapshot = report.deleted[0].backup
    assert f"deleted: index {first}" in body and f"backup {snapshot}" in body
    assert f"elasticsearch {write}: write index" in body


def test_a_failed_run_says_so_in_the_subject(es: ElasticsearchServer, mailbox: tuple[Mailbox, int]) -> None:
    box, port = mailbox
    es.fail_snapshots(times=2)
    run(config(es, smtp_port=port, attempts=2), out=io.StringIO(), sleep=lambda _: None)
    [message] = box.messages
    assert message["Subject"].startswith("[otel-distro] retention FAILED: 0 deleted")
    assert "no verified snapshot, nothing deleted" in message.get_content()


def test_dry_runs_send_no_mail(tmp_path: Path, mailbox: tuple[Mailbox, int]) -> None:
    box, port = mailbox
    run(config(smtp_port=port, files=[str(tmp_path / "*")]), dry_run=True, out=io.StringIO())
    assert box.messages == []


def test_an_unreachable_smtp_server_does_not_fail_the_run(tmp_path: Path) -> None:
    report = run(config(smtp_port=free_port()), out=io.StringIO())
    assert report.ok
