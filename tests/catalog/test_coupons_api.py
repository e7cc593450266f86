"""Coupons: POST/GET/PUT/DELETE /coupons (by code), limitations, the rules once applied, the expiry sweep."""

import datetime as dt

import pytest

from billing.models import AppliedCoupon
from catalog.models import Coupon
from catalog.services.coupons import terminate_expired_coupons
from tests.catalog.factories import AppliedCouponFactory, BillableMetricFactory, CouponFactory, PlanFactory
from tests.customers.factories import OrganizationFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/coupons"
FUTURE = "2999-01-31T23:59:59Z"


def create(api, **fields):
    return api.post(URL, {"coupon": fields}, format="json")


def update(api, current_code, **fields):
    return api.put(f"{URL}/{current_code}", {"coupon": fields}, format="json")


def fixed(**overrides):
    fields = {
        "name": "Startup deal",
        "code": "startup",
        "coupon_type": "fixed_amount",
        "amount_cents": 5000,
        "amount_currency": "EUR",
        "frequency": "once",
        "expiration": "no_expiration",
    }
    fields.update(overrides)
    return fields


def percentage(**overrides):
    fields = {
        "coupon_type": "percentage",
        "amount_cents": None,
        "amount_currency": None,
        "percentage_rate": "12.5",
    }
    fields.update(overrides)
    return fixed(**fields)


