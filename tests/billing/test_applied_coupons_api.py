"""Applied coupons: POST/GET /applied_coupons, GET and DELETE /customers/{id}/applied_coupons[/{id}]."""

import datetime as dt
import threading
import uuid

import pytest
from django.db import connection

from billing.models import AppliedCoupon
from billing.services.applied_coupons import apply_coupon
from catalog.models import Coupon
from config import errors
from customers.models import Customer
from tests.catalog.factories import (
    AppliedCouponFactory,
    BillableMetricFactory,
    ChargeFactory,
    CouponFactory,
    PlanFactory,
)
from tests.customers.factories import CustomerFactory, OrganizationFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/applied_coupons"


def apply(api, **fields):
    return api.post(URL, {"applied_coupon": fields}, format="json")


def iso(value):
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value else None


@pytest.fixture
def customer(organization):
    return CustomerFactory(organization=organization, external_id="acme", currency="EUR")


def test_apply_fixed_coupon_returns_lago_shape(api, organization, customer):
    coupon = CouponFactory(
        organization=organization,
        code="welcome",
        name="Welcome",
        amount_cents=2000,
        expiration="time_limit",
        expiration_at=dt.datetime(2999, 1, 1, tzinfo=dt.UTC),
    )
    response = apply(api, external_customer_id="acme", coupon_code="welcome")
    assert response.status_code == 200, response.json()
    applied = AppliedCoupon.objects.get()
    assert response.json()["applied_coupon"] == {
        "lago_id": str(applied.id),
        "lago_coupon_id": str(coupon.id),
        "coupon_code": "welcome",
        "coupon_name": "Welcome",
        "coupon_status": "active",
        "coupon_deleted_at": None,
        "lago_customer_id": str(customer.id),
        "external_customer_id": "acme",
        "status": "active",
        "amount_cents": 2000,
        "amount_cents_remaining": 2000,
        "amount_currency": "EUR",
        "percentage_rate": None,
        "frequency": "once",
        "frequency_duration": None,
        "frequency_duration_remaining": None,
        "expiration_at": "2999-01-01T00:00:00Z",
        "created_at": iso(applied.created_at),
        "terminated_at": None,
    }
    assert applied.organization == organization


def test_overrides_replace_the_coupons_terms(api, organization, customer):
    CouponFactory(organization=organization, code="c", amount_cents=2000)
    body = apply(
        api,
        external_customer_id="acme",
        coupon_code="c",
        amount_cents=500,
        amount_currency="EUR",
        frequency="recurring",
        frequency_duration=3,
    ).json()["applied_coupon"]
    assert (body["amount_cents"], body["frequency"], body["frequency_duration"]) == (500, "recurring", 3)
    assert body["frequency_duration_remaining"] == 3
    # amount_cents_remaining only exists for once fixed coupons (Lago).
    assert body["amount_cents_remaining"] is None


def test_percentage_coupon_with_rate_override(api, organization, customer):
    CouponFactory(
        organization=organization,
        code="p",
        coupon_type="percentage",
        amount_cents=None,
        amount_currency=None,
        percentage_rate="10",
        frequency="forever",
    )
    body = apply(api, external_customer_id="acme", coupon_code="p", percentage_rate="12.5").json()[
        "applied_coupon"
    ]
    assert (body["percentage_rate"], body["amount_cents"], body["amount_cents_remaining"]) == (
        "12.5",
        None,
        None,
    )
    assert body["frequency"] == "forever"


def test_fixed_coupon_gives_its_currency_to_a_customer_without_one(api, organization):
    CustomerFactory(organization=organization, external_id="new", currency=None)
    CouponFactory(organization=organization, code="usd", amount_currency="USD")
    assert apply(api, external_customer_id="new", coupon_code="usd").status_code == 200
    assert Customer.objects.get(external_id="new").currency == "USD"


def test_percentage_coupon_leaves_customer_currency_alone(api, organization):
    CustomerFactory(organization=organization, external_id="new", currency=None)
    CouponFactory(
        organization=organization, code="p", coupon_type="percentage", percentage_rate="5", amount_cents=None
    )
    assert apply(api, external_customer_id="new", coupon_code="p").status_code == 200
    assert Customer.objects.get(external_id="new").currency is None


