"""A labelled, seeded corpus of realistic telemetry text, and the scorer that measures the engine on it.

Every record plants sensitive values (the kinds the engine must find) and keep values (trace ids, UUIDs,
timestamps, versions, hashes, routes, ids that fail a checksum, SQL, ...) into one of several shapes: log lines,
logfmt, JSON, URLs with query strings, HTTP headers, SQL, exception tracebacks, analytics properties, Turkish
and German prose (`COMMON_SHAPES`); and the shapes of issue 14's misses (`SECRET_SHAPES`): SQL DDL with
passwords and bound parameters, environment dumps, access logs, cookie maps, AWS credentials files. A value is
*recalled* when its text (as rendered in the record) is gone from the output —
and, for names, every word of it; *strictly* recalled when, moreover, no piece of it survives (no run of
`STRICT_WINDOW` characters of the value is in the output more often than in the rest of the input: a token
masked in part is a leak); it is *kept* when its text is still there verbatim.

Run ``python -m otel_distro.scrubbing._corpus [--records N] [--seed S]`` for the report.
"""

# ruff: noqa: RUF001, S311
# (Turkish text is the point here, and the generator's randomness is for reproducible test data, not secrets.)
from __future__ import annotations

import argparse
import base64
import ipaddress
import json
import random
import re
import string
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import quote

import phonenumbers
from phonenumbers import PhoneNumberFormat, PhoneNumberType

from otel_distro.scrubbing._engine import Scrubber, default_scrubber
from otel_distro.scrubbing._validators import card_number_ok, luhn_ok, tckn_ok

__all__ = ["Record", "Score", "generate", "score"]

ALNUM = string.ascii_letters + string.digits
STRICT_WINDOW = 5
_PLACEHOLDER = re.compile(r"\[(?:REDACTED:[a-z0-9_]+|[a-z0-9_]+:[0-9a-f]{16})\]")


@dataclass(slots=True)
class Record:
    text: str
    shape: str
    sensitive: list[tuple[str, str]] = field(default_factory=list)  # (kind, rendered value)
    keep: list[tuple[str, str]] = field(default_factory=list)


@dataclass(slots=True)
class Score:
    recall: dict[str, tuple[int, int]]  # kind -> (found, planted)
    keep: dict[str, tuple[int, int]]  # kind -> (kept, planted)
    missed: list[tuple[str, str, str]]  # (kind, value, output)
    broken: list[tuple[str, str, str]]
    bytes_in: int
    seconds: float
    strict: dict[str, tuple[int, int]] = field(default_factory=dict)  # kind -> (found whole, planted)
    leaked: list[tuple[str, str, str]] = field(default_factory=list)  # recalled, but a piece of it survived

    def rate(self, table: dict[str, tuple[int, int]]) -> float:
        hit = sum(a for a, _ in table.values())
        total = sum(b for _, b in table.values())
        return hit / total if total else 1.0

    @property
    def recall_rate(self) -> float:
        return self.rate(self.recall)

    @property
    def strict_rate(self) -> float:
        return self.rate(self.strict)

    @property
    def keep_rate(self) -> float:
        return self.rate(self.keep)

    @property
    def mb_per_s(self) -> float:
        return self.bytes_in / self.seconds / 1e6 if self.seconds else 0.0

    def report(self) -> str:
        lines = [f"{'kind':<20} {'recall':>8} {'n':>6}"]
        for kind, (hit, n) in sorted(self.recall.items()):
            lines.append(f"{kind:<20} {hit / n:>8.4f} {n:>6}")
        lines.append(f"{'ALL sensitive':<20} {self.recall_rate:>8.4f}")
        lines.append(f"{'ALL strict':<20} {self.strict_rate:>8.4f}")
        lines.append("")
        lines.append(f"{'kind':<20} {'keep':>8} {'n':>6}")
        for kind, (hit, n) in sorted(self.keep.items()):
            lines.append(f"{kind:<20} {hit / n:>8.4f} {n:>6}")
        lines.append(f"{'ALL keep':<20} {self.keep_rate:>8.4f}")
        lines.append("")
        lines.append(f"throughput: {self.bytes_in / 1e6:.2f} MB in {self.seconds:.3f} s CPU = {self.mb_per_s:.1f} MB/s")
        return "\n".join(lines)


# --- value generators --------------------------------------------------------------------------------------------

FIRST = ["John", "Emily", "Michael", "Sarah", "Ayşe", "Mehmet", "Elif", "Mustafa", "Zeynep", "Jürgen", "Lukas",
         "Anna", "Sophie", "Oğuz", "Çağla", "Gökhan", "Hannah", "Maximilian", "Olivia", "Burak"]
LAST = ["Smith", "Johnson", "Brown", "Yılmaz", "Kaya", "Demir", "Şahin", "Çelik", "Öztürk", "Müller", "Schmidt",
        "Schneider", "Fischer", "Weber", "Wagner", "Taylor", "Williams", "Arslan", "Doğan", "Becker"]
DOMAINS = ["example.com", "mail.example.org", "firma.com.tr", "beispiel.de", "company.co.uk", "gmail.com",
           "örnek.com.tr", "uni-berlin.de"]


