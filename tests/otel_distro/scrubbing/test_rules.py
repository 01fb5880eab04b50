# ruff: noqa: RUF001
"""The shipped rules: one example per rule (input -> expected output), and the table is complete."""

from __future__ import annotations

from dataclasses import replace

import pytest

from otel_distro.scrubbing import Scrubber, default_rules
from otel_distro.scrubbing._corpus import generate
from otel_distro.scrubbing._rules import default_key_policy, normalize_key, split_key

EXAMPLES: dict[str, tuple[str, str]] = {
    "private_key": (
        '{"key": "-----BEGIN RSA PRIVATE KEY-----\\nMIIEowIBAAKCAQEAx4k\\n-----END RSA PRIVATE KEY-----"}',
        '{"key": "[REDACTED:private_key]"}',
    ),
    "jwt": (
        "id_tok eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U ok",
        "id_tok [REDACTED:jwt] ok",
    ),
    "bearer_token": ("Authorization: Bearer 3q2-7wAbCdEf_gh.IjKl", "Authorization: Bearer [REDACTED:bearer_token]"),
    "basic_auth": ("Authorization: Basic dXNlcjpodW50ZXIy", "Authorization: Basic [REDACTED:basic_auth]"),
    "url_password": (
        "connecting to postgres://app:s3cr3t!@db.internal:5432/orders",
        "connecting to postgres://app:[REDACTED:url_password]@db.internal:5432/orders",
    ),
    "cookie_header": (
        "Set-Cookie: theme=dark; Path=/; HttpOnly",
        "Set-Cookie: theme=[REDACTED:cookie]; Path=/; HttpOnly",
    ),
    "aws_access_key": ("using key AKIAIOSFODNN7EXAMPLE for s3", "using key [REDACTED:aws_access_key] for s3"),
    "aws_secret_key": (
        "aws_secret_access_key: wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "aws_secret_access_key: [REDACTED:aws_secret_key]",
    ),
    "github_token": (
        "GITHUB_TOKEN ghp_16C7e42F292c6912E7710c838347Ae178B4a set",
        "GITHUB_TOKEN [REDACTED:github_token] set",
    ),
    "stripe_key": ("stripe client sk_live_4eC39HqLyjWDarjtT1zdp7dc ready", "stripe client [REDACTED:stripe_key] ready"),
    "slack_token": (
        "slack bot xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx connected",
        "slack bot [REDACTED:slack_token] connected",
    ),
    "slack_webhook": (
        "POST https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX 200",
        "POST https://hooks.slack.com/services/[REDACTED:slack_token] 200",
    ),
    "google_api_key": (
        "maps key AIzaSyDdI0hCZtE6vySjMm-WEfRq3CPzqKqqsHI loaded",
        "maps key [REDACTED:google_api_key] loaded",
    ),
    "gitlab_token": ("CI uses glpat-xYz12345AbCdEfGhIjKl now", "CI uses [REDACTED:gitlab_token] now"),
    "openai_key": ("OPENAI sk-proj-Ab12Cd34Ef56Gh78Ij90KlMnOp loaded", "OPENAI [REDACTED:openai_key] loaded"),
    "npm_token": (
        "publish with npm_abcdefghijklmnopqrstuvwxyz0123456789 done",
        "publish with [REDACTED:npm_token] done",
    ),
    "sendgrid_key": (
        "mailer 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 ok",
        "mailer [REDACTED:sendgrid_key] ok",
    ),
    "huggingface_token": (
        "HF hf_abcdefghijklmnopqrstuvwxyzABCDEFGH pulled",
        "HF [REDACTED:huggingface_token] pulled",
    ),
    "password_hash": (
        "row ('a', '$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW') ok",
        "row ('a', '[REDACTED:password_hash]') ok",
    ),
    "secret_phrase": (
        "the password is hunter2 and şifrem Gizli123",
        "the password is [REDACTED:secret] and şifrem [REDACTED:secret]",
    ),
    "sql_password": (
        "CREATE USER app WITH PASSWORD 'S3cr3t!' ; CREATE USER 'bob'@'%' IDENTIFIED BY 'Xy9z' ; "
        "ALTER USER scott IDENTIFIED BY tiger; ALTER ROLE app PASSWORD %(password)s",
        "CREATE USER app WITH PASSWORD '[REDACTED:secret]' ; CREATE USER 'bob'@'%' IDENTIFIED BY '[REDACTED:secret]' ; "
        "ALTER USER scott IDENTIFIED BY [REDACTED:secret]; ALTER ROLE app PASSWORD %(password)s",
    ),
    "flag_value": (
        "exec app --db-password hunter2 --token-count 5 -v",
        "exec app --db-password [REDACTED:secret] --token-count 5 -v",
    ),
    "keyed_value": (
        'login {"username": "ayse", "Passwort": "hunter 2", "max_tokens": 256}',
        'login {"username": "[REDACTED:user]", "Passwort": "[REDACTED:secret]", "max_tokens": 256}',
    ),
    "email": (
        "sent to jane.doe+news@example.co.uk and ?to=ali%40firma.com.tr",
        "sent to [REDACTED:email] and ?to=[REDACTED:email]",
    ),
    "person_phrase": (
        "Sayın Ayşe Yılmaz, Herr Müller hat; my name is John Smith",
        "Sayın [REDACTED:person], Herr [REDACTED:person] hat; my name is [REDACTED:person]",
    ),
    "phone_international": (
        "call +90 532 123 45 67 or +49 30 901820",
        "call [REDACTED:phone] or [REDACTED:phone]",
    ),
    "phone_national": (
        "Tel 0532 123 45 67, 0 532 123 45 67, 030 901820, 020 7946 0958",
        "Tel [REDACTED:phone], [REDACTED:phone], [REDACTED:phone], [REDACTED:phone]",
    ),
    "phone_us": ("support (415) 555-2671 or 212-555-0147", "support [REDACTED:phone] or [REDACTED:phone]"),
    "ipv4": (
        "client 203.0.113.7:443 via 127.0.0.1 agent Chrome/120.0.0.0 oid 1.3.6.1.4.1",
        "client [REDACTED:ipv4]:443 via 127.0.0.1 agent Chrome/120.0.0.0 oid 1.3.6.1.4.1",
    ),
    "ipv6": ("peer 2001:db8::8a2e:370:7334 local ::1 at 12:30:45", "peer [REDACTED:ipv6] local ::1 at 12:30:45"),
    "us_ssn": ("ssn on file 123-45-6789, not 000-12-3456", "ssn on file [REDACTED:ssn], not 000-12-3456"),
    "tckn": ("TC 10000000146, order 12345678901", "TC [REDACTED:tckn], order 12345678901"),
    "credit_card": (
        "card 4111 1111 1111 1111, troy 9792-0300-0000-0000, mc 2221000000000009, id 4111111111111112",
        "card [REDACTED:credit_card], troy [REDACTED:credit_card], mc [REDACTED:credit_card], id 4111111111111112",
    ),
    "iban": (
        "pay TR33 0006 1005 1978 6457 8413 26 or DE89370400440532013000 ref GB00WEST12345698765432",
        "pay [REDACTED:iban] or [REDACTED:iban] ref GB00WEST12345698765432",
    ),
}


