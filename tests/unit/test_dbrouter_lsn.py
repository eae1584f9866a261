"""LSNs are parsed to 64-bit integers and compared as numbers, never as text."""

from __future__ import annotations

import pytest

from dbrouter.lsn import format_lsn, parse_lsn, parse_optional


def test_parse_combines_high_and_low_halves() -> None:
    assert parse_lsn("16/B374D848") == (0x16 << 32) | 0xB374D848
    assert parse_lsn("0/0") == 0
    assert parse_lsn("FFFFFFFF/FFFFFFFF") == 2**64 - 1
    assert parse_lsn("0/3000148") == 0x3000148


def test_numeric_order_differs_from_text_order() -> None:
    # As strings "9/0" > "16/0" and "0/A0" < "0/B"; as LSNs both are the other way round.
    assert parse_lsn("9/0") < parse_lsn("16/0")
    assert parse_lsn("0/A0") > parse_lsn("0/B")
    assert parse_lsn("1/0") > parse_lsn("0/FFFFFFFF")


def test_lower_case_hex_is_accepted() -> None:
    assert parse_lsn("16/b374d848") == parse_lsn("16/B374D848")


@pytest.mark.parametrize(
    "bad", ["", "16", "16/", "/1", "1/2/3", "G/0", "-1/0", "+1/0", "123456789/0", " 1/0"]
)
def test_malformed_lsn_is_rejected(bad: str) -> None:
    with pytest.raises(ValueError, match="malformed LSN"):
        parse_lsn(bad)


def test_format_round_trips() -> None:
    for text in ("16/B374D848", "0/0", "FFFFFFFF/FFFFFFFF", "1/A"):
        assert format_lsn(parse_lsn(text)) == text


def test_format_rejects_out_of_range() -> None:
    with pytest.raises(ValueError):
        format_lsn(-1)
    with pytest.raises(ValueError):
        format_lsn(2**64)


def test_parse_optional_keeps_null() -> None:
    assert parse_optional(None) is None
    assert parse_optional("0/10") == 16