@pytest.mark.parametrize("override", [{}, {"amount_currency": "USD"}])
def test_currency_mismatch_is_422_and_changes_nothing(api, organization, customer, override):
    CouponFactory(organization=organization, code="c", amount_currency="USD" if not override else "EUR")
    response = apply(api, external_customer_id="acme", coupon_code="c", **override)
    assert response.status_code == 422
    assert response.json()["error_details"] == {"currency": ["currencies_does_not_match"]}
    assert AppliedCoupon.objects.count() == 0
    assert Customer.objects.get(pk=customer.pk).currency == "EUR"


@pytest.mark.parametrize(
    ("fields", "details"),
    [
        ({"external_customer_id": None}, {"external_customer_id": ["value_is_mandatory"]}),
        ({"coupon_code": ""}, {"coupon_code": ["value_is_mandatory"]}),
        ({"coupon_code": {"a": 1}}, {"coupon_code": ["value_is_invalid"]}),
        ({"frequency": "weekly"}, {"frequency": ["value_is_invalid"]}),
        ({"frequency_duration": "x"}, {"frequency_duration": ["value_is_invalid"]}),
        ({"amount_cents": -1}, {"amount_cents": ["value_is_out_of_range"]}),
        ({"amount_cents": 2**64}, {"amount_cents": ["value_is_out_of_range"]}),
        ({"amount_currency": "EURO"}, {"amount_currency": ["value_is_invalid"]}),
        ({"percentage_rate": "x"}, {"percentage_rate": ["value_is_invalid"]}),
        ({"percentage_rate": "0"}, {"percentage_rate": ["value_is_out_of_range"]}),
        ({"percentage_rate": "101"}, {"percentage_rate": ["value_is_out_of_range"]}),
        ({"frequency": "recurring"}, {"frequency_duration": ["value_is_mandatory"]}),
        (
            {"frequency": "recurring", "frequency_duration": 0},
            {"frequency_duration": ["value_is_out_of_range"]},
        ),
    ],
)
def test_invalid_application_is_422_and_changes_nothing(api, organization, customer, fields, details):
    CouponFactory(organization=organization, code="c")
    response = apply(api, **{"external_customer_id": "acme", "coupon_code": "c", **fields})
    assert response.status_code == 422
    assert response.json() == {
        "status": 422,
        "error": "Unprocessable Entity",
        "code": "validation_errors",
        "error_details": details,
    }
    assert AppliedCoupon.objects.count() == 0


def test_missing_root_key_is_400(api):
    assert api.post(URL, {"coupon": {}}, format="json").status_code == 400


def test_unknown_customer_is_404(api, organization):
    CouponFactory(organization=organization, code="c")
    response = apply(api, external_customer_id="ghost", coupon_code="c")
    assert response.status_code == 404 and response.json()["code"] == "customer_not_found"


@pytest.mark.parametrize(
    "coupon_fields",
    [
        {"code": "other"},
        {"status": "terminated", "terminated_at": dt.datetime(2024, 1, 1, tzinfo=dt.UTC)},
        {"deleted_at": dt.datetime(2024, 1, 1, tzinfo=dt.UTC)},
        # Past its expiration, even before the sweep terminated it.
        {"expiration": "time_limit", "expiration_at": dt.datetime(2024, 1, 1, tzinfo=dt.UTC)},
    ],
)
def test_unavailable_coupon_is_404(api, organization, customer, coupon_fields):
    CouponFactory(organization=organization, **{"code": "c", **coupon_fields})
    response = apply(api, external_customer_id="acme", coupon_code="c")
    assert response.status_code == 404 and response.json()["code"] == "coupon_not_found"
    assert AppliedCoupon.objects.count() == 0


def test_non_reusable_coupon_is_given_once_per_customer(api, organization, customer):
    coupon = CouponFactory(organization=organization, code="once_only", reusable=False)
    first = apply(api, external_customer_id="acme", coupon_code="once_only")
    assert first.status_code == 200
    api.delete(f"/api/v1/customers/acme/applied_coupons/{first.json()['applied_coupon']['lago_id']}")
    again = apply(api, external_customer_id="acme", coupon_code="once_only")
    assert again.status_code == 422
    assert again.json()["error_details"] == {"coupon": ["coupon_is_not_reusable"]}
    # Another customer may still have it.
    CustomerFactory(organization=organization, external_id="other")
    assert apply(api, external_customer_id="other", coupon_code="once_only").status_code == 200
    assert AppliedCoupon.objects.filter(coupon=coupon).count() == 2


