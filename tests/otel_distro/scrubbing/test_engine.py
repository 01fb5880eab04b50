# ruff: noqa: RUF001
"""The engine: what it replaces, what it keeps, structured values, pseudonyms, user rules, hostile input."""

from __future__ import annotations

import random
import threading
from collections import Counter

import pytest

from otel_distro.scrubbing import Rule, Scrubber, default_scrubber
from otel_distro.scrubbing._corpus import generate

KEY = b"k" * 32


@pytest.fixture(scope="module")
def scrubber() -> Scrubber:
    return Scrubber()


@pytest.mark.parametrize(
    "text",
    [
        "trace_id=4bf92f3577b34da6a3ce929d0e0e4736 span_id=00f067aa0ba902b7",
        "traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "job 550e8400-e29b-41d4-a716-446655440000 done",
        "at 2024-11-25T17:39:55.123Z / 2024-11-25 17:39:55,123 / 1732550400 / 1732550400123 / 1732550400123456789",
        "took 12.5ms, 1.234s, 350µs, 1m30s",
        "running v1.2.3 and 2.31.0-rc.1 on :8080 status=503",
        "sha256 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        "commit 9fceb02d0ae598e95dc970b74767f19372d61af8",
        "GET /api/v1/users/42/orders/17 -> 200",
        "host api-7d9f8b6c5d-xk2lp.prod.svc.cluster.local node ip-10-0-12-34.eu-west-1.compute.internal",
        "installed requests==2.31.0 lodash@4.17.21 @types/node@20.11.5 git@github.com:org/repo.git",
        "order 4111111111111112 customer 12345678901",
        "SELECT id, email, phone FROM users WHERE id = $1 AND status = 'active'",
        "tokens=512 prompt_tokens=120 password_policy=strong",
        "2024-11-25 logo@2x.png 25.11.2024 11/25/24",
        "python-requests/2.31.0 version 1.2.3.4 Chrome/120.0.0.0 oid 1.3.6.1.4.1.311",
        "token_type=Bearer expires_in=3600; WWW-Authenticate: Bearer realm=api",
        "Basic authentication failed",
        "image ghcr.io/acme/api@sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        "mac 00:1a:2b:3c:4d:5e elapsed 00:00:01.500 kafka offset 1732550400123",
        "at com.example.Foo.bar(Foo.java:123) std::vector<int> Foo::bar()",
    ],
)
def test_keeps_telemetry_that_is_not_personal(scrubber: Scrubber, text: str) -> None:
    assert scrubber.scrub_text(text) == text


def test_replaces_only_the_sensitive_span(scrubber: Scrubber) -> None:
    line = "2024-11-25T17:39:55Z INFO user=jane@example.com ip=203.0.113.7 trace_id=4bf92f3577b34da6a3ce929d0e0e4736"
    assert scrubber.scrub_text(line) == (
        "2024-11-25T17:39:55Z INFO user=[REDACTED:email] ip=[REDACTED:ipv4] trace_id=4bf92f3577b34da6a3ce929d0e0e4736"
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Authorization: Bearer abc", "Authorization: Bearer [REDACTED:secret]"),
        ('{"authorization": "Basic dXNlcjpwYXNz"}', '{"authorization": "Basic [REDACTED:basic_auth]"}'),
        ("Authorization: Digest abc123, x", "Authorization: Digest [REDACTED:secret], x"),
        ("X-Api-Key: k-123", "X-Api-Key: [REDACTED:secret]"),
    ],
)
def test_whatever_follows_an_auth_scheme_goes(scrubber: Scrubber, text: str, expected: str) -> None:
    assert scrubber.scrub_text(text) == expected


def test_url_query_values_are_decoded_before_matching(scrubber: Scrubber) -> None:
    url = "https://api.example.com/cb?phone=%2B90%20532%20123%2045%2067&iban=DE89%203704%200044%200532%200130%2000&p=2"
    out = scrubber.scrub_text(url)
    assert out == "https://api.example.com/cb?phone=[REDACTED:phone]&iban=[REDACTED:iban]&p=2"


def test_a_phone_key_takes_the_digit_groups_of_a_bare_value(scrubber: Scrubber) -> None:
    assert scrubber.scrub_text("GSM: 532 123 45 67 ok, phone=5551234567 x") == (
        "GSM: [REDACTED:phone] ok, phone=[REDACTED:phone] x"
    )


