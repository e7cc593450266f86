"""Charge properties validation, compatibility rules and normalisation (Lago's error codes)."""

from __future__ import annotations

import copy

import pytest
from hypothesis import given
from hypothesis import strategies as st

from catalog.charge_properties import (
    PRESENTATION_KEYS_COUNT_ERROR,
    PRESENTATION_KEYS_SHAPE_ERROR,
    as_properties_error_details,
    is_valid_amount,
    merge_errors,
    normalize_charge_properties,
    validate_charge_compatibility,
    validate_charge_properties,
)


def tier(from_value, to_value, per_unit="1", flat="0"):
    return {"from_value": from_value, "to_value": to_value, "per_unit_amount": per_unit, "flat_amount": flat}


def pct_tier(from_value, to_value, rate="1", flat="0"):
    return {"from_value": from_value, "to_value": to_value, "rate": rate, "flat_amount": flat}


# --------------------------------------------------------------------------------------------------------------
# Valid shapes
# --------------------------------------------------------------------------------------------------------------

VALID = [
    ("standard", {"amount": "12.5"}),
    ("standard", {"amount": "0"}),
    ("standard", {"amount": "0.0002", "pricing_group_keys": ["country"]}),
    ("standard", {"amount": "1", "grouped_by": ["agent_name"]}),
    ("graduated", {"graduated_ranges": [tier(0, 5, "10", "100"), tier(6, None, "5", "50")]}),
    ("graduated", {"graduated_ranges": [tier(0, 5), tier(5, 10), tier(10, None)]}),  # adjacent
    ("graduated", {"graduated_ranges": [tier(0, 5), tier(5, 10), tier(11, None)]}),  # mixed: Lago accepts it
    ("graduated", {"graduated_ranges": [tier(1, 5), tier(6, None)]}),  # first from_value 1: Lago accepts it
    ("graduated", {"graduated_ranges": [tier(0, None)]}),
    (
        "graduated_percentage",
        {"graduated_percentage_ranges": [pct_tier(0, 100, "5"), pct_tier(101, None, "2", "10")]},
    ),
    ("package", {"amount": "100", "package_size": 10, "free_units": 0}),
    ("percentage", {"rate": "1"}),
    (
        "percentage",
        {
            "rate": "1",
            "fixed_amount": "0.5",
            "free_units_per_events": 3,
            "free_units_per_total_aggregation": "15",
            "per_transaction_min_amount": "1.75",
            "per_transaction_max_amount": "2",
        },
    ),
    ("percentage", {"rate": "1", "free_units_per_events": None, "per_transaction_min_amount": ""}),
    ("percentage", {"rate": "1", "per_transaction_min_amount": "2", "per_transaction_max_amount": "2"}),
    ("volume", {"volume_ranges": [tier(0, 10, "5", "100"), tier(11, None, "2", "50")]}),
    ("dynamic", {}),
    ("dynamic", {"pricing_group_keys": ["group_key"]}),
    ("standard", {"amount": "1", "presentation_group_keys": [{"value": "region"}]}),
]


@pytest.mark.parametrize(("model", "properties"), VALID)
def test_valid_properties_pass(model, properties):
    assert validate_charge_properties(model, properties) == {}


# --------------------------------------------------------------------------------------------------------------
# Rejections, each with its exact error dict
# --------------------------------------------------------------------------------------------------------------

