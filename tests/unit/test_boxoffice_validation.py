"""Box-office input validation (pure): what a buyer can send, and the field each error names."""

from __future__ import annotations

import pytest

from boxoffice.validation import (
    MAX_PER_ORDER,
    InvalidInput,
    validate_form_quantity,
    validate_idempotency_key,
    validate_quantity,
)


@pytest.mark.parametrize("value", [1, 2, MAX_PER_ORDER])
def test_valid_quantities(value: int) -> None:
    assert validate_quantity(value) == value


@pytest.mark.parametrize("value", [0, -1, MAX_PER_ORDER + 1, 1.0, 1.5, "1", None, True, [1], {"n": 1}])
def test_invalid_quantities_name_the_field(value: object) -> None:
    with pytest.raises(InvalidInput) as err:
        validate_quantity(value)
    assert err.value.field == "quantity"
    assert err.value.status == 400
    assert "quantity" in err.value.message


@pytest.mark.parametrize(("text", "expected"), [("1", 1), (" 3 ", 3), (str(MAX_PER_ORDER), MAX_PER_ORDER)])
def test_form_quantity_accepts_digits(text: str, expected: int) -> None:
    assert validate_form_quantity(text) == expected


@pytest.mark.parametrize("text", ["", None, "abc", "2.5", "-1", "0", "1e3", str(MAX_PER_ORDER + 1)])
def test_form_quantity_rejects_the_rest(text: str | None) -> None:
    with pytest.raises(InvalidInput) as err:
        validate_form_quantity(text)
    assert err.value.field == "quantity"


@pytest.mark.parametrize("key", ["a", "0f8fad5b-d9cb-469f-a165-70867728950e", "x" * 100, "k:1/2+3=4"])
def test_valid_idempotency_keys(key: str) -> None:
    assert validate_idempotency_key(key) == key


@pytest.mark.parametrize("key", [None, "", "x" * 101, "has space", "tab\there", "caf\u00e9"])
def test_invalid_idempotency_keys_name_the_header(key: str | None) -> None:
    with pytest.raises(InvalidInput) as err:
        validate_idempotency_key(key)
    assert err.value.field == "Idempotency-Key"
