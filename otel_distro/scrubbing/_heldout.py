"""A held-out labelled corpus: twelve shapes of telemetry the tuning corpus (`_corpus`) never renders, with
other templates, other key names and other values, every line carrying personal data or secrets.

It answers "does the engine generalise?", so it must not be tuned on: rules are changed for a *kind* of miss
(added to `_corpus` first), never for a string seen here. Scored with `_corpus.score` (recall, strict, keep).

Shapes: access_log, logfmt, json_log, http_dump, sql, env_dump, traceback, java, k8s_event, credentials,
syslog, support_chat. Run ``python -m otel_distro.scrubbing._heldout [--records N] [--seed S]``.
"""

# ruff: noqa: RUF001, S311
# (Turkish and German text is the point here, and the randomness is for reproducible test data, not secrets.)
from __future__ import annotations

import argparse
import base64
import ipaddress
import json
import random
import string
from collections.abc import Callable
from urllib.parse import quote

import phonenumbers
from phonenumbers import PhoneNumberFormat, PhoneNumberType

from otel_distro.scrubbing._corpus import Record, score
from otel_distro.scrubbing._validators import iban_ok, luhn_ok

__all__ = ["SHAPES", "generate_heldout"]

_LOWER = string.ascii_lowercase + string.digits
_ALNUM = string.ascii_letters + string.digits
_HEX = "0123456789abcdef"

_FIRST = ["Olga", "Carlos", "Fatma", "Hans", "Priya", "Kemal", "Ingrid", "Tobias", "Leyla", "Henrik", "Seda",
          "Marco", "Birgit", "Volkan", "Chloe", "Arda", "Greta", "Nikolai", "Merve", "Dominik"]
_LAST = ["Petrova", "Mendes", "Aydın", "Zimmermann", "Natarajan", "Koç", "Lindqvist", "Hoffmann", "Erdem",
         "Nyström", "Güneş", "Rossi", "Krüger", "Polat", "Dubois", "Keskin", "Vogel", "Ivanov", "Tekin", "Braun"]
_DOMAINS = ["acme.io", "posteo.de", "hotmail.com.tr", "outlook.com", "shop.example.net", "kanzlei-vogel.de",
            "yandex.com.tr", "corp.internal.co"]


def _r(rng: random.Random, n: int, alphabet: str = _ALNUM) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def _ascii(text: str) -> str:
    return text.translate(str.maketrans("ıİşŞğĞüÜöÖçÇäÄ", "iIsSgGuUoOcCaA"))


# --- sensitive values: (value as planted, kind) --------------------------------------------------------------------


def _email(rng: random.Random) -> str:
    first, last = _ascii(rng.choice(_FIRST)).lower(), _ascii(rng.choice(_LAST)).lower()
    local = rng.choice([f"{first}.{last}", f"{first[0]}{last}", f"{last}.{first}{rng.randint(70, 99)}",
                        f"{first}_{last}+orders"])
    return f"{local}@{rng.choice(_DOMAINS)}"


_PHONE_REGIONS = {"TR": PhoneNumberType.MOBILE, "US": PhoneNumberType.FIXED_LINE, "DE": PhoneNumberType.MOBILE,
                  "GB": PhoneNumberType.FIXED_LINE, "FR": PhoneNumberType.MOBILE, "NL": PhoneNumberType.MOBILE,
                  "ES": PhoneNumberType.MOBILE, "IT": PhoneNumberType.MOBILE}


def _phone(rng: random.Random) -> str:
    region = rng.choice(sorted(_PHONE_REGIONS))
    example = phonenumbers.example_number_for_type(region, _PHONE_REGIONS[region])
    if example is None:
        raise LookupError(f"libphonenumber has no example number for {region}")
    national = str(example.national_number)
    number = example
    for _ in range(50):
        candidate = phonenumbers.parse(f"+{example.country_code}{national[:-3]}{_r(rng, 3, string.digits)}", None)
        if phonenumbers.is_valid_number(candidate):
            number = candidate
            break
    if region in ("TR", "US", "DE", "GB") and rng.random() < 0.5:
        return phonenumbers.format_number(number, PhoneNumberFormat.NATIONAL)
    return phonenumbers.format_number(number, rng.choice([PhoneNumberFormat.E164, PhoneNumberFormat.INTERNATIONAL]))


