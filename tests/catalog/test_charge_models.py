"""Charge-model pricing math: the worked examples of billing-semantics.md, to the cent, plus properties."""

from __future__ import annotations

from decimal import Decimal, Inexact
from fractions import Fraction

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from catalog.charge_models import (
    AdvanceUnits,
    ChargeUsage,
    advance_billed_units,
    compute_charge_amount,
    fixed_charge_amount,
    fixed_charge_in_advance_change,
    fixed_charge_upgrade_deduction_cents,
    fixed_charge_weighted_units,
    inclusive_days,
    instant_charge_amount,
    prorated_graduated_amount,
    prorated_units,
    ranges_are_adjacent,
    round_units,
    unique_count_delta,
    usage_excluding_event,
)
from config.money import fee_amount_cents

D = Decimal


def cents(amount: Decimal, currency: str = "EUR") -> int:
    return fee_amount_cents(amount, currency)


def usage(units, *, events=None, count=None, precise="0", full_units=None) -> ChargeUsage:
    values = tuple(D(str(v)) for v in (events or ()))
    return ChargeUsage(
        units=D(str(units)),
        events_count=len(values) if count is None else count,
        event_values=values,
        precise_total_amount_cents=D(precise),
        full_units=None if full_units is None else D(str(full_units)),
    )


def price(model: str, properties: dict, units, **kwargs) -> int:
    return cents(compute_charge_amount(model, properties, usage(units, **kwargs)).amount)


def tier(from_value, to_value, per_unit, flat="0"):
    return {"from_value": from_value, "to_value": to_value, "per_unit_amount": per_unit, "flat_amount": flat}


def pct_tier(from_value, to_value, rate, flat="0"):
    return {"from_value": from_value, "to_value": to_value, "rate": rate, "flat_amount": flat}


GRADUATED_3_2 = {"graduated_ranges": [tier(0, 5, "10", "100"), tier(6, None, "5", "50")]}
GRADUATED_3_2_ZERO = {"graduated_ranges": [tier(0, 10, "2", "100"), tier(11, None, "1", "50")]}
GRADUATED_PCT_3_3 = {"graduated_percentage_ranges": [pct_tier(0, 100, "5"), pct_tier(101, None, "2", "10")]}
VOLUME_3_7 = {"volume_ranges": [tier(0, 10, "5", "100"), tier(11, None, "2", "50")]}


# --------------------------------------------------------------------------------------------------------------
# §2.5 rounding of aggregated units (Ex 2.4)
# --------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("function", "precision", "expected"),
    [("round", 2, "17.46"), ("ceil", 0, "18"), ("floor", -1, "10"), ("round", -1, "20")],
)
def test_ex_2_4_rounding_of_aggregated_units(function, precision, expected):
    result = round_units(D("17.455"), function, precision)
    assert result == D(expected)
    assert str(result) == expected


def test_round_units_without_function_keeps_units_and_rounds_half_away_from_zero():
    assert round_units(D("17.455"), None, 2) == D("17.455")
    assert round_units(D("-2.5"), "round", 0) == D("-3")
    assert round_units(D("-2.5"), "ceil", 0) == D("-2")
    assert round_units(D("-2.5"), "floor", 0) == D("-3")
    assert round_units(D("1250"), "round", -2) == D("1300")


