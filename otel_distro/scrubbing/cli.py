"""``otel-distro scrub``: stdin lines -> stdout lines, scrubbed with the default rules.

One output line per input line, always: invalid UTF-8 is replaced (U+FFFD), very long lines are scrubbed
whole, and a PEM private key spread over several lines is redacted line by line up to its END marker (or
the first line that is not key material).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections import Counter
from typing import BinaryIO

from otel_distro.scrubbing._engine import KEYED_KINDS, Scrubber
from otel_distro.scrubbing._rules import default_rules

__all__ = ["main"]

_PEM_BEGIN, _PEM_END, _PEM_TAIL = b"-----BEGIN", b"-----END", b"PRIVATE KEY"
_KEY_LINE = b"[REDACTED:private_key]"
_PEM_BODY = re.compile(rb"[A-Za-z0-9+/=]*|[A-Za-z-]+: .*")  # base64 lines, or `Proc-Type: ...` headers


class _UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise _UsageError(message)


def _parser() -> _Parser:
    parser = _Parser(
        prog="otel-distro scrub",
        description="Read text lines on stdin, write each line with PII and secrets redacted on stdout.",
    )
    parser.add_argument("--hmac-key-env", metavar="VAR",
                        help="name of an environment variable holding the HMAC key: identity kinds become "
                             "keyed pseudonyms ([email:3f9a...]) instead of [REDACTED:email]")
    parser.add_argument("--disable", metavar="KIND", action="append", default=[],
                        help="a kind not to redact (repeatable), e.g. --disable ipv4")
    parser.add_argument("--stats", action="store_true", help="print redaction counts by kind on stderr at the end")
    parser.add_argument("--line-buffered", action="store_true",
                        help="flush after every line (the default when stdin is a terminal)")
    return parser


def main(argv: list[str]) -> int:
    try:
        args = _parser().parse_args(argv)
    except _UsageError as exc:
        print(f"otel-distro scrub: {exc}\n", file=sys.stderr)
        _parser().print_usage(sys.stderr)
        return 2
    except SystemExit as exc:  # --help
        return int(exc.code or 0)

    key: bytes | None = None
    if args.hmac_key_env:
        value = os.environ.get(args.hmac_key_env)
        if not value:
            print(f"otel-distro scrub: --hmac-key-env: environment variable {args.hmac_key_env} is not set or "
                  "empty (set it to a random secret, e.g. `openssl rand -hex 32`)", file=sys.stderr)
            return 2
        key = value.encode("utf-8")
    known = KEYED_KINDS | {rule.kind for rule in default_rules()}
    unknown = sorted(set(args.disable) - known)
    if unknown:
        print(f"otel-distro scrub: --disable: unknown kind(s) {', '.join(unknown)} "
              f"(valid: {', '.join(sorted(known))})", file=sys.stderr)
        return 2
    try:
        scrubber = Scrubber(hmac_key=key, disabled_kinds=args.disable)
    except ValueError as exc:
        where = f" --hmac-key-env {args.hmac_key_env}:" if key is not None else ""
        print(f"otel-distro scrub:{where} {exc}", file=sys.stderr)
        return 2

    counts: Counter[str] = Counter()
    flush = args.line_buffered or sys.stdin.isatty()
    try:
        scrub_stream(scrubber, sys.stdin.buffer, sys.stdout.buffer, counts, flush=flush)
    except BrokenPipeError:
        # The reader went away (`| head`): not an error. Point stdout at /dev/null so exit does not complain.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except KeyboardInterrupt:
        return 130
    if args.stats:
        for kind, n in sorted(counts.items()):
            print(f"{kind}\t{n}", file=sys.stderr)
    return 0


def scrub_stream(scrubber: Scrubber, source: BinaryIO, sink: BinaryIO, counts: Counter[str], *,
                 flush: bool = False) -> None:
    """Scrub `source` line by line into `sink`; line endings are kept as they were."""
    in_key = False
    write = sink.write
    for raw in source:
        if raw.endswith(b"\r\n"):
            body, ending = raw[:-2], b"\r\n"
        elif raw.endswith(b"\n"):
            body, ending = raw[:-1], b"\n"
        else:
            body, ending = raw, b""
        try:
            body.decode("utf-8")
        except UnicodeDecodeError:
            body = body.decode("utf-8", "replace").encode("utf-8")
        if in_key and (_PEM_BODY.fullmatch(body.strip()) or (_PEM_END in body and _PEM_TAIL in body)):
            in_key = _PEM_END not in body
            write(_KEY_LINE + ending)
        else:
            in_key = False  # (not key material after all: scrubbed as any other line)
            out = scrubber.scrub_bytes(body, counts) if len(body) >= 5 else None
            write((body if out is None else out) + ending)
            if _PEM_BEGIN in body and _PEM_TAIL in body:
                in_key = body.rfind(_PEM_END) < body.rfind(_PEM_BEGIN)
        if flush:
            sink.flush()
    sink.flush()
