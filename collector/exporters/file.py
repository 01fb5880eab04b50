"""``file``: writes each export request as one line of OTLP/JSON (the OTLP file exporter format).

Every signal's instance of one exporter id (and any exporter naming the same ``path``) appends to one shared
file; a line is written whole, so lines never interleave. Reading a line back with `collector.otlpjson.decode`
gives exactly the request that was sent. With ``rotation`` the file is renamed to ``<path>.1`` (older ones
shift to ``.2`` ...) once it exceeds ``max_megabytes``; at most ``max_backups`` old files are kept.
With ``compression: gzip`` the file is gzip (each start appends a new member; ``zcat`` and `gzip.open` read
them all as one stream), and ``max_megabytes`` counts compressed bytes. A file left without its gzip trailer
(a crash) is renamed ``<path>.partial`` (``.partial.1``, ...) at the next start — appending after it would
make the whole file unreadable — and ``zcat`` still reads it up to the last flush. Without compression, a last
line a crash cut short is ended at the next start, so that only that line is lost.

The lines are written from the request's serialized bytes by a C transcoder (`collector.otlpjson._transcode`,
built when the package is installed with a compiler at hand; ~1.2 µs per realistic span against ~11 µs in Python)
that writes exactly what the Python encoder would, and hands anything unusual back to it.

Writes stay on the event loop, deliberately: a line goes into the file object's buffer (a memory copy), and
the system call happens once per ``flush_interval``. Handing writes to threads would buy little and cost the
guarantee that lines of concurrent exports never interleave. On a slow disk, keep ``flush_interval`` above 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import os
import zlib
from pathlib import Path
from typing import Any, BinaryIO, Literal

import structlog
from pydantic import BaseModel, ConfigDict, Field

from collector import otlpjson
from collector.component import CreateSettings
from collector.config_types import Duration
from collector.pdata import Batch, Signal

__all__ = ["SIGNALS", "TYPE", "Config", "FileExporter", "RotationConfig", "create"]

TYPE = "file"
SIGNALS = frozenset(Signal)
MULTI_PROCESS = False  # one file, appended to by one process


class RotationConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_megabytes: int = Field(default=100, ge=1, description="rotate once the file is this big")
    max_backups: int = Field(default=100, ge=0, description="rotated files kept (0: none, the data is dropped)")


class Config(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: Path = Field(default=Path("./data/otlp.jsonl"), description="file to append OTLP/JSON lines to")
    flush_interval: Duration = Field(default=1.0, description="time between flushes to the OS (0: every line)")
    rotation: RotationConfig | None = None
    compression: Literal["", "none", "gzip"] = Field(default="", description="gzip: write the file gzip-compressed")


def _ends_with_newline(path: Path) -> bool:
    with open(path, "rb") as f:
        f.seek(-1, os.SEEK_END)
        return f.read(1) == b"\n"


def _gzip_complete(path: Path) -> bool:
    """Whether ``path`` is missing, empty, or gzip members that each end with their trailer."""
    try:
        f = open(path, "rb")  # noqa: SIM115 - closed by the with below
    except FileNotFoundError:
        return True
    with f:
        inflater: Any = None  # None: between two members
        while chunk := f.read(1 << 20):
            while chunk:
                if inflater is None:
                    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
                try:
                    inflater.decompress(chunk, 1 << 20)  # the output is not needed: bounded, dropped
                except zlib.error:
                    return False
                if inflater.eof:
                    chunk, inflater = inflater.unused_data, None
                else:
                    chunk = inflater.unconsumed_tail
        return inflater is None


class _SharedFile:
    """One open file per path, shared by every exporter instance that writes to it."""

    _open: dict[Path, _SharedFile] = {}

    def __init__(self, path: Path) -> None:
        self.path = path
        self.users = 0
        self.file: BinaryIO | gzip.GzipFile | None = None  # what lines are written to (the gzip stream when compressed)
        self.raw: BinaryIO | None = None  # the file on disk
        self.gzip = False
        self.rotation: RotationConfig | None = None

    @classmethod
    def acquire(cls, path: Path, rotation: RotationConfig | None, gzip_: bool = False) -> _SharedFile:
        key = path.resolve()
        shared = cls._open.get(key)
        if shared is None:
            shared = cls._open[key] = _SharedFile(key)
            shared.gzip = gzip_
        if shared.file is None:
            shared.open()
        shared.rotation = shared.rotation or rotation
        shared.users += 1
        return shared

    def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.gzip and not _gzip_complete(self.path):
            partial = self.path.with_name(self.path.name + ".partial")
            n = 0
            while partial.exists():  # an older one is kept too
                n += 1
                partial = self.path.with_name(f"{self.path.name}.partial.{n}")
            self.path.rename(partial)
            structlog.get_logger("collector").warning("file_gzip_partial_set_aside", path=str(partial))
        self.raw = open(self.path, "ab")  # noqa: SIM115 - closed by release() / rotate()
        self.file = gzip.GzipFile(fileobj=self.raw, mode="ab") if self.gzip else self.raw
        if not self.gzip and self.raw.tell() and not _ends_with_newline(self.path):
            self.raw.write(b"\n")  # a line a crash cut short stays alone: the next one is not glued to it

    def _close(self) -> None:
        file, raw, self.file, self.raw = self.file, self.raw, None, None
        try:
            if file is not None and file is not raw:
                file.close()  # the gzip trailer
        finally:
            if raw is not None:
                raw.close()

    @property
    def size(self) -> int:
        """Bytes in the file on disk (with gzip: compressed so far, the rest is still being compressed)."""
        return self.raw.tell() if self.raw is not None else 0

    def write(self, line: bytes) -> None:
        if self.file is None:
            raise RuntimeError(f"file {self.path} is closed")
        rotation = self.rotation
        if rotation is not None and self.size:
            expected = self.size if self.gzip else self.size + len(line)  # compressed size is known afterwards
            if expected > rotation.max_megabytes * 1_000_000:
                self.rotate(rotation.max_backups)
                if self.file is None:
                    raise RuntimeError(f"file {self.path} could not be reopened")
        self.file.write(line)

    def rotate(self, max_backups: int) -> None:
        self._close()
        for n in range(max_backups, 0, -1):
            older = self.path.with_name(f"{self.path.name}.{n}")
            if n == max_backups:
                older.unlink(missing_ok=True)
            newer = self.path.with_name(f"{self.path.name}.{n - 1}") if n > 1 else self.path
            if newer.exists():
                newer.rename(older)
        if max_backups == 0:
            self.path.unlink(missing_ok=True)
        self.open()

    def flush(self) -> None:
        if self.file is not None:
            self.file.flush()
            if self.raw is not None and self.raw is not self.file:
                self.raw.flush()

    def release(self) -> None:
        """Drop one user; the last one flushes, syncs and closes the file (closed even when that fails)."""
        self.users -= 1
        if self.users <= 0 and self.file is not None:
            self._open.pop(self.path, None)
            try:
                self.flush()
                if self.raw is not None:
                    os.fsync(self.raw.fileno())
            finally:
                with contextlib.suppress(OSError):
                    self._close()


class FileExporter:
    def __init__(self, settings: CreateSettings, config: Config) -> None:
        self._config = config
        self._log = settings.logger
        self._shared: _SharedFile | None = None
        self._flusher: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._shared = _SharedFile.acquire(self._config.path, self._config.rotation,
                                           self._config.compression == "gzip")
        if self._config.flush_interval > 0:
            self._flusher = asyncio.create_task(self._flush_every(self._config.flush_interval))

    async def _flush_every(self, interval: float) -> None:
        failing = False
        while True:
            await asyncio.sleep(interval)
            if self._shared is None:
                continue
            try:
                self._shared.flush()
            except OSError as exc:  # a full disk: keep trying (and writing), report once per streak
                if not failing:
                    self._log.error("file_flush_failed", path=str(self._shared.path), error=str(exc))
                failing = True
            else:
                failing = False

    async def export(self, batch: Batch) -> None:
        if self._shared is None:
            raise RuntimeError("file exporter is not started")
        self._shared.write(otlpjson.encode(batch) + b"\n")
        if self._config.flush_interval == 0:
            self._shared.flush()

    async def shutdown(self) -> None:
        if self._flusher is not None:
            self._flusher.cancel()
            self._flusher = None
        if self._shared is not None:
            self._shared.release()
            self._shared = None


def create(settings: CreateSettings, config: Config) -> FileExporter:
    return FileExporter(settings, config)
