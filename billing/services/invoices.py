"""Billing-level invoice acts: invoicing computes and stores, billing brings the customer's applied coupons and
writes back what they did (§6.2 lifecycle). Every path that finalizes or voids an invoice goes through here so
coupons apply (API, admin, the grace-period task, the billing engine).

Applied coupons are locked (``select_for_update``, in pk order) before the invoice, so two invoices of one
customer never consume the same coupon twice. The customer's available credit notes are locked the same way,
after the coupons and before the invoice, and consumed when the invoice is finalized (§6.4); draft credit notes of
a draft invoice follow its fee refreshes and are finalized with it.
"""

from __future__ import annotations

import datetime as dt
import importlib
from collections.abc import Callable, Sequence

from django.db import transaction

from billing.models import AppliedCoupon
from catalog.models import CouponFrequency, CouponStatus, CouponType
from config import clock, errors
from invoicing import credit_notes as invoicing_credit_notes
from invoicing import selectors as invoicing_selectors
from invoicing import services as invoicing
from invoicing.calculations import CouponResult, CouponToApply, CreditNoteCredit, WalletCredit
from invoicing.models import Credit, Invoice, InvoiceStatus, InvoiceType

__all__ = [
    "coupons_to_apply",
    "create_invoice",
    "finalize_due_drafts",
    "finalize_invoice",
    "refresh_invoice",
    "void_invoice",
]


def _lock_applied_coupons(customer) -> list[AppliedCoupon]:
    """Every applied coupon of the customer, locked in pk order: finalizing and voiding take these locks first
    (then the invoice's), so they never wait on each other in a cycle."""
    return list(
        AppliedCoupon.objects.select_for_update(of=("self",))
        .filter(customer=customer)
        .select_related("coupon")
        .prefetch_related("coupon__plans", "coupon__billable_metrics")
        .order_by("pk")
    )


def _active_applied_coupons(customer, *, lock: bool) -> list[AppliedCoupon]:
    if lock:
        return [row for row in _lock_applied_coupons(customer) if row.status == CouponStatus.ACTIVE]
    return list(
        AppliedCoupon.objects.filter(customer=customer, status=CouponStatus.ACTIVE)
        .select_related("coupon")
        .prefetch_related("coupon__plans", "coupon__billable_metrics")
        .order_by("pk")
    )


def _coupon_to_apply(applied: AppliedCoupon, consumed: int) -> CouponToApply:
    coupon = applied.coupon
    fixed = coupon.coupon_type == CouponType.FIXED_AMOUNT
    once_fixed = fixed and applied.frequency == CouponFrequency.ONCE
    plan_codes = frozenset(plan.code for plan in coupon.plans.all()) if coupon.limited_plans else frozenset()
    metric_codes = (
        frozenset(metric.code for metric in coupon.billable_metrics.all())
        if coupon.limited_billable_metrics
        else frozenset()
    )
    amount = applied.amount_cents if fixed else None
    return CouponToApply(
        id=str(applied.pk),
        coupon_type=coupon.coupon_type,
        frequency=applied.frequency,
        amount_cents=amount,
        remaining_amount_cents=max((amount or 0) - consumed, 0) if once_fixed else None,
        percentage_rate=applied.percentage_rate if not fixed else None,
        frequency_duration_remaining=(
            applied.frequency_duration_remaining or 0
            if applied.frequency == CouponFrequency.RECURRING
            else None
        ),
        currency=applied.amount_currency if fixed else None,
        plan_codes=plan_codes,
        billable_metric_codes=metric_codes,
        created_at=applied.created_at,
    )


def coupons_to_apply(customer, *, lock: bool = True) -> tuple[list[CouponToApply], dict[str, AppliedCoupon]]:
    """The customer's active applied coupons as invoicing inputs (and the rows, by id). Locks them by default:
    call inside the transaction that finalizes."""
    applied = _active_applied_coupons(customer, lock=lock)
    consumed = invoicing_selectors.coupon_consumed_amounts([row.pk for row in applied])
    return [_coupon_to_apply(row, consumed.get(row.pk, 0)) for row in applied], {
        str(row.pk): row for row in applied
    }


