"""Subscription lifecycle driven by time (billing-semantics §4.2–§4.5): pending starts at the customer's local
midnight, downgrades at the period end, ending_at, trials; the celery tasks, the admin, concurrency, and the
lago-python-client round trip."""

import datetime as dt
import threading

import pytest
from django.db import connection

from billing import tasks
from billing.models import Subscription
from billing.selectors import subscriptions as selectors
from billing.services import subscriptions as services
from tests.billing.factories import SubscriptionFactory, move_clock, sandbox_organization
from tests.catalog.factories import PlanFactory
from tests.customers.factories import CustomerFactory

pytestmark = pytest.mark.django_db


def utc(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=dt.UTC)


def subscribe(org, customer, plan, external_id="sub_1", **data) -> Subscription:
    payload = {
        "external_customer_id": customer.external_id,
        "plan_code": plan.code,
        "external_id": external_id,
    }
    payload.update(data)
    return services.create_subscription(organization=org, data=payload)


def setup(now, *, timezone="UTC", customer_timezone=None, **plan_fields):
    org, _ = sandbox_organization(now, timezone=timezone)
    customer = CustomerFactory(
        organization=org, external_id="cus", currency="EUR", timezone=customer_timezone
    )
    plan = PlanFactory(organization=org, code="basic", **{"amount_cents": 10_000, **plan_fields})
    return org, customer, plan


def reload(subscription: Subscription) -> Subscription:
    return Subscription.objects.select_related("plan").get(pk=subscription.pk)


# --- start dates (§4.2) ------------------------------------------------------------------------------------------


def test_pending_subscription_starts_at_the_customers_local_midnight():
    # New York: 2024-03-10 is the DST switch; its local midnight is 05:00Z (EST).
    org, customer, plan = setup(utc(2024, 3, 5, 12), customer_timezone="America/New_York")
    subscription = subscribe(org, customer, plan, subscription_at=utc(2024, 3, 10, 15))
    assert subscription.status == "pending" and subscription.started_at is None

    assert services.activate_pending_subscriptions(organization=org, now=utc(2024, 3, 10, 4, 59, 59)) == []
    assert reload(subscription).status == "pending"

    activated = services.activate_pending_subscriptions(organization=org, now=utc(2024, 3, 10, 5))
    assert [s.pk for s in activated] == [subscription.pk]
    subscription = reload(subscription)
    assert subscription.status == "active"
    assert subscription.started_at == utc(2024, 3, 10, 5)

    # Idempotent: a rerun (or a later tick) changes nothing.
    assert services.activate_pending_subscriptions(organization=org, now=utc(2024, 3, 10, 6)) == []
    assert reload(subscription).started_at == utc(2024, 3, 10, 5)


def test_organization_timezone_applies_when_the_customer_has_none():
    org, customer, plan = setup(utc(2024, 3, 5), timezone="Asia/Tokyo")
    subscription = subscribe(org, customer, plan, subscription_at=utc(2024, 3, 10, 12))
    assert services.activate_pending_subscriptions(organization=org, now=utc(2024, 3, 9, 14, 59, 59)) == []
    assert len(services.activate_pending_subscriptions(organization=org, now=utc(2024, 3, 9, 15))) == 1
    assert reload(subscription).started_at == utc(2024, 3, 9, 15)


def test_a_late_activation_starts_at_subscription_at():
    org, customer, plan = setup(utc(2024, 3, 5))
    subscription = subscribe(org, customer, plan, subscription_at=utc(2024, 3, 10, 15))
    services.activate_pending_subscriptions(organization=org, now=utc(2024, 3, 12))
    assert reload(subscription).started_at == utc(2024, 3, 10, 15)


def test_past_and_today_starts_are_active_at_once():
    org, customer, plan = setup(utc(2024, 3, 10, 12))
    past = subscribe(org, customer, plan, external_id="past", subscription_at=utc(2024, 2, 1, 8))
    today = subscribe(org, customer, plan, external_id="today", subscription_at=utc(2024, 3, 10, 1))
    assert (past.status, past.started_at) == ("active", utc(2024, 2, 1, 8))
    assert (today.status, today.started_at) == ("active", utc(2024, 3, 10, 1))


