"""``otel-distro scrub``: one scrubbed output line per input line, whatever the input."""

from __future__ import annotations

import io
import subprocess
import sys
from collections import Counter

import pytest

from otel_distro.scrubbing import Scrubber
from otel_distro.scrubbing.cli import main, scrub_stream


def _run(data: bytes, scrubber: Scrubber | None = None) -> bytes:
    sink = io.BytesIO()
    scrub_stream(scrubber or Scrubber(), io.BytesIO(data), sink, Counter())
    return sink.getvalue()


def test_one_output_line_per_input_line() -> None:
    data = b"a@b.com logged in\nplain\r\n\nlast 203.0.113.7"
    assert _run(data) == b"[REDACTED:email] logged in\nplain\r\n\nlast [REDACTED:ipv4]"


def test_invalid_utf8_is_replaced_not_fatal() -> None:
    out = _run(b"\xff\xfe bad ssn 123-45-6789\n\xc3\n")
    assert out == "\ufffd\ufffd bad ssn [REDACTED:ssn]\n\ufffd\n".encode()


def test_very_long_lines_are_scrubbed_whole() -> None:
    line = b"x " * 500_000 + b"a@b.com\n"
    out = _run(line * 2)
    assert out.count(b"\n") == 2
    assert out.count(b"[REDACTED:email]") == 2


def test_a_pem_key_over_several_lines_is_redacted_to_its_end() -> None:
    data = b"-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqh\nkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----\nafter\n"
    assert _run(data).split(b"\n") == [b"[REDACTED:private_key]"] * 4 + [b"after", b""]


def test_a_mention_of_a_key_header_does_not_swallow_the_stream() -> None:
    data = b'error: expected "-----BEGIN PRIVATE KEY-----" here\nnext line a@b.com\n'
    assert _run(data) == b'error: expected "[REDACTED:private_key]" here\nnext line [REDACTED:email]\n'


def test_main_reports_bad_arguments(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--no-such-flag"]) == 2
    err = capsys.readouterr().err
    assert "unrecognized arguments: --no-such-flag" in err and "usage: otel-distro scrub" in err


def test_main_refuses_unknown_kinds(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--disable", "emial"]) == 2
    assert "unknown kind(s) emial (valid: " in capsys.readouterr().err


def test_main_refuses_a_short_key_naming_its_variable(capsys: pytest.CaptureFixture[str],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHORT_SCRUB_KEY", "abc")
    assert main(["--hmac-key-env", "SHORT_SCRUB_KEY"]) == 2
    assert "--hmac-key-env SHORT_SCRUB_KEY: hmac_key must be at least 16 bytes" in capsys.readouterr().err


def test_main_requires_the_key_variable_it_names(capsys: pytest.CaptureFixture[str],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_SUCH_KEY_VAR", raising=False)
    assert main(["--hmac-key-env", "NO_SUCH_KEY_VAR"]) == 2
    assert "NO_SUCH_KEY_VAR is not set" in capsys.readouterr().err


@pytest.mark.slow
def test_console_script_end_to_end() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "otel_distro.cli", "scrub", "--stats", "--disable", "ipv4"],
        input=b"mail jane@example.com from 203.0.113.7\n\xffok\n",
        capture_output=True,
        check=True,
        timeout=60,
    )
    assert proc.stdout == "mail [REDACTED:email] from 203.0.113.7\n\ufffdok\n".encode()
    assert proc.stderr.decode().splitlines() == ["email\t1"]
