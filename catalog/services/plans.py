"""Writes for plans, their charges (+ filters), fixed charges, minimum commitment and usage thresholds.

Mirrors lago-api `Plans::CreateService` / `Plans::UpdateService` / `Charges::{Create,Update}Service` /
`FixedCharges::{Create,Update}Service` / `ChargeFilters::CreateOrUpdateBatchService`, with one difference in how
errors are reported: Lago answers a bad charge with its record errors at the top level
(`{"properties": ["invalid_graduated_ranges"]}`), which does not say *which* charge nor which property. Tollbooth
nests them under the payload path and names the property:
`{"charges": {"0": {"properties": {"graduated_ranges": ["invalid_graduated_ranges"]}}}}`; the codes are Lago's.

The validation functions (`charge_errors`, `charge_filter_errors`, `fixed_charge_errors`,
`usage_threshold_errors`) are the ones the admin forms call too: nothing is stored that the API would refuse.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction

from catalog.charge_models import default_charge_properties
from catalog.charge_properties import (
    MODEL_PROPERTY_KEYS,
    normalize_charge_properties,
    validate_charge_compatibility,
    validate_charge_properties,
)
from catalog.models import (
    AddOn,
    BillableMetric,
    Charge,
    ChargeFilter,
    ChargeModel,
    FixedCharge,
    MinimumCommitment,
    Plan,
    PlanInterval,
    UsageThreshold,
)
from catalog.selectors import plans as selectors
from catalog.selectors.taxes import taxes_by_codes
from config import clock, errors

Errors = dict[str, Any]

ALL_FILTER_VALUES = "__ALL_FILTER_VALUES__"
FIXED_CHARGE_MODELS = ("standard", "graduated", "volume")
# bill_charges_monthly / bill_fixed_charges_monthly only mean something for these intervals; Lago stores null
# for every other interval, whatever was sent.
MONTHLY_SPLIT_INTERVALS = (PlanInterval.YEARLY, PlanInterval.SEMIANNUAL)
# Once a plan has subscriptions only these stay editable (Plans::UpdateService); the others are silently kept.
PLAN_FIELDS_ALWAYS_EDITABLE = ("name", "invoice_display_name", "description", "amount_cents")
PLAN_FIELDS_FROZEN_BY_SUBSCRIPTIONS = (
    "code",
    "interval",
    "pay_in_advance",
    "amount_currency",
    "trial_period",
)


# ==============================================================================================================
# Validation shared by the API and the admin
# ==============================================================================================================


def _blank(value) -> bool:
    """Ruby's `presence` as Lago applies it to properties: nil and {} are blank."""
    return value is None or (isinstance(value, Mapping | list | str) and len(value) == 0)


def properties_or_default(charge_model: str, properties) -> Any:
    """What Lago prices with: the given properties, or the model's zero-price defaults when none are given."""
    return default_charge_properties(charge_model) if _blank(properties) else properties


def has_nul(value) -> bool:
    """PostgreSQL text and jsonb cannot hold NUL characters: such input is invalid, not a server error."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, Mapping):
        return any(has_nul(k) or has_nul(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(has_nul(v) for v in value)
    return False


def _properties_errors(charge_model: str, properties) -> list | dict | None:
    """Per-property error codes (`{"graduated_ranges": [...]}`), or a list when `properties` is not an object."""
    if has_nul(properties):
        return ["value_is_invalid"]
    found = validate_charge_properties(charge_model, properties)
    if not found:
        return None
    if list(found) == ["properties"]:
        return found["properties"]
    return found


def filter_values_key(values) -> tuple | None:
    """An order-independent identity of a filter's values: two filters with the same key is one filter twice."""
    if not isinstance(values, Mapping):
        return None
    try:
        return tuple(sorted((str(k), tuple(sorted(map(str, v)))) for k, v in values.items()))
    except TypeError:
        return None


def _filter_values_errors(billable_metric: BillableMetric, values) -> list | dict | None:
    """Each key must be one of the metric's filter keys; each value one of that key's values, or
    `__ALL_FILTER_VALUES__` alone (ChargeFilterValue#validate_values)."""
    if not isinstance(values, Mapping) or not values:
        return ["value_is_mandatory"]
    if has_nul(values):
        return ["value_is_invalid"]
    allowed = {
        metric_filter.key: list(metric_filter.values or []) for metric_filter in billable_metric.filters.all()
    }
    found: dict[str, list[str]] = {}
    for key, key_values in values.items():
        if key not in allowed:
            found[str(key)] = ["value_is_invalid"]
        elif not isinstance(key_values, list | tuple) or not key_values:
            found[str(key)] = ["value_is_mandatory"]
        elif list(key_values) == [ALL_FILTER_VALUES]:
            continue
        elif not all(isinstance(value, str) and value in allowed[key] for value in key_values):
            found[str(key)] = ["value_is_invalid"]
    return found or None


