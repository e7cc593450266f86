"""Writes for coupons: create, update, delete, terminate, and the expiry sweep.

Validation lives in `validate_coupon_attributes` (+ `resolve_coupon_limitations`), shared by the API and the admin
form (billing-semantics §6.2; lago-api app/services/coupons/*).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import IntegrityError, transaction

from catalog.models import (
    BillableMetric,
    Coupon,
    CouponExpiration,
    CouponFrequency,
    CouponStatus,
    CouponType,
    Plan,
)
from catalog.selectors.coupons import limitation_metrics_by_codes, limitation_plans_by_codes
from config import clock, errors
from config.lago_enums import CURRENCIES
from customers.models import Organization

COUPON_FIELDS = (
    "name",
    "code",
    "description",
    "coupon_type",
    "amount_cents",
    "amount_currency",
    "percentage_rate",
    "frequency",
    "frequency_duration",
    "reusable",
    "expiration",
    "expiration_at",
)
# Lago (Coupons::UpdateService): once a coupon has been applied to a customer, only these change; the other
# keys of an update (and applies_to) are silently ignored.
EDITABLE_WHEN_APPLIED = frozenset({"name", "description", "expiration", "expiration_at"})

MAX_AMOUNT_CENTS = 2**63 - 1
MAX_FREQUENCY_DURATION = 2**31 - 1
MAX_PERCENTAGE_RATE = Decimal(100)


def validate_coupon_attributes(attrs: Mapping[str, Any], *, expiration_after: dt.datetime | None) -> dict:
    """Check a coupon's complete attributes; return them normalised or raise ValidationFailed.

    `expiration_after`: when given, a time-limited coupon's `expiration_at` must be later than it (pass the
    organization's now when expiration_at is being set; None skips the check, e.g. an unchanged past date).
    Normalisation drops the fields that do not apply: amount for percentage coupons, rate for fixed ones,
    frequency_duration unless recurring, expiration_at unless time_limit.
    """
    values = {field: attrs.get(field) for field in COUPON_FIELDS}
    details: dict[str, list[str]] = {}

    def fail(field: str, code: str) -> None:
        details.setdefault(field, []).append(code)

    for field in ("name", "code"):
        if not isinstance(values[field], str) or not values[field].strip():
            fail(field, "value_is_mandatory")

    for field, choices in (
        ("coupon_type", CouponType.values),
        ("frequency", CouponFrequency.values),
        ("expiration", CouponExpiration.values),
    ):
        if values[field] in (None, ""):
            fail(field, "value_is_mandatory")
        elif values[field] not in choices:
            fail(field, "value_is_invalid")

    if values["coupon_type"] == CouponType.FIXED_AMOUNT:
        values["percentage_rate"] = None
        amount = values["amount_cents"]
        if amount is None:
            fail("amount_cents", "value_is_mandatory")
        elif isinstance(amount, bool) or not isinstance(amount, int):
            fail("amount_cents", "value_is_invalid")
        elif not 0 < amount <= MAX_AMOUNT_CENTS:
            fail("amount_cents", "value_is_out_of_range")
        if not values["amount_currency"]:
            fail("amount_currency", "value_is_mandatory")
        elif values["amount_currency"] not in CURRENCIES:
            fail("amount_currency", "value_is_invalid")
    elif values["coupon_type"] == CouponType.PERCENTAGE:
        values["amount_cents"] = values["amount_currency"] = None
        rate = values["percentage_rate"]
        if rate is None or rate == "":
            fail("percentage_rate", "value_is_mandatory")
        else:
            try:
                rate = Decimal(str(rate))
            except (InvalidOperation, ValueError):
                rate = None
            if rate is None or not rate.is_finite():
                fail("percentage_rate", "value_is_invalid")
            elif not 0 < rate <= MAX_PERCENTAGE_RATE:
                fail("percentage_rate", "value_is_out_of_range")
            elif rate != round(rate, 5):
                fail("percentage_rate", "value_is_invalid")
            else:
                values["percentage_rate"] = rate

    if values["frequency"] == CouponFrequency.RECURRING:
        duration = values["frequency_duration"]
        if duration is None:
            fail("frequency_duration", "value_is_mandatory")
        elif isinstance(duration, bool) or not isinstance(duration, int):
            fail("frequency_duration", "value_is_invalid")
        elif not 1 <= duration <= MAX_FREQUENCY_DURATION:
            fail("frequency_duration", "value_is_out_of_range")
    elif values["frequency"] in CouponFrequency.values:
        values["frequency_duration"] = None

    if values["reusable"] is None:
        values["reusable"] = True

    if values["expiration"] == CouponExpiration.TIME_LIMIT:
        expiration_at = values["expiration_at"]
        if expiration_at is None:
            fail("expiration_at", "value_is_mandatory")
        elif (
            not isinstance(expiration_at, dt.datetime)
            or expiration_at.tzinfo is None
            or (expiration_after is not None and expiration_at <= expiration_after)
        ):
            fail("expiration_at", "invalid_date")
    elif values["expiration"] == CouponExpiration.NO_EXPIRATION:
        values["expiration_at"] = None

    if details:
        raise errors.ValidationFailed(details)
    return values


def resolve_coupon_limitations(
    organization, applies_to: Mapping[str, Any] | None
) -> tuple[list[Plan], list[BillableMetric]]:
    """`applies_to {plan_codes, billable_metric_codes}` → (plans, metrics).

    Lago's order and codes: an unknown plan code is 404 `plans_not_found`, an unknown metric code 404
    `billable_metrics_not_found`; both kinds at once is 405 `only_one_limitation_type_per_coupon_allowed`.
    """
    applies_to = applies_to or {}
    plan_codes = [c for c in (applies_to.get("plan_codes") or []) if c is not None]
    metric_codes = [c for c in (applies_to.get("billable_metric_codes") or []) if c is not None]
    plans = limitation_plans_by_codes(organization, plan_codes) if plan_codes else []
    metrics = limitation_metrics_by_codes(organization, metric_codes) if metric_codes else []
    if plans and metrics:
        raise errors.NotAllowed("only_one_limitation_type_per_coupon_allowed")
    return plans, metrics


def check_limitations(organization, plans: Sequence[Plan], metrics: Sequence[BillableMetric]) -> None:
    """The admin's counterpart of resolve_coupon_limitations: same organization, one kind only."""
    if any(p.organization_id != organization.pk or p.deleted_at or p.parent_id for p in plans):
        raise errors.NotFound("plans")
    if any(m.organization_id != organization.pk or m.deleted_at for m in metrics):
        raise errors.NotFound("billable_metrics")
    if plans and metrics:
        raise errors.NotAllowed("only_one_limitation_type_per_coupon_allowed")


