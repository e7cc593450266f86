"""Validation and normalisation of a charge's `properties` (billing-semantics §2.1, §3), pure Python.

Mirrors lago-api's `Charges::Validators::*Service` (field → error codes), `ChargeModels::FilterProperties` (which
keys are kept) and the compatibility rules of the `Charge` model. Lago's API reports every properties error under
one `properties` key (`ChargePropertiesValidation`); `as_properties_error_details` gives that shape, while
`validate_charge_properties` keeps the per-field detail (useful for filters and forms).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation

from catalog.charge_models import CHARGE_MODELS

Errors = dict[str, list[str]]

# Aggregations a pay-in-advance charge may use (§2.1, BillableMetric#payable_in_advance?).
PAYABLE_IN_ADVANCE_AGGREGATIONS = frozenset({"count_agg", "sum_agg", "unique_count_agg", "custom_agg"})

# Keys each model keeps (ChargeModels::FilterProperties::ChargeService); group keys are added on top.
MODEL_PROPERTY_KEYS: dict[str, tuple[str, ...]] = {
    "standard": ("amount",),
    "graduated": ("graduated_ranges",),
    "graduated_percentage": ("graduated_percentage_ranges",),
    "package": ("amount", "free_units", "package_size"),
    "percentage": (
        "fixed_amount",
        "free_units_per_events",
        "free_units_per_total_aggregation",
        "per_transaction_max_amount",
        "per_transaction_min_amount",
        "rate",
    ),
    "volume": ("volume_ranges",),
    "dynamic": (),
}

_AMOUNT_RANGE_KEYS = ("from_value", "to_value", "per_unit_amount", "flat_amount")
_RANGE_KEYS = {
    "graduated_ranges": _AMOUNT_RANGE_KEYS,
    "volume_ranges": _AMOUNT_RANGE_KEYS,
    "graduated_percentage_ranges": ("from_value", "to_value", "rate", "flat_amount"),
}

# Lago's own (sentence-like) codes for presentation_group_keys, kept verbatim for wire compatibility.
PRESENTATION_KEYS_SHAPE_ERROR = "presentation_group_keys must be an array of hashes with a 'value' key"
PRESENTATION_KEYS_COUNT_ERROR = "presentation_group_keys have a maximum of 2 elements"


# --------------------------------------------------------------------------------------------------------------
# Value checks (Validators::DecimalAmountService and friends)
# --------------------------------------------------------------------------------------------------------------


def _is_blank(value) -> bool:
    """Ruby's `blank?`: None, False, empty or whitespace-only strings, empty collections."""
    if value is None or value is False:
        return True
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, list | tuple | dict):
        return len(value) == 0
    return False


def _parse_decimal_string(value) -> Decimal | None:
    """A finite Decimal for a decimal *string* (Lago only accepts strings: floats lose precision), else None."""
    if not isinstance(value, str) or not value.isascii():
        return None
    try:
        parsed = Decimal(value.strip())
    except InvalidOperation:
        return None
    return parsed if parsed.is_finite() else None


def is_valid_amount(value) -> bool:
    """`DecimalAmountService#valid_amount?`: a decimal string ≥ 0."""
    parsed = _parse_decimal_string(value)
    return parsed is not None and parsed >= 0


