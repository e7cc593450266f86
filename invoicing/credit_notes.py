"""Credit notes (billing-semantics §7) and their consumption on later invoices (§6.4).

Writes, one function per act; the amounts come from the pure `invoicing.calculations.compute_credit_note`, the
consumption from `compute_invoice_totals` (the billing layer passes `available_credit_notes(...)` as
``credit_notes=`` and writes back what `InvoiceTotals.credit_notes` says with `consume_credit_notes`).

* A note follows its invoice's status: created ``draft`` on a draft invoice (an automatic termination note on a
  start invoice still in its grace period), ``finalized`` otherwise. Draft notes are re-pointed and recomputed
  when the draft's fees are recomputed (`draft_credit_note_items` + `refresh_draft_credit_notes`, Lago's
  CreditNotes::RefreshDraftService) and finalized, numbered and recomputed with the invoice's coupons when the
  invoice is finalized (`finalize_draft_credit_notes`).
* Numbers: ``{invoice number}-CN{sequential_id:03}``; ``sequential_id`` counts per invoice under the invoice's
  row lock and is unique by constraint.
* Only ``finalized`` notes with ``credit_status: available`` and a positive balance, in the invoice's currency,
  are consumed, oldest first; rows are locked in primary-key order.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

from django.db import transaction
from django.db.models import Prefetch, Q, Sum

from config import clock, errors
from invoicing.calculations import (
    CreditNoteConsumption,
    CreditNoteCredit,
    CreditNoteFee,
    CreditNoteTotals,
    compute_credit_note,
    fee_remaining_creditable_amount_cents,
)
from invoicing.models import (
    AppliedTax,
    Credit,
    CreditNote,
    CreditNoteAppliedTax,
    CreditNoteItem,
    CreditNoteReason,
    CreditNoteStatus,
    CreditStatus,
    Fee,
    Invoice,
    InvoiceStatus,
    RefundStatus,
)
from invoicing.selectors import parse_bool, parse_date

__all__ = [
    "DraftItemSnapshot",
    "available_credit_notes",
    "consume_credit_notes",
    "create_credit_note",
    "credit_note_by_id",
    "credit_note_fee",
    "credit_note_list",
    "draft_credit_note_items",
    "estimate_credit_note",
    "finalize_draft_credit_notes",
    "refresh_draft_credit_notes",
]

#: Lago's CreditNote::DB_PRECISION_SCALE: precise item amounts are truncated to 5 decimals.
PRECISE_SCALE = Decimal("0.00001")


def _precise(value: Decimal | int) -> Decimal:
    return Decimal(value).quantize(PRECISE_SCALE, rounding=ROUND_DOWN)


def _q5(value: Decimal) -> Decimal:
    return Decimal(value).quantize(PRECISE_SCALE, rounding=ROUND_HALF_UP)


# --------------------------------------------------------------------------------------------------------------
# Inputs for the pure calculations
# --------------------------------------------------------------------------------------------------------------


def credit_note_fee(fee: Fee) -> CreditNoteFee:
    """A stored fee as `compute_credit_note` sees it: amount, coupon share (incl. progressive-billing credit) and
    the taxes it was charged."""
    coupons = min(max(Decimal(fee.precise_coupons_amount_cents), Decimal(0)), Decimal(fee.amount_cents))
    return CreditNoteFee(
        id=str(fee.pk),
        amount_cents=fee.amount_cents,
        precise_coupons_amount_cents=coupons,
        taxes=tuple((applied.tax_code, Decimal(applied.tax_rate)) for applied in fee.applied_taxes.all()),
    )


def _fee_taxes_info(fees: Iterable[Fee]) -> dict[str, AppliedTax]:
    info: dict[str, AppliedTax] = {}
    for fee in fees:
        for applied in fee.applied_taxes.all():
            info.setdefault(applied.tax_code, applied)
    return info


def _credited_on_fee(fee: Fee) -> int:
    """Σ item amounts of the fee's earlier notes (voided ones included, as Lago's ``fee.credit_note_items``)."""
    return int(CreditNoteItem.objects.filter(fee=fee).aggregate(total=Sum("amount_cents"))["total"] or 0)


def estimate_credit_note(*, items: Sequence[tuple[Fee, Decimal | int]]) -> CreditNoteTotals:
    """The amounts of a note crediting ``items`` (amounts excluding taxes), nothing requested: its
    ``expected_total_amount_cents`` is what credit + refund + offset must add up to (±1), its
    ``max_creditable_amount_cents`` the total after the rounding fix."""
    return compute_credit_note(items=[(credit_note_fee(fee), _precise(amount)) for fee, amount in items])


# --------------------------------------------------------------------------------------------------------------
# Create
# --------------------------------------------------------------------------------------------------------------


def _locked_invoice(invoice: Invoice) -> Invoice:
    return (
        Invoice.objects.select_for_update(of=("self",))
        .select_related("organization", "customer__organization")
        .get(pk=invoice.pk)
    )


def _issuing_date(invoice: Invoice) -> dt.date:
    now = clock.now(invoice.organization)
    return now.astimezone(ZoneInfo(invoice.customer.applicable_timezone)).date()


def _check_amount(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise errors.ValidationFailed({name: ["value_is_invalid"]})
    return value


def _validate_limits(
    invoice: Invoice,
    fees: Sequence[Fee],
    amounts: Sequence[Decimal],
    totals: CreditNoteTotals,
    *,
    refund: int,
    offset: int,
) -> None:
    """§7 limits of a manual note (an automatic termination note is computed within them)."""
    for fee, amount in zip(fees, amounts, strict=True):
        remaining = fee_remaining_creditable_amount_cents(
            fee_amount_cents=fee.amount_cents, credited_amount_cents=_credited_on_fee(fee)
        )
        if amount > remaining:
            raise errors.ValidationFailed({"amount_cents": ["higher_than_remaining_fee_amount"]})
    previous = (
        CreditNote.objects.filter(invoice=invoice)
        .exclude(credit_status=CreditStatus.VOIDED, refund_amount_cents=0)
        .aggregate(total=Sum("total_amount_cents"))["total"]
        or 0
    )
    invoice_creditable = invoice.fees_amount_cents - invoice.coupons_amount_cents + invoice.taxes_amount_cents
    if totals.total_amount_cents > invoice_creditable - previous + 1:
        raise errors.ValidationFailed({"base": ["higher_than_remaining_invoice_amount"]})
    if refund:
        if invoice.total_paid_amount_cents <= 0:
            raise errors.ValidationFailed({"refund_amount_cents": ["cannot_refund_unpaid_invoice"]})
        refunded = (
            CreditNote.objects.filter(invoice=invoice).aggregate(total=Sum("refund_amount_cents"))["total"]
            or 0
        )
        if refund > invoice.total_paid_amount_cents - refunded:
            raise errors.ValidationFailed({"refund_amount_cents": ["higher_than_remaining_invoice_amount"]})
    if offset:
        due = invoice.total_amount_cents - invoice.total_paid_amount_cents
        if offset > due:
            raise errors.ValidationFailed({"offset_amount_cents": ["higher_than_remaining_invoice_amount"]})


def _write_amounts(note: CreditNote, totals: CreditNoteTotals) -> None:
    note.total_amount_cents = totals.total_amount_cents
    note.precise_total_amount_cents = _q5(totals.precise_total_amount_cents)
    note.credit_amount_cents = totals.credit_amount_cents
    note.balance_amount_cents = totals.credit_amount_cents
    note.refund_amount_cents = totals.refund_amount_cents
    note.offset_amount_cents = totals.offset_amount_cents
    note.coupons_adjustment_amount_cents = totals.coupons_adjustment_amount_cents
    note.precise_coupons_adjustment_amount_cents = _q5(totals.precise_coupons_adjustment_amount_cents)
    note.taxes_amount_cents = totals.taxes_amount_cents
    note.precise_taxes_amount_cents = _q5(totals.precise_taxes_amount_cents)
    note.sub_total_excluding_taxes_amount_cents = totals.sub_total_excluding_taxes_amount_cents
    note.taxes_rate = totals.taxes_rate
    note.credit_status = CreditStatus.AVAILABLE if totals.credit_amount_cents > 0 else None
    note.refund_status = RefundStatus.PENDING if totals.refund_amount_cents > 0 else None


def _write_applied_taxes(note: CreditNote, totals: CreditNoteTotals, fees: Iterable[Fee]) -> None:
    CreditNoteAppliedTax.objects.filter(credit_note=note).delete()
    info = _fee_taxes_info(fees)
    CreditNoteAppliedTax.objects.bulk_create(
        [
            CreditNoteAppliedTax(
                organization_id=note.organization_id,
                credit_note=note,
                tax_id=info[applied.tax_code].tax_id,
                tax_code=applied.tax_code,
                tax_name=info[applied.tax_code].tax_name,
                tax_description=info[applied.tax_code].tax_description,
                tax_rate=applied.tax_rate,
                amount_cents=applied.amount_cents,
                precise_amount_cents=_q5(applied.precise_amount_cents),
                amount_currency=note.currency,
                base_amount_cents=applied.base_amount_cents,
            )
            for applied in totals.applied_taxes
        ]
    )


def _number(invoice: Invoice, sequential_id: int) -> str:
    return f"{invoice.number}-CN{sequential_id:03d}"


@transaction.atomic
def create_credit_note(
    *,
    invoice: Invoice,
    reason: str,
    items: Sequence[tuple[Fee, Decimal | int]],
    credit_amount_cents: int,
    refund_amount_cents: int = 0,
    offset_amount_cents: int = 0,
    description: str | None = None,
    subscription=None,
) -> CreditNote:
    """Issue a credit note on ``invoice`` crediting ``items`` = [(fee, amount excluding taxes)] (§7).

    * amounts: `compute_credit_note` (coupon share removed, taxes per tax code, rounding fix applied to the
      requested credit, else refund, else offset); ``credit + refund + offset`` must match the items' total
      incl. taxes ±1 → 422 ``does_not_match_item_amounts``; a total of 0 → 422 ``total_amount_must_be_positive``;
    * limits (manual notes, no ``subscription``): each item ≤ what its fee can still be credited
      (``higher_than_remaining_fee_amount``), total ≤ the invoice's creditable amount minus earlier notes,
      refunds need a payment (``cannot_refund_unpaid_invoice``) and stay within it, offsets within the amount due
      (``higher_than_remaining_invoice_amount``);
    * status follows the invoice: draft invoice → ``draft`` note (numbered when the invoice is finalized);
      finalized → ``finalized`` and numbered ``{invoice number}-CN{n:03}``; other invoices → 405
      ``invalid_invoice_status``;
    * ``subscription``: the terminated subscription of an automatic termination note (one per subscription:
      a second one raises IntegrityError, see `billing.credit_notes.termination_credit_note`).
    """
    if reason not in CreditNoteReason.values:
        raise errors.ValidationFailed({"reason": ["value_is_invalid"]})
    credit = _check_amount(credit_amount_cents, "credit_amount_cents")
    refund = _check_amount(refund_amount_cents, "refund_amount_cents")
    offset = _check_amount(offset_amount_cents, "offset_amount_cents")
    locked = _locked_invoice(invoice)
    if locked.status not in (InvoiceStatus.DRAFT, InvoiceStatus.FINALIZED):
        raise errors.NotAllowed("invalid_invoice_status")
    items = list(items)
    if not items:
        raise errors.ValidationFailed({"items": ["value_is_mandatory"]})
    fee_ids = [fee.pk for fee, _ in items]
    fees_by_id = {
        fee.pk: fee
        for fee in Fee.objects.filter(
            pk__in=fee_ids, invoice=locked, deleted_at__isnull=True
        ).prefetch_related("applied_taxes")
    }
    if len(set(fee_ids)) != len(fee_ids) or set(fee_ids) - set(fees_by_id):
        raise errors.ValidationFailed({"fee_id": ["fee_not_found"]})
    fees = [fees_by_id[pk] for pk in fee_ids]
    amounts = []
    for _, amount in items:
        if isinstance(amount, bool) or not isinstance(amount, int | Decimal) or amount < 0:
            raise errors.ValidationFailed({"amount_cents": ["value_is_invalid"]})
        amounts.append(_precise(amount))

    totals = compute_credit_note(
        items=[(credit_note_fee(fee), amount) for fee, amount in zip(fees, amounts, strict=True)],
        credit_amount_cents=credit,
        refund_amount_cents=refund,
        offset_amount_cents=offset,
    )
    if not totals.amounts_match:
        raise errors.ValidationFailed({"base": ["does_not_match_item_amounts"]})
    if totals.total_amount_cents <= 0:
        raise errors.ValidationFailed({"base": ["total_amount_must_be_positive"]})
    if subscription is None:
        _validate_limits(locked, fees, amounts, totals, refund=refund, offset=offset)

    finalized = locked.status == InvoiceStatus.FINALIZED
    sequential_id = (
        CreditNote.objects.filter(invoice=locked)
        .order_by("-sequential_id")
        .values_list("sequential_id", flat=True)
        .first()
        or 0
    ) + 1
    note = CreditNote(
        organization_id=locked.organization_id,
        customer_id=locked.customer_id,
        invoice=locked,
        subscription=subscription,
        sequential_id=sequential_id,
        number=_number(locked, sequential_id) if finalized else "",
        reason=reason,
        description=description,
        status=CreditNoteStatus.FINALIZED if finalized else CreditNoteStatus.DRAFT,
        currency=locked.currency,
        issuing_date=_issuing_date(locked),
        finalized_at=clock.now(locked.organization) if finalized else None,
    )
    _write_amounts(note, totals)
    note.save(force_insert=True)
    CreditNoteItem.objects.bulk_create(
        [
            CreditNoteItem(
                organization_id=locked.organization_id,
                credit_note=note,
                fee=fee,
                amount_cents=result.amount_cents,
                precise_amount_cents=result.precise_amount_cents.quantize(PRECISE_SCALE),
                amount_currency=locked.currency,
            )
            for fee, result in zip(fees, totals.items, strict=True)
        ]
    )
    _write_applied_taxes(note, totals, fees)
    return note


# --------------------------------------------------------------------------------------------------------------
# Consumption on later invoices (§6.4)
# --------------------------------------------------------------------------------------------------------------


def available_credit_notes(
    customer, currency: str, *, exclude_invoice: Invoice | None = None, lock: bool = True
) -> list[CreditNoteCredit]:
    """The customer's finalized notes with credit left (``available``, balance > 0) in ``currency``, not issued
    on ``exclude_invoice``, as invoicing inputs (consumed oldest first by `compute_invoice_totals`). Locks the rows
    in primary-key order by default: call inside the transaction that finalizes, after the coupons' locks and
    before the invoice's."""
    notes = CreditNote.objects.filter(
        customer=customer,
        currency=currency,
        status=CreditNoteStatus.FINALIZED,
        credit_status=CreditStatus.AVAILABLE,
        balance_amount_cents__gt=0,
    )
    if exclude_invoice is not None:
        notes = notes.exclude(invoice_id=exclude_invoice.pk)
    if lock:
        notes = notes.select_for_update(of=("self",))
    return [
        CreditNoteCredit(
            id=str(note.pk),
            balance_cents=note.balance_amount_cents,
            created_at=note.created_at,
            currency=note.currency,
        )
        for note in notes.order_by("pk")
    ]


