"""Plan changes and termination through the API and the test clock, to the cent (billing-semantics §4.4–§4.6)."""

import datetime as dt

import pytest
import requests
from lago_python_client.client import Client
from lago_python_client.models import BillableMetric, Charge, Customer, Plan, Subscription, Tax
from lago_python_client.models.charge import Charges

from customers.services import create_organization
from invoicing.models import CreditNote, Invoice

pytestmark = pytest.mark.django_db(transaction=True)


def utc(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=dt.UTC)


@pytest.fixture
def sandbox(live_server):
    def make(frozen_time: dt.datetime):
        organization, secret = create_organization(
            name="Sandbox", default_currency="EUR", sandbox=True, frozen_time=frozen_time
        )
        client = Client(api_key=secret, api_url=live_server.url, max_retries=0, retry_on_rate_limit=False)
        http = requests.Session()
        http.headers["Authorization"] = f"Bearer {secret}"
        return organization, client, http, live_server.url + "/api/v1"

    return make


def advance(http, base, when: str) -> None:
    response = http.post(f"{base}/test_clock/advance", json={"test_clock": {"frozen_time": when}})
    assert response.status_code == 200, response.text


def plan(lago, code, amount_cents, interval="monthly", pay_in_advance=True):
    lago.plans.create(
        Plan(
            name=code,
            code=code,
            interval=interval,
            amount_cents=amount_cents,
            amount_currency="EUR",
            pay_in_advance=pay_in_advance,
        )
    )


def invoices_of(organization):
    return list(Invoice.objects.filter(organization=organization).order_by("created_at"))


def test_ex_4_5_upgrade_credits_unused_days_and_the_new_invoice_consumes_it(sandbox):
    organization, lago, http, base = sandbox(utc(2023, 5, 1, 8))
    plan(lago, "a", 2000)
    plan(lago, "b", 4000)
    lago.customers.create(Customer(external_id="c", currency="EUR"))
    lago.subscriptions.create(Subscription(external_customer_id="c", plan_code="a", external_id="s"))
    assert [i.total_amount_cents for i in invoices_of(organization)] == [
        2000
    ]  # full May, calendar from the 1st

    advance(http, base, "2023-05-11T10:00:00Z")
    lago.subscriptions.create(Subscription(external_customer_id="c", plan_code="b", external_id="s"))

    note = CreditNote.objects.get(organization=organization)
    assert note.total_amount_cents == 1355  # 21 unused days × 2 000 / 31
    upgrade = invoices_of(organization)[-1]
    assert upgrade.fees_amount_cents == 2710  # 21 days × 4 000 / 31
    assert upgrade.credit_notes_amount_cents == 1355
    assert upgrade.total_amount_cents == 1355
    note.refresh_from_db()
    assert note.balance_amount_cents == 0 and note.credit_status == "consumed"

    advance(http, base, "2023-06-01T06:00:00Z")
    june = invoices_of(organization)[-1]
    assert june.fees_amount_cents == 4000 and june.issuing_date == dt.date(2023, 6, 1)


def test_ex_4_4_downgrade_applies_at_period_end(sandbox):
    organization, lago, http, base = sandbox(utc(2023, 7, 19, 8))
    plan(lago, "monthly", 12900)
    plan(lago, "yearly", 118800, interval="yearly")
    lago.customers.create(Customer(external_id="c", currency="EUR"))
    lago.subscriptions.create(
        Subscription(
            external_customer_id="c", plan_code="monthly", external_id="s", billing_time="anniversary"
        )
    )
    advance(http, base, "2023-11-09T12:00:00Z")
    count = len(invoices_of(organization))
    lago.subscriptions.create(
        Subscription(
            external_customer_id="c", plan_code="yearly", external_id="s", billing_time="anniversary"
        )
    )
    assert len(invoices_of(organization)) == count  # nothing billed at request time
    advance(http, base, "2023-11-19T06:00:00Z")
    yearly = [i for i in invoices_of(organization) if i.fees_amount_cents == 78875]
    assert len(yearly) == 1  # 243 days of a 366-day anniversary year × 118 800
    assert yearly[0].issuing_date == dt.date(2023, 11, 19)


def test_ex_4_6_termination_of_a_pay_in_advance_plan_credits_the_unused_days(sandbox):
    organization, lago, _, _ = sandbox(utc(2023, 2, 8, 9))
    lago.taxes.create(Tax(name="VAT", code="vat", rate=20.0, applied_to_organization=True))
    plan(lago, "p", 5000)
    lago.customers.create(Customer(external_id="c", currency="EUR"))
    lago.subscriptions.create(Subscription(external_customer_id="c", plan_code="p", external_id="s"))
    start = invoices_of(organization)[0]
    assert (start.fees_amount_cents, start.taxes_amount_cents, start.total_amount_cents) == (3750, 750, 4500)

    lago.subscriptions.destroy("s")
    note = CreditNote.objects.get(organization=organization)
    assert (
        note.sub_total_excluding_taxes_amount_cents,
        note.taxes_amount_cents,
        note.total_amount_cents,
    ) == (
        3571,
        714,
        4285,
    )


def test_weekly_quarterly_and_yearly_plans_over_a_month(sandbox):
    _, lago, http, base = sandbox(utc(2024, 1, 10, 9))
    lago.billable_metrics.create(BillableMetric(name="API calls", code="api", aggregation_type="count_agg"))
    metric_id = lago.billable_metrics.find("api").lago_id
    plan(lago, "weekly", 700, interval="weekly", pay_in_advance=False)
    plan(lago, "quarterly", 9100, interval="quarterly", pay_in_advance=True)
    lago.plans.create(
        Plan(
            name="yearly",
            code="yearly",
            interval="yearly",
            amount_cents=36600,
            amount_currency="EUR",
            pay_in_advance=False,
            bill_charges_monthly=True,
            charges=Charges(
                __root__=[
                    Charge(billable_metric_id=metric_id, charge_model="standard", properties={"amount": "1"})
                ]
            ),
        )
    )
    for code, billing_time in (("weekly", "calendar"), ("quarterly", "anniversary"), ("yearly", "calendar")):
        lago.customers.create(Customer(external_id=f"c-{code}", currency="EUR"))
        lago.subscriptions.create(
            Subscription(
                external_customer_id=f"c-{code}",
                plan_code=code,
                external_id=f"s-{code}",
                billing_time=billing_time,
            )
        )
    for i in range(5):
        http.post(
            f"{base}/events",
            json={
                "event": {"transaction_id": f"t{i}", "external_subscription_id": "s-yearly", "code": "api"}
            },
        ).raise_for_status()

    advance(http, base, "2024-02-01T06:00:00Z")

    def billed(external_customer_id):
        return [
            (i.issuing_date.isoformat(), i.fees_amount_cents)
            for i in Invoice.objects.filter(customer__external_id=external_customer_id).order_by(
                "issuing_date"
            )
        ]

    # Weekly in arrears from Wednesday Jan 10: 5 of 7 days, then two full weeks.
    assert billed("c-weekly") == [("2024-01-15", 500), ("2024-01-22", 700), ("2024-01-29", 700)]
    # Quarterly anniversary in advance: the whole first quarter at once.
    assert billed("c-quarterly") == [("2024-01-10", 9100)]
    # Yearly in arrears billing charges monthly: January's usage only, no base fee yet.
    assert billed("c-yearly") == [("2024-02-01", 500)]