# --------------------------------------------------------------------------------------------------------------
# §3 worked examples, exact cents
# --------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("label", "model", "properties", "units", "kwargs", "expected_cents"),
    [
        ("Ex 3.1 standard 4 × 12.5", "standard", {"amount": "12.5"}, 4, {}, 5_000),
        ("Ex 3.2 graduated 8 units", "graduated", GRADUATED_3_2, 8, {}, 21_500),
        ("Ex 3.2 graduated 3 units", "graduated", GRADUATED_3_2, 3, {}, 13_000),
        ("Ex 3.2 graduated 0 units = first flat", "graduated", GRADUATED_3_2_ZERO, 0, {}, 10_000),
        ("Ex 3.3 graduated % sum 150", "graduated_percentage", GRADUATED_PCT_3_3, 150, {}, 1_600),
        ("Ex 3.3 graduated % sum 50", "graduated_percentage", GRADUATED_PCT_3_3, 50, {}, 250),
        (
            "Ex 3.4 package 3 units",
            "package",
            {"amount": "100", "package_size": 10, "free_units": 0},
            3,
            {},
            10_000,
        ),
        (
            "Ex 3.4 package 15 units",
            "package",
            {"amount": "100", "package_size": 10, "free_units": 0},
            15,
            {},
            20_000,
        ),
        (
            "Ex 3.4 package free 5, 3 units",
            "package",
            {"amount": "100", "package_size": 10, "free_units": 5},
            3,
            {},
            0,
        ),
        (
            "Ex 3.4 package free 5, 12 units",
            "package",
            {"amount": "100", "package_size": 10, "free_units": 5},
            12,
            {},
            10_000,
        ),
        (
            "Ex 3.5 percentage free_units_per_events 3",
            "percentage",
            {"rate": "1", "fixed_amount": "5", "free_units_per_events": 3},
            40,
            {"events": [10, 10, 10, 10]},
            510,
        ),
        (
            "Ex 3.5 percentage free total 15, events 4×4",
            "percentage",
            {"rate": "1", "fixed_amount": "5", "free_units_per_total_aggregation": "15"},
            16,
            {"events": [4, 4, 4, 4]},
            501,
        ),
        (
            "Ex 3.5 percentage free total 15, fifth event 10",
            "percentage",
            {"rate": "1", "fixed_amount": "5", "free_units_per_total_aggregation": "15"},
            26,
            {"events": [4, 4, 4, 4, 10]},
            1_011,
        ),
        (
            "Ex 3.6 percentage per-transaction min/max, current usage",
            "percentage",
            {
                "rate": "1",
                "fixed_amount": "0.5",
                "per_transaction_min_amount": "1.75",
                "per_transaction_max_amount": "2",
            },
            11_433,
            {"events": [100, 1000, 10000, 333]},
            775,
        ),
        ("Ex 3.7 volume 5 units", "volume", VOLUME_3_7, 5, {}, 12_500),
        ("Ex 3.7 volume 15 units", "volume", VOLUME_3_7, 15, {}, 8_000),
        ("Ex 3.8 dynamic 10.1", "dynamic", {}, 1, {"precise": "10.1"}, 10),
        ("Ex 3.8 dynamic 10.1 + 901.9", "dynamic", {}, 2, {"precise": "912.0"}, 912),
        ("Ex 3.8 dynamic group 901.9", "dynamic", {}, 1, {"precise": "901.9"}, 902),
        ("Ex 3.9 charge fee 1 × 30.00", "standard", {"amount": "30.00"}, 1, {}, 3_000),
        ("Ex 9.1 standard 0.0002 × 1M", "standard", {"amount": "0.0002"}, 1_000_000, {}, 20_000),
        ("Ex 13.1 standard 5.00 × 2", "standard", {"amount": "5.00"}, 2, {}, 1_000),
    ],
    ids=lambda value: value if isinstance(value, str) and value.startswith("Ex") else None,
)
def test_worked_examples(label, model, properties, units, kwargs, expected_cents):
    assert price(model, properties, units, **kwargs) == expected_cents, label


def test_ex_3_8_dynamic_is_zero_without_units():
    assert price("dynamic", {}, 0, precise="1234.56") == 0


def test_ex_3_12_prorated_seats_in_arrears():
    # Seat a all March (31 d); seat b 03-10 → 03-20 = 11 days: 1 + 11/31 = 1.35484 units.
    units = prorated_units([31, inclusive_days_march(10, 20)], 31)
    assert units == D("1.35484")
    result = compute_charge_amount("standard", {"amount": "31.00"}, usage(units, full_units=2))
    assert result.amount == D("42.00004")
    assert cents(result.amount) == 4_200
    assert result.units == 2  # fee.units reports the non-prorated count


def inclusive_days_march(first: int, last: int) -> int:
    from datetime import date

    return inclusive_days(date(2024, 3, first), date(2024, 3, last))


@pytest.mark.parametrize(("added_day", "expected_cents"), [(11, 2_000), (15, 1_600)])
def test_ex_3_11_prorated_seat_in_advance(added_day, expected_cents):
    # June 2024 (30 d): a seat added on day d is active through June 30 → (31 − d) days.
    units = prorated_units([30 - added_day + 1], 30)
    before = usage(0)
    after = usage(units)
    fee = instant_charge_amount("standard", {"amount": "30"}, usage_before=before, usage_after=after)
    assert cents(fee.amount) == expected_cents


def test_ex_3_11_renewal_bills_carried_over_seats_in_full():
    assert price("standard", {"amount": "30"}, prorated_units([30] * 5, 30)) == 15_000


def test_ex_6_4_jpy_standard_charge_rounds_to_whole_yen():
    amount = compute_charge_amount("standard", {"amount": "0.4"}, usage(3)).amount
    assert amount == D("1.2")
    assert cents(amount, "JPY") == 1


