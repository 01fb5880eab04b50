"""``alert_rules``: each rule type fires when its condition holds, resolves when it stops holding, and the
processor hands every batch on unchanged. The clock is the test's; alerts are captured where they leave."""

from __future__ import annotations

import asyncio
import json
import urllib.parse
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from collector.alertmanager_sink import Alert
from collector.component import ComponentID, CreateSettings, Kind
from collector.config import ConfigError, load
from collector.extensions.file_storage import Config as StorageConfig
from collector.extensions.file_storage import FileStorage
from collector.pdata import Signal
from collector.processors.alert_rules import AlertRulesProcessor, Config
from collector.testing import RecordingTelemetry
from tests.collector.processors.alert_batches import logs, spans


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


class Sink:
    """Stands in for the Alertmanager sink: what the processor submits."""

    def __init__(self) -> None:
        self.alerts: list[Alert] = []

    def submit(self, alert: Alert) -> None:
        self.alerts.append(alert)

    def firing(self) -> list[Alert]:
        return [a for a in self.alerts if not a.resolved]

    def resolved(self) -> list[Alert]:
        return [a for a in self.alerts if a.resolved]

    async def start(self) -> None:
        return None

    async def shutdown(self) -> None:
        return None


class Host:
    def __init__(self, storage: FileStorage | None = None) -> None:
        self.storage = storage

    def get_extension(self, id: ComponentID) -> Any:
        return self.storage if str(id) == "file_storage" else None


def processor(rules: list[dict[str, Any]], clock: Clock, *, signal: Signal = Signal.LOGS, host: Host | None = None,
              telemetry: RecordingTelemetry | None = None, **cfg: Any) -> tuple[AlertRulesProcessor, Sink]:
    settings = CreateSettings(ComponentID("alert_rules"), signal=signal, host=host or Host(),
                              telemetry=telemetry or RecordingTelemetry())
    proc = AlertRulesProcessor(settings, Config.model_validate({"rules": rules, **cfg}), clock=clock)
    sink = Sink()
    proc.sink = sink  # type: ignore[assignment]
    return proc, sink


ERRORS = {"name": "ErrorLogBurst", "type": "frequency", "match": {"severity": "error"}, "threshold": 3,
          "window": "1m", "labels": {"severity": "critical"}}


def test_the_batch_passes_through_unchanged() -> None:
    proc, _ = processor([ERRORS], Clock())
    batch = logs(("error", "boom"), ("info", "fine"))
    before = batch.to_bytes()
    assert proc(batch) is batch
    assert batch.to_bytes() == before


def test_frequency_fires_at_the_threshold_not_below_and_resolves_when_the_records_stop() -> None:
    clock = Clock()
    proc, sink = processor([ERRORS], clock)
    proc(logs(("error", "db down"), ("error", "db down"), ("info", "ok"), ("warn", "slow")))
    assert sink.alerts == []  # 2 errors: just under
    clock.now += 1
    proc(logs(("error", "db down")))
    [alert] = sink.firing()
    assert alert.labels == {"alertname": "ErrorLogBurst", "severity": "critical", "source": "otel-collector",
                            "rule_type": "frequency", "service_name": "shop-api", "job": "shop/shop-api"}
    assert alert.annotations["summary"] == "shop-api: 3 matching records in 1m"
    proc.evaluate(clock.now + 30)
    assert not sink.resolved()  # still within the minute
    proc.evaluate(clock.now + 61)
    [resolution] = sink.resolved()
    assert resolution.key == alert.key and resolution.ends_at == clock.now + 61
    assert resolution.starts_at == alert.starts_at


def test_a_firing_alert_is_sent_again_every_resend_interval() -> None:
    clock = Clock()
    proc, sink = processor([{**ERRORS, "window": "10m"}], clock, resend_interval="30s")
    proc(logs(*[("error", "x")] * 3))
    proc.evaluate(clock.now + 10)
    assert len(sink.firing()) == 1
    proc.evaluate(clock.now + 31)
    assert len(sink.firing()) == 2 and len({a.key for a in sink.alerts}) == 1


def test_groups_are_separate_alerts() -> None:
    clock = Clock()
    proc, sink = processor([{**ERRORS, "group_by": ["service.name", "exception.type"]}], clock)
    proc(logs(*[("error", "x", {"exception.type": "KeyError"})] * 3, ("error", "y", {"exception.type": "OSError"})))
    [alert] = sink.firing()
    assert alert.labels["exception_type"] == "KeyError"


