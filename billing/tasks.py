"""Celery tasks of the billing app: thin and idempotent, each calls one service. The beat schedule lives in
config/schedule.py (the lead's)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator

from celery import shared_task

from billing import instant_fees
from billing.services import subscriptions as services
from config import clock
from customers.models import Organization


def _clocks() -> Iterator[tuple[Organization | None, dt.datetime]]:
    """Every clock to run a time-driven service on: the real one for all ordinary organizations (None), then
    each sandbox organization's frozen test clock."""
    yield None, clock.utc_now()
    for organization in Organization.objects.filter(is_sandbox=True, frozen_time__isnull=False).order_by(
        "pk"
    ):
        yield organization, clock.now(organization)


def _run(service: Callable, organization_id: str | None = None) -> int:
    if organization_id is not None:
        organization = Organization.objects.get(pk=organization_id)
        return len(service(organization=organization, now=clock.now(organization)))
    return sum(len(service(organization=organization, now=now)) for organization, now in _clocks())


@shared_task(name="billing.activate_pending_subscriptions")
def activate_pending_subscriptions(organization_id: str | None = None) -> int:
    """Start the subscriptions whose start day (customer's timezone) has come, and apply due downgrades."""
    return _run(services.activate_pending_subscriptions, organization_id)


@shared_task(name="billing.terminate_ended_subscriptions")
def terminate_ended_subscriptions(organization_id: str | None = None) -> int:
    """Terminate the subscriptions whose ending_at has passed."""
    return _run(services.terminate_ended_subscriptions, organization_id)


@shared_task(name="billing.mark_trials_ended")
def mark_trials_ended(organization_id: str | None = None) -> int:
    """Record the end of free trials (trial_ended_at)."""
    return _run(services.mark_trials_ended, organization_id)


@shared_task(name="billing.run_due_jobs")
def run_due_jobs(organization_id: str | None = None) -> dict[str, int]:
    """Everything that fell due (billing.clock_jobs), for each organization at its own clock."""
    from billing.clock_jobs import run_due_jobs as run

    totals: dict[str, int] = {}
    organizations = Organization.objects.order_by("pk")
    if organization_id is not None:
        organizations = organizations.filter(pk=organization_id)
    for organization in organizations.iterator():
        for name, count in run(organization=organization, now=clock.now(organization)).items():
            totals[name] = totals.get(name, 0) + count
    return totals


@shared_task(name="billing.create_instant_fees")
def create_instant_fees(organization_id: str, items: list) -> int:
    """Instant fees of freshly ingested events on pay-in-advance charges (billing.instant_fees), queued after the
    ingestion commit with [[event id, subscription id], ...]. Idempotent: an event billed already is skipped."""
    organization = Organization.objects.filter(pk=organization_id).first()
    if organization is None:
        return 0
    return len(instant_fees.create_instant_fees(organization=organization, items=items))
