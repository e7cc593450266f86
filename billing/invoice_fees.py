"""The fee lines of one subscription invoice (billing-semantics §3.9, §4, §5): base fee, charges per filter and
group, charge-minimum true-ups, fixed charges and the minimum-commitment true-up.

Everything here reads (events, plans, earlier fees) and returns `FeeDraft`s; `billing.runs` turns them into
invoices. `invoice_preview` and current usage use the same functions, so what a preview shows is what a run bills.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Min, Prefetch, Sum

from billing.models import Subscription
from billing.periods import BillingPeriod, resolve_timezone, trial_end_datetime
from billing.proration import (
    base_fee_for_billing_period,
    charge_minimum_true_up_cents,
    commitment_true_up_cents,
)
from catalog.charge_models import ChargeAmount, compute_charge_amount, fixed_charge_amount
from catalog.models import Charge, ChargeFilter, FixedCharge
from config.money import currency_exponent, fee_amount_cents, round_cents, subunit_to_unit
from invoicing.models import Fee, FeeType, InvoiceStatus
from invoicing.services.fee_drafts import FeeDraft, applicable_taxes_for_fee
from metering import aggregation
from metering.aggregation import BucketUsage, Window

ZERO = Decimal(0)
ONE_SECOND = dt.timedelta(seconds=1)


def iso(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --------------------------------------------------------------------------------------------------------------
# Look-ups
# --------------------------------------------------------------------------------------------------------------


def subscription_timezone(subscription: Subscription):
    return resolve_timezone(subscription.customer.timezone, subscription.organization.timezone)


def first_started_at(subscription: Subscription) -> dt.datetime | None:
    """First start of the external id (upgrades and downgrades share it): trials and recurring metrics count
    from there. Cached on the instance for the duration of one computation."""
    if not hasattr(subscription, "_first_started_at"):
        subscription._first_started_at = Subscription.objects.filter(
            organization_id=subscription.organization_id,
            external_id=subscription.external_id,
            started_at__isnull=False,
        ).aggregate(first=Min("started_at"))["first"]
    return subscription._first_started_at


def trial_end(subscription: Subscription) -> dt.datetime | None:
    days = subscription.plan.trial_period
    if not days:
        return None
    start = first_started_at(subscription) or subscription.started_at
    return trial_end_datetime(start, Decimal(days)) if start else None


def plan_charges(plan) -> list[Charge]:
    """The plan's live charges with what pricing needs, loaded once per plan instance (a billing run shares
    one instance between the subscriptions of a plan)."""
    if not hasattr(plan, "_live_charges"):
        plan._live_charges = _load_charges(plan)
    return plan._live_charges


def _load_charges(plan) -> list[Charge]:
    return list(
        Charge.objects.filter(plan=plan, deleted_at__isnull=True)
        .select_related("billable_metric")
        .prefetch_related(
            "billable_metric__filters",
            "taxes",
            Prefetch("filters", queryset=ChargeFilter.objects.filter(deleted_at__isnull=True)),
        )
        .order_by("position", "created_at")
    )


def plan_fixed_charges(plan) -> list[FixedCharge]:
    if not hasattr(plan, "_live_fixed_charges"):
        plan._live_fixed_charges = list(
            FixedCharge.objects.filter(plan=plan, deleted_at__isnull=True)
            .select_related("add_on")
            .prefetch_related("taxes")
            .order_by("created_at")
        )
    return plan._live_fixed_charges


def fee_taxes(subscription: Subscription, fee_type: str, **sources) -> list:
    """§6.3 taxes of one fee of this subscription, resolved once per (fee type, source) for the instance."""
    cache = subscription.__dict__.setdefault("_fee_taxes", {})
    key = (fee_type, *sorted((name, getattr(value, "pk", None)) for name, value in sources.items()))
    if key not in cache:
        cache[key] = applicable_taxes_for_fee(
            fee_type=fee_type, customer=subscription.customer, plan=subscription.plan, **sources
        )
    return cache[key]


def _plan_codes(plan) -> tuple[str, str | None]:
    parent = plan.parent
    return plan.code, parent.code if parent is not None else None


# --------------------------------------------------------------------------------------------------------------
# Base fee
# --------------------------------------------------------------------------------------------------------------


def base_fee_draft(
    subscription: Subscription, period: BillingPeriod, *, ended_by_upgrade: bool = False
) -> FeeDraft | None:
    """The plan's base fee for `period.from_datetime` → `period.to_datetime`, prorated (§5) and free during a
    trial (§4.3)."""
    plan = subscription.plan
    prorated = base_fee_for_billing_period(
        amount_cents=plan.amount_cents,
        period=period,
        ended_by_upgrade=ended_by_upgrade,
        trial_end=trial_end(subscription),
    )
    plan_code, parent_code = _plan_codes(plan)
    return FeeDraft(
        fee_type=FeeType.SUBSCRIPTION,
        amount_cents=prorated.amount_cents,
        precise_amount_cents=prorated.precise_amount_cents,
        units=Decimal(1),
        total_aggregated_units=Decimal(1),
        events_count=None,
        unit_amount_cents=prorated.amount_cents,
        precise_unit_amount=Decimal(prorated.amount_cents) / subunit_to_unit(plan.amount_currency),
        amount_details={"plan_amount_cents": plan.amount_cents},
        subscription=subscription,
        invoice_display_name=plan.invoice_display_name,
        pay_in_advance=plan.pay_in_advance,
        properties={
            "from_datetime": iso(period.from_datetime),
            "to_datetime": iso(period.to_datetime),
            "days": prorated.days,
            "full_period_days": prorated.full_period_days,
        },
        taxes=fee_taxes(subscription, FeeType.SUBSCRIPTION),
        plan_code=plan_code,
        parent_plan_code=parent_code,
    )


# --------------------------------------------------------------------------------------------------------------
# Charges
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PricedBucket:
    """One bucket (filter or default) and pricing group of a charge, priced and rounded once."""

    charge: Charge
    usage: BucketUsage
    priced: ChargeAmount
    amount_cents: int


def usage_window(subscription: Subscription, period: BillingPeriod, *, recurring: bool) -> Window:
    return Window(
        external_subscription_id=subscription.external_id,
        from_datetime=period.charges_from_datetime,
        until=period.charges_until,
        history_from=first_started_at(subscription) if recurring else None,
        full_period_days=period.charges_full_period_days,
    )


def price_charge(subscription: Subscription, charge: Charge, period: BillingPeriod) -> list[PricedBucket]:
    """Aggregate the charge's events over the period (one query) and price every bucket and group."""
    currency = subscription.plan.amount_currency
    window = usage_window(subscription, period, recurring=charge.billable_metric.recurring)
    priced = []
    for usage in aggregation.aggregate_charge(charge=charge, window=window):
        amount = compute_charge_amount(
            charge.charge_model,
            usage.bucket.properties,
            usage.charge_usage(),
            currency_exponent=currency_exponent(currency),
        )
        priced.append(PricedBucket(charge, usage, amount, fee_amount_cents(amount.amount, currency)))
    return priced