@pytest.mark.parametrize(
    "statement",
    [
        'UPDATE "user" SET hashed_password=%(hashed_password)s::VARCHAR WHERE "user".id = %(id_1)s::UUID',
        'INSERT INTO "user" (email, full_name, password) VALUES (%(email)s, %(full_name)s, %(password)s)',
        "UPDATE users SET password = $1, full_name = $2, pin=? WHERE token = :token AND api_key = %s",
        "UPDATE users SET password=%s, phone=%(phone)s WHERE id=%d",
        "SELECT * FROM users WHERE secret_token = ? AND session_id = $12::text",
    ],
)
def test_sql_parameter_placeholders_are_structure_not_values(scrubber: Scrubber, statement: str) -> None:
    assert scrubber.scrub_text(statement) == statement


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # SQL that sets a password
        ("CREATE USER app WITH PASSWORD 'S3cr3t!x'; ALTER ROLE admin ENCRYPTED PASSWORD 'it''s-2'",
         "CREATE USER app WITH PASSWORD '[REDACTED:secret]'; ALTER ROLE admin ENCRYPTED PASSWORD '[REDACTED:secret]'"),
        ("CREATE USER 'bob'@'%' IDENTIFIED WITH mysql_native_password BY 'Xy9z'; ALTER USER s IDENTIFIED BY t1ger;",
         "CREATE USER 'bob'@'%' IDENTIFIED WITH mysql_native_password BY '[REDACTED:secret]'; "
         "ALTER USER s IDENTIFIED BY [REDACTED:secret];"),
        ("SET PASSWORD FOR 'bob'@'%' = PASSWORD('abc123x')",
         "SET PASSWORD FOR 'bob'@'%' = PASSWORD('[REDACTED:secret]')"),
        # keys that name a password by an abbreviation
        ("MYSQL_PWD=abc123XYZ ORACLE_PWD=foo PGPASSWORD=sekret99 RABBITMQ_DEFAULT_PASS=xyzzy123",
         "MYSQL_PWD=[REDACTED:secret] ORACLE_PWD=[REDACTED:secret] PGPASSWORD=[REDACTED:secret] "
         "RABBITMQ_DEFAULT_PASS=[REDACTED:secret]"),
        ("GET /db?db_pwd=abc123&cache_bypass=true&assessment_id=7 HTTP/1.1",
         "GET /db?db_pwd=[REDACTED:secret]&cache_bypass=true&assessment_id=7 HTTP/1.1"),
        # framework session cookies by name, in a JSON cookie map (a JSON object after a key is not its value)
        ('{"cookies": {"laravel_session": "eyJpdiI6", "connect.sid": "s:abc.def", "rack.session": "BAh7--d"}}',
         '{"cookies": {"laravel_session": "[REDACTED:secret]", "connect.sid": "[REDACTED:secret]", '
         '"rack.session": "[REDACTED:secret]"}}'),
        ('{"cookies": {"_myapp_session": "xyz123", "ci_session": "a1", "koa.sess": "e30=", "PHPSESSID": "q9"}}',
         '{"cookies": {"_myapp_session": "[REDACTED:secret]", "ci_session": "[REDACTED:secret]", '
         '"koa.sess": "[REDACTED:secret]", "PHPSESSID": "[REDACTED:secret]"}}'),
        # Slack app-level tokens, whole
        ("app token xapp-1-A0123ABCDEF-1234567890123-0123456789abcdef0123456789abcdef ok",
         "app token [REDACTED:slack_token] ok"),
        # IPv6 ending in `::`
        ('2001:db8:85a3:: - - [25/Nov/2024:17:39:55 +0000] "GET / HTTP/1.1" 200',
         '[REDACTED:ipv6] - - [25/Nov/2024:17:39:55 +0000] "GET / HTTP/1.1" 200'),
        ("GET http://[2001:db8::]:8080/p peer=fe80:: addr='2001:db8:1::' std::vector",
         "GET http://[[REDACTED:ipv6]]:8080/p peer=[REDACTED:ipv6] addr='[REDACTED:ipv6]' std::vector"),
        # an AWS credentials file with escaped newlines
        (r'"[default]\naws_access_key_id = AKIAIOSFODNN7EXAMPLE\naws_secret_access_key = '
         r'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKE+\nregion = eu-west-1"',
         r'"[default]\naws_access_key_id = [REDACTED:aws_access_key]\naws_secret_access_key = '
         r'[REDACTED:aws_secret_key]\nregion = eu-west-1"'),
        # a URL under a key that names a secret: the password goes, host and port stay
        ("CACHE_AUTH=redis://:s3cretpw@cache.internal:6379/0",
         "CACHE_AUTH=redis://:[REDACTED:url_password]@cache.internal:6379/0"),
        # text glued after a phone number keeps its tail
        ("GET /x?phone=+447700900123xyz&a=1 mobile=05321234567ext12",
         "GET /x?phone=[REDACTED:phone]xyz&a=1 mobile=[REDACTED:phone]ext12"),
    ],
)
def test_issue_14_misses_and_over_redactions(scrubber: Scrubber, text: str, expected: str) -> None:
    assert scrubber.scrub_text(text) == expected


