"""POST/GET/PUT/DELETE /subscriptions, GET /customers/{id}/subscriptions: shapes, validation, plan changes,
plan overrides, tenancy, and the lago-python-client round trip. Time is an organization's test clock."""

import datetime as dt

import pytest

from billing.models import Subscription
from catalog.models import Charge, ChargeFilter, MinimumCommitment, Plan, UsageThreshold
from customers.models import Customer
from tests.billing.factories import SubscriptionFactory, move_clock, sandbox_organization
from tests.catalog.factories import (
    BillableMetricFactory,
    BillableMetricFilterFactory,
    ChargeFactory,
    ChargeFilterFactory,
    PlanFactory,
)
from tests.conftest import make_api_client
from tests.customers.factories import CustomerFactory, TaxFactory

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2024, 3, 10, 12, 0, tzinfo=dt.UTC)


@pytest.fixture
def org():
    organization, _ = sandbox_organization(NOW)
    return organization


@pytest.fixture
def client(org):
    return make_api_client(org)


@pytest.fixture
def customer(org):
    return CustomerFactory(organization=org, external_id="cus_1", currency="EUR")


@pytest.fixture
def plan(org):
    return PlanFactory(organization=org, code="basic", amount_cents=10_000, interval="monthly")


def post(client, **fields):
    return client.post("/api/v1/subscriptions", {"subscription": fields}, format="json")


def create(client, customer, plan, **fields):
    payload = {"external_customer_id": customer.external_id, "plan_code": plan.code, "external_id": "sub_1"}
    payload.update(fields)
    return post(client, **payload)


def snapshot():
    return (
        Subscription.objects.count(),
        Plan.objects.count(),
        Customer.objects.count(),
        list(Customer.objects.order_by("pk").values_list("currency", flat=True)),
        sorted(Subscription.objects.values_list("status", flat=True)),
    )


# --- create ----------------------------------------------------------------------------------------------------


def test_create_today_returns_active_subscription_in_lago_shape(client, customer, plan):
    response = create(client, customer, plan, name="Repo A")
    assert response.status_code == 200, response.json()
    body = response.json()["subscription"]
    subscription = Subscription.objects.get()
    assert body["lago_id"] == str(subscription.id)
    assert body["lago_customer_id"] == str(customer.id)
    assert body["external_customer_id"] == "cus_1"
    assert body["external_id"] == "sub_1"
    assert body["name"] == "Repo A"
    assert body["plan_code"] == "basic"
    assert body["plan_amount_cents"] == 10_000
    assert body["plan_amount_currency"] == "EUR"
    assert body["status"] == "active"
    assert body["billing_time"] == "calendar"
    assert body["subscription_at"] == "2024-03-10T12:00:00Z"
    assert body["started_at"] == "2024-03-10T12:00:00Z"
    assert body["created_at"] == "2024-03-10T12:00:00Z"
    assert body["current_billing_period_started_at"] == "2024-03-10T12:00:00Z"
    assert body["current_billing_period_ending_at"] == "2024-03-31T23:59:59Z"
    for key in ("canceled_at", "ending_at", "terminated_at", "previous_plan_code", "next_plan_code"):
        assert body[key] is None
    assert body["downgrade_plan_date"] is None and body["trial_ended_at"] is None
    assert body["on_termination_credit_note"] is None
    assert body["on_termination_invoice"] == "generate"
    assert body["plan"]["code"] == "basic" and body["plan"]["lago_id"] == str(plan.id)
    assert body["applicable_usage_thresholds"] == []


def test_create_in_the_past_is_active_from_subscription_at(client, customer, plan):
    body = create(client, customer, plan, subscription_at="2024-01-15T08:30:00Z").json()["subscription"]
    assert body["status"] == "active"
    assert body["started_at"] == "2024-01-15T08:30:00Z"
    assert body["current_billing_period_started_at"] == "2024-03-01T00:00:00Z"
    assert body["current_billing_period_ending_at"] == "2024-03-31T23:59:59Z"


def test_create_in_the_future_is_pending_without_period(client, customer, plan):
    body = create(client, customer, plan, subscription_at="2024-03-11T00:00:00Z").json()["subscription"]
    assert body["status"] == "pending"
    assert body["started_at"] is None
    assert body["current_billing_period_started_at"] is None
    assert body["current_billing_period_ending_at"] is None


