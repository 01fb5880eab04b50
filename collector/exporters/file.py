"""``file``: writes each export request as one line of OTLP/JSON (the OTLP file exporter format).

Every signal's instance of one exporter id appends to the same file; a line is written whole, so lines never
interleave. Reading a line back with `collector.otlpjson.decode` gives exactly the request that was sent.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import BinaryIO

from pydantic import BaseModel, ConfigDict, Field

from collector import otlpjson
from collector.component import CreateSettings
from collector.pdata import Batch, Signal

__all__ = ["SIGNALS", "TYPE", "Config", "FileExporter", "create"]

TYPE = "file"
SIGNALS = frozenset(Signal)


class Config(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: Path = Field(default=Path("./data/otlp.jsonl"), description="file to append OTLP/JSON lines to")
    flush_interval: float = Field(default=1.0, ge=0, description="seconds between flushes to the OS (0: every line)")


class _SharedFile:
    """One open file per path, shared by every exporter instance that writes to it."""

    _open: dict[Path, _SharedFile] = {}

    def __init__(self, path: Path) -> None:
        self.path = path
        self.users = 0
        self.file: BinaryIO | None = None

    @classmethod
    def acquire(cls, path: Path) -> _SharedFile:
        key = path.resolve()
        shared = cls._open.get(key)
        if shared is None:
            shared = cls._open[key] = _SharedFile(key)
        if shared.file is None:
            key.parent.mkdir(parents=True, exist_ok=True)
            shared.file = open(key, "ab")  # noqa: SIM115 - closed by release()
        shared.users += 1
        return shared

    def release(self) -> None:
        self.users -= 1
        if self.users <= 0 and self.file is not None:
            self.file.close()
            self.file = None
            self._open.pop(self.path, None)


class FileExporter:
    def __init__(self, settings: CreateSettings, config: Config) -> None:
        self._config = config
        self._shared: _SharedFile | None = None
        self._flusher: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._shared = _SharedFile.acquire(self._config.path)
        if self._config.flush_interval > 0:
            self._flusher = asyncio.create_task(self._flush_every(self._config.flush_interval))

    async def _flush_every(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            if self._shared is not None and self._shared.file is not None:
                self._shared.file.flush()

    async def export(self, batch: Batch) -> None:
        if self._shared is None or self._shared.file is None:
            raise RuntimeError("file exporter is not started")
        f = self._shared.file
        f.write(otlpjson.encode(batch) + b"\n")
        if self._config.flush_interval == 0:
            f.flush()

    async def shutdown(self) -> None:
        if self._flusher is not None:
            self._flusher.cancel()
            self._flusher = None
        if self._shared is not None:
            if self._shared.file is not None:
                self._shared.file.flush()
                os.fsync(self._shared.file.fileno())
            self._shared.release()
            self._shared = None


def create(settings: CreateSettings, config: Config) -> FileExporter:
    return FileExporter(settings, config)
