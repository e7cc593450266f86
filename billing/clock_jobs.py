"""Everything that falls due with time, in the order it must happen at one instant: subscriptions start and
end, trials end, invoices are billed, drafts whose grace period is over are finalized, unpaid invoices become
overdue, coupons expire. The hourly beat task and the test clock both run `run_due_jobs`, so a sandbox
organization goes through the same code path as production.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from billing import runs
from billing.services import invoices as billing_invoices
from billing.services import subscriptions as subscription_services
from catalog.services import coupons as coupon_services
from invoicing import services as invoicing_services


def _billing(*, organization, now):
    return runs.run_billing(organization=organization, now=now).invoices


def _coupons(*, organization, now):
    return [None] * coupon_services.terminate_expired_coupons(organization=organization, now=now)


JOBS: tuple[tuple[str, Callable], ...] = (
    ("subscriptions_activated", subscription_services.activate_pending_subscriptions),
    ("subscriptions_terminated", subscription_services.terminate_ended_subscriptions),
    ("trials_ended", subscription_services.mark_trials_ended),
    ("invoices_billed", _billing),
    ("drafts_finalized", billing_invoices.finalize_due_drafts),
    ("invoices_overdue", invoicing_services.mark_overdue_invoices),
    ("coupons_expired", _coupons),
)


def run_due_jobs(*, organization, now: dt.datetime) -> dict[str, int]:
    """Run every time-driven job for one organization at `now`; returns how many things each job did."""
    return {name: len(job(organization=organization, now=now)) for name, job in JOBS}