# --- upgrade and downgrade (§4.4) --------------------------------------------------------------------------------


def test_upgrade_is_immediate_and_keeps_the_anniversary():
    org, customer, plan = setup(utc(2024, 3, 1))
    old = subscribe(org, customer, plan, billing_time="anniversary", subscription_at=utc(2024, 1, 20, 9))
    move_clock(org, utc(2024, 3, 10, 16))
    premium = PlanFactory(organization=org, code="premium", amount_cents=20_000)
    new = subscribe(org, customer, premium)
    old = reload(old)
    assert (old.status, old.terminated_at) == ("terminated", utc(2024, 3, 10, 16))
    assert (new.status, new.started_at, new.previous_subscription_id) == (
        "active",
        utc(2024, 3, 10, 16),
        old.pk,
    )
    assert (new.subscription_at, new.billing_time) == (utc(2024, 1, 20, 9), "anniversary")
    period = selectors.current_billing_period(reload(new), utc(2024, 3, 10, 16))
    assert (period.charges_from_datetime, period.charges_to_datetime) == (
        utc(2024, 3, 10, 16),
        utc(2024, 3, 19, 23, 59, 59),
    )


def test_downgrade_takes_effect_at_the_local_period_end():
    org, customer, plan = setup(utc(2024, 3, 10), customer_timezone="Asia/Tokyo")
    current = subscribe(org, customer, plan)
    cheap = PlanFactory(organization=org, code="cheap", amount_cents=5_000)
    returned = subscribe(org, customer, cheap)
    assert returned.pk == current.pk
    pending = Subscription.objects.get(status="pending")
    assert pending.previous_subscription_id == current.pk
    assert selectors.downgrade_plan_date(reload(current)) == dt.date(2024, 4, 1)

    # Tokyo's 2024-04-01 00:00 is 2024-03-31T15:00Z.
    assert services.activate_pending_subscriptions(organization=org, now=utc(2024, 3, 31, 14, 59, 59)) == []
    activated = services.activate_pending_subscriptions(organization=org, now=utc(2024, 3, 31, 15))
    assert [s.pk for s in activated] == [pending.pk]
    current, pending = reload(current), reload(pending)
    assert (current.status, current.terminated_at) == ("terminated", utc(2024, 3, 31, 14, 59, 59))
    assert (pending.status, pending.started_at) == ("active", utc(2024, 3, 31, 15))
    assert selectors.downgrade_plan_date(current) == dt.date(2024, 4, 1)
    assert services.activate_pending_subscriptions(organization=org, now=utc(2024, 4, 2)) == []
    assert reload(pending).started_at == utc(2024, 3, 31, 15)


def test_anniversary_downgrade_waits_for_the_anniversary():
    org, customer, plan = setup(utc(2024, 1, 20, 9))
    current = subscribe(org, customer, plan, billing_time="anniversary")
    move_clock(org, utc(2024, 3, 10))
    subscribe(org, customer, PlanFactory(organization=org, code="cheap", amount_cents=5_000))
    assert selectors.downgrade_plan_date(reload(current)) == dt.date(2024, 3, 20)
    assert services.activate_pending_subscriptions(organization=org, now=utc(2024, 3, 19, 23, 59, 59)) == []
    assert len(services.activate_pending_subscriptions(organization=org, now=utc(2024, 3, 20))) == 1
    assert reload(current).terminated_at == utc(2024, 3, 19, 23, 59, 59)


# --- termination (§4.5) ------------------------------------------------------------------------------------------