def _write_back(results: Sequence[CouponResult], rows: dict[str, AppliedCoupon], *, now: dt.datetime) -> None:
    """§6.2 lifecycle: recurring coupons count down, exhausted ones terminate; a once fixed coupon's remainder is
    its amount minus its credits (no column to update)."""
    for result in results:
        if not result.applied:
            continue
        applied = rows[result.id]
        fields = []
        if applied.frequency == CouponFrequency.RECURRING:
            applied.frequency_duration_remaining = result.frequency_duration_remaining
            fields.append("frequency_duration_remaining")
        if result.terminated:
            applied.status = CouponStatus.TERMINATED
            applied.terminated_at = now
            fields += ["status", "terminated_at"]
        if fields:
            applied.save(update_fields=[*fields, "updated_at"])


#: Invoice types that consume credit notes (§6.1: one-off and credit (top-up) invoices take none).
CREDIT_NOTE_INVOICE_TYPES = frozenset({InvoiceType.SUBSCRIPTION, InvoiceType.PROGRESSIVE_BILLING})


def credit_notes_to_apply(
    customer, *, invoice_type: str, currency: str, invoice: Invoice | None = None
) -> list[CreditNoteCredit]:
    """The customer's available credit notes for an invoice (locked in pk order; none for one-off and credit
    invoices), not those issued on ``invoice`` itself."""
    if invoice_type not in CREDIT_NOTE_INVOICE_TYPES:
        return []
    return invoicing_credit_notes.available_credit_notes(customer, currency, exclude_invoice=invoice)


@transaction.atomic
def create_invoice(
    *,
    wallets: Sequence[WalletCredit] = (),
    **kwargs,
) -> invoicing.InvoiceResult:
    """`invoicing.services.create_invoice` with the customer's applied coupons and available credit notes (used
    only when the invoice is finalized at once; a draft gets them at finalization). Takes the same keyword
    arguments."""
    customer = kwargs["customer"]
    coupons, rows = coupons_to_apply(customer)
    credit_notes = credit_notes_to_apply(
        customer, invoice_type=kwargs["invoice_type"], currency=kwargs["currency"]
    )
    result = invoicing.create_invoice(coupons=coupons, credit_notes=credit_notes, wallets=wallets, **kwargs)
    if result.finalized:
        _write_back(result.totals.coupons, rows, now=clock.now(customer.organization))
        invoicing_credit_notes.consume_credit_notes(
            invoice=result.invoice, results=result.totals.credit_notes
        )
    return result


@transaction.atomic
def finalize_invoice(
    *,
    invoice: Invoice,
    wallets: Sequence[WalletCredit] = (),
    refresh: bool = True,
) -> invoicing.InvoiceResult:
    """Finalize a draft with the customer's coupons and credit notes (§6.5): first refresh its fees (as Lago's
    RefreshDraftAndFinalizeService; see `refresh_invoice`), then `invoicing.services.finalize_invoice`, then update
    the applied coupons, consume the credit notes and finalize the draft credit notes issued on this invoice.
    405 ``invoice_not_draft`` when it is not (or no longer) a draft."""
    coupons, rows = coupons_to_apply(invoice.customer)
    credit_notes = credit_notes_to_apply(
        invoice.customer, invoice_type=invoice.invoice_type, currency=invoice.currency, invoice=invoice
    )
    if refresh:
        _refresh(invoice)
    result = invoicing.finalize_invoice(
        invoice=invoice, coupons=coupons, credit_notes=credit_notes, wallets=wallets
    )
    _write_back(result.totals.coupons, rows, now=clock.now(invoice.organization))
    invoicing_credit_notes.consume_credit_notes(invoice=result.invoice, results=result.totals.credit_notes)
    invoicing_credit_notes.finalize_draft_credit_notes(invoice=result.invoice)
    return result