def _is_integer(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _add(errors: Errors, field: str, code: str) -> None:
    codes = errors.setdefault(field, [])
    if code not in codes:  # Lago repeats a code once per bad range; one is enough
        codes.append(code)


def merge_errors(*error_dicts: Errors) -> Errors:
    """Merge field errors, keeping the first occurrence of each code."""
    merged: Errors = {}
    for errors in error_dicts:
        for field, codes in errors.items():
            for code in codes:
                _add(merged, field, code)
    return merged


def as_properties_error_details(errors: Errors) -> Errors:
    """Lago's API shape: every properties error code under `properties` (ChargePropertiesValidation)."""
    codes: list[str] = []
    for field_codes in errors.values():
        codes.extend(code for code in field_codes if code not in codes)
    return {"properties": codes} if codes else {}


# --------------------------------------------------------------------------------------------------------------
# Per-model validators
# --------------------------------------------------------------------------------------------------------------


def _validate_amount_field(properties: Mapping, errors: Errors, key: str = "amount") -> None:
    if not is_valid_amount(properties.get(key)):
        _add(errors, key, "invalid_amount")


def _range_bounds_valid(tier: Mapping, index: int, count: int, next_from) -> bool:
    """`Validators::RangeBoundsValidator`: from = previous to (adjacent) or previous to + 1 (classic); the first
    from is 0 or 1; every range but the last has an integer to > from; the last has to = null."""
    from_value, to_value = tier.get("from_value"), tier.get("to_value")
    if not _is_integer(from_value) or from_value not in (next_from, next_from + 1):
        return False
    if index == count - 1:
        return to_value is None
    return _is_integer(to_value) and to_value > from_value


def _validate_ranges(
    properties: Mapping, errors: Errors, *, key: str, missing_code: str, invalid_code: str, check_prices
) -> None:
    ranges = properties.get(key)
    if _is_blank(ranges):
        _add(errors, key, missing_code)
        return
    if not isinstance(ranges, list | tuple) or not all(isinstance(tier, Mapping) for tier in ranges):
        _add(errors, key, invalid_code)
        return
    next_from = 0
    for index, tier in enumerate(ranges):
        check_prices(tier, errors)
        if not _range_bounds_valid(tier, index, len(ranges), next_from):
            _add(errors, key, invalid_code)
        to_value = tier.get("to_value")
        next_from = to_value if _is_integer(to_value) else 0


def _check_unit_prices(tier: Mapping, errors: Errors) -> None:
    _validate_amount_field(tier, errors, "per_unit_amount")
    _validate_amount_field(tier, errors, "flat_amount")


def _check_rate_and_flat(tier: Mapping, errors: Errors) -> None:
    _validate_amount_field(tier, errors, "flat_amount")
    if not is_valid_amount(tier.get("rate")):
        _add(errors, "rate", "invalid_rate")


def _validate_standard(properties: Mapping, errors: Errors) -> None:
    _validate_amount_field(properties, errors)


def _validate_graduated(properties: Mapping, errors: Errors) -> None:
    _validate_ranges(
        properties,
        errors,
        key="graduated_ranges",
        missing_code="missing_graduated_ranges",
        invalid_code="invalid_graduated_ranges",
        check_prices=_check_unit_prices,
    )


def _validate_volume(properties: Mapping, errors: Errors) -> None:
    _validate_ranges(
        properties,
        errors,
        key="volume_ranges",
        missing_code="missing_volume_ranges",
        invalid_code="invalid_volume_ranges",
        check_prices=_check_unit_prices,
    )


def _validate_graduated_percentage(properties: Mapping, errors: Errors) -> None:
    _validate_ranges(
        properties,
        errors,
        key="graduated_percentage_ranges",
        missing_code="missing_graduated_percentage_ranges",
        invalid_code="invalid_graduated_percentage_ranges",
        check_prices=_check_rate_and_flat,
    )


def _validate_package(properties: Mapping, errors: Errors) -> None:
    _validate_amount_field(properties, errors)
    free_units = properties.get("free_units")
    if not (_is_integer(free_units) and free_units >= 0):
        _add(errors, "free_units", "invalid_free_units")
    package_size = properties.get("package_size")
    if not (_is_integer(package_size) and package_size > 0):
        _add(errors, "package_size", "invalid_package_size")


def _validate_percentage(properties: Mapping, errors: Errors) -> None:
    if not is_valid_amount(properties.get("rate")):
        _add(errors, "rate", "invalid_rate")
    fixed_amount = properties.get("fixed_amount")
    if fixed_amount is not None and not is_valid_amount(fixed_amount):
        _add(errors, "fixed_amount", "invalid_fixed_amount")
    free_events = properties.get("free_units_per_events")
    if free_events is not None and not (_is_integer(free_events) and free_events > 0):
        _add(errors, "free_units_per_events", "invalid_free_units_per_events")
    free_total = properties.get("free_units_per_total_aggregation")
    if free_total is not None and not is_valid_amount(free_total):
        _add(errors, "free_units_per_total_aggregation", "invalid_free_units_per_total_aggregation")
    _validate_transaction_bounds(properties, errors)


def _validate_transaction_bounds(properties: Mapping, errors: Errors) -> None:
    """Per-transaction min/max: decimal strings ≥ 0 when present, and min ≤ max. (Lago checks these only with a
    premium licence; Tollbooth always does.)"""
    bounds = {}
    for key in ("per_transaction_min_amount", "per_transaction_max_amount"):
        value = properties.get(key)
        if _is_blank(value):
            continue
        if is_valid_amount(value):
            bounds[key] = Decimal(value.strip())
        else:
            _add(errors, key, "invalid_amount")
    if len(bounds) == 2 and bounds["per_transaction_min_amount"] > bounds["per_transaction_max_amount"]:
        _add(errors, "per_transaction_max_amount", "per_transaction_max_lower_than_per_transaction_min")


def _validate_dynamic(properties: Mapping, errors: Errors) -> None:
    """Dynamic pricing has no properties of its own (its price comes with each event)."""


_MODEL_VALIDATORS = {
    "standard": _validate_standard,
    "graduated": _validate_graduated,
    "graduated_percentage": _validate_graduated_percentage,
    "package": _validate_package,
    "percentage": _validate_percentage,
    "volume": _validate_volume,
    "dynamic": _validate_dynamic,
}

_LATEST_AGG_FORBIDDEN = ("percentage", "graduated_percentage")


# --------------------------------------------------------------------------------------------------------------
# Group keys (Charges::Validators::BaseService)
# --------------------------------------------------------------------------------------------------------------


def _group_keys_field(properties: Mapping) -> str:
    """`pricing_group_keys` wins; the deprecated `grouped_by` is read only when it is absent."""
    return "pricing_group_keys" if properties.get("pricing_group_keys") is not None else "grouped_by"


def _validate_pricing_group_keys(properties: Mapping, errors: Errors) -> None:
    key = _group_keys_field(properties)
    keys = properties.get(key)
    if keys is None or (isinstance(keys, list) and not keys):
        return
    if isinstance(keys, list) and all(isinstance(name, str) and not _is_blank(name) for name in keys):
        return
    _add(errors, key, "invalid_type")


def _validate_presentation_group_keys(properties: Mapping, errors: Errors) -> None:
    keys = properties.get("presentation_group_keys")
    if _is_blank(keys):
        return
    if not (isinstance(keys, list) and all(isinstance(item, Mapping) and "value" in item for item in keys)):
        _add(errors, "presentation_group_keys", PRESENTATION_KEYS_SHAPE_ERROR)
        return
    if len(keys) > 2:
        _add(errors, "presentation_group_keys", PRESENTATION_KEYS_COUNT_ERROR)


# --------------------------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------------------------


def validate_charge_properties(
    charge_model: str,
    properties: Mapping | None,
    *,
    pay_in_advance: bool = False,
    aggregation_type: str | None = None,
) -> Errors:
    """Field errors of one properties object (a charge's or a charge filter's) for `charge_model`; `{}` if valid.

    With `aggregation_type`, percentage and graduated_percentage also reject `latest_agg` under
    `billable_metric` (Lago's properties validators do this). `pay_in_advance` is accepted so callers can pass
    the same arguments as to `validate_charge_compatibility`; no Lago properties rule depends on it."""
    del pay_in_advance  # no properties rule depends on it (see docstring)
    if charge_model not in _MODEL_VALIDATORS:
        return {"charge_model": ["value_is_invalid"]}
    if properties is None:
        properties = {}
    if not isinstance(properties, Mapping):
        return {"properties": ["invalid_type"]}
    errors: Errors = {}
    if charge_model in _LATEST_AGG_FORBIDDEN and aggregation_type == "latest_agg":
        _add(errors, "billable_metric", "invalid_value")
    _MODEL_VALIDATORS[charge_model](properties, errors)
    _validate_pricing_group_keys(properties, errors)
    _validate_presentation_group_keys(properties, errors)
    return errors


def validate_charge_compatibility(
    charge_model: str,
    *,
    aggregation_type: str,
    pay_in_advance: bool = False,
    invoiceable: bool = True,
    prorated: bool = False,
    recurring: bool = False,
    min_amount_cents: int = 0,
    regroup_paid_fees: str | None = None,
) -> Errors:
    """Charge-level rules of §2.1/§3.9–3.11 (lago-api `Charge` model validations); `{}` if compatible.

    Unlike properties errors these keep their own field in Lago's API (`pay_in_advance`, `prorated`…)."""
    errors: Errors = {}
    if charge_model == "dynamic" and aggregation_type != "sum_agg":
        _add(errors, "charge_model", "invalid_aggregation_type_or_charge_model")
    if charge_model in _LATEST_AGG_FORBIDDEN and aggregation_type == "latest_agg":
        _add(errors, "billable_metric", "invalid_value")
    if pay_in_advance and (
        charge_model == "volume" or aggregation_type not in PAYABLE_IN_ADVANCE_AGGREGATIONS
    ):
        _add(errors, "pay_in_advance", "invalid_aggregation_type_or_charge_model")
    if regroup_paid_fees is not None and not (pay_in_advance and not invoiceable):
        _add(errors, "regroup_paid_fees", "only_compatible_with_pay_in_advance_and_non_invoiceable")
    if prorated and not _prorated_allowed(charge_model, aggregation_type, pay_in_advance, recurring):
        _add(errors, "prorated", "invalid_billable_metric_or_charge_model")
    if pay_in_advance and min_amount_cents and min_amount_cents > 0:
        _add(errors, "min_amount_cents", "not_compatible_with_pay_in_advance")
    if not pay_in_advance and not invoiceable:
        _add(errors, "invoiceable", "must_be_true_unless_pay_in_advance")
    return errors


def _prorated_allowed(
    charge_model: str, aggregation_type: str, pay_in_advance: bool, recurring: bool
) -> bool:
    """§3.11: recurring metrics only, never weighted_sum; in advance standard, in arrears standard/volume/graduated."""
    if not recurring or aggregation_type == "weighted_sum_agg":
        return False
    if pay_in_advance:
        return charge_model == "standard"
    return charge_model in ("standard", "volume", "graduated")


def normalize_charge_properties(charge_model: str, properties: Mapping | None) -> dict:
    """The properties Lago stores for `charge_model` (ChargeModels::FilterProperties): only the model's keys,
    `pricing_group_keys` (from the deprecated `grouped_by` when it is the only one given; empty names dropped)
    and `presentation_group_keys` when given. Ranges keep only their documented keys. Input is not mutated."""
    if charge_model not in CHARGE_MODELS:
        raise ValueError(f"unknown charge model {charge_model!r}")
    properties = properties or {}
    clean: dict = {}
    for key in MODEL_PROPERTY_KEYS[charge_model]:
        if key in properties:
            clean[key] = _clean_value(key, properties[key])
    group_keys = _pricing_group_keys(properties)
    if group_keys is not None:
        clean["pricing_group_keys"] = group_keys
    if not _is_blank(properties.get("presentation_group_keys")):
        clean["presentation_group_keys"] = properties["presentation_group_keys"]
    return clean


def _clean_value(key: str, value):
    range_keys = _RANGE_KEYS.get(key)
    if range_keys is None or not isinstance(value, list | tuple):
        return value
    return [
        {name: tier[name] for name in range_keys if name in tier} if isinstance(tier, Mapping) else tier
        for tier in value
    ]


def _pricing_group_keys(properties: Mapping) -> list | None:
    keys = properties.get("pricing_group_keys")
    if _is_blank(keys):
        keys = properties.get("grouped_by")
    if _is_blank(keys):
        return None
    if not isinstance(keys, list | tuple):
        return keys  # invalid shapes are reported by the validator, not silently fixed here
    return [name for name in keys if name != ""]