@transaction.atomic
def consume_credit_notes(*, invoice: Invoice, results: Sequence[CreditNoteConsumption]) -> list[Credit]:
    """Write back what a finalized invoice took from credit notes: each note's balance (``consumed`` at 0) and
    one after-tax `Credit` row per note used. Notes must have been locked by `available_credit_notes`."""
    used = [result for result in results if result.amount_cents > 0]
    if not used:
        return []
    notes = {
        str(note.pk): note
        for note in CreditNote.objects.select_for_update(of=("self",))
        .filter(pk__in=[uuid.UUID(result.id) for result in used], customer_id=invoice.customer_id)
        .order_by("pk")
    }
    credits = []
    for result in used:
        note = notes[result.id]
        if result.amount_cents > note.balance_amount_cents:
            raise ValueError(f"credit note {note.pk}: consumption exceeds its balance")
        note.balance_amount_cents -= result.amount_cents
        if note.balance_amount_cents == 0:
            note.credit_status = CreditStatus.CONSUMED
        note.save(update_fields=["balance_amount_cents", "credit_status", "updated_at"])
        credits.append(
            Credit(
                organization_id=invoice.organization_id,
                invoice=invoice,
                credit_note=note,
                amount_cents=result.amount_cents,
                amount_currency=invoice.currency,
                before_taxes=False,
            )
        )
    return Credit.objects.bulk_create(credits)