def test_reusable_coupon_can_be_applied_twice(api, organization, customer):
    CouponFactory(organization=organization, code="again")
    assert apply(api, external_customer_id="acme", coupon_code="again").status_code == 200
    assert apply(api, external_customer_id="acme", coupon_code="again").status_code == 200
    assert AppliedCoupon.objects.count() == 2


def test_limited_coupons_must_not_overlap(api, organization, customer):
    plan = PlanFactory(organization=organization, code="pro")
    metric = BillableMetricFactory(organization=organization, code="calls")
    ChargeFactory(plan=plan, billable_metric=metric)
    on_plan = CouponFactory(organization=organization, code="on_plan", limited_plans=True)
    on_plan.plans.add(plan)
    same_plan = CouponFactory(organization=organization, code="same_plan", limited_plans=True)
    same_plan.plans.add(plan)
    on_metric = CouponFactory(organization=organization, code="on_metric", limited_billable_metrics=True)
    on_metric.billable_metrics.add(metric)
    elsewhere = CouponFactory(organization=organization, code="elsewhere", limited_plans=True)
    elsewhere.plans.add(PlanFactory(organization=organization))
    CouponFactory(organization=organization, code="anywhere")

    first = apply(api, external_customer_id="acme", coupon_code="on_plan")
    assert first.status_code == 200
    for code in ("same_plan", "on_metric", "on_plan"):
        response = apply(api, external_customer_id="acme", coupon_code=code)
        assert response.status_code == 405, code
        assert response.json() == {"status": 405, "error": "Method Not Allowed", "code": "plan_overlapping"}
    assert apply(api, external_customer_id="acme", coupon_code="elsewhere").status_code == 200
    assert apply(api, external_customer_id="acme", coupon_code="anywhere").status_code == 200
    # Once the first is terminated, the metric-limited one fits.
    api.delete(f"/api/v1/customers/acme/applied_coupons/{first.json()['applied_coupon']['lago_id']}")
    assert apply(api, external_customer_id="acme", coupon_code="on_metric").status_code == 200


def test_other_organizations_customers_and_coupons_are_404(api, organization, customer):
    other = OrganizationFactory()
    CustomerFactory(organization=other, external_id="theirs")
    CouponFactory(organization=other, code="their_coupon")
    CouponFactory(organization=organization, code="mine")
    assert apply(api, external_customer_id="theirs", coupon_code="mine").status_code == 404
    assert apply(api, external_customer_id="acme", coupon_code="their_coupon").status_code == 404
    theirs = AppliedCouponFactory(coupon=Coupon.objects.get(code="their_coupon"))
    assert api.get(URL).json()["applied_coupons"] == []
    assert api.delete(f"/api/v1/customers/acme/applied_coupons/{theirs.id}").status_code == 404
    assert (
        api.delete(f"/api/v1/customers/{theirs.customer.external_id}/applied_coupons/{theirs.id}").status_code
        == 404
    )
    theirs.refresh_from_db()
    assert theirs.status == "active"
    assert AppliedCoupon.objects.count() == 1


def test_list_filters_and_shape(api, organization, customer):
    bob = CustomerFactory(organization=organization, external_id="bob")
    gone = CustomerFactory(
        organization=organization, external_id="gone", deleted_at=dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    )
    a = CouponFactory(organization=organization, code="a")
    b = CouponFactory(organization=organization, code="b")
    first = AppliedCouponFactory(coupon=a, customer=customer)
    second = AppliedCouponFactory(coupon=b, customer=bob, status="terminated")
    third = AppliedCouponFactory(coupon=b, customer=customer)
    AppliedCouponFactory(coupon=a, customer=gone)

    def ids(params=None, url=URL):
        response = api.get(url, params or {})
        assert response.status_code == 200, response.json()
        return [item["lago_id"] for item in response.json()["applied_coupons"]]

    assert ids() == [str(third.id), str(second.id), str(first.id)]
    assert ids({"status": "terminated"}) == [str(second.id)]
    assert ids({"status": "bogus"}) == [str(third.id), str(second.id), str(first.id)]
    assert ids({"external_customer_id": "acme"}) == [str(third.id), str(first.id)]
    assert ids({"external_customer_id": "ghost"}) == []
    assert ids({"coupon_code[]": ["a"]}) == [str(first.id)]
    assert ids({"coupon_code[]": ["a", "b"], "status": "active"}) == [str(third.id), str(first.id)]
    assert ids({"status": "terminated"}, url="/api/v1/customers/acme/applied_coupons") == []
    assert ids({"coupon_code[]": "b"}, url="/api/v1/customers/acme/applied_coupons") == [str(third.id)]

    page = api.get(URL, {"per_page": 1, "page": 2}).json()
    assert page["meta"] == {
        "current_page": 2,
        "next_page": 3,
        "prev_page": 1,
        "total_pages": 3,
        "total_count": 3,
    }
    assert page["applied_coupons"][0]["credits"] == []
    assert page["applied_coupons"][0]["external_customer_id"] == "bob"
    assert api.get("/api/v1/customers/ghost/applied_coupons").json()["code"] == "customer_not_found"


