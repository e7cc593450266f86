"""/plans (+ /plans/{code}/charges, /plans/{code}/fixed_charges): every charge model, filters, fixed charges,
thresholds, commitment, updates by id, soft deletion, validation, tenancy; round trips with the official client."""

from decimal import Decimal

import pytest
from lago_python_client.exceptions import LagoApiError
from lago_python_client.models import Plan as LagoPlan
from lago_python_client.models.charge import Charge as LagoCharge
from lago_python_client.models.charge import ChargeFilter as LagoChargeFilter
from lago_python_client.models.charge import ChargeFilters, Charges
from lago_python_client.models.fixed_charge import FixedCharge as LagoFixedCharge
from lago_python_client.models.fixed_charge import FixedChargeProperties, FixedCharges
from lago_python_client.models.minimum_commitment import MinimumCommitment as LagoMinimumCommitment
from lago_python_client.models.usage_threshold import UsageThreshold as LagoUsageThreshold
from lago_python_client.models.usage_threshold import UsageThresholds

from billing.models import Subscription
from catalog.models import Charge, ChargeFilter, FixedCharge, MinimumCommitment, Plan, UsageThreshold
from tests.catalog.factories import (
    AddOnFactory,
    BillableMetricFactory,
    BillableMetricFilterFactory,
    PlanFactory,
    SubscriptionFactory,
)
from tests.conftest import make_api_client
from tests.customers.factories import OrganizationFactory, TaxFactory

pytestmark = pytest.mark.django_db

GRADUATED = {
    "graduated_ranges": [
        {"from_value": 0, "to_value": 10, "per_unit_amount": "1.5", "flat_amount": "0"},
        {"from_value": 11, "to_value": None, "per_unit_amount": "0.5", "flat_amount": "2"},
    ]
}
PROPERTIES_BY_MODEL = {
    "standard": {"amount": "12.5"},
    "graduated": GRADUATED,
    "graduated_percentage": {
        "graduated_percentage_ranges": [
            {"from_value": 0, "to_value": 100, "rate": "5", "flat_amount": "0"},
            {"from_value": 101, "to_value": None, "rate": "2", "flat_amount": "10"},
        ]
    },
    "package": {"amount": "100", "package_size": 10, "free_units": 5},
    "percentage": {
        "rate": "1",
        "fixed_amount": "0.5",
        "free_units_per_events": 3,
        "free_units_per_total_aggregation": "15",
        "per_transaction_min_amount": "1.75",
        "per_transaction_max_amount": "2",
    },
    "volume": {
        "volume_ranges": [
            {"from_value": 0, "to_value": 10, "per_unit_amount": "5", "flat_amount": "100"},
            {"from_value": 11, "to_value": None, "per_unit_amount": "2", "flat_amount": "50"},
        ]
    },
    "dynamic": {},
}


def plan_body(**fields):
    body = {"name": "Startup", "code": "startup", "interval": "monthly", "amount_cents": 10000}
    body.update({"amount_currency": "EUR", "pay_in_advance": False})
    body.update(fields)
    return body


def post_plan(api, **fields):
    return api.post("/api/v1/plans", {"plan": plan_body(**fields)}, format="json")


def put_plan(api, plan_code, **fields):
    return api.put(f"/api/v1/plans/{plan_code}", {"plan": fields}, format="json")


def details(response):
    assert response.status_code == 422, response.json()
    return response.json()["error_details"]


def assert_nothing_stored():
    assert Plan.objects.count() == 0
    assert Charge.objects.count() == ChargeFilter.objects.count() == FixedCharge.objects.count() == 0
    assert UsageThreshold.objects.count() == MinimumCommitment.objects.count() == 0


# ==============================================================================================================
# Round trips with the official lago-python-client
# ==============================================================================================================


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("charge_model", list(PROPERTIES_BY_MODEL))
def test_every_charge_model_round_trips_through_the_official_client(lago, charge_model):
    metric = BillableMetricFactory(organization=lago.organization, code="calls", aggregation_type="sum_agg")
    properties = {**PROPERTIES_BY_MODEL[charge_model], "pricing_group_keys": ["region"]}
    created = lago.plans.create(
        LagoPlan(
            name=f"{charge_model} plan",
            code=f"plan_{charge_model}",
            interval="monthly",
            amount_cents=1000,
            amount_currency="EUR",
            pay_in_advance=False,
            charges=Charges(
                __root__=[
                    LagoCharge(
                        billable_metric_id=str(metric.id),
                        charge_model=charge_model,
                        invoice_display_name="API calls",
                        properties=properties,
                    )
                ]
            ),
        )
    )
    found = lago.plans.find(f"plan_{charge_model}")
    for plan in (created, found):
        charge = plan.charges.__root__[0]
        assert charge.charge_model == charge_model
        assert charge.billable_metric_code == "calls" and charge.lago_billable_metric_id == str(metric.id)
        assert charge.code == "calls" and charge.invoice_display_name == "API calls"
        for key, value in properties.items():
            assert charge.properties[key] == value, key
        # Lago mirrors the deprecated alias of pricing_group_keys in its output.
        assert charge.properties["grouped_by"] == ["region"]
        assert set(charge.properties) == {*properties, "grouped_by"}
    assert created.lago_id == found.lago_id


