"""POST /invoices/preview: what the engine would bill, written nowhere."""

import datetime as dt

import pytest

from billing.models import AppliedCoupon, Subscription
from customers.models import Customer
from invoicing.models import Fee, Invoice
from tests.billing.factories import sandbox_organization
from tests.catalog.factories import CouponFactory, PlanFactory
from tests.conftest import make_api_client
from tests.customers.factories import TaxFactory

pytestmark = pytest.mark.django_db


def counts():
    return (
        Invoice.objects.count(),
        Fee.objects.count(),
        Customer.objects.count(),
        Subscription.objects.count(),
        AppliedCoupon.objects.count(),
    )


@pytest.fixture
def sandbox():
    organization, _ = sandbox_organization(dt.datetime(2024, 3, 11, 10, tzinfo=dt.UTC))
    return organization, make_api_client(organization)


def test_preview_for_a_new_customer_and_plan_with_a_coupon_writes_nothing(sandbox):
    organization, api = sandbox
    TaxFactory(organization=organization, code="vat", rate="20", applied_to_organization=True)
    PlanFactory(
        organization=organization, code="pro", interval="monthly", amount_cents=3100, pay_in_advance=True
    )
    CouponFactory(organization=organization, code="welcome", amount_cents=500)
    before = counts()
    response = api.post(
        "/api/v1/invoices/preview",
        {
            "customer": {"external_id": "newcomer", "currency": "EUR"},
            "plan_code": "pro",
            "coupons": [{"code": "welcome"}],
        },
        format="json",
    )
    assert response.status_code == 200, response.json()
    invoice = response.json()["invoice"]
    # Calendar start on March 11: 21 of 31 days of 3 100 = 2 100; coupon 500; 20 % tax on 1 600.
    assert invoice["fees_amount_cents"] == 2100
    assert invoice["coupons_amount_cents"] == 500
    assert invoice["taxes_amount_cents"] == 320
    assert invoice["total_amount_cents"] == 1920
    assert invoice["number"].endswith("-DRAFT")
    assert counts() == before


def test_preview_of_an_existing_subscription_next_invoice(sandbox):
    organization, api = sandbox
    plan = PlanFactory(
        organization=organization, code="basic", interval="monthly", amount_cents=1000, pay_in_advance=False
    )
    api.post("/api/v1/customers", {"customer": {"external_id": "c1", "currency": "EUR"}}, format="json")
    created = api.post(
        "/api/v1/subscriptions",
        {"subscription": {"external_customer_id": "c1", "plan_code": plan.code, "external_id": "s1",
                          "subscription_at": "2024-03-01T00:00:00Z"}},
        format="json",
    )  # fmt: skip
    assert created.status_code == 200, created.json()
    before = counts()
    response = api.post(
        "/api/v1/invoices/preview",
        {"customer": {"external_id": "c1"}, "subscriptions": {"external_ids": ["s1"]}},
        format="json",
    )
    assert response.status_code == 200, response.json()
    assert response.json()["invoice"]["fees_amount_cents"] == 1000
    assert counts() == before


def test_preview_errors(sandbox):
    _, api = sandbox
    missing = api.post(
        "/api/v1/invoices/preview", {"customer": {"external_id": "x"}, "plan_code": "nope"}, format="json"
    )
    assert missing.status_code == 404 and missing.json()["code"] == "plan_not_found"
    no_customer = api.post("/api/v1/invoices/preview", {"plan_code": "nope"}, format="json")
    assert no_customer.status_code == 422
    assert Customer.objects.count() == 0