def charge_filter_errors(*, billable_metric: BillableMetric, charge_model: str, values, properties) -> Errors:
    """Errors of one charge filter: its `values` against the metric's filters, its `properties` against the
    charge's model (a filter has no defaults: Lago validates what was sent)."""
    found: Errors = {}
    value_errors = _filter_values_errors(billable_metric, values)
    if value_errors:
        found["values"] = value_errors
    property_errors = _properties_errors(charge_model, {} if properties is None else properties)
    if property_errors:
        found["properties"] = property_errors
    return found


def charge_errors(
    *,
    billable_metric: BillableMetric,
    charge_model: str,
    properties=None,
    pay_in_advance: bool = False,
    invoiceable: bool = True,
    prorated: bool = False,
    min_amount_cents: int = 0,
    regroup_paid_fees: str | None = None,
    filters: Sequence[Mapping] = (),
) -> Errors:
    """Every error of one charge, keyed by field: the model/metric compatibility rules (§2.1, §3.9–3.11), its
    properties (or the model's defaults when none), and each filter under `filters.<index>`. `{}` if valid."""
    if charge_model not in ChargeModel.values:
        return {"charge_model": ["value_is_invalid"]}
    found: Errors = {
        field_name: list(codes)
        for field_name, codes in validate_charge_compatibility(
            charge_model,
            aggregation_type=billable_metric.aggregation_type,
            pay_in_advance=bool(pay_in_advance),
            invoiceable=bool(invoiceable),
            prorated=bool(prorated),
            recurring=bool(billable_metric.recurring),
            min_amount_cents=min_amount_cents or 0,
            regroup_paid_fees=regroup_paid_fees,
        ).items()
    }
    property_errors = _properties_errors(charge_model, properties_or_default(charge_model, properties))
    if property_errors:
        found["properties"] = property_errors
    filter_errors: Errors = {}
    seen: set[tuple] = set()
    for index, charge_filter in enumerate(filters):
        values = charge_filter.get("values")
        errors_of_filter = charge_filter_errors(
            billable_metric=billable_metric,
            charge_model=charge_model,
            values=values,
            properties=charge_filter.get("properties"),
        )
        key = filter_values_key(values)
        if not errors_of_filter and key in seen:
            errors_of_filter = {"values": ["value_already_exist"]}
        seen.add(key)
        if errors_of_filter:
            filter_errors[str(index)] = errors_of_filter
    if filter_errors:
        found["filters"] = filter_errors
    return found


def fixed_charge_errors(
    *, charge_model: str, properties=None, pay_in_advance: bool = False, prorated: bool = False, units=0
) -> Errors:
    """Errors of one fixed charge (§4.8, lago-api `FixedCharge` validations). `{}` if valid."""
    if charge_model not in FIXED_CHARGE_MODELS:
        return {"charge_model": ["value_is_invalid"]}
    found: Errors = {}
    if pay_in_advance and charge_model == "volume":
        found["pay_in_advance"] = ["invalid_charge_model"]
    if prorated and pay_in_advance and charge_model == "graduated":
        found["prorated"] = ["invalid_charge_model"]
    if units is None or not isinstance(units, int | Decimal) or units < 0:
        found["units"] = ["value_is_out_of_range"]
    property_errors = _properties_errors(charge_model, properties_or_default(charge_model, properties))
    if property_errors:
        found["properties"] = property_errors
    return found


def usage_threshold_errors(thresholds: Sequence[Mapping]) -> Errors:
    """UsageThresholds::UpdateService checks, first failing one only (as Lago)."""
    if any(t.get("amount_cents") is None for t in thresholds):
        return {"usage_thresholds": ["missing_amount_cents"]}
    keys = [(t["amount_cents"], bool(t.get("recurring"))) for t in thresholds]
    if len(set(keys)) != len(keys):
        return {"usage_thresholds": ["duplicated_values"]}
    if sum(1 for t in thresholds if t.get("recurring")) > 1:
        return {"usage_thresholds": ["multiple_recurring_thresholds"]}
    return {}


# ==============================================================================================================
# Normalisation of what is stored
# ==============================================================================================================


