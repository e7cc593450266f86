"""What is sold and at what price. (Billable metrics, plans, charges, add-ons and coupons join here.)"""

from __future__ import annotations

import uuid

from django.db import models


class Tax(models.Model):
    """A tax rate (percent) applied by code to the organization, customers, plans, charges or add-ons."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey("customers.Organization", on_delete=models.CASCADE, related_name="taxes")
    code = models.CharField(max_length=255)
    name = models.CharField(max_length=255)
    description = models.TextField(null=True, blank=True)
    rate = models.DecimalField(max_digits=10, decimal_places=4)
    applied_to_organization = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "taxes"
        constraints = [
            models.UniqueConstraint(fields=["organization", "code"], name="tax_code_unique_per_org")
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.code}, {self.rate.normalize()}%)"


class SoftDeletable(models.Model):
    """Catalog objects are soft-deleted: a code is free again once its holder is deleted."""

    deleted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True


def _unique_live_code(model_name: str) -> models.UniqueConstraint:
    return models.UniqueConstraint(
        fields=["organization", "code"],
        condition=models.Q(deleted_at__isnull=True),
        name=f"{model_name}_code_unique_per_org",
    )


class AggregationType(models.TextChoices):
    COUNT = "count_agg"
    SUM = "sum_agg"
    MAX = "max_agg"
    UNIQUE_COUNT = "unique_count_agg"
    LATEST = "latest_agg"
    WEIGHTED_SUM = "weighted_sum_agg"
    CUSTOM = "custom_agg"


class RoundingFunction(models.TextChoices):
    ROUND = "round"
    CEIL = "ceil"
    FLOOR = "floor"


class BillableMetric(SoftDeletable):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey("customers.Organization", on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=255)
    code = models.CharField(max_length=255)
    description = models.TextField(null=True, blank=True)
    aggregation_type = models.CharField(max_length=32, choices=AggregationType.choices)
    field_name = models.CharField(max_length=255, null=True, blank=True)
    weighted_interval = models.CharField(max_length=16, null=True, blank=True)
    recurring = models.BooleanField(default=False)
    rounding_function = models.CharField(
        max_length=8, choices=RoundingFunction.choices, null=True, blank=True
    )
    rounding_precision = models.IntegerField(null=True, blank=True)
    expression = models.TextField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [_unique_live_code("billable_metric")]

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"


class BillableMetricFilter(models.Model):
    """A dimension a metric's events can be filtered on: a property key and its allowed values."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    billable_metric = models.ForeignKey(BillableMetric, on_delete=models.CASCADE, related_name="filters")
    key = models.CharField(max_length=255)
    values = models.JSONField(default=list)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "key"]
        constraints = [
            models.UniqueConstraint(fields=["billable_metric", "key"], name="metric_filter_key_unique")
        ]


class PlanInterval(models.TextChoices):
    WEEKLY = "weekly"
    MONTHLY = "monthly"
    QUARTERLY = "quarterly"
    SEMIANNUAL = "semiannual"
    YEARLY = "yearly"


class Plan(SoftDeletable):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey("customers.Organization", on_delete=models.CASCADE, related_name="+")
    # A subscription's plan_overrides clone the plan into a child that only that subscription uses.
    parent = models.ForeignKey(
        "self", on_delete=models.CASCADE, null=True, blank=True, related_name="children"
    )
    name = models.CharField(max_length=255)
    code = models.CharField(max_length=255)
    description = models.TextField(null=True, blank=True)
    invoice_display_name = models.CharField(max_length=255, null=True, blank=True)
    interval = models.CharField(max_length=16, choices=PlanInterval.choices)
    amount_cents = models.BigIntegerField()
    amount_currency = models.CharField(max_length=3)
    pay_in_advance = models.BooleanField(default=False)
    trial_period = models.DecimalField(max_digits=10, decimal_places=4, null=True, blank=True)
    bill_charges_monthly = models.BooleanField(null=True, blank=True)
    bill_fixed_charges_monthly = models.BooleanField(null=True, blank=True)
    taxes = models.ManyToManyField(Tax, blank=True, related_name="plans")
    metadata = models.JSONField(null=True, blank=True)
    pending_deletion = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "code"],
                condition=models.Q(deleted_at__isnull=True, parent__isnull=True),
                name="plan_code_unique_per_org",
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"


