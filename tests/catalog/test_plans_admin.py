"""The admin plan editor runs the API's validation: what it stores the API would accept, what it refuses leaves
no trace."""

import json

import pytest

from catalog.models import Charge, ChargeFilter, FixedCharge, MinimumCommitment, Plan, UsageThreshold
from tests.catalog.factories import (
    AddOnFactory,
    BillableMetricFactory,
    BillableMetricFilterFactory,
    ChargeFactory,
    ChargeFilterFactory,
    PlanFactory,
    SubscriptionFactory,
)
from tests.customers.factories import OrganizationFactory

pytestmark = pytest.mark.django_db

GRADUATED = {
    "graduated_ranges": [
        {"from_value": 0, "to_value": 10, "per_unit_amount": "1", "flat_amount": "0"},
        {"from_value": 11, "to_value": None, "per_unit_amount": "0.5", "flat_amount": "3"},
    ]
}


@pytest.fixture
def admin_client(client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("admin", "admin@tollbooth.test", "pw"))
    return client


@pytest.fixture
def metric(organization):
    metric = BillableMetricFactory(organization=organization, code="calls", aggregation_type="sum_agg")
    BillableMetricFilterFactory(billable_metric=metric, key="region", values=["us", "eu"])
    return metric


def management(prefix: str, total: int, initial: int = 0) -> dict:
    return {
        f"{prefix}-TOTAL_FORMS": str(total),
        f"{prefix}-INITIAL_FORMS": str(initial),
        f"{prefix}-MIN_NUM_FORMS": "0",
        f"{prefix}-MAX_NUM_FORMS": "1000",
    }


def charge_row(index: int, metric, charge_model: str, properties, **extra) -> dict:
    row = {
        "billable_metric": str(metric.pk),
        "code": "",
        "charge_model": charge_model,
        "invoiceable": "on",
        "regroup_paid_fees": "",
        "min_amount_cents": "0",
        "invoice_display_name": "",
        "properties": json.dumps(properties) if properties is not None else "",
        "position": str(index),
        "id": "",
        "plan": "",
    }
    row.update(extra)
    return {f"charges-{index}-{k}": v for k, v in row.items() if v is not None}


def plan_form(
    organization, *, charges=(), fixed_charges=(), thresholds=(), commitment=None, **fields
) -> dict:
    data = {
        "organization": str(organization.pk),
        "name": "Pro",
        "code": "pro",
        "invoice_display_name": "",
        "description": "",
        "interval": "monthly",
        "amount_cents": "1000",
        "amount_currency": "EUR",
        "trial_period": "",
        "bill_charges_monthly": "unknown",
        "bill_fixed_charges_monthly": "unknown",
        "metadata": "",
        **management("charges", len(charges)),
        **management("fixed_charges", len(fixed_charges)),
        **management("usage_thresholds", len(thresholds)),
        **management("minimum_commitment", 1 if commitment else 0),
    }
    for row in charges:
        data.update(row)
    for index, row in enumerate(fixed_charges):
        data.update({f"fixed_charges-{index}-{k}": v for k, v in row.items()})
    for index, row in enumerate(thresholds):
        data.update({f"usage_thresholds-{index}-{k}": v for k, v in row.items()})
    if commitment:
        data.update({f"minimum_commitment-0-{k}": v for k, v in commitment.items()})
    data.update(fields)
    return data


def assert_nothing_stored():
    assert Plan.objects.count() == Charge.objects.count() == FixedCharge.objects.count() == 0
    assert (
        ChargeFilter.objects.count()
        == UsageThreshold.objects.count()
        == MinimumCommitment.objects.count()
        == 0
    )


def test_pages_render(admin_client, organization, metric):
    plan = PlanFactory(organization=organization)
    charge = ChargeFactory(plan=plan, billable_metric=metric)
    assert admin_client.get("/admin/catalog/plan/").status_code == 200
    assert admin_client.get("/admin/catalog/plan/?q=plan&interval__exact=monthly").status_code == 200
    assert admin_client.get("/admin/catalog/plan/add/").status_code == 200
    page = admin_client.get(f"/admin/catalog/plan/{plan.pk}/change/")
    assert page.status_code == 200 and b"Expected shape per charge model" in page.content
    assert admin_client.get(f"/admin/catalog/charge/{charge.pk}/change/").status_code == 200


