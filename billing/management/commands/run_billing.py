"""manage.py run_billing [--at ISO-DATETIME] [--organization ID]: bill everything due up to an instant.

Safe to interrupt and rerun: each (subscription, billing instant) is billed once (a database constraint), so a
second run only does what the first did not finish.
"""

from __future__ import annotations

import datetime as dt

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from billing.runs import run_billing
from customers.models import Organization


class Command(BaseCommand):
    help = "Bill every subscription for everything due up to --at (default: each organization's clock)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--at", help="ISO-8601 instant to bill up to (default: now, per organization clock)"
        )
        parser.add_argument("--organization", help="Only this organization (id)")
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args, at, organization, no_progress, **options):
        now = None
        if at:
            try:
                now = dt.datetime.fromisoformat(at.replace("Z", "+00:00"))
            except ValueError:
                raise CommandError(f"Invalid --at: {at}")
            if now.tzinfo is None:
                now = now.replace(tzinfo=dt.UTC)
        org = None
        if organization:
            org = Organization.objects.filter(pk=organization).first()
            if org is None:
                raise CommandError(f"Unknown organization: {organization}")
        bar = tqdm(total=0, unit="subscription", disable=no_progress, file=self.stderr)

        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        summary = run_billing(organization=org, now=now, progress=progress)
        bar.close()
        self.stdout.write(
            f"{summary.subscriptions} subscriptions, {len(summary.invoices)} invoices created, "
            f"{summary.already_billed} already billed, {len(summary.failed)} failed"
        )
        for subscription_id, error in summary.failed:
            self.stderr.write(f"  {subscription_id}: {error}")
        if summary.failed:
            raise CommandError("some subscriptions failed; rerun to retry them")