def _json_safe(value):
    """JSON numbers reach us as Decimal; free-form parts of properties (presentation_group_keys options) must
    still be storable. Validated numbers are ints or strings already; anything else Decimal becomes a string."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


def _with_explicit_open_bounds(properties: dict) -> dict:
    """Ranges always carry `to_value` (null for the open last range), as Lago's output schema requires, even when
    a client left the null out (the lago-python-client drops None values)."""
    for key, ranges in properties.items():
        if key.endswith("_ranges") and isinstance(ranges, list):
            for tier in ranges:
                if isinstance(tier, dict):
                    tier.setdefault("to_value", None)
    return properties


def normalized_charge_properties(charge_model: str, properties) -> dict:
    """The properties stored on a charge: defaults when none were sent, only the model's keys (+ group keys)."""
    clean = normalize_charge_properties(charge_model, properties_or_default(charge_model, properties))
    return _json_safe(_with_explicit_open_bounds(clean))


def normalized_filter_properties(charge_model: str, properties) -> dict:
    clean = normalize_charge_properties(charge_model, properties or {})
    return _json_safe(_with_explicit_open_bounds(clean))


def normalized_fixed_charge_properties(charge_model: str, properties) -> dict:
    """Fixed charges keep only `amount` / `graduated_ranges` / `volume_ranges` (no grouping)."""
    clean = normalized_charge_properties(charge_model, properties)
    return {key: value for key, value in clean.items() if key in MODEL_PROPERTY_KEYS[charge_model]}


def _clean_filters(filters: Iterable[Mapping]) -> list[dict]:
    return [
        {
            "invoice_display_name": charge_filter.get("invoice_display_name"),
            "properties": charge_filter.get("properties"),
            "values": {str(k): [str(v) for v in vs] for k, vs in (charge_filter.get("values") or {}).items()},
        }
        for charge_filter in filters
    ]


# ==============================================================================================================
# Drafts: a payload item resolved against the organization and merged with the row it updates
# ==============================================================================================================


@dataclass
class _ChargeDraft:
    existing: Charge | None
    attrs: dict[str, Any]
    properties: Any
    filters: list[dict] | None  # None: keep the charge's filters
    taxes: list | None  # None: keep the charge's taxes
    errors: Errors = field(default_factory=dict)

    @property
    def metric(self) -> BillableMetric:
        return self.attrs["billable_metric"]


@dataclass
class _FixedChargeDraft:
    existing: FixedCharge | None
    attrs: dict[str, Any]
    properties: Any
    taxes: list | None
    errors: Errors = field(default_factory=dict)


def _metric_for(organization, payload: Mapping) -> BillableMetric | None:
    if payload.get("billable_metric_id") is not None:
        return selectors.billable_metric_for_charge(organization, metric_id=payload["billable_metric_id"])
    if payload.get("billable_metric_code") is not None:
        return selectors.billable_metric_for_charge(organization, metric_code=payload["billable_metric_code"])
    return None


def _draft_charge(organization, payload: Mapping, *, existing: Charge | None, attached: bool) -> _ChargeDraft:
    """Resolve a charge payload (404 for a metric or tax of another organization) and merge it into `existing`
    the way Charges::UpdateService does: display name, properties, filters and taxes are always replaced;
    the rest only while the plan has no subscription."""
    metric = _metric_for(organization, payload)
    taxes = (
        taxes_by_codes(organization, payload["tax_codes"]) if payload.get("tax_codes") is not None else None
    )
    filters = _clean_filters(payload["filters"]) if payload.get("filters") is not None else None
    draft_errors: Errors = {}
    if existing is None:
        if metric is None:
            draft_errors["billable_metric_id"] = ["value_is_mandatory"]
        if not payload.get("charge_model"):
            draft_errors["charge_model"] = ["value_is_mandatory"]
        attrs = {
            "billable_metric": metric,
            "charge_model": payload.get("charge_model"),
            "code": payload.get("code") or None,
            "pay_in_advance": bool(payload.get("pay_in_advance") or False),
            "prorated": bool(payload.get("prorated") or False),
            "invoiceable": True if payload.get("invoiceable") is None else bool(payload["invoiceable"]),
            "regroup_paid_fees": payload.get("regroup_paid_fees"),
            "min_amount_cents": payload.get("min_amount_cents") or 0,
            "invoice_display_name": payload.get("invoice_display_name"),
            "accepts_target_wallet": bool(payload.get("accepts_target_wallet") or False),
        }
        return _ChargeDraft(None, attrs, payload.get("properties"), filters or [], taxes or [], draft_errors)

    attrs = {
        "billable_metric": existing.billable_metric,
        "charge_model": existing.charge_model,
        "code": existing.code,
        "pay_in_advance": existing.pay_in_advance,
        "prorated": existing.prorated,
        "invoiceable": existing.invoiceable,
        "regroup_paid_fees": existing.regroup_paid_fees,
        "min_amount_cents": existing.min_amount_cents,
        # Lago replaces the display name with what was sent (absent = none).
        "invoice_display_name": payload.get("invoice_display_name"),
        "accepts_target_wallet": existing.accepts_target_wallet,
    }
    if not attached:
        if payload.get("charge_model"):
            attrs["charge_model"] = payload["charge_model"]
        if metric is not None:
            attrs["billable_metric"] = metric
        if payload.get("code"):
            attrs["code"] = payload["code"]
        for name in ("pay_in_advance", "prorated", "invoiceable", "accepts_target_wallet"):
            if payload.get(name) is not None:
                attrs[name] = bool(payload[name])
        if "regroup_paid_fees" in payload:
            attrs["regroup_paid_fees"] = payload["regroup_paid_fees"]
        attrs["min_amount_cents"] = payload.get("min_amount_cents") or 0
    return _ChargeDraft(existing, attrs, payload.get("properties"), filters, taxes, draft_errors)