def test_add_plan_with_graduated_and_filtered_charge(admin_client, api, organization, metric):
    seats = AddOnFactory(organization=organization, code="seats")
    response = admin_client.post(
        "/admin/catalog/plan/add/",
        plan_form(
            organization,
            charges=[
                charge_row(0, metric, "graduated", GRADUATED),
                charge_row(1, metric, "standard", {"amount": "1", "grouped_by": ["country"], "rate": "3"}),
            ],
            fixed_charges=[
                {
                    "add_on": str(seats.pk),
                    "code": "",
                    "charge_model": "standard",
                    "units": "2",
                    "invoice_display_name": "",
                    "properties": "",
                    "id": "",
                    "plan": "",
                }
            ],
            thresholds=[
                {
                    "threshold_display_name": "",
                    "amount_cents": "5000",
                    "recurring": "on",
                    "id": "",
                    "plan": "",
                }
            ],
            commitment={"amount_cents": "20000", "invoice_display_name": "Floor", "id": "", "plan": ""},
        ),
    )
    assert response.status_code == 302, response.context["errors"] if response.context else response
    plan = Plan.objects.get(code="pro")
    assert plan.bill_charges_monthly is None
    graduated, standard = plan.charges.order_by("position")
    assert (graduated.code, graduated.properties) == ("calls", GRADUATED)
    assert (standard.code, standard.properties) == (
        "calls_2",
        {"amount": "1", "pricing_group_keys": ["country"]},
    )
    assert graduated.organization_id == organization.pk
    fixed = plan.fixed_charges.get()
    assert (fixed.code, fixed.properties, fixed.organization_id) == (
        "seats",
        {"amount": "0"},
        organization.pk,
    )
    assert plan.usage_thresholds.get().recurring is True and plan.minimum_commitment.amount_cents == 20000

    # The charge's own page edits its filters.
    response = admin_client.post(
        f"/admin/catalog/charge/{standard.pk}/change/",
        {
            "billable_metric": str(metric.pk),
            "code": "calls_2",
            "charge_model": "standard",
            "invoiceable": "on",
            "regroup_paid_fees": "",
            "min_amount_cents": "0",
            "invoice_display_name": "",
            "properties": json.dumps(standard.properties),
            "position": "1",
            **management("filters", 1),
            "filters-0-invoice_display_name": "US",
            "filters-0-values": json.dumps({"region": ["us"]}),
            "filters-0-properties": json.dumps({"amount": "2", "free_units": 3}),
            "filters-0-position": "0",
            "filters-0-id": "",
            "filters-0-charge": str(standard.pk),
        },
    )
    assert response.status_code == 302, response.context["errors"] if response.context else response
    stored = ChargeFilter.objects.get()
    assert (stored.values, stored.properties) == ({"region": ["us"]}, {"amount": "2"})

    # What the admin stored reads back through the API.
    body = api.get("/api/v1/plans/pro").json()["plan"]
    assert body["charges"][1]["filters"] == [
        {"invoice_display_name": "US", "properties": {"amount": "2"}, "values": {"region": ["us"]}}
    ]