def _recredit(credit: Credit) -> None:
    """Lago's AppliedCoupons::RecreditService: a coupon terminated by use becomes active again (unless forever or
    its coupon is terminated); a recurring one gets its invoice back."""
    applied = (
        AppliedCoupon.objects.select_for_update(of=("self",))
        .select_related("coupon")
        .get(pk=credit.applied_coupon_id)
    )
    fields = []
    if (
        applied.status == CouponStatus.TERMINATED
        and applied.frequency != CouponFrequency.FOREVER
        and applied.coupon.status != CouponStatus.TERMINATED
    ):
        applied.status = CouponStatus.ACTIVE
        applied.terminated_at = None
        fields += ["status", "terminated_at"]
    if applied.frequency == CouponFrequency.RECURRING:
        applied.frequency_duration_remaining = (applied.frequency_duration_remaining or 0) + 1
        fields.append("frequency_duration_remaining")
    if fields:
        applied.save(update_fields=[*fields, "updated_at"])


@transaction.atomic
def void_invoice(*, invoice: Invoice, generate_credit_note: bool = False) -> Invoice:
    """Void a finalized invoice and give its coupon usage back (§6.5). 405 ``not_voidable`` otherwise.

    Generating a credit note while voiding needs credit notes (not built yet): 403 ``feature_unavailable``.
    Wallet debits are re-credited by the wallets layer (not built yet)."""
    if generate_credit_note:
        raise errors.Forbidden("feature_unavailable")
    _lock_applied_coupons(invoice.customer)
    result = invoicing.void_invoice(invoice=invoice)
    for credit in sorted(result.coupon_credits, key=lambda c: str(c.applied_coupon_id)):
        _recredit(credit)
    return result.invoice


def _fee_recomputer() -> Callable | None:
    """The billing engine's hook ``billing.invoice_fees.recompute_fee_drafts(invoice) -> list[FeeDraft]``, when the
    engine ships it (imported lazily: the module may not exist yet)."""
    try:
        module = importlib.import_module("billing.invoice_fees")
    except ModuleNotFoundError as exc:
        if exc.name == "billing.invoice_fees":
            return None
        raise
    return getattr(module, "recompute_fee_drafts", None)


def _refresh(invoice: Invoice) -> invoicing.InvoiceResult:
    recompute = _fee_recomputer()
    if recompute is None:
        # No engine hook yet: keep the fees, recompute the totals (taxes, progressive-billing credit).
        return invoicing.refresh_draft_totals(invoice=invoice)
    # Draft credit notes of this invoice credit its fees: remember which, then point them at the new ones.
    snapshot = invoicing_credit_notes.draft_credit_note_items(invoice)
    result = invoicing.replace_draft_fees(invoice=invoice, fees=recompute(invoice))
    if snapshot:
        invoicing_credit_notes.refresh_draft_credit_notes(invoice=result.invoice, snapshot=snapshot)
    return result


@transaction.atomic
def refresh_invoice(invoice: Invoice) -> Invoice:
    """``PUT /invoices/{id}/refresh``: recompute a draft's fees with the engine's
    ``billing.invoice_fees.recompute_fee_drafts`` (late events of the period land on it), or — until that hook
    exists — just its totals. 405 ``invoice_not_draft`` for any other invoice."""
    if invoice.status != InvoiceStatus.DRAFT:
        raise errors.NotAllowed("invoice_not_draft")
    return _refresh(invoice).invoice


def finalize_due_drafts(*, organization=None, now: dt.datetime) -> list[Invoice]:
    """Finalize the drafts whose grace period is over (expected finalization date ≤ today in the customer's
    timezone), each in its own transaction; one that is no longer a draft is skipped."""
    finalized = []
    for invoice in invoicing_selectors.drafts_due_for_finalization(organization=organization, now=now):
        try:
            finalized.append(finalize_invoice(invoice=invoice).invoice)
        except errors.NotAllowed:
            continue
    return finalized