def charge_fee_drafts(
    subscription: Subscription,
    period: BillingPeriod,
    *,
    ended_by_upgrade: bool = False,
    charges: Sequence[Charge] | None = None,
) -> list[FeeDraft]:
    """In-arrears charge fees of the period, with each charge's minimum true-up (§3.9)."""
    plan = subscription.plan
    currency = plan.amount_currency
    plan_code, parent_code = _plan_codes(plan)
    drafts: list[FeeDraft] = []
    for charge in charges if charges is not None else plan_charges(plan):
        if charge.pay_in_advance or not charge.invoiceable:
            continue  # billed event by event (billing.instant_fees)
        taxes = fee_taxes(subscription, FeeType.CHARGE, charge=charge)
        first_index = len(drafts)
        total_cents = 0
        for bucket in price_charge(subscription, charge, period):
            usage = bucket.usage
            total_cents += bucket.amount_cents
            drafts.append(
                FeeDraft(
                    fee_type=FeeType.CHARGE,
                    amount_cents=bucket.amount_cents,
                    precise_amount_cents=bucket.priced.amount * subunit_to_unit(currency),
                    units=usage.units,
                    total_aggregated_units=usage.total_aggregated_units,
                    events_count=usage.events_count,
                    unit_amount_cents=round_cents(bucket.priced.unit_amount * subunit_to_unit(currency)),
                    precise_unit_amount=bucket.priced.unit_amount,
                    amount_details=bucket.priced.details,
                    subscription=subscription,
                    charge=charge,
                    charge_filter=usage.charge_filter,
                    grouped_by=usage.grouped_by or {},
                    invoice_display_name=(
                        usage.charge_filter.invoice_display_name if usage.charge_filter else None
                    )
                    or charge.invoice_display_name,
                    properties={
                        "charges_from_datetime": iso(period.charges_from_datetime),
                        "charges_to_datetime": iso(period.charges_to_datetime),
                    },
                    taxes=taxes,
                    billable_metric_code=charge.billable_metric.code,
                    plan_code=plan_code,
                    parent_plan_code=parent_code,
                )
            )
        if charge.min_amount_cents:
            true_up = charge_minimum_true_up_cents(
                min_amount_cents=charge.min_amount_cents,
                fees_amount_cents=total_cents,
                days=period.charges_days(ended_by_upgrade=ended_by_upgrade),
                charges_full_period_days=period.charges_full_period_days,
            )
            if true_up > 0:
                drafts.append(
                    FeeDraft(
                        fee_type=FeeType.CHARGE,
                        amount_cents=true_up,
                        units=Decimal(1),
                        events_count=0,
                        unit_amount_cents=true_up,
                        precise_unit_amount=Decimal(true_up) / subunit_to_unit(currency),
                        subscription=subscription,
                        charge=charge,
                        invoice_display_name=charge.invoice_display_name,
                        properties={
                            "charges_from_datetime": iso(period.charges_from_datetime),
                            "charges_to_datetime": iso(period.charges_to_datetime),
                            "true_up": True,
                        },
                        true_up_parent_index=first_index if len(drafts) > first_index else None,
                        taxes=taxes,
                        billable_metric_code=charge.billable_metric.code,
                        plan_code=plan_code,
                        parent_plan_code=parent_code,
                    )
                )
    return drafts


