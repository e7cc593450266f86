"""Invoices and their fees: documents that, once finalized, are never edited (void or credit them instead)."""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models import Q


class InvoiceType(models.TextChoices):
    SUBSCRIPTION = "subscription"
    ADD_ON = "add_on"
    CREDIT = "credit"
    ONE_OFF = "one_off"
    PROGRESSIVE_BILLING = "progressive_billing"
    ADVANCE_CHARGES = "advance_charges"


class InvoiceStatus(models.TextChoices):
    DRAFT = "draft"
    FINALIZED = "finalized"
    VOIDED = "voided"
    FAILED = "failed"
    PENDING = "pending"


class PaymentStatus(models.TextChoices):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class FeePaymentStatus(models.TextChoices):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    REFUNDED = "refunded"


class FeeType(models.TextChoices):
    CHARGE = "charge"
    FIXED_CHARGE = "fixed_charge"
    ADD_ON = "add_on"
    SUBSCRIPTION = "subscription"
    CREDIT = "credit"
    COMMITMENT = "commitment"


class InvoicingReason(models.TextChoices):
    SUBSCRIPTION_STARTING = "subscription_starting"
    SUBSCRIPTION_PERIODIC = "subscription_periodic"
    SUBSCRIPTION_TERMINATING = "subscription_terminating"
    IN_ADVANCE_CHARGE = "in_advance_charge"
    IN_ADVANCE_CHARGE_PERIODIC = "in_advance_charge_periodic"
    PROGRESSIVE_BILLING = "progressive_billing"


def money_field(**kwargs) -> models.BigIntegerField:
    return models.BigIntegerField(default=0, **kwargs)


def precise_field(**kwargs) -> models.DecimalField:
    return models.DecimalField(max_digits=30, decimal_places=5, default=0, **kwargs)


class Invoice(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey("customers.Organization", on_delete=models.CASCADE, related_name="+")
    customer = models.ForeignKey("customers.Customer", on_delete=models.PROTECT, related_name="invoices")
    invoice_type = models.CharField(max_length=32, choices=InvoiceType.choices)
    status = models.CharField(max_length=16, choices=InvoiceStatus.choices, default=InvoiceStatus.DRAFT)
    payment_status = models.CharField(
        max_length=16, choices=PaymentStatus.choices, default=PaymentStatus.PENDING
    )
    payment_overdue = models.BooleanField(default=False)
    currency = models.CharField(max_length=3)
    # Numbers are assigned at finalization (gap-free); drafts show "{prefix}-DRAFT".
    number = models.CharField(max_length=255, blank=True)
    sequential_id = models.PositiveIntegerField(null=True, blank=True)
    organization_sequential_id = models.PositiveIntegerField(null=True, blank=True)
    issuing_date = models.DateField()
    payment_due_date = models.DateField()
    net_payment_term = models.PositiveIntegerField(default=0)
    expected_finalization_date = models.DateField(null=True, blank=True)
    fees_amount_cents = money_field()
    coupons_amount_cents = money_field()
    credit_notes_amount_cents = money_field()
    progressive_billing_credit_amount_cents = money_field()
    sub_total_excluding_taxes_amount_cents = money_field()
    taxes_amount_cents = money_field()
    sub_total_including_taxes_amount_cents = money_field()
    prepaid_credit_amount_cents = money_field()
    total_amount_cents = money_field()
    total_paid_amount_cents = money_field()
    taxes_rate = models.DecimalField(max_digits=12, decimal_places=5, default=0)
    version_number = models.PositiveIntegerField(default=4)
    metadata = models.JSONField(default=list, blank=True)
    # What the document shows, copied at finalization (seller, buyer, addresses, tax ids, locale).
    document_snapshot = models.JSONField(default=dict, blank=True)
    file = models.FileField(upload_to="invoices/", null=True, blank=True)
    finalized_at = models.DateTimeField(null=True, blank=True)
    voided_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-issuing_date", "-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "number"],
                condition=~Q(number=""),
                name="invoice_number_unique_per_org",
            ),
            models.UniqueConstraint(
                fields=["customer", "sequential_id"],
                condition=Q(sequential_id__isnull=False),
                name="invoice_sequential_id_unique_per_customer",
            ),
            models.UniqueConstraint(
                fields=["organization", "organization_sequential_id"],
                condition=Q(organization_sequential_id__isnull=False),
                name="invoice_org_sequential_id_unique",
            ),
        ]
        indexes = [
            models.Index(fields=["organization", "status"]),
            models.Index(fields=["organization", "issuing_date"]),
            models.Index(fields=["customer", "status"]),
        ]

    def __str__(self) -> str:
        return self.number or str(self.id)