def test_matching_on_body_attributes_and_service_uses_re2_patterns() -> None:
    clock = Clock()
    rule = {**ERRORS, "threshold": 1, "match": {"severity": "warn", "service": ["shop-api"], "body": "time(d )?out",
                                                "attributes": {"http.route": "^/chat"}}}
    proc, sink = processor([rule], clock)
    proc(logs(("error", "connection refused", {"http.route": "/chat/send"})))  # body does not match
    proc(logs(("error", "timeout", {"http.route": "/login"})))  # route does not match
    proc(logs(("error", "timeout", {"http.route": "/chat/send"}), service="billing"))  # other service
    proc(logs(("info", "timeout", {"http.route": "/chat/send"})))  # below warn
    assert sink.alerts == []
    proc(logs(("warn", "upstream timed out", {"http.route": "/chat/send"})))
    assert len(sink.firing()) == 1


def test_spike_compares_the_window_with_the_one_before() -> None:
    clock = Clock()
    rule = {"name": "ErrorSpike", "type": "spike", "match": {"severity": "error"}, "window": "1m",
            "spike_ratio": 3, "min_count": 5}
    proc, sink = processor([rule], clock)
    clock.now += 60  # a window before the first one was watched too (nothing in it)
    proc(logs(*[("error", "e")] * 4))  # first window: 4
    clock.now += 60
    proc(logs(*[("error", "e")] * 11))  # 11 < 3 x 4
    assert sink.alerts == []
    proc(logs(("error", "e")))  # 12 = 3 x 4
    [alert] = sink.firing()
    assert alert.annotations["summary"] == "shop-api: matching records spiked to 12 in 1m (3x the window before)"
    proc.evaluate(clock.now + 60)  # the next window is quiet: 0 vs 12
    assert len(sink.resolved()) == 1


def test_spike_needs_a_whole_window_before_watched_a_steady_stream_at_start_up_is_no_spike() -> None:
    clock = Clock()
    rule = {"name": "ErrorSpike", "type": "spike", "match": {"severity": "error"}, "window": "1m",
            "spike_ratio": 3, "min_count": 5}
    proc, sink = processor([rule], clock)  # a collector (re)started in the middle of a steady 1 error/s
    for _ in range(200):
        proc(logs(("error", "e")))
        proc.evaluate(clock.now)
        clock.now += 1
    assert sink.alerts == []


def test_flatline_fires_when_a_service_goes_silent_and_resolves_when_it_is_back() -> None:
    clock = Clock()
    rule = {"name": "ServiceSilent", "type": "flatline", "window": "2m", "labels": {"severity": "critical"}}
    proc, sink = processor([rule], clock)
    proc(logs(("info", "hello")))
    proc(logs(("info", "hello"), service="billing"))
    clock.now += 100
    proc(logs(("info", "still here"), service="billing"))
    proc.evaluate(clock.now + 19)
    assert sink.alerts == []  # shop-api silent for 119s
    clock.now += 21
    proc.evaluate(clock.now)
    [alert] = sink.firing()
    assert alert.labels["service_name"] == "shop-api"
    assert alert.annotations["summary"] == "shop-api: no matching records for 2m"
    clock.now += 5
    proc(logs(("info", "back")))
    proc.evaluate(clock.now)
    [resolution] = sink.resolved()
    assert resolution.key == alert.key


def errors(*types: str) -> list[tuple[str, str, dict[str, Any]]]:
    return [("error", "x", {"exception.type": t}) for t in types]


def run_stored(rules: list[dict[str, Any]], clock: Clock, storage: FileStorage,
               *records: tuple[str, str, dict[str, Any]]) -> Sink:
    """One collector run with the seen-sets kept by ``storage``: start (which loads), the records, shut down
    (which saves)."""
    async def run() -> Sink:
        await storage.start()
        proc, sink = processor(rules, clock, host=Host(storage), storage="file_storage")
        await proc.start()
        proc(logs(*records))
        await proc.shutdown()
        return sink

    return asyncio.run(run())


