"""What the job found: what goes (`Candidate`), what stays and why (`Kept`), and what happened (`Outcome`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

__all__ = ["Candidate", "Kept", "Outcome", "Report", "human_bytes"]

Store = Literal["elasticsearch", "file"]


@dataclass(frozen=True, slots=True)
class Candidate:
    """One thing older than the limit that will be backed up (snapshot or gzip archive), then deleted."""

    store: Store
    name: str  # a backing index, or a file path
    bytes: int
    created: datetime
    group: str  # the data stream, or the file's directory

    def describe(self) -> str:
        what = "index" if self.store == "elasticsearch" else "file"
        via = f"data stream {self.group}" if self.store == "elasticsearch" else self.group
        return (f"{what} {self.name} ({via}, {human_bytes(self.bytes)}, "
                f"{self.created.astimezone(UTC).strftime('%Y-%m-%dT%H:%M:%SZ')})")


@dataclass(frozen=True, slots=True)
class Kept:
    """Something older than the limit that the job leaves alone, and why."""

    store: Store
    name: str
    reason: str


@dataclass(frozen=True, slots=True)
class Outcome:
    candidate: Candidate
    deleted: bool
    backup: str | None  # snapshot name, or archive path
    error: str | None = None


@dataclass(slots=True)
class Report:
    dry_run: bool
    cutoff: datetime
    planned: list[Candidate] = field(default_factory=list)
    kept: list[Kept] = field(default_factory=list)
    outcomes: list[Outcome] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)  # store-level failures (snapshot failed, cluster down)

    @property
    def deleted(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.deleted]

    @property
    def ok(self) -> bool:
        return not self.failures and all(o.deleted for o in self.outcomes)

    def summary_line(self) -> str:
        if self.dry_run:
            return f"dry run: {len(self.planned)} would be deleted ({human_bytes(sum(c.bytes for c in self.planned))})"
        freed = sum(o.candidate.bytes for o in self.deleted)
        failed = len(self.failures) + sum(1 for o in self.outcomes if not o.deleted)
        return f"{len(self.deleted)} deleted ({human_bytes(freed)}), {failed} failed, {len(self.kept)} kept"


def human_bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")  # pragma: no cover