REJECTED = [
    # standard
    ("standard", {}, {"amount": ["invalid_amount"]}),
    ("standard", {"amount": "-1"}, {"amount": ["invalid_amount"]}),
    ("standard", {"amount": 12}, {"amount": ["invalid_amount"]}),  # must be a string
    ("standard", {"amount": 0.5}, {"amount": ["invalid_amount"]}),
    ("standard", {"amount": "abc"}, {"amount": ["invalid_amount"]}),
    ("standard", {"amount": "NaN"}, {"amount": ["invalid_amount"]}),
    ("standard", {"amount": "Infinity"}, {"amount": ["invalid_amount"]}),
    ("standard", {"amount": ""}, {"amount": ["invalid_amount"]}),
    # graduated
    ("graduated", {}, {"graduated_ranges": ["missing_graduated_ranges"]}),
    ("graduated", {"graduated_ranges": []}, {"graduated_ranges": ["missing_graduated_ranges"]}),
    ("graduated", {"graduated_ranges": "0-5"}, {"graduated_ranges": ["invalid_graduated_ranges"]}),
    ("graduated", {"graduated_ranges": [tier(2, None)]}, {"graduated_ranges": ["invalid_graduated_ranges"]}),
    ("graduated", {"graduated_ranges": [tier(0, 5)]}, {"graduated_ranges": ["invalid_graduated_ranges"]}),
    (
        "graduated",
        {"graduated_ranges": [tier(0, 5), tier(7, None)]},  # gap
        {"graduated_ranges": ["invalid_graduated_ranges"]},
    ),
    (
        "graduated",
        {"graduated_ranges": [tier(0, 5), tier(6, 6), tier(7, None)]},  # to_value must exceed from_value
        {"graduated_ranges": ["invalid_graduated_ranges"]},
    ),
    (
        "graduated",
        {"graduated_ranges": [tier(0, None), tier(1, None)]},  # only the last range is open
        {"graduated_ranges": ["invalid_graduated_ranges"]},
    ),
    (
        "graduated",
        {"graduated_ranges": [tier("0", "5"), tier("6", None)]},  # bounds are integers
        {"graduated_ranges": ["invalid_graduated_ranges"]},
    ),
    (
        "graduated",
        {"graduated_ranges": [tier(0, 5, "-1", "x"), tier(6, None, "1", "-2")]},
        {"per_unit_amount": ["invalid_amount"], "flat_amount": ["invalid_amount"]},
    ),
    # graduated_percentage
    (
        "graduated_percentage",
        {},
        {"graduated_percentage_ranges": ["missing_graduated_percentage_ranges"]},
    ),
    (
        "graduated_percentage",
        {"graduated_percentage_ranges": [pct_tier(0, 10), pct_tier(12, None)]},
        {"graduated_percentage_ranges": ["invalid_graduated_percentage_ranges"]},
    ),
    (
        "graduated_percentage",
        {"graduated_percentage_ranges": [pct_tier(0, None, rate="-1", flat=None)]},
        {"flat_amount": ["invalid_amount"], "rate": ["invalid_rate"]},
    ),
    # package
    (
        "package",
        {},
        {
            "amount": ["invalid_amount"],
            "free_units": ["invalid_free_units"],
            "package_size": ["invalid_package_size"],
        },
    ),
    (
        "package",
        {"amount": "1", "package_size": 0, "free_units": 0},
        {"package_size": ["invalid_package_size"]},
    ),
    (
        "package",
        {"amount": "1", "package_size": 2.0, "free_units": 0},
        {"package_size": ["invalid_package_size"]},
    ),
    (
        "package",
        {"amount": "1", "package_size": True, "free_units": 0},
        {"package_size": ["invalid_package_size"]},
    ),
    (
        "package",
        {"amount": "1", "package_size": 10, "free_units": -1},
        {"free_units": ["invalid_free_units"]},
    ),
    (
        "package",
        {"amount": "1", "package_size": 10, "free_units": "5"},
        {"free_units": ["invalid_free_units"]},
    ),
    # percentage
    ("percentage", {}, {"rate": ["invalid_rate"]}),
    ("percentage", {"rate": "-1"}, {"rate": ["invalid_rate"]}),
    ("percentage", {"rate": "1", "fixed_amount": "-1"}, {"fixed_amount": ["invalid_fixed_amount"]}),
    ("percentage", {"rate": "1", "fixed_amount": 1}, {"fixed_amount": ["invalid_fixed_amount"]}),
    (
        "percentage",
        {"rate": "1", "free_units_per_events": 0},
        {"free_units_per_events": ["invalid_free_units_per_events"]},
    ),
    (
        "percentage",
        {"rate": "1", "free_units_per_events": "3"},
        {"free_units_per_events": ["invalid_free_units_per_events"]},
    ),
    (
        "percentage",
        {"rate": "1", "free_units_per_total_aggregation": "-5"},
        {"free_units_per_total_aggregation": ["invalid_free_units_per_total_aggregation"]},
    ),
    (
        "percentage",
        {"rate": "1", "free_units_per_total_aggregation": 5},
        {"free_units_per_total_aggregation": ["invalid_free_units_per_total_aggregation"]},
    ),
    (
        "percentage",
        {"rate": "1", "per_transaction_min_amount": "x", "per_transaction_max_amount": "-1"},
        {"per_transaction_min_amount": ["invalid_amount"], "per_transaction_max_amount": ["invalid_amount"]},
    ),
    (
        "percentage",
        {"rate": "1", "per_transaction_min_amount": "3", "per_transaction_max_amount": "2"},
        {"per_transaction_max_amount": ["per_transaction_max_lower_than_per_transaction_min"]},
    ),
    # volume
    ("volume", {}, {"volume_ranges": ["missing_volume_ranges"]}),
    ("volume", {"volume_ranges": [tier(0, 10), tier(11, 20)]}, {"volume_ranges": ["invalid_volume_ranges"]}),
    ("volume", {"volume_ranges": [tier(0, None, None, "1")]}, {"per_unit_amount": ["invalid_amount"]}),
    # group keys (every model)
    ("standard", {"amount": "1", "pricing_group_keys": "country"}, {"pricing_group_keys": ["invalid_type"]}),
    (
        "standard",
        {"amount": "1", "pricing_group_keys": ["country", 3]},
        {"pricing_group_keys": ["invalid_type"]},
    ),
    (
        "standard",
        {"amount": "1", "pricing_group_keys": ["country", " "]},
        {"pricing_group_keys": ["invalid_type"]},
    ),
    ("dynamic", {"grouped_by": [""]}, {"grouped_by": ["invalid_type"]}),
    (
        "standard",
        {"amount": "1", "presentation_group_keys": ["region"]},
        {"presentation_group_keys": [PRESENTATION_KEYS_SHAPE_ERROR]},
    ),
    (
        "standard",
        {"amount": "1", "presentation_group_keys": [{"value": "a"}, {"value": "b"}, {"value": "c"}]},
        {"presentation_group_keys": [PRESENTATION_KEYS_COUNT_ERROR]},
    ),
    # shapes
    ("custom", {}, {"charge_model": ["value_is_invalid"]}),
    ("standard", ["amount"], {"properties": ["invalid_type"]}),
]


