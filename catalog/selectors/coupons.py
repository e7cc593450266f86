"""Reads for coupons, always scoped by organization; deleted coupons are invisible."""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import QuerySet

from catalog.models import BillableMetric, Coupon, CouponExpiration, CouponStatus, Plan
from config import errors


def coupon_list(organization) -> QuerySet[Coupon]:
    return (
        Coupon.objects.filter(organization=organization, deleted_at__isnull=True)
        .prefetch_related("plans", "billable_metrics")
        .order_by("-created_at", "code")
    )


def coupon_by_code(organization, code: str) -> Coupon:
    if "\x00" in code:  # PostgreSQL text cannot hold NUL: no such row
        raise errors.NotFound("coupon")
    coupon = coupon_list(organization).filter(code=code).first()
    if coupon is None:
        raise errors.NotFound("coupon")
    return coupon


def coupon_is_applicable(coupon: Coupon, now) -> bool:
    """Can be given to a customer now: live, active, and not past its expiration (even before the sweep)."""
    if coupon.deleted_at is not None or coupon.status != CouponStatus.ACTIVE:
        return False
    return not (
        coupon.expiration == CouponExpiration.TIME_LIMIT
        and coupon.expiration_at is not None
        and coupon.expiration_at < now
    )


def limitation_plans_by_codes(organization, codes: Iterable[str]) -> list[Plan]:
    """Live parent plans (not a subscription's override copy) for coupon `applies_to.plan_codes`.

    Unknown code → Lago's 404 `plans_not_found`.
    """
    codes = list(dict.fromkeys(codes))
    found = {
        p.code: p
        for p in Plan.objects.filter(
            organization=organization, code__in=codes, deleted_at__isnull=True, parent__isnull=True
        )
    }
    if len(found) != len(codes):
        raise errors.NotFound("plans")
    return [found[c] for c in codes]


def limitation_metrics_by_codes(organization, codes: Iterable[str]) -> list[BillableMetric]:
    """Live metrics for coupon `applies_to.billable_metric_codes`; unknown → 404 `billable_metrics_not_found`."""
    codes = list(dict.fromkeys(codes))
    found = {
        m.code: m
        for m in BillableMetric.objects.filter(
            organization=organization, code__in=codes, deleted_at__isnull=True
        )
    }
    if len(found) != len(codes):
        raise errors.NotFound("billable_metrics")
    return [found[c] for c in codes]