def test_today_is_the_customers_local_day(client, org, plan):
    move_clock(org, dt.datetime(2024, 3, 9, 23, 30, tzinfo=dt.UTC))  # Paris: 2024-03-10 00:30
    paris = CustomerFactory(organization=org, external_id="paris", currency="EUR", timezone="Europe/Paris")
    utc = CustomerFactory(organization=org, external_id="utc", currency="EUR", timezone="UTC")
    start = "2024-03-10T05:00:00Z"
    assert create(client, paris, plan, external_id="p", subscription_at=start).json()["subscription"][
        "status"
    ] == ("active")
    assert create(client, utc, plan, external_id="u", subscription_at=start).json()["subscription"][
        "status"
    ] == ("pending")


def test_anniversary_period_follows_subscription_at(client, customer, plan):
    body = create(
        client, customer, plan, billing_time="anniversary", subscription_at="2024-02-20T10:00:00Z"
    ).json()["subscription"]
    assert body["billing_time"] == "anniversary"
    assert body["current_billing_period_started_at"] == "2024-02-20T10:00:00Z"
    assert body["current_billing_period_ending_at"] == "2024-03-19T23:59:59Z"


def test_create_for_unknown_customer_creates_it_with_the_plans_currency(client, org, plan):
    response = post(client, external_customer_id="new_cus", plan_code="basic", external_id="s")
    assert response.status_code == 200, response.json()
    created = Customer.objects.get(organization=org, external_id="new_cus")
    assert created.currency == "EUR"
    assert response.json()["subscription"]["lago_customer_id"] == str(created.id)


def test_customer_without_currency_takes_the_plans(client, org, plan):
    bare = CustomerFactory(organization=org, external_id="bare", currency=None)
    assert create(client, bare, plan).status_code == 200
    bare.refresh_from_db()
    assert bare.currency == "EUR"


def test_plan_in_another_currency_is_refused(client, org, plan):
    dollars = CustomerFactory(organization=org, external_id="usd", currency="USD")
    before = snapshot()
    response = create(client, dollars, plan)
    assert response.status_code == 422
    assert response.json()["error_details"] == {"currency": ["currencies_does_not_match"]}
    assert snapshot() == before


def test_unknown_plan_is_404_and_creates_no_customer(client, org):
    before = snapshot()
    response = post(client, external_customer_id="ghost", plan_code="nope", external_id="s")
    assert response.status_code == 404
    assert response.json() == {"status": 404, "error": "Not Found", "code": "plan_not_found"}
    assert snapshot() == before


def test_deleted_plan_is_not_found(client, customer, plan):
    plan.deleted_at = NOW
    plan.save()
    assert create(client, customer, plan).json()["code"] == "plan_not_found"


