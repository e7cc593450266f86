"""The events back office: browsable, searchable, read-only, with the billable status."""

import pytest
from django.contrib.auth.models import User

from metering.models import Event
from tests.metering.factories import scenario

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(client):
    user = User.objects.create_superuser("admin", "admin@example.test", "pw")
    client.force_login(user)
    return client


def test_changelist_shows_billable_status_and_filters(staff):
    s = scenario()
    s.charge(s.metric(code="calls", aggregation_type="count_agg"))
    s.send(code="calls", tx="good")
    s.send(code="calls", tx="ghost_tx", sub="ghost")
    page = staff.get("/admin/metering/event/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "good" in html and "ghost_tx" in html
    assert "not billable — subscription_not_found" in html
    only_bad = staff.get("/admin/metering/event/?billable=subscription_not_found").content.decode()
    assert "ghost_tx" in only_bad and ">good<" not in only_bad
    searched = staff.get("/admin/metering/event/?q=good").content.decode()
    assert "good" in searched and "ghost_tx" not in searched


def test_events_are_read_only(staff):
    s = scenario()
    s.send(tx="ro")
    event = Event.objects.get()
    detail = staff.get(f"/admin/metering/event/{event.pk}/change/")
    assert detail.status_code == 200
    assert "not billable" in detail.content.decode()
    assert staff.get("/admin/metering/event/add/").status_code == 403
    assert staff.post(f"/admin/metering/event/{event.pk}/delete/", {"post": "yes"}).status_code == 403
    assert Event.objects.count() == 1