def iso(value: dt.datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_create_fixed_once_returns_lago_shape(api):
    response = create(api, **fixed(description="For startups", reusable=False))
    assert response.status_code == 200, response.json()
    coupon = Coupon.objects.get()
    assert response.json()["coupon"] == {
        "lago_id": str(coupon.id),
        "name": "Startup deal",
        "code": "startup",
        "description": "For startups",
        "coupon_type": "fixed_amount",
        "amount_cents": 5000,
        "amount_currency": "EUR",
        "percentage_rate": None,
        "frequency": "once",
        "frequency_duration": None,
        "reusable": False,
        "limited_plans": False,
        "plan_codes": [],
        "limited_billable_metrics": False,
        "billable_metric_codes": [],
        "created_at": iso(coupon.created_at),
        "expiration": "no_expiration",
        "expiration_at": None,
        "terminated_at": None,
    }


def test_create_percentage_recurring_time_limited(api):
    response = create(
        api,
        **percentage(
            frequency="recurring", frequency_duration=3, expiration="time_limit", expiration_at=FUTURE
        ),
    )
    assert response.status_code == 200, response.json()
    body = response.json()["coupon"]
    assert (body["coupon_type"], body["percentage_rate"], body["amount_cents"], body["amount_currency"]) == (
        "percentage",
        "12.5",
        None,
        None,
    )
    assert (body["frequency"], body["frequency_duration"]) == ("recurring", 3)
    assert (body["expiration"], body["expiration_at"], body["reusable"]) == ("time_limit", FUTURE, True)


def test_irrelevant_fields_are_dropped(api):
    body = create(
        api, **fixed(percentage_rate="10", frequency="forever", frequency_duration=4, expiration_at=FUTURE)
    ).json()["coupon"]
    assert (body["percentage_rate"], body["frequency_duration"], body["expiration_at"]) == (None, None, None)


def test_percentage_rate_is_a_decimal_string(api):
    assert create(api, **percentage(percentage_rate=10)).json()["coupon"]["percentage_rate"] == "10.0"
    tiny = create(api, **percentage(code="b", percentage_rate="0.00001")).json()["coupon"]
    assert tiny["percentage_rate"] == "0.00001"


def test_expiration_at_accepts_a_bare_date(api):
    body = create(api, **fixed(expiration="time_limit", expiration_at="2999-12-31")).json()["coupon"]
    assert body["expiration_at"] == "2999-12-31T00:00:00Z"


@pytest.mark.parametrize(
    ("fields", "details"),
    [
        ({"name": None}, {"name": ["value_is_mandatory"]}),
        ({"code": ""}, {"code": ["value_is_mandatory"]}),
        ({"code": {"x": 1}}, {"code": ["value_is_invalid"]}),
        ({"coupon_type": None}, {"coupon_type": ["value_is_mandatory"]}),
        ({"coupon_type": "gift"}, {"coupon_type": ["value_is_invalid"]}),
        ({"frequency": "weekly"}, {"frequency": ["value_is_invalid"]}),
        ({"expiration": "never"}, {"expiration": ["value_is_invalid"]}),
        ({"amount_cents": None}, {"amount_cents": ["value_is_mandatory"]}),
        ({"amount_cents": 0}, {"amount_cents": ["value_is_out_of_range"]}),
        ({"amount_cents": -10}, {"amount_cents": ["value_is_out_of_range"]}),
        ({"amount_cents": 2**70}, {"amount_cents": ["value_is_out_of_range"]}),
        ({"amount_cents": "many"}, {"amount_cents": ["value_is_invalid"]}),
        ({"amount_currency": None}, {"amount_currency": ["value_is_mandatory"]}),
        ({"amount_currency": "XXX1"}, {"amount_currency": ["value_is_invalid"]}),
        ({"frequency": "recurring"}, {"frequency_duration": ["value_is_mandatory"]}),
        (
            {"frequency": "recurring", "frequency_duration": 0},
            {"frequency_duration": ["value_is_out_of_range"]},
        ),
        (
            {"frequency": "recurring", "frequency_duration": 2**40},
            {"frequency_duration": ["value_is_out_of_range"]},
        ),
        ({"frequency": "recurring", "frequency_duration": "x"}, {"frequency_duration": ["value_is_invalid"]}),
        ({"expiration": "time_limit"}, {"expiration_at": ["value_is_mandatory"]}),
        (
            {"expiration": "time_limit", "expiration_at": "2001-01-01T00:00:00Z"},
            {"expiration_at": ["invalid_date"]},
        ),
        ({"expiration": "time_limit", "expiration_at": "soon"}, {"expiration_at": ["invalid_date"]}),
        ({"expiration": "time_limit", "expiration_at": 12}, {"expiration_at": ["invalid_date"]}),
        ({"reusable": "maybe"}, {"reusable": ["value_is_invalid"]}),
        ({"reusable": None}, {"reusable": ["value_is_mandatory"]}),
        ({"applies_to": {"plan_codes": "p1"}}, {"applies_to": {"plan_codes": ["value_is_invalid"]}}),
    ],
)
def test_invalid_fixed_coupon_is_422_and_changes_nothing(api, fields, details):
    response = create(api, **fixed(**fields))
    assert response.status_code == 422
    assert response.json() == {
        "status": 422,
        "error": "Unprocessable Entity",
        "code": "validation_errors",
        "error_details": details,
    }
    assert Coupon.objects.count() == 0


@pytest.mark.parametrize(
    ("fields", "details"),
    [
        ({"percentage_rate": None}, {"percentage_rate": ["value_is_mandatory"]}),
        ({"percentage_rate": "0"}, {"percentage_rate": ["value_is_out_of_range"]}),
        ({"percentage_rate": "-5"}, {"percentage_rate": ["value_is_out_of_range"]}),
        ({"percentage_rate": "100.5"}, {"percentage_rate": ["value_is_out_of_range"]}),
        ({"percentage_rate": "12.123456"}, {"percentage_rate": ["value_is_invalid"]}),
        ({"percentage_rate": "ten"}, {"percentage_rate": ["value_is_invalid"]}),
        ({"percentage_rate": "1e400"}, {"percentage_rate": ["value_is_out_of_range"]}),
    ],
)
def test_invalid_percentage_coupon_is_422(api, fields, details):
    response = create(api, **percentage(**fields))
    assert response.status_code == 422
    assert response.json()["error_details"] == details
    assert Coupon.objects.count() == 0


def test_percentage_of_100_is_allowed(api):
    assert create(api, **percentage(percentage_rate="100")).json()["coupon"]["percentage_rate"] == "100.0"


def test_limitations_to_plans_or_metrics(api, organization):
    PlanFactory(organization=organization, code="starter")
    PlanFactory(organization=organization, code="pro")
    BillableMetricFactory(organization=organization, code="calls")
    by_plan = create(api, **fixed(applies_to={"plan_codes": ["pro", "starter", "pro"]})).json()["coupon"]
    assert (by_plan["limited_plans"], by_plan["plan_codes"]) == (True, ["pro", "starter"])
    assert (by_plan["limited_billable_metrics"], by_plan["billable_metric_codes"]) == (False, [])
    by_metric = create(api, **fixed(code="m", applies_to={"billable_metric_codes": ["calls"]})).json()[
        "coupon"
    ]
    assert (by_metric["limited_billable_metrics"], by_metric["billable_metric_codes"]) == (True, ["calls"])
    assert by_metric["limited_plans"] is False


@pytest.mark.parametrize(
    ("applies_to", "status", "code"),
    [
        ({"plan_codes": ["starter", "ghost"]}, 404, "plans_not_found"),
        ({"billable_metric_codes": ["ghost"]}, 404, "billable_metrics_not_found"),
        (
            {"plan_codes": ["starter"], "billable_metric_codes": ["calls"]},
            405,
            "only_one_limitation_type_per_coupon_allowed",
        ),
    ],
)
def test_limitation_errors_change_nothing(api, organization, applies_to, status, code):
    PlanFactory(organization=organization, code="starter")
    BillableMetricFactory(organization=organization, code="calls")
    PlanFactory(organization=OrganizationFactory(), code="ghost")
    response = create(api, **fixed(applies_to=applies_to))
    assert response.status_code == status
    assert response.json()["code"] == code
    assert Coupon.objects.count() == 0


def test_deleted_plans_cannot_be_targeted(api, organization):
    PlanFactory(organization=organization, code="old", deleted_at=dt.datetime(2024, 1, 1, tzinfo=dt.UTC))
    assert create(api, **fixed(applies_to={"plan_codes": ["old"]})).status_code == 404


def test_duplicate_code_until_deleted(api):
    create(api, **fixed())
    response = create(api, **fixed())
    assert response.status_code == 422
    assert response.json()["error_details"] == {"code": ["value_already_exist"]}
    assert api.delete(f"{URL}/startup").status_code == 200
    assert create(api, **fixed()).status_code == 200


def test_list_and_get(api):
    for i in range(3):
        create(api, **fixed(code=f"c{i}"))
    page = api.get(URL, {"per_page": 2}).json()
    assert [c["code"] for c in page["coupons"]] == ["c2", "c1"]
    assert page["meta"]["total_pages"] == 2
    assert api.get(f"{URL}/c0").json()["coupon"]["code"] == "c0"
    missing = api.get(f"{URL}/nope")
    assert missing.status_code == 404 and missing.json()["code"] == "coupon_not_found"


def test_update_of_unapplied_coupon_changes_everything(api, organization):
    PlanFactory(organization=organization, code="starter")
    BillableMetricFactory(organization=organization, code="calls")
    create(api, **fixed(applies_to={"plan_codes": ["starter"]}))
    response = update(
        api,
        "startup",
        code="growth",
        coupon_type="percentage",
        percentage_rate="20",
        frequency="forever",
        reusable=False,
        applies_to={"billable_metric_codes": ["calls"]},
    )
    assert response.status_code == 200, response.json()
    body = response.json()["coupon"]
    assert (body["code"], body["coupon_type"], body["percentage_rate"], body["amount_cents"]) == (
        "growth",
        "percentage",
        "20.0",
        None,
    )
    assert (body["frequency"], body["reusable"]) == ("forever", False)
    assert (body["limited_plans"], body["plan_codes"]) == (False, [])
    assert (body["limited_billable_metrics"], body["billable_metric_codes"]) == (True, ["calls"])
    # Without applies_to the limitation stays; an empty applies_to removes it.
    assert update(api, "growth", name="G").json()["coupon"]["billable_metric_codes"] == ["calls"]
    cleared = update(api, "growth", applies_to={}).json()["coupon"]
    assert (cleared["limited_billable_metrics"], cleared["billable_metric_codes"]) == (False, [])


def test_update_validates_the_resulting_coupon(api):
    create(api, **fixed())
    response = update(api, "startup", coupon_type="percentage", name="Renamed")
    assert response.status_code == 422
    assert response.json()["error_details"] == {"percentage_rate": ["value_is_mandatory"]}
    assert Coupon.objects.get().name == "Startup deal"


def test_update_of_applied_coupon_only_changes_name_description_and_expiration(api, organization):
    PlanFactory(organization=organization, code="starter")
    create(api, **fixed())
    AppliedCouponFactory(coupon=Coupon.objects.get())
    response = update(
        api,
        "startup",
        name="Renamed",
        description="new",
        expiration="time_limit",
        expiration_at=FUTURE,
        code="other",
        amount_cents=1,
        frequency="forever",
        reusable=False,
        applies_to={"plan_codes": ["starter"]},
    )
    assert response.status_code == 200, response.json()
    body = response.json()["coupon"]
    assert (body["name"], body["description"], body["expiration"], body["expiration_at"]) == (
        "Renamed",
        "new",
        "time_limit",
        FUTURE,
    )
    assert (body["code"], body["amount_cents"], body["frequency"], body["reusable"], body["plan_codes"]) == (
        "startup",
        5000,
        "once",
        True,
        [],
    )


def test_update_refuses_a_past_expiration_but_keeps_an_existing_one(api, organization):
    past = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
    CouponFactory(organization=organization, code="old", expiration="time_limit", expiration_at=past)
    assert update(api, "old", name="Still old").status_code == 200
    response = update(api, "old", expiration_at="2021-01-01T00:00:00Z")
    assert response.status_code == 422
    assert response.json()["error_details"] == {"expiration_at": ["invalid_date"]}
    assert Coupon.objects.get().expiration_at == past


def test_delete_soft_deletes_and_terminates_active_applications(api, organization):
    coupon = CouponFactory(organization=organization, code="bye")
    active = AppliedCouponFactory(coupon=coupon)
    ended_at = dt.datetime(2024, 5, 1, tzinfo=dt.UTC)
    ended = AppliedCouponFactory(coupon=coupon, status="terminated", terminated_at=ended_at)
    response = api.delete(f"{URL}/bye")
    assert response.status_code == 200 and response.json()["coupon"]["code"] == "bye"
    coupon.refresh_from_db()
    active.refresh_from_db()
    ended.refresh_from_db()
    assert coupon.deleted_at is not None
    assert active.status == "terminated" and active.terminated_at == coupon.deleted_at
    assert ended.terminated_at == ended_at
    assert api.get(f"{URL}/bye").status_code == 404
    assert api.delete(f"{URL}/bye").status_code == 404


def test_nul_in_the_code_is_404(api):
    assert api.get(f"{URL}/a%00b").status_code == 404
    assert api.delete(f"{URL}/a%00b").status_code == 404


def test_other_organizations_coupons_are_404(api):
    other = OrganizationFactory()
    theirs = CouponFactory(organization=other, code="shared")
    assert api.get(f"{URL}/shared").status_code == 404
    assert update(api, "shared", name="Mine").status_code == 404
    assert api.delete(f"{URL}/shared").status_code == 404
    assert api.get(URL).json()["coupons"] == []
    assert create(api, **fixed(code="shared")).status_code == 200
    theirs.refresh_from_db()
    assert theirs.deleted_at is None and theirs.name.startswith("Coupon")


# --- expiry sweep ---------------------------------------------------------------------------------


def test_terminate_expired_coupons(organization):
    now = dt.datetime(2025, 6, 1, 12, tzinfo=dt.UTC)
    expired = CouponFactory(
        organization=organization, expiration="time_limit", expiration_at=now - dt.timedelta(seconds=1)
    )
    at_now = CouponFactory(organization=organization, expiration="time_limit", expiration_at=now)
    later = CouponFactory(
        organization=organization, expiration="time_limit", expiration_at=now + dt.timedelta(days=1)
    )
    forever = CouponFactory(organization=organization)
    deleted = CouponFactory(
        organization=organization,
        expiration="time_limit",
        expiration_at=now - dt.timedelta(days=1),
        deleted_at=now,
    )
    applied = AppliedCouponFactory(coupon=expired)

    assert terminate_expired_coupons(now=now) == 1
    for coupon in (expired, at_now, later, forever, deleted):
        coupon.refresh_from_db()
    assert (expired.status, expired.terminated_at) == ("terminated", now)
    assert [c.status for c in (at_now, later, forever, deleted)] == ["active"] * 4
    # Customers who have it keep it: expiry only stops new applications.
    applied.refresh_from_db()
    assert applied.status == "active"
    # Idempotent: nothing left to do, the first termination date is kept.
    assert terminate_expired_coupons(now=now + dt.timedelta(days=30)) == 2
    expired.refresh_from_db()
    assert expired.terminated_at == now


def test_terminate_expired_coupons_follows_each_organizations_clock(organization):
    sandbox = OrganizationFactory(is_sandbox=True, frozen_time=dt.datetime(2030, 1, 1, tzinfo=dt.UTC))
    in_sandbox = CouponFactory(
        organization=sandbox, expiration="time_limit", expiration_at=dt.datetime(2029, 1, 1, tzinfo=dt.UTC)
    )
    real = CouponFactory(
        organization=organization,
        expiration="time_limit",
        expiration_at=dt.datetime(2029, 1, 1, tzinfo=dt.UTC),
    )
    assert terminate_expired_coupons(organization=organization) == 0
    assert terminate_expired_coupons() == 1
    in_sandbox.refresh_from_db()
    real.refresh_from_db()
    assert in_sandbox.status == "terminated" and in_sandbox.terminated_at == sandbox.frozen_time
    assert real.status == "active"
    assert AppliedCoupon.objects.count() == 0


# --- lago-python-client round trips ---------------------------------------------------------------

SDK_COUPONS = [
    {
        "name": "Fixed once",
        "code": "fixed_once",
        "coupon_type": "fixed_amount",
        "amount_cents": 1000,
        "amount_currency": "EUR",
        "frequency": "once",
        "expiration": "no_expiration",
        "reusable": False,
        "description": "One-time 10 EUR",
    },
    {
        "name": "Fixed recurring",
        "code": "fixed_recurring",
        "coupon_type": "fixed_amount",
        "amount_cents": 250,
        "amount_currency": "USD",
        "frequency": "recurring",
        "frequency_duration": 6,
        "expiration": "time_limit",
        "expiration_at": FUTURE,
    },
    {
        "name": "Percent forever",
        "code": "percent_forever",
        "coupon_type": "percentage",
        "percentage_rate": 12.5,
        "frequency": "forever",
        "expiration": "no_expiration",
        "applies_to": {"plan_codes": ["pro"]},
    },
    {
        "name": "Percent recurring",
        "code": "percent_recurring",
        "coupon_type": "percentage",
        "percentage_rate": 100.0,
        "frequency": "recurring",
        "frequency_duration": 1,
        "expiration": "time_limit",
        "expiration_at": "2999-06-30T12:00:00Z",
        "applies_to": {"billable_metric_codes": ["calls"]},
    },
]


def _assert_coupon_matches(response, sent):
    limits = sent.get("applies_to") or {}
    expected = {
        "name": sent["name"],
        "code": sent["code"],
        "description": sent.get("description"),
        "coupon_type": sent["coupon_type"],
        "amount_cents": sent.get("amount_cents"),
        "amount_currency": sent.get("amount_currency"),
        "percentage_rate": sent.get("percentage_rate"),
        "frequency": sent["frequency"],
        "frequency_duration": sent.get("frequency_duration"),
        "reusable": sent.get("reusable", True),
        "expiration": sent["expiration"],
        "expiration_at": sent.get("expiration_at"),
        "terminated_at": None,
        "plan_codes": limits.get("plan_codes", []),
        "limited_plans": bool(limits.get("plan_codes")),
        "billable_metric_codes": limits.get("billable_metric_codes", []),
        "limited_billable_metrics": bool(limits.get("billable_metric_codes")),
    }
    for field, value in expected.items():
        assert getattr(response, field) == value, field
    assert response.lago_id and response.created_at.endswith("Z")


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("sent", SDK_COUPONS, ids=[c["code"] for c in SDK_COUPONS])
def test_lago_client_round_trip(lago, sent):
    from lago_python_client.exceptions import LagoApiError
    from lago_python_client.models import Coupon as SdkCoupon
    from lago_python_client.models.coupon import LimitationConfiguration

    PlanFactory(organization=lago.organization, code="pro")
    BillableMetricFactory(organization=lago.organization, code="calls")

    def sdk(fields):
        fields = dict(fields)
        if "applies_to" in fields:
            fields["applies_to"] = LimitationConfiguration(**fields["applies_to"])
        return SdkCoupon(**fields)

    created = lago.coupons.create(sdk(sent))
    _assert_coupon_matches(created, sent)
    _assert_coupon_matches(lago.coupons.find(sent["code"]), sent)

    changes = {"name": f"{sent['name']} v2", "description": "updated", "expiration": "no_expiration"}
    updated = lago.coupons.update(sdk(changes), sent["code"])
    expected = {**sent, **changes}
    expected.pop("expiration_at", None)
    _assert_coupon_matches(updated, expected)
    _assert_coupon_matches(lago.coupons.find(sent["code"]), expected)

    page = lago.coupons.find_all({"per_page": 5})
    assert [c.code for c in page["coupons"]] == [sent["code"]]

    assert lago.coupons.destroy(sent["code"]).code == sent["code"]
    with pytest.raises(LagoApiError) as missing:
        lago.coupons.find(sent["code"])
    assert missing.value.status_code == 404


# --- admin ----------------------------------------------------------------------------------------

ADMIN = "/admin/catalog/coupon/"


def admin_payload(organization, **fields):
    data = {
        "organization": str(organization.pk),
        "name": "Deal",
        "code": "deal",
        "description": "",
        "coupon_type": "fixed_amount",
        "amount_cents": "500",
        "amount_currency": "EUR",
        "percentage_rate": "",
        "frequency": "once",
        "frequency_duration": "",
        "reusable": "on",
        "expiration": "no_expiration",
        "expiration_at_0": "",
        "expiration_at_1": "",
    }
    data.update(fields)
    return data


def test_admin_pages_render(admin_client, organization):
    coupon = CouponFactory(organization=organization)
    AppliedCouponFactory(coupon=coupon)
    assert admin_client.get(f"{ADMIN}?q={coupon.code}&coupon_type__exact=fixed_amount").status_code == 200
    assert admin_client.get(f"{ADMIN}add/").status_code == 200
    assert admin_client.get(f"{ADMIN}{coupon.pk}/change/").status_code == 200


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"coupon_type": "percentage"}, "value_is_mandatory"),
        ({"amount_cents": "0"}, "value_is_out_of_range"),
        ({"frequency": "recurring"}, "value_is_mandatory"),
        (
            {"expiration": "time_limit", "expiration_at_0": "2001-01-01", "expiration_at_1": "00:00:00"},
            "invalid_date",
        ),
    ],
)
def test_admin_refuses_what_the_api_refuses(admin_client, organization, fields, message):
    response = admin_client.post(f"{ADMIN}add/", admin_payload(organization, **fields))
    assert response.status_code == 200 and message in response.content.decode()
    assert Coupon.objects.count() == 0


