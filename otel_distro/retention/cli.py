"""``otel-distro retention run [--dry-run] [--older-than 90d] [--config FILE]`` and
``otel-distro retention schedule [--at 03:00] [--config FILE]``."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import structlog

from collector.cli import configure_logging  # the collector's JSON log lines on stderr
from otel_distro.settings import SettingsError, load_retention_settings

from ._config import ConfigError, RetentionConfig, load_config
from ._job import run
from ._schedule import schedule

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="otel-distro retention",
                                     description="snapshot or archive old telemetry, then delete it")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, help_ in (("run", "run the job once"), ("schedule", "run the job every night at a local time")):
        p = sub.add_parser(name, help=help_)
        p.add_argument("--config", type=Path, help="YAML file (keys of RetentionConfig); overrides the environment")
        p.add_argument("--older-than", help="age limit, e.g. 90d (default: OTEL_DISTRO_RETENTION_OLDER_THAN or 90d)")
        p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
        if name == "run":
            p.add_argument("--dry-run", action="store_true", help="print exactly what would be deleted; delete nothing")
        else:
            p.add_argument("--at", help="local time HH:MM (default: OTEL_DISTRO_RETENTION_AT or 03:00)")
    return parser


def _load(args: argparse.Namespace) -> RetentionConfig:
    overrides: dict[str, Any] = {}
    if args.older_than is not None:
        overrides["older_than"] = args.older_than
    if getattr(args, "at", None) is not None:
        overrides["schedule"] = {"at": args.at}
    return load_config(load_retention_settings(), args.config, overrides)


def _announce(config: RetentionConfig, command: str) -> None:
    """What the job will look after, and loudly what it will not (no store configured, no e-mail)."""
    log = structlog.get_logger("otel_distro.retention")
    es, files, smtp = config.elasticsearch, config.files, config.smtp
    log.info("retention_configured", command=command, older_than_seconds=config.older_than,
             at=config.schedule.at if command == "schedule" else None, time_zone=time.strftime("%Z"),
             elasticsearch=es.url, data_streams=es.data_streams if es.url else [], repository=es.repository,
             files=files.paths, summary_to=smtp.to if smtp.host else [])
    if es.url is None and not files.paths:
        log.warning("retention_nothing_to_clean", hint="set ELASTICSEARCH_URL and/or OTEL_DISTRO_RETENTION_FILES")
    if smtp.host is None or not smtp.to:
        log.warning("retention_summary_off", hint="set SMTP_HOST and RETENTION_ADMIN_EMAIL for the summary e-mail")


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    configure_logging(args.log_level)
    try:
        config = _load(args)
    except (ConfigError, SettingsError) as exc:
        print(f"otel-distro retention: invalid configuration:\n{exc}", file=sys.stderr)
        return 2
    _announce(config, args.command)
    if args.command == "run":
        report = run(config, dry_run=args.dry_run)
        return 0 if report.ok else 1
    schedule(lambda: run(config), config.schedule.at)
    return 0  # pragma: no cover - schedule runs until the process is stopped
