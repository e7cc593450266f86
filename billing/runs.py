"""Billing runs: every subscription invoice that fell due up to an instant, each exactly once.

A subscription's invoices are derived from its state and the clock — a start invoice, one periodic invoice per
billing instant passed, a termination invoice — so a run can be repeated, interrupted or run twice at once:
the `InvoiceSubscription` unique key (subscription, reason, billing instant) lets only one invoice exist per
period, and a run that loses that race rolls back its copy. A scheduler that was down catches up: every billing
instant between the last one billed and now gets its own invoice, issued on the day it belongs to.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from django.db import transaction
from django.db.models import Exists, OuterRef, Q

from billing.credit_notes import termination_credit_note
from billing.invoice_fees import (
    InvoiceScope,
    ended_by_upgrade,
    periodic_scope,
    plan_fixed_charges,
    starting_scope,
    subscription_timezone,
    terminating_scope,
)
from billing.models import Subscription, SubscriptionStatus
from billing.periods import billing_instants_between
from billing.services import invoices as billing_invoices
from config import clock
from invoicing.models import Invoice, InvoiceSubscription, InvoiceType
from invoicing.services import AlreadyBilled, SubscriptionPeriod, invoice_dates

logger = logging.getLogger(__name__)


@dataclass
class RunSummary:
    subscriptions: int = 0
    invoices: list[Invoice] = field(default_factory=list)
    already_billed: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)


def _bills_at_start(subscription: Subscription) -> bool:
    """Only pay-in-advance base fees and in-advance fixed charges are billed when a subscription starts."""
    plan = subscription.plan
    return plan.pay_in_advance or any(fixed.pay_in_advance for fixed in plan_fixed_charges(plan))


def _is_past_start(subscription: Subscription) -> bool:
    """Started on a local day before it was created: Lago bills no start invoice for those (§4.2)."""
    if subscription.previous_subscription_id is not None:
        return False  # plan changes bill the new plan from its start
    tz = subscription_timezone(subscription)
    return subscription.started_at.astimezone(tz).date() < subscription.created_at.astimezone(tz).date()


def due_scopes(
    subscription: Subscription, *, now: dt.datetime, last_periodic: dt.datetime | None = None
) -> Iterator[tuple[str, dt.datetime | None, Callable]]:
    """(reason, billing instant, scope builder) of every invoice of the subscription due at `now`, oldest first;
    periodic instants after `last_periodic` (the last one billed) only."""
    if subscription.started_at is None or subscription.started_at > now:
        return
    plan = subscription.plan
    if last_periodic is None and _bills_at_start(subscription) and not _is_past_start(subscription):
        # The start (or trial-end) instant is only known once the scope is computed; key it by started_at
        # unless a trial moves it.
        yield "subscription_starting", None, lambda: starting_scope(subscription)
    until = now if subscription.terminated_at is None else min(now, subscription.terminated_at)
    # Periods that ended before the subscription was created (a backdated start) are not billed (§4.2).
    after = max(subscription.started_at, subscription.created_at, last_periodic or subscription.started_at)
    for instant in billing_instants_between(
        after,
        until,
        interval=plan.interval,
        billing_time=subscription.billing_time,
        subscription_at=subscription.subscription_at,
        timezone=subscription_timezone(subscription),
        bill_charges_monthly=bool(plan.bill_charges_monthly),
    ):
        yield "subscription_periodic", instant, lambda instant=instant: periodic_scope(subscription, instant)
    if subscription.terminated_at is not None and subscription.terminated_at <= now:
        yield "subscription_terminating", subscription.terminated_at, lambda: terminating_scope(subscription)


def _credit_the_upgraded_plan(subscription: Subscription) -> None:
    """Before an upgrade's first invoice: the old plan's credit note, so that the new invoice consumes it."""
    previous = subscription.previous_subscription
    if previous is not None and previous.terminated_at is not None and ended_by_upgrade(previous):
        termination_credit_note(previous)


def _billed(subscription: Subscription) -> set[tuple[str, dt.datetime | None]]:
    rows = InvoiceSubscription.objects.filter(subscription=subscription).values_list(
        "invoicing_reason", "timestamp"
    )
    billed = set(rows)
    billed |= {(reason, None) for reason, _ in rows if reason == "subscription_starting"}
    return billed


def bill_scope(scope: InvoiceScope, *, finalize: bool | None = None) -> Invoice | None:
    """Create the invoice of one scope; None when another run billed it first."""
    subscription = scope.subscription
    base, charges = scope.base_period, scope.charges_period
    period = SubscriptionPeriod(
        subscription=subscription,
        invoicing_reason=scope.invoicing_reason,
        timestamp=scope.timestamp,
        from_datetime=base.from_datetime if base else None,
        to_datetime=base.to_datetime if base else None,
        charges_from_datetime=charges.charges_from_datetime if charges else None,
        charges_to_datetime=charges.charges_to_datetime if charges else None,
    )
    dates = invoice_dates(
        customer=subscription.customer,
        billing_date=scope.billing_date,
        recurring=scope.invoicing_reason == "subscription_periodic",
    )
    try:
        with transaction.atomic():
            result = billing_invoices.create_invoice(
                organization=subscription.organization,
                customer=subscription.customer,
                invoice_type=InvoiceType.SUBSCRIPTION,
                currency=subscription.plan.amount_currency,
                fees=list(scope.drafts),
                issuing_date=dates.issuing_date,
                expected_finalization_date=dates.expected_finalization_date,
                subscription_periods=[period],
                finalize=finalize,
            )
    except AlreadyBilled:
        return None
    return result.invoice


def bill_subscription(subscription: Subscription, *, now: dt.datetime | None = None) -> RunSummary:
    """Every invoice of one subscription due at `now` (the organization's clock by default)."""
    now = now or clock.now(subscription.organization)
    summary = RunSummary(subscriptions=1)
    billed = _billed(subscription)
    periodic = [ts for reason, ts in billed if reason == "subscription_periodic"]
    if subscription.terminated_at is not None and subscription.terminated_at <= now:
        # The unused part of a pay-in-advance period is credited at termination, final invoice or not (§4.5);
        # issued first, so that the final invoice can consume it (Ex 7.2).
        termination_credit_note(subscription)
    for reason, instant, build in due_scopes(
        subscription, now=now, last_periodic=max(periodic, default=None)
    ):
        if (reason, instant) in billed:
            continue
        if reason == "subscription_starting":
            _credit_the_upgraded_plan(subscription)
        scope = build()
        if scope is None or scope.timestamp > now:
            continue
        if (reason, scope.timestamp) in billed:
            continue
        invoice = bill_scope(scope)
        if invoice is None:
            summary.already_billed += 1
        else:
            summary.invoices.append(invoice)
    return summary


def billable_subscriptions(*, organization=None):
    """Subscriptions that may have something due: active ones, and terminated ones (their final invoice)."""
    final_invoice_done = Exists(
        InvoiceSubscription.objects.filter(
            subscription=OuterRef("pk"), invoicing_reason="subscription_terminating"
        )
    )
    qs = (
        Subscription.objects.filter(started_at__isnull=False)
        .filter(
            Q(status=SubscriptionStatus.ACTIVE)
            | (
                Q(status=SubscriptionStatus.TERMINATED, on_termination_invoice="generate")
                & ~final_invoice_done
            )
        )
        .select_related("plan", "plan__parent", "customer", "organization")
    )
    if organization is not None:
        qs = qs.filter(organization=organization)
    return qs.order_by("organization_id", "id")


def run_billing(
    *, organization=None, now: dt.datetime | None = None, progress: Callable[[int, int], None] | None = None
) -> RunSummary:
    """Bill every subscription (of one organization, or all) for everything due at `now` — by default each
    organization's own clock, so sandbox organizations bill at their test-clock time. Safe to rerun."""
    summary = RunSummary()
    subscriptions = billable_subscriptions(organization=organization).prefetch_related(
        "customer__taxes", "plan__taxes"
    )
    total = subscriptions.count()
    plans: dict = {}  # one plan instance per plan: its charges are loaded once per run
    for index, subscription in enumerate(subscriptions.iterator(chunk_size=500), start=1):
        subscription.plan = plans.setdefault(subscription.plan_id, subscription.plan)
        at = now or clock.now(subscription.organization)
        try:
            result = bill_subscription(subscription, now=at)
        except Exception as exc:  # one broken subscription must not stop the run
            logger.exception("billing failed for subscription %s", subscription.pk)
            summary.failed.append((str(subscription.pk), f"{exc.__class__.__name__}: {exc}"))
        else:
            summary.invoices.extend(result.invoices)
            summary.already_billed += result.already_billed
        summary.subscriptions += 1
        if progress is not None:
            progress(index, total)
    return summary