# --------------------------------------------------------------------------------------------------------------
# Graduated range walk details (§3.2, §3.3)
# --------------------------------------------------------------------------------------------------------------


def test_graduated_amount_details_follow_lago_shape():
    details = compute_charge_amount("graduated", GRADUATED_3_2, usage(8)).details
    assert details == {
        "graduated_ranges": [
            {
                "from_value": 0,
                "to_value": 5,
                "units": "5",
                "per_unit_amount": "10",
                "flat_unit_amount": "100",
                "per_unit_total_amount": "50",
                "total_with_flat_amount": "150",
            },
            {
                "from_value": 6,
                "to_value": None,
                "units": "3",
                "per_unit_amount": "5",
                "flat_unit_amount": "50",
                "per_unit_total_amount": "15",
                "total_with_flat_amount": "65",
            },
        ]
    }


def test_graduated_adjacent_ranges_use_half_open_units():
    ranges = {"graduated_ranges": [tier(0, 5, "1"), tier(5, 10, "1"), tier(10, None, "1")]}
    assert ranges_are_adjacent(ranges["graduated_ranges"])
    result = compute_charge_amount("graduated", ranges, usage(12))
    assert result.amount == 12
    assert [line["units"] for line in result.details["graduated_ranges"]] == ["5", "5", "2"]


def test_graduated_mixed_list_is_priced_classic_and_counts_one_unit_twice():
    ranges = {"graduated_ranges": [tier(0, 5, "1"), tier(5, 10, "1"), tier(11, None, "1")]}
    assert not ranges_are_adjacent(ranges["graduated_ranges"])
    result = compute_charge_amount("graduated", ranges, usage(12))
    assert [line["units"] for line in result.details["graduated_ranges"]] == ["5", "6", "2"]
    assert result.amount == 13


def test_graduated_classic_ranges_price_fractional_units_between_tiers():
    # 5.5 units on [0–5], [6–∞]: the half unit past 5 lands in the second tier.
    result = compute_charge_amount("graduated", GRADUATED_3_2, usage("5.5"))
    assert result.amount == D("5") * 10 + 100 + D("0.5") * 5 + 50


def test_graduated_percentage_ignores_adjacency():
    ranges = {"graduated_percentage_ranges": [pct_tier(0, 100, "1"), pct_tier(100, None, "1")]}
    result = compute_charge_amount("graduated_percentage", ranges, usage(150))
    assert [line["units"] for line in result.details["graduated_percentage_ranges"]] == ["100", "51"]


def test_volume_picks_the_tier_by_ceiled_units_and_charges_first_flat_at_zero():
    assert compute_charge_amount("volume", VOLUME_3_7, usage("10.5")).amount == D("10.5") * 2 + 50
    assert compute_charge_amount("volume", VOLUME_3_7, usage(10)).amount == 150
    assert price("volume", VOLUME_3_7, 0) == 10_000


def test_package_details():
    result = compute_charge_amount(
        "package", {"amount": "100", "package_size": 10, "free_units": 5}, usage(12)
    )
    assert result.details == {
        "free_units": "5",
        "paid_units": "7",
        "per_package_size": 10,
        "per_package_unit_amount": "100",
    }


# --------------------------------------------------------------------------------------------------------------
# Percentage details and edge rules (§3.5)
# --------------------------------------------------------------------------------------------------------------


def test_ex_3_5_percentage_details():
    properties = {"rate": "1", "fixed_amount": "5", "free_units_per_events": 3}
    details = compute_charge_amount("percentage", properties, usage(40, events=[10, 10, 10, 10])).details
    assert details == {
        "units": "40",
        "free_units": "30",
        "paid_units": "10",
        "rate": "1",
        "per_unit_total_amount": "0.1",
        "free_events": 3,
        "paid_events": 1,
        "fixed_fee_unit_amount": "5",
        "fixed_fee_total_amount": "5",
        "min_max_adjustment_total_amount": "0",
    }


def test_percentage_with_both_free_settings_takes_the_smaller_allowance():
    properties = {"rate": "10", "free_units_per_events": 2, "free_units_per_total_aggregation": "15"}
    # running totals of the first 2 events: 10, 20 → free = min(15, 20) = 15 → 30 − 15 = 15 rated.
    assert compute_charge_amount("percentage", properties, usage(30, events=[10, 10, 10])).amount == D("1.5")