@pytest.mark.parametrize(
    ("charge_model", "properties", "extra", "message"),
    [
        ("graduated", {"graduated_ranges": [{"from_value": 0, "to_value": 5, "per_unit_amount": "1", "flat_amount": "0"}]},
         {}, "graduated_ranges: invalid_graduated_ranges"),
        ("standard", {"amount": 3}, {}, "amount: invalid_amount"),
        ("package", {"amount": "1", "package_size": 0, "free_units": 0}, {}, "package_size: invalid_package_size"),
        ("volume", None, {"pay_in_advance": "on"}, "invalid_aggregation_type_or_charge_model"),
        ("standard", None, {"min_amount_cents": "10", "pay_in_advance": "on"}, "not_compatible_with_pay_in_advance"),
        ("standard", None, {"invoiceable": None}, "must_be_true_unless_pay_in_advance"),
        ("standard", None, {"prorated": "on"}, "invalid_billable_metric_or_charge_model"),
    ],
)  # fmt: skip
def test_invalid_charge_shows_the_error_and_stores_nothing(
    admin_client, organization, metric, charge_model, properties, extra, message
):
    form = plan_form(organization, charges=[charge_row(0, metric, charge_model, properties, **extra)])
    response = admin_client.post("/admin/catalog/plan/add/", form)
    assert response.status_code == 200
    assert message in response.content.decode()
    assert_nothing_stored()


def test_admin_refuses_what_the_api_refuses(admin_client, organization, metric):
    foreign_metric = BillableMetricFactory(organization=OrganizationFactory())
    seats = AddOnFactory(organization=organization)
    cases = [
        (plan_form(organization, charges=[charge_row(0, foreign_metric, "standard", None)]), "billable_metric_not_found"),
        (plan_form(organization, thresholds=[
            {"threshold_display_name": "", "amount_cents": "1", "recurring": "on", "id": "", "plan": ""},
            {"threshold_display_name": "", "amount_cents": "2", "recurring": "on", "id": "", "plan": ""}]),
         "multiple_recurring_thresholds"),
        (plan_form(organization, fixed_charges=[{"add_on": str(seats.pk), "code": "", "charge_model": "volume",
                                                 "units": "1", "pay_in_advance": "on", "invoice_display_name": "",
                                                 "properties": "", "id": "", "plan": ""}]), "invalid_charge_model"),
        (plan_form(organization, fixed_charges=[{"add_on": str(seats.pk), "code": "", "charge_model": "standard",
                                                 "units": "-1", "invoice_display_name": "", "properties": "",
                                                 "id": "", "plan": ""}]), "greater than or equal to 0"),
        (plan_form(organization, charges=[charge_row(0, metric, "standard", None, code="x"),
                                          charge_row(1, metric, "standard", None, code="x")]), "value_already_exist"),
        (plan_form(organization, metadata='{"a": 1}'), "value_is_invalid"),
        (plan_form(organization, amount_cents="-5"), "greater than or equal to 0"),
    ]  # fmt: skip
    for data, message in cases:
        response = admin_client.post("/admin/catalog/plan/add/", data)
        assert response.status_code == 200, message
        assert message in response.content.decode(), message
        assert_nothing_stored()


def test_plan_code_must_be_free_in_the_organization(admin_client, organization):
    PlanFactory(organization=organization, code="pro")
    response = admin_client.post("/admin/catalog/plan/add/", plan_form(organization))
    assert response.status_code == 200 and "value_already_exist" in response.content.decode()
    assert Plan.objects.count() == 1
    other = OrganizationFactory()
    assert admin_client.post("/admin/catalog/plan/add/", plan_form(other)).status_code == 302


def test_changing_a_charge_model_must_keep_its_filters_valid(admin_client, organization, metric):
    plan = PlanFactory(organization=organization, code="pro")
    charge = ChargeFactory(plan=plan, billable_metric=metric, code="calls", properties={"amount": "1"})
    ChargeFilterFactory(charge=charge, values={"region": ["us"]}, properties={"amount": "2"})
    data = plan_form(organization, charges=[charge_row(0, metric, "graduated", GRADUATED, id=str(charge.pk),
                                                       code="calls", plan=str(plan.pk))])  # fmt: skip
    data["charges-INITIAL_FORMS"] = "1"
    response = admin_client.post(f"/admin/catalog/plan/{plan.pk}/change/", data)
    assert response.status_code == 200
    assert "graduated_ranges: missing_graduated_ranges" in response.content.decode()
    charge.refresh_from_db()
    assert charge.charge_model == "standard" and charge.properties == {"amount": "1"}


