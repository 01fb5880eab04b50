"""The ``otel-distro`` console script.

Each sub-command belongs to the package that implements it and parses its own arguments:

* ``otel-distro collector run|validate --config FILE`` -> `collector.cli.main`
* ``otel-distro scrub [...]``                           -> `otel_distro.scrubbing.cli.main`
* ``otel-distro demo [...]``                            -> `otel_distro.demo.main`
* ``otel-distro alerts serve [...]``                    -> `otel_distro.alerts.cli.main`
* ``otel-distro retention run|schedule [...]``          -> `otel_distro.retention.cli.main`
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Sequence

__all__ = ["main"]

_COMMANDS: dict[str, tuple[str, str]] = {
    "collector": ("collector.cli", "run or validate the OTLP pipeline service"),
    "scrub": ("otel_distro.scrubbing.cli", "scrub PII and secrets from stdin lines to stdout"),
    "demo": ("otel_distro.demo", "run the demo app and collector on embedded defaults, with traffic"),
    "alerts": ("otel_distro.alerts.cli", "alert history and escalation service (Alertmanager webhook receiver)"),
    "retention": ("otel_distro.retention.cli", "snapshot or archive old telemetry, then delete it (run|schedule)"),
}

_USAGE = "usage: otel-distro {" + ",".join(_COMMANDS) + "} ...\n\n" + "\n".join(
    f"  {name:<10} {help_}" for name, (_, help_) in _COMMANDS.items()
)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in {"-h", "--help"}:
        print(_USAGE)
        return 0 if args else 2
    name, rest = args[0], args[1:]
    if name not in _COMMANDS:
        print(f"otel-distro: unknown command {name!r} (valid: {', '.join(_COMMANDS)})", file=sys.stderr)
        return 2
    module = importlib.import_module(_COMMANDS[name][0])
    run: Callable[[list[str]], int] = module.main
    return run(rest)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