@pytest.mark.parametrize(
    ("fields", "details"),
    [
        ({"ending_at": "2024-03-10T23:00:00Z"}, {"ending_at": ["invalid_date"]}),
        ({"ending_at": "2024-01-01T00:00:00Z"}, {"ending_at": ["invalid_date"]}),
        (
            {"subscription_at": "2024-05-01T00:00:00Z", "ending_at": "2024-04-20T00:00:00Z"},
            {"ending_at": ["invalid_date"]},
        ),
        ({"subscription_at": "not a date"}, {"subscription_at": ["invalid_date"]}),
        ({"subscription_at": "2024-13-45T00:00:00Z"}, {"subscription_at": ["invalid_date"]}),
        ({"subscription_at": 12345}, {"subscription_at": ["invalid_date"]}),
        ({"subscription_at": {"a": 1}}, {"subscription_at": ["invalid_date"]}),
        ({"billing_time": "weekly"}, {"billing_time": ["value_is_invalid"]}),
        ({"external_id": ""}, {"external_id": ["value_is_mandatory"]}),
        ({"external_id": None}, {"external_id": ["value_is_mandatory"]}),
        ({"external_id": {"x": 1}}, {"external_id": ["value_is_invalid"]}),
        ({"external_id": "x" * 256}, {"external_id": ["value_is_too_long"]}),
        ({"plan_code": ["basic"]}, {"plan_code": ["value_is_invalid"]}),
        ({"name": {"x": 1}}, {"name": ["value_is_invalid"]}),
        ({"plan_overrides": "cheap"}, {"plan_overrides": {"non_field_errors": ["value_is_invalid"]}}),
        (
            {"plan_overrides": {"amount_cents": 2**70}},
            {"plan_overrides": {"amount_cents": ["value_is_out_of_range"]}},
        ),
        (
            {"plan_overrides": {"amount_cents": -1}},
            {"plan_overrides": {"amount_cents": ["value_is_out_of_range"]}},
        ),
        (
            {"plan_overrides": {"amount_cents": "ten"}},
            {"plan_overrides": {"amount_cents": ["value_is_invalid"]}},
        ),
        (
            {"plan_overrides": {"amount_cents": 1.5}},
            {"plan_overrides": {"amount_cents": ["value_is_invalid"]}},
        ),
        (
            {"plan_overrides": {"amount_currency": "XXX1"}},
            {"plan_overrides": {"amount_currency": ["value_is_invalid"]}},
        ),
        (
            {"plan_overrides": {"charges": [{"id": "nope"}]}},
            {"plan_overrides": {"charges": {"0": {"id": ["value_is_invalid"]}}}},
        ),
        (
            {"plan_overrides": {"trial_period": -1}},
            {"plan_overrides": {"trial_period": ["value_is_out_of_range"]}},
        ),
        (
            {"plan_overrides": {"charges": "all"}},
            {"plan_overrides": {"charges": {"non_field_errors": ["value_is_invalid"]}}},
        ),
        (
            {"plan_overrides": {"usage_thresholds": [{"amount_cents": 0}]}},
            {"plan_overrides": {"usage_thresholds": {"0": {"amount_cents": ["value_is_out_of_range"]}}}},
        ),
        (
            {"plan_overrides": {"minimum_commitment": {"amount_cents": None}}},
            {"plan_overrides": {"minimum_commitment": {"amount_cents": ["value_is_mandatory"]}}},
        ),
        ({"external_customer_id": "c" * 300}, {"external_customer_id": ["value_is_too_long"]}),
        ({"subscription_at": "0001-01-01T00:00:00+14:00"}, {"subscription_at": ["invalid_date"]}),
        ({"ending_at": "2024-02-30T00:00:00Z"}, {"ending_at": ["invalid_date"]}),
    ],
)
def test_invalid_input_is_refused_and_changes_nothing(client, customer, plan, fields, details):
    before = snapshot()
    response = create(client, customer, plan, **fields)
    assert response.status_code == 422, response.json()
    assert response.json()["code"] == "validation_errors"
    assert response.json()["error_details"] == details
    assert snapshot() == before