def test_invalid_filter_on_the_charge_page_is_refused(admin_client, organization, metric):
    charge = ChargeFactory(plan=PlanFactory(organization=organization), billable_metric=metric)
    base = {
        "billable_metric": str(metric.pk),
        "code": charge.code,
        "charge_model": "standard",
        "invoiceable": "on",
        "regroup_paid_fees": "",
        "min_amount_cents": "0",
        "invoice_display_name": "",
        "properties": json.dumps({"amount": "1"}),
        "position": "0",
        **management("filters", 2),
    }
    for index, values in enumerate(({"cloud": ["aws"]}, {"region": ["us"]})):
        base |= {
            f"filters-{index}-invoice_display_name": "",
            f"filters-{index}-values": json.dumps(values),
            f"filters-{index}-properties": json.dumps({"amount": "2"}),
            f"filters-{index}-position": str(index),
            f"filters-{index}-id": "",
            f"filters-{index}-charge": str(charge.pk),
        }
    response = admin_client.post(f"/admin/catalog/charge/{charge.pk}/change/", base)
    assert response.status_code == 200
    assert "cloud: value_is_invalid" in response.content.decode()
    assert ChargeFilter.objects.count() == 0


def test_frozen_fields_are_read_only_once_the_plan_has_subscriptions(admin_client, organization, metric):
    plan = PlanFactory(organization=organization, code="pro", interval="monthly")
    SubscriptionFactory(plan=plan)
    page = admin_client.get(f"/admin/catalog/plan/{plan.pk}/change/").content.decode()
    assert 'name="interval"' not in page and 'name="code"' not in page and 'name="name"' in page


def test_deleting_a_plan_soft_deletes_it_and_terminates_subscriptions(admin_client, organization, metric):
    plan = PlanFactory(organization=organization, code="pro")
    charge = ChargeFactory(plan=plan, billable_metric=metric)
    subscription = SubscriptionFactory(plan=plan)
    response = admin_client.post(f"/admin/catalog/plan/{plan.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    plan.refresh_from_db()
    charge.refresh_from_db()
    subscription.refresh_from_db()
    assert plan.deleted_at is not None and charge.deleted_at is not None
    assert subscription.status == "terminated" and subscription.terminated_at is not None


def test_deleting_a_charge_inline_soft_deletes_it(admin_client, organization, metric):
    plan = PlanFactory(organization=organization, code="pro")
    charge = ChargeFactory(plan=plan, billable_metric=metric, code="calls", properties={"amount": "1"})
    data = plan_form(organization, charges=[charge_row(0, metric, "standard", {"amount": "1"}, id=str(charge.pk),
                                                       code="calls", plan=str(plan.pk), DELETE="on")])  # fmt: skip
    data["charges-INITIAL_FORMS"] = "1"
    response = admin_client.post(f"/admin/catalog/plan/{plan.pk}/change/", data)
    assert response.status_code == 302, response.context["errors"] if response.context else response
    charge.refresh_from_db()
    assert charge.deleted_at is not None


def test_editing_a_charge_on_the_plan_page_normalizes_like_the_api(admin_client, organization, metric):
    plan = PlanFactory(organization=organization, code="pro")
    charge = ChargeFactory(plan=plan, billable_metric=metric, code="calls", properties={"amount": "1"})
    properties = {
        "volume_ranges": [{"from_value": 0, "per_unit_amount": "2", "flat_amount": "1"}],
        "amount": "9",
    }
    data = plan_form(organization, charges=[charge_row(0, metric, "volume", properties, id=str(charge.pk),
                                                       code="calls", plan=str(plan.pk))])  # fmt: skip
    data["charges-INITIAL_FORMS"] = "1"
    response = admin_client.post(f"/admin/catalog/plan/{plan.pk}/change/", data)
    assert response.status_code == 302, response.context["errors"] if response.context else response
    charge.refresh_from_db()
    assert charge.charge_model == "volume"
    assert charge.properties == {
        "volume_ranges": [{"from_value": 0, "to_value": None, "per_unit_amount": "2", "flat_amount": "1"}]
    }
