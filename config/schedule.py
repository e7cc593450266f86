"""Every celery-beat entry, in one place, each with when and why."""

from __future__ import annotations

from celery.schedules import crontab

BEAT_SCHEDULE: dict[str, dict] = {
    # Hourly, at minute 5: billing instants are local midnights, so every timezone's day boundary is caught
    # within the hour. The run starts and ends subscriptions, bills every period that ended (catching up on
    # any the scheduler missed), finalizes drafts whose grace period is over, flags overdue invoices and
    # expires coupons — for real-clock organizations, and for each sandbox organization at its own clock.
    "run-due-jobs": {"task": "billing.run_due_jobs", "schedule": crontab(minute=5)},
}