def test_json_keys_name_secrets(scrubber: Scrubber) -> None:
    text = '{"client_secret": "abc def", "api_key":"k-123", "max_tokens": 50, "nested": "{\\"password\\": \\"x1\\"}"}'
    assert scrubber.scrub_text(text) == (
        '{"client_secret": "[REDACTED:secret]", "api_key":"[REDACTED:secret]", "max_tokens": 50, '
        '"nested": "{\\"password\\": \\"[REDACTED:secret]\\"}"}'
    )


def test_turkish_and_german_text(scrubber: Scrubber) -> None:
    assert scrubber.scrub_text("Müşteri 0 532 123 45 67 numarasından aradı, parola: Gizli123") == (
        "Müşteri [REDACTED:phone] numarasından aradı, parola: [REDACTED:secret]"
    )
    assert scrubber.scrub_text("Kunde hat sich mit Passwort=geheim123 angemeldet, Tel. 030 901820") == (
        "Kunde hat sich mit Passwort=[REDACTED:secret] angemeldet, Tel. [REDACTED:phone]"
    )


def test_scrub_value_walks_structures_and_considers_keys(scrubber: Scrubber) -> None:
    value = {
        "user": {"email": "a.b@example.com", "password": "hunter2", "id": 42},
        "tags": ["ok", "card 4111 1111 1111 1111"],
        "credentials": {"user": "svc", "pass": "x"},
        "phone": "+90 532 123 45 67",
        "enabled": True,
        "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
        "count": 3,
    }
    assert scrubber.scrub_value(value) == {
        "user": {"email": "[REDACTED:email]", "password": "[REDACTED:secret]", "id": 42},
        "tags": ["ok", "card [REDACTED:credit_card]"],
        "credentials": {"user": "[REDACTED:secret]", "pass": "[REDACTED:secret]"},
        "phone": "[REDACTED:phone]",
        "enabled": True,
        "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
        "count": 3,
    }


def test_nested_keys_are_read_with_their_parent(scrubber: Scrubber) -> None:
    value = {"customer": {"name": "Ayşe Yılmaz", "id": 7}, "service": {"name": "checkout"},
             "recipient": {"first": "John", "phone": "5551234567"}}
    assert scrubber.scrub_value(value) == {
        "customer": {"name": "[REDACTED:person]", "id": 7},
        "service": {"name": "checkout"},
        "recipient": {"first": "John", "phone": "[REDACTED:phone]"},
    }


def test_scrub_value_does_not_mutate_its_input(scrubber: Scrubber) -> None:
    value = {"password": "hunter2", "items": ["a@b.co"]}
    scrubber.scrub_value(value)
    assert value == {"password": "hunter2", "items": ["a@b.co"]}


def test_bytes_that_are_text_are_scrubbed_and_stay_bytes(scrubber: Scrubber) -> None:
    # span.set_attribute("payload", b"...") keeps bytes, and the OTLP exporter sends them as bytesValue.
    assert scrubber.scrub_value(b"mail ada@example.com") == b"mail [REDACTED:email]"
    assert scrubber.scrub_value([b"ada@example.com"]) == [b"[REDACTED:email]"]
    clean = b"GET /health"
    assert scrubber.scrub_value(clean) is clean
    binary = b"\xff\xfe ada@example.com"  # not UTF-8: binary data, kept as it is
    assert scrubber.scrub_value(binary) is binary


