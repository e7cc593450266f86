"""Billable metrics: POST/GET/PUT/DELETE /billable_metrics (by code), evaluate_expression, filter pruning."""

import datetime as dt

import pytest

from catalog.models import BillableMetric, BillableMetricFilter, Charge, ChargeFilter
from tests.catalog.factories import (
    BillableMetricFactory,
    BillableMetricFilterFactory,
    ChargeFactory,
    ChargeFilterFactory,
    PlanFactory,
)
from tests.customers.factories import OrganizationFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/billable_metrics"


def create(api, **fields):
    return api.post(URL, {"billable_metric": fields}, format="json")


def update(api, current_code, **fields):
    return api.put(f"{URL}/{current_code}", {"billable_metric": fields}, format="json")


def valid(**overrides):
    fields = {"name": "Storage", "code": "storage", "aggregation_type": "sum_agg", "field_name": "gb"}
    fields.update(overrides)
    return fields


def test_create_returns_lago_shape(api, organization):
    response = create(
        api,
        **valid(
            description="GB stored",
            recurring=True,
            rounding_function="round",
            rounding_precision=2,
            expression="event.properties.mb / 1024",
            filters=[{"key": "region", "values": ["us", "eu", "us"]}, {"key": "cloud", "values": ["aws"]}],
        ),
    )
    assert response.status_code == 200, response.json()
    body = response.json()["billable_metric"]
    metric = BillableMetric.objects.get(organization=organization, code="storage")
    assert body == {
        "lago_id": str(metric.id),
        "name": "Storage",
        "code": "storage",
        "description": "GB stored",
        "aggregation_type": "sum_agg",
        "weighted_interval": None,
        "recurring": True,
        "rounding_function": "round",
        "rounding_precision": 2,
        "created_at": metric.created_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "field_name": "gb",
        "expression": "event.properties.mb / 1024",
        # Ordered by key, duplicate values dropped.
        "filters": [{"key": "cloud", "values": ["aws"]}, {"key": "region", "values": ["us", "eu"]}],
    }


def test_count_agg_forces_field_name_to_null(api):
    body = create(api, **valid(aggregation_type="count_agg", field_name="ignored")).json()["billable_metric"]
    assert body["field_name"] is None
    assert BillableMetric.objects.get().field_name is None


def test_weighted_sum_with_seconds(api):
    response = create(
        api, **valid(aggregation_type="weighted_sum_agg", weighted_interval="seconds", recurring=True)
    )
    assert response.status_code == 200, response.json()
    assert response.json()["billable_metric"]["weighted_interval"] == "seconds"


