"""Invoicing writes. The billing engine builds `FeeDraft`s and calls `create_invoice`; the billing layer
(billing.services.invoices) finalizes and voids with the customer's coupons; the API updates payment status and
metadata."""

from invoicing.services.fee_drafts import FeeDraft, applicable_taxes_for_fee, fee_adjustment_key
from invoicing.services.invoices import (
    AlreadyBilled,
    InvoiceDates,
    InvoiceResult,
    SubscriptionPeriod,
    VoidResult,
    create_invoice,
    finalize_invoice,
    invoice_dates,
    mark_overdue_invoices,
    refresh_draft_totals,
    replace_draft_fees,
    update_invoice,
    void_invoice,
)

__all__ = [
    "AlreadyBilled",
    "FeeDraft",
    "InvoiceDates",
    "InvoiceResult",
    "SubscriptionPeriod",
    "VoidResult",
    "applicable_taxes_for_fee",
    "create_invoice",
    "fee_adjustment_key",
    "finalize_invoice",
    "invoice_dates",
    "mark_overdue_invoices",
    "refresh_draft_totals",
    "replace_draft_fees",
    "update_invoice",
    "void_invoice",
]