def _rand(rng: random.Random, n: int, alphabet: str = ALNUM) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def _email(rng: random.Random) -> str:
    first = rng.choice(FIRST).lower()
    last = rng.choice(LAST).lower()
    if rng.random() < 0.7:
        first = first.translate(str.maketrans("şçğıöüä", "scgioua"))
        last = last.translate(str.maketrans("şçğıöüä", "scgioua"))
    sep = rng.choice([".", "_", "", "-"])
    tag = rng.choice(["", "", "+test", str(rng.randint(1, 99))])
    domain = rng.choice(DOMAINS) if rng.random() < 0.9 else "example.com"
    address = f"{first}{sep}{last}{tag}@{domain}"
    return address.upper() if rng.random() < 0.05 else address


_PHONE_TYPES = {"TR": [PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE], "US": [PhoneNumberType.FIXED_LINE],
                "DE": [PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE],
                "GB": [PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE]}


def _phone(rng: random.Random) -> str:
    region = rng.choice(list(_PHONE_TYPES))
    example = phonenumbers.example_number_for_type(region, rng.choice(_PHONE_TYPES[region]))
    if example is None:
        raise LookupError(f"libphonenumber has no example number for {region}")
    national = str(example.national_number)
    for _ in range(50):
        candidate = national[:-4] + _rand(rng, 4, string.digits)
        number = phonenumbers.parse("+" + str(example.country_code) + candidate, None)
        if phonenumbers.is_valid_number(number):
            break
    fmt = rng.random()
    if fmt < 0.25:
        return phonenumbers.format_number(number, PhoneNumberFormat.E164)
    if fmt < 0.5:
        return phonenumbers.format_number(number, PhoneNumberFormat.INTERNATIONAL)
    if fmt < 0.6:
        text = phonenumbers.format_number(number, PhoneNumberFormat.INTERNATIONAL)
        return rng.choice([text.replace("+", "00", 1), text.replace(" ", "-"),
                           text.replace(" ", " (0) ", 1) if region in ("GB", "DE") else text])
    text = phonenumbers.format_number(number, PhoneNumberFormat.NATIONAL)
    if region == "TR" and rng.random() < 0.4:
        digits = "".join(ch for ch in text if ch.isdigit())
        text = rng.choice([f"0 {digits[1:4]} {digits[4:7]} {digits[7:9]} {digits[9:]}", digits])
    if region == "US" and rng.random() < 0.5:
        d = "".join(ch for ch in text if ch.isdigit())
        text = rng.choice([f"{d[:3]}-{d[3:6]}-{d[6:]}", f"{d[:3]}.{d[3:6]}.{d[6:]}"])
    return text


def _ipv4(rng: random.Random) -> str:
    first = rng.choice([rng.randint(1, 126), rng.randint(128, 223), 10, 172, 192])
    return ".".join(str(x) for x in (first, rng.randint(0, 255), rng.randint(0, 255), rng.randint(1, 254)))


def _ipv6(rng: random.Random) -> str:
    if rng.random() < 0.2:  # a network address, compressed to end in `::`
        return ":".join(f"{g:x}" for g in [0x2001, 0xDB8, rng.getrandbits(16)][: rng.randint(2, 3)]) + "::"
    addr = ipaddress.IPv6Address((0x20010DB8 << 96) | rng.getrandbits(96))
    return addr.compressed if rng.random() < 0.7 else addr.exploded


def _ssn(rng: random.Random) -> str:
    return f"{rng.randint(1, 665):03d}-{rng.randint(1, 99):02d}-{rng.randint(1, 9999):04d}"


def _tckn(rng: random.Random) -> str:
    d = [rng.randint(1, 9)] + [rng.randint(0, 9) for _ in range(8)]
    d.append(((d[0] + d[2] + d[4] + d[6] + d[8]) * 7 - (d[1] + d[3] + d[5] + d[7])) % 10)
    d.append(sum(d) % 10)
    return "".join(map(str, d))


def _luhn_complete(prefix: str, length: int, rng: random.Random) -> str:
    body = prefix + _rand(rng, length - len(prefix) - 1, string.digits)
    for check in string.digits:
        if luhn_ok(body + check):
            return body + check
    raise AssertionError("unreachable")


def _card(rng: random.Random) -> str:
    prefix, length = rng.choice([("4", 16), ("51", 16), ("55", 16), ("2221", 16), ("2720", 16), ("34", 15),
                                 ("37", 15), ("9792", 16), ("6011", 16), ("35", 16)])
    if prefix == "35":
        prefix = str(rng.randint(3528, 3589))
    number = _luhn_complete(prefix, length, rng)
    style = rng.random()
    if style < 0.4:
        return number
    sep = " " if style < 0.7 else "-"
    groups = [number[:4], number[4:10], number[10:]] if length == 15 else [number[i:i + 4] for i in range(0, 16, 4)]
    return sep.join(groups)


_IBAN_SPECS = {"TR": (5, 17, "n"), "DE": (8, 10, "n"), "GB": (4, 14, "bn"), "FR": (10, 13, "n"), "NL": (4, 10, "bn"),
               "ES": (8, 12, "n"), "IT": (11, 12, "cn")}


