"""Local files (the collector's rotated ``file`` exporter output, or any glob): archive each file older than
the limit with gzip, read the archive back and compare it with the original, then delete the original.

A file is deleted only if it is still the very file that was archived (same inode, size and modification
time): the collector's rotation renames ``otlp.jsonl.1`` to ``.2`` and so on, and a renamed file is left for
the next run. Point the globs at rotated files (``otlp.jsonl.*``), never at the file the exporter writes.
"""

from __future__ import annotations

import glob
import gzip
import hashlib
import os
import time
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import structlog

from ._config import FilesConfig, RetryConfig
from ._plan import Candidate, Kept, Outcome, Report
from ._retry import PermanentError, RetriesExhausted, retry

__all__ = ["FileStore"]

_log = structlog.get_logger("otel_distro.retention")
_CHUNK = 1 << 20


class FileChanged(PermanentError):
    """The file changed (renamed, rewritten) while it was archived: left for the next run."""


class FileStore:
    def __init__(self, config: FilesConfig, retry_policy: RetryConfig, *,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self._config = config
        self._retry = retry_policy
        self._sleep = sleep

    def plan(self, cutoff: datetime) -> tuple[list[Candidate], list[Kept]]:
        candidates: list[Candidate] = []
        seen: set[str] = set()
        for pattern in self._config.paths:
            for match in sorted(glob.glob(pattern)):
                path = os.path.abspath(match)
                if path in seen or not os.path.isfile(path) or path.endswith(".gz.tmp"):
                    continue
                seen.add(path)
                stat = os.stat(path)
                modified = datetime.fromtimestamp(stat.st_mtime, UTC)
                if modified < cutoff:
                    candidates.append(Candidate("file", path, stat.st_size, modified, os.path.dirname(path)))
        return candidates, []

    def archive_path(self, candidate: Candidate) -> Path:
        source = Path(candidate.name)
        directory = Path(self._config.archive_dir) if self._config.archive_dir else source.parent / "archive"
        return directory / f"{source.name}.{candidate.created:%Y%m%dT%H%M%SZ}.gz"

    def _archive_and_delete(self, candidate: Candidate) -> Path:
        source = Path(candidate.name)
        before = os.stat(source)
        target = self.archive_path(candidate)
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".tmp")
        digest = hashlib.sha256()
        with open(source, "rb") as src, gzip.open(partial, "wb") as dst:
            while chunk := src.read(_CHUNK):
                digest.update(chunk)
                dst.write(chunk)
        with open(partial, "rb") as written:
            os.fsync(written.fileno())
        check = hashlib.sha256()
        with gzip.open(partial, "rb") as back:
            while chunk := back.read(_CHUNK):
                check.update(chunk)
        if check.digest() != digest.digest():
            partial.unlink()
            raise OSError(f"archive {target} does not read back as {source}")
        os.replace(partial, target)
        after = os.stat(source)
        if (after.st_ino, after.st_size, after.st_mtime_ns) != (before.st_ino, before.st_size, before.st_mtime_ns):
            raise FileChanged(f"{source} changed while it was archived; kept for the next run")
        source.unlink()
        return target

    def apply(self, candidates: list[Candidate], report: Report, now: datetime) -> None:
        for candidate in candidates:
            try:
                archive = retry("archive_file", partial(self._archive_and_delete, candidate), self._retry,
                                sleep=self._sleep, path=candidate.name)
            except (PermanentError, RetriesExhausted, FileNotFoundError) as exc:
                _log.error("retention_delete_failed", store="file", path=candidate.name, error=str(exc))
                report.outcomes.append(Outcome(candidate, deleted=False, backup=None, error=str(exc)))
                continue
            _log.info("retention_file_deleted", path=candidate.name, bytes=candidate.bytes, archive=str(archive),
                      archive_bytes=archive.stat().st_size)
            report.outcomes.append(Outcome(candidate, deleted=True, backup=str(archive)))


