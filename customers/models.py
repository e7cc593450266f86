"""The tenant (Organization), its API keys, and its customers."""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models import Q

from customers.choices import (
    AccountType,
    CustomerType,
    DocumentNumbering,
    FinalizeZeroAmountInvoice,
    IssuingDateAdjustment,
    IssuingDateAnchor,
)


class AddressFields(models.Model):
    address_line1 = models.CharField(max_length=255, null=True, blank=True)
    address_line2 = models.CharField(max_length=255, null=True, blank=True)
    city = models.CharField(max_length=255, null=True, blank=True)
    state = models.CharField(max_length=255, null=True, blank=True)
    zipcode = models.CharField(max_length=64, null=True, blank=True)
    country = models.CharField(max_length=2, null=True, blank=True)

    class Meta:
        abstract = True


class Organization(AddressFields):
    """The seller and the tenant: every business row belongs to one organization."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=255)
    legal_name = models.CharField(max_length=255, null=True, blank=True)
    legal_number = models.CharField(max_length=255, null=True, blank=True)
    tax_identification_number = models.CharField(max_length=255, null=True, blank=True)
    email = models.EmailField(null=True, blank=True)
    timezone = models.CharField(max_length=64, default="UTC")
    default_currency = models.CharField(max_length=3, default="USD")
    document_locale = models.CharField(max_length=5, default="en")
    net_payment_term = models.PositiveIntegerField(default=0)
    invoice_grace_period = models.PositiveIntegerField(default=0)
    invoice_footer = models.TextField(null=True, blank=True)
    document_numbering = models.CharField(
        max_length=32, choices=DocumentNumbering.choices, default=DocumentNumbering.PER_CUSTOMER
    )
    document_number_prefix = models.CharField(max_length=10, blank=True)
    finalize_zero_amount_invoice = models.BooleanField(default=True)
    email_settings = models.JSONField(default=list, blank=True)
    webhook_url = models.URLField(max_length=1024, null=True, blank=True)
    hmac_key = models.UUIDField(default=uuid.uuid4, editable=False)
    # A sandbox organization reads its own frozen clock (config.clock.now) instead of real time.
    is_sandbox = models.BooleanField(default=False)
    frozen_time = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at"]

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs):
        if not self.document_number_prefix:
            self.document_number_prefix = default_document_number_prefix(self.name, self.id)
        super().save(*args, **kwargs)


def default_document_number_prefix(name: str, organization_id: uuid.UUID) -> str:
    """Lago's default: first three letters of the name, uppercased, a dash, the id's last four characters."""
    letters = "".join(ch for ch in name if ch.isalnum())[:3].upper() or "ORG"
    return f"{letters}-{str(organization_id)[-4:].upper()}"


class ApiKey(models.Model):
    """A bearer key: stored as a SHA-256 digest, shown once at creation, revocable."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=255, blank=True)
    digest = models.CharField(max_length=64, unique=True, editable=False)
    prefix = models.CharField(
        max_length=12, editable=False, help_text="First characters, to recognise a key."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at"]
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.name or 'unnamed'})"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class Customer(AddressFields):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="customers")
    external_id = models.CharField(max_length=255)
    sequential_id = models.PositiveIntegerField()
    name = models.CharField(max_length=255, null=True, blank=True)
    firstname = models.CharField(max_length=255, null=True, blank=True)
    lastname = models.CharField(max_length=255, null=True, blank=True)
    legal_name = models.CharField(max_length=255, null=True, blank=True)
    legal_number = models.CharField(max_length=255, null=True, blank=True)
    tax_identification_number = models.CharField(max_length=255, null=True, blank=True)
    email = models.CharField(max_length=1024, null=True, blank=True)
    phone = models.CharField(max_length=255, null=True, blank=True)
    url = models.CharField(max_length=1024, null=True, blank=True)
    logo_url = models.CharField(max_length=1024, null=True, blank=True)
    account_type = models.CharField(max_length=16, choices=AccountType.choices, default=AccountType.CUSTOMER)
    customer_type = models.CharField(max_length=16, choices=CustomerType.choices, null=True, blank=True)
    currency = models.CharField(max_length=3, null=True, blank=True)
    timezone = models.CharField(max_length=64, null=True, blank=True)
    net_payment_term = models.PositiveIntegerField(null=True, blank=True)
    invoice_grace_period = models.PositiveIntegerField(null=True, blank=True)
    document_locale = models.CharField(max_length=5, null=True, blank=True)
    finalize_zero_amount_invoice = models.CharField(
        max_length=16, choices=FinalizeZeroAmountInvoice.choices, default=FinalizeZeroAmountInvoice.INHERIT
    )
    subscription_invoice_issuing_date_anchor = models.CharField(
        max_length=32, choices=IssuingDateAnchor.choices, null=True, blank=True
    )
    subscription_invoice_issuing_date_adjustment = models.CharField(
        max_length=32, choices=IssuingDateAdjustment.choices, null=True, blank=True
    )
    # Payment-provider settings are echoed back as given; Tollbooth does not talk to providers.
    payment_provider_settings = models.JSONField(default=dict, blank=True)
    shipping_address = models.JSONField(default=dict, blank=True)
    skip_invoice_custom_sections = models.BooleanField(default=False)
    taxes = models.ManyToManyField("catalog.Tax", blank=True, related_name="customers")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    deleted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "external_id"],
                condition=Q(deleted_at__isnull=True),
                name="customer_external_id_unique_per_org",
            ),
            models.UniqueConstraint(
                fields=["organization", "sequential_id"], name="customer_sequential_id_unique"
            ),
        ]

    def __str__(self) -> str:
        return self.name or self.external_id

    @property
    def slug(self) -> str:
        return f"{self.organization.document_number_prefix}-{self.sequential_id:03d}"

    @property
    def applicable_timezone(self) -> str:
        return self.timezone or self.organization.timezone or "UTC"

    @property
    def applicable_invoice_grace_period(self) -> int:
        if self.invoice_grace_period is not None:
            return self.invoice_grace_period
        return self.organization.invoice_grace_period

    @property
    def applicable_net_payment_term(self) -> int:
        if self.net_payment_term is not None:
            return self.net_payment_term
        return self.organization.net_payment_term

    @property
    def applicable_document_locale(self) -> str:
        return self.document_locale or self.organization.document_locale or "en"


class CustomerMetadata(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="metadata")
    key = models.CharField(max_length=255)
    value = models.CharField(max_length=1024)
    display_in_invoice = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at"]
        constraints = [
            models.UniqueConstraint(fields=["customer", "key"], name="customer_metadata_key_unique")
        ]
