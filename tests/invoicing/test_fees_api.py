"""/fees endpoints: Lago's Fee shape, the spec's filters, malformed input, tenancy."""

from __future__ import annotations

import datetime as dt

import pytest

from invoicing.models import Fee
from invoicing.services import update_invoice
from tests.billing.factories import SubscriptionFactory
from tests.catalog.factories import ChargeFactory, PlanFactory
from tests.customers.factories import CustomerFactory, OrganizationFactory
from tests.invoicing.factories import FeeFactory, charge_fee, one_off_invoice, subscription_fee

pytestmark = pytest.mark.django_db

UTC = dt.UTC


@pytest.fixture
def fees(organization):
    from invoicing.services import create_invoice

    customer = CustomerFactory(organization=organization, external_id="cust_a")
    plan = PlanFactory(organization=organization)
    subscription = SubscriptionFactory(plan=plan, customer=customer, external_id="sub_a")
    charge = ChargeFactory(plan=plan, billable_metric__code="storage")
    invoice = create_invoice(
        organization=organization,
        customer=customer,
        invoice_type="subscription",
        currency="EUR",
        fees=[
            subscription_fee(subscription, 1000),
            charge_fee(subscription, charge, 300, units=3, events_count=3, event_transaction_id="tx_1"),
        ],
        issuing_date=dt.date(2024, 2, 1),
        finalize=True,
    ).invoice
    other_customer = CustomerFactory(organization=organization, external_id="cust_b", currency="USD")
    usd_invoice = one_off_invoice(other_customer, [700])
    update_invoice(invoice=usd_invoice, payment_status="succeeded")
    base = Fee.objects.get(invoice=invoice, fee_type="subscription")
    usage = Fee.objects.get(invoice=invoice, fee_type="charge")
    add_on = Fee.objects.get(invoice=usd_invoice)
    Fee.objects.filter(pk=base.pk).update(created_at=dt.datetime(2024, 2, 1, tzinfo=UTC))
    Fee.objects.filter(pk=usage.pk).update(created_at=dt.datetime(2024, 2, 2, tzinfo=UTC))
    Fee.objects.filter(pk=add_on.pk).update(created_at=dt.datetime(2024, 2, 3, tzinfo=UTC))
    return {"base": base, "usage": usage, "add_on": add_on}


def test_show_a_fee(api, fees):
    response = api.get(f"/api/v1/fees/{fees['usage'].pk}")
    assert response.status_code == 200
    body = response.json()["fee"]
    assert body["lago_id"] == str(fees["usage"].pk)
    assert body["item"]["type"] == "charge" and body["item"]["code"] == "storage"
    assert (body["amount_cents"], body["units"], body["events_count"]) == (300, "3.0", 3)
    assert body["external_subscription_id"] == "sub_a" and body["external_customer_id"] == "cust_a"
    assert (body["from_date"], body["to_date"]) == ("2024-01-01T00:00:00Z", "2024-01-31T23:59:59Z")
    assert body["event_transaction_id"] == "tx_1"
    assert body["payment_status"] == "pending"
    assert body["created_at"] == "2024-02-02T00:00:00Z"


def test_list_is_oldest_first_and_paginated(api, fees):
    body = api.get("/api/v1/fees", {"per_page": 2}).json()
    assert [f["lago_id"] for f in body["fees"]] == [str(fees["base"].pk), str(fees["usage"].pk)]
    assert body["meta"]["total_count"] == 3 and body["meta"]["next_page"] == 2


def test_list_filters(api, fees):
    def ids(**params):
        response = api.get("/api/v1/fees", params)
        assert response.status_code == 200, response.json()
        return {f["lago_id"] for f in response.json()["fees"]}

    base, usage, add_on = (str(fees[k].pk) for k in ("base", "usage", "add_on"))
    assert ids(external_customer_id="cust_a") == {base, usage}
    assert ids(external_subscription_id="sub_a") == {base, usage}
    assert ids(currency="usd") == {add_on}
    assert ids(fee_type="charge") == {usage}
    assert ids(fee_type="add_on") == {add_on}
    assert ids(billable_metric_code="storage") == {usage}
    assert ids(payment_status="succeeded") == {add_on}
    assert ids(payment_status="pending") == {base, usage}
    assert ids(event_transaction_id="tx_1") == {usage}
    assert ids(created_at_from="2024-02-02T00:00:00Z") == {usage, add_on}
    assert ids(created_at_to="2024-02-02T00:00:00Z") == {base, usage}
    assert ids(created_at_from="2024-02-02", created_at_to="2024-02-02T12:00:00+00:00") == {usage}
    assert ids(succeeded_at_from="2000-01-01T00:00:00Z") == {add_on}
    assert ids(failed_at_to="2100-01-01T00:00:00Z") == set()
    assert ids(refunded_at_from="2000-01-01T00:00:00Z") == set()


@pytest.mark.parametrize(
    ("params", "field", "code"),
    [
        ({"fee_type": "bogus"}, "fee_type", "value_is_invalid"),
        ({"payment_status": "paid"}, "payment_status", "value_is_invalid"),
        ({"created_at_from": "yesterday"}, "created_at_from", "invalid_date"),
        ({"refunded_at_to": "2024-13-45"}, "refunded_at_to", "invalid_date"),
    ],
)
def test_list_refuses_malformed_filters(api, fees, params, field, code):
    response = api.get("/api/v1/fees", params)
    assert response.status_code == 422
    assert response.json()["error_details"] == {field: [code]}


@pytest.mark.parametrize("lago_id", ["nope", "1", "00000000-0000-0000-0000-000000000000"])
def test_unknown_fee_is_not_found(api, lago_id):
    response = api.get(f"/api/v1/fees/{lago_id}")
    assert (response.status_code, response.json()["code"]) == (404, "fee_not_found")


def test_another_organizations_fees_are_invisible(api, fees):
    theirs = FeeFactory(invoice__customer=CustomerFactory(organization=OrganizationFactory()))
    assert api.get(f"/api/v1/fees/{theirs.pk}").status_code == 404
    assert str(theirs.pk) not in {f["lago_id"] for f in api.get("/api/v1/fees").json()["fees"]}