def test_ending_at_terminates_and_cancels_a_pending_downgrade():
    org, customer, plan = setup(utc(2024, 3, 10))
    current = subscribe(org, customer, plan, ending_at=utc(2024, 3, 15, 10))
    subscribe(org, customer, PlanFactory(organization=org, code="cheap", amount_cents=1))
    pending = Subscription.objects.get(status="pending")

    assert services.terminate_ended_subscriptions(organization=org, now=utc(2024, 3, 15, 9, 59, 59)) == []
    ended = services.terminate_ended_subscriptions(organization=org, now=utc(2024, 3, 15, 11))
    assert [s.pk for s in ended] == [current.pk]
    current, pending = reload(current), reload(pending)
    assert (current.status, current.terminated_at) == ("terminated", utc(2024, 3, 15, 10))
    assert (pending.status, pending.canceled_at) == ("canceled", utc(2024, 3, 15, 11))
    assert services.terminate_ended_subscriptions(organization=org, now=utc(2024, 3, 16)) == []
    # The downgraded successor inherited ending_at but never starts.
    assert services.activate_pending_subscriptions(organization=org, now=utc(2024, 4, 2)) == []


def test_a_downgrade_after_ending_at_is_not_applied():
    org, customer, plan = setup(utc(2024, 3, 10))
    current = subscribe(org, customer, plan, ending_at=utc(2024, 3, 20))
    subscribe(org, customer, PlanFactory(organization=org, code="cheap", amount_cents=1))
    assert services.activate_pending_subscriptions(organization=org, now=utc(2024, 4, 1)) == []
    services.terminate_ended_subscriptions(organization=org, now=utc(2024, 4, 1))
    assert reload(current).terminated_at == utc(2024, 3, 20)
    assert sorted(Subscription.objects.values_list("status", flat=True)) == ["canceled", "terminated"]


def test_terminate_and_cancel_services():
    org, customer, plan = setup(utc(2024, 3, 10))
    active = subscribe(org, customer, plan, external_id="a")
    pending = subscribe(org, customer, plan, external_id="p", subscription_at=utc(2024, 4, 1))
    move_clock(org, utc(2024, 3, 12))
    terminated = services.terminate_subscription(subscription=active)
    assert (terminated.status, terminated.terminated_at) == ("terminated", utc(2024, 3, 12))
    again = services.terminate_subscription(subscription=terminated)
    assert again.terminated_at == utc(2024, 3, 12)
    canceled = services.cancel_subscription(subscription=pending)
    assert (canceled.status, canceled.canceled_at, canceled.started_at) == (
        "canceled",
        utc(2024, 3, 12),
        None,
    )


# --- trials (§4.3) -----------------------------------------------------------------------------------------------


def test_trial_end_is_recorded_when_it_passes():
    org, customer, plan = setup(utc(2024, 3, 5, 12, 12), trial_period=10)
    subscription = subscribe(org, customer, plan)
    assert services.mark_trials_ended(organization=org, now=utc(2024, 3, 15, 12, 11, 59)) == []
    assert reload(subscription).trial_ended_at is None
    assert len(services.mark_trials_ended(organization=org, now=utc(2024, 3, 15, 12, 12))) == 1
    assert reload(subscription).trial_ended_at == utc(2024, 3, 15, 12, 12)
    assert services.mark_trials_ended(organization=org, now=utc(2024, 3, 20)) == []


def test_an_upgrade_keeps_counting_the_trial_from_the_first_start():
    org, customer, plan = setup(utc(2024, 3, 5, 12, 12), trial_period=10)
    subscribe(org, customer, plan)
    move_clock(org, utc(2024, 3, 10))
    bigger = PlanFactory(organization=org, code="bigger", amount_cents=20_000, trial_period=13)
    upgraded = subscribe(org, customer, bigger)
    assert services.mark_trials_ended(organization=org, now=utc(2024, 3, 18, 12, 11)) == []
    services.mark_trials_ended(organization=org, now=utc(2024, 3, 18, 12, 12))
    assert reload(upgraded).trial_ended_at == utc(2024, 3, 18, 12, 12)