def _iban(rng: random.Random) -> str:
    country = rng.choice(list(_IBAN_SPECS))
    a, b, style = _IBAN_SPECS[country]
    if style == "bn":
        bban = _rand(rng, 4, string.ascii_uppercase) + _rand(rng, a + b - 4, string.digits)
    elif style == "cn":
        bban = rng.choice(string.ascii_uppercase) + _rand(rng, a + b - 1, string.digits)
    else:
        bban = _rand(rng, a + b, string.digits)
        if country == "TR":
            bban = bban[:5] + "0" + bban[6:]
    if country == "FR":
        bban = bban[:23]
    numeric = "".join(str(int(ch, 36)) for ch in bban + country + "00")
    check = 98 - int(numeric) % 97
    iban = f"{country}{check:02d}{bban}"
    return " ".join(iban[i:i + 4] for i in range(0, len(iban), 4)) if rng.random() < 0.5 else iban


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _jwt(rng: random.Random) -> str:
    header = _b64url(b'{"alg":"HS256","typ":"JWT"}')
    payload = _b64url(json.dumps({"sub": str(rng.randint(1, 10**6)), "iat": 1732550400}).encode())
    return f"{header}.{payload}.{_rand(rng, 43, ALNUM + '-_')}"


def _pem(rng: random.Random) -> str:
    lines = [_rand(rng, 64, ALNUM + "+/") for _ in range(4)]
    return "\\n".join(["-----BEGIN RSA PRIVATE KEY-----", *lines, "-----END RSA PRIVATE KEY-----"])


def _basic(rng: random.Random) -> str:
    return base64.b64encode(f"{rng.choice(FIRST).lower()}:{_secret_value(rng)}".encode()).decode()


def _secret(rng: random.Random) -> tuple[str, str, str]:
    key, value = rng.choice(SECRET_KEYS), _secret_value(rng)
    form = rng.choice(["{k}={v}", "{k}: {v}", '"{k}": "{v}"', "{k}='{v}'", "--{k} {v}", "{k} => {v}"])
    return form.format(k=key, v=value), value, key


def _person(rng: random.Random) -> tuple[str, str, str]:
    name = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
    phrase = rng.choice(["my name is", "Sayın", "Herr", "Frau", "Mr.", "benim adım", "mein Name ist"])
    return f"{phrase} {name}", name, rng.choice(["full_name", "customer_name", "ad_soyad"])


SECRET_KEYS = ["password", "passwd", "db_password", "client_secret", "api_key", "apiKey", "X-Api-Key", "secret",
               "access_token", "refreshToken", "şifre", "parola", "Passwort", "Kennwort", "auth_token",
               "private-key", "SESSION_ID", "csrf_token", "MYSQL_PWD", "PGPASSWORD", "ORACLE_PWD", "smtp_pass",
               "laravel_session", "connect.sid", "rack.session"]
SESSION_COOKIES = ["sessionid", "laravel_session", "connect.sid", "JSESSIONID", "PHPSESSID", "ASP.NET_SessionId",
                   "_session_id", "rack.session", "_app_session", "ci_session", "koa.sess"]


def _secret_value(rng: random.Random) -> str:
    return rng.choice(ALNUM) + _rand(rng, rng.randint(7, 23), ALNUM + "!#$%*+-_.@")


# kind -> generator of (free-text fragment, planted value, key for key=value shapes)
Sensitive = Callable[[random.Random], tuple[str, str, str]]

SENSITIVE: dict[str, Sensitive] = {
    "email": lambda r: (v := _email(r), v, "email"),
    "phone": lambda r: (v := _phone(r), v, r.choice(["phone", "mobile", "telefon"])),
    "ipv4": lambda r: (v := _ipv4(r), v, r.choice(["client_ip", "peer"])),
    "ipv6": lambda r: (v := _ipv6(r), v, "client_addr"),
    "ssn": lambda r: (v := _ssn(r), v, "ssn"),
    "tckn": lambda r: (v := _tckn(r), v, r.choice(["tckn", "kimlik_no", "national_id"])),
    "person": _person,
    "credit_card": lambda r: (v := _card(r), v, r.choice(["card", "pan"])),
    "iban": lambda r: (v := _iban(r), v, "iban"),
    "jwt": lambda r: (v := _jwt(r), v, "id_token"),
    "bearer_token": lambda r: (f"Authorization: Bearer {(v := _rand(r, 32, ALNUM + '-_'))}", v, "authorization"),
    "basic_auth": lambda r: (f"Authorization: Basic {(v := _basic(r))}", v, "authorization"),
    "cookie": lambda r: (f"Cookie: {r.choice(SESSION_COOKIES)}={(v := _rand(r, 32, ALNUM))}; theme=dark", v,
                         "cookie"),
    "url_password": lambda r: (f"postgres://app:{(v := _rand(r, 16, ALNUM + '!$*'))}@db.internal:5432/app", v,
                               "dsn"),
    "private_key": lambda r: (v := _pem(r), v.split("\\n")[2], "private_key"),
    "aws_access_key": lambda r: (v := "AKIA" + _rand(r, 16, string.ascii_uppercase + string.digits), v, "aws_key"),
    "aws_secret_key": lambda r: (f"aws_secret_access_key={(v := _rand(r, 40, ALNUM + '/+'))}", v,
                                 "aws_secret_access_key"),
    "github_token": lambda r: (v := r.choice(["ghp_" + _rand(r, 36), f"github_pat_{_rand(r, 22)}_{_rand(r, 59)}"]),
                               v, "gh"),
    "stripe_key": lambda r: (v := r.choice(["sk_live_", "rk_live_", "whsec_"]) + _rand(r, 24), v, "stripe"),
    "slack_token": lambda r: (v := r.choice([
        f"xoxb-{_rand(r, 12, string.digits)}-{_rand(r, 13, string.digits)}-{_rand(r, 24)}",
        f"xapp-1-A{_rand(r, 10, string.ascii_uppercase + string.digits)}-{_rand(r, 13, string.digits)}-"
        f"{_rand(r, 64, '0123456789abcdef')}"]),
                              v, "slack"),
    "google_api_key": lambda r: (v := "AIza" + _rand(r, 35, ALNUM + "-_"), v, "google"),
    "gitlab_token": lambda r: (v := "glpat-" + _rand(r, 20, ALNUM + "-_"), v, "gitlab"),
    "openai_key": lambda r: (v := "sk-proj-" + _rand(r, 20) + "T3BlbkFJ" + _rand(r, 20), v, "openai"),
    "npm_token": lambda r: (v := "npm_" + _rand(r, 36), v, "npm"),
    "sendgrid_key": lambda r: (v := f"SG.{_rand(r, 22, ALNUM + '-_')}.{_rand(r, 43, ALNUM + '-_')}", v, "sendgrid"),
    "huggingface_token": lambda r: (v := "hf_" + _rand(r, 34), v, "hf"),
    "secret": _secret,
    "password_hash": lambda r: (v := "$2b$12$" + _rand(r, 53, ALNUM + "./"), v, "hash"),
}