@pytest.mark.django_db(transaction=True)
def test_full_plan_lifecycle_with_the_official_client(lago):
    org = lago.organization
    TaxFactory(organization=org, code="vat", rate="20")
    metric = BillableMetricFactory(
        organization=org, code="requests", aggregation_type="count_agg", field_name=None
    )
    BillableMetricFilterFactory(billable_metric=metric, key="region", values=["us", "eu", "asia"])
    storage = BillableMetricFactory(organization=org, code="storage")
    seats = AddOnFactory(organization=org, code="seats")

    created = lago.plans.create(
        LagoPlan(
            name="Scale",
            code="scale",
            description="For scale-ups",
            interval="yearly",
            amount_cents=120000,
            amount_currency="EUR",
            trial_period=14.0,
            pay_in_advance=True,
            bill_charges_monthly=True,
            tax_codes=["vat"],
            minimum_commitment=LagoMinimumCommitment(amount_cents=500000, invoice_display_name="Floor"),
            usage_thresholds=UsageThresholds(
                __root__=[
                    LagoUsageThreshold(threshold_display_name="first", amount_cents=20000),
                    LagoUsageThreshold(amount_cents=15000, recurring=True),
                ]
            ),
            charges=Charges(
                __root__=[
                    LagoCharge(
                        billable_metric_id=str(metric.id),
                        charge_model="standard",
                        pay_in_advance=True,
                        invoiceable=False,
                        regroup_paid_fees="invoice",
                        properties={"amount": "0.02"},
                        tax_codes=["vat"],
                        filters=ChargeFilters(
                            __root__=[
                                LagoChargeFilter(
                                    invoice_display_name="US",
                                    properties={"amount": "0.03"},
                                    values={"region": ["us"]},
                                ),
                                LagoChargeFilter(
                                    properties={"amount": "0.01"},
                                    values={"region": ["__ALL_FILTER_VALUES__"]},
                                ),
                            ]
                        ),
                    ),
                    LagoCharge(
                        billable_metric_id=str(storage.id),
                        charge_model="graduated",
                        properties=GRADUATED,
                        min_amount_cents=3000,
                    ),
                ]
            ),
            fixed_charges=FixedCharges(
                __root__=[
                    LagoFixedCharge(
                        add_on_id=str(seats.id),
                        charge_model="graduated",
                        units=12.5,
                        properties=FixedChargeProperties(graduated_ranges=GRADUATED["graduated_ranges"]),
                    )
                ]
            ),
            metadata={"crm": "42"},
        )
    )
    assert (
        created.interval == "yearly" and created.bill_charges_monthly is True and created.trial_period == 14.0
    )
    assert created.taxes.__root__[0].code == "vat"
    assert (
        created.minimum_commitment.amount_cents == 500000 and created.minimum_commitment.interval == "yearly"
    )
    assert [(t.amount_cents, t.recurring) for t in created.usage_thresholds.__root__] == [
        (15000, True),
        (20000, False),
    ]
    requests, storage_charge = created.charges.__root__
    assert requests.pay_in_advance and not requests.invoiceable and requests.regroup_paid_fees == "invoice"
    assert requests.taxes.__root__[0].code == "vat"
    assert [(f.invoice_display_name, f.values, f.properties) for f in requests.filters.__root__] == [
        ("US", {"region": ["us"]}, {"amount": "0.03"}),
        (None, {"region": ["__ALL_FILTER_VALUES__"]}, {"amount": "0.01"}),
    ]
    assert storage_charge.min_amount_cents == 3000 and storage_charge.properties == GRADUATED
    fixed = created.fixed_charges.__root__[0]
    assert fixed.add_on_code == "seats" and fixed.code == "seats" and fixed.lago_add_on_id == str(seats.id)
    assert fixed.units == 12.5 and fixed.properties.graduated_ranges[1].to_value is None
    assert created.metadata == {"crm": "42"}

    # Update: change the kept charge by id, drop the storage one, add a new one.
    updated = lago.plans.update(
        LagoPlan(
            name="Scale 2",
            amount_cents=130000,
            charges=Charges(
                __root__=[
                    LagoCharge(
                        id=requests.lago_id,
                        charge_model="standard",
                        pay_in_advance=True,
                        invoiceable=False,
                        properties={"amount": "0.05"},
                    ),
                    LagoCharge(
                        billable_metric_id=str(storage.id),
                        charge_model="package",
                        properties={"amount": "5", "package_size": 100, "free_units": 0},
                    ),
                ]
            ),
        ),
        "scale",
    )
    assert updated.name == "Scale 2" and updated.amount_cents == 130000
    kept, added = updated.charges.__root__
    assert kept.lago_id == requests.lago_id and kept.properties == {"amount": "0.05"}
    assert len(kept.filters.__root__) == 2  # filters untouched when not sent
    assert (
        added.lago_id != storage_charge.lago_id
        and added.charge_model == "package"
        and added.code == "storage"
    )
    assert Charge.objects.get(pk=storage_charge.lago_id).deleted_at is not None

    for i in range(3):
        lago.plans.create(LagoPlan(name=f"P{i}", code=f"p{i}", interval="monthly", amount_cents=0,
                                   amount_currency="EUR", pay_in_advance=False))  # fmt: skip
    page = lago.plans.find_all({"per_page": 3, "page": 2})
    assert len(page["plans"]) == 1
    assert (
        page["meta"]["total_count"] == 4
        and page["meta"]["total_pages"] == 2
        and page["meta"]["prev_page"] == 1
    )

    deleted = lago.plans.destroy("scale")
    assert deleted.code == "scale"
    with pytest.raises(LagoApiError) as missing:
        lago.plans.find("scale")
    assert missing.value.status_code == 404


@pytest.mark.django_db(transaction=True)
def test_client_sees_validation_errors(lago):
    metric = BillableMetricFactory(organization=lago.organization)
    with pytest.raises(LagoApiError) as refused:
        lago.plans.create(
            LagoPlan(
                name="Bad",
                code="bad",
                interval="monthly",
                amount_cents=0,
                amount_currency="EUR",
                pay_in_advance=False,
                charges=Charges(
                    __root__=[
                        LagoCharge(
                            billable_metric_id=str(metric.id),
                            charge_model="graduated",
                            properties={"graduated_ranges": []},
                        )
                    ]
                ),
            )
        )
    assert refused.value.status_code == 422
    assert Plan.objects.count() == 0


# ==============================================================================================================
# Create: shape and defaults
# ==============================================================================================================


def test_create_returns_lagos_plan_shape(api, organization):
    metric = BillableMetricFactory(organization=organization, code="calls")
    response = post_plan(api, charges=[{"billable_metric_id": str(metric.id), "charge_model": "standard",
                                        "properties": {"amount": "1"}}])  # fmt: skip
    assert response.status_code == 200, response.json()
    plan = response.json()["plan"]
    assert set(plan) == {
        "lago_id", "name", "invoice_display_name", "created_at", "code", "interval", "description", "amount_cents",
        "amount_currency", "trial_period", "pay_in_advance", "bill_charges_monthly", "bill_fixed_charges_monthly",
        "customers_count", "active_subscriptions_count", "draft_invoices_count", "parent_id", "pending_deletion",
        "minimum_commitment", "charges", "fixed_charges", "taxes", "usage_thresholds", "metadata",
    }  # fmt: skip
    assert plan["created_at"].endswith("Z") and plan["minimum_commitment"] is None
    assert (
        plan["bill_charges_monthly"] is None
        and plan["trial_period"] is None
        and plan["pending_deletion"] is False
    )
    charge = plan["charges"][0]
    assert set(charge) == {
        "lago_id", "lago_billable_metric_id", "code", "invoice_display_name", "billable_metric_code", "created_at",
        "charge_model", "invoiceable", "regroup_paid_fees", "pay_in_advance", "prorated", "min_amount_cents",
        "properties", "filters", "taxes", "applied_pricing_unit", "accepts_target_wallet", "lago_parent_id",
    }  # fmt: skip
    assert (
        charge["invoiceable"] is True
        and charge["pay_in_advance"] is False
        and charge["min_amount_cents"] == 0
    )
    assert charge["regroup_paid_fees"] is None and charge["filters"] == [] and charge["taxes"] == []


def test_metric_can_be_given_by_code_and_charge_codes_are_generated(api, organization):
    BillableMetricFactory(organization=organization, code="calls")
    response = post_plan(
        api,
        charges=[
            {"billable_metric_code": "calls", "charge_model": "standard", "properties": {"amount": "1"}},
            {"billable_metric_code": "calls", "charge_model": "standard", "properties": {"amount": "2"}},
            {"billable_metric_code": "calls", "charge_model": "standard", "code": "calls_custom"},
        ],
    )
    assert [c["code"] for c in response.json()["plan"]["charges"]] == ["calls", "calls_2", "calls_custom"]