class InvoiceSubscription(models.Model):
    """Which subscription period an invoice bills. The unique key makes each period billable exactly once."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey("customers.Organization", on_delete=models.CASCADE, related_name="+")
    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="invoice_subscriptions")
    subscription = models.ForeignKey("billing.Subscription", on_delete=models.PROTECT, related_name="+")
    invoicing_reason = models.CharField(max_length=32, choices=InvoicingReason.choices)
    from_datetime = models.DateTimeField(null=True, blank=True)
    to_datetime = models.DateTimeField(null=True, blank=True)
    charges_from_datetime = models.DateTimeField(null=True, blank=True)
    charges_to_datetime = models.DateTimeField(null=True, blank=True)
    # The billing instant this invoice belongs to (the run that created it may have been later).
    timestamp = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["subscription", "invoicing_reason", "timestamp"],
                condition=Q(invoicing_reason__in=["subscription_starting", "subscription_periodic",
                                                  "subscription_terminating"]),
                name="one_invoice_per_subscription_billing_instant",
            ),
        ]  # fmt: skip


class Fee(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey("customers.Organization", on_delete=models.CASCADE, related_name="+")
    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, null=True, blank=True, related_name="fees")
    customer = models.ForeignKey("customers.Customer", on_delete=models.PROTECT, related_name="+")
    subscription = models.ForeignKey(
        "billing.Subscription", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    fee_type = models.CharField(max_length=16, choices=FeeType.choices)
    charge = models.ForeignKey(
        "catalog.Charge", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    charge_filter = models.ForeignKey(
        "catalog.ChargeFilter", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    fixed_charge = models.ForeignKey(
        "catalog.FixedCharge", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    add_on = models.ForeignKey(
        "catalog.AddOn", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    true_up_parent_fee = models.OneToOneField(
        "self", on_delete=models.CASCADE, null=True, blank=True, related_name="true_up_fee"
    )
    grouped_by = models.JSONField(default=dict, blank=True)
    invoice_display_name = models.CharField(max_length=255, null=True, blank=True)
    description = models.TextField(null=True, blank=True)
    amount_cents = money_field()
    precise_amount_cents = precise_field()
    amount_currency = models.CharField(max_length=3)
    unit_amount_cents = money_field()
    precise_unit_amount = models.DecimalField(max_digits=40, decimal_places=15, default=0)
    units = models.DecimalField(max_digits=40, decimal_places=15, default=0)
    total_aggregated_units = models.DecimalField(max_digits=40, decimal_places=15, null=True, blank=True)
    events_count = models.BigIntegerField(null=True, blank=True)
    amount_details = models.JSONField(default=dict, blank=True)
    precise_coupons_amount_cents = precise_field()
    taxes_amount_cents = money_field()
    taxes_precise_amount_cents = precise_field()
    taxes_rate = models.DecimalField(max_digits=12, decimal_places=5, default=0)
    pay_in_advance = models.BooleanField(default=False)
    invoiceable = models.BooleanField(default=True)
    event_transaction_id = models.CharField(max_length=255, null=True, blank=True)
    properties = models.JSONField(default=dict, blank=True, help_text="from/to dates of what the fee covers")
    payment_status = models.CharField(
        max_length=16, choices=FeePaymentStatus.choices, default=FeePaymentStatus.PENDING
    )
    succeeded_at = models.DateTimeField(null=True, blank=True)
    failed_at = models.DateTimeField(null=True, blank=True)
    refunded_at = models.DateTimeField(null=True, blank=True)
    # A finance user's adjustment on a draft (units and/or unit amount), kept across refreshes.
    adjusted_units = models.DecimalField(max_digits=40, decimal_places=15, null=True, blank=True)
    adjusted_unit_amount_cents = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    deleted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at"]
        indexes = [
            models.Index(fields=["organization", "created_at"]),
            models.Index(fields=["subscription", "fee_type"]),
        ]
        constraints = [
            # An event bills a pay-in-advance charge once (billing.instant_fees): a resent batch or a rerun
            # task finds its instant fee already there. NULL charge filter (the default bucket) counts as a value.
            models.UniqueConstraint(
                fields=["subscription", "charge", "charge_filter", "event_transaction_id"],
                condition=Q(pay_in_advance=True, event_transaction_id__isnull=False),
                nulls_distinct=False,
                name="instant_fee_once_per_event",
            ),
        ]

    @property
    def total_amount_cents(self) -> int:
        return self.amount_cents + self.taxes_amount_cents


class AppliedTax(models.Model):
    """A tax as it applied to one invoice (per tax code) or one fee, copied so later tax edits change nothing."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey("customers.Organization", on_delete=models.CASCADE, related_name="+")
    invoice = models.ForeignKey(
        Invoice, on_delete=models.CASCADE, null=True, blank=True, related_name="applied_taxes"
    )
    fee = models.ForeignKey(
        Fee, on_delete=models.CASCADE, null=True, blank=True, related_name="applied_taxes"
    )
    tax = models.ForeignKey("catalog.Tax", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    tax_code = models.CharField(max_length=255)
    tax_name = models.CharField(max_length=255)
    tax_description = models.TextField(null=True, blank=True)
    tax_rate = models.DecimalField(max_digits=10, decimal_places=4)
    amount_cents = money_field()
    precise_amount_cents = precise_field()
    amount_currency = models.CharField(max_length=3)
    taxable_base_amount_cents = money_field()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at"]


class Credit(models.Model):
    """An amount taken off an invoice: a coupon before taxes, or a credit note's balance after taxes."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey("customers.Organization", on_delete=models.CASCADE, related_name="+")
    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="credits")
    applied_coupon = models.ForeignKey(
        "billing.AppliedCoupon", on_delete=models.PROTECT, null=True, blank=True, related_name="credits"
    )
    credit_note = models.ForeignKey(
        "invoicing.CreditNote", on_delete=models.PROTECT, null=True, blank=True, related_name="credits"
    )
    amount_cents = money_field()
    amount_currency = models.CharField(max_length=3)
    before_taxes = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at"]


class NumberSequence(models.Model):
    """A locked counter for gap-free numbering: one row per organization or per customer."""

    id = models.BigAutoField(primary_key=True)
    organization = models.ForeignKey("customers.Organization", on_delete=models.CASCADE, related_name="+")
    customer = models.ForeignKey("customers.Customer", on_delete=models.CASCADE, null=True, blank=True)
    last_value = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization"], condition=Q(customer__isnull=True), name="one_org_invoice_sequence"
            ),
            models.UniqueConstraint(fields=["customer"], name="one_customer_invoice_sequence"),
        ]


# --------------------------------------------------------------------------------------------------------------
# Credit notes (billing-semantics §4.4, §4.5, §6.4, §7)
# --------------------------------------------------------------------------------------------------------------


class CreditNoteReason(models.TextChoices):
    DUPLICATED_CHARGE = "duplicated_charge"
    PRODUCT_UNSATISFACTORY = "product_unsatisfactory"
    ORDER_CHANGE = "order_change"
    ORDER_CANCELLATION = "order_cancellation"
    FRAUDULENT_CHARGE = "fraudulent_charge"
    OTHER = "other"


class CreditNoteStatus(models.TextChoices):
    """A note follows its invoice: created ``draft`` on a draft invoice, finalized with it."""

    DRAFT = "draft"
    FINALIZED = "finalized"


class CreditStatus(models.TextChoices):
    """State of the credited part: ``available`` while ``balance_amount_cents`` > 0."""

    AVAILABLE = "available"
    CONSUMED = "consumed"
    VOIDED = "voided"


class RefundStatus(models.TextChoices):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class CreditNote(models.Model):
    """A document crediting (part of) an invoice's fees: its ``credit`` part becomes a balance later invoices
    consume (§6.4), its ``refund`` part is paid back, its ``offset`` part reduces what the invoice still owes.

    Numbers are ``{invoice number}-CN{sequential_id:03}``, assigned when the note is finalized (a note of a draft
    invoice is numbered with it). ``subscription`` is set on the automatic note of a pay-in-advance subscription's
    termination or upgrade (§4.5): one per subscription, by constraint.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey("customers.Organization", on_delete=models.CASCADE, related_name="+")
    customer = models.ForeignKey("customers.Customer", on_delete=models.PROTECT, related_name="credit_notes")
    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="credit_notes")
    subscription = models.ForeignKey(
        "billing.Subscription", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    sequential_id = models.PositiveIntegerField()
    number = models.CharField(max_length=255, blank=True)
    reason = models.CharField(max_length=32, choices=CreditNoteReason.choices)
    description = models.TextField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=CreditNoteStatus.choices, default=CreditNoteStatus.DRAFT)
    credit_status = models.CharField(max_length=16, choices=CreditStatus.choices, null=True, blank=True)
    refund_status = models.CharField(max_length=16, choices=RefundStatus.choices, null=True, blank=True)
    currency = models.CharField(max_length=3)
    issuing_date = models.DateField()
    total_amount_cents = money_field()
    precise_total_amount_cents = precise_field()
    credit_amount_cents = money_field()
    balance_amount_cents = money_field()
    refund_amount_cents = money_field()
    offset_amount_cents = money_field()
    coupons_adjustment_amount_cents = money_field()
    precise_coupons_adjustment_amount_cents = precise_field()
    taxes_amount_cents = money_field()
    precise_taxes_amount_cents = precise_field()
    sub_total_excluding_taxes_amount_cents = money_field()
    taxes_rate = models.DecimalField(max_digits=12, decimal_places=5, default=0)
    finalized_at = models.DateTimeField(null=True, blank=True)
    refunded_at = models.DateTimeField(null=True, blank=True)
    voided_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["invoice", "sequential_id"], name="credit_note_sequential_id_unique_per_invoice"
            ),
            models.UniqueConstraint(
                fields=["organization", "number"],
                condition=~Q(number=""),
                name="credit_note_number_unique_per_org",
            ),
            models.UniqueConstraint(
                fields=["subscription"],
                condition=Q(subscription__isnull=False),
                name="one_termination_credit_note_per_subscription",
            ),
            models.CheckConstraint(
                condition=Q(balance_amount_cents__gte=0)
                & Q(balance_amount_cents__lte=models.F("credit_amount_cents")),
                name="credit_note_balance_within_credit",
            ),
        ]
        indexes = [
            models.Index(fields=["organization", "status"]),
            models.Index(fields=["customer", "status", "credit_status"]),
        ]

    def __str__(self) -> str:
        return self.number or str(self.id)


