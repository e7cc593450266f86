"""Plan overrides (billing-semantics §4.6): a subscription's own copy of a plan, with some values changed.

`override_plan` clones a parent plan into a child (`parent` = the plan) owned by one subscription: the plan's
fields, taxes, live charges (with their filters and taxes), fixed charges, minimum commitment and usage
thresholds are copied, then the overridden values are applied. `update_plan_override` applies new overrides to a
child in place (a subscription whose plan is already a child is updated, not cloned again, as Lago does).

The input is what the API validated for shape (`plan_overrides` of SubscriptionCreateInput/UpdateInput):
`amount_cents`, `amount_currency`, `name`, `invoice_display_name`, `description`, `trial_period`, `tax_codes`,
`minimum_commitment {amount_cents, invoice_display_name, tax_codes}`, `usage_thresholds [{threshold_display_name,
amount_cents, recurring}]`, `charges [{id, properties, filters, min_amount_cents, invoice_display_name,
tax_codes}]`, `fixed_charges [{id, units, invoice_display_name, properties, tax_codes}]`. Only keys present are
overridden; charges and fixed charges are picked by id (the parent's id, or the child's own id when updating a
child); unknown ids are ignored, as in Lago. The overridden values go through the plan API's own rules
(`catalog.services.plans`: properties via `catalog.charge_properties.validate_charge_properties`, filter values
against the metric, charge/commitment/threshold checks) and are stored normalised the same way; a refusal raises
`plan_overrides`-nested error details before anything is written.

Decision (Lago falls back to the parent's thresholds and keeps no commitment on a child unless overridden): the
child is a complete copy, so it carries the parent's minimum commitment and usage thresholds unless they are
overridden — billing then reads only the subscription's plan.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from django.db import transaction

from catalog.models import (
    Charge,
    ChargeFilter,
    FixedCharge,
    MinimumCommitment,
    Plan,
    Tax,
    UsageThreshold,
)
from catalog.services import plans as plan_rules
from config import clock, errors

PLAN_OVERRIDABLE_FIELDS = (
    "amount_cents",
    "amount_currency",
    "name",
    "invoice_display_name",
    "description",
    "trial_period",
)
PLAN_COPIED_FIELDS = (
    "organization_id",
    "name",
    "code",
    "description",
    "invoice_display_name",
    "interval",
    "amount_cents",
    "amount_currency",
    "pay_in_advance",
    "trial_period",
    "bill_charges_monthly",
    "bill_fixed_charges_monthly",
    "metadata",
)
CHARGE_COPIED_FIELDS = (
    "organization_id",
    "billable_metric_id",
    "code",
    "charge_model",
    "pay_in_advance",
    "invoiceable",
    "regroup_paid_fees",
    "invoice_display_name",
    "prorated",
    "min_amount_cents",
    "properties",
    "accepts_target_wallet",
    "position",
)
FILTER_COPIED_FIELDS = ("invoice_display_name", "properties", "values", "position")
FIXED_CHARGE_COPIED_FIELDS = (
    "organization_id",
    "add_on_id",
    "code",
    "invoice_display_name",
    "charge_model",
    "properties",
    "units",
    "pay_in_advance",
    "prorated",
)


# --------------------------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------------------------


@transaction.atomic
def override_plan(*, plan: Plan, overrides: Mapping[str, Any]) -> Plan:
    """A new child of `plan` (a parent plan) with `overrides` applied; only one subscription should use it."""
    if plan.parent_id is not None:
        raise ValueError("override_plan clones a parent plan; use update_plan_override for a child")
    taxes_by_code = _taxes_for(plan.organization_id, overrides)
    charges = _live_charges(plan)
    fixed_charges = _live_fixed_charges(plan)
    _validate(overrides, charges=charges, fixed_charges=fixed_charges, plan=plan)

    child = Plan(parent=plan, **{f: getattr(plan, f) for f in PLAN_COPIED_FIELDS})
    _apply_plan_fields(child, overrides)
    child.save()
    child.taxes.set(
        _pick_taxes(overrides.get("tax_codes"), taxes_by_code)
        if "tax_codes" in overrides
        else plan.taxes.all()
    )

    charge_overrides = _by_id(overrides.get("charges"))
    for charge in charges:
        _clone_charge(charge, child, _override_for(charge, charge_overrides)[1], taxes_by_code)
    fixed_overrides = _by_id(overrides.get("fixed_charges"))
    for fixed_charge in fixed_charges:
        _clone_fixed_charge(
            fixed_charge, child, _override_for(fixed_charge, fixed_overrides)[1], taxes_by_code
        )

    _copy_or_override_commitment(plan, child, overrides, taxes_by_code)
    if overrides.get("usage_thresholds"):
        _create_thresholds(child, overrides["usage_thresholds"])
    else:
        _create_thresholds(child, _threshold_rows(plan))
    return child


@transaction.atomic
def update_plan_override(*, plan: Plan, overrides: Mapping[str, Any]) -> Plan:
    """Apply `overrides` to an existing child plan in place."""
    if plan.parent_id is None:
        raise ValueError("update_plan_override edits a child plan; use override_plan for a parent")
    taxes_by_code = _taxes_for(plan.organization_id, overrides)
    charges = _live_charges(plan)
    fixed_charges = _live_fixed_charges(plan)
    _validate(overrides, charges=charges, fixed_charges=fixed_charges, plan=plan)

    _apply_plan_fields(plan, overrides)
    plan.save()
    if "tax_codes" in overrides:
        plan.taxes.set(_pick_taxes(overrides["tax_codes"], taxes_by_code))

    charge_overrides = _by_id(overrides.get("charges"))
    for charge in charges:
        override = _override_for(charge, charge_overrides)[1]
        if override is not None:
            _apply_charge_override(charge, override, taxes_by_code)
    fixed_overrides = _by_id(overrides.get("fixed_charges"))
    for fixed_charge in fixed_charges:
        override = _override_for(fixed_charge, fixed_overrides)[1]
        if override is not None:
            _apply_fixed_charge_override(fixed_charge, override, taxes_by_code)

    commitment = overrides.get("minimum_commitment")
    if commitment:
        existing = MinimumCommitment.objects.filter(plan=plan).first()
        _write_commitment(plan, existing, commitment, taxes_by_code)
    if overrides.get("usage_thresholds"):
        plan.usage_thresholds.all().delete()
        _create_thresholds(plan, overrides["usage_thresholds"])
    return plan


def apply_plan_overrides(*, plan: Plan, overrides: Mapping[str, Any]) -> Plan:
    """The plan a subscription should use after `overrides`: a new child of a parent, or the child updated."""
    if plan.parent_id is None:
        return override_plan(plan=plan, overrides=overrides)
    return update_plan_override(plan=plan, overrides=overrides)


def yearly_amount_cents(plan: Plan, amount_cents: int | None = None) -> int:
    """Lago's `Plan#yearly_amount_cents`: the base fee over a year (upgrade vs downgrade, §4.4)."""
    amount = plan.amount_cents if amount_cents is None else amount_cents
    return amount * {"weekly": 52, "monthly": 12, "quarterly": 4, "semiannual": 2, "yearly": 1}[plan.interval]


