"""`otel-distro retention run|schedule`: configuration from env, file and flags; errors name the key."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from otel_distro.retention import ConfigError, load_config
from otel_distro.settings import SettingsError, load_retention_settings


def test_env_then_file_then_flags(tmp_path: Path) -> None:
    settings = load_retention_settings({"OTEL_DISTRO_RETENTION_OLDER_THAN": "30d", "SMTP_HOST": "mail",
                                        "RETENTION_ADMIN_EMAIL": "ops@example.com", "SMTP_PORT": "2525"})
    file = tmp_path / "retention.yaml"
    file.write_text("older_than: 60d\nsmtp: {from: retention@example.com}\nschedule: {at: '4:30'}\n")
    assert load_config(settings).older_than == 30 * 86400
    cfg = load_config(settings, file)
    assert (cfg.older_than, cfg.smtp.host, cfg.smtp.port, cfg.smtp.to) == (60 * 86400, "mail", 2525,
                                                                         ["ops@example.com"])
    assert cfg.smtp.from_ == "retention@example.com" and cfg.schedule.at == "04:30"
    assert load_config(settings, file, {"older_than": "12h"}).older_than == 12 * 3600


def test_bad_values_name_their_key_or_variable(tmp_path: Path) -> None:
    file = tmp_path / "r.yaml"
    file.write_text("older_than: soon\nsmtp: {password: hunter2, port: 0}\nelasticsearch: {colour: red}\n")
    with pytest.raises(ConfigError) as error:
        load_config(load_retention_settings({}), file)
    text = str(error.value)
    assert "older_than: Value error, 'soon' is not a duration" in text
    assert "smtp::port:" in text and "elasticsearch::colour: Extra inputs are not permitted" in text
    assert "hunter2" not in text
    with pytest.raises(SettingsError, match="OTEL_DISTRO_RETENTION_AT='25:00' is not allowed"):
        load_retention_settings({"OTEL_DISTRO_RETENTION_AT": "25:00"})
    with pytest.raises(SettingsError, match="SMTP_PORT='x' is not allowed: expected a port number"):
        load_retention_settings({"SMTP_PORT": "x"})


def test_run_dry_run_through_the_console_script(tmp_path: Path) -> None:
    old = tmp_path / "otlp.jsonl.1"
    old.write_text("x\n")
    then = time.time() - 100 * 86400
    os.utime(old, (then, then))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SMTP_", "ELASTICSEARCH_"))}
    env["OTEL_DISTRO_RETENTION_FILES"] = str(tmp_path / "*.1")
    done = subprocess.run([sys.executable, "-m", "otel_distro.cli", "retention", "run", "--dry-run",
                           "--older-than", "90d"], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert f"then delete file {old}" in done.stdout
    assert "dry run: 1 would be deleted" in done.stdout
    assert old.exists()
    assert '"message": "retention_run_started"' in done.stderr
    assert '"message": "retention_summary_off"' in done.stderr and '"level": "warning"' in done.stderr


def test_a_bad_flag_value_exits_2_naming_it() -> None:
    done = subprocess.run([sys.executable, "-m", "otel_distro.cli", "retention", "run", "--older-than", "ninety"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "older_than: Value error, 'ninety' is not a duration" in done.stderr


def test_elasticsearch_url_takes_comma_separated_nodes_like_the_collector() -> None:
    settings = load_retention_settings({"ELASTICSEARCH_URL": "http://es1:9200, http://es2:9200"})
    assert load_config(settings).elasticsearch.nodes() == ["http://es1:9200", "http://es2:9200"]
    with pytest.raises(ConfigError, match=r"elasticsearch::url: Value error, 'es3:9200' is not an http\(s\) URL"):
        load_config(load_retention_settings({"ELASTICSEARCH_URL": "http://es1:9200,es3:9200"}))