def _non_luhn_16(rng: random.Random) -> str:
    while True:
        v = rng.choice("123456789") + _rand(rng, 15, string.digits)
        if not card_number_ok(v):
            return v


def _non_tckn_11(rng: random.Random) -> str:
    while True:
        v = rng.choice("123456789") + _rand(rng, 10, string.digits)
        if not tckn_ok(v):
            return v


def _iso(rng: random.Random) -> str:
    base = f"2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
    clock = f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}"
    return rng.choice([f"{base}T{clock}.{rng.randint(0, 999):03d}Z", f"{base} {clock},{rng.randint(0, 999):03d}",
                       f"{base}T{clock}+03:00", f"{base}T{clock}.{rng.randint(0, 999999):06d}+00:00"])


Keep = Callable[[random.Random], tuple[str, str]]  # (value, key)

KEEP: dict[str, Keep] = {
    "trace_id": lambda r: (f"{r.getrandbits(128):032x}", "trace_id"),
    "span_id": lambda r: (f"{r.getrandbits(64):016x}", "span_id"),
    "traceparent": lambda r: (f"00-{r.getrandbits(128):032x}-{r.getrandbits(64):016x}-01", "traceparent"),
    "uuid": lambda r: (str(uuid.UUID(int=r.getrandbits(128), version=4)), r.choice(["order_uuid", "job", "req"])),
    "timestamp": lambda r: (_iso(r), "ts"),
    "epoch_s": lambda r: (str(r.randint(1_600_000_000, 1_800_000_000)), "epoch"),
    "epoch_ms": lambda r: (str(r.randint(1_600_000_000_000, 1_800_000_000_000)), "ts_ms"),
    "epoch_ns": lambda r: (str(r.randint(1_600_000_000_000_000_000, 1_800_000_000_000_000_000)), "time_unix_nano"),
    "duration": lambda r: (r.choice([f"{r.uniform(0, 999):.1f}ms", f"{r.uniform(0, 60):.3f}s", f"{r.randint(1, 999)}µs",
                                     f"{r.randint(1, 59)}m{r.randint(1, 59)}s"]), "duration"),
    "version": lambda r: (r.choice([f"v{r.randint(0, 9)}.{r.randint(0, 30)}.{r.randint(0, 30)}",
                                    f"{r.randint(1, 5)}.{r.randint(0, 40)}.{r.randint(0, 9)}-rc.{r.randint(1, 5)}",
                                    f"{r.randint(1, 3)}.{r.randint(0, 99)}.{r.randint(0, 9)}.{r.randint(256, 9999)}"]),
                          "version"),
    "port": lambda r: (str(r.choice([80, 443, 4317, 4318, 5432, 6379, 8080, 8443, 9090])), "port"),
    "status_code": lambda r: (str(r.choice([200, 201, 204, 301, 400, 401, 403, 404, 429, 500, 502, 503])), "status"),
    "sha256": lambda r: (f"{r.getrandbits(256):064x}", "digest"),
    "git_sha": lambda r: (f"{r.getrandbits(160):040x}", "commit"),
    "route": lambda r: (r.choice(["/api/v1/users/{id}/orders", "/api/v2/chat/messages", "/health/detailed",
                                  f"/api/v1/orders/{r.randint(1, 99999)}/items", "/images/generate",
                                  f"/static/js/main.{r.getrandbits(32):08x}.js"]), "route"),
    "hostname": lambda r: (r.choice(["api.example.com", "db-primary.internal", "redis.cache.svc.cluster.local",
                                     "otel-collector.observability.svc"]), "host"),
    "pod_name": lambda r: (f"checkout-{r.getrandbits(40):010x}-{_rand(r, 5, string.ascii_lowercase + string.digits)}",
                           "k8s.pod.name"),
    "node_name": lambda r: (f"ip-10-{r.randint(0, 255)}-{r.randint(0, 255)}-{r.randint(1, 254)}"
                            ".eu-west-1.compute.internal", "k8s.node.name"),
    "package": lambda r: (r.choice(["requests==2.31.0", "lodash@4.17.21", "@types/node@20.11.5", "numpy>=1.26",
                                    "opentelemetry-sdk==1.38.0", "react@18.2.0"]), "package"),
    "id16_non_luhn": lambda r: (_non_luhn_16(r), "order_id"),
    "id11_non_tckn": lambda r: (_non_tckn_11(r), "customer_no"),
    "user_agent": lambda r: (r.choice([
        f"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        f"Chrome/{r.randint(100, 131)}.0.0.0 Safari/537.36",
        f"python-requests/2.{r.randint(20, 32)}.0", f"okhttp/4.{r.randint(1, 12)}.{r.randint(0, 9)}"]), "user_agent"),
    "mac_address": lambda r: (":".join(f"{r.getrandbits(8):02x}" for _ in range(6)), "mac"),
    "image_digest": lambda r: (f"ghcr.io/acme/api@sha256:{r.getrandbits(256):064x}", "image"),
    "image_ref": lambda r: (f"{r.choice(['registry', 'registry.example.com:5000', 'docker.io/library'])}/"
                            f"{r.choice(['app', 'api', 'redis'])}:{r.randint(1, 9)}.{r.randint(0, 9)}.{r.randint(0, 9)}"
                            f"@sha256:{r.getrandbits(256):064x}", "image"),
    "amount": lambda r: (f"{r.randint(1, 99999)}.{r.randint(0, 99):02d}", "amount"),
    "clock": lambda r: (f"{r.randint(0, 23):02d}:{r.randint(0, 59):02d}:{r.randint(0, 59):02d}.{r.randint(0, 999):03d}",
                        "elapsed"),
    "sql": lambda r: (r.choice(["SELECT id, email, phone FROM users WHERE id = $1 AND status = 'active'",
                                "UPDATE accounts SET balance = balance - %s WHERE iban = %s",
                                "INSERT INTO messages (chat_id, body) VALUES (?, ?)"]), "db.statement"),
}