def test_plans_without_trial_are_left_alone():
    org, customer, plan = setup(utc(2024, 3, 5))
    subscription = subscribe(org, customer, plan)
    assert services.mark_trials_ended(organization=org, now=utc(2025, 1, 1)) == []
    assert reload(subscription).trial_ended_at is None


# --- celery tasks: each organization on its own clock ----------------------------------------------------------


def test_tasks_run_every_organization_on_its_own_clock():
    early, early_customer, early_plan = setup(utc(2024, 3, 1))
    late, late_customer, late_plan = setup(utc(2024, 3, 1))
    waiting = subscribe(early, early_customer, early_plan, subscription_at=utc(2024, 3, 20))
    due = subscribe(late, late_customer, late_plan, subscription_at=utc(2024, 3, 20))
    move_clock(late, utc(2024, 3, 20, 1))
    real = SubscriptionFactory(status="pending", started_at=None, subscription_at=utc(2001, 1, 1))

    assert tasks.activate_pending_subscriptions.delay().get() == 2
    assert reload(waiting).status == "pending"
    assert (reload(due).status, reload(due).started_at) == ("active", utc(2024, 3, 20))
    assert reload(real).status == "active"
    assert tasks.activate_pending_subscriptions.delay().get() == 0

    move_clock(early, utc(2024, 3, 20, 2))
    assert tasks.activate_pending_subscriptions.delay(str(early.pk)).get() == 1
    assert reload(waiting).started_at == utc(2024, 3, 20)


def test_terminate_and_trial_tasks():
    org, customer, plan = setup(utc(2024, 3, 5), trial_period=1)
    subscription = subscribe(org, customer, plan, ending_at=utc(2024, 3, 8))
    move_clock(org, utc(2024, 3, 7))
    assert tasks.mark_trials_ended.delay().get() == 1
    assert tasks.terminate_ended_subscriptions.delay().get() == 0
    move_clock(org, utc(2024, 3, 8))
    assert tasks.terminate_ended_subscriptions.delay(str(org.pk)).get() == 1
    subscription = reload(subscription)
    assert (subscription.status, subscription.trial_ended_at) == ("terminated", utc(2024, 3, 6))


# --- admin -------------------------------------------------------------------------------------------------------


def test_admin_lists_searches_and_terminates_through_the_service(admin_client):
    org, customer, plan = setup(utc(2024, 3, 10))
    subscription = subscribe(org, customer, plan, external_id="findme")
    for query in (
        "",
        "?q=findme",
        "?q=cus",
        "?q=basic",
        "?status__exact=active",
        "?billing_time__exact=calendar",
    ):
        response = admin_client.get(f"/admin/billing/subscription/{query}")
        assert response.status_code == 200
        assert b"findme" in response.content
    assert admin_client.get(f"/admin/billing/subscription/{subscription.pk}/change/").status_code == 200
    response = admin_client.post(
        "/admin/billing/subscription/", {"action": "terminate", "_selected_action": [str(subscription.pk)]}
    )
    assert response.status_code == 302
    subscription = reload(subscription)
    assert (subscription.status, subscription.terminated_at) == ("terminated", utc(2024, 3, 10))


def test_admin_renames_through_the_service(admin_client):
    org, customer, plan = setup(utc(2024, 3, 10))
    subscription = subscribe(org, customer, plan)
    response = admin_client.post(
        f"/admin/billing/subscription/{subscription.pk}/change/",
        {"name": "Renamed", "ending_at_0": "", "ending_at_1": ""},
    )
    assert response.status_code == 302
    assert reload(subscription).name == "Renamed"


# --- exactly once under concurrency ------------------------------------------------------------------------------


