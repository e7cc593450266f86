"""POST /invoices/preview: the invoice a customer would receive, computed by the billing engine itself.

The preview runs the real code path — subscription scopes, fee lines, coupons, taxes, numbering — inside a
transaction that is always rolled back, so what it shows is exactly what a run would bill, and nothing is
written. For a customer and plan that do not exist yet, the customer and subscription are created inside that
same transaction.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from typing import Any

from django.db import transaction

from billing.invoice_fees import periodic_scope, starting_scope, subscription_timezone, terminating_scope
from billing.models import BillingTime, Subscription, SubscriptionStatus
from billing.periods import next_billing_instant
from billing.runs import bill_scope
from catalog.models import Coupon, CouponStatus, CouponType
from catalog.selectors.plans import plan_by_code
from config import clock, errors
from customers.models import Customer
from customers.services import upsert_customer
from invoicing.numbering import draft_number
from invoicing.selectors import invoice_with_details


class _Rollback(Exception):
    def __init__(self, payload):
        self.payload = payload


def preview_invoice(*, organization, data: Mapping[str, Any], render) -> dict:
    """Build the would-be invoice and return `render(invoice)` computed before rolling everything back."""
    try:
        with transaction.atomic():
            invoice = _build(organization, data)
            payload = render(invoice_with_details(invoice))
            payload["number"] = draft_number(organization)
            payload["status"] = "draft"
            raise _Rollback(payload)
    except _Rollback as done:
        return done.payload


def _build(organization, data: Mapping[str, Any]):
    now = clock.now(organization)
    customer = _customer(organization, data.get("customer") or {})
    subscriptions = data.get("subscriptions") or {}
    if subscriptions.get("external_ids"):
        scopes = _existing_subscription_scopes(customer, subscriptions, now=now)
    else:
        scopes = [_new_subscription_scope(organization, customer, data, now=now)]
    _apply_preview_coupons(organization, customer, data.get("coupons") or [])
    scopes = [scope for scope in scopes if scope is not None]
    if not scopes:
        raise errors.ValidationFailed(subscriptions=["nothing_to_bill"])
    # One preview invoice per request: the first scope's invoice (Lago previews one invoice).
    invoice = bill_scope(scopes[0], finalize=True)
    if invoice is None:
        raise errors.NotAllowed("already_billed")
    return invoice


def _customer(organization, payload: Mapping[str, Any]) -> Customer:
    external_id = payload.get("external_id")
    if external_id:
        existing = Customer.objects.filter(
            organization=organization, external_id=external_id, deleted_at__isnull=True
        ).first()
        if existing is not None:
            return existing
    fields = {
        key: payload[key]
        for key in ("name", "currency", "timezone", "address_line1", "address_line2", "city", "state", "country",
                    "tax_identification_number")
        if payload.get(key) is not None
    }  # fmt: skip
    customer, _ = upsert_customer(
        organization=organization, external_id=external_id or f"preview-{uuid.uuid4()}", data=fields
    )
    return customer


def _existing_subscription_scopes(customer: Customer, subscriptions: Mapping[str, Any], *, now: dt.datetime):
    found = list(
        Subscription.objects.filter(
            organization=customer.organization,
            customer=customer,
            external_id__in=subscriptions["external_ids"],
            status=SubscriptionStatus.ACTIVE,
        ).select_related("plan", "customer", "organization")
    )
    if not found:
        raise errors.NotFound("subscription")
    terminated_at = subscriptions.get("terminated_at")
    scopes = []
    for subscription in found:
        if terminated_at is not None:
            subscription.terminated_at = max(terminated_at, now)
            subscription.status = SubscriptionStatus.TERMINATED
            scopes.append(terminating_scope(subscription))
            continue
        instant = next_billing_instant(
            now,
            interval=subscription.plan.interval,
            billing_time=subscription.billing_time,
            subscription_at=subscription.subscription_at,
            timezone=subscription_timezone(subscription),
            bill_charges_monthly=bool(subscription.plan.bill_charges_monthly),
        )
        # Usage so far is what the next invoice would bill if the period ended now.
        scopes.append(periodic_scope(subscription, instant))
    return scopes


def _new_subscription_scope(organization, customer: Customer, data: Mapping[str, Any], *, now: dt.datetime):
    if not data.get("plan_code"):
        raise errors.ValidationFailed(plan_code=["value_is_mandatory"])
    plan = plan_by_code(organization, data["plan_code"])
    if customer.currency and customer.currency != plan.amount_currency:
        raise errors.ValidationFailed(currency=["currencies_does_not_match"])
    subscription_at = data.get("subscription_at") or now
    subscription = Subscription.objects.create(
        organization=organization,
        customer=customer,
        plan=plan,
        external_id=f"preview-{uuid.uuid4()}",
        status=SubscriptionStatus.ACTIVE,
        billing_time=data.get("billing_time") or BillingTime.CALENDAR,
        subscription_at=subscription_at,
        started_at=subscription_at,
    )
    Subscription.objects.filter(pk=subscription.pk).update(created_at=subscription_at)
    subscription.created_at = subscription_at
    if plan.pay_in_advance:
        scope = starting_scope(subscription)
        if scope is not None:
            return scope
    instant = next_billing_instant(
        subscription_at,
        interval=plan.interval,
        billing_time=subscription.billing_time,
        subscription_at=subscription.subscription_at,
        timezone=subscription_timezone(subscription),
        bill_charges_monthly=bool(plan.bill_charges_monthly),
    )
    return periodic_scope(subscription, instant)


def _apply_preview_coupons(organization, customer: Customer, coupons) -> None:
    """Coupons given in the request replace the customer's own for this preview."""
    if not coupons:
        return
    from billing.models import AppliedCoupon

    AppliedCoupon.objects.filter(customer=customer, status=CouponStatus.ACTIVE).update(
        status=CouponStatus.TERMINATED
    )
    for item in coupons:
        coupon = Coupon.objects.filter(
            organization=organization, code=item.get("code"), deleted_at__isnull=True
        ).first()
        if coupon is None:
            coupon = Coupon.objects.create(
                organization=organization,
                code=f"preview-{uuid.uuid4()}",
                name=item.get("name") or item.get("code") or "preview",
                coupon_type=item.get("coupon_type") or CouponType.FIXED_AMOUNT,
                amount_cents=item.get("amount_cents"),
                amount_currency=item.get("amount_currency") or customer.currency,
                percentage_rate=item.get("percentage_rate"),
                frequency="recurring" if item.get("frequency_duration") else "once",
                frequency_duration=item.get("frequency_duration"),
                status=CouponStatus.ACTIVE,
            )
        AppliedCoupon.objects.create(
            organization=organization,
            coupon=coupon,
            customer=customer,
            amount_cents=item.get("amount_cents", coupon.amount_cents),
            amount_currency=item.get("amount_currency") or coupon.amount_currency,
            percentage_rate=item.get("percentage_rate", coupon.percentage_rate),
            frequency=coupon.frequency,
            frequency_duration=coupon.frequency_duration,
            frequency_duration_remaining=coupon.frequency_duration,
        )
