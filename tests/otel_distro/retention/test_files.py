"""Local files (the collector's rotated file exporter output): archived with gzip, the archive read back, then
the original deleted; dry runs touch nothing."""

from __future__ import annotations

import gzip
import io
import os
import time
from pathlib import Path

from structlog.testing import capture_logs

from otel_distro.retention import run

from .conftest import config


def _file(path: Path, text: str, days_old: float) -> Path:
    path.write_text(text)
    then = time.time() - days_old * 86400
    os.utime(path, (then, then))
    return path


def test_old_rotated_files_are_archived_then_deleted(tmp_path: Path) -> None:
    old = _file(tmp_path / "otlp.jsonl.2", '{"resourceLogs": []}\n' * 100, 95)
    young = _file(tmp_path / "otlp.jsonl.1", "{}\n", 10)
    active = _file(tmp_path / "otlp.jsonl", "{}\n", 120)  # the file being written: not matched by the glob
    with capture_logs() as logs:
        report = run(config(files=[str(tmp_path / "otlp.jsonl.*")]), out=io.StringIO())
    assert report.ok
    assert not old.exists() and young.exists() and active.exists()
    archives = list((tmp_path / "archive").iterdir())
    assert len(archives) == 1 and archives[0].name.startswith("otlp.jsonl.2.") and archives[0].suffix == ".gz"
    assert gzip.decompress(archives[0].read_bytes()) == b'{"resourceLogs": []}\n' * 100
    [event] = [e for e in logs if e["event"] == "retention_file_deleted"]
    assert event["path"] == str(old) and event["bytes"] == 2100 and event["archive"] == str(archives[0])


def test_dry_run_names_the_files_and_touches_nothing(tmp_path: Path) -> None:
    old = _file(tmp_path / "otlp.jsonl.1", "data\n", 100)
    out = io.StringIO()
    report = run(config(files=[str(tmp_path / "*.1")], archive_dir=str(tmp_path / "arch")), dry_run=True, out=out)
    assert old.exists() and not (tmp_path / "arch").exists()
    [line] = [x for x in out.getvalue().splitlines() if x.startswith("would")]
    assert line.startswith(f"would archive to {tmp_path / 'arch' / 'otlp.jsonl.1.'}") and str(old) in line
    assert [c.name for c in report.planned] == [str(old)]


def test_an_archive_that_cannot_be_written_keeps_the_file_and_is_reported(tmp_path: Path) -> None:
    old = _file(tmp_path / "otlp.jsonl.1", "data\n", 100)
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")  # the archive directory cannot be created under a file
    slept: list[float] = []
    report = run(config(files=[str(old)], archive_dir=str(blocker / "archive"), attempts=3), out=io.StringIO(),
                 sleep=slept.append)
    assert old.exists()
    assert not report.ok and len(slept) == 2
    assert report.outcomes[0].deleted is False and "gave up after 3 attempts" in str(report.outcomes[0].error)
