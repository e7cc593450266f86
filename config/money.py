"""Money helpers: currency precision and the one rounding rule (half-up, per currency exponent)."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from moneyed import CURRENCIES, get_currency

# ISO 4217 exponents that py-moneyed gets wrong or leaves out; Lago follows the Money gem.
_EXPONENT_OVERRIDES: dict[str, int] = {}


def is_known_currency(code: str) -> bool:
    return isinstance(code, str) and code.upper() == code and code in CURRENCIES


def currency_exponent(code: str) -> int:
    """Number of decimal places of the currency's minor unit (EUR 2, JPY 0, KWD 3)."""
    if code in _EXPONENT_OVERRIDES:
        return _EXPONENT_OVERRIDES[code]
    exponent = get_currency(code).sub_unit
    # py-moneyed stores sub_unit as the number of minor units per major unit (100, 1, 1000).
    return len(str(exponent)) - 1 if exponent else 0


def subunit_to_unit(code: str) -> int:
    return 10 ** currency_exponent(code)


def round_half_up(value: Decimal, places: int = 0) -> Decimal:
    """Round half away from zero to `places` decimals (negative places round to tens, hundreds…)."""
    quantum = Decimal(1).scaleb(-places)
    if places >= 0:
        return value.quantize(quantum, rounding=ROUND_HALF_UP)
    return (value / quantum).quantize(Decimal(1), rounding=ROUND_HALF_UP) * quantum


def round_cents(amount_cents: Decimal) -> int:
    """Round a precise amount in minor units to an integer number of minor units (half-up)."""
    return int(Decimal(amount_cents).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def major_to_cents(amount: Decimal, currency: str) -> Decimal:
    """A precise (unrounded) amount in minor units for an amount in major units."""
    return Decimal(amount) * subunit_to_unit(currency)


def fee_amount_cents(amount: Decimal, currency: str) -> int:
    """Lago's fee rounding: round(amount, exponent) × subunit, as an integer of minor units."""
    exponent = currency_exponent(currency)
    return int(round_half_up(Decimal(amount), exponent) * subunit_to_unit(currency))