def test_tuples_and_sets_keep_their_type(scrubber: Scrubber) -> None:
    assert scrubber.scrub_value(("a@b.com", 1)) == ("[REDACTED:email]", 1)
    assert scrubber.scrub_value({"a@b.com", "ok"}) == {"[REDACTED:email]", "ok"}


def test_non_strings_are_kept(scrubber: Scrubber) -> None:
    assert scrubber.scrub_value(4111111111111111) == 4111111111111111
    assert scrubber.scrub_value(None) is None


def test_counts_by_kind_never_values() -> None:
    scrubber = Scrubber()
    counts: Counter[str] = Counter()
    scrubber.scrub_text("a@b.com c@d.org 203.0.113.7", counts)
    scrubber.scrub_value({"password": "x1"}, counts=counts)
    assert counts == {"email": 2, "ipv4": 1, "secret": 1}
    assert scrubber.redaction_counts() == {"email": 2, "ipv4": 1, "secret": 1}


def test_pseudonyms_are_keyed_stable_and_normalised() -> None:
    keyed = Scrubber(hmac_key=KEY)
    a = keyed.scrub_text("mail Jane.Doe@Example.com")
    b = keyed.scrub_text("mail jane.doe@example.com")
    assert a == b
    assert a.startswith("mail [email:") and len(a) == len("mail [email:") + 16 + 1
    assert keyed.pseudonymize("phone", "+90 532 123 45 67") == keyed.pseudonymize("phone", "0532 123 45 67")
    assert keyed.pseudonymize("user", "42") != Scrubber(hmac_key=b"z" * 32).pseudonymize("user", "42")
    # secrets never become joinable pseudonyms
    assert keyed.scrub_text("password=hunter2") == "password=[REDACTED:secret]"


def test_without_a_key_pseudonymize_gives_the_typed_placeholder() -> None:
    assert Scrubber().pseudonymize("user", "42") == "[REDACTED:user]"


@pytest.mark.parametrize("key", [b"", b"short"])
def test_short_hmac_keys_are_refused(key: bytes) -> None:
    with pytest.raises(ValueError, match="at least 16 bytes"):
        Scrubber(hmac_key=key)


def test_users_add_patterns_block_keys_allow_keys_and_turn_kinds_off() -> None:
    scrubber = Scrubber(
        extra_patterns=[Rule("customer_id", "customer_id", r"\bCUST-\d{6}\b"), r"\binternal-[a-z]+\b"],
        blocked_keys=["X-Internal-Note"],
        blocked_key_patterns=[r"(?i)^geheim"],
        allowed_keys=["debug_password"],
        disabled_kinds=["ipv4"],
    )
    assert scrubber.scrub_text("for CUST-123456 on internal-alpha from 203.0.113.7") == (
        "for [REDACTED:customer_id] on [REDACTED:custom] from 203.0.113.7"
    )
    assert scrubber.scrub_text('note x_internal_note="see me" X-Internal-Note: hi') == (
        'note x_internal_note="[REDACTED:secret]" X-Internal-Note: [REDACTED:secret]'
    )
    assert scrubber.scrub_value({"x_internal_note": "hi", "GeheimZahl": 7, "debug_password": "shown"}) == {
        "x_internal_note": "[REDACTED:secret]",
        "GeheimZahl": "[REDACTED:secret]",
        "debug_password": "shown",
    }


def test_allowed_values_keep_findings_they_match_whole() -> None:
    scrubber = Scrubber(allowed_values=[r".+@example\.com", r"10\.\d+\.\d+\.\d+"])
    assert scrubber.scrub_text("ops@example.com jane@gmail.com 10.1.2.3 203.0.113.7") == (
        "ops@example.com [REDACTED:email] 10.1.2.3 [REDACTED:ipv4]"
    )


def test_bad_user_patterns_name_the_rule() -> None:
    with pytest.raises(ValueError, match=r"rule 'broken': invalid RE2 pattern"):
        Scrubber(extra_patterns=[Rule("broken", "custom", "(unclosed")])
    with pytest.raises(ValueError, match=r"group 2 does not exist"):
        Scrubber(extra_patterns=[Rule("g", "custom", "a(b)", group=2)])
    with pytest.raises(ValueError, match="duplicate rule names: email"):
        Scrubber(extra_patterns=[Rule("email", "custom", "x")])


