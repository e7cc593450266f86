from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from customers.models import Organization

pytestmark = pytest.mark.django_db


def test_create_organization_prints_a_working_key_on_the_last_line():
    out = StringIO()
    call_command("create_organization", "Acme", "--timezone", "Europe/Paris", "--currency", "eur", stdout=out)
    key = out.getvalue().strip().splitlines()[-1]
    organization = Organization.objects.get(name="Acme")
    assert organization.timezone == "Europe/Paris" and organization.default_currency == "EUR"
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    assert client.get("/api/v1/organizations").json()["organization"]["lago_id"] == str(organization.id)


def test_create_sandbox_organization_with_a_clock():
    call_command(
        "create_organization", "Sandbox", "--sandbox", "--clock", "2024-01-01T00:00:00Z", stdout=StringIO()
    )
    organization = Organization.objects.get(name="Sandbox")
    assert organization.is_sandbox and organization.frozen_time.isoformat() == "2024-01-01T00:00:00+00:00"


@pytest.mark.parametrize(
    "args", [["X", "--timezone", "Nope/Nope"], ["X", "--currency", "ABC"], ["X", "--clock", "2024-01-01"]]
)
def test_create_organization_refuses_bad_arguments(args):
    with pytest.raises(CommandError):
        call_command("create_organization", *args, stdout=StringIO())
    assert not Organization.objects.exists()


def test_ensure_demo_is_idempotent(tmp_path, monkeypatch):
    import customers.management.commands.ensure_demo as ensure_demo

    monkeypatch.setattr(ensure_demo, "DATA_DIR", tmp_path)
    first, second = StringIO(), StringIO()
    call_command("ensure_demo", stdout=first)
    call_command("ensure_demo", stdout=second)
    assert Organization.objects.filter(name=ensure_demo.DEMO_NAME).count() == 1
    key = (
        next(line for line in second.getvalue().splitlines() if line.startswith("API key"))
        .split(":", 1)[1]
        .strip()
    )
    assert key in first.getvalue()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    assert client.get("/api/v1/customers").status_code == 200
