"""GET /customers/{id}/current_usage: the §3 charge-model examples through the API, taxes, shape, errors."""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.catalog.factories import BillableMetricFactory
from tests.customers.factories import TaxFactory
from tests.metering.factories import charge_usage, scenario

pytestmark = pytest.mark.django_db

UTC = dt.UTC
GRADUATED = {
    "graduated_ranges": [
        {"from_value": 0, "to_value": 5, "per_unit_amount": "10", "flat_amount": "100"},
        {"from_value": 6, "to_value": None, "per_unit_amount": "5", "flat_amount": "50"},
    ]
}
GRADUATED_ZERO = {
    "graduated_ranges": [
        {"from_value": 0, "to_value": 10, "per_unit_amount": "2", "flat_amount": "100"},
        {"from_value": 11, "to_value": None, "per_unit_amount": "1", "flat_amount": "50"},
    ]
}
GRADUATED_PERCENTAGE = {
    "graduated_percentage_ranges": [
        {"from_value": 0, "to_value": 100, "rate": "5", "flat_amount": "0"},
        {"from_value": 101, "to_value": None, "rate": "2", "flat_amount": "10"},
    ]
}
VOLUME = {
    "volume_ranges": [
        {"from_value": 0, "to_value": 10, "per_unit_amount": "5", "flat_amount": "100"},
        {"from_value": 11, "to_value": None, "per_unit_amount": "2", "flat_amount": "50"},
    ]
}


def usage_of(aggregation_type, charge_model, properties, values, **metric_fields):
    s = scenario()
    metric = s.metric(aggregation_type=aggregation_type, **metric_fields)
    s.charge(metric, charge_model, properties)
    for value in values:
        s.send(value=value)
    return s, charge_usage(s.usage())


@pytest.mark.parametrize(
    ("example", "aggregation_type", "charge_model", "properties", "values", "amount_cents"),
    [
        ("3.1 standard", "count_agg", "standard", {"amount": "12.5"}, [None] * 4, 5_000),
        ("3.2 graduated 8", "sum_agg", "graduated", GRADUATED, ["8"], 21_500),
        ("3.2 graduated 3", "sum_agg", "graduated", GRADUATED, ["1", "2"], 13_000),
        ("3.2 graduated 0", "sum_agg", "graduated", GRADUATED_ZERO, [], 10_000),
        ("3.3 graduated % 150", "sum_agg", "graduated_percentage", GRADUATED_PERCENTAGE, ["150"], 1_600),
        ("3.3 graduated % 50", "sum_agg", "graduated_percentage", GRADUATED_PERCENTAGE, ["50"], 250),
        (
            "3.4 package 3",
            "sum_agg",
            "package",
            {"amount": "100", "package_size": 10, "free_units": 0},
            ["3"],
            10_000,
        ),
        (
            "3.4 package 15",
            "sum_agg",
            "package",
            {"amount": "100", "package_size": 10, "free_units": 0},
            ["15"],
            20_000,
        ),
        (
            "3.4 package free 3",
            "sum_agg",
            "package",
            {"amount": "100", "package_size": 10, "free_units": 5},
            ["3"],
            0,
        ),
        (
            "3.4 package free 12",
            "sum_agg",
            "package",
            {"amount": "100", "package_size": 10, "free_units": 5},
            ["12"],
            10_000,
        ),
        (
            "3.5 percentage free per events",
            "sum_agg",
            "percentage",
            {"rate": "1", "fixed_amount": "5", "free_units_per_events": 3},
            ["10"] * 4,
            510,
        ),
        (
            "3.5 percentage free total",
            "sum_agg",
            "percentage",
            {"rate": "1", "fixed_amount": "5", "free_units_per_total_aggregation": "15"},
            ["4"] * 4,
            501,
        ),
        (
            "3.5 percentage free total, fifth event",
            "sum_agg",
            "percentage",
            {"rate": "1", "fixed_amount": "5", "free_units_per_total_aggregation": "15"},
            ["4"] * 4 + ["10"],
            1_011,
        ),
        ("3.7 volume 5", "sum_agg", "volume", VOLUME, ["5"], 12_500),
        ("3.7 volume 15", "sum_agg", "volume", VOLUME, ["15"], 8_000),
    ],
)
def test_charge_model_examples(example, aggregation_type, charge_model, properties, values, amount_cents):
    _, usage = usage_of(aggregation_type, charge_model, properties, values)
    assert usage["amount_cents"] == amount_cents, example
    assert usage["events_count"] == len(values)


