"""Subscriptions and applied coupons. (Subscriptions arrive with the subscriptions issue.)"""

from __future__ import annotations

import uuid

from django.db import models

from catalog.models import CouponFrequency, CouponStatus


class AppliedCoupon(models.Model):
    """A coupon given to a customer, with any per-customer overrides of amount, rate or frequency."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey("customers.Organization", on_delete=models.CASCADE, related_name="+")
    coupon = models.ForeignKey("catalog.Coupon", on_delete=models.PROTECT, related_name="applied_coupons")
    customer = models.ForeignKey(
        "customers.Customer", on_delete=models.CASCADE, related_name="applied_coupons"
    )
    amount_cents = models.BigIntegerField(null=True, blank=True)
    amount_currency = models.CharField(max_length=3, null=True, blank=True)
    percentage_rate = models.DecimalField(max_digits=10, decimal_places=5, null=True, blank=True)
    frequency = models.CharField(max_length=16, choices=CouponFrequency.choices)
    frequency_duration = models.PositiveIntegerField(null=True, blank=True)
    frequency_duration_remaining = models.PositiveIntegerField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=CouponStatus.choices, default=CouponStatus.ACTIVE)
    terminated_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at"]
        indexes = [models.Index(fields=["customer", "status"])]