def _existing_filters_for_validation(draft: _ChargeDraft) -> list[dict]:
    """When the payload leaves a charge's filters alone but changes its model or metric, the kept filters must
    still fit the new model/metric."""
    if draft.filters is not None:
        return draft.filters
    existing = draft.existing
    if existing is None:
        return []
    if (
        draft.attrs["charge_model"] == existing.charge_model
        and draft.metric.pk == existing.billable_metric_id
    ):
        return []
    return [
        {"invoice_display_name": f.invoice_display_name, "properties": f.properties, "values": f.values}
        for f in selectors.charge_filters(existing)
    ]


def _validate_charge_draft(draft: _ChargeDraft) -> Errors:
    if draft.errors:
        return dict(draft.errors)
    attrs = draft.attrs
    return charge_errors(
        billable_metric=draft.metric,
        charge_model=attrs["charge_model"],
        properties=draft.properties,
        pay_in_advance=attrs["pay_in_advance"],
        invoiceable=attrs["invoiceable"],
        prorated=attrs["prorated"],
        min_amount_cents=attrs["min_amount_cents"],
        regroup_paid_fees=attrs["regroup_paid_fees"],
        filters=_existing_filters_for_validation(draft),
    )


def _add_on_for(organization, payload: Mapping) -> AddOn | None:
    if payload.get("add_on_id") is not None:
        return selectors.add_on_for_fixed_charge(organization, add_on_id=payload["add_on_id"])
    if payload.get("add_on_code") is not None:
        return selectors.add_on_for_fixed_charge(organization, add_on_code=payload["add_on_code"])
    return None


def _draft_fixed_charge(
    organization, payload: Mapping, *, existing: FixedCharge | None, attached: bool
) -> _FixedChargeDraft:
    """FixedCharges::{Create,Update}Service: pay_in_advance/prorated/add-on never change after creation; with
    subscriptions the model, code and taxes are frozen too."""
    add_on = _add_on_for(organization, payload) if existing is None else None
    taxes = (
        taxes_by_codes(organization, payload["tax_codes"]) if payload.get("tax_codes") is not None else None
    )
    draft_errors: Errors = {}
    if existing is None:
        if add_on is None:
            draft_errors["add_on_id"] = ["value_is_mandatory"]
        if not payload.get("charge_model"):
            draft_errors["charge_model"] = ["value_is_mandatory"]
        attrs = {
            "add_on": add_on,
            "code": payload.get("code") or None,
            "charge_model": payload.get("charge_model"),
            "pay_in_advance": bool(payload.get("pay_in_advance") or False),
            "prorated": bool(payload.get("prorated") or False),
            "units": Decimal(0) if payload.get("units") is None else payload["units"],
            "invoice_display_name": payload.get("invoice_display_name"),
        }
        return _FixedChargeDraft(None, attrs, payload.get("properties"), taxes or [], draft_errors)

    attrs = {
        "add_on": existing.add_on,
        "code": existing.code,
        "charge_model": existing.charge_model,
        "pay_in_advance": existing.pay_in_advance,
        "prorated": existing.prorated,
        "units": existing.units if payload.get("units") is None else payload["units"],
        "invoice_display_name": payload.get("invoice_display_name"),
    }
    if not attached:
        if payload.get("charge_model"):
            attrs["charge_model"] = payload["charge_model"]
        if payload.get("code"):
            attrs["code"] = payload["code"]
    else:
        taxes = None
    return _FixedChargeDraft(existing, attrs, payload.get("properties"), taxes, draft_errors)


def _validate_fixed_charge_draft(draft: _FixedChargeDraft) -> Errors:
    if draft.errors:
        return dict(draft.errors)
    attrs = draft.attrs
    return fixed_charge_errors(
        charge_model=attrs["charge_model"],
        properties=draft.properties,
        pay_in_advance=attrs["pay_in_advance"],
        prorated=attrs["prorated"],
        units=attrs["units"],
    )