_WORDS_EN = ["user", "request", "failed", "completed", "payment", "for", "order", "login", "from", "retry", "upstream"]
_WORDS_TR = ["kullanıcı", "giriş", "yaptı", "ödeme", "başarısız", "sipariş", "için", "müşteri", "bilgileri"]
_WORDS_DE = ["Benutzer", "hat", "sich", "angemeldet", "Zahlung", "fehlgeschlagen", "Bestellung", "für", "Kunde"]


def _prose(rng: random.Random, words: list[str], fragments: list[str]) -> str:
    parts: list[str] = []
    for fragment in fragments:
        parts.extend(rng.sample(words, 2))
        parts.append(fragment)
    parts.extend(rng.sample(words, 2))
    return " ".join(parts)


#: The everyday shapes of telemetry (the realistic mix of `bench/bench_scrub.py` is made of these).
COMMON_SHAPES = ("log", "logfmt", "json", "url", "headers", "sql", "exception", "analytics", "turkish", "german")
#: Shapes added for issue 14's misses: each carries a secret of its own when the record carries any.
SECRET_SHAPES = ("sql_ddl", "env", "access_log", "cookies", "aws_credentials")
SHAPES = COMMON_SHAPES + SECRET_SHAPES


def generate(n: int = 2000, seed: int = 7, pii_rate: float = 1.0,
             shapes: tuple[str, ...] = SHAPES) -> list[Record]:
    """`n` records, the same ones for the same seed; a share `pii_rate` of them carries sensitive values (the
    rest only keep values, as most telemetry does), cycling through `shapes`."""
    if not shapes or not set(shapes) <= set(SHAPES):
        raise ValueError(f"shapes must be a non-empty subset of {SHAPES}, got {shapes}")
    rng = random.Random(seed)
    kinds = sorted(SENSITIVE)
    keep_kinds = sorted(KEEP)
    records: list[Record] = []
    for i in range(n):
        shape = shapes[i % len(shapes)]
        picks = [rng.choice(kinds) for _ in range(rng.randint(1, 3))] if rng.random() < pii_rate else []
        keeps = [rng.choice(keep_kinds) for _ in range(rng.randint(2, 4))]
        sens = [(k, *SENSITIVE[k](rng)) for k in picks]
        kept = [(k, *KEEP[k](rng)) for k in keeps]
        records.append(_render(rng, shape, sens, kept))
    return records


