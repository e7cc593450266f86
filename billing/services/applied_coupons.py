"""Giving a coupon to a customer, and taking it back (lago-api AppliedCoupons::CreateService / TerminateService).

`check_coupon_application` holds every rule; `apply_coupon` (API, admin) runs it under a lock on the customer
row, so two concurrent applications of a non-reusable coupon cannot both pass.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import transaction
from django.db.models import Q

from billing.models import AppliedCoupon
from catalog.models import Charge, Coupon, CouponFrequency, CouponStatus, CouponType
from catalog.selectors.coupons import coupon_is_applicable
from config import clock, errors
from config.lago_enums import CURRENCIES
from customers.models import Customer
from customers.services import upsert_customer

OVERRIDE_FIELDS = ("amount_cents", "amount_currency", "percentage_rate", "frequency", "frequency_duration")
MAX_AMOUNT_CENTS = 2**63 - 1
MAX_FREQUENCY_DURATION = 2**31 - 1


@dataclass(frozen=True)
class CouponApplication:
    """What `apply_coupon` will store, once every rule passed."""

    values: dict[str, Any]
    # A fixed-amount coupon gives its currency to a customer that has none yet (Lago).
    customer_currency: str | None


def _plan_limitation_overlaps(customer: Customer, coupon: Coupon) -> bool:
    """Lago's `plan_overlapping`: the customer already has an active limited coupon aiming at the same plans or
    metrics, directly or through the plans' charges (a plan limitation meets a metric one via a charge)."""
    if not (coupon.limited_plans or coupon.limited_billable_metrics):
        return False
    plan_ids = list(coupon.plans.values_list("pk", flat=True))
    metric_ids = list(coupon.billable_metrics.values_list("pk", flat=True))
    live_charges = Charge.objects.filter(deleted_at__isnull=True)
    metrics_of_plans = live_charges.filter(plan_id__in=plan_ids).values("billable_metric_id")
    plans_of_metrics = live_charges.filter(billable_metric_id__in=metric_ids).values("plan_id")
    return (
        AppliedCoupon.objects.filter(customer=customer, status=CouponStatus.ACTIVE)
        .filter(
            Q(coupon__plans__in=plan_ids)
            | Q(coupon__billable_metrics__in=metric_ids)
            | Q(coupon__plans__in=plans_of_metrics)
            | Q(coupon__billable_metrics__in=metrics_of_plans)
        )
        .exists()
    )


def _validated_values(coupon: Coupon, overrides: Mapping[str, Any]) -> dict[str, Any]:
    """The applied coupon's terms: the coupon's, with the non-null overrides on top (Lago's `param || coupon`)."""
    values = {
        field: overrides.get(field) if overrides.get(field) is not None else getattr(coupon, field)
        for field in OVERRIDE_FIELDS
    }
    details: dict[str, list[str]] = {}
    amount = values["amount_cents"]
    if amount is not None and (isinstance(amount, bool) or not isinstance(amount, int)):
        details["amount_cents"] = ["value_is_invalid"]
    elif amount is not None and not 0 <= amount <= MAX_AMOUNT_CENTS:
        details["amount_cents"] = ["value_is_out_of_range"]
    if values["amount_currency"] is not None and values["amount_currency"] not in CURRENCIES:
        details["amount_currency"] = ["value_is_invalid"]
    rate = values["percentage_rate"]
    if rate is not None:
        try:
            rate = Decimal(str(rate))
        except (InvalidOperation, ValueError):
            rate = None
        if rate is None or not rate.is_finite():
            details["percentage_rate"] = ["value_is_invalid"]
        elif not 0 < rate <= 100:
            details["percentage_rate"] = ["value_is_out_of_range"]
        elif rate != round(rate, 5):
            details["percentage_rate"] = ["value_is_invalid"]
        else:
            values["percentage_rate"] = rate
    if values["frequency"] not in CouponFrequency.values:
        details["frequency"] = ["value_is_invalid"]
    elif values["frequency"] == CouponFrequency.RECURRING:
        duration = values["frequency_duration"]
        if duration is None:
            details["frequency_duration"] = ["value_is_mandatory"]
        elif isinstance(duration, bool) or not isinstance(duration, int):
            details["frequency_duration"] = ["value_is_invalid"]
        elif not 1 <= duration <= MAX_FREQUENCY_DURATION:
            details["frequency_duration"] = ["value_is_out_of_range"]
    else:
        values["frequency_duration"] = None
    if coupon.coupon_type == CouponType.FIXED_AMOUNT and (
        values["amount_cents"] is None or not values["amount_currency"]
    ):
        details.setdefault("amount_cents", ["value_is_mandatory"])
    if details:
        raise errors.ValidationFailed(details)
    values["frequency_duration_remaining"] = values["frequency_duration"]
    return values


