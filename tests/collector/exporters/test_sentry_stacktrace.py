"""`exception.stacktrace` text becomes Sentry exception values with frames."""

from __future__ import annotations

import json
import traceback

import pytest
from structlog.tracebacks import ExceptionDictTransformer

from collector.exporters.sentry import parse_stacktrace
from collector.exporters.sentry._stacktrace import MAX_FRAMES, split_type


def _format(exc: BaseException) -> str:
    return "".join(traceback.format_exception(exc))


def _raise_chained() -> None:
    empty: dict[str, int] = {}
    try:
        empty["missing"]
    except KeyError as exc:
        raise RuntimeError("lookup failed") from exc


def test_a_python_traceback_becomes_frames_oldest_first() -> None:
    text = (
        "Traceback (most recent call last):\n"
        '  File "/srv/app/routes/chat.py", line 42, in post_chat\n'
        "    reply = generate(prompt)\n"
        "            ^^^^^^^^^^^^^^^^\n"
        '  File "/srv/venv/lib/python3.11/site-packages/httpx/_client.py", line 1014, in send\n'
        "    raise exc\n"
        '  File "/usr/lib/python3.11/json/decoder.py", line 355, in raw_decode\n'
        "    raise JSONDecodeError(\"Expecting value\", s, err.value) from None\n"
        "json.decoder.JSONDecodeError: Expecting value: line 1 column 1 (char 0)\n"
    )
    [value] = parse_stacktrace(text)
    assert value["type"] == "JSONDecodeError"
    assert value["module"] == "json.decoder"
    assert value["value"] == "Expecting value: line 1 column 1 (char 0)"
    app, lib, std = value["stacktrace"]["frames"]
    assert app == {
        "abs_path": "/srv/app/routes/chat.py",
        "filename": "/srv/app/routes/chat.py",
        "lineno": 42,
        "function": "post_chat",
        "context_line": "reply = generate(prompt)",
        "in_app": True,
    }
    assert lib["filename"] == "httpx/_client.py"
    assert lib["module"] == "httpx._client"
    assert lib["in_app"] is False
    assert std["in_app"] is False


def test_what_the_sdk_records_for_a_real_exception_parses() -> None:
    try:
        _raise_chained()
    except RuntimeError as exc:
        text = _format(exc)
    cause, raised = parse_stacktrace(text, "RuntimeError", "lookup failed")
    assert (cause["type"], cause["value"]) == ("KeyError", "'missing'")
    assert (raised["type"], raised["value"]) == ("RuntimeError", "lookup failed")
    assert raised["stacktrace"]["frames"][-1]["function"] == "_raise_chained"
    assert raised["stacktrace"]["frames"][-1]["context_line"] == 'raise RuntimeError("lookup failed") from exc'
    assert cause["stacktrace"]["frames"][-1]["context_line"] == 'empty["missing"]'


def test_an_exception_raised_while_handling_another_is_chained_too() -> None:
    try:
        try:
            raise ValueError("first")
        except ValueError:
            raise TypeError("second")
    except TypeError as exc:
        text = _format(exc)
    assert [v["type"] for v in parse_stacktrace(text)] == ["ValueError", "TypeError"]


def test_the_attributes_name_the_raised_exception_over_the_text() -> None:
    text = 'Traceback (most recent call last):\n  File "a.py", line 1, in f\nValueError: trunc\n'
    [value] = parse_stacktrace(text, "app.errors.QuotaExceeded", "the whole message")
    assert (value["type"], value["module"], value["value"]) == ("QuotaExceeded", "app.errors", "the whole message")


def test_a_multi_line_message_and_notes_stay_in_the_value() -> None:
    try:
        raise ValueError("line one\nline two")
    except ValueError as exc:
        exc.add_note("while saving chat 7")
        text = _format(exc)
    [value] = parse_stacktrace(text)
    assert value["value"] == "line one\nline two\nwhile saving chat 7"
    assert len(value["stacktrace"]["frames"]) == 1


