"""The distro's README documents every setting of the table."""

from __future__ import annotations

from otel_distro.settings import RETENTION_SETTINGS_TABLE, SETTINGS_TABLE
from tests.support import ROOT


def test_every_setting_is_documented() -> None:
    text = (ROOT / "otel_distro" / "README.md").read_text()
    missing = [row.env for row in SETTINGS_TABLE if f"`{row.env}`" not in text]
    assert missing == []


def test_every_retention_setting_is_documented() -> None:
    text = (ROOT / "otel_distro" / "README.md").read_text()
    assert [row.env for row in RETENTION_SETTINGS_TABLE if f"`{row.env}`" not in text] == []