def test_example_3_6_percentage_per_transaction_min_max():
    s = scenario()
    s.charge(
        s.metric(),
        "percentage",
        {
            "rate": "1",
            "fixed_amount": "0.5",
            "per_transaction_min_amount": "1.75",
            "per_transaction_max_amount": "2",
        },
        pay_in_advance=True,
    )
    for value, day in (("100", 2), ("1000", 3), ("10000", 4), ("333", 9)):
        s.send(value=value, ts=f"2024-03-0{day}T00:00:00Z")
    assert charge_usage(s.usage())["amount_cents"] == 775


def test_example_3_5_with_a_20_percent_tax():
    s = scenario()
    s.charge(s.metric(), "percentage", {"rate": "1", "fixed_amount": "5", "free_units_per_events": 3})
    TaxFactory(organization=s.organization, code="vat", rate="20", applied_to_organization=True)
    for _ in range(4):
        s.send(value="10")
    usage = s.usage()["customer_usage"]
    assert (usage["amount_cents"], usage["taxes_amount_cents"], usage["total_amount_cents"]) == (
        510,
        102,
        612,
    )
    untaxed = s.usage(apply_taxes="false")["customer_usage"]
    assert (untaxed["amount_cents"], untaxed["taxes_amount_cents"], untaxed["total_amount_cents"]) == (
        510,
        0,
        510,
    )


def test_example_3_8_dynamic():
    s = scenario()
    s.charge(s.metric(), "dynamic", {})
    s.send(value="1", precise="10.1")
    assert charge_usage(s.usage())["amount_cents"] == 10
    s.send(value="1", precise="901.9")
    assert charge_usage(s.usage())["amount_cents"] == 912


def test_example_3_8_dynamic_grouped_rounds_each_group():
    s = scenario()
    s.charge(s.metric(), "dynamic", {"pricing_group_keys": ["group_key"]})
    s.send(value="1", precise="10.1", group_key="a")
    s.send(value="1", precise="901.9", group_key="b")
    usage = charge_usage(s.usage())
    assert sorted((g["grouped_by"]["group_key"], g["amount_cents"]) for g in usage["grouped_usage"]) == [
        ("a", 10),
        ("b", 902),
    ]
    assert usage["amount_cents"] == 912


def test_example_2_2_filters_and_grouping_total_46_000():
    s = scenario()
    metric = s.metric(filters={"cloud": ["aws", "gcp", "azure"], "region": ["us", "europe", "asia"]})
    s.charge(
        metric,
        "standard",
        {"amount": "10"},
        filters=[
            (
                {"cloud": ["aws"], "region": ["__ALL_FILTER_VALUES__"]},
                {"amount": "12", "grouped_by": ["country"]},
            ),
        ],
    )
    s.send(value="10", cloud="aws", region="us", country="us")
    s.send(value="10", cloud="aws", region="europe", country="france")
    s.send(value="10", cloud="aws", region="asia")
    s.send(value="10", cloud="gcp", region="asia", country="china")
    body = s.usage()
    usage = charge_usage(body)
    assert body["customer_usage"]["amount_cents"] == 46_000
    assert usage["units"] == "40.0" and usage["events_count"] == 4
    by_group = {tuple(g["grouped_by"].items()): g for g in usage["grouped_usage"]}
    assert {k: g["amount_cents"] for k, g in by_group.items()} == {
        (("country", "us"),): 12_000,
        (("country", "france"),): 12_000,
        (("country", None),): 12_000,
        (): 10_000,
    }
    filters = {f["invoice_display_name"] or str(f["values"]): f for f in usage["filters"]}
    aws = filters[str({"cloud": ["aws"], "region": ["__ALL_FILTER_VALUES__"]})]
    assert (aws["units"], aws["amount_cents"], aws["events_count"]) == ("30.0", 36_000, 3)
    default = filters["None"]
    assert (default["units"], default["amount_cents"], default["values"]) == ("10.0", 10_000, None)


