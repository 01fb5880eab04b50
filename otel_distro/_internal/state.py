"""Process-wide state of the distro: the validated settings in force."""

from __future__ import annotations

from otel_distro.settings import Settings, load_settings

__all__ = ["set_settings", "settings"]

_current: Settings | None = None


def settings() -> Settings:
    """The settings in force: those the configurator installed, else read from the environment once."""
    global _current  # noqa: PLW0603
    if _current is None:
        _current = load_settings()
    return _current


def set_settings(value: Settings | None) -> None:
    global _current  # noqa: PLW0603
    _current = value


def is_loaded() -> bool:
    """Whether settings were installed (by start-up validation or a test), rather than still to be read."""
    return _current is not None