def _ipv4(rng: random.Random) -> str:
    return f"{rng.choice([31, 46, 78, 85, 94, 151, 176, 185, 212])}.{rng.randint(0, 255)}.{rng.randint(0, 255)}" \
           f".{rng.randint(2, 250)}"


def _ipv6(rng: random.Random) -> str:
    style = rng.random()
    prefix = rng.choice([0x2A02, 0x2001, 0x2600, 0x2C0F])
    if style < 0.3:  # a network address: compressed, ends in `::`
        groups = [prefix, rng.getrandbits(16), rng.getrandbits(16)][: rng.randint(2, 3)]
        return ":".join(f"{g:x}" for g in groups) + "::"
    addr = ipaddress.IPv6Address((prefix << 112) | rng.getrandbits(100))
    return addr.compressed


def _card(rng: random.Random) -> str:
    prefix, length = rng.choice([("4", 13), ("4", 16), ("36", 14), ("6759", 16), ("62", 17), ("2200", 16),
                                 ("53", 16), ("37", 15)])
    body = prefix + _r(rng, length - len(prefix) - 1, string.digits)
    number = next(body + c for c in string.digits if luhn_ok(body + c))
    if rng.random() < 0.5 or length not in (15, 16):
        return number
    if length == 15:
        return f"{number[:4]} {number[4:10]} {number[10:]}"
    return "-".join(number[i:i + 4] for i in range(0, 16, 4))


_IBAN_BBAN = {"CH": (17, "n"), "AT": (16, "n"), "BE": (12, "n"), "PL": (24, "n"), "SE": (20, "n"), "TR": (22, "n"),
              "DE": (18, "n"), "IE": (18, "bn")}


def _iban(rng: random.Random) -> str:
    country = rng.choice(sorted(_IBAN_BBAN))
    size, style = _IBAN_BBAN[country]
    bban = (_r(rng, 4, string.ascii_uppercase) + _r(rng, size - 4, string.digits)) if style == "bn" \
        else _r(rng, size, string.digits)
    if country == "TR":
        bban = bban[:5] + "0" + bban[6:]
    numeric = "".join(str(int(ch, 36)) for ch in bban + country + "00")
    iban = f"{country}{98 - int(numeric) % 97:02d}{bban}"
    if not iban_ok(iban):
        raise AssertionError(iban)
    return " ".join(iban[i:i + 4] for i in range(0, len(iban), 4)) if rng.random() < 0.4 else iban


def _ssn(rng: random.Random) -> str:
    return f"{rng.randint(100, 665):03d}-{rng.randint(10, 99):02d}-{rng.randint(1000, 9999):04d}"


def _tckn(rng: random.Random) -> str:
    d = [rng.randint(1, 9)] + [rng.randint(0, 9) for _ in range(8)]
    d.append(((d[0] + d[2] + d[4] + d[6] + d[8]) * 7 - (d[1] + d[3] + d[5] + d[7])) % 10)
    d.append(sum(d) % 10)
    return "".join(map(str, d))


def _person(rng: random.Random) -> str:
    return f"{rng.choice(_FIRST)} {rng.choice(_LAST)}"


def _password(rng: random.Random) -> str:
    return rng.choice(string.ascii_letters) + _r(rng, rng.randint(9, 19), _ALNUM + "!#%*-_")


def _jwt(rng: random.Random) -> str:
    head = base64.urlsafe_b64encode(b'{"typ":"JWT","alg":"RS256"}').rstrip(b"=").decode()
    body = base64.urlsafe_b64encode(json.dumps({"uid": rng.randint(1, 10**7), "scope": "read"}).encode())
    return f"{head}.{body.rstrip(b'=').decode()}.{_r(rng, 86, _ALNUM + '-_')}"