def test_example_2_3_weighted_sum_through_current_usage():
    s = scenario(now=dt.datetime(2023, 3, 20, tzinfo=UTC), started_at=dt.datetime(2023, 3, 5, tzinfo=UTC))
    s.charge(s.metric(aggregation_type="weighted_sum_agg", recurring=True, weighted_interval="seconds"))
    s.send(value="2500", ts="2023-03-05T00:00:00Z")
    assert charge_usage(s.usage())["amount_cents"] == 217_742
    s.send(value="-2000", ts="2023-04-04T00:00:00Z")
    s.send(value="-200", ts="2023-04-06T00:00:00Z")
    s.organization.frozen_time = dt.datetime(2023, 4, 20, tzinfo=UTC)
    s.organization.save()
    usage = charge_usage(s.usage())
    assert usage["amount_cents"] == 53_333
    assert usage["total_aggregated_units"] == "300.0"


def test_rounding_of_units_before_pricing():
    _, usage = usage_of(
        "sum_agg",
        "standard",
        {"amount": "1"},
        ["10.005", "7.45"],
        rounding_function="round",
        rounding_precision=2,
    )
    assert (usage["units"], usage["amount_cents"]) == ("17.46", 1746)


def test_response_shape():
    s = scenario(customer_timezone="America/New_York", now=dt.datetime(2024, 3, 15, tzinfo=UTC))
    charge = s.charge(s.metric(), "standard", {"amount": "2"}, invoice_display_name="API calls")
    s.send(value="3")
    usage = s.usage()["customer_usage"]
    assert usage["from_datetime"] == "2024-03-01T05:00:00Z"
    assert usage["to_datetime"] == "2024-04-01T03:59:59Z"
    assert usage["issuing_date"] == "2024-03-31"
    assert usage["lago_invoice_id"] is None
    assert usage["currency"] == "EUR"
    assert usage["charges_usage"] == [
        {
            "units": "3.0",
            "total_aggregated_units": "3.0",
            "events_count": 1,
            "amount_cents": 600,
            "amount_currency": "EUR",
            "pricing_unit_details": None,
            "charge": {
                "lago_id": str(charge.id),
                "charge_model": "standard",
                "invoice_display_name": "API calls",
            },
            "billable_metric": {
                "lago_id": str(charge.billable_metric.id),
                "name": charge.billable_metric.name,
                "code": "metric",
                "aggregation_type": "sum_agg",
            },
            "filters": [],
            "grouped_usage": [],
            "presentation_breakdowns": [],
        }
    ]


def test_every_charge_is_listed_and_pay_in_advance_charges_count_the_period_total():
    s = scenario()
    s.charge(s.metric(code="a"), "standard", {"amount": "1"}, pay_in_advance=True)
    s.charge(s.metric(code="b", aggregation_type="count_agg"), "standard", {"amount": "3"})
    s.send(code="a", value="4")
    s.send(code="a", value="6")
    body = s.usage()
    assert [c["billable_metric"]["code"] for c in body["customer_usage"]["charges_usage"]] == ["a", "b"]
    assert charge_usage(body, "a")["amount_cents"] == 1_000
    assert charge_usage(body, "b")["amount_cents"] == 0


def test_events_outside_the_current_period_are_not_counted():
    s = scenario()
    s.charge(s.metric(aggregation_type="count_agg"))
    s.send(ts="2024-02-28T00:00:00Z")
    s.send(ts="2024-04-01T00:00:00Z")
    s.send(ts="2024-03-31T23:59:59.500Z")
    s.send(ts="2024-03-20T00:00:00Z")  # future-dated inside the period: counted
    assert charge_usage(s.usage())["units"] == "2.0"


def test_deleted_charges_and_other_plans_are_ignored():
    s = scenario()
    s.charge(s.metric(code="gone"), deleted_at=dt.datetime(2024, 3, 2, tzinfo=UTC))
    BillableMetricFactory(organization=s.organization, code="elsewhere")
    assert s.usage()["customer_usage"]["charges_usage"] == []