def test_percentage_fixed_fee_is_zero_without_units_or_when_every_event_is_free():
    properties = {"rate": "1", "fixed_amount": "5", "free_units_per_events": 3}
    assert compute_charge_amount("percentage", properties, usage(0, events=[0, 0])).amount == 0
    assert compute_charge_amount("percentage", properties, usage(30, events=[10, 10, 10])).amount == 0


def test_percentage_min_max_skips_free_events_and_rates_the_remainder_of_a_partly_free_one():
    properties = {
        "rate": "10",
        "free_units_per_total_aggregation": "15",
        "per_transaction_min_amount": "1",
    }
    # 10 free; then 5 free + 5 rated (0.5 → clamped to 1); then 20 → 2.
    result = compute_charge_amount("percentage", properties, usage(40, events=[10, 10, 20]))
    assert result.amount == D("3")


def test_percentage_min_max_event_exactly_exhausting_free_total_is_rated():
    # Lago: `remaining > value` keeps an event free; an event that uses the allowance exactly is rated on 0.
    properties = {"rate": "1", "free_units_per_total_aggregation": "8", "per_transaction_min_amount": "1"}
    assert compute_charge_amount("percentage", properties, usage(12, events=[4, 4, 4])).amount == D("2")


def test_percentage_empty_min_max_strings_are_ignored():
    properties = {"rate": "1", "per_transaction_min_amount": "", "per_transaction_max_amount": None}
    assert compute_charge_amount("percentage", properties, usage(100, events=[100])).amount == 1


# --------------------------------------------------------------------------------------------------------------
# Pay-in-advance (§3.10)
# --------------------------------------------------------------------------------------------------------------


def instant_fees(
    model: str, properties: dict, deltas, *, counts_events: bool = True, with_values: bool = True
):
    """Replay events through the running-max rule and return the instant fee of each, in cents."""
    total, peak, values, fees = D(0), D(0), [], []
    for delta in deltas:
        step = advance_billed_units(total, peak, D(str(delta)))
        values.append(D(str(delta)))
        after = ChargeUsage(
            units=step.total,
            events_count=len(values) if counts_events else 0,
            event_values=tuple(values) if with_values else (),
        )
        before = usage_excluding_event(after, billed_units=step.billed_units)
        fees.append(
            cents(instant_charge_amount(model, properties, usage_before=before, usage_after=after).amount)
        )
        total, peak = step.total, step.max_total
    return fees


def test_ex_3_10_package_instant_fees():
    properties = {"amount": "100", "free_units": 3, "package_size": 2}
    assert instant_fees("package", properties, [3, 1, 2]) == [0, 10_000, 10_000]


def test_ex_3_10_graduated_instant_fees_charge_first_flat_with_first_event():
    properties = {"graduated_ranges": [tier(0, 5, "0.02", "0.01"), tier(6, None, "0.01", "0.01")]}
    assert instant_fees("graduated", properties, [3, 1, 2]) == [7, 2, 4]


def test_ex_3_10_standard_negative_events_are_reconsumed_before_billing_again():
    assert instant_fees("standard", {"amount": "1.00"}, [10, -4, 8]) == [1_000, 0, 400]


def test_ex_3_10_unique_count_bills_a_value_only_above_the_previous_max():
    active: set[str] = set()
    deltas = []
    for operation, value in [
        ("add", "id_1"),
        ("remove", "id_1"),
        ("add", "id_1"),
        ("add", "id_2"),
        ("add", "id_2"),
        ("add", "id_3"),
    ]:
        deltas.append(unique_count_delta(value in active, operation))
        (active.add if operation == "add" else active.discard)(value)
    assert deltas == [1, -1, 1, 1, 0, 1]
    assert instant_fees("standard", {"amount": "12"}, deltas) == [1_200, 0, 0, 1_200, 0, 1_200]


def test_ex_3_10_percentage_instant_fees():
    properties = {"rate": "5", "fixed_amount": "1", "free_units_per_total_aggregation": "3"}
    assert instant_fees("percentage", properties, [5, 1]) == [110, 105]


def test_ex_3_10_count_graduated_same_second():
    properties = {"graduated_ranges": [tier(0, 2, "0"), tier(3, None, "2")]}
    assert instant_fees("graduated", properties, [1, 1, 1]) == [0, 0, 200]


def test_ex_3_10_dynamic_instant_fee():
    after = usage(1, precise="1234.56")
    before = usage_excluding_event(after, billed_units=D(1), event_precise_total_amount_cents=D("1234.56"))
    fee = instant_charge_amount("dynamic", {}, usage_before=before, usage_after=after)
    assert cents(fee.amount) == 1_235


