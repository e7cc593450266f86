"""Test clocks (Stripe-style): a sandbox organization reads its own frozen time, and advancing it runs, in time
order, everything that fell due in between — with the same jobs the scheduler runs in production."""

from __future__ import annotations

import datetime as dt

from django.db import transaction

from billing.clock_jobs import run_due_jobs
from config import errors
from customers.models import Organization

STEP = dt.timedelta(days=1)


def _require_sandbox(organization: Organization) -> None:
    if not organization.is_sandbox:
        raise errors.Forbidden("not_a_sandbox_organization")


def advance_test_clock(*, organization: Organization, frozen_time: dt.datetime) -> dict[str, int]:
    """Move the organization's clock forward to `frozen_time`, stopping at every UTC midnight in between and at
    `frozen_time` to run the jobs due then. What a job produces does not depend on how late it runs (an invoice
    carries its own billing instant and issuing date), so daily stops give what real time would. Moving
    backwards is refused (422). Returns totals per job."""
    _require_sandbox(organization)
    with transaction.atomic():
        locked = Organization.objects.select_for_update().get(pk=organization.pk)
        current = locked.frozen_time
        if frozen_time < current:
            raise errors.ValidationFailed(frozen_time=["cannot_move_backwards"])
    totals: dict[str, int] = {}
    stop = current
    while stop < frozen_time:
        stop = min(frozen_time, _next_stop(stop))
        Organization.objects.filter(pk=organization.pk).update(frozen_time=stop)
        organization.frozen_time = stop
        for name, count in run_due_jobs(organization=organization, now=stop).items():
            totals[name] = totals.get(name, 0) + count
    if current == frozen_time:
        for name, count in run_due_jobs(organization=organization, now=frozen_time).items():
            totals[name] = totals.get(name, 0) + count
    return totals


def _next_stop(instant: dt.datetime) -> dt.datetime:
    """The next UTC midnight after `instant`."""
    return instant.astimezone(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0) + STEP
