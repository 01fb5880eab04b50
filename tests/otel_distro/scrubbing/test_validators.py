"""The checks behind the patterns: checksums and issuer ranges, as plain tables."""

from __future__ import annotations

import pytest

from otel_distro.scrubbing._validators import card_number_ok, iban_ok, is_placeholder, luhn_ok, ssn_ok, tckn_ok


@pytest.mark.parametrize(
    ("number", "ok"),
    [
        ("4111111111111111", True),  # Visa
        ("5555555555554444", True),  # Mastercard 51-55
        ("2221000000000009", True),  # Mastercard 2-series
        ("378282246310005", True),  # Amex
        ("9792030000000000", True),  # Troy
        ("6011111111111117", True),  # Discover
        ("3530111333300000", True),  # JCB
        ("4111111111111112", False),  # fails Luhn
        ("1234567812345670", False),  # passes Luhn, no issuer starts with 1
        ("2720990000000007", True),  # top of the Mastercard 2-series
        ("2721000000000008", False),  # just above it
    ],
)
def test_card_numbers(number: str, ok: bool) -> None:
    assert card_number_ok(number) is ok


def test_luhn() -> None:
    assert luhn_ok("79927398713")
    assert not luhn_ok("79927398710")


@pytest.mark.parametrize(
    ("iban", "ok"),
    [
        ("TR330006100519786457841326", True),
        ("DE89370400440532013000", True),
        ("GB29NWBK60161331926819", True),
        ("FR1420041010050500013M02606", True),
        ("NL91ABNA0417164300", True),
        ("DE89370400440532013001", False),  # checksum
        ("DE8937040044053201300", False),  # German IBANs have 22 characters
        ("XX89370400440532013000", False),  # no such country
    ],
)
def test_ibans(iban: str, ok: bool) -> None:
    assert iban_ok(iban) is ok


@pytest.mark.parametrize(
    ("number", "ok"),
    [("10000000146", True), ("12345678950", True), ("12345678901", False), ("01234567890", False),
     ("1000000014", False)],
)
def test_tckn(number: str, ok: bool) -> None:
    assert tckn_ok(number) is ok


@pytest.mark.parametrize(
    ("number", "ok"), [("123456789", True), ("000123456", False), ("666123456", False), ("900123456", False),
                       ("123006789", False), ("123450000", False)],
)
def test_ssn(number: str, ok: bool) -> None:
    assert ssn_ok(number) is ok


def test_placeholders_are_not_redacted_again() -> None:
    assert is_placeholder(b"[REDACTED:email]")
    assert is_placeholder(b"[email:0123456789abcdef]")
    assert is_placeholder(b"****")
    assert not is_placeholder(b"[draft]")
    assert not is_placeholder(b"x")