@pytest.mark.parametrize(
    ("fields", "details"),
    [
        ({"name": None}, {"name": ["value_is_mandatory"]}),
        ({"name": ""}, {"name": ["value_is_mandatory"]}),
        ({"name": {"a": 1}}, {"name": ["value_is_invalid"]}),
        ({"code": None}, {"code": ["value_is_mandatory"]}),
        ({"code": "x" * 256}, {"code": ["value_is_too_long"]}),
        ({"aggregation_type": None}, {"aggregation_type": ["value_is_mandatory"]}),
        ({"aggregation_type": "median_agg"}, {"aggregation_type": ["value_is_invalid"]}),
        ({"aggregation_type": "custom_agg"}, {"aggregation_type": ["custom_agg_not_supported"]}),
        ({"field_name": None}, {"field_name": ["value_is_mandatory"]}),
        ({"field_name": "  "}, {"field_name": ["value_is_mandatory"]}),
        ({"aggregation_type": "unique_count_agg", "field_name": ""}, {"field_name": ["value_is_mandatory"]}),
        ({"aggregation_type": "weighted_sum_agg"}, {"weighted_interval": ["value_is_invalid"]}),
        (
            {"aggregation_type": "weighted_sum_agg", "weighted_interval": "minutes"},
            {"weighted_interval": ["value_is_invalid"]},
        ),
        (
            {"aggregation_type": "count_agg", "recurring": True},
            {"recurring": ["not_compatible_with_aggregation_type"]},
        ),
        (
            {"aggregation_type": "max_agg", "recurring": True},
            {"recurring": ["not_compatible_with_aggregation_type"]},
        ),
        (
            {"aggregation_type": "latest_agg", "recurring": True},
            {"recurring": ["not_compatible_with_aggregation_type"]},
        ),
        ({"recurring": "sometimes"}, {"recurring": ["value_is_invalid"]}),
        ({"rounding_function": "half"}, {"rounding_function": ["value_is_invalid"]}),
        ({"rounding_precision": "two"}, {"rounding_precision": ["value_is_invalid"]}),
        ({"rounding_precision": 1.5}, {"rounding_precision": ["value_is_invalid"]}),
        ({"rounding_precision": 10**30}, {"rounding_precision": ["value_is_out_of_range"]}),
        ({"rounding_precision": -101}, {"rounding_precision": ["value_is_out_of_range"]}),
        (
            {"expression": "1 +"},
            {"expression": ["invalid_expression"], "expression_position": ["3"]},
        ),
        (
            {"expression": "event.foo"},
            {"expression": ["invalid_expression"], "expression_position": ["6"]},
        ),
        (
            {"aggregation_type": "count_agg", "expression": "1 + 1"},
            {"expression": ["not_compatible_with_aggregation_type"]},
        ),
        ({"expression": ["1"]}, {"expression": ["value_is_invalid"]}),
        ({"filters": "region"}, {"filters": ["value_is_invalid"]}),
        ({"filters": [{"values": ["a"]}]}, {"filters": {"0": {"key": ["value_is_mandatory"]}}}),
        (
            {"filters": [{"key": "region", "values": []}]},
            {"filters": {"0": {"values": ["value_is_mandatory"]}}},
        ),
        ({"filters": [{"key": "region"}]}, {"filters": {"0": {"values": ["value_is_mandatory"]}}}),
        (
            {"filters": [{"key": "region", "values": ["us", ""]}]},
            {"filters": {"0": {"values": {"1": ["value_is_mandatory"]}}}},
        ),
        (
            {"filters": [{"key": "region", "values": [{"a": 1}]}]},
            {"filters": {"0": {"values": {"0": ["value_is_invalid"]}}}},
        ),
        (
            {"filters": [{"key": "region", "values": ["us"]}, {"key": "region", "values": ["eu"]}]},
            {"filters": ["value_already_exist"]},
        ),
    ],
)
def test_invalid_metric_is_422_and_changes_nothing(api, fields, details):
    response = create(api, **valid(**fields))
    assert response.status_code == 422
    assert response.json() == {
        "status": 422,
        "error": "Unprocessable Entity",
        "code": "validation_errors",
        "error_details": details,
    }
    assert BillableMetric.objects.count() == 0
    assert BillableMetricFilter.objects.count() == 0


def test_missing_root_key_is_400(api):
    assert api.post(URL, {"metric": valid()}, format="json").status_code == 400


def test_duplicate_code_is_value_already_exist_until_deleted(api):
    assert create(api, **valid()).status_code == 200
    duplicate = create(api, **valid(name="Other"))
    assert duplicate.status_code == 422
    assert duplicate.json()["error_details"] == {"code": ["value_already_exist"]}
    assert api.delete(f"{URL}/storage").status_code == 200
    assert create(api, **valid(name="Again")).status_code == 200
    assert BillableMetric.objects.count() == 2
    assert BillableMetric.objects.filter(deleted_at__isnull=True).count() == 1


def test_list_paginates_newest_first_and_get_by_code(api):
    for i in range(3):
        create(api, **valid(code=f"m{i}", name=f"M{i}"))
    page = api.get(URL, {"per_page": 2, "page": 1}).json()
    assert [m["code"] for m in page["billable_metrics"]] == ["m2", "m1"]
    assert page["meta"] == {
        "current_page": 1,
        "next_page": 2,
        "prev_page": None,
        "total_pages": 2,
        "total_count": 3,
    }
    assert api.get(f"{URL}/m0").json()["billable_metric"]["name"] == "M0"
    missing = api.get(f"{URL}/nope")
    assert missing.status_code == 404
    assert missing.json() == {"status": 404, "error": "Not Found", "code": "billable_metric_not_found"}