def generate_code(base: str, taken: set[str]) -> str:
    """Charges::GenerateCodeService: the base code, else `{base}_{n}` after the highest suffix in use (n ≥ 2)."""
    if base not in taken:
        return base
    pattern = re.compile(rf"^{re.escape(base)}_(\d+)$")
    suffixes = [int(match.group(1)) for code in taken if (match := pattern.match(code))]
    return f"{base}_{max([1, *suffixes]) + 1}"


def _assign_codes(drafts: Sequence, base_code, errors_by_index: dict[int, Errors]) -> None:
    """Give every draft a code unique within the plan: explicit codes must not clash; the others default to
    `base_code(draft)` with a `_2`, `_3`… suffix when taken (Lago's code generation)."""
    taken: set[str] = set()
    for index, draft in enumerate(drafts):
        code = draft.attrs.get("code")
        if not code:
            continue
        if code in taken:
            errors_by_index.setdefault(index, {}).setdefault("code", []).append("value_already_exist")
        taken.add(code)
    for index, draft in enumerate(drafts):
        if draft.attrs.get("code") or index in errors_by_index:
            continue
        code = generate_code(base_code(draft), taken)
        draft.attrs["code"] = code
        taken.add(code)


def _charge_base_code(draft: _ChargeDraft) -> str:
    return draft.metric.code


def _fixed_charge_base_code(draft: _FixedChargeDraft) -> str:
    return draft.attrs["add_on"].code


def _taxes_or_none(organization, codes) -> list | None:
    return taxes_by_codes(organization, codes) if codes is not None else None


# ==============================================================================================================
# Writes of the parts
# ==============================================================================================================


def _save_or_fail(instance, error_details: Errors) -> None:
    try:
        with transaction.atomic():
            instance.save()
    except IntegrityError:
        raise errors.ValidationFailed(error_details)


def _write_charge(*, plan: Plan, draft: _ChargeDraft, position: int) -> Charge:
    charge = draft.existing or Charge(organization_id=plan.organization_id, plan=plan)
    for name, value in draft.attrs.items():
        setattr(charge, name, value)
    charge.properties = normalized_charge_properties(charge.charge_model, draft.properties)
    charge.position = position
    charge.save()
    if draft.taxes is not None:
        charge.taxes.set(draft.taxes)
    if draft.filters is not None:
        _replace_filters(charge, draft.filters)
    return charge


def _replace_filters(charge: Charge, filters: Sequence[Mapping]) -> None:
    """ChargeFilters::CreateOrUpdateBatchService: a payload filter with the same values as a live filter updates
    it (its id is kept), others are created, and the live filters not in the payload are soft-deleted."""
    by_values = {filter_values_key(f.values): f for f in selectors.charge_filters(charge)}
    for position, payload in enumerate(filters):
        charge_filter = by_values.pop(filter_values_key(payload["values"]), None) or ChargeFilter(
            charge=charge
        )
        charge_filter.invoice_display_name = payload.get("invoice_display_name")
        charge_filter.properties = normalized_filter_properties(
            charge.charge_model, payload.get("properties")
        )
        charge_filter.values = payload["values"]
        charge_filter.position = position
        charge_filter.save()
    stale = [f.pk for f in by_values.values()]
    if stale:
        ChargeFilter.objects.filter(pk__in=stale).update(deleted_at=clock.now(charge.plan.organization))


def _soft_delete_charges(charges: Iterable[Charge], now) -> None:
    ids = [c.pk for c in charges]
    if ids:
        ChargeFilter.objects.filter(charge_id__in=ids, deleted_at__isnull=True).update(deleted_at=now)
        Charge.objects.filter(pk__in=ids, deleted_at__isnull=True).update(deleted_at=now)


def _write_fixed_charge(*, plan: Plan, draft: _FixedChargeDraft, error_path: Errors) -> FixedCharge:
    fixed_charge = draft.existing or FixedCharge(organization_id=plan.organization_id, plan=plan)
    for name, value in draft.attrs.items():
        setattr(fixed_charge, name, value)
    fixed_charge.properties = normalized_fixed_charge_properties(fixed_charge.charge_model, draft.properties)
    _save_or_fail(fixed_charge, error_path)
    if draft.taxes is not None:
        fixed_charge.taxes.set(draft.taxes)
    return fixed_charge


