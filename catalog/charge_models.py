"""Pure pricing math for Lago charge models (billing-semantics §2.5, §3, §3.10, §3.11, §4.8).

No Django, no I/O: numbers in, numbers out. Every amount is a `Decimal` in the currency's **major** unit and is
left unrounded; the caller rounds each fee once with `config.money.fee_amount_cents`.

Exactness: prices and units are multiplied and added inside a 100-digit context that *traps* `Inexact`, so a
result that would lose a digit raises instead of silently costing a cent. The few divisions that can't be exact
round half-up far below a cent: prorations at 50 significant digits (`_divide`), display-only unit prices at 28.
Floats are refused everywhere.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import (
    ROUND_CEILING,
    ROUND_FLOOR,
    ROUND_HALF_UP,
    Context,
    Decimal,
    DivisionByZero,
    Inexact,
    InvalidOperation,
    Overflow,
    localcontext,
)
from fractions import Fraction
from functools import wraps

ZERO = Decimal(0)
HUNDRED = Decimal(100)

# Multiplications and additions of prices and units must be exact: trap anything that would round.
_EXACT = Context(
    prec=100, rounding=ROUND_HALF_UP, traps=[InvalidOperation, DivisionByZero, Overflow, Inexact]
)
# Deliberate roundings (quantize with ceil/floor/half-up) must not trip the Inexact trap.
_ROUNDING = Context(prec=100, rounding=ROUND_HALF_UP, traps=[InvalidOperation, DivisionByZero, Overflow])

CHARGE_MODELS = (
    "standard",
    "graduated",
    "graduated_percentage",
    "package",
    "percentage",
    "volume",
    "dynamic",
)
FIXED_CHARGE_MODELS = ("standard", "graduated", "volume")
TIERED_MODELS = ("graduated", "graduated_percentage")


# --------------------------------------------------------------------------------------------------------------
# Inputs and outputs
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChargeUsage:
    """Aggregated usage of one bucket (charge or filter, one pricing group) over the billed window.

    * `units`: the aggregated (and, in arrears, §2.5-rounded) units. For a prorated charge these are the prorated
      units (§3.11) or the weighted fixed-charge units Σw (§4.8).
    * `events_count`: number of events in the bucket (percentage fixed fee / free events).
    * `event_values`: per-event values **in time order** (percentage free units and per-transaction min/max).
      For `count_agg` pass `1` per event.
    * `precise_total_amount_cents`: Σ of the events' `precise_total_amount_cents` (dynamic model).
    * `full_units`: for prorated pricing only, the non-prorated unit count that picks the tiers (volume, graduated).
    """

    units: Decimal
    events_count: int = 0
    event_values: tuple[Decimal, ...] = ()
    precise_total_amount_cents: Decimal = ZERO
    full_units: Decimal | None = None


@dataclass(frozen=True)
class ChargeAmount:
    """A priced bucket: `amount` in major units, unrounded (round once with `fee_amount_cents`).

    `units` is what the fee reports, `unit_amount` = amount / units (0 without units), `details` is Lago's
    `amount_details` for the model (decimals as strings).
    """

    amount: Decimal
    units: Decimal
    unit_amount: Decimal
    details: dict = field(default_factory=dict)


# --------------------------------------------------------------------------------------------------------------
# Small numeric helpers
# --------------------------------------------------------------------------------------------------------------


def _exact(func):
    """Run `func` inside the exact context (see module docstring)."""

    @wraps(func)
    def wrapper(*args, **kwargs):
        with localcontext(_EXACT):
            return func(*args, **kwargs)

    return wrapper


def to_decimal(value) -> Decimal:
    """A Decimal from a Decimal, int or decimal string. Floats are refused: they can't hold prices exactly."""
    if isinstance(value, (bool, float)):
        raise TypeError(f"refusing {type(value).__name__} {value!r} for a money computation")
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int | str):
        result = Decimal(value.strip() if isinstance(value, str) else value)
    else:
        raise TypeError(f"cannot read {value!r} as a decimal")
    if not result.is_finite():
        raise ValueError(f"{value!r} is not a finite number")
    return result


