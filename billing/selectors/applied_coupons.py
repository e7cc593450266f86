"""Reads for applied coupons, always scoped by organization."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from django.db.models import QuerySet

from billing.models import AppliedCoupon
from catalog.models import CouponFrequency, CouponStatus, CouponType
from config import errors
from invoicing.selectors import coupon_consumed_amounts


def applied_coupon_list(organization, *, filters: Mapping[str, Any] | None = None) -> QuerySet[AppliedCoupon]:
    """Newest first, customers not deleted. Filters (Lago's query names): `status` (an unknown value is ignored,
    as in Lago), `external_customer_id`, `coupon_code` (a list); `customer` (an object) for the per-customer list."""
    filters = filters or {}
    qs = (
        AppliedCoupon.objects.filter(organization=organization, customer__deleted_at__isnull=True)
        .select_related("coupon", "customer")
        .order_by("-created_at", "-id")
    )
    if filters.get("status") in CouponStatus.values:
        qs = qs.filter(status=filters["status"])
    if filters.get("customer") is not None:
        qs = qs.filter(customer=filters["customer"])
    if filters.get("external_customer_id"):
        qs = qs.filter(customer__external_id=filters["external_customer_id"])
    if filters.get("coupon_code"):
        qs = qs.filter(coupon__code__in=list(filters["coupon_code"]))
    return qs


def applied_coupon_of_customer(organization, customer, applied_coupon_id) -> AppliedCoupon:
    """One of the customer's applied coupons by id (any status); 404 `applied_coupon_not_found` otherwise."""
    try:
        pk = uuid.UUID(str(applied_coupon_id))
    except ValueError:
        raise errors.NotFound("applied_coupon")
    applied = applied_coupon_list(organization).filter(customer=customer, pk=pk).first()
    if applied is None:
        raise errors.NotFound("applied_coupon")
    return applied


def consumed_amount_cents(applied_coupon: AppliedCoupon) -> int:
    """Cents of this applied coupon already taken off invoices that still stand (voided ones give it back)."""
    return coupon_consumed_amounts([applied_coupon.pk])[applied_coupon.pk]


def amount_cents_remaining(applied_coupon: AppliedCoupon) -> int | None:
    """What a fixed-amount, once coupon can still take off invoices (Lago: amount − active credits).

    None for percentage coupons and for recurring/forever frequencies, as in Lago's serializer.
    """
    if applied_coupon.frequency in (CouponFrequency.RECURRING, CouponFrequency.FOREVER):
        return None
    if applied_coupon.coupon.coupon_type == CouponType.PERCENTAGE or applied_coupon.amount_cents is None:
        return None
    return applied_coupon.amount_cents - consumed_amount_cents(applied_coupon)