def _token(rng: random.Random) -> tuple[str, str]:
    """A vendor token and its kind."""
    kind = rng.choice(["github_token", "slack_token", "slack_token", "stripe_key", "google_api_key", "gitlab_token",
                       "sendgrid_key", "npm_token", "huggingface_token"])
    value = {
        "github_token": lambda: rng.choice(["gho_", "ghs_", "ghu_"]) + _r(rng, 36),
        "slack_token": lambda: rng.choice([
            f"xapp-1-A{_r(rng, 10, string.ascii_uppercase + string.digits)}-{_r(rng, 13, string.digits)}-"
            f"{_r(rng, 64, _HEX)}",
            f"xoxp-{_r(rng, 11, string.digits)}-{_r(rng, 12, string.digits)}-{_r(rng, 13, string.digits)}-"
            f"{_r(rng, 32, _HEX)}"]),
        "stripe_key": lambda: rng.choice(["sk_test_", "rk_test_"]) + _r(rng, 30),
        "google_api_key": lambda: "AIza" + _r(rng, 35, _ALNUM + "_-"),
        "gitlab_token": lambda: rng.choice(["glpat-", "gldt-"]) + _r(rng, 24, _ALNUM + "_"),
        "sendgrid_key": lambda: f"SG.{_r(rng, 22)}.{_r(rng, 43)}",
        "npm_token": lambda: "npm_" + _r(rng, 36),
        "huggingface_token": lambda: "hf_" + _r(rng, 37),
    }[kind]()
    return value, kind


def _aws_secret(rng: random.Random) -> str:
    return _r(rng, 40, _ALNUM + "/+")


def _session_cookie(rng: random.Random) -> tuple[str, str]:
    name = rng.choice(["laravel_session", "connect.sid", "JSESSIONID", "PHPSESSID", "ASP.NET_SessionId",
                       "_session_id", "sessionid", "rack.session", "_shop_session", "ci_session", "koa.sess",
                       ".AspNetCore.Session"])
    value = {
        "connect.sid": lambda: f"s%3A{_r(rng, 32)}.{_r(rng, 43)}",
        "JSESSIONID": lambda: f"{_r(rng, 32, '0123456789ABCDEF')}.node{rng.randint(1, 9)}",
        "rack.session": lambda: f"BAh7{_r(rng, 40)}--{_r(rng, 40, _HEX)}",
        "laravel_session": lambda: f"eyJpdiI6{_r(rng, 60)}%3D",
    }.get(name, lambda: _r(rng, 26, _LOWER))()
    return name, value


# --- keep values ---------------------------------------------------------------------------------------------------


def _trace_id(rng: random.Random) -> str:
    return f"{rng.getrandbits(128):032x}"


def _image(rng: random.Random) -> str:
    repo = rng.choice(["registry.gitlab.com/shop/api", "123456789012.dkr.ecr.eu-central-1.amazonaws.com/web",
                       "quay.io/team/worker", "registry:5000/billing", "harbor.internal/platform/gateway"])
    tag = rng.choice([f"{rng.randint(1, 9)}.{rng.randint(0, 20)}.{rng.randint(0, 9)}",
                      f"v{rng.randint(1, 3)}.{rng.randint(0, 9)}", f"main-{rng.getrandbits(28):07x}", "latest"])
    return f"{repo}:{tag}@sha256:{rng.getrandbits(256):064x}"


def _when(rng: random.Random) -> str:
    return f"2025-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}T{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}" \
           f":{rng.randint(0, 59):02d}.{rng.randint(0, 999999):06d}Z"


def _route(rng: random.Random) -> str:
    return rng.choice(["/v2/accounts/{account_id}/invoices", "/internal/reports/export", "/graphql",
                       f"/api/checkout/{rng.randint(1000, 99999)}/confirm", "/oauth/token", "/admin/users/search"])


# --- shapes ----------------------------------------------------------------------------------------------------------

Render = Callable[[random.Random], Record]


def _access_log(rng: random.Random) -> Record:
    rec = Record("", "access_log")
    client = _ipv6(rng) if rng.random() < 0.5 else _ipv4(rng)
    rec.sensitive.append(("ipv6" if ":" in client else "ipv4", client))
    params = []
    email, phone = _email(rng), _phone(rng)
    params.append(f"email={quote(email, safe='')}")
    rec.sensitive.append(("email", quote(email, safe="")))
    if rng.random() < 0.5:
        tail = rng.choice(["x", "ext", "_home", "-cell"]) + str(rng.randint(1, 99))
        params.append(f"msisdn={quote(phone, safe='+')}{tail}")
        rec.sensitive.append(("phone", quote(phone, safe="+")))
        rec.keep.append(("glued_tail", f"{tail}&"))
        params.append(f"page={rng.randint(1, 9)}")
    else:
        name, value = rng.choice(["MYSQL_PWD", "db_pwd", "PGPASSWORD", "smtp_pass"]), _password(rng)
        params.append(f"{name}={quote(value, safe='')}")
        rec.sensitive.append(("secret", quote(value, safe="")))
    rid = _trace_id(rng)
    rec.keep.append(("request_id", rid))
    route = _route(rng)
    rec.keep.append(("route", route))
    rec.text = (f'{client} - - [12/Mar/2025:{rng.randint(10, 23)}:{rng.randint(10, 59)}:{rng.randint(10, 59)} +0100] '
                f'"GET {route}?{"&".join(params)} HTTP/2.0" {rng.choice([200, 302, 404])} {rng.randint(200, 90000)} '
                f'"-" "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0" rid={rid}')
    return rec