def test_missing_properties_get_the_models_zero_price_defaults(api, organization):
    metric = BillableMetricFactory(organization=organization)
    response = post_plan(api, charges=[{"billable_metric_id": str(metric.id), "charge_model": "graduated"}])
    assert response.json()["plan"]["charges"][0]["properties"] == {
        "graduated_ranges": [{"from_value": 0, "to_value": None, "per_unit_amount": "0", "flat_amount": "0"}]
    }


def test_properties_are_normalized_and_grouped_by_becomes_pricing_group_keys(api, organization):
    metric = BillableMetricFactory(organization=organization)
    response = post_plan(api, charges=[{"billable_metric_id": str(metric.id), "charge_model": "standard",
                                        "properties": {"amount": "3", "rate": "9", "grouped_by": ["country"]}}])  # fmt: skip
    assert response.status_code == 200
    assert Charge.objects.get().properties == {"amount": "3", "pricing_group_keys": ["country"]}
    assert response.json()["plan"]["charges"][0]["properties"] == {
        "amount": "3",
        "pricing_group_keys": ["country"],
        "grouped_by": ["country"],
    }


@pytest.mark.parametrize(
    ("interval", "sent", "stored"),
    [("monthly", True, None), ("yearly", True, True), ("semiannual", None, False), ("yearly", False, False)],
)
def test_bill_charges_monthly_only_for_yearly_and_semiannual_plans(api, interval, sent, stored):
    fields = {"interval": interval}
    if sent is not None:
        fields |= {"bill_charges_monthly": sent, "bill_fixed_charges_monthly": sent}
    plan = post_plan(api, **fields).json()["plan"]
    assert plan["bill_charges_monthly"] is stored and plan["bill_fixed_charges_monthly"] is stored


def test_fixed_charges_take_an_add_on_by_id_or_code_and_default_their_code(api, organization):
    seats = AddOnFactory(organization=organization, code="seats")
    response = post_plan(
        api,
        fixed_charges=[
            {"add_on_id": str(seats.id), "charge_model": "standard", "units": "3.5", "properties": {"amount": "10"}},
            {"add_on_code": "seats", "charge_model": "volume", "pay_in_advance": False, "prorated": True},
            {"add_on_code": "seats", "charge_model": "standard", "code": "extra_seats", "pay_in_advance": True,
             "properties": {"amount": "1", "pricing_group_keys": ["x"]}},
        ],
    )  # fmt: skip
    assert response.status_code == 200, response.json()
    fixed = response.json()["plan"]["fixed_charges"]
    assert [(f["code"], f["add_on_code"], f["units"]) for f in fixed] == [
        ("seats", "seats", 3.5),
        ("seats_2", "seats", 0.0),
        ("extra_seats", "seats", 0.0),
    ]
    assert (
        fixed[1]["properties"]["volume_ranges"][0]["per_unit_amount"] == "0" and fixed[1]["prorated"] is True
    )
    assert fixed[2]["properties"] == {"amount": "1"}  # fixed charges keep no grouping
    assert FixedCharge.objects.get(code="seats").units == Decimal("3.5")


def test_minimum_commitment_and_taxes(api, organization):
    TaxFactory(organization=organization, code="vat", rate="20")
    TaxFactory(organization=organization, code="eco", rate="1")
    response = post_plan(
        api, tax_codes=["vat"], minimum_commitment={"amount_cents": 1000, "tax_codes": ["eco"]}
    )
    plan = response.json()["plan"]
    assert [t["code"] for t in plan["taxes"]] == ["vat"]
    commitment = plan["minimum_commitment"]
    assert commitment["amount_cents"] == 1000 and commitment["plan_code"] == "startup"
    assert commitment["interval"] == "monthly" and [t["code"] for t in commitment["taxes"]] == ["eco"]


# ==============================================================================================================
# Create: validation (exact error details, nothing stored)
# ==============================================================================================================


@pytest.mark.parametrize(
    ("aggregation", "recurring", "charge", "expected"),
    [
        ("sum_agg", False, {"charge_model": "graduated", "properties": {"graduated_ranges": [{"from_value": 0, "to_value": 10, "per_unit_amount": "1", "flat_amount": "0"}]}},
         {"properties": {"graduated_ranges": ["invalid_graduated_ranges"]}}),
        ("sum_agg", False, {"charge_model": "graduated", "properties": {"graduated_ranges": []}},
         {"properties": {"graduated_ranges": ["missing_graduated_ranges"]}}),
        ("sum_agg", False, {"charge_model": "standard", "properties": {"amount": 12}},
         {"properties": {"amount": ["invalid_amount"]}}),
        ("sum_agg", False, {"charge_model": "package", "properties": {"amount": "1", "package_size": 0, "free_units": -1}},
         {"properties": {"free_units": ["invalid_free_units"], "package_size": ["invalid_package_size"]}}),
        ("sum_agg", False, {"charge_model": "percentage", "properties": {"rate": "-1"}},
         {"properties": {"rate": ["invalid_rate"]}}),
        ("sum_agg", False, {"charge_model": "volume", "properties": {"volume_ranges": [{"from_value": 0, "to_value": None, "per_unit_amount": "x", "flat_amount": "0"}]}},
         {"properties": {"per_unit_amount": ["invalid_amount"]}}),
        ("sum_agg", False, {"charge_model": "graduated_percentage", "properties": {"graduated_percentage_ranges": None}},
         {"properties": {"graduated_percentage_ranges": ["missing_graduated_percentage_ranges"]}}),
        ("sum_agg", False, {"charge_model": "standard", "properties": {"amount": "1", "pricing_group_keys": "country"}},
         {"properties": {"pricing_group_keys": ["invalid_type"]}}),
        ("sum_agg", False, {"charge_model": "volume", "pay_in_advance": True},
         {"pay_in_advance": ["invalid_aggregation_type_or_charge_model"]}),
        ("max_agg", False, {"charge_model": "standard", "pay_in_advance": True},
         {"pay_in_advance": ["invalid_aggregation_type_or_charge_model"]}),
        ("count_agg", False, {"charge_model": "dynamic"},
         {"charge_model": ["invalid_aggregation_type_or_charge_model"]}),
        ("latest_agg", False, {"charge_model": "percentage", "properties": {"rate": "1"}},
         {"billable_metric": ["invalid_value"]}),
        ("sum_agg", False, {"charge_model": "standard", "pay_in_advance": True, "min_amount_cents": 100},
         {"min_amount_cents": ["not_compatible_with_pay_in_advance"]}),
        ("sum_agg", False, {"charge_model": "standard", "invoiceable": False},
         {"invoiceable": ["must_be_true_unless_pay_in_advance"]}),
        ("sum_agg", False, {"charge_model": "standard", "pay_in_advance": True, "regroup_paid_fees": "invoice"},
         {"regroup_paid_fees": ["only_compatible_with_pay_in_advance_and_non_invoiceable"]}),
        ("sum_agg", False, {"charge_model": "standard", "prorated": True},
         {"prorated": ["invalid_billable_metric_or_charge_model"]}),
        ("weighted_sum_agg", True, {"charge_model": "standard", "prorated": True},
         {"prorated": ["invalid_billable_metric_or_charge_model"]}),
        ("sum_agg", True, {"charge_model": "package", "prorated": True},
         {"prorated": ["invalid_billable_metric_or_charge_model"]}),
        ("sum_agg", True, {"charge_model": "graduated", "prorated": True, "pay_in_advance": True},
         {"prorated": ["invalid_billable_metric_or_charge_model"]}),
    ],
)  # fmt: skip
def test_charge_validation_names_the_charge_and_field(
    api, organization, aggregation, recurring, charge, expected
):
    metric = BillableMetricFactory(
        organization=organization, aggregation_type=aggregation, recurring=recurring
    )
    ok = {"billable_metric_id": str(metric.id), "charge_model": "standard", "properties": {"amount": "1"}}
    response = post_plan(api, charges=[ok, {"billable_metric_id": str(metric.id), **charge}])
    assert details(response) == {"charges": {"1": expected}}
    assert_nothing_stored()


