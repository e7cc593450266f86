"""Lago's exact strings for customer and organization enumerations."""

from django.db import models


class DocumentNumbering(models.TextChoices):
    PER_CUSTOMER = "per_customer"
    PER_ORGANIZATION = "per_organization"


class AccountType(models.TextChoices):
    CUSTOMER = "customer"
    PARTNER = "partner"


class CustomerType(models.TextChoices):
    COMPANY = "company"
    INDIVIDUAL = "individual"


class FinalizeZeroAmountInvoice(models.TextChoices):
    INHERIT = "inherit"
    SKIP = "skip"
    FINALIZE = "finalize"


class IssuingDateAnchor(models.TextChoices):
    CURRENT_PERIOD_END = "current_period_end"
    NEXT_PERIOD_START = "next_period_start"


class IssuingDateAdjustment(models.TextChoices):
    ALIGN_WITH_FINALIZATION_DATE = "align_with_finalization_date"
    KEEP_ANCHOR = "keep_anchor"


DOCUMENT_LOCALES = ("en", "fr", "de", "es", "it", "nb", "sv")
EMAIL_SETTINGS = ("invoice.finalized", "credit_note.created")