# --------------------------------------------------------------------------------------------------------------
# Draft notes: refresh with the draft's fees, finalize with the invoice
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DraftItemSnapshot:
    """What a draft note's item credited before its invoice's fees were recomputed: the identity of its fee
    (to find the new one) and the fee's old amount (to rescale the item, as Lago does)."""

    item_id: uuid.UUID
    fee_key: tuple
    fee_amount_cents: int


def _fee_key(fee: Fee) -> tuple:
    return (
        fee.fee_type,
        fee.subscription_id,
        fee.charge_id,
        fee.charge_filter_id,
        fee.fixed_charge_id,
        fee.add_on_id,
        tuple(sorted((fee.grouped_by or {}).items())),
    )


def draft_credit_note_items(invoice: Invoice) -> list[DraftItemSnapshot]:
    """Take before replacing a draft invoice's fees: the items of its draft notes and their fees."""
    items = CreditNoteItem.objects.filter(
        credit_note__invoice=invoice, credit_note__status=CreditNoteStatus.DRAFT, fee__isnull=False
    ).select_related("fee")
    return [DraftItemSnapshot(item.pk, _fee_key(item.fee), item.fee.amount_cents) for item in items]


def _recompute_draft(note: CreditNote, rescale: Mapping[uuid.UUID, tuple[Fee | None, int]] | None) -> bool:
    """Recompute a draft note from its invoice's current fees; False (and the note deleted) when nothing is
    left to credit."""
    items = list(note.items.select_related("fee").prefetch_related("fee__applied_taxes"))
    pairs: list[tuple[CreditNoteItem, Fee | None, Decimal]] = []
    for item in items:
        fee, amount = item.fee, Decimal(item.precise_amount_cents)
        if rescale is not None and item.pk in rescale:
            fee, old_amount = rescale[item.pk]
            amount = Decimal(0) if fee is None or old_amount == 0 else amount * fee.amount_cents / old_amount
        if fee is not None:
            fee = Fee.objects.prefetch_related("applied_taxes").get(pk=fee.pk)
            amount = min(_precise(amount), Decimal(fee.amount_cents))
        pairs.append((item, fee, amount))
    live = [(item, fee, amount) for item, fee, amount in pairs if fee is not None and amount > 0]
    if not live:
        note.delete()
        return False
    estimate = compute_credit_note(items=[(credit_note_fee(fee), amount) for _, fee, amount in live])
    requested = max(
        estimate.expected_total_amount_cents - note.refund_amount_cents - note.offset_amount_cents, 0
    )
    totals = compute_credit_note(
        items=[(credit_note_fee(fee), amount) for _, fee, amount in live],
        credit_amount_cents=requested,
        refund_amount_cents=note.refund_amount_cents,
        offset_amount_cents=note.offset_amount_cents,
    )
    if totals.total_amount_cents <= 0:
        note.delete()
        return False
    for item, _, _ in pairs:
        if not any(item is kept for kept, _, _ in live):
            item.delete()
    for (item, fee, _), result in zip(live, totals.items, strict=True):
        item.fee = fee
        item.amount_cents = result.amount_cents
        item.precise_amount_cents = result.precise_amount_cents.quantize(PRECISE_SCALE)
        item.save(update_fields=["fee", "amount_cents", "precise_amount_cents"])
    _write_amounts(note, totals)
    note.save()
    _write_applied_taxes(note, totals, [fee for _, fee, _ in live])
    return True


