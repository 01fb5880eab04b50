"""The retention job (``otel-distro retention``): Elasticsearch data streams are snapshotted, the snapshot is
verified, then backing indices older than the limit are deleted; local files are archived with gzip, then
deleted. Each deletion is a structured log event; a summary e-mail goes to the admin."""

from ._config import ConfigError, RetentionConfig, load_config
from ._elasticsearch import ElasticsearchStore, ilm_busy
from ._files import FileStore
from ._job import run
from ._mail import render_summary, send_summary
from ._plan import Candidate, Kept, Outcome, Report
from ._schedule import next_run, schedule

__all__ = [
    "Candidate",
    "ConfigError",
    "ElasticsearchStore",
    "FileStore",
    "Kept",
    "Outcome",
    "Report",
    "RetentionConfig",
    "ilm_busy",
    "load_config",
    "next_run",
    "render_summary",
    "run",
    "schedule",
    "send_summary",
]
