"""The automatic credit note of a pay-in-advance subscription that ends before its paid period does
(billing-semantics §4.4 upgrade, §4.5 termination; Lago's CreditNotes::CreateFromTermination).

The engine calls `termination_credit_note(subscription)` right after the terminating invoice of a pay-in-advance
plan is created, and, for an upgrade, before the new plan's start invoice, which then consumes the note (§6.4).

* Which fee: the subscription's base fee (``fee_type: subscription``) whose ``from_datetime … to_datetime``
  contains ``terminated_at``, on an invoice that is not voided (Lago takes the subscription's latest base fee; the
  fee of the terminated period is the one that fee should be — an older one is never credited).
* How much (§4.5): unused days = period end − termination day (upgrade: the upgrade day is credited back too;
  days inside a trial were never billed), counted on local dates; item = unused days × plan amount (the fee's
  ``amount_details.plan_amount_cents``, else the plan's) / period days, capped at the fee, minus the items of
  earlier notes on that fee; truncated to 5 decimals as Lago. The note removes the fee's coupon share and adds
  its taxes (`invoicing.calculations.compute_credit_note`); ``credit = round(items − coupons + taxes)`` and the
  rounding fix makes ``total = sub_total + taxes``.
* Reason ``order_cancellation`` for terminations and upgrades alike (Lago's terminate service passes it in both
  cases; ``order_change`` is only CreateFromTermination's unused default).
* ``on_termination_credit_note``: ``credit`` (or null) → a credit note; ``skip`` → none; ``refund`` and ``offset``
  are issued as a plain credit for now (Lago raises NotImplementedError on an upgrade with them; refunds need
  payments, which Tollbooth does not record yet) — see the issue note.
* Exactly once: the unique constraint ``one_termination_credit_note_per_subscription``; a second call (or a
  concurrent one that lost the race) returns the existing note.
"""

from __future__ import annotations

from decimal import Decimal

from django.db import IntegrityError, transaction

from billing.invoice_fees import ended_by_upgrade, iso, subscription_timezone, trial_end
from billing.models import OnTerminationCreditNote, Subscription
from billing.periods import full_period_days, period_containing
from billing.proration import termination_credit_amount, unused_days_for_credit
from invoicing import credit_notes as invoicing_credit_notes
from invoicing.models import CreditNote, CreditNoteItem, CreditNoteReason, Fee, FeeType, InvoiceStatus

__all__ = ["creditable_base_fee", "termination_credit_amount_for", "termination_credit_note"]


def creditable_base_fee(subscription: Subscription) -> Fee | None:
    """The base fee that billed the period containing ``terminated_at`` (latest first), on a standing invoice."""
    at = iso(subscription.terminated_at)
    return (
        Fee.objects.filter(
            subscription=subscription,
            fee_type=FeeType.SUBSCRIPTION,
            deleted_at__isnull=True,
            invoice__isnull=False,
            invoice__status__in=[InvoiceStatus.DRAFT, InvoiceStatus.FINALIZED],
            properties__from_datetime__lte=at,
            properties__to_datetime__gte=at,
        )
        .select_related("invoice")
        .order_by("-created_at", "-id")
        .first()
    )


def termination_credit_amount_for(subscription: Subscription, fee: Fee) -> Decimal:
    """The precise item (excluding taxes) crediting ``fee`` for the unused days after ``terminated_at`` (§4.5)."""
    plan = subscription.plan
    tz = subscription_timezone(subscription)
    kwargs = {
        "interval": plan.interval,
        "billing_time": subscription.billing_time,
        "subscription_at": subscription.subscription_at,
        "timezone": tz,
    }
    period = period_containing(subscription.terminated_at, **kwargs)
    days = full_period_days(subscription.terminated_at, **kwargs)
    unused = unused_days_for_credit(
        period_end=period.end,
        terminated_at=subscription.terminated_at,
        timezone=tz,
        upgrade=ended_by_upgrade(subscription),
        trial_end=trial_end(subscription),
    )
    plan_amount = (fee.amount_details or {}).get("plan_amount_cents")
    if isinstance(plan_amount, bool) or not isinstance(plan_amount, int):
        plan_amount = plan.amount_cents
    already = sum(CreditNoteItem.objects.filter(fee=fee).values_list("amount_cents", flat=True))
    return termination_credit_amount(
        amount_cents=plan_amount,
        unused_days=min(unused, days),
        full_period_days=days,
        fee_amount_cents=fee.amount_cents,
        already_credited_cents=already,
    )


def termination_credit_note(subscription: Subscription) -> CreditNote | None:
    """Issue (once) the credit note for the unused part of a terminated pay-in-advance subscription's period.

    None when there is nothing to credit: not pay in advance, not terminated, ``skip``, no base fee billed for
    the period (or a zero one), no unused day. Call it after the terminating invoice is created and, on an
    upgrade, before the new subscription's start invoice (which consumes it when finalized).
    """
    if subscription.terminated_at is None or not subscription.plan.pay_in_advance:
        return None
    mode = subscription.on_termination_credit_note or OnTerminationCreditNote.CREDIT
    if mode == OnTerminationCreditNote.SKIP:
        return None
    existing = CreditNote.objects.filter(subscription=subscription).first()
    if existing is not None:
        return existing
    fee = creditable_base_fee(subscription)
    if fee is None or fee.amount_cents == 0:
        return None
    amount = termination_credit_amount_for(subscription, fee)
    if amount <= 0:
        return None
    estimate = invoicing_credit_notes.estimate_credit_note(items=[(fee, amount)])
    if estimate.expected_total_amount_cents <= 0:
        return None
    try:
        with transaction.atomic():
            return invoicing_credit_notes.create_credit_note(
                invoice=fee.invoice,
                reason=CreditNoteReason.ORDER_CANCELLATION,
                items=[(fee, amount)],
                credit_amount_cents=estimate.expected_total_amount_cents,
                subscription=subscription,
            )
    except IntegrityError:
        # Another call issued it first (the unique constraint held).
        existing = CreditNote.objects.filter(subscription=subscription).first()
        if existing is None:
            raise
        return existing