def test_update_changes_only_given_keys(api):
    create(api, **valid(description="d", filters=[{"key": "region", "values": ["us"]}]))
    response = update(
        api, "storage", name="Disk", code="disk", rounding_function="ceil", rounding_precision=-1
    )
    assert response.status_code == 200, response.json()
    body = response.json()["billable_metric"]
    assert (body["name"], body["code"], body["description"], body["field_name"]) == (
        "Disk",
        "disk",
        "d",
        "gb",
    )
    assert (body["rounding_function"], body["rounding_precision"]) == ("ceil", -1)
    assert body["filters"] == [{"key": "region", "values": ["us"]}]
    assert api.get(f"{URL}/storage").status_code == 404


def test_update_validates_the_resulting_metric_and_changes_nothing_when_refused(api):
    create(api, **valid(aggregation_type="count_agg"))
    response = update(api, "storage", aggregation_type="sum_agg", name="Renamed")
    assert response.status_code == 422
    assert response.json()["error_details"] == {"field_name": ["value_is_mandatory"]}
    metric = BillableMetric.objects.get()
    assert (metric.aggregation_type, metric.name) == ("count_agg", "Storage")


def test_update_to_count_agg_clears_field_name(api):
    create(api, **valid())
    body = update(api, "storage", aggregation_type="count_agg").json()["billable_metric"]
    assert body["aggregation_type"] == "count_agg" and body["field_name"] is None


def test_update_to_an_existing_code_is_value_already_exist(api):
    create(api, **valid())
    create(api, **valid(code="other"))
    response = update(api, "other", code="storage")
    assert response.status_code == 422
    assert response.json()["error_details"] == {"code": ["value_already_exist"]}


def test_metric_used_by_a_plan_keeps_its_aggregation(api, organization):
    metric = BillableMetricFactory(organization=organization, code="calls", field_name="n")
    ChargeFactory(plan=PlanFactory(organization=organization), billable_metric=metric)
    response = update(
        api,
        "calls",
        name="API calls",
        description="every call",
        code="renamed",
        aggregation_type="max_agg",
        field_name="other",
        expression="1 + 1",
        filters=[{"key": "region", "values": ["us"]}],
    )
    assert response.status_code == 200, response.json()
    body = response.json()["billable_metric"]
    # As in Lago: only name, description (and filters) change; the other keys are ignored.
    assert (body["name"], body["description"], body["filters"]) == (
        "API calls",
        "every call",
        [{"key": "region", "values": ["us"]}],
    )
    assert (body["code"], body["aggregation_type"], body["field_name"], body["expression"]) == (
        "calls",
        "sum_agg",
        "n",
        None,
    )


def test_metric_of_a_deleted_charge_is_editable_again(api, organization):
    metric = BillableMetricFactory(organization=organization, code="calls")
    ChargeFactory(
        plan=PlanFactory(organization=organization),
        billable_metric=metric,
        deleted_at=dt.datetime.now(dt.UTC),
    )
    body = update(api, "calls", aggregation_type="count_agg").json()["billable_metric"]
    assert body["aggregation_type"] == "count_agg"


def test_changing_filters_prunes_charge_filters(api, organization):
    metric = BillableMetricFactory(organization=organization, code="cpu")
    BillableMetricFilterFactory(billable_metric=metric, key="region", values=["us", "eu"])
    BillableMetricFilterFactory(billable_metric=metric, key="cloud", values=["aws", "gcp"])
    charge = ChargeFactory(plan=PlanFactory(organization=organization), billable_metric=metric)
    both = ChargeFilterFactory(charge=charge, values={"region": ["us", "eu"], "cloud": ["aws"]})
    eu_only = ChargeFilterFactory(charge=charge, values={"region": ["eu"]})
    any_cloud = ChargeFilterFactory(charge=charge, values={"cloud": ["__ALL_FILTER_VALUES__"]})
    any_region = ChargeFilterFactory(charge=charge, values={"region": ["__ALL_FILTER_VALUES__"]})

    response = update(api, "cpu", filters=[{"key": "region", "values": ["us", "fr"]}])
    assert response.status_code == 200, response.json()
    assert response.json()["billable_metric"]["filters"] == [{"key": "region", "values": ["us", "fr"]}]
    for row in (both, eu_only, any_cloud, any_region):
        row.refresh_from_db()
    assert both.values == {"region": ["us"]} and both.deleted_at is None
    assert eu_only.deleted_at is not None
    assert any_cloud.deleted_at is not None
    assert any_region.values == {"region": ["__ALL_FILTER_VALUES__"]} and any_region.deleted_at is None
    assert list(BillableMetricFilter.objects.values_list("key", flat=True)) == ["region"]

    # An empty list removes every filter (and every charge filter).
    update(api, "cpu", filters=[])
    assert BillableMetricFilter.objects.count() == 0
    assert ChargeFilter.objects.filter(deleted_at__isnull=True).count() == 0