def _logfmt(rng: random.Random) -> Record:
    rec = Record("", "logfmt")
    pairs = [f"time={_when(rng)}", "lvl=warn", "msg=\"payment retry\"", f"trace={(t := _trace_id(rng))}"]
    rec.keep.append(("trace_id", t))
    ip = _ipv6(rng) if rng.random() < 0.4 else _ipv4(rng)
    pairs.append(f"remote={ip}")
    rec.sensitive.append(("ipv6" if ":" in ip else "ipv4", ip))
    card = _card(rng)
    pairs.append(f'pan="{card}"' if " " in card else f"pan={card}")
    rec.sensitive.append(("credit_card", card))
    key, pw = rng.choice(["ORACLE_PWD", "redis_pass", "MYSQL_PWD", "admin_pwd", "PGPASSWORD"]), _password(rng)
    pairs.append(f"{key}={pw}")
    rec.sensitive.append(("secret", pw))
    dur = f"{rng.randint(1, 900)}.{rng.randint(0, 9)}ms"
    pairs.append(f"took={dur}")
    rec.keep.append(("duration", dur))
    rng.shuffle(pairs)
    rec.text = " ".join(pairs)
    return rec


def _json_log(rng: random.Random) -> Record:
    rec = Record("", "json_log")
    name, value = _session_cookie(rng)
    person, email, iban = _person(rng), _email(rng), _iban(rng)
    obj = {
        "ts": (ts := _when(rng)), "level": "info", "event": "order_placed",
        "customer": {"holder_name": person, "contact": {"mail": email}},
        "payment": {"iban": iban, "amount": (amount := f"{rng.randint(1, 9999)}.{rng.randint(0, 99):02d}")},
        "http": {"cookies": {name: value, "theme": "dark"}, "route": (route := _route(rng))},
        "span_id": (span := f"{rng.getrandbits(64):016x}"),
    }
    rec.text = json.dumps(obj, ensure_ascii=False)
    rec.sensitive += [("person", person), ("email", email), ("iban", iban), ("cookie", value)]
    rec.keep += [("timestamp", ts), ("amount", amount), ("route", route), ("span_id", span)]
    return rec


def _http_dump(rng: random.Random) -> Record:
    rec = Record("", "http_dump")
    name, value = _session_cookie(rng)
    jwt = _jwt(rng)
    xff = _ipv4(rng)
    lines = [f"POST {(route := _route(rng))} HTTP/1.1", "Host: shop.example.net",
             f"Cookie: _ga=GA1.2.{rng.randint(10**8, 10**9)}.{rng.randint(10**8, 10**9)}; {name}={value}",
             f"Authorization: Bearer {jwt}" if rng.random() < 0.5 else f"X-Auth-Token: {jwt}",
             f"X-Forwarded-For: {xff}", f"traceparent: 00-{(t := _trace_id(rng))}-{rng.getrandbits(64):016x}-01"]
    rec.text = "\\r\\n".join(lines) if rng.random() < 0.5 else "\n".join(lines)
    rec.sensitive += [("cookie", value), ("jwt", jwt), ("ipv4", xff)]
    rec.keep += [("route", route), ("trace_id", t)]
    return rec