@transaction.atomic
def refresh_draft_credit_notes(
    *, invoice: Invoice, snapshot: Sequence[DraftItemSnapshot]
) -> list[CreditNote]:
    """After a draft invoice's fees were replaced: point each draft note's items at the new fee with the same
    identity (type, subscription, charge, filter, fixed charge, add-on, group), rescale them by new/old fee
    amount and recompute the notes (Lago's CreditNotes::RefreshDraftService). A note left with nothing to
    credit is deleted."""
    fees = {_fee_key(fee): fee for fee in Fee.objects.filter(invoice=invoice, deleted_at__isnull=True)}
    rescale = {entry.item_id: (fees.get(entry.fee_key), entry.fee_amount_cents) for entry in snapshot}
    kept = []
    for note in CreditNote.objects.filter(invoice=invoice, status=CreditNoteStatus.DRAFT).order_by(
        "sequential_id"
    ):
        if _recompute_draft(note, rescale):
            kept.append(note)
    return kept


@transaction.atomic
def finalize_draft_credit_notes(*, invoice: Invoice) -> list[CreditNote]:
    """Once ``invoice`` is finalized: its draft notes are recomputed with the final fees (coupons now applied),
    numbered ``{invoice number}-CN{n:03}`` and finalized (Lago: ``invoice.credit_notes.each(&:finalized!)``)."""
    if invoice.status != InvoiceStatus.FINALIZED:
        return []
    finalized = []
    now = clock.now(invoice.organization)
    for note in (
        CreditNote.objects.select_for_update(of=("self",))
        .filter(invoice=invoice, status=CreditNoteStatus.DRAFT)
        .order_by("sequential_id")
    ):
        if not _recompute_draft(note, None):
            continue
        note.status = CreditNoteStatus.FINALIZED
        note.number = _number(invoice, note.sequential_id)
        note.finalized_at = now
        note.save(update_fields=["status", "number", "finalized_at", "updated_at"])
        finalized.append(note)
    return finalized


