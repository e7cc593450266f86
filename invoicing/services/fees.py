"""Fee writes of ``PUT /fees/{id}`` and ``DELETE /fees/{id}`` (lago-api Fees::UpdateService, Fees::DestroyService).

Both act only on fees not attached to an invoice — pay-in-advance fees that are not invoiceable: once a fee is on
an invoice, its payment status is the invoice's and it is part of a document (405 ``invoiced_fee``).
"""

from __future__ import annotations

from django.db import transaction

from config import clock, errors
from invoicing.models import Fee, FeePaymentStatus

__all__ = ["delete_fee", "update_fee"]

_UNSET = object()


def _locked(fee: Fee) -> Fee:
    locked = (
        Fee.objects.select_for_update(of=("self",))
        .select_related("organization")
        .filter(pk=fee.pk, deleted_at__isnull=True)
        .first()
    )
    if locked is None:
        raise errors.NotFound("fee")
    return locked


@transaction.atomic
def update_fee(*, fee: Fee, payment_status=_UNSET) -> Fee:
    """Set the payment status of a fee not yet invoiced; the timestamp of the new status is set, the others
    cleared (a fee may go pending → failed → pending → succeeded). Without ``payment_status`` nothing changes.
    405 ``invoiced_fee`` for a fee on an invoice; 422 ``payment_status: value_is_invalid`` for an unknown status."""
    locked = _locked(fee)
    if payment_status is _UNSET:
        return locked
    if locked.invoice_id is not None:
        raise errors.NotAllowed("invoiced_fee")
    if payment_status not in FeePaymentStatus.values:
        raise errors.ValidationFailed({"payment_status": ["value_is_invalid"]})
    now = clock.now(locked.organization)
    locked.payment_status = payment_status
    locked.succeeded_at = now if payment_status == FeePaymentStatus.SUCCEEDED else None
    locked.failed_at = now if payment_status == FeePaymentStatus.FAILED else None
    locked.refunded_at = now if payment_status == FeePaymentStatus.REFUNDED else None
    locked.save(update_fields=["payment_status", "succeeded_at", "failed_at", "refunded_at", "updated_at"])
    return locked


@transaction.atomic
def delete_fee(*, fee: Fee) -> Fee:
    """Discard a fee not yet invoiced (soft delete: ``deleted_at``; it leaves every list and look-up).
    405 ``invoiced_fee`` for a fee on an invoice."""
    locked = _locked(fee)
    if locked.invoice_id is not None:
        raise errors.NotAllowed("invoiced_fee")
    locked.deleted_at = clock.now(locked.organization)
    locked.save(update_fields=["deleted_at", "updated_at"])
    return locked