def test_delete_soft_deletes_metric_and_its_charges(api, organization):
    metric = BillableMetricFactory(organization=organization, code="gone")
    charge = ChargeFactory(plan=PlanFactory(organization=organization), billable_metric=metric)
    charge_filter = ChargeFilterFactory(charge=charge, values={})
    other_charge = ChargeFactory(
        plan=charge.plan, billable_metric=BillableMetricFactory(organization=organization)
    )

    response = api.delete(f"{URL}/gone")
    assert response.status_code == 200
    assert response.json()["billable_metric"]["code"] == "gone"
    metric.refresh_from_db()
    charge.refresh_from_db()
    charge_filter.refresh_from_db()
    other_charge.refresh_from_db()
    assert (
        metric.deleted_at is not None
        and charge.deleted_at is not None
        and charge_filter.deleted_at is not None
    )
    assert other_charge.deleted_at is None
    assert api.get(f"{URL}/gone").status_code == 404
    assert api.delete(f"{URL}/gone").status_code == 404
    assert api.get(URL).json()["meta"]["total_count"] == 1
    assert Charge.objects.count() == 2


@pytest.mark.parametrize("method", ["get", "put", "delete"])
def test_nul_in_the_code_is_404(api, method):
    response = getattr(api, method)(f"{URL}/a%00b", {"billable_metric": {"name": "x"}}, format="json")
    assert response.status_code == 404


def test_other_organizations_metrics_are_404(api, organization):
    other = OrganizationFactory()
    theirs = BillableMetricFactory(organization=other, code="shared")
    assert api.get(f"{URL}/shared").status_code == 404
    assert update(api, "shared", name="Mine").status_code == 404
    assert api.delete(f"{URL}/shared").status_code == 404
    assert api.get(URL).json()["billable_metrics"] == []
    # The same code is free in our organization.
    assert create(api, **valid(code="shared")).status_code == 200
    theirs.refresh_from_db()
    assert theirs.name.startswith("Metric") and theirs.deleted_at is None


# --- evaluate_expression --------------------------------------------------------------------------

EVALUATE = f"{URL}/evaluate_expression"


def evaluate(api, expression, **event):
    return api.post(EVALUATE, {"expression": expression, "event": event}, format="json")


@pytest.mark.parametrize(
    ("expression", "event", "value"),
    [
        ("round(event.properties.value)", {"properties": {"value": "2.4"}}, "2.0"),
        ("event.properties.mb / 1024", {"properties": {"mb": 512}}, "0.5"),
        ("CEIL(event.properties.ms / 1000)", {"properties": {"ms": 1543}}, "2.0"),
        (
            "concat(event.code, '-', event.properties.region)",
            {"code": "calls", "properties": {"region": "eu"}},
            "calls-eu",
        ),
        ("event.timestamp + 1", {"timestamp": "1651240791.9", "properties": {}}, "1651240792.0"),
        ("event.timestamp", {"timestamp": 1651240791, "properties": {}}, "1651240791.0"),
        ("event.timestamp", {"timestamp": 1651240791.75, "properties": {}}, "1651240791.0"),
    ],
)
def test_evaluate_expression(api, expression, event, value):
    response = evaluate(api, expression, **event)
    assert response.status_code == 200, response.json()
    assert response.json() == {"expression_result": {"value": value}}