def test_delete_terminates_the_applied_coupon(api, organization, customer):
    applied = AppliedCouponFactory(coupon=CouponFactory(organization=organization), customer=customer)
    url = f"/api/v1/customers/acme/applied_coupons/{applied.id}"
    response = api.delete(url)
    assert response.status_code == 200
    body = response.json()["applied_coupon"]
    applied.refresh_from_db()
    assert (body["lago_id"], body["status"], body["terminated_at"]) == (
        str(applied.id),
        "terminated",
        iso(applied.terminated_at),
    )
    assert applied.status == "terminated" and applied.terminated_at is not None
    # Deleting again answers the same, keeping the first termination time.
    first_terminated_at = applied.terminated_at
    assert api.delete(url).json()["applied_coupon"]["status"] == "terminated"
    applied.refresh_from_db()
    assert applied.terminated_at == first_terminated_at
    assert AppliedCoupon.objects.count() == 1


@pytest.mark.parametrize(
    ("path", "code"),
    [
        ("/api/v1/customers/ghost/applied_coupons/{id}", "customer_not_found"),
        ("/api/v1/customers/acme/applied_coupons/" + str(uuid.uuid4()), "applied_coupon_not_found"),
        ("/api/v1/customers/acme/applied_coupons/not-a-uuid", "applied_coupon_not_found"),
        ("/api/v1/customers/ac%00me/applied_coupons/{id}", "customer_not_found"),
        ("/api/v1/customers/bob/applied_coupons/{id}", "applied_coupon_not_found"),
    ],
)
def test_delete_not_found(api, organization, customer, path, code):
    CustomerFactory(organization=organization, external_id="bob")
    applied = AppliedCouponFactory(coupon=CouponFactory(organization=organization), customer=customer)
    response = api.delete(path.format(id=applied.id))
    assert response.status_code == 404 and response.json()["code"] == code
    applied.refresh_from_db()
    assert applied.status == "active"


@pytest.mark.django_db(transaction=True)
def test_concurrent_applications_of_a_non_reusable_coupon_give_it_once():
    organization = OrganizationFactory()
    customer = CustomerFactory(organization=organization, currency="EUR")
    coupon = CouponFactory(organization=organization, reusable=False)
    barrier = threading.Barrier(4)
    outcomes: list[str] = []

    def worker():
        try:
            barrier.wait()
            apply_coupon(customer=customer, coupon=coupon)
            outcomes.append("applied")
        except errors.ValidationFailed as error:
            outcomes.append(error.error_details["coupon"][0])
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["applied"] + ["coupon_is_not_reusable"] * 3
    assert AppliedCoupon.objects.filter(customer=customer).count() == 1


