import datetime as dt
from decimal import Decimal

import pytest

from config import clock
from config.money import currency_exponent, fee_amount_cents, round_half_up


@pytest.mark.parametrize(
    ("currency", "exponent"), [("EUR", 2), ("USD", 2), ("JPY", 0), ("KRW", 0), ("KWD", 3)]
)
def test_currency_exponents(currency, exponent):
    assert currency_exponent(currency) == exponent


def test_rounding_is_half_up_never_bankers():
    assert round_half_up(Decimal("2.5")) == 3
    assert round_half_up(Decimal("-2.5")) == -3
    assert round_half_up(Decimal("17.455"), 2) == Decimal("17.46")
    assert round_half_up(Decimal("17.455"), -1) == 20
    assert fee_amount_cents(Decimal("0.125"), "EUR") == 13
    assert fee_amount_cents(Decimal("678.57"), "JPY") == 679  # Ex 6.4


def test_clock_is_aware_utc_and_honours_a_sandbox_test_clock():
    assert clock.now().tzinfo is not None

    class Sandbox:
        is_sandbox = True
        frozen_time = dt.datetime(2024, 3, 1, 12, tzinfo=dt.timezone(dt.timedelta(hours=2)))

    assert clock.now(Sandbox()) == dt.datetime(2024, 3, 1, 10, tzinfo=dt.UTC)


def test_validation_failed_accepts_codes_as_string_list_or_mapping():
    from config.errors import ValidationFailed

    assert ValidationFailed(code="value_already_exist").error_details == {"code": ["value_already_exist"]}
    assert ValidationFailed(code=["a", "b"]).error_details == {"code": ["a", "b"]}
    assert ValidationFailed({"x": ["y"]}, z="w").error_details == {"x": ["y"], "z": ["w"]}