@pytest.mark.parametrize(("model", "properties", "errors"), REJECTED)
def test_rejections(model, properties, errors):
    assert validate_charge_properties(model, properties) == errors


def test_repeated_range_errors_are_reported_once():
    properties = {"graduated_ranges": [tier(0, 5, "-1"), tier(7, 9, "-1"), tier(11, 12, "-1")]}
    assert validate_charge_properties("graduated", properties) == {
        "per_unit_amount": ["invalid_amount"],
        "graduated_ranges": ["invalid_graduated_ranges"],
    }


@pytest.mark.parametrize("model", ["percentage", "graduated_percentage"])
def test_percentage_models_reject_latest_agg(model):
    properties = (
        {"rate": "1"} if model == "percentage" else {"graduated_percentage_ranges": [pct_tier(0, None)]}
    )
    assert validate_charge_properties(model, properties, aggregation_type="latest_agg") == {
        "billable_metric": ["invalid_value"]
    }
    assert validate_charge_properties(model, properties, aggregation_type="sum_agg") == {}


def test_pay_in_advance_does_not_change_properties_validation():
    assert validate_charge_properties("standard", {"amount": "1"}, pay_in_advance=True) == {}


def test_as_properties_error_details_flattens_like_lago():
    errors = validate_charge_properties("package", {})
    assert as_properties_error_details(errors) == {
        "properties": ["invalid_amount", "invalid_free_units", "invalid_package_size"]
    }
    assert as_properties_error_details({}) == {}
    assert as_properties_error_details(
        {"per_unit_amount": ["invalid_amount"], "flat_amount": ["invalid_amount"]}
    ) == {"properties": ["invalid_amount"]}