@pytest.mark.parametrize(
    "start", ["0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "2024-03-01", "2024-03-01T10:00:00"]
)
def test_extreme_and_partial_dates_are_accepted(client, customer, plan, start):
    response = create(client, customer, plan, subscription_at=start)
    assert response.status_code == 200, response.json()
    assert client.get("/api/v1/subscriptions?status[]=active&status[]=pending").status_code == 200


@pytest.mark.parametrize("body", [{}, {"subscription": None}, {"subscription": "x"}, {"other": {}}, []])
def test_missing_root_key_is_400(client, body):
    response = client.post("/api/v1/subscriptions", body, format="json")
    assert response.status_code == 400


def test_missing_required_fields_are_reported_together(client):
    response = post(client, name="only a name")
    assert response.status_code == 422
    assert response.json()["error_details"] == {
        "external_customer_id": ["value_is_mandatory"],
        "plan_code": ["value_is_mandatory"],
        "external_id": ["value_is_mandatory"],
    }


def test_same_external_id_and_plan_returns_the_existing_subscription(client, customer, plan):
    first = create(client, customer, plan).json()["subscription"]
    second = create(client, customer, plan, name="ignored").json()["subscription"]
    assert second["lago_id"] == first["lago_id"]
    assert Subscription.objects.count() == 1
    assert Subscription.objects.get().name is None


def test_external_id_of_another_customer_is_refused(client, org, customer, plan):
    create(client, customer, plan)
    other = CustomerFactory(organization=org, external_id="cus_2", currency="EUR")
    before = snapshot()
    response = create(client, other, plan)
    assert response.status_code == 422
    assert response.json()["error_details"] == {"external_id": ["value_already_exist"]}
    assert snapshot() == before


def test_upgrade_terminates_the_old_subscription_and_starts_the_new_one_now(client, org, customer, plan):
    old = create(
        client, customer, plan, billing_time="anniversary", subscription_at="2024-02-20T10:00:00Z"
    ).json()["subscription"]
    move_clock(org, dt.datetime(2024, 3, 12, 9, 0, tzinfo=dt.UTC))
    premium = PlanFactory(
        organization=org, code="premium", amount_cents=3_000, interval="weekly"
    )  # 156 000/yr
    response = create(client, customer, premium, name="Upgraded")
    assert response.status_code == 200, response.json()
    new = response.json()["subscription"]
    assert new["lago_id"] != old["lago_id"]
    assert new["status"] == "active" and new["plan_code"] == "premium"
    assert new["external_id"] == "sub_1"
    assert new["started_at"] == "2024-03-12T09:00:00Z"
    assert new["subscription_at"] == "2024-02-20T10:00:00Z"
    assert new["billing_time"] == "anniversary"
    assert new["previous_plan_code"] == "basic"
    assert new["name"] == "Upgraded"
    old_row = Subscription.objects.get(pk=old["lago_id"])
    assert old_row.status == "terminated"
    assert old_row.terminated_at == dt.datetime(2024, 3, 12, 9, 0, tzinfo=dt.UTC)
    assert Subscription.objects.get(pk=new["lago_id"]).previous_subscription_id == old_row.pk
    shown = client.get("/api/v1/subscriptions/sub_1?status=terminated").json()["subscription"]
    assert shown["next_plan_code"] == "premium" and shown["downgrade_plan_date"] is None


def test_equal_yearly_amount_counts_as_an_upgrade(client, org, customer, plan):
    create(client, customer, plan)
    yearly = PlanFactory(organization=org, code="yearly", amount_cents=120_000, interval="yearly")
    body = create(client, customer, yearly).json()["subscription"]
    assert body["plan_code"] == "yearly" and body["status"] == "active"


def test_downgrade_creates_a_pending_successor_shown_on_the_current_subscription(client, org, customer, plan):
    current = create(client, customer, plan).json()["subscription"]
    cheap = PlanFactory(organization=org, code="cheap", amount_cents=5_000, interval="monthly")
    response = create(client, customer, cheap)
    assert response.status_code == 200
    body = response.json()["subscription"]
    assert body["lago_id"] == current["lago_id"]
    assert body["status"] == "active" and body["plan_code"] == "basic"
    assert body["next_plan_code"] == "cheap"
    assert body["downgrade_plan_date"] == "2024-04-01"
    pending = Subscription.objects.get(status="pending")
    assert (
        pending.plan == cheap
        and pending.previous_subscription_id == Subscription.objects.get(status="active").pk
    )
    shown = client.get("/api/v1/subscriptions/sub_1?status=pending").json()["subscription"]
    assert shown["previous_plan_code"] == "basic" and shown["started_at"] is None


def test_a_new_downgrade_replaces_the_pending_one(client, org, customer, plan):
    create(client, customer, plan)
    create(client, customer, PlanFactory(organization=org, code="cheap", amount_cents=5_000))
    create(client, customer, PlanFactory(organization=org, code="cheaper", amount_cents=1_000))
    assert sorted(Subscription.objects.values_list("status", flat=True)) == ["active", "canceled", "pending"]
    assert Subscription.objects.get(status="pending").plan.code == "cheaper"
    body = client.get("/api/v1/subscriptions/sub_1").json()["subscription"]
    assert body["next_plan_code"] == "cheaper"


def test_upgrade_cancels_a_pending_downgrade(client, org, customer, plan):
    create(client, customer, plan)
    create(client, customer, PlanFactory(organization=org, code="cheap", amount_cents=5_000))
    create(client, customer, PlanFactory(organization=org, code="big", amount_cents=50_000))
    statuses = dict(Subscription.objects.values_list("plan__code", "status"))
    assert statuses == {"basic": "terminated", "cheap": "canceled", "big": "active"}


def test_plan_change_of_a_future_subscription_swaps_its_plan(client, org, customer, plan):
    pending = create(client, customer, plan, subscription_at="2024-04-01T00:00:00Z").json()["subscription"]
    cheap = PlanFactory(organization=org, code="cheap", amount_cents=5_000)
    body = create(client, customer, cheap).json()["subscription"]
    assert body["lago_id"] == pending["lago_id"]
    assert body["status"] == "pending" and body["plan_code"] == "cheap"
    assert Subscription.objects.count() == 1


# --- plan overrides -------------------------------------------------------------------------------------------


def test_plan_overrides_create_a_child_plan_used_only_by_this_subscription(client, org, customer, plan):
    TaxFactory(organization=org, code="vat", rate="20")
    metric = BillableMetricFactory(organization=org, code="calls")
    BillableMetricFilterFactory(billable_metric=metric, key="region", values=["eu", "us"])
    charge = ChargeFactory(plan=plan, billable_metric=metric, properties={"amount": "1"})
    ChargeFilterFactory(charge=charge, values={"region": ["eu"]}, properties={"amount": "2"})
    UsageThreshold.objects.create(plan=plan, amount_cents=5_000)
    MinimumCommitment.objects.create(plan=plan, amount_cents=20_000)

    response = create(
        client,
        customer,
        plan,
        plan_overrides={
            "amount_cents": 9_000,
            "name": "Basic (negotiated)",
            "description": "for cus_1",
            "invoice_display_name": "Basic*",
            "trial_period": 7,
            "tax_codes": ["vat"],
            "charges": [
                {
                    "id": str(charge.id),
                    "properties": {"amount": "0.5"},
                    "min_amount_cents": 100,
                    "invoice_display_name": "API calls",
                    "tax_codes": ["vat"],
                    "filters": [{"values": {"region": ["us"]}, "properties": {"amount": "3"}}],
                }
            ],
            "minimum_commitment": {"amount_cents": 15_000},
            "usage_thresholds": [{"amount_cents": 7_000, "threshold_display_name": "T"}],
        },
    )
    assert response.status_code == 200, response.json()
    body = response.json()["subscription"]
    child = Plan.objects.get(parent=plan)
    assert Subscription.objects.get().plan == child
    assert body["plan_code"] == "basic" and body["plan_amount_cents"] == 9_000
    assert body["plan"]["lago_id"] == str(child.id) and body["plan"]["parent_id"] == str(plan.id)
    assert (child.name, child.description, child.invoice_display_name, child.trial_period) == (
        "Basic (negotiated)",
        "for cus_1",
        "Basic*",
        7,
    )
    assert list(child.taxes.values_list("code", flat=True)) == ["vat"]
    child_charge = Charge.objects.get(plan=child)
    assert child_charge.parent == charge
    assert child_charge.properties == {"amount": "0.5"}
    assert child_charge.min_amount_cents == 100 and child_charge.invoice_display_name == "API calls"
    assert [f.values for f in child_charge.filters.filter(deleted_at__isnull=True)] == [{"region": ["us"]}]
    assert child.minimum_commitment.amount_cents == 15_000
    assert list(child.usage_thresholds.values_list("amount_cents", flat=True)) == [7_000]
    assert body["applicable_usage_thresholds"] == [
        {"threshold_display_name": "T", "amount_cents": 7_000, "recurring": False}
    ]
    # The parent plan is untouched.
    plan.refresh_from_db()
    charge.refresh_from_db()
    assert (plan.amount_cents, plan.name, charge.properties) == (10_000, plan.name, {"amount": "1"})
    assert [f.values for f in charge.filters.all()] == [{"region": ["eu"]}]
    assert plan.minimum_commitment.amount_cents == 20_000
    # Listing by plan code finds the overridden subscription.
    listed = client.get("/api/v1/subscriptions?plan_code=basic").json()["subscriptions"]
    assert [s["lago_id"] for s in listed] == [body["lago_id"]]


def test_plan_overrides_copy_what_is_not_overridden(client, org, customer, plan):
    charge = ChargeFactory(plan=plan, properties={"amount": "1"})
    UsageThreshold.objects.create(plan=plan, amount_cents=5_000)
    create(client, customer, plan, plan_overrides={"amount_cents": 1})
    child = Plan.objects.get(parent=plan)
    assert Charge.objects.get(plan=child).properties == charge.properties
    assert list(child.usage_thresholds.values_list("amount_cents", flat=True)) == [5_000]


def test_invalid_overridden_properties_are_refused_and_change_nothing(client, org, customer, plan):
    charge = ChargeFactory(plan=plan, charge_model="standard", properties={"amount": "1"})
    before = snapshot()
    response = create(
        client,
        customer,
        plan,
        plan_overrides={"charges": [{"id": str(charge.id), "properties": {"amount": "-3"}}]},
    )
    assert response.status_code == 422
    assert response.json()["error_details"] == {
        "plan_overrides": {"charges": {"0": {"properties": {"amount": ["invalid_amount"]}}}}
    }
    assert snapshot() == before


def test_overridden_filter_values_must_be_the_metrics(client, org, customer, plan):
    metric = BillableMetricFactory(organization=org)
    BillableMetricFilterFactory(billable_metric=metric, key="region", values=["eu"])
    charge = ChargeFactory(plan=plan, billable_metric=metric)
    before = snapshot()
    response = create(
        client,
        customer,
        plan,
        plan_overrides={
            "charges": [
                {"id": str(charge.id), "filters": [{"values": {"region": ["mars"]}, "properties": {}}]}
            ]
        },
    )
    assert response.status_code == 422
    details = response.json()["error_details"]["plan_overrides"]["charges"]["0"]["filters"]["0"]
    assert details["values"] == {"region": ["value_is_invalid"]}
    assert snapshot() == before


def test_overridden_unknown_tax_is_404(client, customer, plan):
    before = snapshot()
    response = create(client, customer, plan, plan_overrides={"tax_codes": ["nope"]})
    assert response.status_code == 404 and response.json()["code"] == "tax_not_found"
    assert snapshot() == before


def test_overridden_currency_must_match_the_customer(client, customer, plan):
    before = snapshot()
    response = create(client, customer, plan, plan_overrides={"amount_currency": "USD"})
    assert response.json()["error_details"] == {"currency": ["currencies_does_not_match"]}
    assert snapshot() == before


def test_two_recurring_overridden_thresholds_are_refused(client, customer, plan):
    response = create(
        client,
        customer,
        plan,
        plan_overrides={
            "usage_thresholds": [
                {"amount_cents": 10, "recurring": True},
                {"amount_cents": 20, "recurring": True},
            ]
        },
    )
    assert response.json()["error_details"] == {
        "plan_overrides": {"usage_thresholds": ["multiple_recurring_thresholds"]}
    }


def test_update_with_plan_overrides_clones_once_then_updates_the_child(client, org, customer, plan):
    charge = ChargeFactory(plan=plan, properties={"amount": "1"})
    create(client, customer, plan)
    first = client.put(
        "/api/v1/subscriptions/sub_1",
        {"subscription": {"plan_overrides": {"amount_cents": 8_000}}},
        format="json",
    )
    assert first.status_code == 200, first.json()
    child = Plan.objects.get(parent=plan)
    assert first.json()["subscription"]["plan_amount_cents"] == 8_000
    second = client.put(
        "/api/v1/subscriptions/sub_1",
        {
            "subscription": {
                "plan_overrides": {"charges": [{"id": str(charge.id), "properties": {"amount": "4"}}]}
            }
        },
        format="json",
    )
    assert second.status_code == 200, second.json()
    assert Plan.objects.filter(parent=plan).count() == 1
    assert Subscription.objects.get().plan_id == child.pk
    child.refresh_from_db()
    assert child.amount_cents == 8_000
    assert Charge.objects.get(plan=child).properties == {"amount": "4"}
    assert ChargeFilter.objects.count() == 0


# --- list, show ----------------------------------------------------------------------------------------------


def test_list_defaults_to_active_and_filters(client, org, customer, plan):
    other_plan = PlanFactory(organization=org, code="other")
    other_customer = CustomerFactory(organization=org, external_id="cus_2", currency="EUR")
    a = SubscriptionFactory(customer=customer, plan=plan, external_id="a")
    b = SubscriptionFactory(customer=other_customer, plan=other_plan, external_id="b")
    pending = SubscriptionFactory(
        customer=customer, plan=plan, external_id="c", status="pending", started_at=None,
        subscription_at=dt.datetime(2024, 5, 1, tzinfo=dt.UTC),
    )  # fmt: skip
    SubscriptionFactory(customer=customer, plan=plan, external_id="d", status="terminated", terminated_at=NOW)

    def ids(query=""):
        response = client.get(f"/api/v1/subscriptions{query}")
        assert response.status_code == 200, response.json()
        return [s["external_id"] for s in response.json()["subscriptions"]]

    assert sorted(ids()) == ["a", "b"]
    assert ids("?external_customer_id=cus_2") == ["b"]
    assert ids("?plan_code=basic") == ["a"]
    assert ids("?status[]=pending") == ["c"]
    assert sorted(ids("?status[]=pending&status[]=terminated")) == ["c", "d"]
    assert ids("?status[]=pending&currency=EUR") == ["c"]
    assert ids("?currency=USD") == []
    page = client.get("/api/v1/subscriptions?per_page=1&page=2").json()
    assert page["meta"] == {
        "current_page": 2,
        "next_page": None,
        "prev_page": 1,
        "total_pages": 2,
        "total_count": 2,
    }
    assert {a.external_id, b.external_id, pending.external_id} == {"a", "b", "c"}


def test_list_refuses_unknown_status(client):
    response = client.get("/api/v1/subscriptions?status[]=sleeping")
    assert response.status_code == 422
    assert response.json()["error_details"] == {"status": {"0": ["value_is_invalid"]}}


def test_customer_subscriptions(client, org, customer, plan):
    SubscriptionFactory(customer=customer, plan=plan, external_id="mine")
    SubscriptionFactory(organization=org, plan=plan, external_id="theirs")
    response = client.get("/api/v1/customers/cus_1/subscriptions")
    assert response.status_code == 200
    assert [s["external_id"] for s in response.json()["subscriptions"]] == ["mine"]
    assert response.json()["meta"]["total_count"] == 1
    missing = client.get("/api/v1/customers/nobody/subscriptions")
    assert missing.status_code == 404 and missing.json()["code"] == "customer_not_found"


def test_show_picks_by_status(client, customer, plan):
    SubscriptionFactory(customer=customer, plan=plan, external_id="x", status="terminated", terminated_at=NOW)
    assert client.get("/api/v1/subscriptions/x").json() == {
        "status": 404,
        "error": "Not Found",
        "code": "subscription_not_found",
    }
    assert (
        client.get("/api/v1/subscriptions/x?status=terminated").json()["subscription"]["status"]
        == "terminated"
    )
    assert client.get("/api/v1/subscriptions/x?status=bogus").status_code == 422


# --- update ----------------------------------------------------------------------------------------------------


def put(client, external_id, query="", **fields):
    return client.put(f"/api/v1/subscriptions/{external_id}{query}", {"subscription": fields}, format="json")


def test_update_name_and_ending_at(client, customer, plan):
    create(client, customer, plan)
    response = put(client, "sub_1", name="Renamed", ending_at="2024-06-30T23:59:59Z")
    assert response.status_code == 200, response.json()
    body = response.json()["subscription"]
    assert body["name"] == "Renamed" and body["ending_at"] == "2024-06-30T23:59:59Z"
    cleared = put(client, "sub_1", ending_at=None).json()["subscription"]
    assert cleared["ending_at"] is None and cleared["name"] == "Renamed"


def test_update_refuses_a_past_ending_at(client, customer, plan):
    create(client, customer, plan)
    response = put(client, "sub_1", ending_at="2024-03-01T00:00:00Z", name="x")
    assert response.status_code == 422
    assert response.json()["error_details"] == {"ending_at": ["invalid_date"]}
    assert Subscription.objects.get().name is None


def test_update_subscription_at_of_a_pending_subscription(client, customer, plan):
    create(client, customer, plan, subscription_at="2024-04-01T00:00:00Z")
    later = put(client, "sub_1", subscription_at="2024-05-01T00:00:00Z").json()["subscription"]
    assert later["status"] == "pending" and later["subscription_at"] == "2024-05-01T00:00:00Z"
    now = put(client, "sub_1", subscription_at="2024-03-01T00:00:00Z").json()["subscription"]
    assert now["status"] == "active" and now["started_at"] == "2024-03-01T00:00:00Z"


def test_update_ignores_subscription_at_of_a_started_subscription(client, customer, plan):
    create(client, customer, plan)
    body = put(client, "sub_1", subscription_at="2024-01-01T00:00:00Z").json()["subscription"]
    assert body["subscription_at"] == "2024-03-10T12:00:00Z"


def test_update_picks_the_pending_one_with_status(client, org, customer, plan):
    create(client, customer, plan)
    create(client, customer, PlanFactory(organization=org, code="cheap", amount_cents=1))
    body = put(client, "sub_1", "?status=pending", name="next").json()["subscription"]
    assert body["status"] == "pending" and body["name"] == "next"
    body = client.put(
        "/api/v1/subscriptions/sub_1", {"status": "pending", "subscription": {"name": "again"}}, format="json"
    ).json()["subscription"]
    assert body["status"] == "pending" and body["name"] == "again"
    assert Subscription.objects.get(status="active").name is None


def test_update_unknown_is_404(client):
    response = put(client, "nope", name="x")
    assert response.status_code == 404 and response.json()["code"] == "subscription_not_found"


def test_update_termination_options(client, org, customer):
    advance = PlanFactory(organization=org, code="adv", pay_in_advance=True)
    create(client, customer, advance)
    body = put(client, "sub_1", on_termination_credit_note="skip", on_termination_invoice="skip").json()
    assert body["subscription"]["on_termination_credit_note"] == "skip"
    assert body["subscription"]["on_termination_invoice"] == "skip"
    bad = put(client, "sub_1", on_termination_credit_note="maybe")
    assert bad.json()["error_details"] == {"on_termination_credit_note": ["invalid_value"]}


# --- terminate / cancel ------------------------------------------------------------------------------------------


def test_terminate_an_active_subscription(client, org, customer, plan):
    create(client, customer, plan)
    move_clock(org, dt.datetime(2024, 3, 20, 8, 0, tzinfo=dt.UTC))
    response = client.delete("/api/v1/subscriptions/sub_1?on_termination_credit_note=credit")
    assert response.status_code == 200, response.json()
    body = response.json()["subscription"]
    assert body["status"] == "terminated"
    assert body["terminated_at"] == "2024-03-20T08:00:00Z"
    assert body["on_termination_credit_note"] is None  # in arrears: no credit note option
    assert body["on_termination_invoice"] == "generate"
    assert body["current_billing_period_ending_at"] == "2024-03-20T08:00:00Z"
    assert client.delete("/api/v1/subscriptions/sub_1").status_code == 404


def test_terminate_a_pay_in_advance_subscription_keeps_the_credit_note_option(client, org, customer):
    advance = PlanFactory(organization=org, code="adv", pay_in_advance=True)
    create(client, customer, advance, external_id="s1")
    create(client, customer, advance, external_id="s2")
    default = client.delete("/api/v1/subscriptions/s1").json()["subscription"]
    assert default["on_termination_credit_note"] == "credit"
    chosen = client.delete(
        "/api/v1/subscriptions/s2?on_termination_credit_note=refund&on_termination_invoice=skip"
    )
    assert chosen.json()["subscription"]["on_termination_credit_note"] == "refund"
    assert chosen.json()["subscription"]["on_termination_invoice"] == "skip"


def test_terminate_cancels_a_pending_downgrade(client, org, customer, plan):
    create(client, customer, plan)
    create(client, customer, PlanFactory(organization=org, code="cheap", amount_cents=1))
    client.delete("/api/v1/subscriptions/sub_1")
    assert sorted(Subscription.objects.values_list("status", flat=True)) == ["canceled", "terminated"]


def test_cancel_a_pending_subscription(client, customer, plan):
    create(client, customer, plan, subscription_at="2024-04-01T00:00:00Z")
    assert client.delete("/api/v1/subscriptions/sub_1").status_code == 404  # no active one
    response = client.delete("/api/v1/subscriptions/sub_1?status=pending&on_termination_credit_note=credit")
    assert response.status_code == 200
    body = response.json()["subscription"]
    assert body["status"] == "canceled" and body["canceled_at"] == "2024-03-10T12:00:00Z"
    assert body["on_termination_credit_note"] is None and body["terminated_at"] is None


@pytest.mark.parametrize(
    ("query", "details"),
    [
        ("on_termination_credit_note=invalid", {"on_termination_credit_note": ["invalid_value"]}),
        ("on_termination_invoice=invalid", {"on_termination_invoice": ["invalid_value"]}),
    ],
)
def test_terminate_refuses_unknown_options(client, customer, plan, query, details):
    create(client, customer, plan)
    response = client.delete(f"/api/v1/subscriptions/sub_1?{query}")
    assert response.status_code == 422
    assert response.json()["error_details"] == details
    assert Subscription.objects.get().status == "active"


# --- tenancy ---------------------------------------------------------------------------------------------------


def test_other_organizations_cannot_see_or_change_subscriptions(client, org, customer, plan):
    create(client, customer, plan)
    intruder, _ = sandbox_organization(NOW)
    other = make_api_client(intruder)
    PlanFactory(organization=intruder, code="basic")
    assert other.get("/api/v1/subscriptions").json()["subscriptions"] == []
    assert other.get("/api/v1/subscriptions/sub_1").status_code == 404
    assert (
        other.put("/api/v1/subscriptions/sub_1", {"subscription": {"name": "x"}}, format="json").status_code
        == 404
    )
    assert other.delete("/api/v1/subscriptions/sub_1").status_code == 404
    assert other.get("/api/v1/customers/cus_1/subscriptions").status_code == 404
    # The same external ids are free in another organization.
    response = post(other, external_customer_id="cus_1", plan_code="basic", external_id="sub_1")
    assert response.status_code == 200
    assert Subscription.objects.filter(status="active").count() == 2
    assert Subscription.objects.get(organization=org).name is None


def test_plan_of_another_organization_is_not_found(client, customer):
    intruder, _ = sandbox_organization(NOW)
    PlanFactory(organization=intruder, code="theirs")
    response = post(client, external_customer_id="cus_1", plan_code="theirs", external_id="s")
    assert response.status_code == 404 and response.json()["code"] == "plan_not_found"