# --------------------------------------------------------------------------------------------------------------
# Reads (organization first)
# --------------------------------------------------------------------------------------------------------------


def _visible_credit_notes(organization):
    """Lago's API shows finalized notes only (a draft note belongs to a draft invoice)."""
    return CreditNote.objects.filter(
        organization=organization, status=CreditNoteStatus.FINALIZED
    ).select_related("invoice", "customer__organization")


def _with_details(queryset):
    return queryset.prefetch_related(
        "customer__metadata",
        "customer__taxes",
        Prefetch("applied_taxes", queryset=CreditNoteAppliedTax.objects.order_by("created_at", "tax_code")),
        Prefetch(
            "items",
            queryset=CreditNoteItem.objects.order_by("created_at", "id")
            .select_related(
                "fee__customer",
                "fee__subscription__plan",
                "fee__charge__billable_metric",
                "fee__charge_filter",
                "fee__add_on",
                "fee__fixed_charge__add_on",
                "fee__true_up_fee",
            )
            .prefetch_related("fee__applied_taxes"),
        ),
    )


def credit_note_list(organization, *, filters: Mapping | None = None):
    """Lago's CreditNotesQuery over finalized notes, newest first. Filters (Lago's query names):
    ``external_customer_id``, ``issuing_date_from``/``issuing_date_to``, ``search_term`` (id, number, customer
    name, first and last name, external id, email), ``currency``, ``reason``, ``credit_status``,
    ``refund_status``, ``invoice_number``, ``amount_from``/``amount_to`` (on ``total_amount_cents``) and
    ``self_billed`` (Tollbooth has no self-billing: true matches nothing)."""
    filters = filters or {}
    qs = _visible_credit_notes(organization)
    if filters.get("external_customer_id"):
        qs = qs.filter(
            customer__external_id=filters["external_customer_id"], customer__deleted_at__isnull=True
        )
    for name in ("currency", "reason", "credit_status", "refund_status"):
        if filters.get(name):
            qs = qs.filter(**{name: filters[name]})
    if filters.get("invoice_number"):
        qs = qs.filter(invoice__number=filters["invoice_number"])
    issuing_from = parse_date(filters.get("issuing_date_from"))
    if issuing_from is not None:
        qs = qs.filter(issuing_date__gte=issuing_from)
    issuing_to = parse_date(filters.get("issuing_date_to"))
    if issuing_to is not None:
        qs = qs.filter(issuing_date__lte=issuing_to)
    if filters.get("amount_from") is not None:
        qs = qs.filter(total_amount_cents__gte=filters["amount_from"])
    if filters.get("amount_to") is not None:
        qs = qs.filter(total_amount_cents__lte=filters["amount_to"])
    if parse_bool(filters.get("self_billed")):
        qs = qs.none()
    term = (filters.get("search_term") or "").strip()
    if term:
        qs = qs.filter(
            Q(id__icontains=term)
            | Q(number__icontains=term)
            | Q(customer__name__icontains=term)
            | Q(customer__firstname__icontains=term)
            | Q(customer__lastname__icontains=term)
            | Q(customer__external_id__icontains=term)
            | Q(customer__email__icontains=term)
        )
    return _with_details(qs).order_by("-created_at", "-id")


def credit_note_by_id(organization, lago_id) -> CreditNote:
    """One finalized note of the organization; 404 ``credit_note_not_found`` (also for a malformed id)."""
    try:
        pk = uuid.UUID(str(lago_id))
    except (TypeError, ValueError, AttributeError):
        raise errors.NotFound("credit_note") from None
    note = _with_details(_visible_credit_notes(organization)).filter(pk=pk).first()
    if note is None:
        raise errors.NotFound("credit_note")
    return note
