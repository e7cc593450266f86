"""Invoice writes (billing-semantics §6): create (draft or finalized), finalize, void, payment status and
metadata, overdue marking, draft refresh.

Invoicing does not know applied coupons, credit notes or wallets as rows: the billing layer
(billing.services.invoices) hands their state in as `CouponToApply` / `CreditNoteCredit` / `WalletCredit`
(invoicing.calculations) and writes back what the returned `InvoiceTotals` says. Coupon amounts are recorded here
as `Credit` rows (one per applied coupon per finalized invoice), which is what an applied coupon's consumed amount
is summed from (invoicing.selectors.coupon_consumed_amounts).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

from django.db import IntegrityError, transaction
from django.db.models import Q

from config import clock, errors
from config.money import round_cents, subunit_to_unit
from customers.choices import IssuingDateAdjustment, IssuingDateAnchor
from invoicing.calculations import (
    CouponToApply,
    CreditNoteCredit,
    FeeLine,
    InvoiceTotals,
    ProgressiveBillingCredit,
    WalletCredit,
    compute_invoice_totals,
)
from invoicing.models import (
    AppliedTax,
    Credit,
    Fee,
    FeePaymentStatus,
    FeeType,
    Invoice,
    InvoiceStatus,
    InvoiceSubscription,
    InvoiceType,
    InvoicingReason,
    PaymentStatus,
)
from invoicing.numbering import assign_invoice_number
from invoicing.services.documents import document_snapshot
from invoicing.services.fee_drafts import FeeDraft, fee_adjustment_key, ref_id

__all__ = [
    "AlreadyBilled",
    "InvoiceDates",
    "InvoiceResult",
    "SubscriptionPeriod",
    "VoidResult",
    "create_invoice",
    "finalize_invoice",
    "invoice_dates",
    "mark_overdue_invoices",
    "refresh_draft_totals",
    "replace_draft_fees",
    "update_invoice",
    "void_invoice",
]

#: Invoicing reasons of periodic subscription invoices: the ones a grace period keeps as drafts (§6.5).
GRACE_PERIOD_REASONS = frozenset(
    {
        InvoicingReason.SUBSCRIPTION_STARTING,
        InvoicingReason.SUBSCRIPTION_PERIODIC,
        InvoicingReason.SUBSCRIPTION_TERMINATING,
    }
)
#: Lago's Metadata::InvoiceMetadata::COUNT_PER_INVOICE and key length.
MAX_METADATA_PER_INVOICE = 5
MAX_METADATA_KEY_LENGTH = 20

_FIVE_PLACES = Decimal("0.00001")


# --------------------------------------------------------------------------------------------------------------
# Inputs and results
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SubscriptionPeriod:
    """One subscription period an invoice bills (an `InvoiceSubscription` row, Lago's billing period).

    ``timestamp`` is the billing instant; with ``invoicing_reason`` in starting/periodic/terminating it is the
    exactly-once key (one invoice per subscription, reason and instant).
    """

    subscription: Any
    invoicing_reason: str
    timestamp: dt.datetime
    from_datetime: dt.datetime | None = None
    to_datetime: dt.datetime | None = None
    charges_from_datetime: dt.datetime | None = None
    charges_to_datetime: dt.datetime | None = None

    def __post_init__(self) -> None:
        if self.invoicing_reason not in InvoicingReason.values:
            raise ValueError(f"unknown invoicing_reason {self.invoicing_reason!r}")
        for name in (
            "timestamp",
            "from_datetime",
            "to_datetime",
            "charges_from_datetime",
            "charges_to_datetime",
        ):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, dt.datetime) or value.tzinfo is None):
                raise ValueError(f"SubscriptionPeriod.{name} must be an aware datetime")


class AlreadyBilled(errors.NotAllowed):
    """A subscription period of this invoice was invoiced already (the exactly-once key held): nothing was
    written; a billing run treats it as done."""

    def __init__(self, periods: Sequence[SubscriptionPeriod]):
        self.periods = tuple(periods)
        super().__init__("already_billed")


@dataclass(frozen=True)
class InvoiceResult:
    """The stored invoice and the totals it was computed with (coupon results: see InvoiceTotals.coupons)."""

    invoice: Invoice
    totals: InvoiceTotals

    @property
    def finalized(self) -> bool:
        return self.invoice.status == InvoiceStatus.FINALIZED


@dataclass(frozen=True)
class VoidResult:
    """The voided invoice and its coupon credits: the billing layer re-credits those applied coupons."""

    invoice: Invoice
    coupon_credits: tuple[Credit, ...]


@dataclass(frozen=True)
class InvoiceDates:
    issuing_date: dt.date
    expected_finalization_date: dt.date
    payment_due_date: dt.date


def invoice_dates(*, customer, billing_date: dt.date, recurring: bool = True) -> InvoiceDates:
    """Lago's issuing-date rules for a subscription invoice billed on local ``billing_date`` (§6.5).

    base = billing day (the day before with the ``current_period_end`` anchor, recurring invoices only);
    expected finalization = base + grace; issuing date = that finalization date
    (``align_with_finalization_date``, the default) or the base (``keep_anchor``);
    payment due = issuing date + net payment term.
    """
    grace = customer.applicable_invoice_grace_period
    base = billing_date
    if (
        recurring
        and customer.subscription_invoice_issuing_date_anchor == IssuingDateAnchor.CURRENT_PERIOD_END
    ):
        base = billing_date - dt.timedelta(days=1)
    expected = base + dt.timedelta(days=grace)
    keep_anchor = customer.subscription_invoice_issuing_date_adjustment == IssuingDateAdjustment.KEEP_ANCHOR
    issuing = base if keep_anchor else expected
    return InvoiceDates(
        issuing_date=issuing,
        expected_finalization_date=expected,
        payment_due_date=issuing + dt.timedelta(days=customer.applicable_net_payment_term),
    )


# --------------------------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _TaxInfo:
    tax_id: uuid.UUID | None
    code: str
    name: str
    description: str | None
    rate: Decimal


def _q5(value: Decimal) -> Decimal:
    return Decimal(value).quantize(_FIVE_PLACES, rounding=ROUND_HALF_UP)


def _local_today(now: dt.datetime, timezone: str) -> dt.date:
    return now.astimezone(ZoneInfo(timezone)).date()


def _locked(invoice: Invoice) -> Invoice:
    """The invoice row, locked until commit, with what numbering and documents read."""
    return (
        Invoice.objects.select_for_update(of=("self",))
        .select_related("organization", "customer__organization")
        .get(pk=invoice.pk)
    )


def _sync(target: Invoice, source: Invoice) -> None:
    """Give the caller's instance the stored state (it may be a stale copy of the locked row)."""
    if target is not source:
        target.refresh_from_db()


def _grace_applies(invoice_type: str, periods: Sequence[SubscriptionPeriod]) -> bool:
    if invoice_type != InvoiceType.SUBSCRIPTION:
        return False
    return not periods or any(period.invoicing_reason in GRACE_PERIOD_REASONS for period in periods)


def _check_same_organization(organization, customer, drafts: Sequence[FeeDraft], periods) -> None:
    """Every referenced row must belong to the organization (and subscriptions to the customer)."""
    if customer.organization_id != organization.pk:
        raise ValueError("the customer belongs to another organization")
    for name in ("subscription", "charge", "charge_filter", "fixed_charge", "add_on"):
        ids = {ref_id(getattr(draft, name)) for draft in drafts} - {None}
        if name == "subscription":
            ids |= {ref_id(period.subscription) for period in periods}
        if not ids:
            continue
        model = Fee._meta.get_field(name).related_model
        scope = (
            Q(charge__organization=organization) if name == "charge_filter" else Q(organization=organization)
        )
        if name == "subscription":
            scope &= Q(customer_id=customer.pk)
        if model.objects.filter(scope, pk__in=ids).count() != len(ids):
            raise ValueError(f"a {name} of this invoice belongs to another organization or customer")
    for draft in drafts:
        for tax in draft.taxes:
            if tax.organization_id != organization.pk:
                raise ValueError("a tax of this invoice belongs to another organization")


def _insert_periods(invoice: Invoice, periods: Sequence[SubscriptionPeriod]) -> None:
    rows = [
        InvoiceSubscription(
            organization_id=invoice.organization_id,
            invoice=invoice,
            subscription_id=ref_id(period.subscription),
            invoicing_reason=period.invoicing_reason,
            timestamp=period.timestamp,
            from_datetime=period.from_datetime,
            to_datetime=period.to_datetime,
            charges_from_datetime=period.charges_from_datetime,
            charges_to_datetime=period.charges_to_datetime,
        )
        for period in periods
    ]
    if not rows:
        return
    try:
        with transaction.atomic():
            InvoiceSubscription.objects.bulk_create(rows)
    except IntegrityError as exc:
        if "one_invoice_per_subscription_billing_instant" in str(exc):
            raise AlreadyBilled(periods) from exc
        raise


def _kept(drafts: Sequence[FeeDraft], *, skip_zero_fees: bool) -> list[bool]:
    """Which drafts become fees: zero charge buckets are dropped (§2.3 rule 4), unless a kept true-up needs them."""
    keep = [not (skip_zero_fees and draft.fee_type == FeeType.CHARGE and draft.is_zero) for draft in drafts]
    for index, draft in enumerate(drafts):
        parent = draft.true_up_parent_index
        if parent is None:
            continue
        if not 0 <= parent < len(drafts) or parent == index:
            raise ValueError(f"fee {index}: true_up_parent_index {parent} is not another fee of the list")
        if keep[index]:
            keep[parent] = True
    return keep


def _insert_fees(
    invoice: Invoice,
    drafts: Sequence[FeeDraft],
    *,
    skip_zero_fees: bool,
    adjustments: Mapping[tuple, tuple[Decimal | None, int | None]] | None = None,
) -> tuple[dict[str, list[_TaxInfo]], dict[str, FeeDraft]]:
    """Store the fees; returns each stored fee's taxes and its draft (by fee id)."""
    drafts = list(drafts)
    keep = _kept(drafts, skip_zero_fees=skip_zero_fees)
    ids = [uuid.uuid4() for _ in drafts]
    subunit = Decimal(subunit_to_unit(invoice.currency))
    rows: list[Fee] = []
    taxes: dict[str, list[_TaxInfo]] = {}
    stored: dict[str, FeeDraft] = {}
    for index, draft in enumerate(drafts):
        if not keep[index]:
            continue
        parent = draft.true_up_parent_index
        fee = Fee(
            id=ids[index],
            organization_id=invoice.organization_id,
            invoice=invoice,
            customer_id=invoice.customer_id,
            subscription_id=ref_id(draft.subscription),
            fee_type=draft.fee_type,
            charge_id=ref_id(draft.charge),
            charge_filter_id=ref_id(draft.charge_filter),
            fixed_charge_id=ref_id(draft.fixed_charge),
            add_on_id=ref_id(draft.add_on),
            true_up_parent_fee_id=ids[parent] if parent is not None else None,
            grouped_by=draft.grouped_by,
            invoice_display_name=draft.invoice_display_name,
            description=draft.description,
            amount_cents=draft.amount_cents,
            precise_amount_cents=draft.precise_amount_cents,
            amount_currency=invoice.currency,
            unit_amount_cents=draft.unit_amount_cents,
            precise_unit_amount=draft.precise_unit_amount,
            units=draft.units,
            total_aggregated_units=draft.total_aggregated_units,
            events_count=draft.events_count,
            amount_details=draft.amount_details,
            pay_in_advance=draft.pay_in_advance,
            invoiceable=draft.invoiceable,
            event_transaction_id=draft.event_transaction_id,
            properties=draft.properties,
        )
        key = fee_adjustment_key(
            fee_type=fee.fee_type,
            subscription_id=fee.subscription_id,
            charge_id=fee.charge_id,
            charge_filter_id=fee.charge_filter_id,
            fixed_charge_id=fee.fixed_charge_id,
            add_on_id=fee.add_on_id,
            grouped_by=fee.grouped_by,
        )
        if adjustments and key in adjustments:
            _apply_adjustment(fee, *adjustments[key], subunit=subunit)
        rows.append(fee)
        stored[str(fee.id)] = draft
        taxes[str(fee.id)] = [
            _TaxInfo(
                tax_id=tax.pk,
                code=tax.code,
                name=tax.name,
                description=tax.description,
                rate=Decimal(str(tax.rate)),
            )
            for tax in draft.taxes
        ]
    Fee.objects.bulk_create(rows)
    return taxes, stored


def _apply_adjustment(
    fee: Fee, units: Decimal | None, unit_amount_cents: int | None, *, subunit: Decimal
) -> None:
    """A finance user's adjustment survives a refresh: adjusted units replace the computed ones; an adjusted unit
    amount reprices the fee as units × unit amount; units alone are priced by invoicing.services.adjustments."""
    fee.adjusted_units = units
    fee.adjusted_unit_amount_cents = unit_amount_cents
    if units is not None:
        fee.units = units
    if unit_amount_cents is not None:
        precise = Decimal(fee.units) * Decimal(unit_amount_cents)
        fee.unit_amount_cents = unit_amount_cents
        fee.precise_unit_amount = Decimal(unit_amount_cents) / subunit
        fee.precise_amount_cents = _q5(precise)
        fee.amount_cents = round_cents(precise)
    elif units is not None:
        # Units alone: priced with the charge (or fixed charge) model, as adjust_fee did.
        from invoicing.services.adjustments import reprice_adjusted_fee  # it imports this module

        reprice_adjusted_fee(fee)


def _stored_fees(
    invoice: Invoice, taxes: Mapping[str, list[_TaxInfo]] | None = None
) -> tuple[list[Fee], dict[str, list[_TaxInfo]]]:
    """The invoice's fees and their taxes: the given ones (fees just inserted) or their stored applied taxes."""
    fees = list(
        Fee.objects.filter(invoice=invoice)
        .select_related("charge__billable_metric", "subscription__plan__parent")
        .prefetch_related("applied_taxes")
        .order_by("created_at", "id")
    )
    if taxes is not None:
        return fees, {str(fee.id): list(taxes.get(str(fee.id), [])) for fee in fees}
    stored = {
        str(fee.id): [
            _TaxInfo(
                tax_id=t.tax_id,
                code=t.tax_code,
                name=t.tax_name,
                description=t.tax_description,
                rate=t.tax_rate,
            )
            for t in fee.applied_taxes.all()
        ]
        for fee in fees
    }
    return fees, stored


def _fee_lines(
    fees: Sequence[Fee], taxes: Mapping[str, list[_TaxInfo]], overrides: Mapping[str, FeeDraft] | None = None
) -> list[FeeLine]:
    lines = []
    for fee in fees:
        metric_code = (
            fee.charge.billable_metric.code if fee.charge_id and fee.fee_type == FeeType.CHARGE else None
        )
        plan = fee.subscription.plan if fee.subscription_id else None
        plan_code = plan.code if plan is not None else None
        parent_code = plan.parent.code if plan is not None and plan.parent_id else None
        draft = (overrides or {}).get(str(fee.id))
        if draft is not None:
            metric_code = draft.billable_metric_code or metric_code
            plan_code = draft.plan_code or plan_code
            parent_code = draft.parent_plan_code or parent_code
        lines.append(
            FeeLine(
                id=str(fee.id),
                fee_type=fee.fee_type,
                amount_cents=fee.amount_cents,
                taxes=tuple((info.code, info.rate) for info in taxes.get(str(fee.id), [])),
                billable_metric_code=metric_code,
                plan_code=plan_code,
                parent_plan_code=parent_code,
            )
        )
    return lines


def _persist_totals(
    invoice: Invoice, fees: Sequence[Fee], taxes: Mapping[str, list[_TaxInfo]], totals: InvoiceTotals
) -> None:
    """Write the computed amounts onto the fees and the invoice, and their applied taxes (rebuilt)."""
    by_id = {str(fee.id): fee for fee in fees}
    for result in totals.fees:
        fee = by_id[result.id]
        fee.precise_coupons_amount_cents = _q5(result.precise_coupons_amount_cents)
        fee.taxes_amount_cents = result.taxes_amount_cents
        fee.taxes_precise_amount_cents = _q5(result.taxes_precise_amount_cents)
        fee.taxes_rate = result.taxes_rate
    Fee.objects.bulk_update(
        list(fees),
        ["precise_coupons_amount_cents", "taxes_amount_cents", "taxes_precise_amount_cents", "taxes_rate"],
    )
    AppliedTax.objects.filter(Q(invoice=invoice) | Q(fee__invoice=invoice)).delete()
    rows: list[AppliedTax] = []
    infos_by_code: dict[str, _TaxInfo] = {}
    for result in totals.fees:
        infos = {info.code: info for info in taxes.get(result.id, [])}
        infos_by_code.update(infos)
        for applied in result.applied_taxes:
            info = infos[applied.tax_code]
            rows.append(
                AppliedTax(
                    organization_id=invoice.organization_id,
                    fee_id=result.id,
                    tax_id=info.tax_id,
                    tax_code=info.code,
                    tax_name=info.name,
                    tax_description=info.description,
                    tax_rate=applied.tax_rate,
                    amount_cents=applied.amount_cents,
                    precise_amount_cents=_q5(applied.precise_amount_cents),
                    amount_currency=invoice.currency,
                    taxable_base_amount_cents=round_cents(result.sub_total_excluding_taxes_amount_cents),
                )
            )
    for applied in totals.applied_taxes:
        info = infos_by_code[applied.tax_code]
        rows.append(
            AppliedTax(
                organization_id=invoice.organization_id,
                invoice=invoice,
                tax_id=info.tax_id,
                tax_code=info.code,
                tax_name=info.name,
                tax_description=info.description,
                tax_rate=applied.tax_rate,
                amount_cents=applied.amount_cents,
                precise_amount_cents=_q5(applied.precise_amount_cents),
                amount_currency=invoice.currency,
                taxable_base_amount_cents=applied.fees_amount_cents,
            )
        )
    AppliedTax.objects.bulk_create(rows)
    invoice.fees_amount_cents = totals.fees_amount_cents
    invoice.progressive_billing_credit_amount_cents = totals.progressive_billing_credit_amount_cents
    invoice.coupons_amount_cents = totals.coupons_amount_cents
    invoice.sub_total_excluding_taxes_amount_cents = totals.sub_total_excluding_taxes_amount_cents
    invoice.taxes_amount_cents = totals.taxes_amount_cents
    invoice.taxes_rate = totals.taxes_rate
    invoice.sub_total_including_taxes_amount_cents = totals.sub_total_including_taxes_amount_cents
    invoice.credit_notes_amount_cents = totals.credit_notes_amount_cents
    invoice.prepaid_credit_amount_cents = totals.prepaid_credit_amount_cents
    invoice.total_amount_cents = totals.total_amount_cents


def _draft_totals(
    invoice: Invoice,
    *,
    progressive_billing_credit: int | Sequence[ProgressiveBillingCredit] | None = None,
    overrides: Mapping[str, FeeDraft] | None = None,
    taxes: Mapping[str, list[_TaxInfo]] | None = None,
    coupons: Sequence[CouponToApply] = (),
) -> InvoiceTotals:
    """A draft's amounts: fees, progressive-billing credit and taxes; no coupons, credit notes or wallets (§6.5).
    Given coupons are reported back as not applied."""
    fees, taxes = _stored_fees(invoice, taxes)
    if progressive_billing_credit is None:
        progressive_billing_credit = invoice.progressive_billing_credit_amount_cents
    totals = compute_invoice_totals(
        currency=invoice.currency,
        fees=_fee_lines(fees, taxes, overrides),
        coupons=coupons,
        progressive_billing_credit_cents=progressive_billing_credit,
        apply_coupons=False,
    )
    _persist_totals(invoice, fees, taxes, totals)
    invoice.save()
    return totals


def _finalize(
    invoice: Invoice,
    *,
    coupons: Sequence[CouponToApply],
    credit_notes: Sequence[CreditNoteCredit],
    wallets: Sequence[WalletCredit],
    progressive_billing_credit: int | Sequence[ProgressiveBillingCredit] | None,
    align_issuing_date: bool,
    overrides: Mapping[str, FeeDraft] | None = None,
    taxes: Mapping[str, list[_TaxInfo]] | None = None,
) -> InvoiceTotals:
    """Finalize a locked draft: totals with coupons, credit notes and wallets; number; document snapshot."""
    organization, customer = invoice.organization, invoice.customer
    now = clock.now(organization)
    if align_issuing_date:
        keep_anchor = (
            customer.subscription_invoice_issuing_date_adjustment == IssuingDateAdjustment.KEEP_ANCHOR
        )
        if not keep_anchor:
            invoice.issuing_date = _local_today(now, customer.applicable_timezone)
        invoice.net_payment_term = customer.applicable_net_payment_term
        invoice.payment_due_date = invoice.issuing_date + dt.timedelta(days=invoice.net_payment_term)
    fees, taxes = _stored_fees(invoice, taxes)
    if progressive_billing_credit is None:
        progressive_billing_credit = invoice.progressive_billing_credit_amount_cents
    totals = compute_invoice_totals(
        currency=invoice.currency,
        fees=_fee_lines(fees, taxes, overrides),
        coupons=coupons,
        credit_notes=credit_notes,
        wallets=wallets,
        progressive_billing_credit_cents=progressive_billing_credit,
    )
    _persist_totals(invoice, fees, taxes, totals)
    number = assign_invoice_number(invoice)
    invoice.number = number.number
    invoice.sequential_id = number.sequential_id
    invoice.organization_sequential_id = number.organization_sequential_id
    invoice.status = InvoiceStatus.FINALIZED
    invoice.payment_status = totals.payment_status
    invoice.finalized_at = now
    invoice.document_snapshot = document_snapshot(
        organization=organization, customer=customer, currency=invoice.currency
    )
    invoice.save()
    succeeded = invoice.payment_status == PaymentStatus.SUCCEEDED
    Fee.objects.filter(invoice=invoice).update(
        payment_status=FeePaymentStatus.SUCCEEDED if succeeded else FeePaymentStatus.PENDING,
        succeeded_at=now if succeeded else None,
    )
    Credit.objects.bulk_create(
        [
            Credit(
                organization_id=invoice.organization_id,
                invoice=invoice,
                applied_coupon_id=uuid.UUID(str(result.id)),
                amount_cents=result.amount_cents,
                amount_currency=invoice.currency,
                before_taxes=True,
            )
            for result in totals.coupons
            if result.applied
        ]
    )
    transaction.on_commit(lambda: _queue_pdf(invoice.pk))
    return totals


def _queue_pdf(invoice_id) -> None:
    """Render the finalized invoice's PDF in the background (the download endpoint renders it if not yet)."""
    from invoicing.tasks import generate_invoice_pdf  # the task module imports the renderer, which imports us

    generate_invoice_pdf.delay(str(invoice_id))


# --------------------------------------------------------------------------------------------------------------
# Services
# --------------------------------------------------------------------------------------------------------------


@transaction.atomic
def create_invoice(
    *,
    organization,
    customer,
    invoice_type: str,
    currency: str,
    fees: Sequence[FeeDraft],
    issuing_date: dt.date,
    subscription_periods: Sequence[SubscriptionPeriod] = (),
    finalize: bool | None = None,
    expected_finalization_date: dt.date | None = None,
    coupons: Sequence[CouponToApply] = (),
    credit_notes: Sequence[CreditNoteCredit] = (),
    wallets: Sequence[WalletCredit] = (),
    progressive_billing_credit: int | Sequence[ProgressiveBillingCredit] = 0,
    skip_zero_fees: bool = True,
) -> InvoiceResult:
    """Store an invoice with its fees, billing periods, applied taxes and totals (§6.1).

    * ``subscription_periods`` become `InvoiceSubscription` rows first: a period invoiced already raises
      `AlreadyBilled` and nothing is written.
    * Draft or finalized: ``finalize=None`` decides by grace period — a subscription invoice for a
      starting/periodic/terminating period stays a draft while the customer's applicable grace period is > 0;
      every other invoice (instant in-advance charges, progressive billing, one-off, credit…) is finalized now.
      A draft is computed without coupons, credit notes or wallets (they are ignored); a finalized invoice with
      them (and numbered).
    * ``payment_due_date = issuing_date + applicable net payment term``; ``expected_finalization_date`` defaults
      to ``issuing_date + grace days`` (pass it when the issuing date already includes the grace period, see
      `invoice_dates`).
    * Charge fees with 0 units, 0 amount and 0 events are not stored (``skip_zero_fees``, §2.3 rule 4).
    """
    if invoice_type not in InvoiceType.values:
        raise ValueError(f"unknown invoice_type {invoice_type!r}")
    fees = list(fees)
    for draft in fees:
        if not isinstance(draft, FeeDraft):
            raise TypeError("fees must be FeeDraft instances")
    periods = list(subscription_periods)
    _check_same_organization(organization, customer, fees, periods)
    grace = customer.applicable_invoice_grace_period if _grace_applies(invoice_type, periods) else 0
    if finalize is None:
        finalize = grace == 0
    net_payment_term = customer.applicable_net_payment_term
    invoice = Invoice.objects.create(
        organization=organization,
        customer=customer,
        invoice_type=invoice_type,
        currency=currency,
        status=InvoiceStatus.DRAFT,
        issuing_date=issuing_date,
        payment_due_date=issuing_date + dt.timedelta(days=net_payment_term),
        net_payment_term=net_payment_term,
        expected_finalization_date=expected_finalization_date or issuing_date + dt.timedelta(days=grace),
    )
    _insert_periods(invoice, periods)
    taxes, stored = _insert_fees(invoice, fees, skip_zero_fees=skip_zero_fees)
    overrides = _code_overrides(stored)
    if finalize:
        invoice = _locked(invoice)
        totals = _finalize(
            invoice,
            coupons=coupons,
            credit_notes=credit_notes,
            wallets=wallets,
            progressive_billing_credit=progressive_billing_credit,
            align_issuing_date=False,
            overrides=overrides,
            taxes=taxes,
        )
    else:
        totals = _draft_totals(
            invoice,
            progressive_billing_credit=progressive_billing_credit,
            overrides=overrides,
            taxes=taxes,
            coupons=coupons,
        )
    return InvoiceResult(invoice=invoice, totals=totals)


def _code_overrides(stored: Mapping[str, FeeDraft]) -> dict[str, FeeDraft]:
    """The stored fees whose drafts name their coupon codes (metric, plan) explicitly."""
    return {
        fee_id: draft
        for fee_id, draft in stored.items()
        if draft.billable_metric_code or draft.plan_code or draft.parent_plan_code
    }


@transaction.atomic
def finalize_invoice(
    *,
    invoice: Invoice,
    coupons: Sequence[CouponToApply] = (),
    credit_notes: Sequence[CreditNoteCredit] = (),
    wallets: Sequence[WalletCredit] = (),
    progressive_billing_credit: int | Sequence[ProgressiveBillingCredit] | None = None,
    align_issuing_date: bool = True,
) -> InvoiceResult:
    """Finalize a draft (§6.5): recompute with coupons, credit notes and wallets, assign the gap-free number,
    set ``payment_status`` (``succeeded`` when nothing is due), ``finalized_at`` and the document snapshot, and
    record a `Credit` per applied coupon.

    The invoice row is locked first: a second finalization (concurrent or not) gets 405 ``invoice_not_draft``.
    ``align_issuing_date``: the issuing date becomes today in the customer's timezone (unless the customer keeps
    the anchor) and the payment due date follows it. ``progressive_billing_credit=None`` reuses the amount the
    draft was computed with.
    """
    locked = _locked(invoice)
    if locked.status != InvoiceStatus.DRAFT:
        raise errors.NotAllowed("invoice_not_draft")
    totals = _finalize(
        locked,
        coupons=coupons,
        credit_notes=credit_notes,
        wallets=wallets,
        progressive_billing_credit=progressive_billing_credit,
        align_issuing_date=align_issuing_date,
    )
    _sync(invoice, locked)
    return InvoiceResult(invoice=invoice, totals=totals)


@transaction.atomic
def replace_draft_fees(
    *,
    invoice: Invoice,
    fees: Sequence[FeeDraft],
    progressive_billing_credit: int | Sequence[ProgressiveBillingCredit] | None = None,
    skip_zero_fees: bool = True,
) -> InvoiceResult:
    """Refresh a draft with freshly computed fee lines: the old fees are replaced and the totals recomputed.

    A fee that comes back for the same (type, subscription, charge, filter, fixed charge, add-on, group) keeps
    its adjustment (``adjusted_units`` / ``adjusted_unit_amount_cents``; see `_apply_adjustment`).
    """
    locked = _locked(invoice)
    if locked.status != InvoiceStatus.DRAFT:
        raise errors.NotAllowed("invoice_not_draft")
    fees = list(fees)
    for draft in fees:
        if not isinstance(draft, FeeDraft):
            raise TypeError("fees must be FeeDraft instances")
    _check_same_organization(locked.organization, locked.customer, fees, ())
    adjustments = {
        fee_adjustment_key(
            fee_type=fee.fee_type,
            subscription_id=fee.subscription_id,
            charge_id=fee.charge_id,
            charge_filter_id=fee.charge_filter_id,
            fixed_charge_id=fee.fixed_charge_id,
            add_on_id=fee.add_on_id,
            grouped_by=fee.grouped_by,
        ): (fee.adjusted_units, fee.adjusted_unit_amount_cents)
        for fee in Fee.objects.filter(invoice=locked)
        if fee.adjusted_units is not None or fee.adjusted_unit_amount_cents is not None
    }
    Fee.objects.filter(invoice=locked).delete()
    taxes, stored = _insert_fees(locked, fees, skip_zero_fees=skip_zero_fees, adjustments=adjustments)
    totals = _draft_totals(
        locked,
        progressive_billing_credit=progressive_billing_credit,
        overrides=_code_overrides(stored),
        taxes=taxes,
    )
    _sync(invoice, locked)
    return InvoiceResult(invoice=invoice, totals=totals)


@transaction.atomic
def refresh_draft_totals(*, invoice: Invoice) -> InvoiceResult:
    """Recompute a draft's totals from its stored fees (used when no engine hook recomputes the fees)."""
    locked = _locked(invoice)
    if locked.status != InvoiceStatus.DRAFT:
        raise errors.NotAllowed("invoice_not_draft")
    totals = _draft_totals(locked)
    _sync(invoice, locked)
    return InvoiceResult(invoice=invoice, totals=totals)


@transaction.atomic
def void_invoice(*, invoice: Invoice) -> VoidResult:
    """Void a finalized invoice (§6.5; lago-api Invoices::VoidService): status ``voided``, ``voided_at``, no longer
    overdue. Any payment status may be voided (current Lago); drafts and voided invoices: 405 ``not_voidable``.
    Returns the invoice's coupon credits: the billing layer re-credits those applied coupons (an applied
    coupon's consumed amount leaves out credits of voided invoices)."""
    locked = _locked(invoice)
    if locked.status != InvoiceStatus.FINALIZED:
        raise errors.NotAllowed("not_voidable")
    locked.status = InvoiceStatus.VOIDED
    locked.voided_at = clock.now(locked.organization)
    locked.payment_overdue = False
    locked.save(update_fields=["status", "voided_at", "payment_overdue", "updated_at"])
    credits = tuple(
        Credit.objects.filter(invoice=locked, applied_coupon__isnull=False).order_by("created_at", "id")
    )
    _sync(invoice, locked)
    return VoidResult(invoice=invoice, coupon_credits=credits)


def _updated_metadata(current: list, entries: Sequence[Mapping[str, Any]], now: dt.datetime) -> list[dict]:
    """Lago's Invoices::Metadata::UpdateService: an entry whose id matches is updated, others are created, and
    existing entries not listed are removed."""
    by_id = {str(item.get("id")): item for item in current or []}
    result = []
    for entry in entries:
        key, value = entry["key"], entry["value"]
        existing = by_id.get(str(entry.get("id"))) if entry.get("id") else None
        if existing is not None:
            result.append({**existing, "key": key, "value": value})
        else:
            result.append(
                {
                    "id": str(uuid.uuid4()),
                    "key": key,
                    "value": value,
                    "created_at": now.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                }
            )
    return result


@transaction.atomic
def update_invoice(
    *,
    invoice: Invoice,
    payment_status: str | None = None,
    metadata: Sequence[Mapping[str, Any]] | None = None,
) -> Invoice:
    """``PUT /invoices/{id}`` (lago-api Invoices::UpdateService).

    * drafts: metadata → 405 ``metadata_on_draft_invoice``; a payment status change → 405
      ``payment_status_update_on_draft_invoice``;
    * ``payment_status`` ∈ pending|succeeded|failed (else 422 ``value_is_invalid``); the fees follow it;
      ``succeeded`` sets ``total_paid_amount_cents`` to the total and clears ``payment_overdue``; leaving
      ``succeeded`` sets the paid amount back to 0;
    * ``metadata``: at most 5 entries (422 ``invalid_count``), keys unique (422 ``value_already_exist``) and at most
      20 characters, values present; entries with a known ``id`` are updated, the others created, unlisted ones
      removed.
    """
    locked = _locked(invoice)
    if locked.status == InvoiceStatus.DRAFT and metadata is not None:
        raise errors.NotAllowed("metadata_on_draft_invoice")
    if payment_status is not None and payment_status not in PaymentStatus.values:
        raise errors.ValidationFailed({"payment_status": ["value_is_invalid"]})
    if metadata is not None:
        entries = list(metadata)
        if len(entries) > MAX_METADATA_PER_INVOICE:
            raise errors.ValidationFailed({"metadata": ["invalid_count"]})
        keys = [entry.get("key") for entry in entries]
        if any(not isinstance(key, str) or not key for key in keys):
            raise errors.ValidationFailed({"key": ["value_is_mandatory"]})
        if any(len(key) > MAX_METADATA_KEY_LENGTH for key in keys):
            raise errors.ValidationFailed({"key": ["value_is_too_long"]})
        if len(set(keys)) != len(keys):
            raise errors.ValidationFailed({"key": ["value_already_exist"]})
        if any(not isinstance(entry.get("value"), str) or not entry.get("value") for entry in entries):
            raise errors.ValidationFailed({"value": ["value_is_mandatory"]})
    if (
        locked.status == InvoiceStatus.DRAFT
        and payment_status is not None
        and payment_status != locked.payment_status
    ):
        raise errors.NotAllowed("payment_status_update_on_draft_invoice")

    now = clock.now(locked.organization)
    if payment_status is not None:
        changed = payment_status != locked.payment_status
        locked.payment_status = payment_status
        if payment_status == PaymentStatus.SUCCEEDED:
            locked.total_paid_amount_cents = locked.total_amount_cents
            locked.payment_overdue = False
        elif changed:
            locked.total_paid_amount_cents = 0
        if changed:
            Fee.objects.filter(invoice=locked).update(
                payment_status=payment_status,
                succeeded_at=now if payment_status == PaymentStatus.SUCCEEDED else None,
                failed_at=now if payment_status == PaymentStatus.FAILED else None,
            )
    if metadata is not None:
        locked.metadata = _updated_metadata(locked.metadata, metadata, now)
    locked.save()
    _sync(invoice, locked)
    return invoice


def _on_clock(queryset, organization):
    """One organization, or every organization on the real clock (sandbox ones run with their own `now`)."""
    if organization is not None:
        return queryset.filter(organization=organization)
    return queryset.filter(Q(organization__is_sandbox=False) | Q(organization__frozen_time__isnull=True))


def mark_overdue_invoices(*, organization=None, now: dt.datetime) -> list[Invoice]:
    """Flag finalized, unpaid invoices whose ``payment_due_date`` is before today in the customer's timezone as
    ``payment_overdue`` (§6.5). Idempotent: returns the invoices flagged by this call only."""
    candidates = (
        _on_clock(Invoice.objects.filter(status=InvoiceStatus.FINALIZED, payment_overdue=False), organization)
        .exclude(payment_status=PaymentStatus.SUCCEEDED)
        # local today is at most the UTC date + 1, so only due dates up to the UTC date can be past
        .filter(payment_due_date__lte=now.astimezone(dt.UTC).date())
        .select_related("customer__organization")
        .order_by("payment_due_date", "id")
    )
    due_ids = [
        invoice.pk
        for invoice in candidates
        if invoice.payment_due_date < _local_today(now, invoice.customer.applicable_timezone)
    ]
    marked: list[Invoice] = []
    for invoice_id in due_ids:
        with transaction.atomic():
            updated = (
                Invoice.objects.filter(pk=invoice_id, status=InvoiceStatus.FINALIZED, payment_overdue=False)
                .exclude(payment_status=PaymentStatus.SUCCEEDED)
                .update(payment_overdue=True, updated_at=clock.now())
            )
        if updated:
            marked.append(Invoice.objects.get(pk=invoice_id))
    return marked
