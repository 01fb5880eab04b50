"""Is this process one of several server workers? (uvicorn ``--workers N``, gunicorn ``-w N``)

A pull endpoint such as ``/metrics`` answers from whichever worker the load balancer picked, so with several
workers it would silently report one worker's share as the total. Detection is a cheap heuristic over the
parent's command line and ``WEB_CONCURRENCY``; ``OTEL_DISTRO_PROMETHEUS=on|off`` overrides it.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Mapping, Sequence
from typing import Literal

import psutil

__all__ = ["Role", "process_role", "worker_count", "workers_from_command_line"]


def workers_from_command_line(argv: Sequence[str]) -> int:
    """The worker count a uvicorn/gunicorn command line asks for (1 when it does not say)."""
    for index, arg in enumerate(argv):
        for flag in ("--workers", "-w"):
            if arg == flag and index + 1 < len(argv):
                value = argv[index + 1]
            elif arg.startswith(flag + "=") and flag.startswith("--"):
                value = arg.split("=", 1)[1]
            else:
                continue
            try:
                return max(1, int(value))
            except ValueError:
                return 1
    return 1


@functools.cache
def worker_count() -> int:
    """How many workers serve this app, as far as can be told from here (1 if unknown)."""
    try:
        concurrency = int(os.environ.get("WEB_CONCURRENCY", "1"))
    except ValueError:
        concurrency = 1
    try:
        parent = psutil.Process(os.getppid())
        argv = parent.cmdline()
    except (psutil.Error, OSError):
        argv = []
    launcher = " ".join(argv[:3])
    if "uvicorn" in launcher or "gunicorn" in launcher:
        return max(concurrency, workers_from_command_line(argv))
    return max(concurrency, 1)


#: What this process is: one that serves the app (configured), a server's supervisor that only starts and watches
#: the workers, or a helper process of the standard library (neither gets telemetry: their host metrics would
#: count the machine again beside every worker's).
Role = Literal["app", "supervisor", "helper"]

#: ``python -c`` programs of the standard library that run beside the app and never run its code.
_HELPER_PROGRAMS = ("from multiprocessing.resource_tracker import main",)


def process_role(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> Role:
    """This process's `Role`, from its original command line (``sys.orig_argv``, interpreter options included).

    A uvicorn started with several workers (``--workers N`` or ``WEB_CONCURRENCY``) or ``--reload`` is the
    supervisor: the app runs in the processes it spawns (``multiprocessing.spawn``), which are ``app``.
    gunicorn's master is ``app``: it forks its workers, which inherit what it configured.
    """
    argv = list(sys.orig_argv if argv is None else argv)
    environ = os.environ if environ is None else environ
    if "-c" in argv:
        index = argv.index("-c")
        program = argv[index + 1] if index + 1 < len(argv) else ""
        if program.lstrip().startswith(_HELPER_PROGRAMS):
            return "helper"
        return "app"
    for index, arg in enumerate(argv[:8]):  # the interpreter and its options, then ``-m uvicorn`` or the script
        if (arg == "uvicorn" and argv[index - 1] == "-m") or (index > 0 and os.path.basename(arg) == "uvicorn"):
            options = argv[index + 1 :]
            if "--reload" in options:
                return "supervisor"
            count = workers_from_command_line(options)
            if count == 1 and not any(o == "--workers" or o.startswith("--workers=") for o in options):
                try:
                    count = int(environ.get("WEB_CONCURRENCY", "1"))
                except ValueError:
                    count = 1
            return "supervisor" if count > 1 else "app"
    return "app"
