"""Reading and env expansion (otelcol's confmap)."""

from __future__ import annotations

from pathlib import Path

import pytest

from collector.confmap import ConfigError, expand_env, read


class TestEnvExpansion:
    env = {"HOST": "db.local", "PORT": "5432", "EMPTY": ""}

    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("${env:HOST}", "db.local"),
            ("${HOST}", "db.local"),
            ("${env:HOST}:${env:PORT}", "db.local:5432"),
            ("${env:MISSING:-fallback}", "fallback"),
            ("${env:MISSING}", ""),
            ("x${env:MISSING:-a b}y", "xa by"),
            ("$${env:HOST}", "${env:HOST}"),
            ("cost: $$5", "cost: $5"),
            ("no refs", "no refs"),
        ],
    )
    def test_strings_expand(self, text: str, expected: str) -> None:
        assert expand_env(text, self.env) == expected

    def test_a_whole_reference_takes_the_yaml_type_of_its_value(self) -> None:
        assert expand_env("${env:PORT}", self.env) == 5432
        assert expand_env("${env:MISSING:-true}", self.env) is True
        assert expand_env("port ${env:PORT}", self.env) == "port 5432"

    @pytest.mark.parametrize(("value", "expected"), [
        ("42", 42), ("-7", -7), ("1.5", 1.5), ("1e3", 1000.0), ("false", False), ("TRUE", True),
        # YAML 1.1 would read these as booleans or numbers; otelcol (YAML 1.2) and we keep the text
        ("yes", "yes"), ("on", "on"), ("off", "off"), ("no", "no"), ("0x1F", "0x1F"), ("0123", "0123"),
        ("1:30", "1:30"), ("~", "~"), ("null", "null"), ("[1, 2]", "[1, 2]"), ("5s", "5s"),
    ])
    def test_whole_references_are_typed_as_yaml_1_2_reads_them(self, value: str, expected: object) -> None:
        got = expand_env("${env:V}", {"V": value})
        assert got == expected and isinstance(got, type(expected))

    def test_nested_values_expand_but_keys_do_not(self) -> None:
        assert expand_env({"${env:HOST}": ["${env:HOST}", {"a": "${env:PORT}"}]}, self.env) == {
            "${env:HOST}": ["db.local", {"a": 5432}]
        }


def test_read_names_the_file_in_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"missing\.yaml: cannot read"):
        read(tmp_path / "missing.yaml")
    (tmp_path / "empty.yaml").write_text("")
    assert read(tmp_path / "empty.yaml") == {}
