"""``otel-distro alerts serve``: the alert history and escalation service (Alertmanager webhook receiver).

    otel-distro alerts serve [--host 127.0.0.1] [--port 9097] [--check-interval 15s]

Settings come from the environment (`otel_distro.settings`): ``OTEL_DISTRO_ALERTS_DATABASE_URL``,
``OTEL_DISTRO_ALERTMANAGER_URL``, ``OTEL_DISTRO_ALERTS_ESCALATE_AFTER``, ``OTEL_DISTRO_ALERTS_ESCALATE_AGAIN_AFTER``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys

from otel_distro.settings import SettingsError, _positive_duration, load_settings

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="otel-distro alerts", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="receive Alertmanager's webhook, record alerts, escalate")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=9097)
    serve.add_argument("--check-interval", default="15s", help="how often escalations and silences are checked")
    return parser


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = load_settings()
        check_interval = _positive_duration(args.check_interval)
    except SettingsError as exc:
        print(f"otel-distro alerts: invalid configuration:\n{exc}", file=sys.stderr)
        return 2
    except ValueError:
        print(f"otel-distro alerts: --check-interval {args.check_interval!r} is not a duration (e.g. 15s)",
              file=sys.stderr)
        return 2
    try:
        from otel_distro.alerts._service import HistoryService  # noqa: PLC0415
    except ImportError as exc:  # sqlalchemy is in the `alerts` / `demo` extras
        print(f"otel-distro alerts: {exc.name} is missing: pip install 'otel-distro[alerts]'", file=sys.stderr)
        return 2
    from collector.cli import configure_logging  # noqa: PLC0415 - the same JSON lines on stderr as the collector

    configure_logging(settings.log_level, settings.log_format)
    service = HistoryService(database_url=settings.alerts_database_url, alertmanager_url=settings.alertmanager_url,
                             escalate_after=settings.alerts_escalate_after,
                             escalate_again_after=settings.alerts_escalate_again_after,
                             check_interval=check_interval, host=args.host, port=args.port)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(service.serve_forever())
    return 0
