"""Past usage (billing-semantics §9): the charge fees of a subscription's issued invoices, per billed period.

A billed period is the usage window (`charges_from/to_datetime`) of a **finalized** periodic or termination
invoice of the external subscription id (every subscription sharing it: upgrades and downgrades). Its usage is
the charge fees of that invoice (those of this external id) plus the instant pay-in-advance fees (finalized
`in_advance_charge` invoices) of events inside the window — Lago lists each instant invoice as a period of its
own; grouping them into the period they belong to is Tollbooth's reading of "per billed period". Non-invoiceable
fees (no invoice) are not on an issued invoice and are not counted.

Newest period first; `periods_count` keeps the newest N periods, then the API paginates them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

from django.db.models import Q

from billing.models import Subscription
from catalog.models import BillableMetric
from config import errors
from customers.models import Customer
from invoicing.models import (
    Fee,
    FeeType,
    Invoice,
    InvoiceStatus,
    InvoiceSubscription,
    InvoiceType,
    InvoicingReason,
)

ZERO = Decimal(0)
BILLED_PERIOD_REASONS = (InvoicingReason.SUBSCRIPTION_PERIODIC, InvoicingReason.SUBSCRIPTION_TERMINATING)


@dataclass
class UsagePeriod:
    """One billed period: the invoice that billed it and the charge fees of its usage."""

    subscription: Subscription
    invoice: Invoice
    charges_from_datetime: dt.datetime
    charges_to_datetime: dt.datetime
    fees: list[Fee] = field(default_factory=list)

    @property
    def currency(self) -> str:
        return self.invoice.currency

    @property
    def amount_cents(self) -> int:
        return sum(fee.amount_cents for fee in self.fees)

    @property
    def taxes_amount_cents(self) -> int:
        return sum(fee.taxes_amount_cents for fee in self.fees)

    @property
    def total_amount_cents(self) -> int:
        return self.amount_cents + self.taxes_amount_cents


def _iso(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def billed_periods(
    organization, *, customer: Customer, external_subscription_id: str, periods_count: int | None = None
) -> list[UsagePeriod]:
    """The billed periods of the external subscription id, newest first (one per usage window; the newest
    invoice wins if a window was somehow billed twice), at most `periods_count`."""
    rows = (
        InvoiceSubscription.objects.filter(
            organization=organization,
            subscription__customer=customer,
            subscription__external_id=external_subscription_id,
            invoicing_reason__in=BILLED_PERIOD_REASONS,
            charges_from_datetime__isnull=False,
            charges_to_datetime__isnull=False,
            invoice__status=InvoiceStatus.FINALIZED,
            invoice__invoice_type=InvoiceType.SUBSCRIPTION,
        )
        .select_related("invoice", "subscription")
        .order_by("-charges_from_datetime", "-charges_to_datetime", "-created_at")
    )
    periods: list[UsagePeriod] = []
    seen: set[tuple] = set()
    for row in rows:
        key = (row.subscription_id, row.charges_from_datetime, row.charges_to_datetime)
        if key in seen:
            continue
        seen.add(key)
        periods.append(
            UsagePeriod(
                subscription=row.subscription,
                invoice=row.invoice,
                charges_from_datetime=row.charges_from_datetime,
                charges_to_datetime=row.charges_to_datetime,
            )
        )
        if periods_count is not None and len(periods) >= periods_count:
            break
    return periods


def attach_fees(
    periods: list[UsagePeriod], *, external_subscription_id: str, metric: BillableMetric | None = None
) -> list[UsagePeriod]:
    """Load the charge fees of the given periods (two queries): the fees of their invoices, and the instant
    fees of events inside their windows."""
    if not periods:
        return periods
    charge_fees = (
        Fee.objects.filter(fee_type=FeeType.CHARGE, deleted_at__isnull=True)
        .select_related("charge__billable_metric", "charge_filter")
        .prefetch_related("charge__filters")
        .order_by("charge__position", "charge__created_at", "created_at", "id")
    )
    if metric is not None:
        charge_fees = charge_fees.filter(charge__billable_metric=metric)
    by_invoice: dict = {}
    for fee in charge_fees.filter(
        invoice_id__in={p.invoice.pk for p in periods}, subscription__external_id=external_subscription_id
    ):
        by_invoice.setdefault(fee.invoice_id, []).append(fee)
    earliest = min(p.charges_from_datetime for p in periods)
    latest = max(p.charges_to_datetime for p in periods)
    instant = charge_fees.filter(
        Q(subscription_id__in={p.subscription.pk for p in periods})
        & Q(pay_in_advance=True, event_transaction_id__isnull=False)
        & Q(invoice__status=InvoiceStatus.FINALIZED, invoice__invoice_type=InvoiceType.SUBSCRIPTION)
        & Q(properties__timestamp__gte=_iso(earliest), properties__timestamp__lte=_iso(latest))
    ).exclude(invoice_id__in={p.invoice.pk for p in periods})
    instant_fees = list(instant)
    for period in periods:
        window = (_iso(period.charges_from_datetime), _iso(period.charges_to_datetime))
        period.fees = list(by_invoice.get(period.invoice.pk, []))
        period.fees += [
            fee
            for fee in instant_fees
            if fee.subscription_id == period.subscription.pk
            and window[0] <= str((fee.properties or {}).get("timestamp", "")) <= window[1]
        ]
    return periods


def customer_past_usage(
    *,
    organization,
    external_customer_id: str,
    external_subscription_id: str | None,
    billable_metric_code: str | None = None,
    periods_count: int | None = None,
) -> tuple[BillableMetric | None, list[UsagePeriod]]:
    """GET /customers/{id}/past_usage: the metric filter and the billed periods, without their fees
    (`attach_fees` loads them for the page shown).
    404 customer_not_found, 422 `{"external_subscription_id": ["value_is_mandatory"]}`, 404
    billable_metric_not_found for an unknown metric code."""
    customer = Customer.objects.filter(
        organization=organization, external_id=external_customer_id, deleted_at__isnull=True
    ).first()
    if customer is None:
        raise errors.NotFound("customer")
    if not external_subscription_id or not str(external_subscription_id).strip():
        raise errors.ValidationFailed({"external_subscription_id": ["value_is_mandatory"]})
    metric = None
    if billable_metric_code:
        metric = BillableMetric.objects.filter(
            organization=organization, code=billable_metric_code, deleted_at__isnull=True
        ).first()
        if metric is None:
            raise errors.NotFound("billable_metric")
    periods = billed_periods(
        organization,
        customer=customer,
        external_subscription_id=str(external_subscription_id),
        periods_count=periods_count,
    )
    return metric, periods