@pytest.mark.parametrize(
    ("aggregation", "recurring", "charge"),
    [
        ("sum_agg", True, {"charge_model": "standard", "prorated": True, "pay_in_advance": True}),
        ("unique_count_agg", True, {"charge_model": "volume", "prorated": True}),
        ("sum_agg", True, {"charge_model": "graduated", "prorated": True}),
        ("sum_agg", False, {"charge_model": "dynamic"}),
        ("count_agg", False, {"charge_model": "graduated", "pay_in_advance": True, "invoiceable": False,
                              "regroup_paid_fees": "invoice"}),
    ],
)  # fmt: skip
def test_allowed_combinations_are_accepted(api, organization, aggregation, recurring, charge):
    metric = BillableMetricFactory(
        organization=organization, aggregation_type=aggregation, recurring=recurring
    )
    response = post_plan(api, charges=[{"billable_metric_id": str(metric.id), **charge}])
    assert response.status_code == 200, response.json()


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ([{"properties": {"amount": "1"}, "values": {"cloud": ["aws"]}}], {"0": {"values": {"cloud": ["value_is_invalid"]}}}),
        ([{"properties": {"amount": "1"}, "values": {"region": ["mars"]}}], {"0": {"values": {"region": ["value_is_invalid"]}}}),
        ([{"properties": {"amount": "1"}, "values": {"region": ["us", "__ALL_FILTER_VALUES__"]}}],
         {"0": {"values": {"region": ["value_is_invalid"]}}}),
        ([{"properties": {"amount": "1"}, "values": {"region": []}}], {"0": {"values": {"region": ["value_is_mandatory"]}}}),
        ([{"properties": {"amount": "1"}, "values": {}}], {"0": {"values": ["value_is_mandatory"]}}),
        ([{"properties": {"amount": "x"}, "values": {"region": ["us"]}}], {"0": {"properties": {"amount": ["invalid_amount"]}}}),
        ([{"properties": {}, "values": {"region": ["us"]}}], {"0": {"properties": {"amount": ["invalid_amount"]}}}),
        ([{"properties": {"amount": "1"}, "values": {"region": ["us", "eu"]}},
          {"properties": {"amount": "2"}, "values": {"region": ["eu", "us"]}}], {"1": {"values": ["value_already_exist"]}}),
    ],
)  # fmt: skip
def test_filter_validation(api, organization, filters, expected):
    metric = BillableMetricFactory(organization=organization)
    BillableMetricFilterFactory(billable_metric=metric, key="region", values=["us", "eu"])
    response = post_plan(api, charges=[{"billable_metric_id": str(metric.id), "charge_model": "standard",
                                        "properties": {"amount": "1"}, "filters": filters}])  # fmt: skip
    assert details(response) == {"charges": {"0": {"filters": expected}}}
    assert_nothing_stored()


@pytest.mark.parametrize(
    ("fixed_charge", "expected"),
    [
        ({"charge_model": "volume", "pay_in_advance": True}, {"pay_in_advance": ["invalid_charge_model"]}),
        ({"charge_model": "graduated", "pay_in_advance": True, "prorated": True}, {"prorated": ["invalid_charge_model"]}),
        ({"charge_model": "standard", "units": -1}, {"units": ["value_is_out_of_range"]}),
        ({"charge_model": "percentage"}, {"charge_model": ["value_is_invalid"]}),
        ({"charge_model": "standard", "properties": {"amount": "-3"}}, {"properties": {"amount": ["invalid_amount"]}}),
        ({"charge_model": "graduated", "properties": {"graduated_ranges": [{"from_value": 5, "to_value": None,
          "per_unit_amount": "1", "flat_amount": "0"}]}}, {"properties": {"graduated_ranges": ["invalid_graduated_ranges"]}}),
    ],
)  # fmt: skip
def test_fixed_charge_validation(api, organization, fixed_charge, expected):
    AddOnFactory(organization=organization, code="seats")
    response = post_plan(api, fixed_charges=[{"add_on_code": "seats", **fixed_charge}])
    assert details(response) == {"fixed_charges": {"0": expected}}
    assert_nothing_stored()


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"name": None}, {"name": ["value_is_mandatory"]}),
        ({"code": ""}, {"code": ["value_is_mandatory"]}),
        ({"interval": "daily"}, {"interval": ["value_is_invalid"]}),
        ({"amount_currency": "XXX"}, {"amount_currency": ["value_is_invalid"]}),
        ({"amount_cents": "abc"}, {"amount_cents": ["value_is_invalid"]}),
        ({"amount_cents": -1}, {"amount_cents": ["value_is_out_of_range"]}),
        ({"amount_cents": 10**30}, {"amount_cents": ["value_is_out_of_range"]}),
        ({"name": {"a": 1}}, {"name": ["value_is_invalid"]}),
        ({"pay_in_advance": "maybe"}, {"pay_in_advance": ["value_is_invalid"]}),
        ({"trial_period": -1}, {"trial_period": ["value_is_out_of_range"]}),
        ({"trial_period": "1e400"}, {"trial_period": ["value_is_out_of_range"]}),
        ({"trial_period": "soon"}, {"trial_period": ["value_is_invalid"]}),
        ({"charges": "all"}, {"charges": ["value_is_invalid"]}),
        ({"charges": [{"charge_model": "standard"}]}, {"charges": {"0": {"billable_metric_id": ["value_is_mandatory"]}}}),
        ({"charges": [{"billable_metric_id": "nope", "charge_model": "standard"}]},
         {"charges": {"0": {"billable_metric_id": ["value_is_invalid"]}}}),
        ({"charges": [{"billable_metric_code": "m", "charge_model": "flat"}]}, {"charges": {"0": {"charge_model": ["value_is_invalid"]}}}),
        ({"charges": [{"billable_metric_code": "m", "charge_model": "standard", "properties": "cheap"}]},
         {"charges": {"0": {"properties": ["value_is_invalid"]}}}),
        ({"charges": [{"billable_metric_code": "m", "charge_model": "standard", "min_amount_cents": 2**63}]},
         {"charges": {"0": {"min_amount_cents": ["value_is_out_of_range"]}}}),
        ({"charges": [{"billable_metric_code": "m", "charge_model": "standard", "filters": [{"properties": {}, "values": {"k": "v"}}]}]},
         {"charges": {"0": {"filters": {"0": {"values": {"k": ["value_is_invalid"]}}}}}}),
        ({"fixed_charges": [{"add_on_code": "a", "charge_model": "standard", "units": "lots"}]},
         {"fixed_charges": {"0": {"units": ["value_is_invalid"]}}}),
        ({"usage_thresholds": [{"amount_cents": 100, "recurring": True}, {"amount_cents": 200, "recurring": True}]},
         {"usage_thresholds": ["multiple_recurring_thresholds"]}),
        ({"usage_thresholds": [{"amount_cents": 100}, {"amount_cents": 100}]}, {"usage_thresholds": ["duplicated_values"]}),
        ({"usage_thresholds": [{"amount_cents": 0}]}, {"usage_thresholds": {"0": {"amount_cents": ["value_is_out_of_range"]}}}),
        ({"minimum_commitment": {"invoice_display_name": "x"}}, {"minimum_commitment": {"amount_cents": ["value_is_mandatory"]}}),
        ({"metadata": {"k": {"nested": True}}}, {"metadata": {"k": ["value_is_invalid"]}}),
        ({"tax_codes": "vat"}, {"tax_codes": ["value_is_invalid"]}),
    ],
)  # fmt: skip
def test_input_validation_and_odd_types(api, organization, fields, expected):
    BillableMetricFactory(organization=organization, code="m")
    AddOnFactory(organization=organization, code="a")
    assert details(post_plan(api, **fields)) == expected
    assert_nothing_stored()