def _render(rng: random.Random, shape: str, sens: list[tuple[str, str, str, str]],
            kept: list[tuple[str, str, str]]) -> Record:
    rec = Record("", shape)
    extra = _EXTRA_SHAPES.get(shape)
    if extra is not None:
        return extra(rng, rec, sens, kept)
    if shape in ("json", "analytics"):
        obj: dict[str, object] = {"event": "checkout_completed" if shape == "analytics" else "request"}
        props: dict[str, object] = {}
        for kind, fragment, value, key in sens:
            if kind in ("bearer_token", "basic_auth", "cookie", "aws_secret_key", "secret", "person"):
                props[f"{key}_{len(props)}" if key in props else key] = value if kind in ("secret", "person") \
                    else fragment
            else:
                props[f"note_{len(props)}"] = f"value {fragment}"
            rec.sensitive.append((kind, json.dumps(value, ensure_ascii=False)[1:-1]))
        for kind, value, key in kept:
            props[key if key not in props else f"{key}_{len(props)}"] = value
            rec.keep.append((kind, value))
        obj["properties" if shape == "analytics" else "attributes"] = props
        rec.text = json.dumps(obj, ensure_ascii=False)
        return rec
    if shape == "url":
        query = []
        for kind, fragment, value, key in sens:
            if kind == "url_password":
                query.append(f"{key}={quote(fragment, safe='')}")
            elif kind == "secret":
                query.append(f"{quote(key, safe='')}={quote(value, safe='')}")
            else:
                query.append(f"{key}={quote(value, safe='')}")
            rec.sensitive.append((kind, quote(value, safe="")))
        for kind, value, key in kept:
            query.append(f"{key}={quote(value, safe='')}")
            rec.keep.append((kind, quote(value, safe="")))
        rng.shuffle(query)
        rec.text = f"GET https://api.example.com/api/v1/search?{'&'.join(query)} HTTP/1.1"
        return rec
    if shape == "logfmt":
        pairs = [f"ts={_iso(rng).replace(' ', 'T')}", "level=info"]
        for kind, fragment, value, key in sens:
            if kind in ("person",):
                pairs.append(f'{key}="{value}"')
            elif kind in ("secret",):
                pairs.append(fragment)
            elif kind in ("private_key", "bearer_token", "basic_auth", "cookie", "aws_secret_key", "url_password"):
                pairs.append(f'detail="{fragment}"')
            else:
                pairs.append(f"{key}={value}" if " " not in value else f'{key}="{value}"')
            rec.sensitive.append((kind, value))
        for kind, value, key in kept:
            pairs.append(f"{key}={value}" if " " not in value else f'{key}="{value}"')
            rec.keep.append((kind, value))
        rng.shuffle(pairs)
        rec.text = " ".join(pairs)
        return rec
    if shape == "headers":
        headers = ["Host: api.example.com", "User-Agent: Mozilla/5.0 Chrome/120.0.0.0 Safari/537.36"]
        for kind, fragment, value, _key in sens:
            headers.append(fragment if fragment.startswith(("Authorization", "Cookie")) else f"X-Debug: {fragment}")
            rec.sensitive.append((kind, value))
        for kind, value, key in kept:
            headers.append(f"X-{key.replace('.', '-').title()}: {value}")
            rec.keep.append((kind, value))
        rec.text = "\r\n".join(headers) if rng.random() < 0.5 else " | ".join(headers)
        return rec
    if shape == "sql":
        parts = []
        for kind, fragment, value, key in sens:
            in_url = kind in ("private_key", "url_password")
            parts.append(f"note = '{fragment}'" if in_url else f"{key} = '{value}'")
            rec.sensitive.append((kind, value))
        kept_parts = []
        for kind, value, key in kept:
            if kind == "sql":
                kept_parts.append(value)
            else:
                parts.append(f"{key.replace('.', '_')} = '{value}'")
            rec.keep.append((kind, value))
        rec.text = f"SELECT * FROM users WHERE {' AND '.join(parts)} LIMIT 10; {' ; '.join(kept_parts)}"  # noqa: S608
        return rec
    fragments = [f[1] for f in sens] + [f"{k[2]}={k[1]}" if rng.random() < 0.5 else k[1] for k in kept]
    rng.shuffle(fragments)
    for kind, _fragment, value, _key in sens:
        rec.sensitive.append((kind, value))
    for kind, value, _key in kept:
        rec.keep.append((kind, value))
    if shape == "exception":
        rec.text = (f"Traceback (most recent call last):\n  File \"/app/payments/service.py\", line "
                    f"{rng.randint(10, 900)}, in charge\n    raise PaymentError(msg)\n"
                    f"payments.errors.PaymentError: {_prose(rng, _WORDS_EN, fragments)}")
    elif shape == "turkish":
        rec.text = _prose(rng, _WORDS_TR, fragments)
    elif shape == "german":
        rec.text = _prose(rng, _WORDS_DE, fragments)
    else:
        rec.text = f"{_iso(rng)} INFO app.api {_prose(rng, _WORDS_EN, fragments)}"
    return rec


def _leaks(value: str, before: str, after: str) -> bool:
    """True when a run of `STRICT_WINDOW` characters of `value` is in `after` (placeholders taken out) more
    often than in `before` (the input with every planted value taken out)."""
    if len(value) <= STRICT_WINDOW:
        return False  # recall already decided it
    seen: set[str] = set()
    for i in range(len(value) - STRICT_WINDOW + 1):
        window = value[i : i + STRICT_WINDOW]
        if window in seen or window.isspace():
            continue
        seen.add(window)
        if after.count(window) > before.count(window):
            return True
    return False


# Kinds whose value is only sensitive in its context (`Bearer ...`, `scheme://user:...@`): rendered as the fragment.
_IN_CONTEXT = frozenset({"private_key", "bearer_token", "basic_auth", "cookie", "url_password", "aws_secret_key"})


def _plant(rec: Record, sens: list[tuple[str, str, str, str]], kept: list[tuple[str, str, str]],
           fmt: Callable[[str, str, str, str], str]) -> list[str]:
    """Each value rendered by `fmt(kind, fragment, value, key)` and recorded; keep values as `key=value`."""
    parts = []
    for kind, fragment, value, key in sens:
        parts.append(fmt(kind, fragment, value, key))
        rec.sensitive.append((kind, value))
    for kind, value, key in kept:
        parts.append(f"{key}={value}" if " " not in value else f'{key}="{value}"')
        rec.keep.append((kind, value))
    return parts