@pytest.mark.parametrize(
    "line",
    [
        "1" * 20_000,
        "1 " * 10_000,
        "a@" * 10_000,
        "+1" * 10_000,
        ":" * 20_000,
        "password=" * 2_500,
        "0 5" * 7_000,
        "-----BEGIN PRIVATE KEY-----" + "A" * 20_000,
        "%4" * 10_000,
        "4111 " * 4_000,
        " ".join(f"+{i % 97 + 1} {i:03d} {i * 7 % 1000:03d} {i % 89:02d} 1{i % 10}" for i in range(1100)),
    ],
    ids=["digits", "spaced-digits", "at-signs", "plus-ones", "colons", "keys", "tr-phones", "pem", "pct", "cards",
         "distinct-phones"],
)
def test_adversarial_lines_are_scrubbed_whole(scrubber: Scrubber, line: str) -> None:
    out = scrubber.scrub_text(line)
    assert isinstance(out, str)
    assert scrubber.scrub_text(out) == out  # idempotent: nothing is left to find


def test_long_fields_are_scrubbed_in_bounded_pieces() -> None:
    scrubber = Scrubber(max_field_bytes=1024)
    text = ("word " * 300 + "jane@example.com ") * 20 + "é" * 3000 + " +90 532 123 45 67"
    out = scrubber.scrub_text(text)
    assert out.count("[REDACTED:email]") == 20
    assert out.endswith(" [REDACTED:phone]")
    assert "é" * 3000 in out


@pytest.mark.parametrize("key", [None, KEY], ids=["placeholders", "pseudonyms"])
def test_scrubbed_output_has_nothing_left_to_find(key: bytes | None) -> None:
    scrubber = Scrubber(hmac_key=key)
    for record in generate(1000, seed=77, pii_rate=0.7):
        once = scrubber.scrub_text(record.text)
        assert scrubber.scrub_text(once) == once


def test_random_garbage_never_raises() -> None:
    rng = random.Random(5)
    pieces = [*"0123456789+-. ()@:/%=&;,'\"\\\n\tabcXYZşİ€é", "%40", "%2B", "Bearer ", "password=", "eyJ", "::",
              "-----BEGIN PRIVATE KEY-----", "4111 ", "TR33", "+90 5", "0 5", "name is ", "Cookie: a=b; ", "\udcff"]
    scrubber = Scrubber(hmac_key=KEY)
    for _ in range(3000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 60)))
        assert isinstance(scrubber.scrub_text(text), str)


def test_invalid_surrogates_do_not_crash(scrubber: Scrubber) -> None:
    assert scrubber.scrub_text("bad \udcff a@b.com") == "bad \udcff [REDACTED:email]"


def test_default_scrubber_is_shared_per_key() -> None:
    assert default_scrubber() is default_scrubber()
    assert default_scrubber(KEY) is default_scrubber(KEY)
    assert default_scrubber(KEY) is not default_scrubber()


def test_threads_share_one_scrubber(scrubber: Scrubber) -> None:
    results: list[str] = []

    def work() -> None:
        for _ in range(200):
            results.append(scrubber.scrub_text("x a@b.com 203.0.113.7"))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert set(results) == {"x [REDACTED:email] [REDACTED:ipv4]"}


def test_repeated_texts_scrub_the_same_every_time() -> None:
    from collections import Counter  # noqa: PLC0415

    from otel_distro.scrubbing import Scrubber  # noqa: PLC0415

    scrubber = Scrubber()
    for _ in range(3):
        counts: Counter[str] = Counter()
        assert scrubber.scrub_text("GET /api/info", counts) == "GET /api/info"
        assert scrubber.scrub_text("mail jane@example.com now", counts) == "mail [REDACTED:email] now"
        assert counts == {"email": 1}


# --- scrub_fields: flat records, and the cache of fields seen clean ---------------------------------------------