# --------------------------------------------------------------------------------------------------------------
# Recurring pay-in-advance renewals (§2.2, §3.11) — billing.instant_fees bills the events themselves
# --------------------------------------------------------------------------------------------------------------


def upcoming_charges_period(subscription: Subscription, billing_instant: dt.datetime) -> BillingPeriod:
    """The usage period that starts on the billing day (its `charges_from/to_datetime`)."""
    from billing.periods import current_billing_period

    return current_billing_period(
        instant=billing_instant,
        started_at=subscription.started_at,
        terminated_at=None,
        bill_charges_monthly=bool(subscription.plan.bill_charges_monthly),
        **_period_kwargs(subscription),
    )


def recurring_advance_charge_drafts(
    subscription: Subscription, upcoming_period: BillingPeriod
) -> list[FeeDraft]:
    """Renewal of the recurring, pay-in-advance, invoiceable charges: the units carried into `upcoming_period`
    (every event of the external id before its `charges_from_datetime`) billed again at full price, never
    prorated, one line per filter bucket and pricing group (zero lines are dropped by create_invoice). None when
    the subscription ended before the period starts (a termination bills no renewal).

    The lines cover the upcoming period (`charges_from/to_datetime`) and carry `timestamp` = its start, so the
    next commitment true-up counts them (already_billed_for_window), not this invoice's."""
    start = upcoming_period.charges_from_datetime
    if subscription.terminated_at is not None and subscription.terminated_at <= start:
        return []
    plan = subscription.plan
    currency = plan.amount_currency
    plan_code, parent_code = _plan_codes(plan)
    window = Window(
        external_subscription_id=subscription.external_id,
        from_datetime=start,
        until=start,
        history_from=first_started_at(subscription),
        full_period_days=upcoming_period.charges_full_period_days,
    )
    drafts: list[FeeDraft] = []
    for charge in plan_charges(plan):
        metric = charge.billable_metric
        if not (charge.pay_in_advance and charge.invoiceable and metric.recurring):
            continue
        for usage in aggregation.aggregate_charge(charge=charge, window=window):
            priced = compute_charge_amount(
                charge.charge_model,
                usage.bucket.properties,
                usage.charge_usage(),
                currency_exponent=currency_exponent(currency),
            )
            drafts.append(
                FeeDraft(
                    fee_type=FeeType.CHARGE,
                    amount_cents=fee_amount_cents(priced.amount, currency),
                    precise_amount_cents=priced.amount * subunit_to_unit(currency),
                    units=usage.units,
                    total_aggregated_units=usage.total_aggregated_units,
                    events_count=0,
                    unit_amount_cents=round_cents(priced.unit_amount * subunit_to_unit(currency)),
                    precise_unit_amount=priced.unit_amount,
                    amount_details=priced.details,
                    subscription=subscription,
                    charge=charge,
                    charge_filter=usage.charge_filter,
                    grouped_by=usage.grouped_by or {},
                    invoice_display_name=(
                        usage.charge_filter.invoice_display_name if usage.charge_filter else None
                    )
                    or charge.invoice_display_name,
                    pay_in_advance=True,
                    properties={
                        "charges_from_datetime": iso(start),
                        "charges_to_datetime": iso(upcoming_period.charges_to_datetime),
                        "timestamp": iso(start),
                    },
                    taxes=fee_taxes(subscription, FeeType.CHARGE, charge=charge),
                    billable_metric_code=metric.code,
                    plan_code=plan_code,
                    parent_plan_code=parent_code,
                )
            )
    return drafts