def _password(rng: random.Random) -> str:
    return rng.choice(string.ascii_letters) + _rand(rng, rng.randint(8, 16), ALNUM + "!#%*-_")


def _sql_ddl(rng: random.Random, rec: Record, sens: list[tuple[str, str, str, str]],
             kept: list[tuple[str, str, str]]) -> Record:
    """DDL that sets a password, then DML with bound parameters (structure) and literal values."""
    pw = _password(rng)
    ddl = rng.choice(["CREATE USER app_rw WITH PASSWORD '{p}'", "ALTER ROLE reporting ENCRYPTED PASSWORD '{p}'",
                      "CREATE USER 'etl'@'%' IDENTIFIED BY '{p}'", "ALTER USER SCOTT IDENTIFIED BY {p}",
                      "SET PASSWORD FOR 'app'@'localhost' = PASSWORD('{p}')"])
    if "IDENTIFIED BY {p}" in ddl:
        pw = pw.replace("#", "").replace("%", "").replace("*", "")
    if sens:  # a record chosen to carry personal data; the others (realistic mixes) get DDL without secrets
        rec.sensitive.append(("secret", pw))
    else:
        ddl = rng.choice(["CREATE INDEX ix_users_email ON users (email)", "ALTER ROLE reporting SET search_path = app",
                          "GRANT SELECT ON orders TO app_ro"])
    param = rng.choice(["%(hashed_password)s::VARCHAR", "%s", "$2", ":password", "?"])
    name_param = rng.choice(["%(full_name)s", "$3", ":full_name", "?"])
    rec.keep += [("sql_param", f"hashed_password={param}"), ("sql_param", f"full_name={name_param}")]
    literals = _plant(rec, sens, [k for k in kept if k[0] != "sql"],
                      lambda kind, frag, value, key: f"note = '{frag}'" if kind in ("private_key", "url_password")
                      else f"{key} = '{value}'")
    rec.text = (f"{ddl.format(p=pw)}; UPDATE users SET hashed_password={param}, full_name={name_param} "  # noqa: S608
                f"WHERE {' AND '.join(literals) or 'id = $1'}")
    return rec


def _env(rng: random.Random, rec: Record, sens: list[tuple[str, str, str, str]],
         kept: list[tuple[str, str, str]]) -> Record:
    """An environment dump: `KEY=value` lines, joined by newlines, escaped newlines or spaces."""
    key, pw = rng.choice(["MYSQL_PWD", "PGPASSWORD", "DB_PWD", "RABBITMQ_DEFAULT_PASS", "MSSQL_SA_PASSWORD"]), \
        _password(rng)
    host = rng.choice(["cache.internal:6379", "redis.prod.svc:6380"])
    url_pw = _rand(rng, 14, ALNUM + "#!*")
    if sens:
        lines = [f"{key}={pw}", f"{rng.choice(['REDIS_URL', 'CACHE_AUTH', 'BROKER'])}=redis://:{url_pw}@{host}/0"]
        rec.sensitive += [("secret", pw), ("url_password", url_pw)]
        rec.keep.append(("host_port", f"@{host}/0"))
    else:
        lines = [f"REDIS_URL=redis://{host}/0", "LANG=C.UTF-8", f"{key}_FILE=/run/secrets/db"]
    lines += _plant(rec, sens, kept, lambda kind, frag, value, key: f"APP_{key.upper().replace('-', '_')}={value}"
                    if " " not in value and kind not in _IN_CONTEXT else f'APP_DETAIL="{frag}"')
    rec.text = rng.choice(["\n", "\\n", " "]).join(lines)
    return rec


def _access_log(rng: random.Random, rec: Record, sens: list[tuple[str, str, str, str]],
                kept: list[tuple[str, str, str]]) -> Record:
    """A combined-format access line: client address, query string with the values, a phone with text glued."""
    client = (_ipv6(rng) if rng.random() < 0.5 else _ipv4(rng)) if sens else "127.0.0.1"
    if sens:
        rec.sensitive.append(("ipv6" if ":" in client else "ipv4", client))
    query = []
    if sens and rng.random() < 0.4:
        phone, tail = _phone(rng), rng.choice(["x12", "ext7", "_work", "-home"])
        query.append(f"phone={quote(phone, safe='+')}{tail}")
        rec.sensitive.append(("phone", quote(phone, safe="+")))
        rec.keep.append(("glued_tail", f"{tail}&"))
    query += _plant(rec, [], kept, lambda *_: "")
    for kind, fragment, value, key in sens:
        text = fragment if kind in ("url_password", "private_key") else value
        query.append(f"{quote(key, safe='')}={quote(text, safe='')}")
        rec.sensitive.append((kind, quote(value, safe="")))
    query.append("page=2")
    rec.text = (f'{client} - - [25/Nov/2024:17:39:55 +0000] "GET /api/v1/search?{"&".join(query)} HTTP/1.1" 200 '
                f'{rng.randint(100, 99999)} "-" "okhttp/4.12.0"')
    return rec


