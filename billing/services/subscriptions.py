"""Subscription lifecycle (billing-semantics §4.2–§4.6): create (new, upgrade, downgrade), update, terminate or
cancel, and the clock-driven transitions (activation, ending, trial end).

Invoices and credit notes for these transitions come with the billing issue; here only the subscriptions move.

Locks: a write takes the customer row first, then the subscription rows in primary-key order
(`select_for_update`), whatever calls it (API, admin, clock tasks), so two writers never wait on each other in
opposite orders. Uniqueness of the active/pending subscription per external_id is the database's partial unique
constraints; a violation is Lago's `external_id: value_already_exist`.

Decisions where Lago's behaviour is implicit:
* `created_at` is the organization's clock (`config.clock.now`), so sandbox organizations see consistent dates
  and a downgrade takes effect at the end of the period in which it was *requested*.
* A pending subscription reaching its start day gets `started_at = min(subscription_at, now)` (Lago uses the
  clock tick's time); a downgrade starts at its predecessor's next period start, the predecessor ends one
  second before (the periods tile exactly); an `ending_at` termination uses `terminated_at = ending_at`.
* `previous_subscription` is one-to-one: linking a new downgrade or upgrade to a subscription first detaches the
  canceled successor it may have (that canceled row then shows no previous_plan_code).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Q

from billing import periods
from billing.models import (
    BillingTime,
    OnTerminationCreditNote,
    OnTerminationInvoice,
    Subscription,
    SubscriptionStatus,
)
from billing.selectors import subscriptions as selectors
from catalog import plan_overrides
from catalog.models import Plan
from catalog.selectors.plans import plan_by_code
from config import clock, errors
from customers import services as customer_services
from customers.models import Customer

logger = logging.getLogger(__name__)

ONE_SECOND = dt.timedelta(seconds=1)
# Wide enough for any timezone offset (+14 h) and DST: pending starts are pre-selected in UTC, then compared
# on local dates.
_LOCAL_DAY_MARGIN = dt.timedelta(days=2)


# --------------------------------------------------------------------------------------------------------------
# Create
# --------------------------------------------------------------------------------------------------------------


@transaction.atomic
def create_subscription(*, organization, data: Mapping[str, Any]) -> Subscription:
    """POST /subscriptions: a new subscription, or a plan change of the customer's live one with this external_id.

    `data`: external_customer_id, plan_code, external_id (required), name, subscription_at, billing_time,
    ending_at, plan_overrides. Returns what Lago returns: the new subscription (new or upgrade), the current one
    (same plan, downgrade — its pending successor is linked as next_subscription —, or a future start whose plan
    was swapped).
    """
    now = clock.now(organization)
    plan = plan_by_code(organization, data["plan_code"])
    subscription_at = data.get("subscription_at") or now
    _validate_ending_at(data.get("ending_at"), subscription_at=subscription_at, now=now)
    overrides = data.get("plan_overrides")

    customer = _customer_for(organization, data["external_customer_id"])
    currency = (overrides or {}).get("amount_currency") or plan.amount_currency
    _ensure_customer_currency(customer, currency)
    customer = _lock_customer(customer.pk)

    external_id = data["external_id"]
    current = selectors.editable_subscription(customer, external_id)
    if current is None:
        return _create_new(customer, plan, data, subscription_at=subscription_at, now=now)

    current = _lock(current.pk)
    if current.plan_id == plan.pk or current.plan.parent_id == plan.pk:
        return current  # idempotent: Lago returns the live subscription unchanged

    new_yearly = plan_overrides.yearly_amount_cents(plan, (overrides or {}).get("amount_cents"))
    is_upgrade = new_yearly >= plan_overrides.yearly_amount_cents(current.plan)

    if current.status == SubscriptionStatus.PENDING:  # starts in the future: swap its plan, nothing else
        current.plan = _plan_for(plan, overrides)
        if data.get("name"):
            current.name = data["name"]
        current.save(update_fields=["plan", "name", "updated_at"])
        return current
    if is_upgrade:
        return _upgrade(current, plan, data, now=now)
    return _downgrade(current, plan, data, now=now)


def _create_new(
    customer, plan: Plan, data, *, subscription_at: dt.datetime, now: dt.datetime
) -> Subscription:
    organization = customer.organization
    external_id = data["external_id"]
    if Subscription.objects.filter(
        organization=organization, external_id=external_id, status=SubscriptionStatus.ACTIVE
    ).exists():
        raise errors.ValidationFailed({"external_id": ["value_already_exist"]})

    subscription = Subscription(
        organization=organization,
        customer=customer,
        plan=_plan_for(plan, data.get("plan_overrides")),
        external_id=external_id,
        name=data.get("name") or None,
        subscription_at=subscription_at,
        billing_time=data.get("billing_time") or BillingTime.CALENDAR,
        ending_at=data.get("ending_at"),
    )
    tz = periods.resolve_timezone(customer.timezone, organization.timezone)
    if periods.local_date(subscription_at, tz) <= periods.local_date(now, tz):
        # Today or in the past (§4.2): active at once, started at subscription_at.
        subscription.status = SubscriptionStatus.ACTIVE
        subscription.started_at = subscription_at
    else:
        subscription.status = SubscriptionStatus.PENDING
    _insert(subscription, now=now)
    return subscription


def _upgrade(current: Subscription, plan: Plan, data, *, now: dt.datetime) -> Subscription:
    """§4.4 upgrade: the current subscription ends now, the new one (same external_id, same anniversary) starts."""
    _free_successor_slot(current, now=now)
    _mark_terminated(current, at=now)
    current.save()
    new = Subscription(
        organization_id=current.organization_id,
        customer_id=current.customer_id,
        plan=_plan_for(plan, data.get("plan_overrides")),
        previous_subscription=current,
        external_id=current.external_id,
        name=data.get("name") or None,
        subscription_at=current.subscription_at,
        billing_time=current.billing_time,
        ending_at=data.get("ending_at", current.ending_at),
        status=SubscriptionStatus.ACTIVE,
        started_at=now,
    )
    _insert(new, now=now)
    return new


def _downgrade(current: Subscription, plan: Plan, data, *, now: dt.datetime) -> Subscription:
    """§4.4 downgrade: a pending successor, activated when the current period ends; returns the current one."""
    _free_successor_slot(current, now=now)
    pending = Subscription(
        organization_id=current.organization_id,
        customer_id=current.customer_id,
        plan=_plan_for(plan, data.get("plan_overrides")),
        previous_subscription=current,
        external_id=current.external_id,
        name=data.get("name") or None,
        subscription_at=current.subscription_at,
        billing_time=current.billing_time,
        ending_at=data.get("ending_at", current.ending_at),
        status=SubscriptionStatus.PENDING,
    )
    _insert(pending, now=now)
    return current


# --------------------------------------------------------------------------------------------------------------
# Update
# --------------------------------------------------------------------------------------------------------------


@transaction.atomic
def update_subscription(*, subscription: Subscription, data: Mapping[str, Any]) -> Subscription:
    """PUT /subscriptions/{external_id}: name, ending_at, termination options, plan_overrides, and subscription_at
    of a subscription that has not started yet (moving it to today or the past activates it)."""
    now = clock.now(_lock_customer(subscription.customer_id).organization)
    subscription = _lock(subscription.pk)
    if subscription.status == SubscriptionStatus.INCOMPLETE:
        raise errors.NotAllowed("subscription_incomplete")

    if "subscription_at" in data and data["subscription_at"] is None:
        raise errors.ValidationFailed({"subscription_at": ["invalid_date"]})
    subscription_at = data.get("subscription_at") or subscription.subscription_at
    if data.get("ending_at") is not None:
        _validate_ending_at(data["ending_at"], subscription_at=subscription_at, now=now)
    _validate_termination_options(data.get("on_termination_credit_note"), data.get("on_termination_invoice"))

    if "name" in data:
        subscription.name = data["name"] or None
    if "ending_at" in data:
        subscription.ending_at = data["ending_at"]
    if subscription.plan.pay_in_advance and "on_termination_credit_note" in data:
        subscription.on_termination_credit_note = data["on_termination_credit_note"]
    if data.get("on_termination_invoice"):
        subscription.on_termination_invoice = data["on_termination_invoice"]

    overrides = data.get("plan_overrides")
    if overrides is not None:
        currency = overrides.get("amount_currency") or subscription.plan.amount_currency
        _ensure_customer_currency(subscription.customer, currency)
        subscription.plan = plan_overrides.apply_plan_overrides(plan=subscription.plan, overrides=overrides)

    starts_in_future = (
        subscription.status == SubscriptionStatus.PENDING and subscription.previous_subscription_id is None
    )
    if starts_in_future and "subscription_at" in data:
        subscription.subscription_at = data["subscription_at"]
        tz = selectors.subscription_timezone(subscription)
        if periods.local_date(subscription.subscription_at, tz) <= periods.local_date(now, tz):
            subscription.status = SubscriptionStatus.ACTIVE
            subscription.started_at = subscription.subscription_at
    _save_unique(subscription)
    return subscription


# --------------------------------------------------------------------------------------------------------------
# Terminate / cancel
# --------------------------------------------------------------------------------------------------------------


@transaction.atomic
def terminate_subscription(
    *,
    subscription: Subscription,
    on_termination_credit_note: str | None = None,
    on_termination_invoice: str | None = None,
) -> Subscription:
    """DELETE /subscriptions/{external_id} (§4.5): an active subscription is terminated now, a pending one is
    canceled. The credit-note option is kept for pay-in-advance plans only (default `credit`); the invoice
    option defaults to `generate`. A pending successor (downgrade) is canceled with it."""
    _validate_termination_options(on_termination_credit_note, on_termination_invoice)
    now = clock.now(_lock_customer(subscription.customer_id).organization)
    subscription = _lock(subscription.pk)
    if subscription.status == SubscriptionStatus.PENDING:
        _mark_canceled(subscription, at=now)
        subscription.save()
        return subscription
    if subscription.status != SubscriptionStatus.ACTIVE:
        return subscription  # already terminated or canceled: nothing to do
    if on_termination_credit_note and subscription.plan.pay_in_advance:
        subscription.on_termination_credit_note = on_termination_credit_note
    if on_termination_invoice:
        subscription.on_termination_invoice = on_termination_invoice
    _mark_terminated(subscription, at=now)
    subscription.save()
    _cancel_pending_successor(subscription, now=now)
    return subscription


@transaction.atomic
def cancel_subscription(*, subscription: Subscription) -> Subscription:
    """Cancel a pending subscription (`DELETE ...?status=pending`); anything else is left as it is."""
    now = clock.now(_lock_customer(subscription.customer_id).organization)
    subscription = _lock(subscription.pk)
    if subscription.status == SubscriptionStatus.PENDING:
        _mark_canceled(subscription, at=now)
        subscription.save()
    return subscription


# --------------------------------------------------------------------------------------------------------------
# Clock-driven transitions (pure functions of `now`; idempotent: a rerun changes nothing)
# --------------------------------------------------------------------------------------------------------------


def activate_pending_subscriptions(*, organization=None, now: dt.datetime) -> list[Subscription]:
    """Activate what is due at `now` (§4.2, §4.4), oldest first:

    * future starts whose `subscription_at` local day (customer's applicable timezone) has been reached;
    * downgrades whose predecessor's period has ended: the predecessor is terminated at its period end, the
      successor starts with the next period.

    Without `organization`: every organization on the real clock (sandbox organizations with a test clock are
    run one by one with their own `now`; see billing.tasks).
    """
    activated: list[Subscription] = []
    pending = _on_clock(Subscription.objects.filter(status=SubscriptionStatus.PENDING), organization)

    starts = (
        pending.filter(previous_subscription__isnull=True, subscription_at__lt=now + _LOCAL_DAY_MARGIN)
        .select_related("customer__organization")
        .order_by("subscription_at", "pk")
    )
    for subscription in starts:
        tz = selectors.subscription_timezone(subscription)
        if periods.local_date(subscription.subscription_at, tz) <= periods.local_date(now, tz):
            done = _activate_start(subscription.pk, now=now)
            if done is not None:
                activated.append(done)

    downgrades = (
        pending.filter(
            previous_subscription__isnull=False, previous_subscription__status=SubscriptionStatus.ACTIVE
        )
        .select_related("customer__organization", "previous_subscription__plan")
        .order_by("created_at", "pk")
    )
    for subscription in downgrades:
        if now >= selectors.downgrade_rotation_instant(subscription.previous_subscription, subscription):
            done = _activate_downgrade(subscription.pk, now=now)
            if done is not None:
                activated.append(done)
    return activated


def terminate_ended_subscriptions(*, organization=None, now: dt.datetime) -> list[Subscription]:
    """Terminate active subscriptions whose `ending_at` has passed (§4.5), with `terminated_at = ending_at`."""
    ended = (
        _on_clock(Subscription.objects.filter(status=SubscriptionStatus.ACTIVE), organization)
        .filter(ending_at__isnull=False, ending_at__lte=now)
        .order_by("ending_at", "pk")
        .values_list("pk", flat=True)
    )
    terminated = []
    for pk in list(ended):
        done = _terminate_ended(pk, now=now)
        if done is not None:
            terminated.append(done)
    return terminated


def mark_trials_ended(*, organization=None, now: dt.datetime) -> list[Subscription]:
    """Set `trial_ended_at` on active subscriptions whose free trial is over (§4.3): trial end = first started_at
    of the external_id + trial_period days."""
    candidates = (
        _on_clock(Subscription.objects.filter(status=SubscriptionStatus.ACTIVE), organization)
        .filter(trial_ended_at__isnull=True, plan__trial_period__gt=0, started_at__isnull=False)
        .select_related("plan")
        .order_by("started_at", "pk")
    )
    marked = []
    for subscription in candidates:
        trial_end = periods.trial_end_datetime(
            selectors.initial_started_at(subscription), subscription.plan.trial_period
        )
        if trial_end <= now:
            done = _mark_trial_ended(subscription.pk, trial_end)
            if done is not None:
                marked.append(done)
    return marked


@transaction.atomic
def _activate_start(pk, *, now: dt.datetime) -> Subscription | None:
    subscription = _lock_chain(pk)[0]
    if subscription.status != SubscriptionStatus.PENDING or subscription.previous_subscription_id is not None:
        return None
    subscription.status = SubscriptionStatus.ACTIVE
    subscription.started_at = min(subscription.subscription_at, now)
    try:
        _save_unique(subscription)
    except errors.ValidationFailed:
        logger.warning("subscription %s not activated: another active one holds its external_id", pk)
        return None
    return subscription


@transaction.atomic
def _activate_downgrade(pk, *, now: dt.datetime) -> Subscription | None:
    pending, current = _lock_chain(pk)
    if (
        pending.status != SubscriptionStatus.PENDING
        or current is None
        or current.status != SubscriptionStatus.ACTIVE
    ):
        return None
    rotation = selectors.downgrade_rotation_instant(current, pending)
    if now < rotation or (current.ending_at is not None and current.ending_at < rotation):
        return None  # not due yet, or the subscription ends before: terminate_ended_subscriptions handles it
    _mark_terminated(current, at=rotation - ONE_SECOND)
    current.save()
    pending.status = SubscriptionStatus.ACTIVE
    pending.started_at = rotation
    _save_unique(pending)
    return pending


@transaction.atomic
def _terminate_ended(pk, *, now: dt.datetime) -> Subscription | None:
    subscription = _lock_chain(pk)[0]
    if (
        subscription.status != SubscriptionStatus.ACTIVE
        or subscription.ending_at is None
        or subscription.ending_at > now
    ):
        return None
    _mark_terminated(subscription, at=subscription.ending_at)
    subscription.save()
    _cancel_pending_successor(subscription, now=now)
    return subscription


@transaction.atomic
def _mark_trial_ended(pk, trial_end: dt.datetime) -> Subscription | None:
    subscription = _lock_chain(pk)[0]
    if subscription.status != SubscriptionStatus.ACTIVE or subscription.trial_ended_at is not None:
        return None
    subscription.trial_ended_at = trial_end
    subscription.save(update_fields=["trial_ended_at", "updated_at"])
    return subscription


# --------------------------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------------------------


def _on_clock(queryset, organization):
    """One organization, or every organization reading the real clock (not a sandbox with a frozen time)."""
    if organization is not None:
        return queryset.filter(organization=organization)
    return queryset.filter(Q(organization__is_sandbox=False) | Q(organization__frozen_time__isnull=True))


def _customer_for(organization, external_customer_id: str) -> Customer:
    """The customer with this external_id; Lago creates it when it does not exist yet (in this transaction,
    so a refused subscription leaves no customer behind)."""
    customer = (
        Customer.objects.select_related("organization")
        .filter(organization=organization, external_id=external_customer_id, deleted_at__isnull=True)
        .first()
    )
    if customer is None:
        customer, _ = customer_services.upsert_customer(
            organization=organization, external_id=external_customer_id, data={}
        )
    return customer


def _ensure_customer_currency(customer: Customer, currency: str) -> None:
    """The customer's currency is the plan's: set it when empty, refuse another one (`currencies_does_not_match`)."""
    if customer.currency == currency:
        return
    if customer.currency:
        raise errors.ValidationFailed({"currency": ["currencies_does_not_match"]})
    customer_services.upsert_customer(
        organization=customer.organization, external_id=customer.external_id, data={"currency": currency}
    )
    customer.currency = currency


def _validate_ending_at(ending_at, *, subscription_at: dt.datetime, now: dt.datetime) -> None:
    """Lago's rule: ending_at must fall on a later (UTC) day than today and than subscription_at."""
    if ending_at is None:
        return
    end_day = ending_at.astimezone(dt.UTC).date()
    if end_day <= now.astimezone(dt.UTC).date() or end_day <= subscription_at.astimezone(dt.UTC).date():
        raise errors.ValidationFailed({"ending_at": ["invalid_date"]})


def _validate_termination_options(credit_note, invoice) -> None:
    details: dict[str, list[str]] = {}
    if credit_note not in (None, "") and credit_note not in OnTerminationCreditNote.values:
        details["on_termination_credit_note"] = ["invalid_value"]
    if invoice not in (None, "") and invoice not in OnTerminationInvoice.values:
        details["on_termination_invoice"] = ["invalid_value"]
    if details:
        raise errors.ValidationFailed(details)


def _plan_for(plan: Plan, overrides) -> Plan:
    if overrides is None:
        return plan
    return plan_overrides.override_plan(plan=plan, overrides=overrides)


def _mark_terminated(subscription: Subscription, *, at: dt.datetime) -> None:
    subscription.status = SubscriptionStatus.TERMINATED
    subscription.terminated_at = subscription.terminated_at or at
    if subscription.plan.pay_in_advance:
        subscription.on_termination_credit_note = subscription.on_termination_credit_note or (
            OnTerminationCreditNote.CREDIT
        )
    else:
        subscription.on_termination_credit_note = None


def _mark_canceled(subscription: Subscription, *, at: dt.datetime) -> None:
    subscription.status = SubscriptionStatus.CANCELED
    subscription.canceled_at = subscription.canceled_at or at
    subscription.on_termination_credit_note = None


def _successor(subscription: Subscription) -> Subscription | None:
    return Subscription.objects.select_for_update().filter(previous_subscription=subscription).first()


def _cancel_pending_successor(subscription: Subscription, *, now: dt.datetime) -> None:
    following = _successor(subscription)
    if following is not None and following.status == SubscriptionStatus.PENDING:
        _mark_canceled(following, at=now)
        following.save()


def _free_successor_slot(subscription: Subscription, *, now: dt.datetime) -> None:
    """Before a new successor is linked: cancel a pending one and detach any (one-to-one link)."""
    following = _successor(subscription)
    if following is None:
        return
    if following.status == SubscriptionStatus.PENDING:
        _mark_canceled(following, at=now)
    following.previous_subscription = None
    following.save()


def _insert(subscription: Subscription, *, now: dt.datetime) -> None:
    _save_unique(subscription)
    # created_at follows the organization's clock (test clocks included), not the wall clock.
    Subscription.objects.filter(pk=subscription.pk).update(created_at=now)
    subscription.created_at = now


def _save_unique(subscription: Subscription) -> None:
    try:
        with transaction.atomic():
            subscription.save()
    except IntegrityError:
        raise errors.ValidationFailed({"external_id": ["value_already_exist"]})


def _lock_customer(customer_id) -> Customer:
    return Customer.objects.select_for_update(of=("self",)).select_related("organization").get(pk=customer_id)


def _lock(pk) -> Subscription:
    """Lock a subscription (the caller holds its customer's lock)."""
    return _lock_neighbourhood(pk)[0]


def _lock_chain(pk) -> tuple[Subscription, Subscription | None]:
    """Lock the customer, then a subscription and its predecessor (clock-driven transitions)."""
    head = Subscription.objects.only("pk", "customer_id").get(pk=pk)
    _lock_customer(head.customer_id)
    return _lock_neighbourhood(pk)


def _lock_neighbourhood(pk) -> tuple[Subscription, Subscription | None]:
    """Lock a subscription with its chain neighbours (predecessor and successor rows) in one statement, in
    primary-key order, so that no later lock in the transaction waits on a row of the same chain."""
    head = Subscription.objects.only("pk", "previous_subscription_id").get(pk=pk)
    rows = (
        Subscription.objects.select_for_update(of=("self",))
        .select_related("plan__parent", "customer__organization")
        .filter(Q(pk=pk) | Q(pk=head.previous_subscription_id) | Q(previous_subscription_id=pk))
        .order_by("pk")
    )
    by_pk = {row.pk: row for row in rows}
    subscription = by_pk[pk]
    return subscription, by_pk.get(subscription.previous_subscription_id)