# --------------------------------------------------------------------------------------------------------------
# Validation (nothing is written before it passes)
# --------------------------------------------------------------------------------------------------------------


def _validate(
    overrides: Mapping[str, Any], *, charges: list[Charge], fixed_charges: list[FixedCharge], plan: Plan
):
    """The plan API's own rules (catalog.services.plans) on the overridden values; errors nested under
    `plan_overrides` by payload path, e.g. `{"plan_overrides": {"charges": {"0": {"properties": {...}}}}}`."""
    found: dict[str, Any] = {}
    charge_errors_by_index: dict[str, Any] = {}
    charge_overrides = _by_id(overrides.get("charges"))
    for charge in charges:
        index, override = _override_for(charge, charge_overrides)
        if override is None:
            continue
        problems = plan_rules.charge_errors(
            billable_metric=charge.billable_metric,
            charge_model=charge.charge_model,
            properties=override.get("properties", charge.properties),
            pay_in_advance=charge.pay_in_advance,
            invoiceable=charge.invoiceable,
            prorated=charge.prorated,
            min_amount_cents=(override.get("min_amount_cents", charge.min_amount_cents)) or 0,
            regroup_paid_fees=charge.regroup_paid_fees,
            filters=override.get("filters") or (),
        )
        if problems:
            charge_errors_by_index[str(index)] = problems
    if charge_errors_by_index:
        found["charges"] = charge_errors_by_index

    fixed_errors_by_index: dict[str, Any] = {}
    fixed_overrides = _by_id(overrides.get("fixed_charges"))
    for fixed_charge in fixed_charges:
        index, override = _override_for(fixed_charge, fixed_overrides)
        if override is None:
            continue
        problems = plan_rules.fixed_charge_errors(
            charge_model=fixed_charge.charge_model,
            properties=override.get("properties", fixed_charge.properties),
            pay_in_advance=fixed_charge.pay_in_advance,
            prorated=fixed_charge.prorated,
            units=override["units"] if override.get("units") is not None else fixed_charge.units,
        )
        if problems:
            fixed_errors_by_index[str(index)] = problems
    if fixed_errors_by_index:
        found["fixed_charges"] = fixed_errors_by_index

    if overrides.get("usage_thresholds"):
        found.update(plan_rules.usage_threshold_errors(overrides["usage_thresholds"]))
    if found:
        raise errors.ValidationFailed({"plan_overrides": found})