def _optional_decimal(value) -> Decimal | None:
    """None for an absent or empty setting (Lago's `present?`), else the decimal."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return to_decimal(value)


def _divide(numerator: Decimal, denominator: Decimal) -> Decimal:
    """A division that may not terminate, rounded half-up at 50 significant digits (far below a cent)."""
    context = Context(prec=50, rounding=ROUND_HALF_UP)
    return context.divide(numerator, denominator)


def _ceil_integer(value: Decimal) -> Decimal:
    return value.to_integral_value(rounding=ROUND_CEILING)


def _text(value) -> str:
    """Decimal → plain string without exponent (details are JSON-friendly strings)."""
    return format(value, "f") if isinstance(value, Decimal) else str(value)


def _tier_units(usage: ChargeUsage) -> Decimal:
    return usage.full_units if usage.full_units is not None else usage.units


def _unit_amount(amount: Decimal, units: Decimal) -> Decimal:
    """Price per unit, for display only (fees are rounded from `amount`): 28 significant digits."""
    return ZERO if units == 0 else Context(prec=28, rounding=ROUND_HALF_UP).divide(amount, units)


# --------------------------------------------------------------------------------------------------------------
# §2.5 rounding of aggregated units
# --------------------------------------------------------------------------------------------------------------

_ROUNDING_MODES = {"round": ROUND_HALF_UP, "ceil": ROUND_CEILING, "floor": ROUND_FLOOR}


def round_units(units: Decimal, rounding_function: str | None, rounding_precision: int | None = 0) -> Decimal:
    """Round a bucket's aggregated units as the metric says (§2.5). `round` is half-up; a negative precision
    rounds to tens, hundreds… (`floor, -1`: 17.455 → 10). No function → units unchanged.

    Not for pay-in-advance per-event deltas (§2.5: they are never rounded)."""
    units = to_decimal(units)
    if rounding_function is None:
        return units
    if rounding_function not in _ROUNDING_MODES:
        raise ValueError(f"unknown rounding_function {rounding_function!r}")
    mode = _ROUNDING_MODES[rounding_function]
    precision = int(rounding_precision or 0)
    if precision >= 0:
        return units.quantize(Decimal(1).scaleb(-precision), rounding=mode, context=_ROUNDING)
    # Negative precision: shift, round to an integer, shift back, and show it as a plain integer.
    shifted = units.scaleb(precision, context=_ROUNDING).quantize(
        Decimal(1), rounding=mode, context=_ROUNDING
    )
    return shifted.scaleb(-precision, context=_ROUNDING).quantize(Decimal(1), context=_ROUNDING)


# --------------------------------------------------------------------------------------------------------------
# Range walk shared by graduated and graduated_percentage (§3.2, §3.3)
# --------------------------------------------------------------------------------------------------------------


def _bound(value) -> Decimal | None:
    return None if value is None else to_decimal(value)


def ranges_are_adjacent(ranges: Sequence[Mapping]) -> bool:
    """Lago's `AdjacentRanges.adjacent?`: at least two ranges and *every* one starts where the previous ends.
    A mixed list (some adjacent, some classic `+1`) is not adjacent and is priced with the classic formula."""
    if len(ranges) < 2:
        return False
    return all(
        to_decimal(current["from_value"]) == to_decimal(previous.get("to_value") or 0)
        for previous, current in itertools.pairwise(ranges)
    )


def _tiers_reached(
    ranges: Sequence[Mapping], units: Decimal, *, adjacent: bool
) -> list[tuple[Mapping, Decimal]]:
    """Visit ranges bottom→top and return (range, units in range) up to the range holding `units`.

    The first range is always visited, so its flat fee applies even at 0 units (§3.2)."""
    reached = []
    for tier in ranges:
        from_value, to_value = to_decimal(tier["from_value"]), _bound(tier.get("to_value"))
        effective = units if to_value is None else min(units, to_value)
        if from_value == 0:
            tier_units = effective
        elif adjacent:
            tier_units = effective - from_value
        else:
            tier_units = effective - from_value + 1
        # A first range starting at 1 (accepted by Lago's validator) must not produce negative units.
        reached.append((tier, max(tier_units, ZERO)))
        if to_value is None or to_value >= units:
            break
    return reached


def _range_bounds(tier: Mapping) -> dict:
    return {"from_value": tier["from_value"], "to_value": tier.get("to_value")}


# --------------------------------------------------------------------------------------------------------------
# One pricing function per charge model: (properties, usage, currency_exponent) -> (amount, details)
# --------------------------------------------------------------------------------------------------------------


def _standard(properties: Mapping, usage: ChargeUsage, _exponent: int) -> tuple[Decimal, dict]:
    return usage.units * to_decimal(properties.get("amount") or 0), {}


def _graduated(properties: Mapping, usage: ChargeUsage, _exponent: int) -> tuple[Decimal, dict]:
    ranges = list(properties.get("graduated_ranges") or [])
    tier_units = _tier_units(usage)
    # Prorated pricing (§4.8): tiers by the full units, per-unit parts scaled by prorated/full, flats in full.
    prorated = usage.full_units is not None and tier_units != 0 and usage.units != tier_units
    total, lines = ZERO, []
    for tier, units in _tiers_reached(ranges, tier_units, adjacent=ranges_are_adjacent(ranges)):
        per_unit, flat = to_decimal(tier["per_unit_amount"]), to_decimal(tier["flat_amount"])
        per_unit_total = units * per_unit
        if prorated:
            per_unit_total = _divide(per_unit_total * usage.units, tier_units)
        total += per_unit_total + flat
        lines.append(
            {
                **_range_bounds(tier),
                "units": _text(units),
                "per_unit_amount": _text(per_unit),
                "flat_unit_amount": _text(flat),
                "per_unit_total_amount": _text(per_unit_total),
                "total_with_flat_amount": _text(per_unit_total + flat),
            }
        )
    return total, {"graduated_ranges": lines}


def _graduated_percentage(properties: Mapping, usage: ChargeUsage, _exponent: int) -> tuple[Decimal, dict]:
    ranges = list(properties.get("graduated_percentage_ranges") or [])
    total, lines = ZERO, []
    # ⚠️ §3.3: always the classic `+1` walk, even for adjacent ranges.
    for tier, units in _tiers_reached(ranges, usage.units, adjacent=False):
        rate, flat = to_decimal(tier["rate"]), to_decimal(tier["flat_amount"])
        per_unit_total = units * rate / HUNDRED
        total += per_unit_total + flat
        lines.append(
            {
                **_range_bounds(tier),
                "units": _text(units),
                "rate": _text(rate),
                "flat_unit_amount": _text(flat),
                "per_unit_total_amount": _text(per_unit_total),
                "total_with_flat_amount": _text(per_unit_total + flat),
            }
        )
    return total, {"graduated_percentage_ranges": lines}


def _package(properties: Mapping, usage: ChargeUsage, _exponent: int) -> tuple[Decimal, dict]:
    package_amount = to_decimal(properties.get("amount") or 0)
    package_size = to_decimal(properties["package_size"])
    free_units = to_decimal(properties.get("free_units") or 0)
    paid_units = usage.units - free_units
    if paid_units <= 0:
        packages = ZERO
    else:
        # A package counts from its first unit: ceil(paid / size), computed exactly with divmod.
        whole, rest = divmod(paid_units, package_size)
        packages = whole + (1 if rest else 0)
    if usage.units == 0:
        details = {
            "free_units": "0",
            "paid_units": "0",
            "per_package_size": 0,
            "per_package_unit_amount": "0",
        }
    else:
        details = {
            "free_units": _text(free_units),
            "paid_units": _text(max(paid_units, ZERO)),
            "per_package_size": int(package_size),
            "per_package_unit_amount": _text(package_amount),
        }
    return packages * package_amount, details


def _volume(properties: Mapping, usage: ChargeUsage, _exponent: int) -> tuple[Decimal, dict]:
    ranges = sorted(properties.get("volume_ranges") or [], key=lambda tier: to_decimal(tier["from_value"]))
    tier_units = _tier_units(usage)
    tier = _volume_tier(ranges, tier_units)
    per_unit, flat = to_decimal(tier["per_unit_amount"]), to_decimal(tier["flat_amount"])
    per_unit_total = usage.units * per_unit
    details = {
        "flat_unit_amount": _text(flat),
        "per_unit_amount": _text(ZERO if tier_units == 0 else _divide(per_unit_total, tier_units)),
        "per_unit_total_amount": _text(per_unit_total),
    }
    return per_unit_total + flat, details


def _volume_tier(ranges: Sequence[Mapping], units: Decimal) -> Mapping:
    """§3.6: the single range with from ≤ ceil(units) and (to null or units ≤ to); 0 units match the first."""
    for tier in ranges:
        to_value = _bound(tier.get("to_value"))
        if to_decimal(tier["from_value"]) <= _ceil_integer(units) and (to_value is None or units <= to_value):
            return tier
    if ranges and units < to_decimal(ranges[0]["from_value"]):
        return ranges[0]  # below a first range starting at 1: still the first tier
    raise ValueError(f"no volume range matches {units} units")


def _dynamic(properties: Mapping, usage: ChargeUsage, exponent: int) -> tuple[Decimal, dict]:
    if usage.units == 0:
        return ZERO, {}
    return to_decimal(usage.precise_total_amount_cents) / (Decimal(10) ** exponent), {}


# --- percentage (§3.5) ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _PercentageTerms:
    rate: Decimal
    fixed_amount: Decimal
    free_events_setting: int  # free_units_per_events (N)
    free_total_setting: Decimal  # free_units_per_total_aggregation (T)
    min_amount: Decimal | None
    max_amount: Decimal | None

    @classmethod
    def read(cls, properties: Mapping) -> _PercentageTerms:
        return cls(
            rate=to_decimal(properties.get("rate") or 0),
            fixed_amount=to_decimal(properties.get("fixed_amount") or 0),
            free_events_setting=int(properties.get("free_units_per_events") or 0),
            free_total_setting=to_decimal(properties.get("free_units_per_total_aggregation") or 0),
            min_amount=_optional_decimal(properties.get("per_transaction_min_amount")),
            max_amount=_optional_decimal(properties.get("per_transaction_max_amount")),
        )


def _free_running_totals(values: Sequence[Decimal], terms: _PercentageTerms) -> list[Decimal]:
    """Lago's running total (SumService#running_total): cumulative values of the first N events when N is set,
    else cumulative values until the total has gone past T (the one crossing it included)."""
    if terms.free_events_setting == 0 and terms.free_total_setting == 0:
        return []
    totals: list[Decimal] = []
    running = ZERO
    if terms.free_events_setting:
        for value in values[: terms.free_events_setting]:
            running += to_decimal(value)
            totals.append(running)
        return totals
    for value in values:
        if running > terms.free_total_setting:
            break
        running += to_decimal(value)
        totals.append(running)
    return totals


def _free_units_value(running_totals: list[Decimal], terms: _PercentageTerms) -> Decimal:
    """c_min(N,count) (N only), min(T, c_count) (T only), min(T, c_min(N,count)) (both); never negative."""
    last = running_totals[-1] if running_totals else ZERO
    if last == 0:
        return ZERO
    value = last if terms.free_total_setting == 0 else min(last, terms.free_total_setting)
    return max(value, ZERO)


def _free_events(running_totals: list[Decimal], terms: _PercentageTerms) -> int:
    """Smallest non-zero of {N, #{k : c_k < T}} (0 if both are 0). The T count is only taken when T is set."""
    below_total = 0
    if terms.free_total_setting > 0:
        below_total = sum(1 for total in running_totals if total < terms.free_total_setting)
    candidates = [count for count in (terms.free_events_setting, below_total) if count]
    return min(candidates) if candidates else 0


def _clamp_transaction(amount: Decimal, terms: _PercentageTerms) -> Decimal:
    if terms.min_amount is not None and amount < terms.min_amount:
        return terms.min_amount
    if terms.max_amount is not None and amount > terms.max_amount:
        return terms.max_amount
    return amount


def _per_transaction_total(values: Sequence[Decimal], terms: _PercentageTerms) -> Decimal:
    """Per-transaction min/max (§3.5, Lago's `compute_amount_with_transaction_min_max`): free events/units are
    consumed first, event by event; an event still inside the free allowance adds 0; the event that exhausts a
    free total is rated (and clamped) on its remainder only."""
    free_events_left = terms.free_events_setting
    free_units_left = terms.free_total_setting
    total = ZERO
    for raw_value in values:
        value = to_decimal(raw_value)
        if free_events_left > 0 or free_units_left > 0:
            free_events_left -= 1
            if free_units_left <= 0:
                continue
            if free_units_left > value:
                free_units_left -= value
                continue
            value -= free_units_left
            free_units_left, free_events_left = ZERO, 0
        total += _clamp_transaction(value * terms.rate / HUNDRED + terms.fixed_amount, terms)
    return total


def _percentage(properties: Mapping, usage: ChargeUsage, _exponent: int) -> tuple[Decimal, dict]:
    terms = _PercentageTerms.read(properties)
    running_totals = _free_running_totals(usage.event_values, terms)
    free_units = _free_units_value(running_totals, terms)
    free_events = _free_events(running_totals, terms)

    rated_units = ZERO if free_units > usage.units else usage.units - free_units
    percentage_amount = rated_units * terms.rate / HUNDRED
    paid_events = max(usage.events_count - free_events, 0)
    fixed_total = ZERO if usage.units == 0 else paid_events * terms.fixed_amount

    amount = percentage_amount + fixed_total
    adjustment = ZERO
    if terms.min_amount is not None or terms.max_amount is not None:
        transaction_total = _per_transaction_total(usage.event_values, terms)
        adjustment, amount = transaction_total - amount, transaction_total

    details = {
        "units": _text(usage.units),
        "free_units": _text(free_units),
        "paid_units": _text(max(usage.units - free_units, ZERO)),
        "rate": _text(terms.rate),
        "per_unit_total_amount": _text(percentage_amount),
        "free_events": min(free_events, usage.events_count),
        "paid_events": paid_events,
        "fixed_fee_unit_amount": _text(terms.fixed_amount if paid_events else ZERO),
        "fixed_fee_total_amount": _text(fixed_total),
        "min_max_adjustment_total_amount": _text(adjustment),
    }
    return amount, details


_PRICERS = {
    "standard": _standard,
    "graduated": _graduated,
    "graduated_percentage": _graduated_percentage,
    "package": _package,
    "percentage": _percentage,
    "volume": _volume,
    "dynamic": _dynamic,
}


# --------------------------------------------------------------------------------------------------------------
# In-arrears / current-usage pricing
# --------------------------------------------------------------------------------------------------------------


def _without_negative_units(usage: ChargeUsage) -> ChargeUsage:
    units = max(to_decimal(usage.units), ZERO)
    full_units = None if usage.full_units is None else max(to_decimal(usage.full_units), ZERO)
    return replace(usage, units=units, full_units=full_units)


@_exact
def compute_charge_amount(
    charge_model: str, properties: Mapping, usage: ChargeUsage, *, currency_exponent: int = 2
) -> ChargeAmount:
    """Price one bucket: model(units) in major units, unrounded (§3). Negative units and a negative amount are
    clamped to 0 (in-arrears fees never credit). `currency_exponent` only matters for `dynamic`, whose
    `precise_total_amount_cents` are minor units."""
    pricer = _PRICERS.get(charge_model)
    if pricer is None:
        raise ValueError(f"unknown charge model {charge_model!r}")
    usage = _without_negative_units(usage)
    amount, details = pricer(properties, usage, currency_exponent)
    amount = max(amount, ZERO)
    display_units = _tier_units(usage)
    return ChargeAmount(amount, display_units, _unit_amount(amount, display_units), details)


# --------------------------------------------------------------------------------------------------------------
# Pay-in-advance (instant) fees, §3.10
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AdvanceUnits:
    """Units an event bills in advance, and the state to keep for the next event.

    Persist `total` and `max_total` (per charge, filter bucket and group, for the billing window) and pass them
    back as `previous_total` / `previous_max` with the next event."""

    billed_units: Decimal
    total: Decimal
    max_total: Decimal


@_exact
def advance_billed_units(previous_total: Decimal, previous_max: Decimal, delta: Decimal) -> AdvanceUnits:
    """§3.10 running-max rule: billed units = max(0, current − previous_max).

    * `sum_agg`: `delta` is the event's value (may be negative: never refunded, but re-consumed before billing
      again — standard 1.00, events 10, −4, 8 bill 10, 0, 4).
    * `unique_count_agg`: `delta` is `unique_count_delta(...)` (+1 a new active value, −1 a removal, 0 a no-op).
    * `count_agg`: `delta` is 1.
    Start a window with previous_total = previous_max = 0 (nothing billed yet).
    """
    current = to_decimal(previous_total) + to_decimal(delta)
    previous_max = to_decimal(previous_max)
    return AdvanceUnits(
        billed_units=max(current - previous_max, ZERO),
        total=current,
        max_total=max(previous_max, current),
    )


def unique_count_delta(value_was_active: bool, operation_type: str | None = "add") -> int:
    """§2.1 unique count: `add` counts +1 only if the value was not active, `remove` −1 only if it was."""
    operation = operation_type or "add"
    if operation == "add":
        return 0 if value_was_active else 1
    if operation == "remove":
        return -1 if value_was_active else 0
    raise ValueError(f"unknown operation_type {operation_type!r}")


def usage_excluding_event(
    usage_including: ChargeUsage, *, billed_units: Decimal, event_precise_total_amount_cents: Decimal = ZERO
) -> ChargeUsage:
    """The "before" side of an instant fee, built the way Lago does: the period-to-date usage including the
    event, minus the event's billed units, its count, its per-event value (the last one) and its dynamic amount."""
    return replace(
        usage_including,
        units=to_decimal(usage_including.units) - to_decimal(billed_units),
        events_count=max(usage_including.events_count - 1, 0),
        event_values=tuple(usage_including.event_values[:-1]),
        precise_total_amount_cents=to_decimal(usage_including.precise_total_amount_cents)
        - to_decimal(event_precise_total_amount_cents),
    )


@_exact
def instant_charge_amount(
    charge_model: str,
    properties: Mapping,
    *,
    usage_before: ChargeUsage,
    usage_after: ChargeUsage,
    currency_exponent: int = 2,
) -> ChargeAmount:
    """Instant (pay-in-advance) fee of one event = model(usage_after) − model(usage_before), never negative (§3.10).

    Typical call, for a caller that keeps (running total, running max) per bucket:

        step = advance_billed_units(state.total, state.max_total, event_value)
        after = ChargeUsage(units=step.total, events_count=n, event_values=values_so_far, ...)
        before = usage_excluding_event(after, billed_units=step.billed_units)
        fee = instant_charge_amount(model, properties, usage_before=before, usage_after=after)

    graduated / graduated_percentage: a side with 0 units is priced 0, so the first-tier flat fee is charged with
    the first event that brings units (never twice). The fee's `units` are the billed units (after − before).
    """
    after = compute_charge_amount(charge_model, properties, usage_after, currency_exponent=currency_exponent)
    before = compute_charge_amount(
        charge_model, properties, usage_before, currency_exponent=currency_exponent
    )
    after_amount, before_amount = after.amount, before.amount
    if charge_model in TIERED_MODELS:
        after_amount = ZERO if max(usage_after.units, ZERO) == 0 else after_amount
        before_amount = ZERO if max(usage_before.units, ZERO) == 0 else before_amount
    amount = max(after_amount - before_amount, ZERO)
    billed_units = max(to_decimal(usage_after.units) - to_decimal(usage_before.units), ZERO)
    details = _instant_details(charge_model, after.details, before.details, before_priced=before_amount != 0)
    return ChargeAmount(amount, billed_units, _unit_amount(amount, billed_units), details)


_PERCENTAGE_DELTA_KEYS = (
    "units",
    "free_units",
    "paid_units",
    "free_events",
    "paid_events",
    "fixed_fee_total_amount",
    "min_max_adjustment_total_amount",
    "per_unit_total_amount",
)


def _instant_details(charge_model: str, after: dict, before: dict, *, before_priced: bool) -> dict:
    """Lago's PayInAdvance::AmountDetailsCalculator: differences for percentage and graduated_percentage only."""
    if charge_model == "percentage":
        details = {"rate": after["rate"], "fixed_fee_unit_amount": after["fixed_fee_unit_amount"]}
        for key in _PERCENTAGE_DELTA_KEYS:
            details[key] = _text(to_decimal(str(after[key])) - to_decimal(str(before[key])))
        details["free_units"] = _text(to_decimal(details["units"]) - to_decimal(details["paid_units"]))
        return details
    if charge_model == "graduated_percentage":
        previous = {
            (line["from_value"], line["to_value"]): line
            for line in (before["graduated_percentage_ranges"] if before_priced else [])
        }
        return {
            "graduated_percentage_ranges": [
                _range_delta(line, previous) for line in after.get("graduated_percentage_ranges", [])
            ]
        }
    return {}


def _range_delta(line: dict, previous: dict) -> dict:
    old = previous.get((line["from_value"], line["to_value"]), {})
    units = to_decimal(line["units"]) - to_decimal(old.get("units", "0"))
    total = to_decimal(line["total_with_flat_amount"]) - to_decimal(old.get("total_with_flat_amount", "0"))
    flat = to_decimal(line["flat_unit_amount"]) - to_decimal(old.get("flat_unit_amount", "0"))
    per_unit = _divide(total, units).quantize(Decimal("0.01"), context=_ROUNDING) if units > 0 else ZERO
    return {
        "from_value": line["from_value"],
        "to_value": line["to_value"],
        "rate": line["rate"],
        "units": _text(units),
        "flat_unit_amount": _text(flat),
        "per_unit_total_amount": _text(per_unit),
        "total_with_flat_amount": _text(total),
    }


# --------------------------------------------------------------------------------------------------------------
# Prorated charges, §3.11
# --------------------------------------------------------------------------------------------------------------


def inclusive_days(first_day: date, last_day: date) -> int:
    """Calendar days from `first_day` to `last_day`, both counted (a unit added and removed the same day: 1)."""
    return (last_day - first_day).days + 1


def prorated_units(active_days: Iterable[int], period_days: int) -> Decimal:
    """§3.11: Σ active_days / period_days over the units, ceiled to 5 decimals (exact integer arithmetic).
    A unit present before the period counts the whole (or termination-truncated) period."""
    if period_days <= 0:
        raise ValueError("period_days must be positive")
    total_days = sum(int(days) for days in active_days)
    scaled = -((-total_days * 100_000) // period_days)  # ceil(total_days × 10^5 / period_days)
    return Decimal(scaled).scaleb(-5)


@_exact
def prorated_graduated_amount(properties: Mapping, slices: Sequence[tuple[Decimal, Decimal]]) -> ChargeAmount:
    """§3.11 graduated, in arrears: "each unit is priced for the fraction of the period it was active".

    `slices` are the bucket's units in event order as (full units, prorated units). The full units stack on the
    tier axis in that order; a tier's per-unit price applies to the prorated share of the units that fall in it;
    the flat fee of every tier the stacked full units reach is charged in full. The fee reports the full units."""
    ranges = list(properties.get("graduated_ranges") or [])
    slices = [(to_decimal(full), to_decimal(prorated)) for full, prorated in slices]
    if any(full < 0 or prorated < 0 for full, prorated in slices):
        raise ValueError("prorated slices must be non-negative")
    full_total = sum((full for full, _ in slices), ZERO)
    if full_total == 0:
        return ChargeAmount(ZERO, ZERO, ZERO, {})
    spans, flats, floor = [], ZERO, ZERO
    for tier, units in _tiers_reached(ranges, full_total, adjacent=ranges_are_adjacent(ranges)):
        # The tier covers the stacked positions (floor, floor + units].
        spans.append((floor, floor + units, to_decimal(tier["per_unit_amount"])))
        flats += to_decimal(tier["flat_amount"])
        floor += units
    per_unit_total, position = ZERO, ZERO
    for full, prorated in slices:
        for low, high, price in spans:
            overlap = min(position + full, high) - max(position, low)
            if overlap > 0:
                per_unit_total += _divide(overlap * prorated * price, full)
        position += full
    amount = per_unit_total + flats
    details = {
        "prorated_units": _text(sum((prorated for _, prorated in slices), ZERO)),
        "per_unit_total_amount": _text(per_unit_total),
        "flat_amount": _text(flats),
    }
    return ChargeAmount(amount, full_total, _unit_amount(amount, full_total), details)


# --------------------------------------------------------------------------------------------------------------
# Fixed charges, §4.8
# --------------------------------------------------------------------------------------------------------------


def _round_half_up_ratio(numerator: Fraction, denominator: int, *, places: int) -> Decimal:
    """numerator / denominator rounded half away from zero to `places` decimals, exactly (no double rounding)."""
    scaled = numerator * 10**places / denominator
    whole, rest = divmod(abs(scaled.numerator), scaled.denominator)
    if 2 * rest >= scaled.denominator:
        whole += 1
    return Decimal(-whole if scaled < 0 else whole).scaleb(-places)


def default_charge_properties(charge_model: str) -> dict:
    """Lago's default properties for a charge model (Charges::BuildDefaultPropertiesService): a zero price."""
    open_range = {"from_value": 0, "to_value": None, "per_unit_amount": "0", "flat_amount": "0"}
    defaults = {
        "standard": {"amount": "0"},
        "graduated": {"graduated_ranges": [dict(open_range)]},
        "volume": {"volume_ranges": [dict(open_range)]},
        "package": {"package_size": 1, "amount": "0", "free_units": 0},
        "percentage": {"rate": "0"},
        "graduated_percentage": {
            "graduated_percentage_ranges": [
                {"from_value": 0, "to_value": None, "rate": "0", "flat_amount": "0"}
            ]
        },
        "dynamic": {},
    }
    if charge_model not in defaults:
        raise ValueError(f"unknown charge model {charge_model!r}")
    return defaults[charge_model]


def fixed_charge_weighted_units(records: Iterable[tuple[Decimal, int]], period_days: int) -> Decimal:
    """§4.8 prorated units Σw: each units record weighs units_i × days_i / period_days, rounded half-up to 6 dp.
    `days_i` runs from the record's day (or period start) to the next record's day, exclusive; the last one
    through the period end / termination day (see `inclusive_days`)."""
    if period_days <= 0:
        raise ValueError("period_days must be positive")
    total = ZERO
    for units, days in records:
        total += _round_half_up_ratio(Fraction(to_decimal(units)) * int(days), period_days, places=6)
    return total


def fixed_charge_amount(
    charge_model: str, properties: Mapping | None, *, units: Decimal, weighted_units: Decimal | None = None
) -> ChargeAmount:
    """A fixed-charge fee (§4.8). Not prorated (`weighted_units` None): model(u) in full. Prorated: standard
    Σw × amount; volume tier by u, Σw × per_unit + flat; graduated tiers by u, per-unit parts × Σw/u, flats in
    full. Absent properties price at zero. The fee reports `units = u`."""
    if charge_model not in FIXED_CHARGE_MODELS:
        raise ValueError(f"fixed charges support {FIXED_CHARGE_MODELS}, not {charge_model!r}")
    properties = properties or default_charge_properties(charge_model)
    units = to_decimal(units)
    if weighted_units is None:
        usage = ChargeUsage(units=units)
    else:
        usage = ChargeUsage(units=to_decimal(weighted_units), full_units=units)
    result = compute_charge_amount(charge_model, properties, usage)
    return replace(result, units=units, unit_amount=_unit_amount(result.amount, units))


def fixed_charge_in_advance_change(
    charge_model: str,
    properties: Mapping | None,
    *,
    new_units: Decimal,
    units_already_billed: Decimal,
    remaining_days: int | None = None,
    period_days: int | None = None,
) -> ChargeAmount:
    """§4.8 immediate units change on an in-advance fixed charge: delta = new_u − Σ units already billed this
    window; delta ≤ 0 → a 0-unit, 0-amount fee (no refund). Else model(delta × remaining_days/period_days) when
    prorated (pass both day counts; remaining_days = period_end − change_date + 1), model(delta) otherwise —
    graduated tiers restart at 0 (⚠️ Lago)."""
    delta = to_decimal(new_units) - to_decimal(units_already_billed)
    if delta <= 0:
        return ChargeAmount(ZERO, ZERO, ZERO, {})
    if remaining_days is None:
        return fixed_charge_amount(charge_model, properties, units=delta)
    weighted = fixed_charge_weighted_units([(delta, remaining_days)], period_days)
    return fixed_charge_amount(charge_model, properties, units=delta, weighted_units=weighted)


def fixed_charge_upgrade_deduction_cents(old_fee_amount_cents: int, days_new: int, days_old: int) -> int:
    """§4.8 upgrade: the new subscription's first prorated in-advance fee on the same add-on drops by
    round(old_fee × d_new / d_old) (half-up, exact integers). The caller floors the fee at 0."""
    if days_old <= 0:
        raise ValueError("days_old must be positive")
    numerator = int(old_fee_amount_cents) * int(days_new)
    return (2 * numerator + days_old) // (2 * days_old)