def test_merge_errors_keeps_first_occurrence():
    assert merge_errors({"a": ["x"]}, {"a": ["x", "y"], "b": ["z"]}) == {"a": ["x", "y"], "b": ["z"]}


@given(st.decimals(min_value=0, max_value=10**12, allow_nan=False, allow_infinity=False))
def test_any_non_negative_decimal_string_is_a_valid_amount(value):
    assert is_valid_amount(str(value))
    assert not is_valid_amount(str(-value)) or value == 0


# --------------------------------------------------------------------------------------------------------------
# Compatibility (§2.1, §3.9–§3.11)
# --------------------------------------------------------------------------------------------------------------

COMPATIBILITY = [
    ({"charge_model": "standard", "aggregation_type": "sum_agg"}, {}),
    (
        {"charge_model": "dynamic", "aggregation_type": "count_agg"},
        {"charge_model": ["invalid_aggregation_type_or_charge_model"]},
    ),
    ({"charge_model": "dynamic", "aggregation_type": "sum_agg"}, {}),
    (
        {"charge_model": "percentage", "aggregation_type": "latest_agg"},
        {"billable_metric": ["invalid_value"]},
    ),
    (
        {"charge_model": "volume", "aggregation_type": "sum_agg", "pay_in_advance": True},
        {"pay_in_advance": ["invalid_aggregation_type_or_charge_model"]},
    ),
    (
        {"charge_model": "standard", "aggregation_type": "max_agg", "pay_in_advance": True},
        {"pay_in_advance": ["invalid_aggregation_type_or_charge_model"]},
    ),
    (
        {"charge_model": "standard", "aggregation_type": "weighted_sum_agg", "pay_in_advance": True},
        {"pay_in_advance": ["invalid_aggregation_type_or_charge_model"]},
    ),
    ({"charge_model": "standard", "aggregation_type": "unique_count_agg", "pay_in_advance": True}, {}),
    (
        {"charge_model": "standard", "aggregation_type": "sum_agg", "regroup_paid_fees": "invoice"},
        {"regroup_paid_fees": ["only_compatible_with_pay_in_advance_and_non_invoiceable"]},
    ),
    (
        {
            "charge_model": "standard",
            "aggregation_type": "sum_agg",
            "pay_in_advance": True,
            "invoiceable": False,
            "regroup_paid_fees": "invoice",
        },
        {},
    ),
    (
        {"charge_model": "standard", "aggregation_type": "sum_agg", "invoiceable": False},
        {"invoiceable": ["must_be_true_unless_pay_in_advance"]},
    ),
    (
        {
            "charge_model": "standard",
            "aggregation_type": "sum_agg",
            "pay_in_advance": True,
            "min_amount_cents": 100,
        },
        {"min_amount_cents": ["not_compatible_with_pay_in_advance"]},
    ),
    ({"charge_model": "standard", "aggregation_type": "sum_agg", "min_amount_cents": 100}, {}),
    # prorated
    (
        {"charge_model": "standard", "aggregation_type": "sum_agg", "prorated": True},
        {"prorated": ["invalid_billable_metric_or_charge_model"]},  # not recurring
    ),
    (
        {
            "charge_model": "standard",
            "aggregation_type": "unique_count_agg",
            "prorated": True,
            "recurring": True,
        },
        {},
    ),
    (
        {
            "charge_model": "standard",
            "aggregation_type": "unique_count_agg",
            "prorated": True,
            "recurring": True,
            "pay_in_advance": True,
        },
        {},
    ),
    ({"charge_model": "graduated", "aggregation_type": "sum_agg", "prorated": True, "recurring": True}, {}),
    ({"charge_model": "volume", "aggregation_type": "sum_agg", "prorated": True, "recurring": True}, {}),
    (
        {
            "charge_model": "graduated",
            "aggregation_type": "sum_agg",
            "prorated": True,
            "recurring": True,
            "pay_in_advance": True,
        },
        {"prorated": ["invalid_billable_metric_or_charge_model"]},
    ),
    (
        {"charge_model": "package", "aggregation_type": "sum_agg", "prorated": True, "recurring": True},
        {"prorated": ["invalid_billable_metric_or_charge_model"]},
    ),
    (
        {
            "charge_model": "standard",
            "aggregation_type": "weighted_sum_agg",
            "prorated": True,
            "recurring": True,
        },
        {"prorated": ["invalid_billable_metric_or_charge_model"]},
    ),
]