class MinimumCommitment(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    plan = models.OneToOneField(Plan, on_delete=models.CASCADE, related_name="minimum_commitment")
    amount_cents = models.BigIntegerField()
    invoice_display_name = models.CharField(max_length=255, null=True, blank=True)
    taxes = models.ManyToManyField(Tax, blank=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)


class UsageThreshold(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    plan = models.ForeignKey(Plan, on_delete=models.CASCADE, related_name="usage_thresholds")
    threshold_display_name = models.CharField(max_length=255, null=True, blank=True)
    amount_cents = models.BigIntegerField()
    recurring = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["amount_cents"]
        constraints = [
            models.UniqueConstraint(
                fields=["plan"], condition=models.Q(recurring=True), name="one_recurring_threshold_per_plan"
            )
        ]


class ChargeModel(models.TextChoices):
    STANDARD = "standard"
    GRADUATED = "graduated"
    GRADUATED_PERCENTAGE = "graduated_percentage"
    PACKAGE = "package"
    PERCENTAGE = "percentage"
    VOLUME = "volume"
    DYNAMIC = "dynamic"


class Charge(SoftDeletable):
    """How one billable metric is priced on a plan."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey("customers.Organization", on_delete=models.CASCADE, related_name="+")
    plan = models.ForeignKey(Plan, on_delete=models.CASCADE, related_name="charges")
    billable_metric = models.ForeignKey(BillableMetric, on_delete=models.PROTECT, related_name="charges")
    parent = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="children"
    )
    code = models.CharField(max_length=255, null=True, blank=True)
    charge_model = models.CharField(max_length=32, choices=ChargeModel.choices)
    pay_in_advance = models.BooleanField(default=False)
    invoiceable = models.BooleanField(default=True)
    regroup_paid_fees = models.CharField(max_length=16, null=True, blank=True)
    invoice_display_name = models.CharField(max_length=255, null=True, blank=True)
    prorated = models.BooleanField(default=False)
    min_amount_cents = models.BigIntegerField(default=0)
    properties = models.JSONField(default=dict, blank=True)
    taxes = models.ManyToManyField(Tax, blank=True, related_name="charges")
    accepts_target_wallet = models.BooleanField(default=False)
    position = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["position", "created_at"]

    def __str__(self) -> str:
        return f"{self.billable_metric.code} · {self.charge_model}"


class ChargeFilter(SoftDeletable):
    """A bucket of a charge: events whose properties match `values` are priced with `properties`."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    charge = models.ForeignKey(Charge, on_delete=models.CASCADE, related_name="filters")
    invoice_display_name = models.CharField(max_length=255, null=True, blank=True)
    properties = models.JSONField(default=dict, blank=True)
    # {"region": ["us", "eu"], "cloud": ["__ALL_FILTER_VALUES__"]}; keys are the metric's filter keys.
    values = models.JSONField(default=dict)
    position = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["position", "created_at"]


class AddOn(SoftDeletable):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey("customers.Organization", on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=255)
    code = models.CharField(max_length=255)
    description = models.TextField(null=True, blank=True)
    invoice_display_name = models.CharField(max_length=255, null=True, blank=True)
    amount_cents = models.BigIntegerField(default=0)
    amount_currency = models.CharField(max_length=3)
    taxes = models.ManyToManyField(Tax, blank=True, related_name="add_ons")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [_unique_live_code("add_on")]

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"


class FixedCharge(SoftDeletable):
    """A recurring quantity × price line on a plan (seats, licences), backed by an add-on; no events."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey("customers.Organization", on_delete=models.CASCADE, related_name="+")
    plan = models.ForeignKey(Plan, on_delete=models.CASCADE, related_name="fixed_charges")
    add_on = models.ForeignKey(AddOn, on_delete=models.PROTECT, related_name="fixed_charges")
    parent = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="children"
    )
    code = models.CharField(max_length=255)
    invoice_display_name = models.CharField(max_length=255, null=True, blank=True)
    charge_model = models.CharField(max_length=32, choices=ChargeModel.choices)
    properties = models.JSONField(default=dict, blank=True)
    units = models.DecimalField(max_digits=30, decimal_places=10, default=0)
    pay_in_advance = models.BooleanField(default=False)
    prorated = models.BooleanField(default=False)
    taxes = models.ManyToManyField(Tax, blank=True, related_name="fixed_charges")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["plan", "code"],
                condition=models.Q(deleted_at__isnull=True),
                name="fixed_charge_code_per_plan",
            )
        ]


class CouponType(models.TextChoices):
    FIXED_AMOUNT = "fixed_amount"
    PERCENTAGE = "percentage"


class CouponFrequency(models.TextChoices):
    ONCE = "once"
    RECURRING = "recurring"
    FOREVER = "forever"


class CouponExpiration(models.TextChoices):
    NO_EXPIRATION = "no_expiration"
    TIME_LIMIT = "time_limit"


class CouponStatus(models.TextChoices):
    ACTIVE = "active"
    TERMINATED = "terminated"


class Coupon(SoftDeletable):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey("customers.Organization", on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=255)
    code = models.CharField(max_length=255)
    description = models.TextField(null=True, blank=True)
    coupon_type = models.CharField(max_length=16, choices=CouponType.choices)
    amount_cents = models.BigIntegerField(null=True, blank=True)
    amount_currency = models.CharField(max_length=3, null=True, blank=True)
    percentage_rate = models.DecimalField(max_digits=10, decimal_places=5, null=True, blank=True)
    frequency = models.CharField(max_length=16, choices=CouponFrequency.choices, default=CouponFrequency.ONCE)
    frequency_duration = models.PositiveIntegerField(null=True, blank=True)
    reusable = models.BooleanField(default=True)
    expiration = models.CharField(
        max_length=16, choices=CouponExpiration.choices, default=CouponExpiration.NO_EXPIRATION
    )
    expiration_at = models.DateTimeField(null=True, blank=True)
    limited_plans = models.BooleanField(default=False)
    limited_billable_metrics = models.BooleanField(default=False)
    plans = models.ManyToManyField(Plan, blank=True, related_name="coupons")
    billable_metrics = models.ManyToManyField(BillableMetric, blank=True, related_name="coupons")
    status = models.CharField(max_length=16, choices=CouponStatus.choices, default=CouponStatus.ACTIVE)
    terminated_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [_unique_live_code("coupon")]

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"