def _sql(rng: random.Random) -> Record:
    rec = Record("", "sql")
    style = rng.random()
    pw = _password(rng).replace("'", "")
    user = rng.choice(["svc_report", "app_ro", "etl", "grafana"])
    if style < 0.25:
        text = f"CREATE USER {user} WITH LOGIN PASSWORD '{pw}' VALID UNTIL '2026-01-01'"
    elif style < 0.5:
        text = f"ALTER ROLE {user} WITH ENCRYPTED PASSWORD '{pw}'"
    elif style < 0.75:
        text = f"CREATE USER '{user}'@'%' IDENTIFIED BY '{pw}'"
    else:
        text = f"ALTER USER {user.upper()} IDENTIFIED BY {pw.replace('!', '').replace('#', '')}"
        pw = pw.replace("!", "").replace("#", "")
    rec.sensitive.append(("secret", pw))
    email, ip = _email(rng), (_ipv6(rng) if rng.random() < 0.5 else _ipv4(rng))
    placeholder = rng.choice(["%(hashed_password)s::VARCHAR", "%s", "$3", ":password_hash", "?"])
    dml = (f"UPDATE accounts SET hashed_password={placeholder}, full_name=%(full_name)s, last_ip='{ip}' "  # noqa: S608
           f"WHERE email = '{email}' AND id = $1")
    rec.sensitive += [("email", email), ("ipv6" if ":" in ip else "ipv4", ip)]
    rec.keep += [("sql_param", f"hashed_password={placeholder},"), ("sql_param", "full_name=%(full_name)s,")]
    rec.text = f"{text}; {dml}"
    return rec


def _env_dump(rng: random.Random) -> Record:
    rec = Record("", "env_dump")
    pw1, pw2 = _password(rng), _password(rng)
    host = rng.choice(["cache.internal:6379", "redis-master.prod.svc:6380", "kv-01.eu.example.net:6379"])
    pw_key = rng.choice(["MYSQL_PWD", "PGPASSWORD", "MSSQL_SA_PASSWORD"])
    lines = [f"HOSTNAME=worker-{rng.getrandbits(32):08x}", f"{pw_key}={pw1}",
             f"REDIS_URL=redis://:{pw2}@{host}/0", f"IMAGE={(image := _image(rng))}", "LANG=C.UTF-8"]
    token, kind = _token(rng)
    lines.append(f"{rng.choice(['BOT_TOKEN', 'CI_JOB_AUTH', 'VENDOR_KEY'])}={token}")
    rec.sensitive += [("secret", pw1), ("url_password", pw2), (kind, token)]
    rec.keep += [("host_port", f"@{host}/0"), ("image_ref", image)]
    rec.text = rng.choice(["\n", " ", "\\n"]).join(lines)
    return rec


def _traceback(rng: random.Random) -> Record:
    rec = Record("", "traceback")
    email, phone, pw = _email(rng), _phone(rng), _password(rng)
    rec.text = (
        "Traceback (most recent call last):\n"
        f'  File "/srv/app/accounts/signup.py", line {rng.randint(20, 400)}, in register\n'
        f"    send_sms(phone_number={phone!r}, body=msg)\n"
        f"  locals: email={email!r} password={pw!r} attempt={rng.randint(1, 5)}\n"
        f"smtplib.SMTPRecipientsRefused: {{'{email}': (550, b'5.1.1 mailbox unavailable')}}"
    )
    rec.sensitive += [("email", email), ("phone", phone), ("secret", pw)]
    rec.keep.append(("path", "/srv/app/accounts/signup.py"))
    return rec


def _java(rng: random.Random) -> Record:
    rec = Record("", "java")
    ssn, card = (_ssn(rng), "ssn") if rng.random() < 0.5 else (_tckn(rng), "tckn")
    ip = _ipv4(rng)
    rec.text = (f"{_when(rng)} ERROR [http-nio-8080-exec-{rng.randint(1, 20)}] c.a.b.KycService - verification "
                f"failed for national id {ssn} from {ip}\n"
                f"com.acme.kyc.KycException: document rejected\n\tat com.acme.kyc.KycService.verify(KycService.java:"
                f"{(line := rng.randint(40, 300))})\n\tat java.base/java.lang.Thread.run(Thread.java:1583)")
    rec.sensitive += [(card, ssn), ("ipv4", ip)]
    rec.keep.append(("frame", f"KycService.java:{line}"))
    return rec