def test_evaluate_expression_without_timestamp_uses_the_organization_clock(api, organization):
    organization.is_sandbox = True
    organization.frozen_time = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    organization.save()
    response = evaluate(api, "event.timestamp", code="x", properties={})
    assert response.json()["expression_result"]["value"] == "1704067200.0"


@pytest.mark.parametrize(
    ("body", "details"),
    [
        ({"expression": "", "event": {}}, {"expression": ["value_is_mandatory"]}),
        ({"event": {}}, {"expression": ["value_is_mandatory"]}),
        ({}, {"expression": ["value_is_mandatory"]}),
        (
            {"expression": "round(event.properties.x", "event": {}},
            {"expression": ["invalid_expression"], "expression_position": ["24"]},
        ),
        ({"expression": "event.properties.x", "event": {"properties": {}}}, {"event": ["invalid_event"]}),
        ({"expression": "1 / 0", "event": {}}, {"event": ["invalid_event"]}),
        ({"expression": "'a' + 1", "event": {}}, {"event": ["invalid_event"]}),
        (
            {"expression": "1", "event": {"timestamp": "yesterday"}},
            {"event": {"timestamp": ["invalid_format"]}},
        ),
        (
            {"expression": "1", "event": {"timestamp": "1e999999"}},
            {"event": {"timestamp": ["invalid_format"]}},
        ),
        ({"expression": "1", "event": {"timestamp": 1e300}}, {"event": {"timestamp": ["invalid_format"]}}),
        ({"expression": "1", "event": {"timestamp": True}}, {"event": {"timestamp": ["invalid_format"]}}),
        ({"expression": "1", "event": {"timestamp": [1]}}, {"event": {"timestamp": ["invalid_format"]}}),
        ({"expression": "1", "event": {"properties": "x"}}, {"event": {"properties": ["value_is_invalid"]}}),
        ({"expression": "1", "event": "x"}, {"event": {"non_field_errors": ["value_is_invalid"]}}),
    ],
)
def test_evaluate_expression_errors(api, body, details):
    response = api.post(EVALUATE, body, format="json")
    assert response.status_code == 422
    assert response.json()["error_details"] == details


def test_evaluate_expression_body_must_be_an_object(api):
    assert api.post(EVALUATE, [1, 2], format="json").status_code == 400


# --- lago-python-client round trips ---------------------------------------------------------------

SDK_METRICS = [
    {
        "name": "API calls",
        "code": "calls",
        "aggregation_type": "count_agg",
        "description": "Every request",
        "filters": [{"key": "region", "values": ["us", "eu"]}, {"key": "method", "values": ["get", "post"]}],
    },
    {
        "name": "Storage",
        "code": "storage",
        "aggregation_type": "sum_agg",
        "field_name": "gb",
        "recurring": True,
        "rounding_function": "round",
        "rounding_precision": 2,
        "expression": "event.properties.mb / 1024",
    },
    {
        "name": "Peak CPU",
        "code": "peak_cpu",
        "aggregation_type": "max_agg",
        "field_name": "cpu",
        "rounding_function": "ceil",
        "rounding_precision": 0,
        "filters": [{"key": "cloud", "values": ["aws"]}],
    },
    {
        "name": "Seats",
        "code": "seats",
        "aggregation_type": "unique_count_agg",
        "field_name": "user_id",
        "recurring": True,
    },
    {
        "name": "Balance",
        "code": "balance",
        "aggregation_type": "latest_agg",
        "field_name": "balance",
        "rounding_function": "floor",
        "rounding_precision": -1,
    },
    {
        "name": "GB-seconds",
        "code": "gb_seconds",
        "aggregation_type": "weighted_sum_agg",
        "field_name": "gb",
        "weighted_interval": "seconds",
        "recurring": True,
        "expression": "ROUND(event.properties.mb / 1024, 2)",
        "filters": [{"key": "tier", "values": ["hot", "cold"]}],
    },
]