def test_ex_3_6_percentage_min_max_instant_fees():
    properties = {
        "rate": "1",
        "fixed_amount": "0.5",
        "per_transaction_min_amount": "1.75",
        "per_transaction_max_amount": "2",
    }
    assert instant_fees("percentage", properties, [100, 1000, 10000]) == [175, 200, 200]


def test_advance_billed_units_state():
    assert advance_billed_units(D(0), D(0), D(10)) == AdvanceUnits(D(10), D(10), D(10))
    assert advance_billed_units(D(10), D(10), D(-4)) == AdvanceUnits(D(0), D(6), D(10))
    assert advance_billed_units(D(6), D(10), D(8)) == AdvanceUnits(D(4), D(14), D(14))
    # A negative first event never makes a later one bill units below zero.
    assert advance_billed_units(D(0), D(0), D(-5)) == AdvanceUnits(D(0), D(-5), D(0))
    assert advance_billed_units(D(-5), D(0), D(3)).billed_units == 0


def test_graduated_first_flat_is_charged_once_even_after_a_zero_event():
    properties = {"graduated_ranges": [tier(0, 5, "1", "10"), tier(6, None, "1")]}
    assert instant_fees("graduated", properties, [0, 2, 3]) == [0, 1_200, 300]


def test_percentage_instant_details_are_differences():
    properties = {"rate": "5", "fixed_amount": "1", "free_units_per_total_aggregation": "3"}
    after = usage(6, events=[5, 1])
    before = usage_excluding_event(after, billed_units=D(1))
    details = instant_charge_amount("percentage", properties, usage_before=before, usage_after=after).details
    assert details["units"] == "1"
    assert details["paid_events"] == "1"
    assert details["fixed_fee_total_amount"] == "1"
    assert D(details["per_unit_total_amount"]) == D("0.05")


# --------------------------------------------------------------------------------------------------------------
# Fixed charges (§4.8)
# --------------------------------------------------------------------------------------------------------------


def test_ex_4_8_prorated_in_arrears_standard():
    weighted = fixed_charge_weighted_units([(D(10), 10), (D(20), 21)], 31)
    assert weighted == D("3.225806") + D("13.548387")
    fee = fixed_charge_amount("standard", {"amount": "10"}, units=D(20), weighted_units=weighted)
    assert cents(fee.amount) == 16_774
    assert fee.units == 20
    assert cents(fixed_charge_amount("standard", {"amount": "10"}, units=D(20)).amount) == 20_000


def test_ex_4_9_in_advance_fixed_charge_sequence_prorated():
    properties = {"amount": "10.00"}
    start = fixed_charge_amount(
        "standard", properties, units=D(10), weighted_units=fixed_charge_weighted_units([(D(10), 31)], 31)
    )
    assert cents(start.amount) == 10_000
    change = fixed_charge_in_advance_change(
        "standard", properties, new_units=D(15), units_already_billed=D(10), remaining_days=21, period_days=31
    )
    assert cents(change.amount) == 3_387
    assert change.units == 5
    lower = fixed_charge_in_advance_change(
        "standard", properties, new_units=D(8), units_already_billed=D(15), remaining_days=11, period_days=31
    )
    assert (cents(lower.amount), lower.units) == (0, 0)
    assert cents(fixed_charge_amount("standard", properties, units=D(8)).amount) == 8_000


def test_ex_4_9_in_advance_fixed_charge_not_prorated():
    properties = {"amount": "10.00"}
    assert (
        cents(
            fixed_charge_in_advance_change(
                "standard", properties, new_units=D(15), units_already_billed=D(10)
            ).amount
        )
        == 5_000
    )
    down = fixed_charge_in_advance_change("standard", properties, new_units=D(5), units_already_billed=D(10))
    up = fixed_charge_in_advance_change("standard", properties, new_units=D(15), units_already_billed=D(10))
    assert (cents(down.amount), cents(up.amount)) == (0, 5_000)


def test_ex_4_10_upgrade_deducts_the_unused_part_of_the_old_fee():
    new_fee = fixed_charge_amount(
        "standard",
        {"amount": "8.00"},
        units=D(6),
        weighted_units=fixed_charge_weighted_units([(D(6), 10)], 30),
    )
    assert cents(new_fee.amount) == 1_600
    deduction = fixed_charge_upgrade_deduction_cents(2_000, 10, 30)
    assert deduction == 667
    assert max(cents(new_fee.amount) - deduction, 0) == 933


