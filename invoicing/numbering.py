"""Gap-free invoice numbers, assigned at finalization under row locks taken in a fixed order.

Both counters advance on every finalization — per organization and per customer — so switching the
organization's `document_numbering` continues from the invoices already numbered (as Lago does).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import connection, transaction

from customers.choices import DocumentNumbering
from invoicing.models import Invoice, NumberSequence


@dataclass(frozen=True)
class InvoiceNumber:
    number: str
    sequential_id: int
    organization_sequential_id: int


def draft_number(organization) -> str:
    return f"{organization.document_number_prefix}-DRAFT"


def _next_value(*, organization_id, customer_id=None) -> int:
    """Increment and return one counter row, creating it on first use; the row stays locked until commit."""
    with connection.cursor() as cursor:
        if customer_id is None:
            cursor.execute(
                "INSERT INTO invoicing_numbersequence (organization_id, customer_id, last_value) "
                "VALUES (%s, NULL, 0) ON CONFLICT (organization_id) WHERE customer_id IS NULL DO NOTHING",
                [organization_id],
            )
        else:
            cursor.execute(
                "INSERT INTO invoicing_numbersequence (organization_id, customer_id, last_value) "
                "VALUES (%s, %s, 0) ON CONFLICT (customer_id) DO NOTHING",
                [organization_id, customer_id],
            )
    sequences = NumberSequence.objects.select_for_update()
    row = (
        sequences.get(organization_id=organization_id, customer__isnull=True)
        if customer_id is None
        else sequences.get(customer_id=customer_id)
    )
    row.last_value += 1
    row.save(update_fields=["last_value"])
    return row.last_value


def format_invoice_number(
    *, organization, customer, sequential_id: int, organization_sequential_id: int, issuing_date
) -> str:
    prefix = organization.document_number_prefix
    if organization.document_numbering == DocumentNumbering.PER_ORGANIZATION:
        return f"{prefix}-{issuing_date:%Y%m}-{organization_sequential_id:03d}"
    return f"{prefix}-{customer.sequential_id:03d}-{sequential_id:03d}"


def assign_invoice_number(invoice: Invoice) -> InvoiceNumber:
    """Give a finalizing invoice its number. Must run inside the finalization transaction."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("assign_invoice_number must run inside a transaction")
    # Organization counter first, then the customer's: one order everywhere, so no deadlock.
    organization_sequential_id = _next_value(organization_id=invoice.organization_id)
    sequential_id = _next_value(organization_id=invoice.organization_id, customer_id=invoice.customer_id)
    number = format_invoice_number(
        organization=invoice.organization,
        customer=invoice.customer,
        sequential_id=sequential_id,
        organization_sequential_id=organization_sequential_id,
        issuing_date=invoice.issuing_date,
    )
    return InvoiceNumber(number, sequential_id, organization_sequential_id)