def _sdk_metric(fields):
    from lago_python_client.models import BillableMetric
    from lago_python_client.models.billable_metric import BillableMetricFilter, BillableMetricFilters

    fields = dict(fields)
    if "filters" in fields:
        fields["filters"] = BillableMetricFilters(
            __root__=[BillableMetricFilter(**f) for f in fields["filters"]]
        )
    return BillableMetric(**fields)


def _assert_metric_matches(response, sent):
    expected = {
        "name": sent["name"],
        "code": sent["code"],
        "description": sent.get("description"),
        "aggregation_type": sent["aggregation_type"],
        "field_name": None if sent["aggregation_type"] == "count_agg" else sent.get("field_name"),
        "weighted_interval": sent.get("weighted_interval"),
        "recurring": sent.get("recurring", False),
        "rounding_function": sent.get("rounding_function"),
        "rounding_precision": sent.get("rounding_precision"),
        "expression": sent.get("expression"),
    }
    for field, value in expected.items():
        assert getattr(response, field) == value, field
    filters = [{"key": f.key, "values": f.values} for f in response.filters.__root__]
    assert filters == sorted(sent.get("filters", []), key=lambda f: f["key"])
    assert response.lago_id and response.created_at.endswith("Z")


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("sent", SDK_METRICS, ids=[m["aggregation_type"] for m in SDK_METRICS])
def test_lago_client_round_trip(lago, sent):
    from lago_python_client.exceptions import LagoApiError

    created = lago.billable_metrics.create(_sdk_metric(sent))
    _assert_metric_matches(created, sent)
    found = lago.billable_metrics.find(sent["code"])
    assert found.lago_id == created.lago_id
    _assert_metric_matches(found, sent)

    changes = {
        "name": f"{sent['name']} v2",
        "description": "updated",
        "filters": [{"key": "zone", "values": ["a"]}],
    }
    updated = lago.billable_metrics.update(_sdk_metric(changes), sent["code"])
    _assert_metric_matches(updated, {**sent, **changes})
    _assert_metric_matches(lago.billable_metrics.find(sent["code"]), {**sent, **changes})

    page = lago.billable_metrics.find_all({"per_page": 10})
    assert [m.code for m in page["billable_metrics"]] == [sent["code"]]
    assert page["meta"]["total_count"] == 1

    deleted = lago.billable_metrics.destroy(sent["code"])
    assert deleted.code == sent["code"]
    with pytest.raises(LagoApiError) as missing:
        lago.billable_metrics.find(sent["code"])
    assert missing.value.status_code == 404


@pytest.mark.django_db(transaction=True)
def test_lago_client_validation_error_details(lago):
    from lago_python_client.exceptions import LagoApiError

    with pytest.raises(LagoApiError) as invalid:
        lago.billable_metrics.create(_sdk_metric({"name": "X", "code": "x", "aggregation_type": "sum_agg"}))
    assert invalid.value.status_code == 422
    assert invalid.value.response["error_details"] == {"field_name": ["value_is_mandatory"]}


@pytest.mark.django_db(transaction=True)
def test_lago_client_evaluate_expression_sends_no_body(lago):
    """lago-python-client's evaluate_expression posts without a body (a client bug): we answer a clean 422."""
    from lago_python_client.exceptions import LagoApiError
    from lago_python_client.models.billable_metric import (
        BillableMetricEvaluateExpression,
        BillableMetricEvaluateExpressionEvent,
    )

    request = BillableMetricEvaluateExpression(
        expression="1 + 1", event=BillableMetricEvaluateExpressionEvent(code="x", properties={})
    )
    with pytest.raises(LagoApiError) as refused:
        lago.billable_metrics.evaluate_expression(request)
    assert refused.value.status_code == 422
    assert refused.value.response["error_details"] == {"expression": ["value_is_mandatory"]}


# --- admin ----------------------------------------------------------------------------------------

ADMIN = "/admin/catalog/billablemetric/"