def test_new_term_fires_once_per_unseen_value_within_the_lookback() -> None:
    clock = Clock()
    rule = {"name": "NewException", "type": "new_term", "term": "exception.type", "learning_period": 0,
            "match": {"severity": "error"}, "lookback": "1d", "window": "5m"}
    proc, sink = processor([rule], clock)
    proc(logs(("error", "x", {"exception.type": "KeyError"}), ("error", "x", {"exception.type": "KeyError"})))
    [alert] = sink.firing()
    assert alert.labels["term"] == "KeyError"
    assert alert.annotations["summary"] == "shop-api: new exception.type KeyError"
    clock.now += 3600
    proc(logs(("error", "x", {"exception.type": "KeyError"}), ("error", "y", {"exception.type": "ValueError"})))
    assert [a.labels["term"] for a in sink.firing()] == ["KeyError", "ValueError"]
    proc.evaluate(clock.now + 301)
    assert {a.labels["term"] for a in sink.resolved()} == {"KeyError", "ValueError"}
    clock.now += 2 * 86400  # past the lookback: new again
    proc(logs(("error", "x", {"exception.type": "KeyError"})))
    assert len(sink.firing()) == 3


def test_a_new_term_is_one_alert_however_often_it_is_evaluated() -> None:
    clock = Clock()
    rule = {"name": "NewException", "type": "new_term", "term": "exception.type", "learning_period": 0, "window": "5m"}
    proc, sink = processor([rule], clock)
    proc(logs(("error", "x", {"exception.type": "KeyError"})))
    for second in range(1, 400):
        proc.evaluate(clock.now + second)
    assert {a.labels.get("term") for a in sink.firing()} == {"KeyError"}  # no second alert without a term
    assert [a.labels.get("term") for a in sink.resolved()] == ["KeyError"]


def test_new_term_fingerprints_mask_numbers_ids_and_quoted_values() -> None:
    clock = Clock()
    rule = {"name": "NewMessage", "type": "new_term", "term": "fingerprint", "learning_period": 0,
            "match": {"severity": "error"}}
    proc, sink = processor([rule], clock)
    proc(logs(("error", "user 42 not found in 'eu-1' (req 0af7651916cd43dd8448)")))
    proc(logs(("error", "user 7 not found in 'us-2' (req 1bf7651916cd43dd8449)")))
    assert len(sink.firing()) == 1
    proc(logs(("error", "payment declined for user 7")))
    assert len(sink.firing()) == 2


def test_the_seen_set_is_kept_in_file_storage_across_restarts(tmp_path: Path) -> None:
    clock = Clock()
    rule = {"name": "NewException", "type": "new_term", "term": "exception.type", "learning_period": 0}
    storage = FileStorage(CreateSettings(ComponentID("file_storage")), StorageConfig(directory=tmp_path))

    def run(batch_types: list[str]) -> Sink:
        return run_stored([rule], clock, storage, *errors(*batch_types))

    first = run(["KeyError"])
    assert len(first.firing()) == 1
    saved = storage.directory_for(Kind.PROCESSOR, ComponentID("alert_rules"), "logs") / "new_terms.json"
    assert "KeyError" in json.loads(saved.read_text())["NewException"]
    second = run(["KeyError", "OSError"])
    assert [a.labels["term"] for a in second.firing()] == ["OSError"]


@pytest.mark.parametrize("content", ["[]", "null", '{"NewException": {"KeyError": "yesterday"}}',
                                     '{"NewException": {"KeyError": null}}'])
def test_a_seen_set_file_of_the_wrong_shape_is_reported_not_fatal(tmp_path: Path, content: str) -> None:
    rule = {"name": "NewException", "type": "new_term", "term": "exception.type", "learning_period": 0}
    storage = FileStorage(CreateSettings(ComponentID("file_storage")), StorageConfig(directory=tmp_path))
    saved = storage.directory_for(Kind.PROCESSOR, ComponentID("alert_rules"), "logs") / "new_terms.json"
    saved.parent.mkdir(parents=True, exist_ok=True)
    saved.write_text(content)

    async def run() -> Sink:
        await storage.start()
        proc, sink = processor([rule], Clock(), host=Host(storage), storage="file_storage")
        await proc.start()  # the collector starts: the terms are learnt again
        proc(logs(("error", "x", {"exception.type": "OSError"})))
        await proc.shutdown()
        return sink

    assert [a.labels["term"] for a in asyncio.run(run()).firing()] == ["OSError"]
    assert "OSError" in json.loads(saved.read_text())["NewException"]