# --------------------------------------------------------------------------------------------------------------
# Writes
# --------------------------------------------------------------------------------------------------------------


def _apply_plan_fields(plan: Plan, overrides: Mapping[str, Any]) -> None:
    for field in PLAN_OVERRIDABLE_FIELDS:
        if field in overrides:
            value = overrides[field]
            if field in ("amount_cents", "amount_currency", "name") and value is None:
                continue  # required columns: a null override keeps the copied value
            setattr(plan, field, value)


def _clone_charge(charge: Charge, child: Plan, override, taxes_by_code: Mapping[str, Tax]) -> Charge:
    new = Charge(plan=child, parent=charge, **{f: getattr(charge, f) for f in CHARGE_COPIED_FIELDS})
    new.save()
    new.taxes.set(charge.taxes.all())
    filters = list(charge.filters.filter(deleted_at__isnull=True).order_by("position", "created_at"))
    ChargeFilter.objects.bulk_create(
        [ChargeFilter(charge=new, **{f: getattr(flt, f) for f in FILTER_COPIED_FIELDS}) for flt in filters]
    )
    if override is not None:
        _apply_charge_override(new, override, taxes_by_code)
    return new


def _apply_charge_override(
    charge: Charge, override: Mapping[str, Any], taxes_by_code: Mapping[str, Tax]
) -> None:
    if "properties" in override:
        charge.properties = plan_rules.normalized_charge_properties(
            charge.charge_model, override["properties"]
        )
    if "min_amount_cents" in override:
        charge.min_amount_cents = override["min_amount_cents"] or 0
    if "invoice_display_name" in override:
        charge.invoice_display_name = override["invoice_display_name"]
    charge.save()
    if "tax_codes" in override:
        charge.taxes.set(_pick_taxes(override["tax_codes"], taxes_by_code))
    if "filters" in override:
        _replace_filters(charge, override["filters"] or [])


def _replace_filters(charge: Charge, items: Iterable[Mapping[str, Any]]) -> None:
    """The given filters become the charge's whole set; a filter with the same values is updated in place."""
    existing = {
        plan_rules.filter_values_key(f.values): f for f in charge.filters.filter(deleted_at__isnull=True)
    }
    kept = []
    for position, item in enumerate(items):
        row = existing.get(plan_rules.filter_values_key(item["values"])) or ChargeFilter(charge=charge)
        row.values = item["values"]
        row.properties = plan_rules.normalized_filter_properties(charge.charge_model, item.get("properties"))
        row.invoice_display_name = item.get("invoice_display_name")
        row.position = position
        row.deleted_at = None
        row.save()
        kept.append(row.pk)
    charge.filters.filter(deleted_at__isnull=True).exclude(pk__in=kept).update(
        deleted_at=clock.now(charge.plan.organization)
    )


def _clone_fixed_charge(
    fixed: FixedCharge, child: Plan, override, taxes_by_code: Mapping[str, Tax]
) -> FixedCharge:
    new = FixedCharge(plan=child, parent=fixed, **{f: getattr(fixed, f) for f in FIXED_CHARGE_COPIED_FIELDS})
    new.save()
    new.taxes.set(fixed.taxes.all())
    if override is not None:
        _apply_fixed_charge_override(new, override, taxes_by_code)
    return new


def _apply_fixed_charge_override(
    fixed: FixedCharge, override: Mapping[str, Any], taxes_by_code: Mapping[str, Tax]
) -> None:
    if "properties" in override:
        fixed.properties = plan_rules.normalized_fixed_charge_properties(
            fixed.charge_model, override["properties"]
        )
    if "units" in override and override["units"] is not None:
        fixed.units = override["units"]
    if "invoice_display_name" in override:
        fixed.invoice_display_name = override["invoice_display_name"]
    fixed.save()
    if "tax_codes" in override:
        fixed.taxes.set(_pick_taxes(override["tax_codes"], taxes_by_code))


