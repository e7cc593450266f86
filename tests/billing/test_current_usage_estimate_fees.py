"""POST /events/estimate_fees: the instant fees an event would create (§3.10, §9), nothing persisted."""

import datetime as dt

import pytest

from metering.models import Event
from tests.customers.factories import TaxFactory
from tests.metering.factories import scenario

pytestmark = pytest.mark.django_db

UTC = dt.UTC


def run(s, events, code="metric"):
    """Estimate each event, then send it; returns the estimated amounts."""
    amounts = []
    for i, properties in enumerate(events):
        properties = dict(properties)
        ts = properties.pop("ts", f"2024-03-{2 + i:02d}T10:00:00Z")
        precise = properties.pop("precise", None)
        extra = {"precise_total_amount_cents": precise} if precise else {}
        body = s.estimate(code=code, timestamp=ts, properties=properties, **extra)
        amounts.append([fee["amount_cents"] for fee in body["fees"]])
        s.send(code=code, ts=ts, precise=precise, **properties)
    return [a[0] if len(a) == 1 else a for a in amounts]


def instant(s, aggregation_type="sum_agg", charge_model="standard", properties=None, **metric_fields):
    metric = s.metric(aggregation_type=aggregation_type, **metric_fields)
    return s.charge(metric, charge_model, properties or {"amount": "1"}, pay_in_advance=True)


def test_package():
    s = scenario()
    instant(s, charge_model="package", properties={"amount": "100", "free_units": 3, "package_size": 2})
    assert run(s, [{"value": "3"}, {"value": "1"}, {"value": "2"}]) == [0, 10_000, 10_000]


def test_graduated_first_tier_flat_fee_once():
    s = scenario()
    instant(
        s,
        charge_model="graduated",
        properties={
            "graduated_ranges": [
                {"from_value": 0, "to_value": 5, "per_unit_amount": "0.02", "flat_amount": "0.01"},
                {"from_value": 6, "to_value": None, "per_unit_amount": "0.01", "flat_amount": "0.01"},
            ]
        },
    )
    assert run(s, [{"value": "3"}, {"value": "1"}, {"value": "2"}]) == [7, 2, 4]


def test_standard_sum_negative_events_are_never_refunded():
    s = scenario()
    instant(s, properties={"amount": "1.00"})
    assert run(s, [{"value": "10"}, {"value": "-4"}, {"value": "8"}]) == [1_000, 0, 400]


def test_unique_count():
    s = scenario()
    instant(s, aggregation_type="unique_count_agg", field_name="id", properties={"amount": "12"})
    events = [
        {"id": "id_1"},
        {"id": "id_1", "operation_type": "remove"},
        {"id": "id_1"},
        {"id": "id_2"},
        {"id": "id_2"},
        {"id": "id_3"},
    ]
    assert run(s, events) == [1_200, 0, 0, 1_200, 0, 1_200]


def test_percentage_with_free_total():
    s = scenario()
    instant(
        s,
        charge_model="percentage",
        properties={"rate": "5", "fixed_amount": "1", "free_units_per_total_aggregation": "3"},
    )
    assert run(s, [{"value": "5"}, {"value": "1"}]) == [110, 105]


def test_count_graduated_same_second():
    s = scenario()
    instant(
        s,
        aggregation_type="count_agg",
        charge_model="graduated",
        properties={
            "graduated_ranges": [
                {"from_value": 0, "to_value": 2, "per_unit_amount": "0", "flat_amount": "0"},
                {"from_value": 3, "to_value": None, "per_unit_amount": "2", "flat_amount": "0"},
            ]
        },
    )
    same = "2024-03-05T10:00:00Z"
    assert run(s, [{"ts": same}, {"ts": same}, {"ts": same}]) == [0, 0, 200]


def test_dynamic():
    s = scenario()
    instant(s, charge_model="dynamic", properties={})
    assert run(s, [{"value": "1", "precise": "1234.56"}]) == [1_235]