# Pairs whose outcome hangs on the key, the exact type or the digits: True == 1 == 1.0 as dict keys, and a
# phone or SSN key redacts a number only when it has the digits of one (123456 has 6, 123456.0 has 7).
TRICKY_FIELDS: list[tuple[str, object]] = [
    ("http.response.status_code", 200), ("password", 200), ("flag", 1), ("flag", True), ("flag", 1.0),
    ("secret_flag", 1), ("secret_flag", True), ("phone", 123456), ("phone", 123456.0), ("phone", 5551234567),
    ("ssn", 12345678), ("ssn", 12345678.0), ("ssn", 123456789), ("url.path", "/api/info"),
    ("note", "mail jane@example.com"), ("full_name", "Jane Doe"), ("api_key", "GET"), ("method", "GET"),
    ("duration_ms", 1.5), ("request_id", "a@b.com-is-not-touched"), ("tags", ("ok", "a@b.com")),
    ("ctx", {"password": "x"}), ("empty", None), ("payload", b"mail jane@example.com"), ("blob", b"\xff a@b.com"),
]


def _one_by_one(scrubber: Scrubber, fields: list[tuple[str, object]]) -> list[tuple[object, Counter[str]]]:
    out = []
    for key, value in fields:
        counts: Counter[str] = Counter()
        out.append((scrubber.scrub_value(value, key, counts), counts))
    return out


def _through_scrub_fields(scrubber: Scrubber, fields: list[tuple[str, object]]) -> list[tuple[object, Counter[str]]]:
    out = []
    for key, value in fields:
        changes, counts = scrubber.scrub_fields({key: value})
        out.append(((changes or {}).get(key, value), counts or Counter()))
    return out


@pytest.mark.parametrize("order", ["as_listed", "reversed"])
def test_scrub_fields_agrees_with_scrub_value_cold_and_warm(order: str) -> None:
    fields = TRICKY_FIELDS if order == "as_listed" else TRICKY_FIELDS[::-1]
    expected = _one_by_one(Scrubber(), fields)
    scrubber = Scrubber()
    for _ in range(3):  # the first round fills the cache, the next ones read it
        assert _through_scrub_fields(scrubber, fields) == expected


def test_the_same_pair_is_redacted_every_time() -> None:
    scrubber = Scrubber()
    for _ in range(3):
        changes, counts = scrubber.scrub_fields({"note": "mail jane@example.com", "method": "GET"})
        assert changes == {"note": "mail [REDACTED:email]"}
        assert counts == {"email": 1}


def test_a_clean_int_does_not_vouch_for_a_secret_key() -> None:
    scrubber = Scrubber()
    assert scrubber.scrub_fields({"server.port": 8000}) == (None, Counter())
    assert scrubber.scrub_fields({"server.port": 8000}) == (None, None)  # cached: nothing scrubbed or allocated
    changes, counts = scrubber.scrub_fields({"password": 8000, "server.port": 8000})
    assert changes == {"password": "[REDACTED:secret]"}
    assert counts == {"secret": 1}


def test_a_clean_record_allocates_no_counts_once_seen() -> None:
    scrubber = Scrubber()
    record = {"http.request.method": "GET", "url.path": "/api/info", "http.response.status_code": 200,
              "duration_ms": 0.25, "request_id": "4bf92f3577b34da6a3ce929d0e0e4736"}
    scrubber.scrub_fields(record)
    assert scrubber.scrub_fields(record) == (None, None)
    assert scrubber.scrub_fields({**record, "duration_ms": 0.5, "request_id": "00f067aa0ba902b7"}) == (None, None)


def test_given_counts_are_added_to_and_returned() -> None:
    scrubber = Scrubber()
    counts: Counter[str] = Counter({"email": 1})
    changes, out = scrubber.scrub_fields({"password": "x1", "method": "GET"}, counts)
    assert out is counts
    assert counts == {"email": 1, "secret": 1}
    assert changes == {"password": "[REDACTED:secret]"}


def test_skipped_fields_are_left_alone() -> None:
    changes, counts = Scrubber().scrub_fields({"password": "x1", "note": "a@b.com"}, skip={"password"})
    assert changes == {"note": "[REDACTED:email]"}
    assert counts == {"email": 1}


