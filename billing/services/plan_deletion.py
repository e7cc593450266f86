"""What deleting a plan does to its subscriptions (Plans::DestroyService): active ones end now, pending ones never
start. Final invoices for the terminated subscriptions are the billing engine's to add."""

from __future__ import annotations

from django.db import transaction

from billing.models import Subscription, SubscriptionStatus
from catalog.models import Plan
from config import clock


@transaction.atomic
def terminate_plan_subscriptions(plan: Plan) -> dict[str, int]:
    """Terminate the active subscriptions of the plan and of its override children (terminated_at = now) and
    cancel the pending ones (canceled_at = now), including a pending downgrade waiting behind a terminated
    subscription on another plan (Subscriptions::TerminateService cancels the next subscription). Returns how
    many of each."""
    now = clock.now(plan.organization)
    plan_ids = [plan.pk, *Plan.objects.filter(parent=plan).values_list("pk", flat=True)]
    subscriptions = Subscription.objects.filter(organization_id=plan.organization_id, plan_id__in=plan_ids)
    # Lock in a fixed order so two concurrent deletions (or a billing run) cannot deadlock.
    active_ids = [
        pk
        for pk, status in subscriptions.select_for_update().order_by("pk").values_list("pk", "status")
        if status == SubscriptionStatus.ACTIVE
    ]
    terminated = Subscription.objects.filter(pk__in=active_ids).update(
        status=SubscriptionStatus.TERMINATED, terminated_at=now, updated_at=now
    )
    pending = Subscription.objects.filter(
        organization_id=plan.organization_id, status=SubscriptionStatus.PENDING
    )
    canceled = (
        pending.filter(plan_id__in=plan_ids) | pending.filter(previous_subscription_id__in=active_ids)
    ).update(status=SubscriptionStatus.CANCELED, canceled_at=now, updated_at=now)
    return {"terminated": terminated, "canceled": canceled}