def _replace_usage_thresholds(plan: Plan, thresholds: Sequence[Mapping]) -> None:
    """A full replacement (UsageThresholds::UpdateService, partial: false); a threshold with the same amount and
    recurrence as a kept one is updated in place so its id stays."""
    existing = {(t.amount_cents, t.recurring): t for t in plan.usage_thresholds.all()}
    wanted = {(t["amount_cents"], bool(t.get("recurring"))): t for t in thresholds}
    UsageThreshold.objects.filter(pk__in=[t.pk for k, t in existing.items() if k not in wanted]).delete()
    for key, payload in wanted.items():
        threshold = existing.get(key) or UsageThreshold(plan=plan, amount_cents=key[0], recurring=key[1])
        threshold.threshold_display_name = payload.get("threshold_display_name")
        threshold.save()


def _write_minimum_commitment(plan: Plan, payload: Mapping | None, taxes: list | None) -> None:
    """Create or update the plan's commitment; a null or empty object removes it."""
    current = MinimumCommitment.objects.filter(plan=plan).first()
    if _blank(payload):
        if current is not None:
            current.delete()
        return
    commitment = current or MinimumCommitment(plan=plan)
    if "amount_cents" in payload:
        commitment.amount_cents = payload["amount_cents"]
    if "invoice_display_name" in payload or current is None:
        commitment.invoice_display_name = payload.get("invoice_display_name")
    commitment.save()
    if taxes is not None:
        commitment.taxes.set(taxes)


def _apply_plan_fields(plan: Plan, data: Mapping, *, attached: bool) -> None:
    for name in PLAN_FIELDS_ALWAYS_EDITABLE:
        if name in data:
            setattr(plan, name, data[name])
    if not attached:
        for name in PLAN_FIELDS_FROZEN_BY_SUBSCRIPTIONS:
            if name in data:
                setattr(plan, name, data[name])
        for name in ("bill_charges_monthly", "bill_fixed_charges_monthly"):
            if plan.interval not in MONTHLY_SPLIT_INTERVALS:
                setattr(plan, name, None)
            elif name in data:
                setattr(plan, name, bool(data[name]))
            elif getattr(plan, name) is None:
                setattr(plan, name, False)
    if "metadata" in data:
        plan.metadata = data["metadata"]


def _plan_code_taken(plan: Plan) -> bool:
    return (
        Plan.objects.filter(
            organization_id=plan.organization_id, code=plan.code, parent__isnull=True, deleted_at__isnull=True
        )
        .exclude(pk=plan.pk)
        .exists()
    )


def _nest(errors_by_index: dict[int, Errors]) -> Errors:
    return {str(index): found for index, found in sorted(errors_by_index.items()) if found}


# ==============================================================================================================
# Plans
# ==============================================================================================================


@dataclass
class _PlanParts:
    taxes: list | None
    charges: list[_ChargeDraft] | None
    fixed_charges: list[_FixedChargeDraft] | None
    thresholds: list[Mapping] | None
    commitment: Mapping | None
    commitment_given: bool
    commitment_taxes: list | None


def _draft_parts(plan: Plan, data: Mapping, *, attached: bool) -> _PlanParts:
    """Resolve every reference of the payload (404s come before any 422, as in Lago) and merge charges by id."""
    organization = plan.organization
    taxes = _taxes_or_none(organization, data.get("tax_codes"))

    charge_drafts = None
    if data.get("charges") is not None:
        existing = {} if plan._state.adding else {c.pk: c for c in selectors.plan_charges(plan)}
        charge_drafts, used = [], set()
        for payload in data["charges"]:
            match = existing.get(payload.get("id"))
            if match is not None and match.pk in used:
                match = None  # the same id twice: the second one is a new charge
            if match is not None:
                used.add(match.pk)
            charge_drafts.append(_draft_charge(organization, payload, existing=match, attached=attached))

    fixed_drafts = None
    if data.get("fixed_charges") is not None:
        existing_fixed = {} if plan._state.adding else {c.pk: c for c in selectors.plan_fixed_charges(plan)}
        fixed_drafts, used = [], set()
        for payload in data["fixed_charges"]:
            match = existing_fixed.get(payload.get("id"))
            if match is not None and match.pk in used:
                match = None
            if match is not None:
                used.add(match.pk)
            fixed_drafts.append(_draft_fixed_charge(organization, payload, existing=match, attached=attached))

    thresholds = None
    if "usage_thresholds" in data:
        thresholds = list(data["usage_thresholds"] or [])

    commitment = data.get("minimum_commitment")
    commitment_taxes = None
    if isinstance(commitment, Mapping):
        commitment_taxes = _taxes_or_none(organization, commitment.get("tax_codes"))
    return _PlanParts(
        taxes=taxes,
        charges=charge_drafts,
        fixed_charges=fixed_drafts,
        thresholds=thresholds,
        commitment=commitment,
        commitment_given="minimum_commitment" in data,
        commitment_taxes=commitment_taxes,
    )


