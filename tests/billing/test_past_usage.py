"""GET /customers/{external_customer_id}/past_usage (billing-semantics §9): charge fees of the issued invoices,
per billed period, newest first."""

import datetime as dt

import pytest
from lago_python_client.exceptions import LagoApiError

from billing.models import Subscription
from billing.runs import bill_subscription
from invoicing.models import Invoice
from metering.models import Event
from tests.billing.factories import SubscriptionFactory
from tests.catalog.factories import BillableMetricFactory, ChargeFactory, PlanFactory
from tests.customers.factories import CustomerFactory, TaxFactory
from tests.metering.factories import scenario

UTC = dt.UTC


def utc(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


def add_event(subscription, code, at, **properties):
    Event.objects.create(
        organization=subscription.organization,
        transaction_id=f"tx-{code}-{at.isoformat()}-{Event.objects.count()}",
        external_subscription_id=subscription.external_id,
        code=code,
        timestamp=at,
        properties=properties,
        created_at=at,
    )


def bill(subscription, now):
    Subscription.objects.filter(pk=subscription.pk).update(created_at=subscription.started_at)
    subscription.refresh_from_db()
    return bill_subscription(subscription, now=now)


@pytest.fixture
def billed(db, django_capture_on_commit_callbacks):
    """Subscription `sub` since 2024-01-01 on a 100.00 monthly plan: `api` (sum, 1.00/unit, in arrears) and
    `seats` (sum, 5.00/unit, pay in advance, filter region=eu at 7.00); 10 % VAT. Periods Jan, Feb, Mar billed on
    April 1; one instant seat event in February (through the API)."""
    s = scenario(now=utc(2024, 4, 10), started_at=utc(2024, 1, 1))
    TaxFactory(organization=s.organization, code="vat", rate="10", applied_to_organization=True)
    api = s.charge(s.metric(code="api"), "standard", {"amount": "1"})
    seats_metric = s.metric(code="seats", filters={"region": ["eu", "us"]})
    seats = s.charge(
        seats_metric,
        "standard",
        {"amount": "5"},
        pay_in_advance=True,
        filters=[({"region": ["eu"]}, {"amount": "7"})],
    )
    for month, units in ((1, 3), (2, 5), (3, 7)):
        add_event(s.subscription, "api", utc(2024, month, 10), value=str(units))
    with django_capture_on_commit_callbacks(execute=True):
        s.send(code="seats", ts="2024-02-12T10:00:00Z", tx="seat-1", value="2", region="eu")
    summary = bill(s.subscription, utc(2024, 4, 1, 1))
    assert len(summary.invoices) == 3
    s.api_charge, s.seats_charge = api, seats
    s.invoices = {
        inv.invoice_subscriptions.get().charges_from_datetime.month: inv for inv in summary.invoices
    }
    return s


def get(s, expect=200, customer="cust", **params):
    response = s.api.get(f"/api/v1/customers/{customer}/past_usage", params)
    assert response.status_code == expect, response.json()
    return response.json()


def test_periods_newest_first_with_lago_shape(billed):
    body = get(billed, external_subscription_id="sub")
    periods = body["usage_periods"]
    assert [p["from_datetime"] for p in periods] == [
        "2024-03-01T00:00:00Z",
        "2024-02-01T00:00:00Z",
        "2024-01-01T00:00:00Z",
    ]
    assert body["meta"] == {
        "current_page": 1,
        "next_page": None,
        "prev_page": None,
        "total_pages": 1,
        "total_count": 3,
    }
    march = periods[0]
    assert march == {
        "from_datetime": "2024-03-01T00:00:00Z",
        "to_datetime": "2024-03-31T23:59:59Z",
        "issuing_date": "2024-04-01",
        "lago_invoice_id": str(billed.invoices[3].id),
        "currency": "EUR",
        "amount_cents": 700,
        "taxes_amount_cents": 70,
        "total_amount_cents": 770,
        "charges_usage": [
            {
                "units": "7.0",
                "total_aggregated_units": "7.0",
                "amount_cents": 700,
                "events_count": 1,
                "pricing_unit_details": None,
                "amount_currency": "EUR",
                "charge": {
                    "lago_id": str(billed.api_charge.id),
                    "charge_model": "standard",
                    "invoice_display_name": None,
                },
                "billable_metric": {
                    "lago_id": str(billed.api_charge.billable_metric_id),
                    "name": billed.api_charge.billable_metric.name,
                    "code": "api",
                    "aggregation_type": "sum_agg",
                },
                "filters": [],
                "grouped_usage": [],
                "presentation_breakdowns": [],
            }
        ],
    }


def test_instant_fees_count_in_the_period_of_their_event(billed):
    february = get(billed, external_subscription_id="sub")["usage_periods"][1]
    assert february["lago_invoice_id"] == str(billed.invoices[2].id)
    assert (february["amount_cents"], february["taxes_amount_cents"]) == (500 + 1_400, 50 + 140)
    seats = next(c for c in february["charges_usage"] if c["billable_metric"]["code"] == "seats")
    assert (seats["units"], seats["amount_cents"], seats["events_count"]) == ("2.0", 1_400, 1)
    eu = billed.seats_charge.filters.get()
    assert seats["filters"] == [
        {
            "units": "2.0",
            "total_aggregated_units": "2.0",
            "amount_cents": 1_400,
            "events_count": 1,
            "pricing_unit_details": None,
            "invoice_display_name": None,
            "values": {"region": ["eu"]},
            "presentation_breakdowns": [],
        }
    ]
    assert eu.values == {"region": ["eu"]}


def test_periods_count_and_pagination(billed):
    body = get(billed, external_subscription_id="sub", periods_count=2)
    assert [p["from_datetime"][:7] for p in body["usage_periods"]] == ["2024-03", "2024-02"]
    assert body["meta"]["total_count"] == 2
    page = get(billed, external_subscription_id="sub", per_page=1, page=2)
    assert [p["from_datetime"][:7] for p in page["usage_periods"]] == ["2024-02"]
    assert page["meta"] == {
        "current_page": 2,
        "next_page": 3,
        "prev_page": 1,
        "total_pages": 3,
        "total_count": 3,
    }


def test_billable_metric_code_filter(billed):
    periods = get(billed, external_subscription_id="sub", billable_metric_code="seats")["usage_periods"]
    assert [(p["from_datetime"][:7], p["amount_cents"]) for p in periods] == [
        ("2024-03", 0),
        ("2024-02", 1_400),
        ("2024-01", 0),
    ]
    assert [len(p["charges_usage"]) for p in periods] == [0, 1, 0]


def test_errors(billed):
    assert get(billed, 404, customer="ghost", external_subscription_id="sub") == {
        "status": 404,
        "error": "Not Found",
        "code": "customer_not_found",
    }
    missing = get(billed, 422)
    assert missing["error_details"] == {"external_subscription_id": ["value_is_mandatory"]}
    assert get(billed, 422, external_subscription_id="")["error_details"] == {
        "external_subscription_id": ["value_is_mandatory"]
    }
    unknown = get(billed, 404, external_subscription_id="sub", billable_metric_code="ghost")
    assert unknown["code"] == "billable_metric_not_found"
    assert get(billed, 422, external_subscription_id="sub", periods_count="abc")["error_details"] == {
        "periods_count": ["value_is_invalid"]
    }
    assert get(billed, 422, external_subscription_id="sub", periods_count=0)["error_details"] == {
        "periods_count": ["value_is_out_of_range"]
    }


def test_unknown_subscription_has_no_periods(billed):
    body = get(billed, external_subscription_id="other")
    assert body["usage_periods"] == [] and body["meta"]["total_count"] == 0


def test_only_finalized_invoices_count(billed):
    Invoice.objects.filter(pk=billed.invoices[3].pk).update(status="voided")
    Invoice.objects.filter(pk=billed.invoices[1].pk).update(status="draft")
    periods = get(billed, external_subscription_id="sub")["usage_periods"]
    assert [p["from_datetime"][:7] for p in periods] == ["2024-02"]


def test_other_organizations_customers_are_not_found(billed):
    other = scenario(now=utc(2024, 4, 10))
    assert get(other, external_subscription_id="sub")["usage_periods"] == []  # its own cust/sub: no invoices
    CustomerFactory(organization=other.organization, external_id="mine")
    assert get(billed, 404, customer="mine", external_subscription_id="sub")["code"] == "customer_not_found"


@pytest.mark.django_db(transaction=True)
def test_lago_client_past_usage_round_trip(lago):
    organization = lago.organization
    plan = PlanFactory(organization=organization, amount_cents=2_000, amount_currency="EUR")
    metric = BillableMetricFactory(organization=organization, code="sdk_api", field_name="value")
    ChargeFactory(plan=plan, organization=organization, billable_metric=metric, properties={"amount": "0.5"})
    customer = CustomerFactory(organization=organization, external_id="sdk_cust", currency="EUR")
    subscription = SubscriptionFactory(
        plan=plan,
        organization=organization,
        customer=customer,
        external_id="sdk_sub",
        subscription_at=utc(2024, 1, 1),
        started_at=utc(2024, 1, 1),
    )
    add_event(subscription, "sdk_api", utc(2024, 1, 5), value="4")
    add_event(subscription, "sdk_api", utc(2024, 2, 5), value="10")
    assert len(bill(subscription, utc(2024, 3, 1, 1)).invoices) == 2

    body = lago.customers.past_usage("sdk_cust", "sdk_sub", {"periods_count": 1})
    (february,) = body["usage_periods"]
    assert february.from_datetime == "2024-02-01T00:00:00Z" and february.to_datetime == "2024-02-29T23:59:59Z"
    assert february.amount_cents == 500 and february.total_amount_cents == 500
    usage = february.charges_usage[0]
    assert usage.billable_metric.code == "sdk_api" and usage.units == "10.0" and usage.events_count == 1
    assert body["meta"]["total_count"] == 1

    everything = lago.customers.past_usage("sdk_cust", "sdk_sub")
    assert [p.amount_cents for p in everything["usage_periods"]] == [500, 200]
    with pytest.raises(LagoApiError) as missing:
        lago.customers.past_usage("ghost", "sdk_sub")
    assert missing.value.status_code == 404