def test_tax_precedence_charge_then_plan_then_customer_then_organization():
    s = scenario()
    charged = s.charge(s.metric(code="c1"), "standard", {"amount": "10"})
    s.charge(s.metric(code="c2"), "standard", {"amount": "10"})
    TaxFactory(organization=s.organization, code="org", rate="1", applied_to_organization=True)
    s.send(code="c1", value="1")
    s.send(code="c2", value="1")

    def taxes():
        return s.usage()["customer_usage"]["taxes_amount_cents"]

    assert taxes() == 20  # 1 % of 1 000 twice
    s.customer.taxes.add(TaxFactory(organization=s.organization, code="cust", rate="5"))
    assert taxes() == 100
    s.plan.taxes.add(TaxFactory(organization=s.organization, code="plan", rate="10"))
    assert taxes() == 200
    charged.taxes.add(
        TaxFactory(organization=s.organization, code="charge", rate="20"),
        TaxFactory(organization=s.organization, code="charge2", rate="2.5"),
    )
    assert taxes() == 225 + 100


def test_usage_taxes_are_the_rounded_sum_of_unrounded_fee_taxes():
    s = scenario()
    s.charge(s.metric(code="a"), "standard", {"amount": "0.01"})
    s.charge(s.metric(code="b"), "standard", {"amount": "0.01"})
    TaxFactory(organization=s.organization, code="t", rate="25", applied_to_organization=True)
    s.send(code="a", value="1")
    s.send(code="b", value="1")
    assert s.usage()["customer_usage"]["taxes_amount_cents"] == 1  # 0.25 + 0.25 = 0.5 → 1


def test_charges_can_be_narrowed_by_charge_or_metric():
    s = scenario()
    first = s.charge(s.metric(code="a"), "standard", {"amount": "1"}, code="charge_a")
    s.charge(s.metric(code="b"), "standard", {"amount": "1"}, code="charge_b")
    base = "/api/v1/customers/cust/current_usage?external_subscription_id=sub"

    def codes(query):
        response = s.api.get(base + query)
        assert response.status_code == 200, response.json()
        return [c["billable_metric"]["code"] for c in response.json()["customer_usage"]["charges_usage"]]

    assert codes("") == ["a", "b"]
    assert codes(f"&charge_id={first.id}") == ["a"]
    assert codes(f"&filter_by_charge_id={first.id}") == ["a"]
    assert codes("&charge_code=charge_b") == ["b"]
    assert codes("&billable_metric_code=b") == ["b"]
    assert codes("&billable_metric_code=zzz") == []
    assert s.api.get(base + "&charge_id=not-a-uuid").status_code == 422


def test_unknown_customer_is_404():
    s = scenario()
    response = s.api.get("/api/v1/customers/nobody/current_usage?external_subscription_id=sub")
    assert response.status_code == 404
    assert response.json() == {"status": 404, "error": "Not Found", "code": "customer_not_found"}


@pytest.mark.parametrize("query", ["?external_subscription_id=ghost", "", "?external_subscription_id="])
def test_no_active_subscription_is_405(query):
    s = scenario()
    response = s.api.get(f"/api/v1/customers/cust/current_usage{query}")
    assert response.status_code == 405
    assert response.json() == {"status": 405, "error": "Method Not Allowed", "code": "no_active_subscription"}


def test_terminated_subscription_has_no_current_usage():
    s = scenario()
    s.subscription.status = "terminated"
    s.subscription.terminated_at = dt.datetime(2024, 3, 10, tzinfo=UTC)
    s.subscription.save()
    assert s.usage(expect=405)["code"] == "no_active_subscription"


def test_another_customers_subscription_is_not_visible():
    s = scenario()
    from tests.customers.factories import CustomerFactory

    CustomerFactory(organization=s.organization, external_id="other")
    assert s.usage(customer="other", expect=405)["code"] == "no_active_subscription"


def test_invalid_apply_taxes_is_422():
    s = scenario()
    response = s.api.get(
        "/api/v1/customers/cust/current_usage?external_subscription_id=sub&apply_taxes=maybe"
    )
    assert response.status_code == 422


def _queries(s) -> list[str]:
    with CaptureQueriesContext(connection) as captured:
        s.usage()
    return [q["sql"] for q in captured.captured_queries]


def test_query_count_does_not_grow_with_charges_and_events_are_read_once():
    s = scenario()
    counts = []
    for i in range(3):
        metric = s.metric(code=f"m{i}", filters={"k": ["a", "b"]})
        s.charge(metric, filters=[({"k": ["a"]}, {"amount": "2"})])
        s.send(code=f"m{i}", value="1", k="a")
        queries = _queries(s)
        counts.append(len(queries))
        assert sum("metering_event" in q for q in queries) == 1
    assert counts[0] == counts[1] == counts[2] <= 14
