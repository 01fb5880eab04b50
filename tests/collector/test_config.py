"""Loading a configuration: defaults under the user's keys, env expansion, every problem named by its path."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from collector.component import ComponentID, Kind
from collector.config import ConfigError, load
from collector.exporters import debug as debug_exporter
from collector.pdata import Signal


def minimal(**extra: Any) -> dict[str, Any]:
    cfg: dict[str, Any] = {
        "receivers": {"otlp": None},
        "exporters": {"debug": None},
        "service": {"pipelines": {"traces": {"receivers": ["otlp"], "exporters": ["debug"]}}},
    }
    cfg.update(extra)
    return cfg


def problems(cfg: Any) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load(cfg, environ={})
    return info.value.problems


class TestEnvInComponents:
    def test_env_values_reach_component_configs(self) -> None:
        cfg = minimal(processors={"batch": {"timeout": "${env:T:-1s}", "send_batch_size": "${env:N}"}})
        cfg["service"]["pipelines"]["traces"]["processors"] = ["batch"]
        batch = load(cfg, environ={"N": "42"}).component(Kind.PROCESSOR, ComponentID("batch")).config
        assert batch.send_batch_size == 42  # type: ignore[attr-defined]
        assert batch.timeout == 1.0  # type: ignore[attr-defined]


class TestValidConfigs:
    def test_user_keys_go_on_top_of_the_component_defaults(self) -> None:
        cfg = minimal(processors={"batch/big": {"send_batch_size": 10}})
        cfg["service"]["pipelines"]["traces"]["processors"] = ["batch/big"]
        loaded = load(cfg, environ={})
        batch = loaded.component(Kind.PROCESSOR, ComponentID("batch", "big")).config
        assert batch.send_batch_size == 10  # type: ignore[attr-defined]
        assert batch.timeout == 0.2  # type: ignore[attr-defined]  # the default
        pipe = loaded.pipelines["traces"]
        assert pipe.signal is Signal.TRACES
        assert pipe.processors == (ComponentID("batch", "big"),)

    def test_named_pipelines_and_aliases(self) -> None:
        cfg = minimal()
        cfg["exporters"]["otlp_http/tempo"] = {"endpoint": "http://localhost:4318"}
        cfg["service"]["pipelines"]["logs/audit"] = {"receivers": ["otlp"], "exporters": ["otlp_http/tempo"]}
        loaded = load(cfg, environ={})
        assert loaded.pipelines["logs/audit"].signal is Signal.LOGS

    def test_the_shipped_otel_collector_yaml_is_valid(self) -> None:
        root = Path(__file__).resolve().parents[2]
        loaded = load(root / "otel-collector.yaml", environ={})
        assert set(loaded.pipelines) == {"traces", "metrics", "logs"}
        assert loaded.telemetry.metrics_address == "localhost:8888"


class TestProblemsAreCollectedWithPaths:
    def test_unknown_component_type_lists_valid_values(self) -> None:
        cfg = minimal(exporters={"debug": None, "elastic/logs": {}})
        (line,) = problems(cfg)
        assert line.startswith('exporters::elastic/logs: unknown type "elastic" (valid values: [')
        assert "'elasticsearch'" in line

    def test_unknown_key_names_its_path_and_the_valid_keys(self) -> None:
        cfg = minimal(receivers={"otlp": {"protocols": {"http": {"endpoitn": "x"}}}})
        (line,) = problems(cfg)
        assert line.startswith("receivers::otlp::protocols::http::endpoitn: unknown key (valid keys: ")
        assert "endpoint" in line

    def test_list_items_are_indexed(self) -> None:
        cfg = minimal(processors={"attributes/x": {"actions": [{"key": "a", "action": "delete"},
                                                               {"key": "b", "action": "explode"}]}})
        lines = problems(cfg)
        assert any(line.startswith("processors::attributes/x::actions[1]::action: ") for line in lines), lines

    def test_bad_values_name_the_value(self) -> None:
        cfg = minimal(processors={"batch": {"timeout": "soon"}})
        (line,) = problems(cfg)
        assert line.startswith("processors::batch::timeout: ")
        assert "'soon'" in line

    def test_references_to_unconfigured_components(self) -> None:
        cfg = minimal()
        cfg["service"]["pipelines"]["traces"]["processors"] = ["pii/strict"]
        cfg["service"]["pipelines"]["traces"]["exporters"] = ["debug", "nowhere"]
        assert problems(cfg) == [
            'service::pipelines::traces: references processor "pii/strict" which is not configured',
            'service::pipelines::traces: references exporter "nowhere" which is not configured',
        ]

    def test_every_problem_is_reported_at_once_including_unused_components(self) -> None:
        cfg = minimal(processors={"batch/unused": {"send_batch_size": -1}},
                      exporters={"debug": {"verbosity": "loud"}})
        cfg["service"]["pipelines"]["metrics"] = {"receivers": [], "exporters": ["debug"]}
        lines = problems(cfg)
        assert any(line.startswith("processors::batch/unused::send_batch_size: ") for line in lines)
        assert any(line.startswith("exporters::debug::verbosity: ") for line in lines)
        assert "service::pipelines::metrics: must have at least one receiver" in lines
        # an invalid component that is referenced is not reported a second time as "not configured"
        assert not any("not configured" in line for line in lines)

    def test_unknown_signal_and_top_level_key(self) -> None:
        cfg = minimal(recievers={})
        cfg["service"]["pipelines"]["spans"] = {"receivers": ["otlp"], "exporters": ["debug"]}
        lines = problems(cfg)
        assert lines[0].startswith("recievers: unknown top-level key")
        assert any(line.startswith("service::pipelines::spans: unknown signal 'spans'") for line in lines)

    def test_a_component_must_support_the_pipeline_signal(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(debug_exporter, "SIGNALS", frozenset({Signal.LOGS}))
        assert problems(minimal()) == ['service::pipelines::traces: exporter "debug" does not support traces']

    def test_invalid_component_ids(self) -> None:
        cfg = minimal(exporters={"debug": None, "Bad Id": {}})
        (line,) = problems(cfg)
        assert line.startswith("exporters::Bad Id: invalid component id")

    def test_persistent_queue_must_name_an_enabled_file_storage(self) -> None:
        cfg = minimal(extensions={"file_storage/q": {}})
        cfg["exporters"]["otlphttp"] = {"endpoint": "http://x:4318", "sending_queue": {"storage": "file_storage/q"}}
        cfg["exporters"]["otlphttp/b"] = {"endpoint": "http://x:4318", "sending_queue": {"storage": "file_storage/z"}}
        assert problems(cfg) == [
            'exporters::otlphttp::sending_queue::storage: extension "file_storage/q" is not enabled in '
            "service::extensions",
            'exporters::otlphttp/b::sending_queue::storage: references extension "file_storage/z" which is not '
            "configured",
        ]

    def test_service_extensions_must_be_configured(self) -> None:
        cfg = minimal()
        cfg["service"]["extensions"] = ["health_check"]
        assert problems(cfg) == ['service::extensions: references extension "health_check" which is not configured']

    def test_no_pipelines(self) -> None:
        assert "service::pipelines: at least one pipeline must be configured" in problems({"receivers": {}})

    def test_unreadable_and_invalid_yaml_files(self, tmp_path: Path) -> None:
        assert problems(tmp_path / "missing.yaml")[0].endswith("cannot read: No such file or directory")
        bad = tmp_path / "bad.yaml"
        bad.write_text("receivers: [unclosed\n")
        assert "invalid YAML" in problems(bad)[0]


def test_a_number_from_an_env_var_is_text_where_a_key_wants_text() -> None:
    cfg = {
        "receivers": {"otlp": {"protocols": {"http": {"auth": {"bearer_token": "${env:TOKEN}"}}}}},
        "exporters": {"otlphttp": {"endpoint": "http://tempo:4318", "headers": {"X-Scope-OrgID": "${env:TENANT}"},
                                   "sending_queue": {"queue_size": "${env:QUEUE}"}}},
        "service": {"pipelines": {"traces": {"receivers": ["otlp"], "exporters": ["otlphttp"]}}},
    }
    loaded = load(cfg, environ={"TOKEN": "4242", "TENANT": "7", "QUEUE": "50"})
    exporter: Any = loaded.component(Kind.EXPORTER, ComponentID("otlphttp")).config
    receiver: Any = loaded.component(Kind.RECEIVER, ComponentID("otlp")).config
    assert exporter.headers == {"X-Scope-OrgID": "7"}
    assert exporter.sending_queue.queue_size == 50
    assert receiver.protocols.http.auth.bearer_token == "4242"