def test_a_new_term_rule_with_nothing_remembered_learns_for_an_hour_before_it_alerts() -> None:
    # A first deployment: the exception types the service already raises are not news.
    clock = Clock()
    rule = {"name": "NewException", "type": "new_term", "term": "exception.type", "window": "5m"}
    proc, sink = processor([rule], clock)
    proc(logs(("error", "x", {"exception.type": "KeyError"})))
    clock.now += 3599
    proc(logs(("error", "x", {"exception.type": "TimeoutError"})))
    assert sink.firing() == []
    clock.now += 1  # the learning period (1 h by default) is over
    proc(logs(("error", "x", {"exception.type": "KeyError"}), ("error", "x", {"exception.type": "TimeoutError"}),
              ("error", "x", {"exception.type": "ValueError"})))
    assert [a.labels["term"] for a in sink.firing()] == ["ValueError"]


def test_a_new_term_rule_that_remembers_terms_from_storage_does_not_learn_again(tmp_path: Path) -> None:
    clock = Clock()
    rule = {"name": "NewException", "type": "new_term", "term": "exception.type", "learning_period": "10m"}
    storage = FileStorage(CreateSettings(ComponentID("file_storage")), StorageConfig(directory=tmp_path))

    def run(batch_types: list[str]) -> Sink:
        return run_stored([rule], clock, storage, *errors(*batch_types))

    assert run(["KeyError"]).firing() == []  # learnt: nothing was remembered
    clock.now += 601  # the first start's 10 minutes are over; a new period would run 10 minutes more
    restarted = run(["KeyError", "OSError"])  # the restart does not start a new period
    assert [a.labels["term"] for a in restarted.firing()] == ["OSError"]


def test_a_new_term_rule_saved_with_nothing_learnt_still_learns_after_a_restart(tmp_path: Path) -> None:
    # Two new_term rules, one saw a term: the state file then holds the other's empty seen-set. Nothing is
    # remembered for it: after a restart it learns as on a first start, not alert on everything it sees.
    clock = Clock()
    rules: list[dict[str, Any]] = [
        {"name": "NewException", "type": "new_term", "term": "exception.type"},
        {"name": "NewMessage", "type": "new_term", "term": "fingerprint", "match": {"body": "disk"}},
    ]
    storage = FileStorage(CreateSettings(ComponentID("file_storage")), StorageConfig(directory=tmp_path))

    def run(*records: tuple[str, str, dict[str, Any]]) -> Sink:
        return run_stored(rules, clock, storage, *records)

    assert run(("error", "x", {"exception.type": "KeyError"})).firing() == []
    saved = storage.directory_for(Kind.PROCESSOR, ComponentID("alert_rules"), "logs") / "new_terms.json"
    assert json.loads(saved.read_text())["NewMessage"] == {}
    clock.now += 3600  # NewException's period is over
    restarted = run(("warn", "disk 91% full", {}), ("error", "x", {"exception.type": "OSError"}))
    assert [a.labels["term"] for a in restarted.firing()] == ["OSError"]  # the warning was learnt, not news


def test_a_restart_during_the_learning_period_learns_on_until_it_ends(tmp_path: Path) -> None:
    # A first deployment is often restarted within its first hour (a config change, a rollout): what was
    # learnt is remembered, and so is how long there is left to learn.
    clock = Clock()
    rule = {"name": "NewException", "type": "new_term", "term": "exception.type", "learning_period": "1h"}
    storage = FileStorage(CreateSettings(ComponentID("file_storage")), StorageConfig(directory=tmp_path))

    def run(batch_types: list[str]) -> Sink:
        return run_stored([rule], clock, storage, *errors(*batch_types))

    assert run(["KeyError"]).firing() == []
    clock.now += 600  # restarted 10 minutes in
    assert run(["KeyError", "TimeoutError"]).firing() == []  # still learning: 50 minutes left
    clock.now += 3000  # the hour since the first start is over
    restarted = run(["KeyError", "TimeoutError", "OSError"])
    assert [a.labels["term"] for a in restarted.firing()] == ["OSError"]


def test_new_term_storage_must_be_a_running_extension() -> None:
    rule = {"name": "NewException", "type": "new_term", "term": "exception.type", "learning_period": 0}
    proc, _ = processor([rule], Clock(), storage="file_storage/missing")
    with pytest.raises(RuntimeError, match=r"processors::alert_rules::storage: extension 'file_storage/missing'"):
        asyncio.run(proc.start())