def _validate_parts(plan: Plan, parts: _PlanParts) -> Errors:
    found: Errors = {}
    if plan.code and _plan_code_taken(plan):
        found["code"] = ["value_already_exist"]
    if parts.charges is not None:
        by_index = {i: _validate_charge_draft(d) for i, d in enumerate(parts.charges)}
        by_index = {i: e for i, e in by_index.items() if e}
        _assign_codes(parts.charges, _charge_base_code, by_index)
        if by_index:
            found["charges"] = _nest(by_index)
    if parts.fixed_charges is not None:
        by_index = {i: _validate_fixed_charge_draft(d) for i, d in enumerate(parts.fixed_charges)}
        by_index = {i: e for i, e in by_index.items() if e}
        _assign_codes(parts.fixed_charges, _fixed_charge_base_code, by_index)
        if by_index:
            found["fixed_charges"] = _nest(by_index)
    if parts.thresholds:
        found.update(usage_threshold_errors(parts.thresholds))
    commitment = parts.commitment
    if isinstance(commitment, Mapping) and commitment and "amount_cents" not in commitment:
        has_one = not plan._state.adding and MinimumCommitment.objects.filter(plan=plan).exists()
        if not has_one:
            found["minimum_commitment"] = {"amount_cents": ["value_is_mandatory"]}
    return found


def _write_parts(plan: Plan, parts: _PlanParts) -> None:
    now = clock.now(plan.organization)
    if parts.taxes is not None:
        plan.taxes.set(parts.taxes)
    if parts.charges is not None:
        kept = {d.existing.pk for d in parts.charges if d.existing is not None}
        _soft_delete_charges([c for c in selectors.plan_charges(plan) if c.pk not in kept], now)
        for position, draft in enumerate(parts.charges):
            _write_charge(plan=plan, draft=draft, position=position)
    if parts.fixed_charges is not None:
        kept = {d.existing.pk for d in parts.fixed_charges if d.existing is not None}
        FixedCharge.objects.filter(plan=plan, deleted_at__isnull=True).exclude(pk__in=kept).update(
            deleted_at=now
        )
        for index, draft in enumerate(parts.fixed_charges):
            error_path = {"fixed_charges": {str(index): {"code": ["value_already_exist"]}}}
            _write_fixed_charge(plan=plan, draft=draft, error_path=error_path)
    if parts.thresholds is not None:
        _replace_usage_thresholds(plan, parts.thresholds)
    if parts.commitment_given:
        _write_minimum_commitment(plan, parts.commitment, parts.commitment_taxes)


@transaction.atomic
def create_plan(*, organization, data: Mapping[str, Any]) -> Plan:
    """Plans::CreateService: the plan with its taxes, charges (+ filters, taxes), fixed charges, usage thresholds
    and minimum commitment, all or nothing."""
    plan = Plan(organization=organization)
    _apply_plan_fields(plan, data, attached=False)
    parts = _draft_parts(plan, data, attached=False)
    found = _validate_parts(plan, parts)
    if found:
        raise errors.ValidationFailed(found)
    _save_or_fail(plan, {"code": ["value_already_exist"]})
    _write_parts(plan, parts)
    return plan


@transaction.atomic
def update_plan(*, plan: Plan, data: Mapping[str, Any]) -> Plan:
    """Plans::UpdateService. Name, display name, description and amount are always editable; code, interval,
    pay_in_advance, currency, trial and the monthly-split flags only while no subscription uses the plan (else
    silently kept). A given `charges` / `fixed_charges` list is the new set: items whose `id` is a live charge
    of the plan update it, the others are created, and the plan's charges missing from the list are soft-deleted.
    With `cascade_updates: true` a changed amount is copied to the override children that still had the old one.
    """
    plan = Plan.objects.select_for_update().select_related("organization").get(pk=plan.pk)
    attached = selectors.plan_attached_to_subscriptions(plan)
    old_amount_cents = plan.amount_cents
    _apply_plan_fields(plan, data, attached=attached)
    parts = _draft_parts(plan, data, attached=attached)
    found = _validate_parts(plan, parts)
    if found:
        raise errors.ValidationFailed(found)
    _save_or_fail(plan, {"code": ["value_already_exist"]})
    _write_parts(plan, parts)
    if data.get("cascade_updates") and plan.amount_cents != old_amount_cents:
        selectors.plan_children(plan).filter(amount_cents=old_amount_cents).update(
            amount_cents=plan.amount_cents
        )
    return plan


