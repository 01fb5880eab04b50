"""Config keys follow otelcol-contrib's elasticsearchexporter; every error names its key."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from collector.component import ComponentID, CreateSettings
from collector.config import validate
from collector.confmap import expand_env
from collector.exporters.elasticsearch import Config, create
from collector.pdata import Signal
from collector.sending.settings import SenderSettings


def test_defaults() -> None:
    config = Config()

    assert isinstance(config, SenderSettings)
    assert config.mapping.mode == "otel"
    assert config.flush.bytes == 5_000_000
    assert config.flush.interval == 1.0
    assert config.timeout == 30.0
    assert config.compression == "gzip"
    assert config.lifecycle.install is True
    assert config.lifecycle.ilm.rollover_max_age == "1d"
    assert config.lifecycle.ilm.delete_after == "90d"
    assert config.lifecycle.templates.codec == "best_compression"
    assert config.dead_letter.path is None


def test_otelcol_style_keys_and_durations() -> None:
    config = Config.model_validate({
        "endpoints": ["https://es-1:9200", "https://es-2:9200"],
        "logs_index": "app-logs",
        "mapping": {"mode": "ecs"},
        "user": "elastic",
        "password": "changeme",
        "tls": {"ca_file": "/etc/ca.pem"},
        "flush": {"bytes": 1_000_000, "interval": "500ms"},
        "retry_on_failure": {"initial_interval": "1s"},
    })

    assert config.resolved_endpoints() == ["https://es-1:9200", "https://es-2:9200"]
    assert config.flush.interval == 0.5
    assert config.password is not None and config.password.get_secret_value() == "changeme"
    assert "changeme" not in repr(config)


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ({"endpoint": "es:9200"}, "endpoint"),
        ({"endpoints": ["ftp://es"]}, "endpoints"),
        ({"mapping": {"mode": "raw"}}, "mapping"),
        ({"user": "elastic"}, "password: required when user is set"),
        ({"password": "x"}, "user: required when password is set"),
        ({"api_key": "k", "user": "u", "password": "p"}, "api_key: set either api_key or user/password"),
        ({"flush": {"interval": "40s"}}, "flush::interval"),
        ({"logs_index": "Logs"}, "logs_index"),
        ({"lifecycle": {"ilm": {"delete_after": "90 days"}}}, "delete_after"),
        ({"tls": {"cert_file": "/c.pem"}}, "cert_file and key_file"),
        ({"bulk_actions": 10}, "bulk_actions"),
    ],
)
def test_invalid_configs_name_the_key(keys: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Config.model_validate(keys)


def test_endpoints_fall_back_to_elasticsearch_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ELASTICSEARCH_URL", "http://es-1:9200, http://es-2:9200")

    assert Config().resolved_endpoints() == ["http://es-1:9200", "http://es-2:9200"]
    assert Config(endpoints=["http://mine:9200"]).resolved_endpoints() == ["http://mine:9200"]


def test_no_endpoint_anywhere_is_an_error_naming_both_places(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ELASTICSEARCH_URL", raising=False)

    with pytest.raises(ValueError, match=r"endpoints: .*ELASTICSEARCH_URL"):
        Config().resolved_endpoints()


def test_an_invalid_elasticsearch_url_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ELASTICSEARCH_URL", "localhost:9200")

    with pytest.raises(ValueError, match="ELASTICSEARCH_URL: 'localhost:9200' is not an http"):
        Config().resolved_endpoints()


def test_an_empty_snapshot_repository_means_unset() -> None:
    # `repository: ${env:ELASTICSEARCH_SNAPSHOT_REPOSITORY}` with the variable unset
    assert Config.model_validate({"lifecycle": {"slm": {"repository": ""}}}).lifecycle.slm.repository is None


def test_create_names_the_component_when_no_endpoint_is_found(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ELASTICSEARCH_URL", raising=False)

    with pytest.raises(ValueError, match=r"^exporters::elasticsearch/logs::endpoints: no Elasticsearch endpoint"):
        create(CreateSettings(ComponentID("elasticsearch", "logs"), Signal.LOGS), Config())


def test_keys_from_unset_env_vars_count_as_not_set() -> None:
    # `api_key: ${env:ELASTICSEARCH_API_KEY}` and friends with the variables unset expand to ""
    config = Config.model_validate({"endpoints": [""], "endpoint": "", "api_key": "", "user": "", "password": "",
                                    "tls": {"ca_file": ""}})

    assert (config.endpoints, config.endpoint, config.api_key, config.user, config.password) == (
        [], None, None, None, None)
    assert config.tls.ca_file is None


def test_a_password_of_digits_from_an_env_var_is_text() -> None:
    raw = expand_env({"endpoints": ["http://es:9200"], "user": "${env:ES_USER}", "password": "${env:ES_PASSWORD}"},
                     {"ES_USER": "1001", "ES_PASSWORD": "123456"})
    config: Any = validate(Config, raw)  # as the collector's loader validates every component
    assert config.user == "1001"
    assert config.password is not None and config.password.get_secret_value() == "123456"