def coupon_is_applied(coupon: Coupon) -> bool:
    """Applied to any customer, whatever the applied coupon's status (Lago's `applied_coupons.exists?`)."""
    return coupon.pk is not None and coupon.applied_coupons.exists()


def _save_unique(coupon: Coupon) -> None:
    try:
        with transaction.atomic():
            coupon.save()
    except IntegrityError:
        raise errors.ValidationFailed({"code": ["value_already_exist"]})


def set_coupon_limitations(
    *, coupon: Coupon, plans: Sequence[Plan], metrics: Sequence[BillableMetric]
) -> None:
    """Limit the coupon to these plans or metrics (empty: no limitation) and keep the limited_* flags in step."""
    coupon.plans.set(plans)
    coupon.billable_metrics.set(metrics)
    coupon.limited_plans = bool(plans)
    coupon.limited_billable_metrics = bool(metrics)
    coupon.save(update_fields=["limited_plans", "limited_billable_metrics", "updated_at"])


@transaction.atomic
def create_coupon(*, organization, data: Mapping[str, Any]) -> Coupon:
    """Create a coupon; `data["applies_to"]` ({plan_codes} or {billable_metric_codes}) limits it."""
    attrs = dict(data)
    attrs.setdefault("reusable", True)
    values = validate_coupon_attributes(attrs, expiration_after=clock.now(organization))
    plans, metrics = resolve_coupon_limitations(organization, data.get("applies_to"))
    coupon = Coupon(organization=organization, **values)
    _save_unique(coupon)
    set_coupon_limitations(coupon=coupon, plans=plans, metrics=metrics)
    return coupon


