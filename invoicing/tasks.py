"""Celery tasks of the invoicing app: thin and idempotent, each calls one service. Beat entries belong in
config/schedule.py (the lead's): suggested daily runs of both, shortly after midnight UTC and hourly for customers
in other timezones."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator

from celery import shared_task

from billing.services import invoices as billing_invoices
from config import clock
from customers.models import Organization
from invoicing import services


def _clocks() -> Iterator[tuple[Organization | None, dt.datetime]]:
    """The real clock for all ordinary organizations (None), then each sandbox organization's test clock."""
    yield None, clock.utc_now()
    for organization in Organization.objects.filter(is_sandbox=True, frozen_time__isnull=False).order_by(
        "pk"
    ):
        yield organization, clock.now(organization)


def _run(service: Callable, organization_id: str | None = None) -> int:
    if organization_id is not None:
        organization = Organization.objects.get(pk=organization_id)
        return len(service(organization=organization, now=clock.now(organization)))
    return sum(len(service(organization=organization, now=now)) for organization, now in _clocks())


@shared_task(name="invoicing.finalize_due_drafts")
def finalize_due_drafts(organization_id: str | None = None) -> int:
    """Finalize the draft invoices whose grace period is over (coupons, credit notes and wallets apply)."""
    return _run(billing_invoices.finalize_due_drafts, organization_id)


@shared_task(name="invoicing.mark_overdue_invoices")
def mark_overdue_invoices(organization_id: str | None = None) -> int:
    """Flag finalized, unpaid invoices past their payment due date as overdue."""
    return _run(services.mark_overdue_invoices, organization_id)


@shared_task(name="invoicing.generate_invoice_pdf")
def generate_invoice_pdf(invoice_id: str) -> str | None:
    """Render and store a finalized invoice's PDF (idempotent: an existing file is kept). Queue it with
    ``transaction.on_commit`` after finalization. A vanished or draft invoice is skipped."""
    from invoicing import documents
    from invoicing.models import Invoice

    invoice = Invoice.objects.filter(pk=invoice_id, status__in=documents.DOCUMENT_STATUSES).first()
    if invoice is None:
        return None
    return documents.generate_invoice_pdf(invoice)
