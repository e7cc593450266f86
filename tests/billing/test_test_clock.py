"""The test clock: a sandbox organization's months of billing through the API alone (lago-python-client for
Lago's endpoints, plain HTTP for the test-clock extension)."""

import datetime as dt

import pytest
import requests
from lago_python_client.client import Client
from lago_python_client.models import BillableMetric, Charge, Customer, Event, Plan, Subscription
from lago_python_client.models.charge import Charges

from customers.services import create_organization
from invoicing.models import Invoice

pytestmark = pytest.mark.django_db(transaction=True)


def utc(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=dt.UTC)


@pytest.fixture
def sandbox(live_server):
    organization, secret = create_organization(
        name="Sandbox", default_currency="EUR", sandbox=True, frozen_time=utc(2024, 1, 1, 9)
    )
    client = Client(api_key=secret, api_url=live_server.url, max_retries=0, retry_on_rate_limit=False)
    http = requests.Session()
    http.headers["Authorization"] = f"Bearer {secret}"
    return organization, client, http, live_server.url + "/api/v1"


def advance(http, base, when: str):
    response = http.post(f"{base}/test_clock/advance", json={"test_clock": {"frozen_time": when}})
    assert response.status_code == 200, response.text
    return response.json()


def test_get_and_refusals(sandbox, live_server):
    organization, _, http, base = sandbox
    assert http.get(f"{base}/test_clock").json() == {"test_clock": {"frozen_time": "2024-01-01T09:00:00Z"}}
    backwards = http.post(
        f"{base}/test_clock/advance", json={"test_clock": {"frozen_time": "2023-12-31T00:00:00Z"}}
    )
    assert backwards.status_code == 422
    assert backwards.json()["error_details"] == {"frozen_time": ["cannot_move_backwards"]}
    bad = http.post(f"{base}/test_clock/advance", json={"test_clock": {"frozen_time": "soon"}})
    assert bad.status_code == 422

    _, real_secret = create_organization(name="Real")
    real = requests.get(f"{base}/test_clock", headers={"Authorization": f"Bearer {real_secret}"})
    assert real.status_code == 403 and real.json()["code"] == "not_a_sandbox_organization"
    organization.refresh_from_db()
    assert organization.frozen_time == utc(2024, 1, 1, 9)


def test_months_of_billing_through_the_api(sandbox):
    organization, lago, http, base = sandbox
    lago.billable_metrics.create(
        BillableMetric(name="Storage", code="storage", aggregation_type="sum_agg", field_name="gb")
    )
    metric_id = lago.billable_metrics.find("storage").lago_id
    lago.plans.create(
        Plan(
            name="Pro",
            code="pro",
            interval="monthly",
            amount_cents=3100,
            amount_currency="EUR",
            pay_in_advance=False,
            charges=Charges(
                __root__=[
                    Charge(
                        billable_metric_id=metric_id, charge_model="standard", properties={"amount": "0.5"}
                    )
                ]
            ),
        )
    )
    lago.customers.create(Customer(external_id="acme", name="Acme", currency="EUR"))
    lago.subscriptions.create(
        Subscription(
            external_customer_id="acme",
            plan_code="pro",
            external_id="acme_pro",
            subscription_at="2024-01-10T00:00:00Z",
            billing_time="calendar",
        )
    )
    lago.events.create(
        Event(
            transaction_id="e1",
            external_subscription_id="acme_pro",
            code="storage",
            timestamp=int(utc(2024, 1, 15).timestamp()),
            properties={"gb": "10"},
        )
    )

    advance(http, base, "2024-02-01T06:00:00Z")
    invoices = lago.invoices.find_all({"external_customer_id": "acme"})["invoices"]
    assert len(invoices) == 1
    january = invoices[0]
    # 22 of 31 days of 3 100, plus 10 GB × 0.50
    assert january.fees_amount_cents == 2200 + 500
    assert january.status == "finalized" and january.issuing_date == "2024-02-01"

    lago.events.create(
        Event(
            transaction_id="e2",
            external_subscription_id="acme_pro",
            code="storage",
            timestamp=int(utc(2024, 2, 20).timestamp()),
            properties={"gb": "4"},
        )
    )
    advance(http, base, "2024-04-01T06:00:00Z")
    invoices = sorted(
        lago.invoices.find_all({"external_customer_id": "acme"})["invoices"], key=lambda i: i.issuing_date
    )
    assert [(i.issuing_date, i.fees_amount_cents) for i in invoices] == [
        ("2024-02-01", 2700),
        ("2024-03-01", 3100 + 200),
        ("2024-04-01", 3100),
    ]
    # Advancing again over the same time bills nothing new.
    advance(http, base, "2024-04-01T06:00:00Z")
    assert Invoice.objects.filter(organization=organization).count() == 3
