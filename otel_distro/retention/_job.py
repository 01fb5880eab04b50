"""One run of the retention job: plan every store, then (unless a dry run) back up and delete, then report."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TextIO

import structlog
from elasticsearch import Elasticsearch

from ._config import RetentionConfig
from ._elasticsearch import ElasticsearchStore
from ._files import FileStore
from ._mail import send_summary
from ._plan import Report
from ._retry import PermanentError, RetriesExhausted

__all__ = ["run"]

_log = structlog.get_logger("otel_distro.retention")


def run(config: RetentionConfig, *, dry_run: bool = False, now: datetime | None = None, out: TextIO | None = None,
        es_client: Elasticsearch | None = None, sleep: Callable[[float], None] = time.sleep) -> Report:
    """Plan, then back up and delete (or, with `dry_run`, print exactly what would go and touch nothing).
    Never raises for a store's failure: it lands in ``report.failures`` and in the summary e-mail."""
    stream = out if out is not None else sys.stdout
    started = now or datetime.now(UTC)
    report = Report(dry_run=dry_run, cutoff=started - timedelta(seconds=config.older_than))
    _log.info("retention_run_started", dry_run=dry_run, cutoff=report.cutoff.isoformat(),
              older_than_seconds=config.older_than)
    es = (ElasticsearchStore(config.elasticsearch, config.retry, client=es_client, sleep=sleep)
          if config.elasticsearch.url is not None or es_client is not None else None)
    files = FileStore(config.files, config.retry, sleep=sleep)
    stores: list[tuple[str, ElasticsearchStore | FileStore]] = [("files", files)]
    if es is not None:
        stores.insert(0, ("elasticsearch", es))
    for label, store in stores:
        try:
            candidates, kept = store.plan(report.cutoff)
        except (PermanentError, RetriesExhausted) as exc:
            _log.error("retention_plan_failed", store=label, error=str(exc))
            report.failures.append(f"{label}: could not list what is old: {exc}")
            continue
        report.planned += candidates
        report.kept += kept
        if dry_run:
            for c in candidates:
                backup = (f"snapshot to {config.elasticsearch.repository}" if c.store == "elasticsearch"
                          else f"archive to {files.archive_path(c)}")
                print(f"would {backup}, then delete {c.describe()}", file=stream)
            for k in kept:
                print(f"would keep {k.store} {k.name}: {k.reason}", file=stream)
            continue
        store.apply(candidates, report, started)
    print(report.summary_line(), file=stream)
    for failure in report.failures:
        print(f"FAILED: {failure}", file=stream)
    _log.info("retention_run_finished", dry_run=dry_run, planned=len(report.planned), deleted=len(report.deleted),
              freed_bytes=sum(o.candidate.bytes for o in report.deleted), kept=len(report.kept),
              failures=len(report.failures) + sum(1 for o in report.outcomes if not o.deleted))
    if not dry_run:
        send_summary(report, config.smtp)
    return report