def test_the_clean_field_cache_is_bounded_and_skips_what_never_repeats() -> None:
    from otel_distro.scrubbing._engine import _CLEAN_CACHE_TEXT_MAX, _CLEAN_PAIRS_MAX  # noqa: PLC0415

    scrubber = Scrubber()
    for i in range(_CLEAN_PAIRS_MAX * 2 + 10):
        scrubber.scrub_fields({"url.path": f"/api/items/{i}", "http.response.status_code": i})
        assert len(scrubber._clean_pairs) <= _CLEAN_PAIRS_MAX
    scrubber._clean_pairs.clear()
    scrubber.scrub_fields({"request_id": "x" * 40, "duration_ms": 1.5, "url.path": "/a" * _CLEAN_CACHE_TEXT_MAX})
    scrubber.scrub_fields({"request_id": "y" * 40})
    assert ("request_id", "y" * 40) not in scrubber._clean_pairs  # never-touched key: its values are not kept
    assert not any(key == "url.path" for key, _ in scrubber._clean_pairs)  # too long to keep


def test_scrub_fields_from_threads_agree() -> None:
    scrubber = Scrubber()
    expected = _one_by_one(Scrubber(), TRICKY_FIELDS)
    results: list[bool] = []

    def work() -> None:
        for i in range(300):
            results.append(_through_scrub_fields(scrubber, TRICKY_FIELDS) == expected)
            scrubber.scrub_fields({"url.path": f"/api/items/{threading.get_ident()}/{i}"})

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(results) and len(results) == 1200


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        (r"a(b)c", r"a(?:b)c"),
        (r"\(x\)(y)", r"\(x\)(?:y)"),
        (r"[(](z)", r"[(](?:z)"),
        (r"[]()](q)", r"[]()](?:q)"),
        (r"[^]()](q)", r"[^]()](?:q)"),
        (r"(?i)(?:a|(b))(?P<n>c)", r"(?i)(?:a|(?:b))(?P<n>c)"),
    ],
)
def test_a_rules_locator_has_the_same_matches_without_groups(pattern: str, expected: str) -> None:
    from otel_distro.scrubbing._engine import _without_groups  # noqa: PLC0415

    assert _without_groups(pattern) == expected


def test_every_default_rule_with_groups_gets_a_group_free_locator() -> None:
    from re2 import _re2  # noqa: PLC0415

    from otel_distro.scrubbing._engine import _options, _without_groups  # noqa: PLC0415

    for rule in Scrubber().rules:
        locator = _re2.RE2(_without_groups(rule.pattern).encode(), _options())
        assert locator.ok(), rule.name
        assert locator.NumberOfCapturingGroups() == 0, rule.name


@pytest.mark.parametrize(("line", "expected"), [
    ("version 1.2.3.4 v2.0.0.1 build=10.0.0.1", "version 1.2.3.4 v2.0.0.1 build=10.0.0.1"),
    ("dev 10.0.0.7", "dev [REDACTED:ipv4]"),  # a word ending in "v" is not a version marker
    # found by the idempotence property: a token ending in "v" hid the address, until the token was redacted
    ('"hf": "hf_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaav"10.0.0.1',
     '"hf": "[REDACTED:huggingface_token]"[REDACTED:ipv4]'),
])
def test_a_version_marker_is_a_whole_word(line: str, expected: str) -> None:
    scrubber = default_scrubber()
    assert scrubber.scrub_value(line) == expected
    assert scrubber.scrub_value(expected) == expected


def test_digits_next_to_a_redacted_number_are_read_again() -> None:
    # found by the idempotence property: once "0201 0000 0000" is a phone, the "0201000" after it stands alone and
    # is a phone too; scrubbing the output again must find nothing more
    scrubber = default_scrubber()
    once = scrubber.scrub_value("ES72 1000 0201 0000 0000 0201000")
    assert once == "ES72 1000 [REDACTED:phone] [REDACTED:phone]"
    assert scrubber.scrub_value(once) == once


def test_a_pseudonym_under_a_phone_key_is_not_a_phone() -> None:
    # found by the idempotence property: the hex digits of `[person:...]` made the value of `phone` look like a
    # number on the second pass
    scrubber = default_scrubber(b"0123456789abcdef0123456789abcdef")
    once = scrubber.scrub_value({"phone": "my name is John Smith"})
    assert once["phone"].startswith("my name is [person:")
    assert scrubber.scrub_value(once) == once
    assert scrubber.scrub_value({"phone": "+1 415 555 0100"})["phone"].startswith("[phone:")
