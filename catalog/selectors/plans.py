"""Reads for plans, their charges, charge filters and fixed charges; always scoped by organization.

Deleted (soft) rows never come back from here. Override children (plans with a parent) are reachable only through
their parent; the list and look-ups by code return parent plans.
"""

from __future__ import annotations

import uuid

from django.db.models import Prefetch, QuerySet

from catalog.models import AddOn, BillableMetric, Charge, ChargeFilter, FixedCharge, Plan
from config import errors


def _live_filters() -> QuerySet[ChargeFilter]:
    return ChargeFilter.objects.filter(deleted_at__isnull=True).order_by("position", "created_at")


def live_charges() -> QuerySet[Charge]:
    return (
        Charge.objects.filter(deleted_at__isnull=True)
        .select_related("billable_metric")
        .prefetch_related(Prefetch("filters", queryset=_live_filters()), "taxes")
        .order_by("position", "created_at")
    )


def live_fixed_charges() -> QuerySet[FixedCharge]:
    return (
        FixedCharge.objects.filter(deleted_at__isnull=True)
        .select_related("add_on")
        .prefetch_related("taxes")
        .order_by("created_at", "code")
    )


def _with_details(queryset: QuerySet[Plan]) -> QuerySet[Plan]:
    return queryset.select_related("minimum_commitment").prefetch_related(
        Prefetch("charges", queryset=live_charges()),
        Prefetch("fixed_charges", queryset=live_fixed_charges()),
        "taxes",
        "usage_thresholds",
        "minimum_commitment__taxes",
    )


def plan_list(organization) -> QuerySet[Plan]:
    """The organization's live parent plans, newest first, with everything the API shows."""
    return _with_details(
        Plan.objects.filter(organization=organization, deleted_at__isnull=True, parent__isnull=True)
    ).order_by("-created_at", "code")


def _storable(code) -> bool:
    """PostgreSQL text cannot hold NUL: a code with one matches no row (instead of a database error)."""
    return isinstance(code, str) and "\x00" not in code


def plan_by_code(organization, code: str) -> Plan:
    plan = plan_list(organization).filter(code=code).first() if _storable(code) else None
    if plan is None:
        raise errors.NotFound("plan")
    return plan


def plan_with_details(plan: Plan) -> Plan:
    """A fresh copy of `plan` with its live charges, fixed charges, taxes… loaded (after a write)."""
    return _with_details(Plan.objects.filter(pk=plan.pk)).get()


def plan_children(plan: Plan) -> QuerySet[Plan]:
    return Plan.objects.filter(organization_id=plan.organization_id, parent=plan, deleted_at__isnull=True)


def plan_charges(plan: Plan) -> QuerySet[Charge]:
    return live_charges().filter(plan=plan)


def charge_by_code(plan: Plan, code: str) -> Charge:
    charge = plan_charges(plan).filter(code=code).first() if _storable(code) else None
    if charge is None:
        raise errors.NotFound("charge")
    return charge


def plan_fixed_charges(plan: Plan) -> QuerySet[FixedCharge]:
    return live_fixed_charges().filter(plan=plan)


def fixed_charge_by_code(plan: Plan, code: str) -> FixedCharge:
    fixed_charge = plan_fixed_charges(plan).filter(code=code).first() if _storable(code) else None
    if fixed_charge is None:
        raise errors.NotFound("fixed_charge")
    return fixed_charge


def charge_filters(charge: Charge) -> QuerySet[ChargeFilter]:
    return _live_filters().filter(charge=charge)


def _as_uuid(value) -> uuid.UUID | None:
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except (TypeError, ValueError, AttributeError):
        return None


def billable_metric_for_charge(
    organization, *, metric_id=None, metric_code: str | None = None
) -> BillableMetric:
    """The live metric of this organization a charge points at (by id, else by code); 404 otherwise."""
    metrics = BillableMetric.objects.filter(
        organization=organization, deleted_at__isnull=True
    ).prefetch_related("filters")
    metric = None
    if metric_id is not None:
        pk = _as_uuid(metric_id)
        metric = metrics.filter(pk=pk).first() if pk else None
    elif _storable(metric_code):
        metric = metrics.filter(code=metric_code).first()
    if metric is None:
        raise errors.NotFound("billable_metric")
    return metric


def add_on_for_fixed_charge(organization, *, add_on_id=None, add_on_code: str | None = None) -> AddOn:
    """The live add-on of this organization a fixed charge is backed by (by id, else by code); 404 otherwise."""
    add_ons = AddOn.objects.filter(organization=organization, deleted_at__isnull=True)
    add_on = None
    if add_on_id is not None:
        pk = _as_uuid(add_on_id)
        add_on = add_ons.filter(pk=pk).first() if pk else None
    elif _storable(add_on_code):
        add_on = add_ons.filter(code=add_on_code).first()
    if add_on is None:
        raise errors.NotFound("add_on")
    return add_on


def plan_attached_to_subscriptions(plan: Plan) -> bool:
    """Lago's `Plan#attached_to_subscriptions?`: any subscription (whatever its status) on the plan itself.

    Reads billing's subscriptions through the reverse relation only (catalog never imports billing)."""
    return plan.subscriptions.exists()