@transaction.atomic
def update_coupon(*, coupon: Coupon, data: Mapping[str, Any]) -> Coupon:
    """Apply the keys present in `data`. Once the coupon is applied to a customer only name, description and
    expiration change (Lago); otherwise everything, and `applies_to` (when present) replaces the limitation."""
    coupon = Coupon.objects.select_for_update().get(pk=coupon.pk)
    applied = coupon_is_applied(coupon)
    editable = EDITABLE_WHEN_APPLIED if applied else frozenset(COUPON_FIELDS)
    attrs = {field: getattr(coupon, field) for field in COUPON_FIELDS}
    attrs.update({k: v for k, v in data.items() if k in editable})
    setting_expiration = data.get("expiration_at") is not None or (
        "expiration" in data and data["expiration"] != coupon.expiration
    )
    values = validate_coupon_attributes(
        attrs, expiration_after=clock.now(coupon.organization) if setting_expiration else None
    )
    limitations = None
    if not applied and "applies_to" in data:
        limitations = resolve_coupon_limitations(coupon.organization, data["applies_to"])
    for field, value in values.items():
        setattr(coupon, field, value)
    _save_unique(coupon)
    if limitations is not None:
        set_coupon_limitations(coupon=coupon, plans=limitations[0], metrics=limitations[1])
    return coupon


def _terminate(coupon: Coupon, now: dt.datetime) -> None:
    coupon.status = CouponStatus.TERMINATED
    coupon.terminated_at = coupon.terminated_at or now
    coupon.save(update_fields=["status", "terminated_at", "updated_at"])


@transaction.atomic
def terminate_coupon(*, coupon: Coupon) -> Coupon:
    """Stop new applications of the coupon; customers who already have it keep it."""
    if coupon.status != CouponStatus.TERMINATED:
        _terminate(coupon, clock.now(coupon.organization))
    return coupon


@transaction.atomic
def delete_coupon(*, coupon: Coupon) -> Coupon:
    """Soft-delete the coupon (its code is free again) and terminate its active applications (Lago)."""
    now = clock.now(coupon.organization)
    coupon.deleted_at = now
    coupon.save(update_fields=["deleted_at", "updated_at"])
    # The applied coupons live in billing (an app to our right): reach them through the reverse relation.
    coupon.applied_coupons.filter(status=CouponStatus.ACTIVE).update(
        status=CouponStatus.TERMINATED, terminated_at=now, updated_at=now
    )
    return coupon


@transaction.atomic
def terminate_expired_coupons(*, now: dt.datetime | None = None, organization=None) -> int:
    """Terminate every active, time-limited, live coupon whose `expiration_at` has passed; return how many.

    `now` defaults to each organization's own clock (sandbox test clocks included); `organization` narrows the
    sweep to one tenant. Applied coupons are left alone: expiry only stops new applications (§6.2).
    Idempotent: a terminated coupon is never touched again.
    """
    candidates = Coupon.objects.filter(
        status=CouponStatus.ACTIVE,
        expiration=CouponExpiration.TIME_LIMIT,
        expiration_at__isnull=False,
        deleted_at__isnull=True,
    )
    if organization is not None:
        candidates = candidates.filter(organization=organization)
    organizations = Organization.objects.filter(pk__in=candidates.values("organization_id")).order_by("pk")
    terminated = 0
    for tenant in organizations:
        at = now or clock.now(tenant)
        expired = candidates.filter(organization=tenant, expiration_at__lt=at)
        for coupon in expired.select_for_update(skip_locked=True).order_by("pk"):
            _terminate(coupon, at)
            terminated += 1
    return terminated