@transaction.atomic
def delete_plan(*, plan: Plan) -> Plan:
    """Soft-delete the plan, its override children, their charges (+ filters) and fixed charges. The code is free
    again afterwards. Subscriptions are the caller's business (billing terminates them first)."""
    now = clock.now(plan.organization)
    plan_ids = [plan.pk, *selectors.plan_children(plan).values_list("pk", flat=True)]
    ChargeFilter.objects.filter(charge__plan_id__in=plan_ids, deleted_at__isnull=True).update(deleted_at=now)
    Charge.objects.filter(plan_id__in=plan_ids, deleted_at__isnull=True).update(deleted_at=now)
    FixedCharge.objects.filter(plan_id__in=plan_ids, deleted_at__isnull=True).update(deleted_at=now)
    Plan.objects.filter(pk__in=plan_ids).update(deleted_at=now, pending_deletion=False)
    plan.deleted_at, plan.pending_deletion = now, False
    return plan


# ==============================================================================================================
# Charges and fixed charges one by one (/plans/{code}/charges, /plans/{code}/fixed_charges)
# ==============================================================================================================


def _single_code(plan: Plan, draft, live: Iterable, base_code) -> Errors:
    """Code of one charge created or updated on its own: unique among the plan's other live ones."""
    others = {
        row.code for row in live if row.code and (draft.existing is None or row.pk != draft.existing.pk)
    }
    code = draft.attrs.get("code")
    if code:
        return {"code": ["value_already_exist"]} if code in others else {}
    draft.attrs["code"] = generate_code(base_code(draft), others)
    return {}


@transaction.atomic
def create_charge(*, plan: Plan, data: Mapping[str, Any]) -> Charge:
    plan = Plan.objects.select_for_update().select_related("organization").get(pk=plan.pk)
    attached = selectors.plan_attached_to_subscriptions(plan)
    draft = _draft_charge(plan.organization, data, existing=None, attached=attached)
    live = list(selectors.plan_charges(plan))
    found = _validate_charge_draft(draft) or _single_code(plan, draft, live, _charge_base_code)
    if found:
        raise errors.ValidationFailed(found)
    position = max((c.position for c in live), default=-1) + 1
    return _write_charge(plan=plan, draft=draft, position=position)


@transaction.atomic
def update_charge(*, charge: Charge, data: Mapping[str, Any]) -> Charge:
    plan = Plan.objects.select_for_update().select_related("organization").get(pk=charge.plan_id)
    attached = selectors.plan_attached_to_subscriptions(plan)
    draft = _draft_charge(plan.organization, data, existing=charge, attached=attached)
    found = _validate_charge_draft(draft) or _single_code(
        plan, draft, selectors.plan_charges(plan), _charge_base_code
    )
    if found:
        raise errors.ValidationFailed(found)
    return _write_charge(plan=plan, draft=draft, position=charge.position)


@transaction.atomic
def delete_charge(*, charge: Charge) -> Charge:
    now = clock.now(charge.plan.organization)
    _soft_delete_charges([charge], now)
    charge.deleted_at = now
    return charge


@transaction.atomic
def create_fixed_charge(*, plan: Plan, data: Mapping[str, Any]) -> FixedCharge:
    plan = Plan.objects.select_for_update().select_related("organization").get(pk=plan.pk)
    attached = selectors.plan_attached_to_subscriptions(plan)
    draft = _draft_fixed_charge(plan.organization, data, existing=None, attached=attached)
    found = _validate_fixed_charge_draft(draft) or _single_code(
        plan, draft, selectors.plan_fixed_charges(plan), _fixed_charge_base_code
    )
    if found:
        raise errors.ValidationFailed(found)
    return _write_fixed_charge(plan=plan, draft=draft, error_path={"code": ["value_already_exist"]})


@transaction.atomic
def update_fixed_charge(*, fixed_charge: FixedCharge, data: Mapping[str, Any]) -> FixedCharge:
    plan = Plan.objects.select_for_update().select_related("organization").get(pk=fixed_charge.plan_id)
    attached = selectors.plan_attached_to_subscriptions(plan)
    draft = _draft_fixed_charge(plan.organization, data, existing=fixed_charge, attached=attached)
    found = _validate_fixed_charge_draft(draft) or _single_code(
        plan, draft, selectors.plan_fixed_charges(plan), _fixed_charge_base_code
    )
    if found:
        raise errors.ValidationFailed(found)
    return _write_fixed_charge(plan=plan, draft=draft, error_path={"code": ["value_already_exist"]})


@transaction.atomic
def delete_fixed_charge(*, fixed_charge: FixedCharge) -> FixedCharge:
    fixed_charge.deleted_at = clock.now(fixed_charge.plan.organization)
    fixed_charge.save(update_fields=["deleted_at", "updated_at"])
    return fixed_charge