def test_fixed_charge_graduated_in_advance_delta_restarts_tiers_at_zero():
    properties = {"graduated_ranges": [tier(0, 10, "5"), tier(11, None, "2")]}
    delta = fixed_charge_in_advance_change(
        "graduated", properties, new_units=D(15), units_already_billed=D(10)
    )
    assert cents(delta.amount) == 2_500


def test_fixed_charge_prorated_volume_and_graduated():
    volume = {"volume_ranges": [tier(0, 10, "5", "100"), tier(11, None, "2", "50")]}
    # u = 15 picks the second tier; Σw = 7.5 → 7.5 × 2 + 50 (flat unprorated).
    result = fixed_charge_amount("volume", volume, units=D(15), weighted_units=D("7.5"))
    assert result.amount == D("65")
    graduated = {"graduated_ranges": [tier(0, 10, "5", "100"), tier(11, None, "2", "50")]}
    # tiers by u = 15: (10×5 + 5×2) × 7.5/15 + 100 + 50 = 30 + 150.
    result = fixed_charge_amount("graduated", graduated, units=D(15), weighted_units=D("7.5"))
    assert result.amount == D("180")
    assert result.units == 15


def test_fixed_charge_without_properties_prices_at_zero_and_refuses_other_models():
    assert fixed_charge_amount("graduated", None, units=D(3)).amount == 0
    with pytest.raises(ValueError):
        fixed_charge_amount("package", {"amount": "1", "package_size": 1, "free_units": 0}, units=D(1))


# --------------------------------------------------------------------------------------------------------------
# Prorated graduated (§3.11, in arrears)
# --------------------------------------------------------------------------------------------------------------


def test_prorated_graduated_prices_each_unit_for_its_own_active_fraction():
    properties = {"graduated_ranges": [tier(0, 1, "10", "1"), tier(2, None, "5", "2")]}
    # First unit (tier 1) active half the period: 5; second (tier 2) the whole period: 5; flats 1 + 2.
    result = prorated_graduated_amount(properties, [(D(1), D("0.5")), (D(1), D(1))])
    assert result.amount == D(13)
    assert result.units == 2


def test_prorated_graduated_with_full_ratios_equals_graduated():
    assert prorated_graduated_amount(GRADUATED_3_2, [(D(3), D(3)), (D(5), D(5))]).amount == (
        compute_charge_amount("graduated", GRADUATED_3_2, usage(8)).amount
    )


def test_prorated_units_ceil_to_five_decimals():
    assert prorated_units([1], 3) == D("0.33334")
    assert prorated_units([31], 31) == D("1.00000")
    assert prorated_units([], 30) == 0


# --------------------------------------------------------------------------------------------------------------
# Safety rules
# --------------------------------------------------------------------------------------------------------------


def test_negative_units_clamp_to_zero():
    assert compute_charge_amount("standard", {"amount": "5"}, usage(-3)).amount == 0
    assert compute_charge_amount("standard", {"amount": "5"}, usage(-3)).units == 0
    assert compute_charge_amount("dynamic", {}, usage(1, precise="-500")).amount == 0


def test_floats_are_refused():
    with pytest.raises(TypeError):
        compute_charge_amount("standard", {"amount": 0.1}, usage(3))


def test_a_result_that_cannot_be_exact_raises_instead_of_rounding():
    price_with_90_digits = "0." + "1" * 90
    with pytest.raises(Inexact):
        compute_charge_amount("standard", {"amount": price_with_90_digits}, usage("1.1111111111111111111"))


def test_unknown_charge_model_is_refused():
    with pytest.raises(ValueError):
        compute_charge_amount("custom", {}, usage(1))


# --------------------------------------------------------------------------------------------------------------
# Property tests
# --------------------------------------------------------------------------------------------------------------

PRICES = st.decimals(min_value=0, max_value=1_000, places=4, allow_nan=False, allow_infinity=False)
UNITS = st.decimals(min_value=0, max_value=100_000, places=3, allow_nan=False, allow_infinity=False)
WHOLE_UNITS = st.integers(min_value=0, max_value=10_000).map(Decimal)


@st.composite
def graduated_ranges(draw, *, adjacent=None, increasing_prices=False):
    bounds = sorted(draw(st.sets(st.integers(min_value=1, max_value=500), min_size=0, max_size=5)))
    adjacent = draw(st.booleans()) if adjacent is None else adjacent
    ranges, from_value = [], 0
    per_unit, flat = D(0), D(0)
    for to_value in [*bounds, None]:
        if to_value is not None and to_value <= from_value:
            continue
        if increasing_prices:
            per_unit, flat = per_unit + draw(PRICES), flat + draw(PRICES)
        else:
            per_unit, flat = draw(PRICES), draw(PRICES)
        ranges.append(tier(from_value, to_value, str(per_unit), str(flat)))
        if to_value is None:
            break
        from_value = to_value if adjacent else to_value + 1
    return ranges


