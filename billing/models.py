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


class SubscriptionStatus(models.TextChoices):
    PENDING = "pending"
    ACTIVE = "active"
    TERMINATED = "terminated"
    CANCELED = "canceled"
    INCOMPLETE = "incomplete"


class BillingTime(models.TextChoices):
    CALENDAR = "calendar"
    ANNIVERSARY = "anniversary"


class OnTerminationCreditNote(models.TextChoices):
    CREDIT = "credit"
    REFUND = "refund"
    OFFSET = "offset"
    SKIP = "skip"


class OnTerminationInvoice(models.TextChoices):
    GENERATE = "generate"
    SKIP = "skip"


class Subscription(models.Model):
    """A customer on a plan. Upgrades and downgrades chain subscriptions that share one external_id."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey("customers.Organization", on_delete=models.CASCADE, related_name="+")
    customer = models.ForeignKey("customers.Customer", on_delete=models.PROTECT, related_name="subscriptions")
    plan = models.ForeignKey("catalog.Plan", on_delete=models.PROTECT, related_name="subscriptions")
    previous_subscription = models.OneToOneField(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="next_subscription"
    )
    external_id = models.CharField(max_length=255)
    name = models.CharField(max_length=255, null=True, blank=True)
    status = models.CharField(
        max_length=16, choices=SubscriptionStatus.choices, default=SubscriptionStatus.PENDING
    )
    billing_time = models.CharField(max_length=16, choices=BillingTime.choices, default=BillingTime.CALENDAR)
    subscription_at = models.DateTimeField()
    started_at = models.DateTimeField(null=True, blank=True)
    ending_at = models.DateTimeField(null=True, blank=True)
    terminated_at = models.DateTimeField(null=True, blank=True)
    canceled_at = models.DateTimeField(null=True, blank=True)
    trial_ended_at = models.DateTimeField(null=True, blank=True)
    on_termination_credit_note = models.CharField(
        max_length=16, choices=OnTerminationCreditNote.choices, null=True, blank=True
    )
    on_termination_invoice = models.CharField(
        max_length=16, choices=OnTerminationInvoice.choices, default=OnTerminationInvoice.GENERATE
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # One live subscription per external id (plus at most one pending downgrade waiting behind it).
            models.UniqueConstraint(
                fields=["organization", "external_id"],
                condition=models.Q(status="active"),
                name="one_active_subscription_per_external_id",
            ),
            models.UniqueConstraint(
                fields=["organization", "external_id"],
                condition=models.Q(status="pending"),
                name="one_pending_subscription_per_external_id",
            ),
        ]
        indexes = [
            models.Index(fields=["organization", "external_id", "started_at"]),
            models.Index(fields=["organization", "status"]),
        ]

    def __str__(self) -> str:
        return f"{self.external_id} ({self.status})"