def test_threshold_on_span_duration_of_a_routes_server_spans() -> None:
    clock = Clock()
    rule = {"name": "SlowRoute", "type": "threshold", "signal": "traces", "above": 5, "window": "1m",
            "match": {"span_kind": "server"}, "group_by": ["service.name", "http.route"]}
    proc, sink = processor([rule], clock, signal=Signal.TRACES, grafana_url="http://grafana:3000")
    proc(spans(("GET /chat", 5.0, {"http.route": "/chat"}), ("GET /login", 1.0, {"http.route": "/login"})))
    assert sink.alerts == []  # exactly 5 s is not slower than 5 s
    proc(spans(("GET /chat", 5.2, {"http.route": "/chat"})))
    [alert] = sink.firing()
    assert alert.labels["http_route"] == "/chat"
    assert alert.annotations["summary"] == "shop-api: 1 records with duration above 5 in 1m (last 5.2)"
    assert alert.annotations["trace_id"] == "0af7651916cd43dd8448eb211c80319c"
    assert alert.generator_url.startswith("http://grafana:3000/explore?")
    panes = json.loads(urllib.parse.parse_qs(urllib.parse.urlsplit(alert.generator_url).query)["panes"][0])
    assert panes["a"]["datasource"] == "jaeger"
    assert panes["a"]["queries"][0]["query"] == "0af7651916cd43dd8448eb211c80319c"
    proc.evaluate(clock.now + 61)
    assert len(sink.resolved()) == 1


def test_client_spans_are_not_server_spans() -> None:
    from opentelemetry.proto.trace.v1.trace_pb2 import Span  # noqa: PLC0415

    rule = {"name": "SlowRoute", "type": "threshold", "signal": "traces", "above": 5,
            "match": {"span_kind": "server"}}
    proc, sink = processor([rule], Clock(), signal=Signal.TRACES)
    proc(spans(("SELECT", 9.0, {}), kind=Span.SPAN_KIND_CLIENT))
    assert sink.alerts == []


def test_a_log_pipeline_instance_only_runs_log_rules() -> None:
    rule = {"name": "SlowRoute", "type": "threshold", "signal": "traces", "above": 5}
    proc, sink = processor([rule, ERRORS], Clock(), signal=Signal.LOGS)
    proc(logs(*[("error", "x")] * 3))
    assert [a.labels["alertname"] for a in sink.firing()] == ["ErrorLogBurst"]


def test_groups_beyond_max_groups_are_not_tracked_and_counted() -> None:
    clock, telemetry = Clock(), RecordingTelemetry()
    proc, sink = processor([{**ERRORS, "threshold": 1, "max_groups": 2}], clock, telemetry=telemetry)
    for service in ("a", "b", "c"):
        proc(logs(("error", "x"), service=service))
    assert sorted(a.labels["service_name"] for a in sink.firing()) == ["a", "b"]
    proc.evaluate(clock.now)
    assert telemetry.value("otelcol_processor_alert_rules_groups_overflow_total", rule="ErrorLogBurst") == 1


@pytest.mark.parametrize(("rule", "message"), [
    ({"name": "X", "type": "new_term"}, "rules[0]: term: required for a new_term rule"),
    ({"name": "X", "type": "threshold", "signal": "traces"}, "rules[0]: above: required for a threshold rule"),
    ({"name": "X", "type": "threshold", "above": 1}, "rules[0]: field: 'duration' needs signal: traces"),
    ({"name": "bad name", "type": "frequency"}, "rules[0]: name: 'bad name' must be letters"),
    ({"name": "X", "type": "frequency", "match": {"body": "(a)\\1"}}, "rules[0]::match::body: invalid pattern"),
    ({"name": "X", "type": "frequency", "match": {"attributes": {"k": "(?=x)"}}},
     "rules[0]::match::attributes: k: invalid pattern"),
    ({"name": "X", "type": "frequency", "match": {"severity": "loud"}}, "rules[0]::match::severity: unknown"),
    ({"name": "X", "type": "sometimes"}, "rules[0]::type:"),
    ({"name": "X", "type": "frequency", "windw": "1m"}, "rules[0]::windw: unknown key"),
])
def test_config_errors_name_the_key_path(rule: dict[str, Any], message: str) -> None:
    config = {
        "receivers": {"otlp": {"protocols": {"http": {"endpoint": "127.0.0.1:0"}}}},
        "processors": {"alert_rules": {"rules": [rule]}},
        "exporters": {"debug": {}},
        "service": {"pipelines": {"logs": {"receivers": ["otlp"], "processors": ["alert_rules"],
                                           "exporters": ["debug"]}}},
    }
    with pytest.raises(ConfigError) as info:
        load(config)
    text = str(info.value)
    assert f"processors::alert_rules::{message}" in text, text