def test_duplicate_codes(api, organization):
    BillableMetricFactory(organization=organization, code="m")
    AddOnFactory(organization=organization, code="a")
    assert post_plan(api).status_code == 200
    response = post_plan(
        api,
        charges=[{"billable_metric_code": "m", "charge_model": "standard", "code": "x"},
                 {"billable_metric_code": "m", "charge_model": "standard", "code": "x"}],
        fixed_charges=[{"add_on_code": "a", "charge_model": "standard", "code": "y"},
                       {"add_on_code": "a", "charge_model": "standard", "code": "y"}],
    )  # fmt: skip
    assert details(response) == {
        "code": ["value_already_exist"],
        "charges": {"1": {"code": ["value_already_exist"]}},
        "fixed_charges": {"1": {"code": ["value_already_exist"]}},
    }
    assert Plan.objects.count() == 1


def test_missing_root_key_is_400(api):
    response = api.post("/api/v1/plans", {"name": "x"}, format="json")
    assert response.status_code == 400 and Plan.objects.count() == 0


# ==============================================================================================================
# Tenancy and not-found references
# ==============================================================================================================


def test_other_organizations_metric_is_not_found(api, organization):
    foreign = BillableMetricFactory(organization=OrganizationFactory(), code="calls")
    for charge in ({"billable_metric_id": str(foreign.id)}, {"billable_metric_code": "calls"}):
        response = post_plan(api, charges=[{**charge, "charge_model": "standard"}])
        assert response.status_code == 404
        assert response.json() == {"status": 404, "error": "Not Found", "code": "billable_metric_not_found"}
    assert_nothing_stored()


def test_deleted_metric_is_not_found(api, organization):
    metric = BillableMetricFactory(organization=organization, deleted_at="2024-01-01T00:00:00Z")
    response = post_plan(api, charges=[{"billable_metric_id": str(metric.id), "charge_model": "standard"}])
    assert response.json()["code"] == "billable_metric_not_found"


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"fixed_charges": [{"add_on_code": "foreign", "charge_model": "standard"}]}, "add_on_not_found"),
        ({"tax_codes": ["nope"]}, "tax_not_found"),
        ({"minimum_commitment": {"amount_cents": 1, "tax_codes": ["nope"]}}, "tax_not_found"),
        ({"charges": [{"billable_metric_code": "m", "charge_model": "standard", "tax_codes": ["nope"]}]}, "tax_not_found"),
    ],
)  # fmt: skip
def test_unknown_references_are_404(api, organization, fields, code):
    BillableMetricFactory(organization=organization, code="m")
    AddOnFactory(organization=OrganizationFactory(), code="foreign")
    TaxFactory(organization=OrganizationFactory(), code="nope")
    response = post_plan(api, **fields)
    assert response.status_code == 404 and response.json()["code"] == code
    assert_nothing_stored()


def test_plans_of_other_organizations_are_invisible(api, organization):
    PlanFactory(organization=OrganizationFactory(), code="theirs")
    assert api.get("/api/v1/plans/theirs").status_code == 404
    assert put_plan(api, "theirs", name="x").status_code == 404
    assert api.delete("/api/v1/plans/theirs").status_code == 404
    assert api.get("/api/v1/plans").json()["meta"]["total_count"] == 0
    # Same code in two organizations is fine.
    assert post_plan(api, code="theirs").status_code == 200


# ==============================================================================================================
# Read
# ==============================================================================================================


def test_list_paginates_parent_plans_newest_first(api, organization):
    plans = [PlanFactory(organization=organization, code=f"p{i}") for i in range(3)]
    PlanFactory(organization=organization, code="p0", parent=plans[0])  # an override child
    PlanFactory(organization=organization, code="gone", deleted_at="2024-01-01T00:00:00Z")
    first = api.get("/api/v1/plans?per_page=2").json()
    assert [p["code"] for p in first["plans"]] == ["p2", "p1"]
    assert first["meta"] == {
        "current_page": 1,
        "next_page": 2,
        "prev_page": None,
        "total_pages": 2,
        "total_count": 3,
    }
    second = api.get("/api/v1/plans?per_page=2&page=2").json()
    assert [p["code"] for p in second["plans"]] == ["p0"]


def test_counts_include_override_children(api, organization):
    plan = PlanFactory(organization=organization, code="base")
    child = PlanFactory(organization=organization, code="base", parent=plan)
    first = SubscriptionFactory(plan=plan)
    SubscriptionFactory(plan=plan, customer=first.customer)
    SubscriptionFactory(plan=child)
    SubscriptionFactory(plan=plan, status="terminated")
    body = api.get("/api/v1/plans/base").json()["plan"]
    assert body["active_subscriptions_count"] == 3 and body["customers_count"] == 2
    assert body["draft_invoices_count"] == 0
    assert api.get("/api/v1/plans").json()["plans"][0]["active_subscriptions_count"] == 3


def test_unknown_plan_is_404(api):
    response = api.get("/api/v1/plans/nope")
    assert response.status_code == 404 and response.json()["code"] == "plan_not_found"


# ==============================================================================================================
# Update
# ==============================================================================================================


