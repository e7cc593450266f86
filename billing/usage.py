"""Current usage and instant-fee estimates (billing-semantics §9, §3.10): metering's units priced with catalog's
charge models, nothing persisted.

Current usage = the subscription's in-progress charges period (billing.periods, in the customer's applicable
timezone), charges only: every charge of the plan (pay-in-advance ones too, units = period total), one fee line
per filter bucket and pricing group, each rounded once with `config.money.fee_amount_cents`; taxes per fee on the
rounded amount (§6.3: charge taxes → plan taxes → customer taxes → organization default taxes), the usage's
`taxes_amount_cents` being the rounded Σ of the unrounded per-fee taxes.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import ROUND_CEILING, Decimal

from django.db.models import Min, Prefetch

from billing.models import Subscription, SubscriptionStatus
from billing.periods import BillingPeriod, current_billing_period, local_date, resolve_timezone
from catalog.charge_models import (
    ChargeAmount,
    ChargeUsage,
    advance_billed_units,
    compute_charge_amount,
    instant_charge_amount,
    unique_count_delta,
    usage_excluding_event,
)
from catalog.models import BillableMetric, Charge, ChargeFilter, Tax
from config import clock, errors
from config.money import currency_exponent, fee_amount_cents, round_cents
from customers.models import Customer
from metering import aggregation
from metering.aggregation import BucketUsage, UnsupportedAggregation, Window
from metering.ingest import (
    NUMERIC_VALUE_PATTERN,
    EventInput,
    InvalidValue,
    apply_expression,
    parse_timestamp,
)

HUNDRED = Decimal(100)
ZERO = Decimal(0)
_MICROSECOND = timedelta(microseconds=1)
_FIVE_PLACES = Decimal("0.00001")
_NUMERIC = re.compile(NUMERIC_VALUE_PATTERN)


# --------------------------------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AppliedTax:
    tax: Tax
    amount: Decimal  # unrounded, in cents

    @property
    def amount_cents(self) -> int:
        return round_cents(self.amount)


@dataclass(frozen=True)
class FeeLine:
    """One priced bucket (filter or default) and pricing group of a charge."""

    usage: BucketUsage
    priced: ChargeAmount
    amount_cents: int
    taxes: tuple[AppliedTax, ...] = ()

    @property
    def unrounded_taxes(self) -> Decimal:
        return sum((t.amount for t in self.taxes), ZERO)

    @property
    def taxes_amount_cents(self) -> int:
        return round_cents(self.unrounded_taxes)

    @property
    def taxes_rate(self) -> Decimal:
        return sum((t.tax.rate for t in self.taxes), ZERO)


@dataclass(frozen=True)
class ChargeUsageResult:
    charge: Charge
    lines: tuple[FeeLine, ...]

    @property
    def amount_cents(self) -> int:
        return sum(line.amount_cents for line in self.lines)

    @property
    def events_count(self) -> int:
        return sum(line.usage.events_count for line in self.lines)

    @property
    def units(self) -> Decimal:
        return sum((line.usage.units for line in self.lines), ZERO)

    @property
    def total_aggregated_units(self) -> Decimal:
        return sum((line.usage.total_aggregated_units for line in self.lines), ZERO)

    @property
    def has_filters(self) -> bool:
        return any(line.usage.charge_filter is not None for line in self.lines)


@dataclass(frozen=True)
class CurrentUsage:
    customer: Customer
    subscription: Subscription
    period: BillingPeriod
    currency: str
    issuing_date: date
    charges: tuple[ChargeUsageResult, ...]
    apply_taxes: bool = True

    @property
    def amount_cents(self) -> int:
        return sum(charge.amount_cents for charge in self.charges)

    @property
    def taxes_amount_cents(self) -> int:
        return round_cents(sum((line.unrounded_taxes for c in self.charges for line in c.lines), ZERO))

    @property
    def total_amount_cents(self) -> int:
        return self.amount_cents + self.taxes_amount_cents


# --------------------------------------------------------------------------------------------------------------
# Look-ups
# --------------------------------------------------------------------------------------------------------------


def _charges(plan) -> list[Charge]:
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


def _timezone(customer: Customer, organization):
    return resolve_timezone(customer.timezone, organization.timezone)


def subscription_period(subscription: Subscription, *, at: datetime) -> BillingPeriod:
    """The subscription's in-progress period at `at`, in the customer's applicable timezone."""
    plan = subscription.plan
    return current_billing_period(
        instant=at,
        interval=plan.interval,
        billing_time=subscription.billing_time,
        subscription_at=subscription.subscription_at,
        started_at=subscription.started_at,
        terminated_at=subscription.terminated_at,
        timezone=_timezone(subscription.customer, subscription.organization),
        bill_charges_monthly=bool(plan.bill_charges_monthly),
    )


def history_start(subscription: Subscription) -> datetime | None:
    """First start of the external id (upgrades and downgrades share it): where recurring metrics begin."""
    return Subscription.objects.filter(
        organization_id=subscription.organization_id,
        external_id=subscription.external_id,
        started_at__isnull=False,
    ).aggregate(first=Min("started_at"))["first"]


def usage_window(subscription: Subscription, period: BillingPeriod, *, recurring: bool) -> Window:
    return Window(
        external_subscription_id=subscription.external_id,
        from_datetime=period.charges_from_datetime,
        until=period.charges_until,
        history_from=history_start(subscription) if recurring else None,
        full_period_days=period.charges_full_period_days,
    )


class TaxResolver:
    """§6.3 tax source for charge fees: charge taxes → plan taxes → customer taxes → organization defaults."""

    def __init__(self, *, organization, plan, customer: Customer):
        self._organization = organization
        self._plan = plan
        self._customer = customer
        self._fallback: list[Tax] | None = None

    def _fallback_taxes(self) -> list[Tax]:
        if self._fallback is None:
            for taxes in (
                lambda: list(self._plan.taxes.all()),
                lambda: list(self._customer.taxes.all()),
                lambda: list(
                    Tax.objects.filter(organization=self._organization, applied_to_organization=True)
                ),
            ):
                found = taxes()
                if found:
                    self._fallback = found
                    break
            else:
                self._fallback = []
        return self._fallback

    def for_charge(self, charge: Charge) -> list[Tax]:
        return list(charge.taxes.all()) or self._fallback_taxes()

    @staticmethod
    def apply(taxes: Sequence[Tax], amount_cents: int) -> tuple[AppliedTax, ...]:
        return tuple(AppliedTax(tax, Decimal(amount_cents) * tax.rate / HUNDRED) for tax in taxes)


def _price(charge: Charge, usage: BucketUsage, currency: str) -> tuple[ChargeAmount, int]:
    priced = compute_charge_amount(
        charge.charge_model,
        usage.bucket.properties,
        usage.charge_usage(),
        currency_exponent=currency_exponent(currency),
    )
    return priced, fee_amount_cents(priced.amount, currency)


# --------------------------------------------------------------------------------------------------------------
# Current usage
# --------------------------------------------------------------------------------------------------------------


def compute_current_usage(
    *, subscription: Subscription, apply_taxes: bool = True, only: dict | None = None
) -> CurrentUsage:
    """The in-progress period's charges of `subscription`, priced. All charges are aggregated by one query.

    `only` narrows the charges (Lago's query filters): `charge_id`, `charge_code`, `billable_metric_code`."""
    customer = subscription.customer
    organization = subscription.organization
    plan = subscription.plan
    period = subscription_period(subscription, at=clock.now(organization))
    currency = plan.amount_currency
    charges = [c for c in _charges(plan) if _selected(c, only or {})]
    taxes = TaxResolver(organization=organization, plan=plan, customer=customer)
    history = None
    if any(c.billable_metric.recurring for c in charges):
        history = history_start(subscription)
    window = Window(
        external_subscription_id=subscription.external_id,
        from_datetime=period.charges_from_datetime,
        until=period.charges_until,
        history_from=history,
        full_period_days=period.charges_full_period_days,
    )
    try:
        usages = aggregation.aggregate_charges(charges, window=window)  # one pass over the events
    except UnsupportedAggregation:
        raise errors.NotAllowed("unsupported_aggregation_type")
    results = []
    for charge in charges:
        charge_taxes = taxes.for_charge(charge) if apply_taxes else []
        lines = []
        for usage in usages[charge.pk]:
            priced, amount_cents = _price(charge, usage, currency)
            lines.append(FeeLine(usage, priced, amount_cents, TaxResolver.apply(charge_taxes, amount_cents)))
        results.append(ChargeUsageResult(charge=charge, lines=tuple(lines)))
    return CurrentUsage(
        customer=customer,
        subscription=subscription,
        period=period,
        currency=currency,
        issuing_date=local_date(period.charges_to_datetime, period.timezone),
        charges=tuple(results),
        apply_taxes=apply_taxes,
    )


def _selected(charge: Charge, only: dict) -> bool:
    if only.get("charge_id") and str(charge.pk) != str(only["charge_id"]):
        return False
    if only.get("charge_code") and charge.code != only["charge_code"]:
        return False
    return not (
        only.get("billable_metric_code") and charge.billable_metric.code != only["billable_metric_code"]
    )


def customer_current_usage(
    *,
    organization,
    external_customer_id: str,
    external_subscription_id: str | None,
    apply_taxes: bool = True,
    only: dict | None = None,
) -> CurrentUsage:
    """GET /customers/{id}/current_usage: 404 customer_not_found, 405 no_active_subscription."""
    customer = (
        Customer.objects.filter(
            organization=organization, external_id=external_customer_id, deleted_at__isnull=True
        )
        .prefetch_related("taxes")
        .first()
    )
    if customer is None:
        raise errors.NotFound("customer")
    subscription = (
        Subscription.objects.filter(
            organization=organization,
            customer=customer,
            external_id=external_subscription_id or "",
            status=SubscriptionStatus.ACTIVE,
        )
        .select_related("plan", "customer", "organization")
        .prefetch_related("plan__taxes")
        .first()
    )
    if subscription is None or subscription.started_at is None:
        raise errors.NotAllowed("no_active_subscription")
    subscription.customer = customer
    return compute_current_usage(subscription=subscription, apply_taxes=apply_taxes, only=only)


# --------------------------------------------------------------------------------------------------------------
# Instant fee estimates (§3.10, §9)
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EstimatedFee:
    charge: Charge
    charge_filter: ChargeFilter | None
    grouped_by: dict | None
    subscription: Subscription
    currency: str
    priced: ChargeAmount
    amount_cents: int
    events_count: int
    total_aggregated_units: Decimal
    period: BillingPeriod
    taxes: tuple[AppliedTax, ...] = ()
    transaction_id: str | None = None
    extra: dict = field(default_factory=dict)

    @property
    def taxes_amount_cents(self) -> int:
        return round_cents(sum((t.amount for t in self.taxes), ZERO))

    @property
    def taxes_rate(self) -> Decimal:
        return sum((t.tax.rate for t in self.taxes), ZERO)


def _estimate_input(payload: dict, now: datetime) -> tuple[dict, datetime, Decimal | None]:
    failures: dict[str, list[str]] = {}
    for name in ("code", "external_subscription_id"):
        value = payload.get(name)
        if value is None or value == "" or (isinstance(value, str) and not value.strip()):
            failures[name] = ["value_is_mandatory"]
        elif isinstance(value, bool) or not isinstance(value, str | int):
            failures[name] = ["value_is_invalid"]
    properties = payload.get("properties")
    if properties is None:
        properties = {}
    if not isinstance(properties, dict):
        failures["properties"] = ["value_is_invalid"]
    try:
        timestamp = parse_timestamp(payload.get("timestamp"), now=now)
    except InvalidValue as invalid:
        failures["timestamp"] = [invalid.code]
        timestamp = now
    amount = payload.get("precise_total_amount_cents")
    precise = None
    if amount not in (None, ""):
        try:
            precise = Decimal(str(amount).strip())
            if not precise.is_finite() or isinstance(amount, bool):
                raise ValueError
        except (ArithmeticError, ValueError):
            failures["precise_total_amount_cents"] = ["value_is_invalid"]
    if failures:
        raise errors.ValidationFailed(failures)
    return properties, timestamp, precise


def _numeric(value) -> Decimal | None:
    if isinstance(value, bool) or value is None:
        return None
    text = value if isinstance(value, str) else str(value)
    if not _NUMERIC.match(text):
        return None
    return Decimal(text)


def estimate_instant_fees(*, organization, payload: dict) -> list[EstimatedFee]:
    """POST /events/estimate_fees: the instant fees the event would create, nothing persisted.

    404 subscription_not_found / billable_metric_not_found; 422 `{"code": ["does_not_match_an_instant_charge"]}`
    when the plan has no pay-in-advance charge on that metric, `{"properties": ["value_is_not_valid_number"]}`
    when a sum metric's field is missing or not a number, `{"properties": ["value_is_mandatory"]}` when a
    unique-count metric's field is missing.
    """
    now = clock.now(organization)
    properties, timestamp, precise_amount = _estimate_input(payload, now)
    subscription = (
        Subscription.objects.filter(
            organization=organization,
            external_id=str(payload["external_subscription_id"]),
            status=SubscriptionStatus.ACTIVE,
        )
        .select_related("plan", "customer", "organization")
        .first()
    )
    if subscription is None or subscription.started_at is None:
        raise errors.NotFound("subscription")
    code = str(payload["code"])
    metric = BillableMetric.objects.filter(
        organization=organization, code=code, deleted_at__isnull=True
    ).first()
    if metric is None:
        raise errors.NotFound("billable_metric")
    charges = [
        c for c in _charges(subscription.plan) if c.billable_metric_id == metric.pk and c.pay_in_advance
    ]
    if not charges:
        raise errors.ValidationFailed({"code": ["does_not_match_an_instant_charge"]})

    event = EventInput(
        transaction_id=str(payload.get("transaction_id") or ""),
        external_subscription_id=subscription.external_id,
        code=code,
        timestamp=timestamp,
        properties=properties,
        precise_total_amount_cents=precise_amount,
    )
    if metric.expression and metric.field_name:
        try:
            apply_expression(event, metric.field_name, metric.expression)
        except InvalidValue as invalid:
            raise errors.ValidationFailed({"properties": [invalid.code]})
    properties = event.properties
    aggregation_type = metric.aggregation_type
    raw_value = properties.get(metric.field_name) if metric.field_name else None
    if aggregation_type == "sum_agg":
        value = _numeric(raw_value)
        if value is None:
            raise errors.ValidationFailed({"properties": ["value_is_not_valid_number"]})
    elif aggregation_type == "unique_count_agg":
        if raw_value is None:
            raise errors.ValidationFailed({"properties": ["value_is_mandatory"]})
        operation = properties.get("operation_type") or "add"
        if operation not in ("add", "remove"):
            raise errors.ValidationFailed({"properties": ["value_is_invalid"]})
        value = None
    elif aggregation_type == "count_agg":
        value = Decimal(1)
    else:
        raise errors.ValidationFailed({"code": ["does_not_match_an_instant_charge"]})

    period = subscription_period(subscription, at=max(timestamp, subscription.started_at))
    if not period.charges_from_datetime <= timestamp < period.charges_until:
        period = subscription_period(subscription, at=now)
    history = history_start(subscription) if metric.recurring else None
    window = Window(
        external_subscription_id=subscription.external_id,
        from_datetime=period.charges_from_datetime,
        # events up to and including the event's timestamp (an equal timestamp was ingested earlier)
        until=min(timestamp, period.charges_until - _MICROSECOND) + _MICROSECOND,
        history_from=history,
        full_period_days=period.charges_full_period_days,
    )
    taxes = TaxResolver(organization=organization, plan=subscription.plan, customer=subscription.customer)
    return [
        price_instant_event(
            subscription=subscription,
            charge=charge,
            period=period,
            window=window,
            properties=properties,
            value=value,
            precise_amount=precise_amount,
            timestamp=timestamp,
            taxes=taxes,
            transaction_id=event.transaction_id or None,
        )
        for charge in charges
    ]


def event_value(metric: BillableMetric, properties: dict) -> Decimal | None:
    """The value an event adds to a pay-in-advance charge's running total (§3.10): 1 for count_agg, the numeric
    field for sum_agg; None when the field is missing or not a number (and always for unique_count_agg, whose
    delta depends on the value's state)."""
    if metric.aggregation_type == "count_agg":
        return Decimal(1)
    if metric.aggregation_type == "sum_agg":
        return _numeric(properties.get(metric.field_name) if metric.field_name else None)
    return None


def _prorated_units(units: Decimal, timestamp: datetime, period: BillingPeriod) -> Decimal:
    """§3.11 pay in advance: units added on a day are priced for the rest of the period (that day and the last
    one included) over the full period's days, ceiled to 5 decimals."""
    tz = period.timezone
    days = (local_date(period.charges_to_datetime, tz) - local_date(timestamp, tz)).days + 1
    days = min(max(days, 0), period.charges_full_period_days)
    ratio = units * Decimal(days) / Decimal(period.charges_full_period_days)
    return ratio.quantize(_FIVE_PLACES, rounding=ROUND_CEILING)


def price_instant_event(
    *,
    subscription: Subscription,
    charge: Charge,
    period: BillingPeriod,
    window: Window,
    properties: dict,
    value: Decimal | None,
    precise_amount: Decimal | None,
    timestamp: datetime,
    taxes: TaxResolver | None,
    transaction_id: str | None,
    before_event: tuple[datetime, int] | None = None,
) -> EstimatedFee:
    """The instant fee of one event on one pay-in-advance charge (§3.10), shared by the estimate and the instant
    billing of stored events: model(period-to-date usage including the event) − model(excluding it), in the
    filter bucket and pricing group the event matches.

    `window` holds the events before this one (`before_event`: the stored event's (timestamp, id), so that
    same-second ties count in ingestion order); `value` is `event_value(...)` (ignored for unique_count_agg);
    `taxes` None leaves the result untaxed. A prorated `standard` charge prices the billed units for the rest of the period (§3.11)."""
    metric = charge.billable_metric
    aggregation_type = metric.aggregation_type
    currency = subscription.plan.amount_currency
    buckets = aggregation.charge_buckets(charge)
    bucket = aggregation.matching_bucket(buckets, properties)
    grouped_by = aggregation.group_values(bucket, properties)
    raw_value = properties.get(metric.field_name) if metric.field_name else None
    unique_value = aggregation._as_text(raw_value) if aggregation_type == "unique_count_agg" else None
    state = aggregation.advance_state(
        charge=charge,
        buckets=buckets,
        bucket=bucket,
        grouped_by=grouped_by,
        window=window,
        unique_value=unique_value,
        before_event=before_event,
    )
    if aggregation_type == "unique_count_agg":
        delta = Decimal(unique_count_delta(state.value_active, properties.get("operation_type") or "add"))
    else:
        delta = value if value is not None else ZERO
    step = advance_billed_units(state.total, state.max_total, delta)
    event_amount = precise_amount or ZERO
    if charge.prorated and charge.charge_model == "standard":
        prorated = compute_charge_amount(
            "standard",
            bucket.properties,
            ChargeUsage(units=_prorated_units(step.billed_units, timestamp, period), events_count=1),
            currency_exponent=currency_exponent(currency),
        )
        units = step.billed_units
        priced = ChargeAmount(
            prorated.amount,
            units,
            prorated.amount / units if units else ZERO,
            prorated.details,
        )
    else:
        after = ChargeUsage(
            units=step.total,
            events_count=state.events_count + 1,
            event_values=(*state.event_values, delta),
            precise_total_amount_cents=state.precise_total_amount_cents + event_amount,
        )
        before = usage_excluding_event(
            after, billed_units=step.billed_units, event_precise_total_amount_cents=event_amount
        )
        priced = instant_charge_amount(
            charge.charge_model,
            bucket.properties,
            usage_before=before,
            usage_after=after,
            currency_exponent=currency_exponent(currency),
        )
    amount_cents = fee_amount_cents(priced.amount, currency)
    return EstimatedFee(
        charge=charge,
        charge_filter=bucket.charge_filter,
        grouped_by=grouped_by,
        subscription=subscription,
        currency=currency,
        priced=priced,
        amount_cents=amount_cents,
        events_count=1,
        total_aggregated_units=step.total,
        period=period,
        taxes=TaxResolver.apply(taxes.for_charge(charge), amount_cents) if taxes is not None else (),
        transaction_id=transaction_id,
    )