@pytest.mark.parametrize("endpoint", ["alertmanager:9093", "ftp://alertmanager:9093", "http://"])
def test_an_alertmanager_endpoint_that_is_not_an_http_url_is_a_config_error(endpoint: str) -> None:
    # else every alert waited in the buffer for ever, retried against a URL that can never work
    config = {
        "receivers": {"otlp": {"protocols": {"http": {"endpoint": "127.0.0.1:0"}}}},
        "processors": {"alert_rules": {"alertmanager": {"endpoint": endpoint}, "rules": [ERRORS]}},
        "exporters": {"debug": {}},
        "service": {"pipelines": {"logs": {"receivers": ["otlp"], "processors": ["alert_rules"],
                                           "exporters": ["debug"]}}},
    }
    with pytest.raises(ConfigError) as info:
        load(config)
    assert "processors::alert_rules::alertmanager::endpoint: expected an http(s):// URL" in str(info.value)


def test_rule_names_are_unique_per_signal() -> None:
    with pytest.raises(ValidationError, match="'A' is used twice for logs"):
        Config.model_validate({"rules": [{"name": "A", "type": "frequency"}, {"name": "A", "type": "flatline"}]})


def test_the_least_recently_seen_terms_are_forgotten_first_beyond_max_terms() -> None:
    clock = Clock()
    rule = {"name": "NewException", "type": "new_term", "term": "exception.type", "learning_period": 0,
            "max_terms": 2}
    proc, sink = processor([rule], clock)
    for name in ("A", "B", "A", "C"):  # A seen again after B: B is the least recently seen when C arrives
        clock.now += 1
        proc(logs(("error", "x", {"exception.type": name})))
    clock.now += 1
    proc(logs(("error", "x", {"exception.type": "A"}), ("error", "x", {"exception.type": "B"})))
    assert [a.labels["term"] for a in sink.firing()] == ["A", "B", "C", "B"]


def test_a_flood_of_new_terms_is_bounded_by_max_groups() -> None:
    clock, telemetry = Clock(), RecordingTelemetry()
    rule = {"name": "NewMessage", "type": "new_term", "term": "fingerprint", "learning_period": 0,
            "max_groups": 10}
    proc, sink = processor([rule], clock, telemetry=telemetry)
    proc(logs(*[("error", f"failure kind {chr(97 + i % 26)}{chr(97 + i // 26)}") for i in range(100)]))
    assert len(sink.firing()) < 10
    proc.evaluate(clock.now)
    assert telemetry.value("otelcol_processor_alert_rules_groups_overflow_total") == 1


def test_the_storage_must_be_an_enabled_file_storage_extension() -> None:
    config = {
        "receivers": {"otlp": {"protocols": {"http": {"endpoint": "127.0.0.1:0"}}}},
        "processors": {"alert_rules": {"storage": "file_storage/seen"}},
        "exporters": {"debug": {}},
        "service": {"pipelines": {"logs": {"receivers": ["otlp"], "processors": ["alert_rules"],
                                           "exporters": ["debug"]}}},
    }
    with pytest.raises(ConfigError, match='processors::alert_rules::storage: references extension '
                                          '"file_storage/seen" which is not configured'):
        load(config)


@pytest.mark.parametrize("key", ["event", "alertname", "rule_type"])
def test_a_group_label_named_like_a_log_field_fires_and_resolves(key: str) -> None:
    # the labels went into the log call as keywords: "event" (structlog's message) or "alertname" raised
    clock = Clock()
    proc, sink = processor([{**ERRORS, "threshold": 1, "group_by": [key]}], clock)
    batch = logs(("error", "x", {key: "login_failed"}))
    assert proc(batch) is batch
    [alert] = sink.firing()
    proc.evaluate(clock.now + 61)
    [resolution] = sink.resolved()
    assert resolution.key == alert.key