# --------------------------------------------------------------------------------------------------------------
# Fixed charges (§4.8: plan-level units; per-subscription unit timelines are not modelled yet)
# --------------------------------------------------------------------------------------------------------------


def fixed_charge_fee_drafts(
    subscription: Subscription,
    *,
    from_datetime: dt.datetime,
    to_datetime: dt.datetime,
    full_period_days: int,
    days: int,
    pay_in_advance: bool,
) -> list[FeeDraft]:
    """Fixed-charge fees of one window: in advance (upcoming window) or in arrears (elapsed window)."""
    plan = subscription.plan
    currency = plan.amount_currency
    plan_code, parent_code = _plan_codes(plan)
    drafts = []
    for fixed in plan_fixed_charges(plan):
        if fixed.pay_in_advance != pay_in_advance:
            continue
        units = Decimal(fixed.units)
        weighted = None
        if fixed.prorated and days < full_period_days:
            weighted = units * Decimal(days) / Decimal(full_period_days)
        amount = fixed_charge_amount(
            fixed.charge_model, fixed.properties or {}, units=units, weighted_units=weighted
        )
        amount_cents = fee_amount_cents(amount.amount, currency)
        drafts.append(
            FeeDraft(
                fee_type=FeeType.FIXED_CHARGE,
                amount_cents=amount_cents,
                precise_amount_cents=amount.amount * subunit_to_unit(currency),
                units=units,
                total_aggregated_units=units,
                unit_amount_cents=round_cents(amount.unit_amount * subunit_to_unit(currency)),
                precise_unit_amount=amount.unit_amount,
                amount_details=amount.details,
                subscription=subscription,
                fixed_charge=fixed,
                add_on=fixed.add_on,
                invoice_display_name=fixed.invoice_display_name or fixed.add_on.invoice_display_name,
                pay_in_advance=fixed.pay_in_advance,
                properties={
                    "fixed_charges_from_datetime": iso(from_datetime),
                    "fixed_charges_to_datetime": iso(to_datetime),
                },
                taxes=fee_taxes(subscription, FeeType.FIXED_CHARGE, fixed_charge=fixed),
                plan_code=plan_code,
                parent_plan_code=parent_code,
            )
        )
    return drafts