def admin_payload(organization, filters=(), **fields):
    data = {
        "organization": str(organization.pk),
        "name": "Storage",
        "code": "storage",
        "description": "",
        "aggregation_type": "sum_agg",
        "field_name": "gb",
        "weighted_interval": "",
        "rounding_function": "",
        "rounding_precision": "",
        "expression": "",
        "filters-TOTAL_FORMS": str(len(filters)),
        "filters-INITIAL_FORMS": "0",
        "filters-MIN_NUM_FORMS": "0",
        "filters-MAX_NUM_FORMS": "1000",
    }
    for i, (key, values) in enumerate(filters):
        data[f"filters-{i}-key"] = key
        data[f"filters-{i}-values"] = values
    data.update(fields)
    return data


def test_admin_pages_render(admin_client, organization):
    metric = BillableMetricFactory(organization=organization)
    BillableMetricFilterFactory(billable_metric=metric)
    assert admin_client.get(ADMIN).status_code == 200
    assert admin_client.get(f"{ADMIN}?q={metric.code}&aggregation_type__exact=sum_agg").status_code == 200
    assert admin_client.get(f"{ADMIN}add/").status_code == 200
    assert admin_client.get(f"{ADMIN}{metric.pk}/change/").status_code == 200


@pytest.mark.parametrize(
    ("fields", "filters", "message"),
    [
        ({"field_name": ""}, (), "value_is_mandatory"),
        ({"aggregation_type": "count_agg", "recurring": "on"}, (), "not_compatible_with_aggregation_type"),
        ({"aggregation_type": "weighted_sum_agg"}, (), "value_is_invalid"),
        ({"aggregation_type": "custom_agg"}, (), "custom_agg_not_supported"),
        ({"expression": "1 +"}, (), "invalid_expression"),
        ({"rounding_precision": "500"}, (), "value_is_out_of_range"),
        ({}, [("region", '["us", ""]')], "Invalid filters"),
        ({}, [("region", '"us"')], "Invalid filters"),
    ],
)
def test_admin_refuses_what_the_api_refuses(admin_client, organization, fields, filters, message):
    response = admin_client.post(f"{ADMIN}add/", admin_payload(organization, filters, **fields))
    assert response.status_code == 200  # the form again, with errors
    assert message in response.content.decode()
    assert BillableMetric.objects.count() == 0


def test_admin_saves_like_the_api(admin_client, organization):
    response = admin_client.post(
        f"{ADMIN}add/",
        admin_payload(organization, [("region", '["us", "eu", "us"]')], aggregation_type="count_agg"),
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    metric = BillableMetric.objects.get()
    assert (metric.aggregation_type, metric.field_name) == ("count_agg", None)
    assert [(f.key, f.values) for f in metric.filters.all()] == [("region", ["us", "eu"])]


def test_admin_filter_change_prunes_charge_filters_and_delete_is_soft(admin_client, organization):
    metric = BillableMetricFactory(organization=organization, code="cpu", field_name="n")
    kept = BillableMetricFilterFactory(billable_metric=metric, key="region", values=["us", "eu"])
    charge = ChargeFactory(plan=PlanFactory(organization=organization), billable_metric=metric)
    charge_filter = ChargeFilterFactory(charge=charge, values={"region": ["eu"]})
    data = admin_payload(organization, code="cpu", field_name="n")
    data.update(
        {
            "filters-TOTAL_FORMS": "1",
            "filters-INITIAL_FORMS": "1",
            "filters-0-id": str(kept.pk),
            "filters-0-billable_metric": str(metric.pk),
            "filters-0-key": "region",
            "filters-0-values": '["us"]',
        }
    )
    data.pop("organization")
    # Attached to a plan: the aggregation is read-only, so these keys are not even read.
    data.pop("aggregation_type")
    data.pop("field_name")
    response = admin_client.post(f"{ADMIN}{metric.pk}/change/", data)
    assert response.status_code == 302, response.content.decode()[:3000]
    kept.refresh_from_db()
    charge_filter.refresh_from_db()
    assert kept.values == ["us"]
    assert charge_filter.deleted_at is not None

    assert admin_client.post(f"{ADMIN}{metric.pk}/delete/", {"post": "yes"}).status_code == 302
    metric.refresh_from_db()
    charge.refresh_from_db()
    assert metric.deleted_at is not None and charge.deleted_at is not None
