"""What `track_event` keeps of the properties it is given: JSON the database takes, nothing it would refuse."""

from __future__ import annotations

import math
from datetime import UTC, datetime

from otel_distro.analytics._event import jsonable_properties


def test_plain_properties_are_kept_as_they_are() -> None:
    properties = {"n": 1, "ok": True, "ratio": 0.5, "none": None, "text": "hello"}
    assert jsonable_properties(properties) == properties
    assert jsonable_properties(properties) is not properties  # a copy: the caller may change theirs


def test_other_values_become_json_the_database_takes() -> None:
    moment = datetime(2026, 12, 6, 18, 0, tzinfo=UTC)
    converted = jsonable_properties({
        "when": moment, "nan": math.nan, "nul": "a\x00b", 3: "int key", "nested": {"set": {1}, "tuple": (1, "x")},
        "object": object,
    })
    assert converted["when"] == "2026-12-06T18:00:00+00:00"
    assert converted["nan"] is None  # PostgreSQL's JSONB has no NaN
    assert converted["nul"] == "ab"  # nor \\u0000
    assert converted["3"] == "int key"
    assert converted["nested"] == {"set": [1], "tuple": [1, "x"]}
    assert converted["object"] == "<class 'object'>"
