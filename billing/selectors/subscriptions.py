"""Reads for subscriptions; every query is scoped by organization.

Also the derived dates the API shows (current billing period, downgrade date): they read the subscription and
`billing.periods`, never write.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from django.db.models import F, Q, QuerySet

from billing import periods
from billing.models import Subscription, SubscriptionStatus
from catalog.plan_overrides import yearly_amount_cents
from config import errors

DEFAULT_LIST_STATUSES = (SubscriptionStatus.ACTIVE,)


def _base(organization) -> QuerySet[Subscription]:
    return Subscription.objects.filter(organization=organization).select_related(
        "customer__organization",
        "plan__parent",
        "previous_subscription__plan",
        "next_subscription__plan",
    )


def subscription_list(organization, *, filters: dict | None = None) -> QuerySet[Subscription]:
    """Lago's SubscriptionsQuery: newest subscription_at first; `status` defaults to active only."""
    filters = filters or {}
    qs = _base(organization)
    statuses = filters.get("status") or DEFAULT_LIST_STATUSES
    qs = qs.filter(status__in=list(statuses))
    if filters.get("external_customer_id"):
        qs = qs.filter(
            customer__external_id=filters["external_customer_id"], customer__deleted_at__isnull=True
        )
    if filters.get("customer") is not None:
        qs = qs.filter(customer=filters["customer"])
    if filters.get("plan_code"):
        qs = qs.filter(plan__code=filters["plan_code"])
    if filters.get("currency"):
        qs = qs.filter(plan__amount_currency=filters["currency"])
    if filters.get("external_id"):
        qs = qs.filter(external_id=filters["external_id"])
    return qs.order_by(F("subscription_at").desc(nulls_last=True), "-created_at", "-id")


def subscription_by_external_id(organization, external_id: str, *, status: str | None = None) -> Subscription:
    """GET /subscriptions/{external_id}: the one with `status` (default active); 404 subscription_not_found.

    Several terminated/canceled ones may share an external_id: the latest terminated (then started) wins.
    """
    subscription = (
        _base(organization)
        .filter(external_id=external_id, status=status or SubscriptionStatus.ACTIVE)
        .order_by(
            F("terminated_at").desc(nulls_first=True), F("started_at").desc(nulls_first=True), "-created_at"
        )
        .first()
    )
    if subscription is None:
        raise errors.NotFound("subscription")
    return subscription


def subscription_to_update(organization, external_id: str, *, status: str | None = None) -> Subscription:
    """PUT /subscriptions/{external_id}: the only subscription with this id, or (several) the one with `status`
    (pending or incomplete when asked, else active), as Lago's controller picks it."""
    qs = _base(organization).filter(external_id=external_id).order_by("-subscription_at", "-created_at")
    if qs.count() > 1:
        wanted = status if status in (SubscriptionStatus.PENDING, SubscriptionStatus.INCOMPLETE) else "active"
        qs = qs.filter(status=wanted)
    subscription = qs.first()
    if subscription is None:
        raise errors.NotFound("subscription")
    return subscription


def subscription_to_terminate(organization, external_id: str, *, status: str | None = None) -> Subscription:
    """DELETE /subscriptions/{external_id}: the active one, or the pending one with `status=pending`."""
    wanted = SubscriptionStatus.PENDING if status == SubscriptionStatus.PENDING else SubscriptionStatus.ACTIVE
    subscription = (
        _base(organization).filter(external_id=external_id, status=wanted).order_by("-created_at").first()
    )
    if subscription is None:
        raise errors.NotFound("subscription")
    return subscription


def subscription_with_details(subscription: Subscription) -> Subscription:
    """A fresh copy of `subscription` with what the API output reads (after a write)."""
    return _base(subscription.organization_id).get(pk=subscription.pk)


def editable_subscription(customer, external_id: str) -> Subscription | None:
    """The customer's subscription a POST /subscriptions with this external_id changes: the active one, or one
    starting in the future (pending, no predecessor). Lago's `editable_subscriptions`."""
    return (
        Subscription.objects.filter(
            organization_id=customer.organization_id, customer=customer, external_id=external_id
        )
        .filter(
            Q(status=SubscriptionStatus.ACTIVE)
            | Q(status=SubscriptionStatus.PENDING, previous_subscription__isnull=True)
        )
        .order_by(F("started_at").desc(nulls_first=True))
        .first()
    )


def initial_started_at(subscription: Subscription) -> dt.datetime | None:
    """First `started_at` of the customer's subscriptions with this external_id (trials count from it, §4.3)."""
    first = (
        Subscription.objects.filter(
            organization_id=subscription.organization_id,
            customer_id=subscription.customer_id,
            external_id=subscription.external_id,
            started_at__isnull=False,
        )
        .order_by("started_at")
        .values_list("started_at", flat=True)
        .first()
    )
    return first or subscription.started_at


# --------------------------------------------------------------------------------------------------------------
# Derived dates
# --------------------------------------------------------------------------------------------------------------


def subscription_timezone(subscription: Subscription) -> ZoneInfo:
    """The customer's applicable timezone: customer → organization → UTC (§0)."""
    customer = subscription.customer
    return periods.resolve_timezone(customer.timezone, customer.organization.timezone)


def current_billing_period(subscription: Subscription, now: dt.datetime) -> periods.BillingPeriod | None:
    """The usage period in progress at `now` (Lago's current_billing_period_*: the charges window).

    None for a subscription that never started (pending, canceled). A subscription whose start is still ahead
    (a "today" start later in the day) shows its first period; a terminated one its last.
    """
    if subscription.started_at is None:
        return None
    plan = subscription.plan
    return periods.current_billing_period(
        instant=max(now, subscription.started_at),
        interval=plan.interval,
        billing_time=subscription.billing_time,
        subscription_at=subscription.subscription_at,
        started_at=subscription.started_at,
        terminated_at=subscription.terminated_at,
        timezone=subscription_timezone(subscription),
        bill_charges_monthly=bool(plan.bill_charges_monthly),
    )


def downgrade_rotation_instant(current: Subscription, pending: Subscription) -> dt.datetime:
    """When a downgrade takes effect: the start of the first base-fee period of `current` after the downgrade was
    requested (`pending.created_at`), i.e. local 00:00 after `current`'s period end (§4.4)."""
    return periods.next_billing_instant(
        pending.created_at,
        interval=current.plan.interval,
        billing_time=current.billing_time,
        subscription_at=current.subscription_at,
        timezone=subscription_timezone(current),
    )


def live_next_subscription(subscription: Subscription) -> Subscription | None:
    """The next subscription of the chain unless it was canceled (Lago's `next_subscription`)."""
    try:
        following = subscription.next_subscription
    except Subscription.DoesNotExist:
        return None
    if following is None or following.status == SubscriptionStatus.CANCELED:
        return None
    return following


def downgrade_plan_date(subscription: Subscription) -> dt.date | None:
    """Local date the pending downgrade takes effect (or took effect, once its successor is active)."""
    following = live_next_subscription(subscription)
    if following is None:
        return None
    tz = subscription_timezone(subscription)
    if following.status == SubscriptionStatus.ACTIVE:
        downgraded = yearly_amount_cents(subscription.plan) > yearly_amount_cents(following.plan)
        if downgraded and following.started_at is not None:
            return periods.local_date(following.started_at, tz)
        return None
    if following.status != SubscriptionStatus.PENDING:
        return None
    return periods.local_date(downgrade_rotation_instant(subscription, following), tz)