def test_admin_refuses_mixed_or_foreign_limitations(admin_client, organization):
    plan = PlanFactory(organization=organization)
    metric = BillableMetricFactory(organization=organization)
    foreign = PlanFactory(organization=OrganizationFactory())
    both = admin_client.post(
        f"{ADMIN}add/", admin_payload(organization, plans=[str(plan.pk)], billable_metrics=[str(metric.pk)])
    )
    assert "only_one_limitation_type_per_coupon_allowed" in both.content.decode()
    other = admin_client.post(f"{ADMIN}add/", admin_payload(organization, plans=[str(foreign.pk)]))
    assert "plans_not_found" in other.content.decode()
    assert Coupon.objects.count() == 0


def test_admin_saves_limitation_flags_and_delete_terminates_applications(admin_client, organization):
    plan = PlanFactory(organization=organization)
    response = admin_client.post(f"{ADMIN}add/", admin_payload(organization, plans=[str(plan.pk)]))
    assert response.status_code == 302, response.content.decode()[:2000]
    coupon = Coupon.objects.get()
    assert (coupon.limited_plans, coupon.limited_billable_metrics) == (True, False)
    applied = AppliedCouponFactory(coupon=coupon)
    assert admin_client.post(f"{ADMIN}{coupon.pk}/delete/", {"post": "yes"}).status_code == 302
    coupon.refresh_from_db()
    applied.refresh_from_db()
    assert coupon.deleted_at is not None and applied.status == "terminated"