def test_every_default_rule_has_an_example() -> None:
    names = {rule.name for rule in default_rules()}
    assert names == set(EXAMPLES), f"missing: {names - set(EXAMPLES)}, stale: {set(EXAMPLES) - names}"


@pytest.mark.parametrize("rule", sorted(EXAMPLES))
def test_rule_example(rule: str) -> None:
    text, expected = EXAMPLES[rule]
    assert Scrubber().scrub_text(text) == expected


@pytest.mark.parametrize("rule", sorted(EXAMPLES))
def test_rule_example_is_found_by_that_rule_alone(rule: str) -> None:
    """Each example exercises its own rule, not only a neighbour."""
    only = [r for r in default_rules() if r.name == rule]
    text, _ = EXAMPLES[rule]
    assert Scrubber(rules=only).scrub_text(text) != text


def test_rules_have_unique_names_and_valid_kinds() -> None:
    rules = default_rules()
    assert len({r.name for r in rules}) == len(rules)
    assert all(r.kind.replace("_", "").isalnum() and r.kind.islower() for r in rules)


@pytest.mark.parametrize(
    ("key", "kind"),
    [
        ("password", "secret"),
        ("DB_PASSWORD", "secret"),
        ("clientSecret", "secret"),
        ("client-secret", "secret"),
        ("X-Api-Key", "secret"),
        ("api.key", "secret"),
        ("access_token", "secret"),
        ("Authorization", "secret"),
        ("http.request.header.cookie", "secret"),
        ("şifre", "secret"),
        ("Şifre", "secret"),
        ("parola", "secret"),
        ("Passwort", "secret"),
        ("kennwort", "secret"),
        ("sessionid", "secret"),
        ("full_name", "person"),
        ("lastName", "person"),
        ("Nachname", "person"),
        ("ad_soyad", "person"),
        ("username", "user"),
        ("user.name", "user"),
        ("phone", "phone"),
        ("mobile_number", "phone"),
        ("telefon", "phone"),
        ("ssn", "ssn"),
        ("max_tokens", None),
        ("gen_ai.usage.input_tokens", None),
        ("token_count", None),
        ("password_policy", None),
        ("is_token_valid", None),
        ("secret_name", None),
        ("service.name", None),
        ("hostname", None),
        ("cache_key", None),
        ("trace_id", None),
    ],
)
def test_key_classification(key: str, kind: str | None) -> None:
    assert default_key_policy().classify(key) == kind


def test_keys_are_normalised_across_separators_case_and_letters() -> None:
    assert normalize_key("Client-Secret") == normalize_key("client_secret") == normalize_key("clientSecret")
    assert normalize_key("Şifre") == "sifre"
    assert split_key("isTokenValid") == ["is", "token", "valid"]


def test_triggers_only_skip_work_never_findings() -> None:
    """A rule's trigger must match wherever its pattern can: with or without triggers, the same output."""
    texts = [text for text, _ in EXAMPLES.values()] + [r.text for r in generate(1500, seed=99, pii_rate=0.5)]
    with_triggers = Scrubber()
    without = Scrubber(rules=[replace(rule, trigger=None) for rule in default_rules()])
    assert [with_triggers.scrub_text(t) for t in texts] == [without.scrub_text(t) for t in texts]