class CreditNoteItem(models.Model):
    """The amount (excluding taxes) a note credits on one fee of its invoice. The fee link is nulled, not lost,
    when a draft invoice's fees are recomputed; the refresh points it at the new fee."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey("customers.Organization", on_delete=models.CASCADE, related_name="+")
    credit_note = models.ForeignKey(CreditNote, on_delete=models.CASCADE, related_name="items")
    fee = models.ForeignKey(
        Fee, on_delete=models.SET_NULL, null=True, blank=True, related_name="credit_note_items"
    )
    amount_cents = money_field()
    precise_amount_cents = precise_field()
    amount_currency = models.CharField(max_length=3)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at"]


class CreditNoteAppliedTax(models.Model):
    """A tax as it applied to a credit note (per tax code), copied from the invoice's taxes."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey("customers.Organization", on_delete=models.CASCADE, related_name="+")
    credit_note = models.ForeignKey(CreditNote, on_delete=models.CASCADE, related_name="applied_taxes")
    tax = models.ForeignKey("catalog.Tax", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    tax_code = models.CharField(max_length=255)
    tax_name = models.CharField(max_length=255)
    tax_description = models.TextField(null=True, blank=True)
    tax_rate = models.DecimalField(max_digits=10, decimal_places=4)
    amount_cents = money_field()
    precise_amount_cents = precise_field()
    amount_currency = models.CharField(max_length=3)
    base_amount_cents = money_field()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at"]
