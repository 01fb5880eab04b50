"""``file_storage``: a directory on disk that persistent sending queues live in (``sending_queue.storage``).

Each exporter and signal gets its own subdirectory, ``<directory>/exporter_<id>_<signal>``; see
`collector.sending.persistent_queue` for what is stored and the delivery guarantees.
"""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from collector.component import ComponentID, CreateSettings, Kind

__all__ = ["TYPE", "Config", "FileStorage", "create"]

TYPE = "file_storage"


class Config(BaseModel):
    model_config = ConfigDict(extra="forbid")

    directory: Path = Field(default=Path("./data/file_storage"), description="where queues are stored")
    create_directory: bool = True
    fsync: bool = Field(default=False, description="fsync every write: survives power loss, at a cost")


_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")


class FileStorage:
    def __init__(self, settings: CreateSettings, config: Config) -> None:
        worker = getattr(settings.host, "worker", None)  # one of several workers: a directory of its own
        self.directory = worker.storage_subdir(config.directory) if worker is not None else config.directory
        self.fsync = config.fsync
        self._create = config.create_directory
        self._log = settings.logger

    async def start(self) -> None:
        if self._create:
            self.directory.mkdir(parents=True, exist_ok=True)
        elif not self.directory.is_dir():
            raise FileNotFoundError(f"file_storage directory {str(self.directory)!r} does not exist")

    async def shutdown(self) -> None:
        return None

    def directory_for(self, kind: Kind, id: ComponentID, name: str) -> Path:
        """The subdirectory owned by one component (``kind``, ``id``) for one purpose (``name``)."""
        noun = kind.value.removesuffix("s")
        return self.directory / _UNSAFE.sub("~", f"{noun}_{id}_{name}".replace("/", "~"))


def create(settings: CreateSettings, config: Config) -> FileStorage:
    return FileStorage(settings, config)