def _copy_or_override_commitment(parent: Plan, child: Plan, overrides, taxes_by_code) -> None:
    source = MinimumCommitment.objects.filter(plan=parent).first()
    commitment = overrides.get("minimum_commitment")
    if commitment:
        base = None
        if source is not None:
            base = MinimumCommitment(
                plan=child, amount_cents=source.amount_cents, invoice_display_name=source.invoice_display_name
            )
            base.save()
            base.taxes.set(source.taxes.all())
        _write_commitment(child, base, commitment, taxes_by_code)
    elif source is not None:
        copy = MinimumCommitment.objects.create(
            plan=child, amount_cents=source.amount_cents, invoice_display_name=source.invoice_display_name
        )
        copy.taxes.set(source.taxes.all())


def _write_commitment(
    plan: Plan, existing: MinimumCommitment | None, data: Mapping[str, Any], taxes_by_code
) -> None:
    commitment = existing or MinimumCommitment(plan=plan, amount_cents=0)
    if "amount_cents" in data:
        commitment.amount_cents = data["amount_cents"]
    if "invoice_display_name" in data:
        commitment.invoice_display_name = data["invoice_display_name"]
    commitment.save()
    if "tax_codes" in data:
        commitment.taxes.set(_pick_taxes(data["tax_codes"], taxes_by_code))


def _threshold_rows(plan: Plan) -> list[dict]:
    return [
        {
            "threshold_display_name": t.threshold_display_name,
            "amount_cents": t.amount_cents,
            "recurring": t.recurring,
        }
        for t in UsageThreshold.objects.filter(plan=plan)
    ]


def _create_thresholds(plan: Plan, rows: Iterable[Mapping[str, Any]]) -> None:
    UsageThreshold.objects.bulk_create(
        [
            UsageThreshold(
                plan=plan,
                threshold_display_name=row.get("threshold_display_name"),
                amount_cents=row["amount_cents"],
                recurring=bool(row.get("recurring")),
            )
            for row in rows
        ]
    )


# --------------------------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------------------------


def _live_charges(plan: Plan) -> list[Charge]:
    return list(
        Charge.objects.filter(plan=plan, deleted_at__isnull=True)
        .select_related("billable_metric")
        .prefetch_related("billable_metric__filters")
        .order_by("position", "created_at")
    )


def _live_fixed_charges(plan: Plan) -> list[FixedCharge]:
    return list(FixedCharge.objects.filter(plan=plan, deleted_at__isnull=True).order_by("created_at"))


def _by_id(items) -> dict[str, tuple[int, Mapping[str, Any]]]:
    """Overrides by the id they name, with their index in the payload (for error paths)."""
    return {
        str(item["id"]): (index, item) for index, item in enumerate(items or []) if item.get("id") is not None
    }


def _override_for(row, overrides: Mapping[str, tuple[int, Mapping[str, Any]]]) -> tuple[int | None, Any]:
    """An override names a row by its own id or (on a child) by the id of the parent row it was copied from."""
    found = overrides.get(str(row.pk))
    if found is None and getattr(row, "parent_id", None) is not None:
        found = overrides.get(str(row.parent_id))
    return found if found is not None else (None, None)


def _all_tax_codes(overrides: Mapping[str, Any]) -> list[str]:
    codes = list(overrides.get("tax_codes") or [])
    commitment = overrides.get("minimum_commitment") or {}
    codes += list(commitment.get("tax_codes") or [])
    for item in list(overrides.get("charges") or []) + list(overrides.get("fixed_charges") or []):
        codes += list(item.get("tax_codes") or [])
    return list(dict.fromkeys(codes))


def _taxes_for(organization_id, overrides: Mapping[str, Any]) -> dict[str, Tax]:
    """Every tax code the overrides name, looked up once; an unknown code is Lago's 404 tax_not_found."""
    codes = _all_tax_codes(overrides)
    found = {t.code: t for t in Tax.objects.filter(organization_id=organization_id, code__in=codes)}
    if len(found) != len(codes):
        raise errors.NotFound("tax")
    return found


def _pick_taxes(codes, taxes_by_code: Mapping[str, Tax]) -> list[Tax]:
    return [taxes_by_code[c] for c in dict.fromkeys(codes or [])]