@pytest.fixture
def metric(organization):
    metric = BillableMetricFactory(organization=organization, code="calls")
    BillableMetricFilterFactory(billable_metric=metric, key="region", values=["us", "eu"])
    return metric


@pytest.fixture
def created(api, organization, metric):
    AddOnFactory(organization=organization, code="seats")
    response = post_plan(
        api,
        charges=[
            {"billable_metric_id": str(metric.id), "charge_model": "standard", "properties": {"amount": "1"},
             "filters": [{"properties": {"amount": "2"}, "values": {"region": ["us"]}},
                         {"properties": {"amount": "3"}, "values": {"region": ["eu"]}}]},
            {"billable_metric_id": str(metric.id), "charge_model": "graduated", "properties": GRADUATED},
        ],
        fixed_charges=[{"add_on_code": "seats", "charge_model": "standard", "units": 2, "properties": {"amount": "5"}}],
        usage_thresholds=[{"amount_cents": 100, "threshold_display_name": "a"}, {"amount_cents": 500, "recurring": True}],
        minimum_commitment={"amount_cents": 1000},
    )  # fmt: skip
    assert response.status_code == 200, response.json()
    return response.json()["plan"]


def test_update_changes_charges_by_id_adds_and_soft_deletes(api, created, metric):
    standard, graduated = created["charges"]
    response = put_plan(
        api,
        "startup",
        name="Renamed",
        charges=[
            {"id": standard["lago_id"], "charge_model": "package", "invoice_display_name": "Calls",
             "properties": {"amount": "10", "package_size": 100, "free_units": 0},
             "filters": [{"properties": {"amount": "20", "package_size": 10, "free_units": 0}, "values": {"region": ["eu"]}},
                         {"properties": {"amount": "30", "package_size": 10, "free_units": 0}, "values": {"region": ["us", "eu"]}}]},
            {"billable_metric_code": "calls", "charge_model": "percentage", "properties": {"rate": "2"}},
        ],
    )  # fmt: skip
    assert response.status_code == 200, response.json()
    plan = response.json()["plan"]
    assert plan["name"] == "Renamed"
    first, second = plan["charges"]
    assert first["lago_id"] == standard["lago_id"] and first["charge_model"] == "package"
    assert first["code"] == "calls" and first["invoice_display_name"] == "Calls"
    assert [(f["values"], f["properties"]["amount"]) for f in first["filters"]] == [
        ({"region": ["eu"]}, "20"),
        ({"region": ["us", "eu"]}, "30"),
    ]
    # graduated was dropped; its code is free again for the new charge.
    assert second["charge_model"] == "percentage" and second["code"] == "calls_2"
    assert Charge.objects.get(pk=graduated["lago_id"]).deleted_at is not None
    filters = ChargeFilter.objects.filter(charge_id=standard["lago_id"])
    assert filters.count() == 3 and filters.filter(deleted_at__isnull=False).get().values == {
        "region": ["us"]
    }


def test_update_keeps_the_filter_row_with_the_same_values(api, created):
    standard = created["charges"][0]
    eu_filter = ChargeFilter.objects.get(charge_id=standard["lago_id"], values={"region": ["eu"]})
    put_plan(api, "startup", charges=[{"id": standard["lago_id"], "charge_model": "standard",
             "properties": {"amount": "1"}, "filters": [{"properties": {"amount": "9"}, "values": {"region": ["eu"]}}]}])  # fmt: skip
    eu_filter.refresh_from_db()
    assert eu_filter.deleted_at is None and eu_filter.properties == {"amount": "9"}


def test_update_without_charges_keeps_them_and_empty_list_removes_them(api, created):
    assert len(put_plan(api, "startup", name="x").json()["plan"]["charges"]) == 2
    assert put_plan(api, "startup", charges=[]).json()["plan"]["charges"] == []
    assert Charge.objects.filter(deleted_at__isnull=True).count() == 0
    assert ChargeFilter.objects.filter(deleted_at__isnull=True).count() == 0


def test_update_replaces_thresholds_commitment_fixed_charges_and_taxes(api, organization, created):
    TaxFactory(organization=organization, code="vat")
    kept_threshold = UsageThreshold.objects.get(amount_cents=100)
    fixed = created["fixed_charges"][0]
    response = put_plan(
        api,
        "startup",
        tax_codes=["vat"],
        usage_thresholds=[{"amount_cents": 100, "threshold_display_name": "b"}, {"amount_cents": 900, "recurring": True}],
        minimum_commitment={},
        fixed_charges=[{"id": fixed["lago_id"], "units": 7, "properties": {"amount": "6"}},
                       {"add_on_code": "seats", "charge_model": "graduated"}],
    )  # fmt: skip
    plan = response.json()["plan"]
    assert [t["code"] for t in plan["taxes"]] == ["vat"]
    assert [
        (t["amount_cents"], t["recurring"], t["threshold_display_name"]) for t in plan["usage_thresholds"]
    ] == [
        (100, False, "b"),
        (900, True, None),
    ]
    assert plan["usage_thresholds"][0]["lago_id"] == str(kept_threshold.pk)
    assert plan["minimum_commitment"] is None and MinimumCommitment.objects.count() == 0
    first, second = plan["fixed_charges"]
    assert (
        first["lago_id"] == fixed["lago_id"]
        and first["units"] == 7.0
        and first["properties"] == {"amount": "6"}
    )
    assert second["code"] == "seats_2"


def test_update_refusal_changes_nothing(api, created):
    standard = created["charges"][0]
    before = api.get("/api/v1/plans/startup").json()
    response = put_plan(
        api,
        "startup",
        name="Should not stick",
        usage_thresholds=[],
        charges=[{"id": standard["lago_id"], "charge_model": "volume", "pay_in_advance": True}],
    )
    assert details(response) == {
        "charges": {
            "0": {
                "pay_in_advance": ["invalid_aggregation_type_or_charge_model"],
                # the kept filters no longer fit the new model
                "filters": {
                    "0": {"properties": {"volume_ranges": ["missing_volume_ranges"]}},
                    "1": {"properties": {"volume_ranges": ["missing_volume_ranges"]}},
                },
            }
        }
    }
    assert api.get("/api/v1/plans/startup").json() == before


def test_plan_with_subscriptions_keeps_its_frozen_fields(api, created, organization):
    SubscriptionFactory(plan=Plan.objects.get(code="startup"))
    standard = created["charges"][0]
    response = put_plan(
        api,
        "startup",
        name="New name",
        amount_cents=1,
        code="renamed",
        interval="yearly",
        pay_in_advance=True,
        amount_currency="USD",
        trial_period=3,
        charges=[{"id": standard["lago_id"], "charge_model": "graduated", "pay_in_advance": True,
                  "properties": {"amount": "4"}, "min_amount_cents": 5}],
    )  # fmt: skip
    assert response.status_code == 200, response.json()
    plan = response.json()["plan"]
    assert (plan["name"], plan["amount_cents"]) == ("New name", 1)
    assert (plan["code"], plan["interval"], plan["pay_in_advance"]) == ("startup", "monthly", False)
    assert (plan["amount_currency"], plan["trial_period"]) == ("EUR", None)
    charge = plan["charges"][0]
    assert charge["charge_model"] == "standard" and charge["pay_in_advance"] is False
    assert charge["properties"] == {"amount": "4"} and charge["min_amount_cents"] == 0