def _k8s_event(rng: random.Random) -> Record:
    rec = Record("", "k8s_event")
    image = _image(rng)
    pod_ip = _ipv6(rng)
    token, kind = _token(rng)
    pod = f"api-{rng.getrandbits(36):09x}-{_r(rng, 5, string.ascii_lowercase)}"
    rec.text = json.dumps({"kind": "Event", "reason": "Pulled", "involvedObject": {"name": pod},
                           "message": f'Successfully pulled image "{image}" in 2.1s',
                           "podIP": pod_ip, "env": [{"name": "SLACK_APP_TOKEN", "value": token}]})
    rec.sensitive += [("ipv6", pod_ip), (kind, token)]
    rec.keep += [("image_ref", image), ("pod_name", pod)]
    return rec


def _credentials(rng: random.Random) -> Record:
    rec = Record("", "credentials")
    key_id = "AKIA" + _r(rng, 16, string.ascii_uppercase + "234567")
    secret = _aws_secret(rng)
    region = rng.choice(["eu-central-1", "us-east-2", "ap-southeast-1"])
    body = f"[{rng.choice(['default', 'prod', 'ci'])}]\\naws_access_key_id = {key_id}\\naws_secret_access_key = " \
           f"{secret}\\nregion = {region}\\n"
    rec.text = json.dumps({"msg": "read shared credentials", "file": "~/.aws/credentials", "content": body})\
        .replace("\\\\n", "\\n")
    rec.sensitive += [("aws_access_key", key_id), ("aws_secret_key", secret)]
    rec.keep.append(("region", f"region = {region}"))
    return rec


def _syslog(rng: random.Random) -> Record:
    rec = Record("", "syslog")
    ip = _ipv6(rng) if rng.random() < 0.6 else _ipv4(rng)
    user_pw = _password(rng)
    pid = rng.randint(1000, 65000)
    rec.text = (f"Mar 12 07:{rng.randint(10, 59)}:{rng.randint(10, 59)} bastion sshd[{pid}]: Failed password for "
                f"deploy from {ip} port {rng.randint(30000, 65000)} ssh2; "
                f"sudo: pam_unix(sudo:auth): conversation failed, pass={user_pw}")
    rec.sensitive += [("ipv6" if ":" in ip else "ipv4", ip), ("secret", user_pw)]
    rec.keep.append(("pid", f"sshd[{pid}]"))
    return rec


def _support_chat(rng: random.Random) -> Record:
    rec = Record("", "support_chat")
    person, phone, iban = _person(rng), _phone(rng), _iban(rng)
    lang = rng.random()
    if lang < 0.34:
        text = f"Kunde schreibt: Guten Tag, Frau {person} hier, bitte Rückruf unter {phone}, IBAN {iban}."
    elif lang < 0.67:
        text = f"Müşteri mesajı: Sayın {person} adına iade, telefon {phone}, IBAN: {iban} teşekkürler"
    else:
        text = f"chat: hi, my name is {person}, call me on {phone} and refund to {iban} please"
    ticket = f"TCK-{rng.randint(100000, 999999)}"
    rec.text = f"{text} [{ticket}]"
    rec.sensitive += [("person", person), ("phone", phone), ("iban", iban)]
    rec.keep.append(("ticket", ticket))
    return rec


SHAPES: dict[str, Render] = {
    "access_log": _access_log, "logfmt": _logfmt, "json_log": _json_log, "http_dump": _http_dump, "sql": _sql,
    "env_dump": _env_dump, "traceback": _traceback, "java": _java, "k8s_event": _k8s_event,
    "credentials": _credentials, "syslog": _syslog, "support_chat": _support_chat,
}


def generate_heldout(n: int = 3000, seed: int = 90210) -> list[Record]:
    """`n` records, cycling through the twelve shapes; the same ones for the same seed."""
    rng = random.Random(seed)
    shapes = list(SHAPES.values())
    return [shapes[i % len(shapes)](rng) for i in range(n)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Score the scrubbing engine on the held-out corpus.")
    parser.add_argument("--records", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=90210)
    parser.add_argument("--show-misses", type=int, default=0, metavar="N")
    args = parser.parse_args(argv)
    records = generate_heldout(args.records, args.seed)
    score(records[:300])  # warm the lazily built RE2 automata
    result = score(records)
    print(result.report())
    for label, items in (("MISSED", result.missed), ("LEAKED", result.leaked), ("BROKEN", result.broken)):
        for kind, value, out in items[: args.show_misses]:
            print(f"{label} {kind}: {value!r}\n   in {out!r}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