def test_an_exception_without_a_message() -> None:
    text = 'Traceback (most recent call last):\n  File "a.py", line 3, in main\nKeyboardInterrupt\n'
    [value] = parse_stacktrace(text)
    assert (value["type"], value["value"]) == ("KeyboardInterrupt", "")


def test_an_exception_group_keeps_the_group_and_its_frames() -> None:
    try:
        raise ExceptionGroup("two failed", [ValueError("a"), TypeError("b")])
    except ExceptionGroup as exc:
        text = _format(exc)
    [value] = parse_stacktrace(text)
    assert value["type"] == "ExceptionGroup"
    assert value["value"].startswith("two failed")
    assert value["stacktrace"]["frames"][-1]["function"] == "test_an_exception_group_keeps_the_group_and_its_frames"


def test_deep_recursion_is_capped_keeping_both_ends() -> None:
    frames = "".join(f'  File "/srv/app/r.py", line {i}, in f\n    f()\n' for i in range(1, 1001))
    text = f"Traceback (most recent call last):\n{frames}RecursionError: maximum recursion depth exceeded\n"
    [value] = parse_stacktrace(text)
    kept = value["stacktrace"]["frames"]
    assert len(kept) == MAX_FRAMES
    assert kept[0]["lineno"] == 1
    assert kept[-1]["lineno"] == 1000


def test_a_repeated_line_marker_is_skipped() -> None:
    text = (
        "Traceback (most recent call last):\n"
        '  File "/srv/app/r.py", line 2, in f\n'
        "    f()\n"
        "  [Previous line repeated 996 more times]\n"
        "RecursionError: maximum recursion depth exceeded\n"
    )
    [value] = parse_stacktrace(text)
    assert len(value["stacktrace"]["frames"]) == 1


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(
            "java.lang.IllegalStateException: closed\n\tat com.acme.Chat.send(Chat.java:42)\n"
            "\tat com.acme.Main.main(Main.java:7)\n",
            id="java",
        ),
        pytest.param(
            "TypeError: x is undefined\n    at render (app.js:10:5)\n    at main (app.js:20:1)\n", id="javascript"
        ),
        pytest.param("goroutine 1 [running]:\nmain.main()\n\t/app/main.go:12 +0x1d\n", id="go"),
    ],
)
def test_other_languages_fall_back_to_one_raw_frame(text: str) -> None:
    [value] = parse_stacktrace(text, "Failure", "it failed")
    assert (value["type"], value["value"]) == ("Failure", "it failed")
    [frame] = value["stacktrace"]["frames"]
    raw = [frame["context_line"], *frame["post_context"]]
    assert raw == [line.rstrip() for line in text.strip().splitlines()]


def test_no_stack_trace_still_names_the_exception() -> None:
    assert parse_stacktrace("", "TimeoutError", "upstream timed out") == [
        {"type": "TimeoutError", "value": "upstream timed out"}
    ]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("ValueError", ("ValueError", None)),
        ("json.decoder.JSONDecodeError", ("JSONDecodeError", "json.decoder")),
        ("Outer.Inner", ("Inner", "Outer")),
    ],
)
def test_split_type(name: str, expected: tuple[str, str | None]) -> None:
    assert split_type(name) == expected


def test_structlogs_dict_tracebacks_parse_too() -> None:
    try:
        _raise_chained()
    except RuntimeError as exc:
        text = json.dumps(ExceptionDictTransformer(show_locals=False)((RuntimeError, exc, exc.__traceback__)))
    cause, raised = parse_stacktrace(text, "RuntimeError", "lookup failed")
    assert (cause["type"], cause["value"]) == ("KeyError", "'missing'")
    assert (raised["type"], raised["value"]) == ("RuntimeError", "lookup failed")
    last = raised["stacktrace"]["frames"][-1]
    assert (last["function"], last["in_app"]) == ("_raise_chained", True)
    assert last["abs_path"] == __file__


def test_json_that_is_not_a_structlog_traceback_is_kept_raw() -> None:
    [value] = parse_stacktrace('[{"frame": 1}]', "Error", "x")
    assert value["stacktrace"]["frames"][0]["context_line"] == '[{"frame": 1}]'