# --------------------------------------------------------------------------------------------------------------
# Minimum commitment (§4.7)
# --------------------------------------------------------------------------------------------------------------


def commitment_fee_draft(
    subscription: Subscription,
    *,
    from_datetime: dt.datetime,
    to_datetime: dt.datetime,
    days: int,
    full_period_days: int,
    drafts: Sequence[FeeDraft],
) -> FeeDraft | None:
    """True-up to the plan's minimum commitment for the commitment period [from, to]: the fees billed for it
    (these drafts plus fees already invoiced for it: an in-advance base fee, instant charge fees)."""
    plan = subscription.plan
    commitment = getattr(plan, "minimum_commitment", None)
    if commitment is None or not commitment.amount_cents:
        return None
    window = (iso(from_datetime), iso(to_datetime))
    billed = sum(d.amount_cents for d in drafts if d.subscription == subscription and _within(d, window))
    billed += already_billed_for_window(subscription, from_datetime=from_datetime, to_datetime=to_datetime)
    true_up = commitment_true_up_cents(
        commitment_amount_cents=commitment.amount_cents,
        fees_amount_cents=billed,
        days=days,
        full_period_days=full_period_days,
    )
    if true_up <= 0:
        return None
    plan_code, parent_code = _plan_codes(plan)
    return FeeDraft(
        fee_type=FeeType.COMMITMENT,
        amount_cents=true_up,
        units=Decimal(1),
        unit_amount_cents=true_up,
        precise_unit_amount=Decimal(true_up) / subunit_to_unit(plan.amount_currency),
        subscription=subscription,
        invoice_display_name=commitment.invoice_display_name,
        properties={"from_datetime": iso(from_datetime), "to_datetime": iso(to_datetime)},
        taxes=fee_taxes(subscription, FeeType.COMMITMENT, commitment=commitment),
        plan_code=plan_code,
        parent_plan_code=parent_code,
    )


_WINDOW_KEYS = (
    ("from_datetime", "to_datetime"),
    ("charges_from_datetime", "charges_to_datetime"),
    ("fixed_charges_from_datetime", "fixed_charges_to_datetime"),
)


def _within(draft: FeeDraft, window: tuple[str, str]) -> bool:
    """Whether a draft covers a span inside the window (an in-advance base fee for the next period does not)."""
    for start_key, end_key in _WINDOW_KEYS:
        if start_key in draft.properties:
            return window[0] <= draft.properties[start_key] and draft.properties[end_key] <= window[1]
    return False


def already_billed_for_window(
    subscription: Subscription, *, from_datetime: dt.datetime, to_datetime: dt.datetime
) -> int:
    """Fees of this subscription on earlier (non-voided) invoices that cover the window: an in-advance base fee
    billed at the window's start, and instant pay-in-advance charge fees of events inside it."""
    fees = Fee.objects.filter(subscription=subscription, deleted_at__isnull=True).exclude(
        invoice__status=InvoiceStatus.VOIDED
    )
    base = fees.filter(
        fee_type=FeeType.SUBSCRIPTION,
        properties__from_datetime__gte=iso(from_datetime),
        properties__to_datetime__lte=iso(to_datetime),
    ).aggregate(total=Sum("amount_cents"))["total"]
    instant = fees.filter(
        fee_type=FeeType.CHARGE,
        pay_in_advance=True,
        properties__timestamp__gte=iso(from_datetime),
        properties__timestamp__lte=iso(to_datetime),
    ).aggregate(total=Sum("amount_cents"))["total"]
    return int(base or 0) + int(instant or 0)