def _in_threads(*jobs):
    barrier = threading.Barrier(len(jobs))
    results: list = [None] * len(jobs)

    def run(index, job):
        try:
            barrier.wait()
            results[index] = job()
        except Exception as exc:
            results[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, job)) for i, job in enumerate(jobs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


@pytest.mark.django_db(transaction=True)
def test_one_external_id_is_active_once_under_concurrent_creates():
    org, customer, plan = setup(utc(2024, 3, 10))
    other = CustomerFactory(organization=org, external_id="cus_2", currency="EUR")
    results = _in_threads(
        lambda: subscribe(org, customer, plan, external_id="shared"),
        lambda: subscribe(org, other, plan, external_id="shared"),
    )
    created = [r for r in results if isinstance(r, Subscription)]
    refused = [r for r in results if not isinstance(r, Subscription)]
    assert len(created) == 1 and len(refused) == 1
    assert refused[0].error_details == {"external_id": ["value_already_exist"]}
    assert Subscription.objects.filter(external_id="shared").count() == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_activation_runs_activate_once():
    org, customer, plan = setup(utc(2024, 3, 1))
    subscription = subscribe(org, customer, plan, subscription_at=utc(2024, 3, 5))
    results = _in_threads(
        lambda: services.activate_pending_subscriptions(organization=org, now=utc(2024, 3, 5, 1)),
        lambda: services.activate_pending_subscriptions(organization=org, now=utc(2024, 3, 5, 2)),
    )
    assert sum(len(r) for r in results) == 1
    assert reload(subscription).status == "active"


# --- lago-python-client round trip -----------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_lago_client_round_trip(lago):
    from lago_python_client.exceptions import LagoApiError
    from lago_python_client.models import Customer
    from lago_python_client.models.plan import PlanOverrides
    from lago_python_client.models.subscription import Subscription as SdkSubscription

    organization = lago.organization
    PlanFactory(organization=organization, code="basic", amount_cents=10_000, amount_currency="EUR")
    PlanFactory(organization=organization, code="cheap", amount_cents=1_000, amount_currency="EUR")
    lago.customers.create(Customer(external_id="sdk_cus", currency="EUR"))

    created = lago.subscriptions.create(
        SdkSubscription(
            external_customer_id="sdk_cus",
            plan_code="basic",
            external_id="sdk_sub",
            name="SDK",
            billing_time="anniversary",
            plan_overrides=PlanOverrides(amount_cents=9_000),
        )
    )
    assert created.external_id == "sdk_sub" and created.status == "active"
    assert created.billing_time == "anniversary" and created.plan_amount_cents == "9000"
    assert created.current_billing_period_started_at and created.on_termination_invoice == "generate"

    found = lago.subscriptions.find("sdk_sub")
    assert found.lago_id == created.lago_id and found.plan_code == "basic"

    updated = lago.subscriptions.update(
        SdkSubscription(name="Renamed", ending_at="2099-01-01T00:00:00Z"), "sdk_sub"
    )
    assert updated.name == "Renamed" and updated.ending_at == "2099-01-01T00:00:00Z"

    downgraded = lago.subscriptions.create(
        SdkSubscription(external_customer_id="sdk_cus", plan_code="cheap", external_id="sdk_sub")
    )
    assert downgraded.lago_id == created.lago_id and downgraded.next_plan_code == "cheap"
    assert downgraded.downgrade_plan_date

    page = lago.subscriptions.find_all({"external_customer_id": "sdk_cus", "status[]": ["active", "pending"]})
    assert sorted(s.status for s in page["subscriptions"]) == ["active", "pending"]
    assert page["meta"]["total_count"] == 2

    canceled = lago.subscriptions.destroy("sdk_sub", {"status": "pending"})
    assert canceled.status == "canceled" and canceled.canceled_at
    terminated = lago.subscriptions.destroy("sdk_sub")
    assert terminated.status == "terminated" and terminated.terminated_at
    with pytest.raises(LagoApiError) as missing:
        lago.subscriptions.find("sdk_sub")
    assert missing.value.status_code == 404

    with pytest.raises(LagoApiError) as invalid:
        lago.subscriptions.create(
            SdkSubscription(external_customer_id="sdk_cus", plan_code="nope", external_id="other")
        )
    assert invalid.value.status_code == 404