def test_estimate_persists_nothing_and_returns_a_fee_object():
    s = scenario()
    charge = instant(s, properties={"amount": "2"}, code="api")
    TaxFactory(organization=s.organization, code="vat", rate="20", applied_to_organization=True)
    body = s.estimate(code="api", properties={"value": "3"}, transaction_id="tx-1")
    assert Event.objects.count() == 0
    fee = body["fees"][0]
    assert fee["amount_cents"] == 600
    assert fee["taxes_amount_cents"] == 120
    assert fee["total_amount_cents"] == 720
    assert fee["taxes_rate"] == 20.0
    assert fee["units"] == "3.0"
    assert fee["events_count"] == 1
    assert fee["lago_id"] is None
    assert fee["lago_charge_id"] == str(charge.id)
    assert fee["lago_subscription_id"] == str(s.subscription.id)
    assert fee["external_subscription_id"] == "sub"
    assert fee["external_customer_id"] == "cust"
    assert fee["amount_currency"] == "EUR"
    assert fee["pay_in_advance"] is True
    assert fee["event_transaction_id"] == "tx-1"
    assert fee["item"]["type"] == "charge" and fee["item"]["code"] == "api"
    assert fee["item"]["item_type"] == "BillableMetric"
    assert fee["applied_taxes"][0]["tax_code"] == "vat" and fee["applied_taxes"][0]["amount_cents"] == 120
    assert (fee["from_date"], fee["to_date"]) == ("2024-03-01T00:00:00Z", "2024-03-31T23:59:59Z")


def test_the_most_specific_filter_prices_the_event():
    s = scenario()
    metric = s.metric(filters={"region": ["us", "eu"], "tier": ["gold"]})
    charge = s.charge(
        metric,
        "standard",
        {"amount": "1"},
        pay_in_advance=True,
        filters=[
            ({"region": ["us"]}, {"amount": "2"}),
            ({"region": ["us"], "tier": ["gold"]}, {"amount": "3"}),
        ],
    )
    gold = s.estimate(properties={"value": "1", "region": "us", "tier": "gold"})["fees"][0]
    plain = s.estimate(properties={"value": "1", "region": "us"})["fees"][0]
    other = s.estimate(properties={"value": "1", "region": "asia"})["fees"][0]
    assert (gold["amount_cents"], plain["amount_cents"], other["amount_cents"]) == (300, 200, 100)
    filters = list(charge.filters.order_by("position"))
    assert gold["lago_charge_filter_id"] == str(filters[1].id)
    assert other["lago_charge_filter_id"] is None


def test_unknown_subscription_is_404():
    s = scenario()
    instant(s)
    response = s.estimate(sub="ghost", properties={"value": "1"}, expect=404)
    assert response == {"status": 404, "error": "Not Found", "code": "subscription_not_found"}


def test_unknown_metric_is_404():
    s = scenario()
    assert s.estimate(code="ghost", expect=404)["code"] == "billable_metric_not_found"


def test_metric_without_an_instant_charge_is_422():
    s = scenario()
    s.charge(s.metric(code="arrears"))
    s.metric(code="not_on_plan")
    for code in ("arrears", "not_on_plan"):
        body = s.estimate(code=code, properties={"value": "1"}, expect=422)
        assert body["error_details"] == {"code": ["does_not_match_an_instant_charge"]}


@pytest.mark.parametrize("value", ["abc", None, "1e3", {"a": 1}])
def test_sum_needs_a_numeric_value(value):
    s = scenario()
    instant(s)
    properties = {} if value is None else {"value": value}
    body = s.estimate(properties=properties, expect=422)
    assert body["error_details"] == {"properties": ["value_is_not_valid_number"]}


@pytest.mark.parametrize(
    ("fields", "details"),
    [
        ({"code": None}, {"code": ["value_is_mandatory"]}),
        ({"properties": "x"}, {"properties": ["value_is_invalid"]}),
        ({"timestamp": "nope"}, {"timestamp": ["invalid_format"]}),
    ],
)
def test_invalid_input_is_422(fields, details):
    s = scenario()
    instant(s)
    response = s.api.post(
        "/api/v1/events/estimate_fees",
        {"event": {"code": "metric", "external_subscription_id": "sub", **fields}},
        format="json",
    )
    assert response.status_code == 422
    assert response.json()["error_details"] == details


def test_missing_root_key_is_400():
    s = scenario()
    assert s.api.post("/api/v1/events/estimate_fees", {}, format="json").status_code == 400