def _cookies(rng: random.Random, rec: Record, sens: list[tuple[str, str, str, str]],
             kept: list[tuple[str, str, str]]) -> Record:
    """Framework session cookies by name: a JSON cookie map, or a Cookie header."""
    jar = {"theme": "dark", "lang": "tr"}
    for name in rng.sample(SESSION_COOKIES, 2) if sens else []:
        jar[name] = value = _rand(rng, 24, ALNUM + "%-.")
        rec.sensitive.append(("cookie", value))
    props: dict[str, object] = {}
    for kind, fragment, value, key in sens:
        props[f"{key}_{len(props)}" if key in props else key] = fragment if kind in _IN_CONTEXT else value
        rec.sensitive.append((kind, json.dumps(value, ensure_ascii=False)[1:-1]))
    for kind, value, key in kept:
        props[key if key not in props else f"{key}_{len(props)}"] = value
        rec.keep.append((kind, value))
    if rng.random() < 0.5:
        rec.text = json.dumps({"request": {"cookies": jar, "attributes": props}}, ensure_ascii=False)
    else:
        header = "; ".join(f"{k}={v}" for k, v in jar.items())
        rec.text = f"Cookie: {header} | " + json.dumps(props, ensure_ascii=False)
    return rec


def _aws_credentials(rng: random.Random, rec: Record, sens: list[tuple[str, str, str, str]],
                     kept: list[tuple[str, str, str]]) -> Record:
    """An AWS credentials file inside a JSON string (escaped newlines), then the record's values."""
    key_id = "AKIA" + _rand(rng, 16, string.ascii_uppercase + string.digits)
    secret = _rand(rng, 40, ALNUM + "/+")
    body = f"[default]\\naws_access_key_id = {key_id}\\naws_secret_access_key = {secret}\\nregion = eu-west-1"
    if sens:
        rec.sensitive += [("aws_access_key", key_id), ("aws_secret_key", secret)]
    else:
        body = "[default]\\nregion = eu-west-1\\noutput = json"
    rec.keep.append(("region", "region = eu-west-1"))
    parts = _plant(rec, sens, kept, lambda kind, frag, value, key: f'detail="{frag}"' if kind in _IN_CONTEXT
                   else f"{key}={value}" if " " not in value else f'{key}="{value}"')
    rec.text = f'{{"file": "~/.aws/credentials", "content": "{body}"}} ' + " ".join(parts)
    return rec


_EXTRA_SHAPES: dict[str, Callable[[random.Random, Record, list[tuple[str, str, str, str]],
                                   list[tuple[str, str, str]]], Record]] = {
    "sql_ddl": _sql_ddl, "env": _env, "access_log": _access_log, "cookies": _cookies,
    "aws_credentials": _aws_credentials,
}


def score(records: list[Record], scrubber: Scrubber | None = None) -> Score:
    engine = scrubber or default_scrubber()
    recall: dict[str, list[int]] = {}
    strict: dict[str, list[int]] = {}
    keep: dict[str, list[int]] = {}
    missed: list[tuple[str, str, str]] = []
    leaked: list[tuple[str, str, str]] = []
    broken: list[tuple[str, str, str]] = []
    texts = [r.text for r in records]
    start = time.process_time()
    outputs = [engine.scrub_text(t) for t in texts]
    seconds = time.process_time() - start
    for rec, out in zip(records, outputs, strict=True):
        rest = rec.text
        for _kind, value in sorted(rec.sensitive, key=lambda kv: -len(kv[1])):
            rest = rest.replace(value, "\0")
        bare = _PLACEHOLDER.sub("\0", out)
        for kind, value in rec.sensitive:
            words = value.split() if kind == "person" else [value]
            found = all(w not in out for w in words)
            slot = recall.setdefault(kind, [0, 0])
            slot[0] += found
            slot[1] += 1
            whole = found and not any(_leaks(w, rest, bare) for w in words)
            slot = strict.setdefault(kind, [0, 0])
            slot[0] += whole
            slot[1] += 1
            if not found:
                missed.append((kind, value, out))
            elif not whole:
                leaked.append((kind, value, out))
        for kind, value in rec.keep:
            ok = value in out
            slot = keep.setdefault(kind, [0, 0])
            slot[0] += ok
            slot[1] += 1
            if not ok:
                broken.append((kind, value, out))
    return Score(
        recall={k: (a, b) for k, (a, b) in recall.items()},
        keep={k: (a, b) for k, (a, b) in keep.items()},
        missed=missed,
        broken=broken,
        bytes_in=sum(len(t.encode()) for t in texts),
        seconds=seconds,
        strict={k: (a, b) for k, (a, b) in strict.items()},
        leaked=leaked,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Score the scrubbing engine on a seeded labelled corpus.")
    parser.add_argument("--records", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--show-misses", type=int, default=0, metavar="N")
    args = parser.parse_args(argv)
    records = generate(args.records, args.seed)
    score(records[:500])  # warm the lazily built RE2 automata, as a running service has them
    result = score(records)
    print(result.report())
    for kind, value, out in result.missed[: args.show_misses]:
        print(f"MISSED {kind}: {value!r}\n   in {out!r}")
    for kind, value, out in result.leaked[: args.show_misses]:
        print(f"LEAKED {kind}: {value!r}\n   in {out!r}")
    for kind, value, out in result.broken[: args.show_misses]:
        print(f"BROKEN {kind}: {value!r}\n   in {out!r}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