def check_coupon_application(
    *, customer: Customer, coupon: Coupon, overrides: Mapping[str, Any] | None = None
) -> CouponApplication:
    """Every rule of applying `coupon` to `customer`, in Lago's order; raises, or returns what to store.

    1. the coupon must be live, active and not past its expiration → else 404 `coupon_not_found`
       (Lago looks up active coupons only; an expired coupon the sweep has not terminated yet is refused too);
    2. a limited coupon must not overlap an active limited one of the customer → 405 `plan_overlapping`;
    3. a non-reusable coupon is given once per customer, whatever became of it → 422 `coupon_is_not_reusable`;
    4. overrides must be valid terms (amount ≥ 0, known currency, 0 < rate ≤ 100, recurring needs a duration);
    5. a fixed-amount coupon must be in the customer's currency → 422 `{"currency": ["currencies_does_not_match"]}`;
       a customer without currency takes the coupon's.
    """
    overrides = overrides or {}
    if customer.organization_id != coupon.organization_id:
        raise errors.NotFound("coupon")
    if not coupon_is_applicable(coupon, clock.now(customer.organization)):
        raise errors.NotFound("coupon")
    if _plan_limitation_overlaps(customer, coupon):
        raise errors.NotAllowed("plan_overlapping")
    if not coupon.reusable and AppliedCoupon.objects.filter(customer=customer, coupon=coupon).exists():
        raise errors.ValidationFailed({"coupon": ["coupon_is_not_reusable"]})
    values = _validated_values(coupon, overrides)
    customer_currency = None
    if coupon.coupon_type == CouponType.FIXED_AMOUNT:
        currency = values["amount_currency"]
        if not customer.currency:
            customer_currency = currency
        elif customer.currency != currency:
            raise errors.ValidationFailed({"currency": ["currencies_does_not_match"]})
    return CouponApplication(values=values, customer_currency=customer_currency)


@transaction.atomic
def apply_coupon(
    *, customer: Customer, coupon: Coupon, overrides: Mapping[str, Any] | None = None
) -> AppliedCoupon:
    """Give `coupon` to `customer` with optional overrides of amount, currency, rate and frequency."""
    customer = Customer.objects.select_for_update().get(pk=customer.pk)
    application = check_coupon_application(customer=customer, coupon=coupon, overrides=overrides)
    if application.customer_currency:
        upsert_customer(
            organization=customer.organization,
            external_id=customer.external_id,
            data={"currency": application.customer_currency},
        )
    return AppliedCoupon.objects.create(
        organization=customer.organization, customer=customer, coupon=coupon, **application.values
    )


@transaction.atomic
def terminate_applied_coupon(*, applied_coupon: AppliedCoupon) -> AppliedCoupon:
    """Take the coupon back from the customer: it stops applying to future invoices. Idempotent."""
    applied_coupon = AppliedCoupon.objects.select_for_update().get(pk=applied_coupon.pk)
    if applied_coupon.status != CouponStatus.TERMINATED:
        applied_coupon.status = CouponStatus.TERMINATED
        applied_coupon.terminated_at = applied_coupon.terminated_at or clock.now(applied_coupon.organization)
        applied_coupon.save(update_fields=["status", "terminated_at", "updated_at"])
    return applied_coupon