def amount(model, properties, units, **kwargs):
    return compute_charge_amount(model, properties, usage(units, **kwargs)).amount


@given(price_=PRICES, a=UNITS, b=UNITS)
def test_standard_is_monotonic(price_, a, b):
    low, high = sorted((a, b))
    assert amount("standard", {"amount": str(price_)}, low) <= amount(
        "standard", {"amount": str(price_)}, high
    )


@given(ranges=graduated_ranges(), a=UNITS, b=UNITS)
def test_graduated_is_monotonic(ranges, a, b):
    low, high = sorted((a, b))
    properties = {"graduated_ranges": ranges}
    assert amount("graduated", properties, low) <= amount("graduated", properties, high)


@given(ranges=graduated_ranges(increasing_prices=True), a=UNITS, b=UNITS)
def test_volume_with_increasing_tier_prices_is_monotonic(ranges, a, b):
    low, high = sorted((a, b))
    properties = {"volume_ranges": ranges}
    assert amount("volume", properties, low) <= amount("volume", properties, high)


@given(
    package_amount=PRICES,
    size=st.integers(min_value=1, max_value=1_000),
    free=st.integers(min_value=0, max_value=1_000),
    a=UNITS,
    b=UNITS,
)
def test_package_is_monotonic_and_a_multiple_of_the_package_price(package_amount, size, free, a, b):
    properties = {"amount": str(package_amount), "package_size": size, "free_units": free}
    low, high = sorted((a, b))
    assert amount("package", properties, low) <= amount("package", properties, high)
    result = amount("package", properties, high)
    if package_amount:
        packages = result / package_amount
        assert packages == packages.to_integral_value()
        paid = max(high - free, 0)
        assert packages * size >= paid > (packages - 1) * size or packages == 0 == paid


@st.composite
def percentage_properties(draw):
    properties = {"rate": str(draw(PRICES)), "fixed_amount": str(draw(PRICES))}
    if draw(st.booleans()):
        properties["free_units_per_events"] = draw(st.integers(min_value=1, max_value=5))
    if draw(st.booleans()):
        properties["free_units_per_total_aggregation"] = str(draw(UNITS))
    if draw(st.booleans()):
        low, high = sorted((draw(PRICES), draw(PRICES)))
        properties["per_transaction_min_amount"] = str(low)
        properties["per_transaction_max_amount"] = str(high)
    return properties


@given(properties=percentage_properties(), values=st.lists(UNITS, min_size=1, max_size=8))
def test_percentage_is_monotonic_as_events_arrive(properties, values):
    previous = D(0)
    for count in range(len(values) + 1):
        events = values[:count]
        current = amount("percentage", properties, sum(events, D(0)), events=events)
        assert current >= previous
        previous = current


@given(per_unit=PRICES, ranges=graduated_ranges(), units=UNITS)
def test_graduated_with_one_price_and_no_flats_equals_standard(per_unit, ranges, units):
    flat_free = [{**r, "per_unit_amount": str(per_unit), "flat_amount": "0"} for r in ranges]
    assert amount("graduated", {"graduated_ranges": flat_free}, units) == amount(
        "standard", {"amount": str(per_unit)}, units
    )


@given(ranges=graduated_ranges())
def test_zero_usage_costs_the_first_flat_or_nothing(ranges):
    first_flat = D(ranges[0]["flat_amount"])
    assert amount("graduated", {"graduated_ranges": ranges}, 0) == first_flat
    assert amount("volume", {"volume_ranges": ranges}, 0) == first_flat
    assert amount("standard", {"amount": "3"}, 0) == 0
    assert amount("package", {"amount": "3", "package_size": 2, "free_units": 0}, 0) == 0
    assert amount("percentage", {"rate": "3", "fixed_amount": "1"}, 0, events=[0]) == 0
    assert amount("dynamic", {}, 0, precise="99") == 0


@given(
    units=st.decimals(min_value=0, max_value=D("1e15"), places=9, allow_nan=False, allow_infinity=False),
    price_=st.decimals(min_value=0, max_value=1_000, places=12, allow_nan=False, allow_infinity=False),
)
def test_huge_units_and_long_decimals_stay_exact(units, price_):
    result = amount("standard", {"amount": str(price_)}, units)
    assert Fraction(result) == Fraction(units) * Fraction(price_)
    ranges = {"graduated_ranges": [tier(0, 1_000, str(price_), "1"), tier(1_001, None, "0.000000001")]}
    expected = Fraction(min(units, D(1_000))) * Fraction(price_) + 1
    if units > 1_000:
        expected += Fraction(units - 1_000) * Fraction(D("0.000000001"))
    assert Fraction(amount("graduated", ranges, units)) == expected