def subscription_fee_drafts(
    subscription: Subscription,
    *,
    base_period: BillingPeriod | None,
    charges_period: BillingPeriod | None,
    ended_by_upgrade: bool = False,
    fixed_in_advance_period: BillingPeriod | None = None,
    fixed_in_arrears_period: BillingPeriod | None = None,
    commitment_period: BillingPeriod | None = None,
) -> list[FeeDraft]:
    """All fee lines of one subscription for one invoice, in Lago's order."""
    drafts: list[FeeDraft] = []
    if base_period is not None:
        base = base_fee_draft(subscription, base_period, ended_by_upgrade=ended_by_upgrade)
        if base is not None:
            drafts.append(base)
    if charges_period is not None:
        drafts.extend(charge_fee_drafts(subscription, charges_period, ended_by_upgrade=ended_by_upgrade))
    for period, in_advance in ((fixed_in_advance_period, True), (fixed_in_arrears_period, False)):
        if period is None:
            continue
        drafts.extend(
            fixed_charge_fee_drafts(
                subscription,
                from_datetime=period.from_datetime,
                to_datetime=period.to_datetime,
                full_period_days=period.full_period_days,
                days=period.base_fee_days(ended_by_upgrade=ended_by_upgrade and not in_advance),
                pay_in_advance=in_advance,
            )
        )
    if commitment_period is not None:
        commitment = commitment_fee_draft(
            subscription,
            from_datetime=commitment_period.from_datetime,
            to_datetime=commitment_period.to_datetime,
            days=commitment_period.base_fee_days(ended_by_upgrade=ended_by_upgrade),
            full_period_days=commitment_period.full_period_days,
            drafts=drafts,
        )
        if commitment is not None:
            drafts.append(commitment)
    return drafts


# --------------------------------------------------------------------------------------------------------------
# Invoice scopes: what one (subscription, invoicing reason, billing instant) bills
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class InvoiceScope:
    """One subscription's part of one invoice, and the fee lines it bills."""

    subscription: Subscription
    invoicing_reason: str
    timestamp: dt.datetime
    base_period: BillingPeriod | None
    charges_period: BillingPeriod | None
    drafts: tuple[FeeDraft, ...]

    @property
    def billing_date(self) -> dt.date:
        return self.timestamp.astimezone(subscription_timezone(self.subscription)).date()


def _period_kwargs(subscription: Subscription) -> dict:
    plan = subscription.plan
    return {
        "interval": plan.interval,
        "billing_time": subscription.billing_time,
        "subscription_at": subscription.subscription_at,
        "timezone": subscription_timezone(subscription),
    }


def ended_by_upgrade(subscription: Subscription) -> bool:
    """The upgrade day belongs to the new plan (§5): the next subscription started the instant this one ended."""
    successor = getattr(subscription, "next_subscription", None) if subscription.terminated_at else None
    return successor is not None and successor.started_at == subscription.terminated_at


def starting_scope(subscription: Subscription) -> InvoiceScope | None:
    """The invoice at the start (or trial end) of a pay-in-advance plan: the first period's base fee (calendar:
    prorated; anniversary: full) and the in-advance fixed charges (§4.2, §4.3, §4.8)."""
    from billing.periods import current_billing_period

    plan = subscription.plan
    if subscription.started_at is None:
        return None
    kwargs = _period_kwargs(subscription)
    timestamp = subscription.started_at
    trial = trial_end(subscription) if plan.pay_in_advance else None
    if trial is not None and trial > timestamp:
        timestamp = trial
    if subscription.terminated_at is not None and timestamp > subscription.terminated_at:
        return None
    period = current_billing_period(
        instant=timestamp,
        started_at=subscription.started_at,
        terminated_at=None,
        bill_charges_monthly=bool(plan.bill_charges_monthly),
        **kwargs,
    )
    if trial is not None and trial > period.to_datetime:
        return None  # the trial outlasts the first period: the first periodic invoice bills what is due
    drafts = []
    if plan.pay_in_advance:
        base = base_fee_draft(subscription, period)
        if base is not None:
            drafts.append(base)
    drafts.extend(
        fixed_charge_fee_drafts(
            subscription,
            from_datetime=period.from_datetime,
            to_datetime=period.to_datetime,
            full_period_days=period.full_period_days,
            days=period.base_fee_days(),
            pay_in_advance=True,
        )
    )
    if not drafts:
        return None
    return InvoiceScope(subscription, "subscription_starting", timestamp, period, None, tuple(drafts))


