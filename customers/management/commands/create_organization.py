"""manage.py create_organization NAME [--timezone TZ] [--currency EUR] [--sandbox [--clock ISO]]"""

from __future__ import annotations

import datetime as dt

from django.core.management.base import BaseCommand, CommandError

from config.api.fields import is_valid_timezone
from config.lago_enums import CURRENCIES
from customers import services


class Command(BaseCommand):
    help = "Create an organization and print its new API key alone on the last line."

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument("--timezone", default="UTC")
        parser.add_argument("--currency", default="USD")
        parser.add_argument(
            "--sandbox", action="store_true", help="Use a frozen test clock instead of real time."
        )
        parser.add_argument(
            "--clock", help="Initial test-clock instant (ISO-8601) for a sandbox organization."
        )

    def handle(self, *args, name, timezone, currency, sandbox, clock, **options):
        if not is_valid_timezone(timezone):
            raise CommandError(f"Unknown timezone: {timezone}")
        currency = currency.upper()
        if currency not in CURRENCIES:
            raise CommandError(f"Unknown currency: {currency}")
        frozen_time = None
        if clock:
            if not sandbox:
                raise CommandError("--clock needs --sandbox")
            try:
                frozen_time = dt.datetime.fromisoformat(clock.replace("Z", "+00:00"))
            except ValueError:
                raise CommandError(f"Invalid --clock: {clock}")
            if frozen_time.tzinfo is None:
                frozen_time = frozen_time.replace(tzinfo=dt.UTC)
        organization, secret = services.create_organization(
            name=name, timezone=timezone, default_currency=currency, sandbox=sandbox, frozen_time=frozen_time
        )
        self.stdout.write(f"Organization {organization.name} ({organization.id})")
        self.stdout.write(secret)