# --- lago-python-client round trip ----------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_lago_client_round_trip(lago):
    from lago_python_client.exceptions import LagoApiError
    from lago_python_client.models import AppliedCoupon as SdkAppliedCoupon
    from lago_python_client.models import Coupon as SdkCoupon
    from lago_python_client.models import Customer as SdkCustomer

    lago.customers.create(SdkCustomer(external_id="sdk_cust", currency="EUR"))
    lago.coupons.create(
        SdkCoupon(
            name="Ten off",
            code="ten",
            coupon_type="fixed_amount",
            amount_cents=1000,
            amount_currency="EUR",
            frequency="once",
            expiration="no_expiration",
        )
    )
    lago.coupons.create(
        SdkCoupon(
            name="Pct",
            code="pct",
            coupon_type="percentage",
            percentage_rate=10.0,
            frequency="forever",
            expiration="time_limit",
            expiration_at="2999-01-01T00:00:00Z",
        )
    )
    sent = {
        "external_customer_id": "sdk_cust",
        "coupon_code": "ten",
        "amount_cents": 700,
        "amount_currency": "EUR",
        "frequency": "recurring",
        "frequency_duration": 2,
    }
    applied = lago.applied_coupons.create(SdkAppliedCoupon(**sent))
    for field, value in sent.items():
        assert getattr(applied, field) == value, field
    assert (applied.status, applied.frequency_duration_remaining, applied.amount_cents_remaining) == (
        "active",
        2,
        None,
    )
    assert applied.percentage_rate is None and applied.terminated_at is None and applied.expiration_at is None

    pct = lago.applied_coupons.create(
        SdkAppliedCoupon(external_customer_id="sdk_cust", coupon_code="pct", percentage_rate=15.5)
    )
    assert (pct.percentage_rate, pct.frequency, pct.amount_cents, pct.expiration_at) == (
        15.5,
        "forever",
        None,
        "2999-01-01T00:00:00Z",
    )

    page = lago.applied_coupons.find_all({"external_customer_id": "sdk_cust", "per_page": 10})
    assert [a.lago_id for a in page["applied_coupons"]] == [pct.lago_id, applied.lago_id]
    assert page["applied_coupons"][1].credits.__root__ == []
    only_ten = lago.applied_coupons.find_all({"coupon_code[]": "ten"})
    assert [a.coupon_code for a in only_ten["applied_coupons"]] == ["ten"]

    terminated = lago.applied_coupons.destroy("sdk_cust", applied.lago_id)
    assert (
        terminated.lago_id == applied.lago_id
        and terminated.status == "terminated"
        and terminated.terminated_at
    )
    active = lago.applied_coupons.find_all({"status": "active"})
    assert [a.lago_id for a in active["applied_coupons"]] == [pct.lago_id]

    with pytest.raises(LagoApiError) as refused:
        lago.applied_coupons.create(SdkAppliedCoupon(external_customer_id="nobody", coupon_code="ten"))
    assert refused.value.status_code == 404


# --- admin ----------------------------------------------------------------------------------------

ADMIN = "/admin/billing/appliedcoupon/"


def admin_payload(customer, coupon, **fields):
    data = {
        "customer": str(customer.pk),
        "coupon": str(coupon.pk),
        "amount_cents": "",
        "amount_currency": "",
        "percentage_rate": "",
        "frequency": "",
        "frequency_duration": "",
    }
    data.update(fields)
    return data


def test_admin_pages_render(admin_client, organization, customer):
    applied = AppliedCouponFactory(coupon=CouponFactory(organization=organization), customer=customer)
    assert admin_client.get(f"{ADMIN}?q=acme&status__exact=active").status_code == 200
    assert admin_client.get(f"{ADMIN}add/").status_code == 200
    assert admin_client.get(f"{ADMIN}{applied.pk}/change/").status_code == 200


def test_admin_applies_through_the_service(admin_client, organization, customer):
    coupon = CouponFactory(organization=organization, reusable=False, amount_cents=900)
    response = admin_client.post(
        f"{ADMIN}add/", admin_payload(customer, coupon, frequency="recurring", frequency_duration="2")
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    applied = AppliedCoupon.objects.get()
    assert (
        applied.organization,
        applied.amount_cents,
        applied.frequency,
        applied.frequency_duration_remaining,
    ) == (
        organization,
        900,
        "recurring",
        2,
    )
    again = admin_client.post(f"{ADMIN}add/", admin_payload(customer, coupon))
    assert again.status_code == 200 and "coupon_is_not_reusable" in again.content.decode()
    assert AppliedCoupon.objects.count() == 1


def test_admin_refuses_a_currency_mismatch_and_a_foreign_coupon(admin_client, organization, customer):
    usd = CouponFactory(organization=organization, amount_currency="USD")
    response = admin_client.post(f"{ADMIN}add/", admin_payload(customer, usd))
    assert "currencies_does_not_match" in response.content.decode(), response.context["adminform"].form.errors
    foreign = CouponFactory(organization=OrganizationFactory())
    response = admin_client.post(f"{ADMIN}add/", admin_payload(customer, foreign))
    assert "coupon_not_found" in response.content.decode()
    assert AppliedCoupon.objects.count() == 0


def test_admin_terminate_action(admin_client, organization, customer):
    applied = AppliedCouponFactory(coupon=CouponFactory(organization=organization), customer=customer)
    response = admin_client.post(ADMIN, {"action": "terminate", "_selected_action": [str(applied.pk)]})
    assert response.status_code == 302
    applied.refresh_from_db()
    assert applied.status == "terminated" and applied.terminated_at is not None
