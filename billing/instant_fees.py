"""Instant fees of pay-in-advance charges (billing-semantics §3.10, §3.11, §6.1): every stored event that matches
a pay-in-advance charge of the subscription active at its timestamp (§1) is billed on its own, right after
ingestion.

* The amount is `billing.usage.price_instant_event` — the same computation as `POST /events/estimate_fees`:
  model(period-to-date usage including the event) − model(excluding it), in the filter bucket and pricing group
  the event matches, the events before it counted in (timestamp, id) order (same-second ties in ingestion order).
* `invoiceable: true` → one finalized `subscription` invoice per event and charge (invoicing reason
  `in_advance_charge`, no grace period; coupons and credit notes apply through `billing.services.invoices`).
* `invoiceable: false` → a standalone fee (no invoice), its taxes computed and stored.
* Events lacking the metric's field (sum and unique count; for sum also a non-numeric value) create no fee; a fee
  of 0 is still created otherwise (Lago does).
* Exactly once per event and charge: the `instant_fee_once_per_event` unique constraint on fees (subscription,
  charge, charge filter, event transaction id). A rerun of the task, or two workers on one event, create one fee;
  the loser's savepoint (its invoice included) is rolled back.

Ingestion stays fast: `queue_instant_fees` runs one query to keep only the events whose subscription's plan has a
live pay-in-advance charge on their code, and queues the work after the commit (the Celery task
`billing.create_instant_fees`).

Recurring pay-in-advance renewals (§2.2) are not here: they are fee lines of the periodic invoice
(`billing.invoice_fees.recurring_advance_charge_drafts`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from django.db import IntegrityError, transaction

from billing.invoice_fees import fee_taxes, plan_charges
from billing.models import Subscription
from billing.periods import BillingPeriod, local_date
from billing.services import invoices as billing_invoices
from billing.usage import (
    EstimatedFee,
    event_value,
    history_start,
    price_instant_event,
    subscription_period,
)
from catalog.models import Charge
from config import clock
from config.money import round_cents, subunit_to_unit
from invoicing.models import AppliedTax, Fee, FeeType, InvoiceType, InvoicingReason
from invoicing.services import FeeDraft, SubscriptionPeriod
from metering.aggregation import Window
from metering.models import Event

INSTANT_AGGREGATIONS = ("count_agg", "sum_agg", "unique_count_agg")
ONCE_CONSTRAINT = "instant_fee_once_per_event"
_MICROSECOND = dt.timedelta(microseconds=1)
_HUNDRED = Decimal(100)


# --------------------------------------------------------------------------------------------------------------
# After ingestion: which events, queued after the commit
# --------------------------------------------------------------------------------------------------------------


def events_to_bill(*, organization, events: Iterable) -> list[tuple[int, str]]:
    """(event id, subscription id) of the ingested events whose subscription's plan has a live pay-in-advance
    charge on the event's code: one query, none at all when no event was attributed to a subscription.

    `events` are the stored `metering.ingest.EventInput`s (or anything with `id`, `code` and
    `lago_subscription_id`)."""
    attributed = [e for e in events if getattr(e, "lago_subscription_id", None) is not None]
    if not attributed:
        return []
    matching = set(
        Charge.objects.filter(
            organization=organization,
            pay_in_advance=True,
            deleted_at__isnull=True,
            billable_metric__deleted_at__isnull=True,
            billable_metric__code__in={e.code for e in attributed},
            plan__subscriptions__id__in={e.lago_subscription_id for e in attributed},
        ).values_list("plan__subscriptions__id", "billable_metric__code")
    )
    return [
        (int(e.id), str(e.lago_subscription_id))
        for e in attributed
        if (e.lago_subscription_id, e.code) in matching
    ]


def queue_instant_fees(*, organization, events: Iterable) -> int:
    """Queue the instant fees of freshly ingested events (after the commit: the task reads the stored events).
    Returns how many events were queued."""
    pending = events_to_bill(organization=organization, events=events)
    if pending:
        organization_id = str(organization.pk)
        transaction.on_commit(lambda: _enqueue(organization_id, pending))
    return len(pending)


def _enqueue(organization_id: str, pending: list[tuple[int, str]]) -> None:
    from billing.tasks import create_instant_fees as task  # the task module imports this one

    task.delay(organization_id, [[event_id, subscription_id] for event_id, subscription_id in pending])


# --------------------------------------------------------------------------------------------------------------
# The instant fees
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class InstantFee:
    """What one event created on one charge: the fee, and its invoice when the charge is invoiceable."""

    fee: Fee
    invoice: object | None


def create_instant_fees(*, organization, items: Sequence[Sequence]) -> list[InstantFee]:
    """Bill each (event id, subscription id) on every pay-in-advance charge of the subscription's plan on the
    event's code, events in (timestamp, id) order, each event and charge in its own savepoint. Events or
    subscriptions of another organization are ignored; an event and charge billed already are skipped."""
    wanted = {int(event_id): str(subscription_id) for event_id, subscription_id in items}
    if not wanted:
        return []
    subscriptions = {
        str(s.pk): s
        for s in Subscription.objects.filter(organization=organization, pk__in=set(wanted.values()))
        .select_related("plan", "plan__parent", "customer", "organization")
        .prefetch_related("plan__taxes", "customer__taxes")
    }
    events = Event.objects.filter(organization=organization, id__in=list(wanted)).order_by("timestamp", "id")
    created: list[InstantFee] = []
    for event in events:
        subscription = subscriptions.get(wanted[event.id])
        if subscription is None or subscription.external_id != event.external_subscription_id:
            continue
        for charge in instant_charges(subscription, event.code):
            result = create_instant_fee(event=event, subscription=subscription, charge=charge)
            if result is not None:
                created.append(result)
    return created


def instant_charges(subscription: Subscription, code: str) -> list[Charge]:
    return [
        charge
        for charge in plan_charges(subscription.plan)
        if charge.pay_in_advance and charge.billable_metric.code == code
    ]


def _event_priced(event: Event, subscription: Subscription, charge: Charge) -> EstimatedFee | None:
    """The instant fee of a stored event on one charge, or None when the event creates none (§3.10)."""
    metric = charge.billable_metric
    if metric.aggregation_type not in INSTANT_AGGREGATIONS or metric.deleted_at is not None:
        return None
    properties = event.properties if isinstance(event.properties, dict) else {}
    value = event_value(metric, properties)
    if metric.aggregation_type == "sum_agg" and value is None:
        return None  # the field is missing (or not a number): no fee
    if metric.aggregation_type == "unique_count_agg":
        if properties.get(metric.field_name) is None:
            return None
        if (properties.get("operation_type") or "add") not in ("add", "remove"):
            return None
    period = subscription_period(subscription, at=max(event.timestamp, subscription.started_at))
    window = Window(
        external_subscription_id=subscription.external_id,
        from_datetime=period.charges_from_datetime,
        until=event.timestamp + _MICROSECOND,
        history_from=history_start(subscription) if metric.recurring else None,
        full_period_days=period.charges_full_period_days,
    )
    return price_instant_event(
        subscription=subscription,
        charge=charge,
        period=period,
        window=window,
        properties=properties,
        value=value,
        precise_amount=event.precise_total_amount_cents,
        timestamp=event.timestamp,
        taxes=None,  # the fee's own taxes: applicable_taxes_for_fee (instant_fee_draft)
        transaction_id=event.transaction_id,
        before_event=(event.timestamp, event.id),
    )


def instant_fee_draft(
    priced: EstimatedFee, *, subscription: Subscription, charge: Charge, timestamp: dt.datetime
) -> FeeDraft:
    """The fee line of an instant fee. `properties.timestamp` (the event's) is what the commitment true-up reads
    (billing.invoice_fees.already_billed_for_window)."""
    currency = priced.currency
    subunit = subunit_to_unit(currency)
    plan = subscription.plan
    charge_filter = priced.charge_filter
    period = priced.period
    return FeeDraft(
        fee_type=FeeType.CHARGE,
        amount_cents=priced.amount_cents,
        precise_amount_cents=priced.priced.amount * subunit,
        units=priced.priced.units,
        total_aggregated_units=priced.total_aggregated_units,
        events_count=1,
        unit_amount_cents=round_cents(priced.priced.unit_amount * subunit),
        precise_unit_amount=priced.priced.unit_amount,
        amount_details=priced.priced.details or {},
        subscription=subscription,
        charge=charge,
        charge_filter=charge_filter,
        grouped_by=priced.grouped_by or {},
        invoice_display_name=(charge_filter.invoice_display_name if charge_filter is not None else None)
        or charge.invoice_display_name,
        pay_in_advance=True,
        invoiceable=charge.invoiceable,
        properties={
            "timestamp": timestamp,
            "charges_from_datetime": period.charges_from_datetime,
            "charges_to_datetime": period.charges_to_datetime,
        },
        taxes=fee_taxes(subscription, FeeType.CHARGE, charge=charge),
        billable_metric_code=charge.billable_metric.code,
        plan_code=plan.code,
        parent_plan_code=plan.parent.code if plan.parent_id else None,
        event_transaction_id=priced.transaction_id,
    )


def create_instant_fee(*, event: Event, subscription: Subscription, charge: Charge) -> InstantFee | None:
    """The instant fee of one stored event on one pay-in-advance charge: an instant invoice (invoiceable) or a
    standalone fee. None when the event creates no fee or was billed on this charge already."""
    priced = _event_priced(event, subscription, charge)
    if priced is None:
        return None
    draft = instant_fee_draft(priced, subscription=subscription, charge=charge, timestamp=event.timestamp)
    try:
        with transaction.atomic():
            if charge.invoiceable:
                return _bill_on_invoice(draft, subscription=subscription, period=priced.period, event=event)
            return InstantFee(fee=store_standalone_fee(draft, subscription=subscription), invoice=None)
    except IntegrityError as exc:
        if ONCE_CONSTRAINT in str(exc):
            return None  # billed already (a rerun, or another worker)
        raise


def _bill_on_invoice(
    draft: FeeDraft, *, subscription: Subscription, period: BillingPeriod, event: Event
) -> InstantFee:
    customer = subscription.customer
    organization = subscription.organization
    today = local_date(clock.now(organization), customer.applicable_timezone)
    result = billing_invoices.create_invoice(
        organization=organization,
        customer=customer,
        invoice_type=InvoiceType.SUBSCRIPTION,
        currency=subscription.plan.amount_currency,
        fees=[draft],
        issuing_date=today,
        subscription_periods=[
            SubscriptionPeriod(
                subscription=subscription,
                invoicing_reason=InvoicingReason.IN_ADVANCE_CHARGE,
                timestamp=event.timestamp,
                from_datetime=period.from_datetime,
                to_datetime=period.to_datetime,
                charges_from_datetime=period.charges_from_datetime,
                charges_to_datetime=period.charges_to_datetime,
            )
        ],
        finalize=True,
        skip_zero_fees=False,
    )
    fee = Fee.objects.get(invoice=result.invoice)
    return InstantFee(fee=fee, invoice=result.invoice)


def store_standalone_fee(draft: FeeDraft, *, subscription: Subscription) -> Fee:
    """A fee without an invoice (non-invoiceable pay-in-advance charge), with its taxes (§6.3, no coupon):
    per tax `amount × rate / 100`, the fee's tax amount the rounded sum."""
    currency = subscription.plan.amount_currency
    amount = Decimal(draft.amount_cents)
    per_tax = [(tax, amount * Decimal(str(tax.rate)) / _HUNDRED) for tax in draft.taxes]
    precise_taxes = sum((value for _, value in per_tax), Decimal(0))
    fee = Fee.objects.create(
        organization_id=subscription.organization_id,
        invoice=None,
        customer_id=subscription.customer_id,
        subscription=subscription,
        fee_type=draft.fee_type,
        charge=draft.charge,
        charge_filter=draft.charge_filter,
        grouped_by=draft.grouped_by,
        invoice_display_name=draft.invoice_display_name,
        amount_cents=draft.amount_cents,
        precise_amount_cents=draft.precise_amount_cents,
        amount_currency=currency,
        unit_amount_cents=draft.unit_amount_cents,
        precise_unit_amount=draft.precise_unit_amount,
        units=draft.units,
        total_aggregated_units=draft.total_aggregated_units,
        events_count=draft.events_count,
        amount_details=draft.amount_details,
        taxes_amount_cents=round_cents(precise_taxes),
        taxes_precise_amount_cents=precise_taxes.quantize(Decimal("0.00001")),
        taxes_rate=sum((Decimal(str(tax.rate)) for tax in draft.taxes), Decimal(0)),
        pay_in_advance=draft.pay_in_advance,
        invoiceable=False,
        event_transaction_id=draft.event_transaction_id,
        properties=draft.properties,
    )
    AppliedTax.objects.bulk_create(
        [
            AppliedTax(
                organization_id=subscription.organization_id,
                fee=fee,
                tax=tax,
                tax_code=tax.code,
                tax_name=tax.name,
                tax_description=tax.description,
                tax_rate=tax.rate,
                amount_cents=round_cents(value),
                precise_amount_cents=value.quantize(Decimal("0.00001")),
                amount_currency=currency,
                taxable_base_amount_cents=draft.amount_cents,
            )
            for tax, value in per_tax
        ]
    )
    return fee