def periodic_scope(subscription: Subscription, billing_instant: dt.datetime) -> InvoiceScope | None:
    """The periodic invoice on a billing day (§4.1): charges (and in-arrears items) of the elapsed period, the
    in-advance base fee and fixed charges of the period that starts."""
    from billing.periods import billing_period_for_invoice, bills_base_fee_on

    plan = subscription.plan
    kwargs = _period_kwargs(subscription)
    common = {
        "billing_instant": billing_instant,
        "started_at": subscription.started_at,
        "terminated_at": subscription.terminated_at,
        "bill_charges_monthly": bool(plan.bill_charges_monthly),
        **kwargs,
    }
    try:
        elapsed = billing_period_for_invoice(plan_pay_in_advance=False, **common)
        upcoming = billing_period_for_invoice(plan_pay_in_advance=True, **common)
    except ValueError:
        return None
    base_day = bills_base_fee_on(
        billing_instant, **{k: kwargs[k] for k in ("interval", "billing_time", "subscription_at", "timezone")}
    )
    ends_here = subscription.terminated_at is not None and subscription.terminated_at < upcoming.from_datetime
    if not base_day:
        base_period = None  # a charges-only run of a yearly/semiannual plan billing charges monthly
    elif plan.pay_in_advance:
        base_period = None if ends_here else upcoming
    else:
        base_period = elapsed
    drafts = subscription_fee_drafts(
        subscription,
        base_period=base_period,
        charges_period=elapsed,
        fixed_in_advance_period=upcoming if base_day and not ends_here else None,
        fixed_in_arrears_period=elapsed if base_day else None,
        commitment_period=elapsed if base_day else None,
    )
    drafts += recurring_advance_charge_drafts(
        subscription, upcoming_charges_period(subscription, billing_instant)
    )
    base_period = upcoming if plan.pay_in_advance else elapsed
    return InvoiceScope(
        subscription, "subscription_periodic", billing_instant, base_period, elapsed, tuple(drafts)
    )


def terminating_scope(subscription: Subscription) -> InvoiceScope | None:
    """The final invoice of a terminated subscription (§4.5): in-arrears base fee prorated to the termination
    (one day less when ended by an upgrade), charges and in-arrears fixed charges up to it."""
    from billing.periods import current_billing_period

    terminated_at = subscription.terminated_at
    if (
        terminated_at is None
        or subscription.started_at is None
        or subscription.on_termination_invoice == "skip"
    ):
        return None
    plan = subscription.plan
    period = current_billing_period(
        instant=terminated_at,
        started_at=subscription.started_at,
        terminated_at=terminated_at,
        bill_charges_monthly=bool(plan.bill_charges_monthly),
        **_period_kwargs(subscription),
    )
    upgrade = ended_by_upgrade(subscription)
    drafts = subscription_fee_drafts(
        subscription,
        base_period=None if plan.pay_in_advance else period,
        charges_period=period,
        ended_by_upgrade=upgrade,
        fixed_in_arrears_period=period,
        commitment_period=period,
    )
    return InvoiceScope(
        subscription, "subscription_terminating", terminated_at, period, period, tuple(drafts)
    )


def scope_for(
    subscription: Subscription, invoicing_reason: str, timestamp: dt.datetime
) -> InvoiceScope | None:
    if invoicing_reason == "subscription_starting":
        return starting_scope(subscription)
    if invoicing_reason == "subscription_periodic":
        return periodic_scope(subscription, timestamp)
    if invoicing_reason == "subscription_terminating":
        return terminating_scope(subscription)
    return None


def recompute_fee_drafts(invoice) -> list[FeeDraft]:
    """Refresh hook of a draft invoice: the same scopes computed again (late events of the period land on it)."""
    drafts: list[FeeDraft] = []
    for row in invoice.invoice_subscriptions.select_related("subscription__plan", "subscription__customer"):
        scope = scope_for(row.subscription, row.invoicing_reason, row.timestamp)
        if scope is not None:
            drafts.extend(scope.drafts)
    return drafts
