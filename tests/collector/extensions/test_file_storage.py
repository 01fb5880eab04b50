from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from collector.component import ComponentID, CreateSettings, Kind
from collector.extensions.file_storage import Config, create


def test_each_component_gets_its_own_safe_subdirectory(tmp_path: Path) -> None:
    ext = create(CreateSettings(ComponentID("file_storage")), Config(directory=tmp_path / "s"))
    asyncio.run(ext.start())
    assert (tmp_path / "s").is_dir()
    a = ext.directory_for(Kind.EXPORTER, ComponentID("otlphttp", "tempo"), "traces")
    b = ext.directory_for(Kind.EXPORTER, ComponentID("otlphttp", "tempo"), "logs")
    assert a != b
    assert a.parent == tmp_path / "s"
    assert "/" not in a.name


def test_a_missing_directory_is_an_error_unless_it_may_be_created(tmp_path: Path) -> None:
    ext = create(CreateSettings(ComponentID("file_storage")),
                 Config(directory=tmp_path / "missing", create_directory=False))
    with pytest.raises(FileNotFoundError, match="missing"):
        asyncio.run(ext.start())
