"""Invariants of ``alert_rules`` (hypothesis): whatever arrives leaves unchanged, and a window counts exactly
the records of its buckets."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from collector.component import ComponentID, CreateSettings
from collector.pdata import Signal
from collector.processors._alert_eval import Window
from collector.processors.alert_rules import AlertRulesProcessor, Config
from tests.collector.processors.alert_batches import SEVERITY, logs

RULES = Config.model_validate({"rules": [
    {"name": "Burst", "type": "frequency", "match": {"severity": "warn", "body": "(?i)time(d )?out|refused"},
     "threshold": 2, "window": "1m", "group_by": ["service.name", "exception.type"]},
    {"name": "Spike", "type": "spike", "window": "1m", "min_count": 1},
    {"name": "New", "type": "new_term", "term": "fingerprint", "learning_period": 0},
    {"name": "Flat", "type": "flatline", "window": "1m"},
    {"name": "Slow", "type": "threshold", "field": "latency", "above": 1.5, "match": {"attributes": {"latency": "."}}},
]})

# one processor for every example: its state (groups, seen terms, windows) grows as in production
PROC = AlertRulesProcessor(CreateSettings(ComponentID("alert_rules"), signal=Signal.LOGS), RULES)

_values = st.one_of(st.text(max_size=30), st.integers(-(2**63), 2**63 - 1), st.floats(allow_nan=False),
                    st.booleans())
_records = st.lists(st.tuples(st.sampled_from(sorted(SEVERITY)), st.text(max_size=200),
                              st.dictionaries(st.sampled_from(["exception.type", "latency", "http.route", "x"]),
                                              _values, max_size=4)), min_size=1, max_size=20)


@settings(max_examples=100, deadline=None)
@given(records=_records, service=st.text(min_size=1, max_size=20))
def test_every_batch_leaves_exactly_as_it_arrived(records: list[tuple[str, str, dict[str, object]]],
                                                  service: str) -> None:
    batch = logs(*records, service=service)
    before = batch.to_bytes()
    assert PROC(batch) is batch
    assert batch.to_bytes() == before


@given(times=st.lists(st.floats(min_value=0, max_value=1000, allow_nan=False), max_size=200),
       now=st.floats(min_value=0, max_value=1200, allow_nan=False))
def test_a_window_counts_the_records_of_its_last_ten_buckets(times: list[float], now: float) -> None:
    window, width = Window(60.0), 6.0
    for t in sorted(times):
        window.add(t)
    latest = max([now, *times]) if times else now
    expected = sum(1 for t in times if int(t / width) > int(latest / width) - 10)
    assert window.count(latest) == expected
