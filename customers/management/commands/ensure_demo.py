"""manage.py ensure_demo: make sure a demo organization, an API key and an admin login exist, and print them."""

from __future__ import annotations

import os
import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from config.embedded_db import DATA_DIR
from customers import services
from customers.models import Organization
from customers.selectors import api_key_by_secret

DEMO_NAME = "Demo Organization"


class Command(BaseCommand):
    help = "Create (once) the demo organization, its API key and an admin login; print them."

    def handle(self, *args, **options):
        # The secrets are kept in .data/ so that later runs can print them again (only digests are in the DB).
        secrets_file = DATA_DIR / "demo-credentials"
        saved = (
            dict(line.split("=", 1) for line in secrets_file.read_text().splitlines() if "=" in line)
            if secrets_file.exists()
            else {}
        )

        organization = Organization.objects.filter(name=DEMO_NAME).order_by("created_at").first()
        api_key = saved.get("api_key")
        if organization is None:
            organization, api_key = services.create_organization(name=DEMO_NAME, default_currency="EUR")
        elif not api_key or api_key_by_secret(api_key) is None:
            _, api_key = services.create_api_key(organization=organization, name="demo")

        username = os.environ.get("ADMIN_USERNAME", "admin")
        password = (
            os.environ.get("ADMIN_PASSWORD") or saved.get("admin_password") or secrets.token_urlsafe(12)
        )
        User = get_user_model()
        user = User.objects.filter(username=username).first()
        if user is None:
            User.objects.create_superuser(username=username, email="admin@example.com", password=password)
        elif os.environ.get("ADMIN_PASSWORD"):
            user.set_password(password)
            user.save(update_fields=["password"])

        secrets_file.parent.mkdir(parents=True, exist_ok=True)
        secrets_file.write_text(f"api_key={api_key}\nadmin_password={password}\n")
        secrets_file.chmod(0o600)

        self.stdout.write(f"Organization : {organization.name} ({organization.id})")
        self.stdout.write(f"API key      : {api_key}")
        self.stdout.write(f"Admin login  : {username} / {password}")