def test_update_can_rename_the_code_when_free(api, created):
    PlanFactory(organization=Plan.objects.get().organization, code="taken")
    assert details(put_plan(api, "startup", code="taken")) == {"code": ["value_already_exist"]}
    assert put_plan(api, "startup", code="growth").json()["plan"]["code"] == "growth"
    assert api.get("/api/v1/plans/growth").status_code == 200


def test_cascade_updates_copies_the_amount_to_children_that_had_the_old_one(api, organization):
    plan = PlanFactory(organization=organization, code="base", amount_cents=100)
    same = PlanFactory(organization=organization, code="base", parent=plan, amount_cents=100)
    custom = PlanFactory(organization=organization, code="base", parent=plan, amount_cents=50)
    put_plan(api, "base", amount_cents=200, cascade_updates=True)
    same.refresh_from_db()
    custom.refresh_from_db()
    assert (same.amount_cents, custom.amount_cents) == (200, 50)


# ==============================================================================================================
# Delete
# ==============================================================================================================


def test_delete_terminates_subscriptions_and_soft_deletes_everything(api, organization, created):
    plan = Plan.objects.get(code="startup")
    child = PlanFactory(organization=organization, code="startup", parent=plan)
    active = SubscriptionFactory(plan=plan)
    child_active = SubscriptionFactory(plan=child)
    pending = SubscriptionFactory(plan=plan, status="pending", started_at=None)
    downgrade = SubscriptionFactory(
        plan=PlanFactory(organization=organization, code="cheaper"),
        customer=active.customer,
        external_id=active.external_id,
        previous_subscription=active,
        status="pending",
    )
    untouched = SubscriptionFactory(plan=Plan.objects.get(code="cheaper"))
    response = api.delete("/api/v1/plans/startup")
    assert response.status_code == 200
    body = response.json()["plan"]
    assert body["code"] == "startup" and len(body["charges"]) == 2 and body["pending_deletion"] is False
    expected = [(active, "terminated"), (child_active, "terminated"), (pending, "canceled"), (downgrade, "canceled"),
                (untouched, "active")]  # fmt: skip
    for subscription, status in expected:
        subscription.refresh_from_db()
        assert subscription.status == status
    active.refresh_from_db()
    pending.refresh_from_db()
    assert active.terminated_at is not None and pending.canceled_at is not None
    assert list(Plan.objects.filter(deleted_at__isnull=True).values_list("code", flat=True)) == ["cheaper"]
    assert Charge.objects.filter(deleted_at__isnull=True).count() == 0
    assert ChargeFilter.objects.filter(deleted_at__isnull=True).count() == 0
    assert FixedCharge.objects.filter(deleted_at__isnull=True).count() == 0
    assert api.get("/api/v1/plans/startup").status_code == 404
    assert post_plan(api).status_code == 200  # the code is free again
    assert Subscription.objects.filter(status="active").get() == untouched


# ==============================================================================================================
# /plans/{code}/charges and /plans/{code}/fixed_charges
# ==============================================================================================================


def test_plan_charges_endpoints(api, created, metric):
    base = "/api/v1/plans/startup/charges"
    listed = api.get(base).json()
    assert [c["code"] for c in listed["charges"]] == ["calls", "calls_2"] and listed["meta"][
        "total_count"
    ] == 2

    new = api.post(base, {"charge": {"billable_metric_code": "calls", "charge_model": "volume",
                                     "properties": PROPERTIES_BY_MODEL["volume"]}}, format="json")  # fmt: skip
    assert new.status_code == 200, new.json()
    assert new.json()["charge"]["code"] == "calls_3"

    found = api.get(f"{base}/calls_3").json()["charge"]
    assert found["properties"] == PROPERTIES_BY_MODEL["volume"]

    bad = api.put(
        f"{base}/calls_3", {"charge": {"charge_model": "volume", "pay_in_advance": True}}, format="json"
    )
    assert details(bad) == {"pay_in_advance": ["invalid_aggregation_type_or_charge_model"]}

    updated = api.put(f"{base}/calls_3", {"charge": {"charge_model": "standard", "code": "calls_std",
                                                     "properties": {"amount": "7"}}}, format="json")  # fmt: skip
    assert updated.json()["charge"]["code"] == "calls_std"
    assert updated.json()["charge"]["properties"] == {"amount": "7"}
    clash = api.put(
        f"{base}/calls_std", {"charge": {"charge_model": "standard", "code": "calls"}}, format="json"
    )
    assert details(clash) == {"code": ["value_already_exist"]}

    deleted = api.delete(f"{base}/calls_std")
    assert deleted.status_code == 200 and deleted.json()["charge"]["code"] == "calls_std"
    assert api.get(f"{base}/calls_std").json()["code"] == "charge_not_found"
    assert api.get("/api/v1/plans/nope/charges").json()["code"] == "plan_not_found"
    missing_model = api.post(base, {"charge": {"billable_metric_code": "calls"}}, format="json")
    assert details(missing_model) == {"charge_model": ["value_is_mandatory"]}


def test_plan_fixed_charges_endpoints(api, created, organization):
    base = "/api/v1/plans/startup/fixed_charges"
    assert [f["code"] for f in api.get(base).json()["fixed_charges"]] == ["seats"]
    new = api.post(
        base, {"fixed_charge": {"add_on_code": "seats", "charge_model": "volume", "units": 3}}, format="json"
    )
    assert new.status_code == 200 and new.json()["fixed_charge"]["code"] == "seats_2"
    refused = api.post(base, {"fixed_charge": {"add_on_code": "seats", "charge_model": "volume", "pay_in_advance": True}},
                       format="json")  # fmt: skip
    assert details(refused) == {"pay_in_advance": ["invalid_charge_model"]}
    updated = api.put(
        f"{base}/seats_2", {"fixed_charge": {"units": "4.25", "pay_in_advance": True}}, format="json"
    )
    body = updated.json()["fixed_charge"]
    assert body["units"] == 4.25 and body["pay_in_advance"] is False  # pay_in_advance never changes
    assert api.delete(f"{base}/seats_2").status_code == 200
    assert api.get(f"{base}/seats_2").json()["code"] == "fixed_charge_not_found"
    foreign = AddOnFactory(organization=OrganizationFactory())
    response = api.post(
        base, {"fixed_charge": {"add_on_id": str(foreign.id), "charge_model": "standard"}}, format="json"
    )
    assert response.json()["code"] == "add_on_not_found"


def test_other_organization_cannot_reach_charges(api, created):
    other = make_api_client(OrganizationFactory())
    assert other.get("/api/v1/plans/startup/charges").status_code == 404
    assert other.get("/api/v1/plans/startup/fixed_charges/seats").status_code == 404