@st.composite
def incremental_model(draw):
    model = draw(st.sampled_from(["standard", "graduated", "package", "graduated_percentage"]))
    if model == "standard":
        return model, {"amount": str(draw(PRICES))}
    if model == "package":
        return model, {
            "amount": str(draw(PRICES)),
            "package_size": draw(st.integers(min_value=1, max_value=50)),
            "free_units": draw(st.integers(min_value=0, max_value=50)),
        }
    ranges = draw(graduated_ranges(adjacent=model == "graduated" and draw(st.booleans())))
    if model == "graduated":
        return model, {"graduated_ranges": ranges}
    return model, {
        "graduated_percentage_ranges": [
            pct_tier(r["from_value"], r["to_value"], r["per_unit_amount"], r["flat_amount"]) for r in ranges
        ]
    }


@settings(max_examples=200)
@given(model=incremental_model(), events=st.lists(UNITS, min_size=1, max_size=10))
def test_instant_fees_of_non_negative_events_sum_to_the_period_amount(model, events):
    model_name, properties = model
    total, peak, billed = D(0), D(0), D(0)
    for value in events:
        step = advance_billed_units(total, peak, value)
        after = ChargeUsage(units=step.total, events_count=1)
        before = usage_excluding_event(after, billed_units=step.billed_units)
        billed += instant_charge_amount(model_name, properties, usage_before=before, usage_after=after).amount
        total, peak = step.total, step.max_total
    expected = amount(model_name, properties, total)
    if total == 0 and model_name in ("graduated", "graduated_percentage"):
        expected = D(0)  # no event brought units: the first-tier flat was never triggered
    assert billed == expected


@given(price_=PRICES, events=st.lists(st.integers(min_value=-50, max_value=50).map(Decimal), max_size=12))
def test_instant_standard_fees_with_negative_events_bill_the_peak_once(price_, events):
    total, peak, billed = D(0), D(0), D(0)
    running_peak = D(0)
    for value in events:
        step = advance_billed_units(total, peak, value)
        assert step.billed_units >= 0
        after = ChargeUsage(units=step.total)
        before = usage_excluding_event(after, billed_units=step.billed_units)
        fee = instant_charge_amount(
            "standard", {"amount": str(price_)}, usage_before=before, usage_after=after
        )
        assert fee.amount >= 0
        billed += fee.amount
        total, peak = step.total, step.max_total
        running_peak = max(running_peak, total)
    assert billed == running_peak * price_


@st.composite
def any_model(draw):
    model = draw(
        st.sampled_from(
            ["standard", "graduated", "graduated_percentage", "package", "percentage", "volume", "dynamic"]
        )
    )
    ranges = draw(graduated_ranges())
    properties = {
        "standard": {"amount": str(draw(PRICES))},
        "graduated": {"graduated_ranges": ranges},
        "volume": {"volume_ranges": ranges},
        "graduated_percentage": {
            "graduated_percentage_ranges": [
                pct_tier(r["from_value"], r["to_value"], r["per_unit_amount"], r["flat_amount"])
                for r in ranges
            ]
        },
        "package": {"amount": str(draw(PRICES)), "package_size": 3, "free_units": 2},
        "percentage": draw(percentage_properties()),
        "dynamic": {},
    }[model]
    return model, properties


SIGNED = st.decimals(min_value=-10_000, max_value=10_000, places=3, allow_nan=False, allow_infinity=False)


@given(model=any_model(), units=SIGNED, events=st.lists(SIGNED, max_size=6), precise=SIGNED)
def test_amounts_are_never_negative(model, units, events, precise):
    model_name, properties = model
    result = compute_charge_amount(model_name, properties, usage(units, events=events, precise=str(precise)))
    assert result.amount >= 0
    assert result.units >= 0


@given(units=st.decimals(min_value=0, max_value=10_000, places=6, allow_nan=False, allow_infinity=False))
def test_round_units_brackets_the_value(units):
    assume(units == units)  # no NaN
    assert round_units(units, "floor", 2) <= units <= round_units(units, "ceil", 2)
    assert abs(round_units(units, "round", 2) - units) <= D("0.005")
