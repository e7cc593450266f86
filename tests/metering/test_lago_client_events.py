"""Wire compatibility of events and usage: the official lago-python-client against a live Tollbooth."""

import datetime as dt

import pytest
from lago_python_client.exceptions import LagoApiError
from lago_python_client.models.event import BatchEvent, Event

from config import clock
from metering.models import Event as StoredEvent
from tests.billing.factories import SubscriptionFactory
from tests.catalog.factories import BillableMetricFactory, ChargeFactory, PlanFactory
from tests.customers.factories import CustomerFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def subscribed(lago):
    organization = lago.organization
    month_start = clock.utc_now().replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    plan = PlanFactory(organization=organization, amount_currency="EUR")
    metric = BillableMetricFactory(
        organization=organization, code="api_calls", aggregation_type="sum_agg", field_name="calls"
    )
    ChargeFactory(
        plan=plan,
        organization=organization,
        billable_metric=metric,
        charge_model="standard",
        properties={"amount": "0.5"},
        pay_in_advance=True,
    )
    customer = CustomerFactory(organization=organization, external_id="sdk_cust", currency="EUR")
    SubscriptionFactory(
        organization=organization,
        plan=plan,
        customer=customer,
        external_id="sdk_sub",
        subscription_at=month_start - dt.timedelta(days=40),
        started_at=month_start,
    )
    return lago


def test_events_create_find_and_batch_round_trip(subscribed):
    lago = subscribed
    created = lago.events.create(
        Event(
            transaction_id="sdk_1",
            external_subscription_id="sdk_sub",
            code="api_calls",
            properties={"calls": "4"},
        )
    )
    assert created.transaction_id == "sdk_1" and created.lago_id and created.lago_subscription_id
    assert created.properties == {"calls": "4"}

    lago.events.batch_create(
        BatchEvent(
            events=[
                Event(
                    transaction_id=f"sdk_b{i}",
                    external_subscription_id="sdk_sub",
                    code="api_calls",
                    properties={"calls": str(i)},
                )
                for i in range(1, 4)
            ]
        )
    )
    assert StoredEvent.objects.filter(organization=lago.organization).count() == 4

    found = lago.events.find("sdk_b2")
    assert found.properties == {"calls": "2"} and found.external_subscription_id == "sdk_sub"

    with pytest.raises(LagoApiError) as duplicate:
        lago.events.create(
            Event(transaction_id="sdk_1", external_subscription_id="sdk_sub", code="api_calls")
        )
    assert duplicate.value.status_code == 422
    assert duplicate.value.response["error_details"] == {"transaction_id": ["value_already_exist"]}

    with pytest.raises(LagoApiError) as missing:
        lago.events.find("nope")
    assert missing.value.status_code == 404


def test_current_usage_and_estimate_round_trip(subscribed):
    lago = subscribed
    lago.events.batch_create(
        BatchEvent(
            events=[
                Event(
                    transaction_id=f"u{i}",
                    external_subscription_id="sdk_sub",
                    code="api_calls",
                    properties={"calls": "10"},
                )
                for i in range(3)
            ]
        )
    )
    usage = lago.customers.current_usage("sdk_cust", "sdk_sub")
    assert usage.amount_cents == 1_500 and usage.currency == "EUR"
    assert usage.charges_usage[0].units == "30.0"
    assert usage.charges_usage[0].billable_metric.code == "api_calls"
    assert usage.charges_usage[0].events_count == 3

    untaxed = lago.customers.current_usage("sdk_cust", "sdk_sub", apply_taxes="false")
    assert untaxed.taxes_amount_cents == 0

    estimate = lago.events.estimate_fees(
        Event(
            transaction_id="est",
            external_subscription_id="sdk_sub",
            code="api_calls",
            properties={"calls": "2"},
        )
    )
    assert [fee.amount_cents for fee in estimate["fees"]] == [100]

    with pytest.raises(LagoApiError) as no_subscription:
        lago.customers.current_usage("sdk_cust", "ghost")
    assert no_subscription.value.status_code == 405