# ==============================================================================================================
# Edge cases
# ==============================================================================================================


def test_partial_update_inputs_are_still_complete_where_it_matters(api, created, organization):
    assert details(put_plan(api, "startup", usage_thresholds=[{"threshold_display_name": "x"}])) == {
        "usage_thresholds": ["missing_amount_cents"]
    }
    standard = created["charges"][0]
    response = put_plan(
        api, "startup", charges=[{"id": standard["lago_id"], "filters": [{"properties": {"amount": "1"}}]}]
    )
    assert details(response) == {"charges": {"0": {"filters": {"0": {"values": ["value_is_mandatory"]}}}}}
    # An existing commitment can be renamed alone; a new one needs its amount.
    commitment = MinimumCommitment.objects.get()
    body = put_plan(api, "startup", minimum_commitment={"invoice_display_name": "Floor"}).json()["plan"]
    assert body["minimum_commitment"]["lago_id"] == str(commitment.pk)
    assert (
        body["minimum_commitment"]["amount_cents"],
        body["minimum_commitment"]["invoice_display_name"],
    ) == (
        1000,
        "Floor",
    )
    plain = PlanFactory(organization=organization, code="plain")
    assert details(put_plan(api, plain.code, minimum_commitment={"invoice_display_name": "x"})) == {
        "minimum_commitment": {"amount_cents": ["value_is_mandatory"]}
    }
    assert MinimumCommitment.objects.count() == 1


def test_changing_a_charges_metric_checks_its_kept_filters(api, created, organization):
    other = BillableMetricFactory(organization=organization, code="other")
    standard = created["charges"][0]
    response = put_plan(api, "startup", charges=[{"id": standard["lago_id"], "billable_metric_id": str(other.id),
                                                  "charge_model": "standard", "properties": {"amount": "1"}}])  # fmt: skip
    assert details(response) == {
        "charges": {
            "0": {
                "filters": {
                    "0": {"values": {"region": ["value_is_invalid"]}},
                    "1": {"values": {"region": ["value_is_invalid"]}},
                }
            }
        }
    }


def test_odd_property_values(api, organization):
    metric = BillableMetricFactory(organization=organization)
    refused = post_plan(api, charges=[{"billable_metric_id": str(metric.id), "charge_model": "standard",
                                       "properties": {"amount": 1.5}}])  # fmt: skip
    assert details(refused) == {"charges": {"0": {"properties": {"amount": ["invalid_amount"]}}}}
    refused = post_plan(api, charges=[{"billable_metric_id": str(metric.id), "charge_model": "graduated",
                                       "properties": {"graduated_ranges": [{"from_value": "0", "to_value": 10**40,
                                                      "per_unit_amount": "1", "flat_amount": "0"}]}}])  # fmt: skip
    assert details(refused) == {
        "charges": {"0": {"properties": {"graduated_ranges": ["invalid_graduated_ranges"]}}}
    }
    keys = [{"value": "region", "options": {"display_in_invoice": True, "weight": 1.5}}]
    accepted = post_plan(api, charges=[{"billable_metric_id": str(metric.id), "charge_model": "standard",
                                        "properties": {"amount": "1", "presentation_group_keys": keys}}])  # fmt: skip
    assert accepted.status_code == 200, accepted.json()
    stored = Charge.objects.get().properties["presentation_group_keys"]
    assert stored == [{"value": "region", "options": {"display_in_invoice": True, "weight": "1.5"}}]


def test_a_code_taken_concurrently_is_caught_by_the_constraint(api, organization, monkeypatch):
    from catalog.services import plans as plan_services

    assert post_plan(api).status_code == 200
    monkeypatch.setattr(plan_services, "_plan_code_taken", lambda plan: False)
    assert details(post_plan(api)) == {"code": ["value_already_exist"]}
    assert Plan.objects.count() == 1


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"charges": [{"billable_metric_code": "m", "charge_model": "standard",
                       "properties": {"amount": "1", "pricing_group_keys": ["a\u0000"]}}]},
         {"charges": {"0": {"properties": ["value_is_invalid"]}}}),
        ({"charges": [{"billable_metric_code": "m", "charge_model": "standard", "properties": {"amount": "1"},
                       "filters": [{"properties": {"amount": "1", "presentation_group_keys": [{"value": "\u0000"}]},
                                    "values": {"region": ["us"]}}]}]},
         {"charges": {"0": {"filters": {"0": {"properties": ["value_is_invalid"]}}}}}),
        ({"fixed_charges": [{"add_on_code": "a", "charge_model": "standard", "properties": {"amount": "1\u0000"}}]},
         {"fixed_charges": {"0": {"properties": ["value_is_invalid"]}}}),
        ({"metadata": {"k\u0000": "v"}}, {"metadata": ["value_is_invalid"]}),
        ({"name": "a\u0000b"}, {"name": ["null_characters_not_allowed"]}),
    ],
)  # fmt: skip
def test_nul_characters_are_refused_not_a_server_error(api, organization, fields, expected):
    metric = BillableMetricFactory(organization=organization, code="m")
    BillableMetricFilterFactory(billable_metric=metric, key="region", values=["us"])
    AddOnFactory(organization=organization, code="a")
    assert details(post_plan(api, **fields)) == expected
    assert_nothing_stored()


def test_nul_characters_in_codes_are_not_found(api, organization):
    PlanFactory(organization=organization, code="pro")
    assert api.get("/api/v1/plans/%00").json()["code"] == "plan_not_found"
    assert api.get("/api/v1/plans/pro/charges/%00").json()["code"] == "charge_not_found"
    assert api.get("/api/v1/plans/pro/fixed_charges/a%00").json()["code"] == "fixed_charge_not_found"
    response = post_plan(api, charges=[{"billable_metric_code": "\u0000", "charge_model": "standard"}])
    assert details(response) == {"charges": {"0": {"billable_metric_code": ["null_characters_not_allowed"]}}}
    response = post_plan(api, fixed_charges=[{"add_on_code": "\u0000", "charge_model": "standard"}])
    assert details(response) == {"fixed_charges": {"0": {"add_on_code": ["null_characters_not_allowed"]}}}


def test_list_queries_do_not_grow_with_the_number_of_plans(api, organization, django_assert_max_num_queries):
    from tests.catalog.factories import ChargeFactory, ChargeFilterFactory, FixedChargeFactory

    def make_plans(count):
        for _ in range(count):
            plan = PlanFactory(organization=organization)
            plan.taxes.add(TaxFactory(organization=organization))
            MinimumCommitment.objects.create(plan=plan, amount_cents=10)
            UsageThreshold.objects.create(plan=plan, amount_cents=10)
            for _ in range(2):
                charge = ChargeFactory(plan=plan)
                ChargeFilterFactory(charge=charge)
                FixedChargeFactory(plan=plan)

    make_plans(2)
    with django_assert_max_num_queries(20) as few:
        assert api.get("/api/v1/plans").status_code == 200
    make_plans(8)
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert len(api.get("/api/v1/plans").json()["plans"]) == 10