@pytest.mark.parametrize(("arguments", "errors"), COMPATIBILITY)
def test_compatibility(arguments, errors):
    model = arguments.pop("charge_model")
    assert validate_charge_compatibility(model, **arguments) == errors


# --------------------------------------------------------------------------------------------------------------
# Normalisation (ChargeModels::FilterProperties)
# --------------------------------------------------------------------------------------------------------------


def test_normalize_keeps_only_the_models_keys():
    properties = {
        "amount": "1",
        "rate": "5",
        "graduated_ranges": [tier(0, None)],
        "package_size": 10,
        "free_units": 0,
        "junk": True,
    }
    assert normalize_charge_properties("standard", properties) == {"amount": "1"}
    assert normalize_charge_properties("package", properties) == {
        "amount": "1",
        "package_size": 10,
        "free_units": 0,
    }
    assert normalize_charge_properties("percentage", properties) == {"rate": "5"}
    assert normalize_charge_properties("dynamic", properties) == {}
    assert normalize_charge_properties(
        "graduated", {**properties, "graduated_ranges": [{**tier(0, None), "x": 1}]}
    ) == {"graduated_ranges": [tier(0, None)]}


def test_normalize_percentage_keeps_all_its_settings():
    properties = {
        "rate": "1",
        "fixed_amount": "0.5",
        "free_units_per_events": 3,
        "free_units_per_total_aggregation": "15",
        "per_transaction_min_amount": "1.75",
        "per_transaction_max_amount": "2",
        "amount": "9",
    }
    expected = {key: value for key, value in properties.items() if key != "amount"}
    assert normalize_charge_properties("percentage", properties) == expected


def test_normalize_group_keys():
    assert normalize_charge_properties("standard", {"amount": "1", "grouped_by": ["country", ""]}) == {
        "amount": "1",
        "pricing_group_keys": ["country"],
    }
    assert normalize_charge_properties(
        "standard", {"amount": "1", "grouped_by": ["a"], "pricing_group_keys": ["b"]}
    ) == {"amount": "1", "pricing_group_keys": ["b"]}
    assert normalize_charge_properties("standard", {"amount": "1", "pricing_group_keys": []}) == {
        "amount": "1"
    }
    assert normalize_charge_properties(
        "dynamic", {"presentation_group_keys": [{"value": "region"}], "grouped_by": []}
    ) == {"presentation_group_keys": [{"value": "region"}]}


def test_normalize_does_not_mutate_its_input_and_rejects_unknown_models():
    properties = {"graduated_ranges": [{**tier(0, None), "x": 1}], "grouped_by": ["a"]}
    snapshot = copy.deepcopy(properties)
    normalize_charge_properties("graduated", properties)
    assert properties == snapshot
    with pytest.raises(ValueError):
        normalize_charge_properties("custom", {})


@pytest.mark.parametrize(("model", "properties"), VALID)
def test_normalized_valid_properties_stay_valid(model, properties):
    assert validate_charge_properties(model, normalize_charge_properties(model, properties)) == {}


@pytest.mark.parametrize(
    "model", ["standard", "graduated", "graduated_percentage", "package", "percentage", "volume", "dynamic"]
)
def test_default_properties_are_valid_and_already_normalized(model):
    from catalog.charge_models import default_charge_properties

    defaults = default_charge_properties(model)
    assert validate_charge_properties(model, defaults) == {}
    assert normalize_charge_properties(model, defaults) == defaults
