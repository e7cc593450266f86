"""/invoices endpoints: Lago's shapes, filters, transitions, refusals that change nothing, tenancy."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import pytest

from billing.services import invoices as billing_invoices
from invoicing.models import Invoice
from invoicing.services import create_invoice, update_invoice
from tests.billing.factories import SubscriptionFactory
from tests.catalog.factories import (
    AddOnFactory,
    AppliedCouponFactory,
    ChargeFactory,
    ChargeFilterFactory,
    CouponFactory,
    PlanFactory,
)
from tests.conftest import make_api_client
from tests.customers.factories import CustomerFactory, OrganizationFactory, TaxFactory
from tests.invoicing.factories import (
    InvoiceFactory,
    add_on_fee,
    charge_fee,
    one_off_invoice,
    periodic,
    subscription_fee,
)

pytestmark = pytest.mark.django_db

UTC = dt.UTC

LIST_KEYS = {
    "lago_id", "billing_entity_code", "sequential_id", "number", "issuing_date", "payment_due_date",
    "net_payment_term", "invoice_type", "status", "payment_status", "payment_dispute_lost_at", "payment_overdue",
    "currency", "fees_amount_cents", "taxes_amount_cents", "progressive_billing_credit_amount_cents",
    "coupons_amount_cents", "credit_notes_amount_cents", "sub_total_excluding_taxes_amount_cents",
    "sub_total_including_taxes_amount_cents", "total_amount_cents", "total_due_amount_cents",
    "total_paid_amount_cents", "total_offsetted_credit_note_amount_cents", "prepaid_credit_amount_cents",
    "prepaid_granted_credit_amount_cents", "prepaid_purchased_credit_amount_cents", "file_url", "xml_url",
    "version_number", "self_billed", "created_at", "updated_at", "voided_at", "customer", "metadata",
    "applied_taxes",
}  # fmt: skip
DETAIL_KEYS = LIST_KEYS | {
    "billing_periods", "subscriptions", "fees", "credits", "error_details", "applied_invoice_custom_sections",
}  # fmt: skip


@pytest.fixture(autouse=True)
def no_engine_hook(monkeypatch):
    monkeypatch.setattr(billing_invoices, "_fee_recomputer", lambda: None)


@pytest.fixture
def customer(organization):
    return CustomerFactory(
        organization=organization, external_id="cust_a", name="Alice Corp", email="a@example.com"
    )


@pytest.fixture
def subscription_invoice(organization, customer):
    """A finalized subscription invoice: base fee 10 000 + a filtered, grouped charge 2 500, 20 % tax, a 1 000
    coupon."""
    tax = TaxFactory(organization=organization, code="vat", name="VAT", rate="20")
    plan = PlanFactory(organization=organization, code="premium", name="Premium", amount_cents=10000)
    charge = ChargeFactory(plan=plan, billable_metric__code="api_calls", billable_metric__name="API calls")
    charge_filter = ChargeFilterFactory(
        charge=charge, values={"region": ["eu"]}, invoice_display_name="EU calls"
    )
    subscription = SubscriptionFactory(plan=plan, customer=customer, external_id="sub_1")
    AppliedCouponFactory(
        coupon=CouponFactory(organization=organization, code="welcome", name="Welcome", amount_cents=1000),
        customer=customer,
    )
    return billing_invoices.create_invoice(
        organization=organization,
        customer=customer,
        invoice_type="subscription",
        currency="EUR",
        fees=[
            subscription_fee(subscription, 10000, taxes=[tax]),
            charge_fee(
                subscription,
                charge,
                2500,
                units=Decimal("25"),
                events_count=4,
                taxes=[tax],
                charge_filter=charge_filter,
                grouped_by={"country": "fr"},
                amount_details={"per_unit_total_amount": "25.0"},
            ),
        ],
        issuing_date=dt.date(2024, 2, 1),
        subscription_periods=[periodic(subscription)],
    ).invoice


def test_show_a_finalized_invoice_in_lagos_shape(api, organization, customer, subscription_invoice):
    response = api.get(f"/api/v1/invoices/{subscription_invoice.pk}")
    assert response.status_code == 200
    body = response.json()["invoice"]
    assert set(body) == DETAIL_KEYS
    prefix = organization.document_number_prefix
    assert body["number"] == f"{prefix}-{customer.sequential_id:03d}-001"
    assert body["status"] == "finalized" and body["payment_status"] == "pending"
    assert body["invoice_type"] == "subscription"
    assert (body["fees_amount_cents"], body["coupons_amount_cents"]) == (12500, 1000)
    assert body["sub_total_excluding_taxes_amount_cents"] == 11500
    assert body["taxes_amount_cents"] == 2300
    assert body["sub_total_including_taxes_amount_cents"] == body["total_amount_cents"] == 13800
    assert body["total_due_amount_cents"] == 13800 and body["total_paid_amount_cents"] == 0
    assert body["issuing_date"] == "2024-02-01" and body["payment_due_date"] == "2024-02-01"
    assert body["customer"]["external_id"] == "cust_a"
    assert body["applied_taxes"][0] | {"lago_id": None, "created_at": None, "lago_tax_id": None} == {
        "lago_id": None,
        "lago_invoice_id": str(subscription_invoice.pk),
        "lago_tax_id": None,
        "tax_name": "VAT",
        "tax_code": "vat",
        "tax_rate": 20.0,
        "tax_description": None,
        "amount_cents": 2300,
        "amount_currency": "EUR",
        "fees_amount_cents": 11500,
        "created_at": None,
    }
    assert body["billing_periods"] == [
        {
            "lago_subscription_id": str(subscription_invoice.invoice_subscriptions.get().subscription_id),
            "external_subscription_id": "sub_1",
            "lago_plan_id": body["billing_periods"][0]["lago_plan_id"],
            "subscription_from_datetime": "2024-01-01T00:00:00Z",
            "subscription_to_datetime": "2024-01-31T23:59:59Z",
            "charges_from_datetime": "2024-01-01T00:00:00Z",
            "charges_to_datetime": "2024-01-31T23:59:59Z",
            "invoicing_reason": "subscription_periodic",
        }
    ]
    assert [s["external_id"] for s in body["subscriptions"]] == ["sub_1"]
    assert body["credits"][0]["amount_cents"] == 1000
    assert body["credits"][0]["before_taxes"] is True
    assert body["credits"][0]["item"] | {"lago_item_id": None} == {
        "lago_item_id": None,
        "type": "coupon",
        "code": "welcome",
        "name": "Welcome",
    }
    assert body["credits"][0]["invoice"] == {
        "lago_id": str(subscription_invoice.pk),
        "payment_status": "pending",
    }

    base, usage = sorted(body["fees"], key=lambda f: -f["amount_cents"])
    assert base["item"] | {"lago_item_id": None} == {
        "type": "subscription",
        "code": "premium",
        "name": "Premium",
        "description": None,
        "invoice_display_name": "Premium",
        "filters": None,
        "filter_invoice_display_name": None,
        "lago_item_id": None,
        "item_type": "Subscription",
        "grouped_by": {},
    }
    assert (base["from_date"], base["to_date"]) == ("2024-01-01T00:00:00Z", "2024-01-31T23:59:59Z")
    assert usage["item"]["type"] == "charge" and usage["item"]["code"] == "api_calls"
    assert usage["item"]["item_type"] == "BillableMetric"
    assert usage["item"]["filters"] == {"region": ["eu"]}
    assert usage["item"]["filter_invoice_display_name"] == "EU calls"
    assert usage["item"]["grouped_by"] == {"country": "fr"}
    assert usage["units"] == "25.0" and usage["events_count"] == 4
    assert usage["precise_coupons_amount_cents"] == "200.0"
    assert usage["sub_total_excluding_taxes_amount_cents"] == 2300
    assert usage["taxes_amount_cents"] == 460 and usage["taxes_rate"] == 20.0
    assert usage["total_amount_cents"] == 2960
    assert usage["precise_amount"] == "25" and usage["amount_details"] == {"per_unit_total_amount": "25.0"}
    assert usage["external_subscription_id"] == "sub_1" and usage["external_customer_id"] == "cust_a"
    assert usage["lago_charge_filter_id"] is not None and usage["lago_invoice_id"] == str(
        subscription_invoice.pk
    )
    assert usage["applied_taxes"][0]["amount_cents"] == 460


def test_a_draft_shows_the_draft_number(api, organization, customer):
    draft = one_off_invoice(customer, finalize=False)
    body = api.get(f"/api/v1/invoices/{draft.pk}").json()["invoice"]
    assert body["number"] == f"{organization.document_number_prefix}-DRAFT"
    assert body["status"] == "draft" and body["sequential_id"] is None


@pytest.mark.parametrize("lago_id", ["nope", "123", str(uuid.uuid4()), "%20"])
def test_unknown_or_malformed_ids_are_not_found(api, lago_id):
    for method, path in [
        ("get", ""),
        ("put", "/finalize"),
        ("post", "/void"),
        ("put", "/refresh"),
    ]:
        response = getattr(api, method)(f"/api/v1/invoices/{lago_id}{path}", {}, format="json")
        assert response.status_code == 404, (method, path)
        assert response.json()["code"] == "invoice_not_found"
    response = api.put(
        f"/api/v1/invoices/{lago_id}", {"invoice": {"payment_status": "succeeded"}}, format="json"
    )
    assert response.json()["code"] == "invoice_not_found"


def test_list_shape_and_pagination(api, customer):
    invoices = [one_off_invoice(customer, issuing_date=dt.date(2024, 1, day)) for day in (3, 1, 2)]
    response = api.get("/api/v1/invoices", {"per_page": 2})
    assert response.status_code == 200
    body = response.json()
    assert body["meta"] == {
        "current_page": 1,
        "next_page": 2,
        "prev_page": None,
        "total_pages": 2,
        "total_count": 3,
    }
    assert set(body["invoices"][0]) == LIST_KEYS
    assert [i["issuing_date"] for i in body["invoices"]] == ["2024-01-03", "2024-01-02"]
    page2 = api.get("/api/v1/invoices", {"per_page": 2, "page": 2}).json()["invoices"]
    assert [i["lago_id"] for i in page2] == [str(invoices[1].pk)]


def test_list_filters(api, organization, customer):
    other = CustomerFactory(
        organization=organization, external_id="cust_b", name="Bob", email="bob@example.org"
    )
    small = one_off_invoice(customer, [500], issuing_date=dt.date(2024, 1, 5))
    big = one_off_invoice(customer, [5000], issuing_date=dt.date(2024, 2, 5))
    bobs = one_off_invoice(other, [2000], issuing_date=dt.date(2024, 3, 5))
    draft = one_off_invoice(other, [100], issuing_date=dt.date(2024, 3, 6), finalize=False)
    update_invoice(invoice=big, payment_status="succeeded", metadata=[{"key": "po", "value": "42"}])
    Invoice.objects.filter(pk=bobs.pk).update(payment_overdue=True)
    usd = InvoiceFactory(
        customer=other, currency="USD", invoice_type="credit", issuing_date=dt.date(2023, 1, 1)
    )

    def ids(**params):
        response = api.get("/api/v1/invoices", params)
        assert response.status_code == 200, response.json()
        return {i["lago_id"] for i in response.json()["invoices"]}

    def pks(*invoices):
        return {str(i.pk) for i in invoices}

    assert ids() == pks(small, big, bobs, draft, usd)
    assert ids(external_customer_id="cust_a") == pks(small, big)
    assert ids(amount_from=1000) == pks(big, bobs, usd)
    assert ids(amount_from=1000, amount_to=2000) == pks(bobs, usd)
    assert ids(issuing_date_from="2024-02-01") == pks(big, bobs, draft)
    assert ids(issuing_date_to="2024-02-05") == pks(small, big, usd)
    assert ids(issuing_date_from="garbage") == pks(small, big, bobs, draft, usd)  # Lago ignores it
    assert ids(**{"statuses[]": ["draft"]}) == pks(draft)
    assert ids(**{"statuses[]": ["draft", "finalized"]}) == pks(small, big, bobs, draft, usd)
    assert ids(**{"statuses[]": ["bogus"]}) == set()
    assert ids(**{"payment_statuses[]": ["succeeded"]}) == pks(big)
    assert ids(payment_overdue="true") == pks(bobs)
    assert ids(payment_overdue="false") == pks(small, big, draft, usd)
    assert ids(search_term="bob@") == pks(bobs, draft, usd)
    assert ids(search_term="ALICE") == pks(small, big)
    assert ids(search_term=big.number) == pks(big)
    assert ids(search_term=str(small.pk).upper()) == pks(small)
    assert ids(search_term="cust_b") == pks(bobs, draft, usd)
    assert ids(currency="USD") == pks(usd)
    assert ids(invoice_type="credit") == pks(usd)
    assert ids(**{"metadata[po]": "42"}) == pks(big)
    assert ids(**{"metadata[po]": "43"}) == set()
    assert ids(**{"metadata[po]": ""}) == pks(small, bobs, draft, usd)
    assert ids(payment_dispute_lost="true") == set()
    assert ids(self_billed="false") == pks(small, big, bobs, draft, usd)


@pytest.mark.parametrize(
    "params", [{"amount_from": "abc"}, {"amount_to": "1e400"}, {"amount_from": "99999999999999999999999"}]
)
def test_list_refuses_malformed_amounts(api, params):
    response = api.get("/api/v1/invoices", params)
    assert response.status_code == 422
    assert response.json()["code"] == "validation_errors"


def test_update_payment_status_and_metadata(api, customer):
    invoice = one_off_invoice(customer, [1500])
    response = api.put(
        f"/api/v1/invoices/{invoice.pk}",
        {"invoice": {"payment_status": "succeeded", "metadata": [{"key": "po", "value": "A-1"}]}},
        format="json",
    )
    assert response.status_code == 200, response.json()
    body = response.json()["invoice"]
    assert body["payment_status"] == "succeeded"
    assert body["total_paid_amount_cents"] == 1500 and body["total_due_amount_cents"] == 0
    assert [(m["key"], m["value"]) for m in body["metadata"]] == [("po", "A-1")]
    assert body["fees"][0]["payment_status"] == "succeeded"
    entry_id = body["metadata"][0]["lago_id"]
    response = api.put(
        f"/api/v1/invoices/{invoice.pk}",
        {"invoice": {"metadata": [{"id": entry_id, "key": "po", "value": "A-2"}]}},
        format="json",
    )
    assert [(m["lago_id"], m["value"]) for m in response.json()["invoice"]["metadata"]] == [(entry_id, "A-2")]


@pytest.mark.parametrize(
    ("payload", "details"),
    [
        ({"payment_status": "paid"}, {"payment_status": ["value_is_invalid"]}),
        ({"payment_status": None}, {"payment_status": ["value_is_invalid"]}),
        ({"payment_status": 12}, {"payment_status": ["value_is_invalid"]}),
        ({"payment_status": {"a": 1}}, {"payment_status": ["value_is_invalid"]}),
        ({"metadata": "po"}, {"metadata": {"non_field_errors": ["value_is_invalid"]}}),
        ({"metadata": [{"key": "po"}]}, {"metadata": {"0": {"value": ["value_is_mandatory"]}}}),
        ({"metadata": [{"key": {"x": 1}, "value": "1"}]}, {"metadata": {"0": {"key": ["value_is_invalid"]}}}),
        ({"metadata": [{"key": "k" * 21, "value": "1"}]}, {"key": ["value_is_too_long"]}),
        ({"metadata": [{"key": f"k{i}", "value": "v"} for i in range(6)]}, {"metadata": ["invalid_count"]}),
    ],
)
def test_update_refusals_change_nothing(api, customer, payload, details):
    invoice = one_off_invoice(customer)
    response = api.put(f"/api/v1/invoices/{invoice.pk}", {"invoice": payload}, format="json")
    assert response.status_code == 422
    assert response.json()["error_details"] == details
    stored = Invoice.objects.get(pk=invoice.pk)
    assert (stored.payment_status, stored.metadata) == ("pending", [])


def test_update_needs_the_root_key_and_refuses_drafts(api, customer):
    invoice = one_off_invoice(customer)
    assert (
        api.put(f"/api/v1/invoices/{invoice.pk}", {"payment_status": "succeeded"}, format="json").status_code
        == 400
    )
    draft = one_off_invoice(customer, finalize=False)
    response = api.put(
        f"/api/v1/invoices/{draft.pk}", {"invoice": {"payment_status": "failed"}}, format="json"
    )
    assert (response.status_code, response.json()["code"]) == (405, "payment_status_update_on_draft_invoice")
    response = api.put(
        f"/api/v1/invoices/{draft.pk}", {"invoice": {"metadata": [{"key": "a", "value": "b"}]}}, format="json"
    )
    assert (response.status_code, response.json()["code"]) == (405, "metadata_on_draft_invoice")
    assert Invoice.objects.get(pk=draft.pk).payment_status == "pending"


def test_finalize_a_draft_applies_coupons(api, organization, customer):
    applied = AppliedCouponFactory(
        coupon=CouponFactory(organization=organization, amount_cents=300), customer=customer
    )
    draft = one_off_invoice(customer, [1000], finalize=False)
    response = api.put(f"/api/v1/invoices/{draft.pk}/finalize")
    assert response.status_code == 200, response.json()
    body = response.json()["invoice"]
    assert body["status"] == "finalized" and body["sequential_id"] == 1
    assert body["number"].endswith("-001") and not body["number"].endswith("DRAFT")
    assert (body["coupons_amount_cents"], body["total_amount_cents"]) == (300, 700)
    applied.refresh_from_db()
    assert applied.status == "terminated"
    # Lago looks finalize targets up among drafts only.
    again = api.put(f"/api/v1/invoices/{draft.pk}/finalize")
    assert (again.status_code, again.json()["code"]) == (404, "invoice_not_found")


def test_void(api, organization, customer):
    applied = AppliedCouponFactory(
        coupon=CouponFactory(organization=organization, amount_cents=300), customer=customer
    )
    invoice = one_off_invoice(customer, [1000], finalize=False)
    billing_invoices.finalize_invoice(invoice=invoice)
    response = api.post(f"/api/v1/invoices/{invoice.pk}/void")
    assert response.status_code == 200, response.json()
    body = response.json()["invoice"]
    assert (
        body["status"] == "voided" and body["voided_at"] is not None and body["total_due_amount_cents"] == 0
    )
    applied.refresh_from_db()
    assert applied.status == "active"
    again = api.post(f"/api/v1/invoices/{invoice.pk}/void")
    assert (again.status_code, again.json()["code"]) == (405, "not_voidable")
    draft = one_off_invoice(customer, finalize=False)
    refused = api.post(f"/api/v1/invoices/{draft.pk}/void")
    assert (refused.status_code, refused.json()["code"]) == (405, "not_voidable")


def test_void_options(api, customer):
    invoice = one_off_invoice(customer)
    response = api.post(f"/api/v1/invoices/{invoice.pk}/void", {"generate_credit_note": True}, format="json")
    assert (response.status_code, response.json()["code"]) == (403, "feature_unavailable")
    response = api.post(f"/api/v1/invoices/{invoice.pk}/void", {"refund_amount": "lots"}, format="json")
    assert response.status_code == 422
    response = api.post(f"/api/v1/invoices/{invoice.pk}/void", ["odd"], format="json")
    assert response.status_code == 200 and response.json()["invoice"]["status"] == "voided"


def test_refresh(api, organization, customer):
    organization.invoice_grace_period = 3
    organization.save()
    subscription = SubscriptionFactory(plan=PlanFactory(organization=organization), customer=customer)
    draft = create_invoice(
        organization=organization,
        customer=customer,
        invoice_type="subscription",
        currency="EUR",
        fees=[subscription_fee(subscription, 1000)],
        issuing_date=dt.date(2024, 2, 1),
        subscription_periods=[periodic(subscription)],
    ).invoice
    response = api.put(f"/api/v1/invoices/{draft.pk}/refresh")
    assert response.status_code == 200
    assert response.json()["invoice"]["status"] == "draft"
    assert response.json()["invoice"]["total_amount_cents"] == 1000
    finalized = one_off_invoice(customer)
    refused = api.put(f"/api/v1/invoices/{finalized.pk}/refresh")
    assert (refused.status_code, refused.json()["code"]) == (405, "invoice_not_draft")


def test_another_organizations_invoices_are_invisible(api, customer):
    mine = one_off_invoice(customer)
    other_org = OrganizationFactory()
    theirs = one_off_invoice(CustomerFactory(organization=other_org, external_id="cust_a"))
    assert [i["lago_id"] for i in api.get("/api/v1/invoices").json()["invoices"]] == [str(mine.pk)]
    assert [
        i["lago_id"]
        for i in api.get("/api/v1/invoices", {"external_customer_id": "cust_a"}).json()["invoices"]
    ] == [str(mine.pk)]
    assert api.get(f"/api/v1/invoices/{theirs.pk}").status_code == 404
    assert (
        api.put(
            f"/api/v1/invoices/{theirs.pk}", {"invoice": {"payment_status": "succeeded"}}, format="json"
        ).status_code
        == 404
    )
    assert api.post(f"/api/v1/invoices/{theirs.pk}/void").status_code == 404
    assert api.put(f"/api/v1/invoices/{theirs.pk}/refresh").status_code == 404
    theirs.refresh_from_db()
    assert (theirs.status, theirs.payment_status) == ("finalized", "pending")
    their_api = make_api_client(other_org)
    assert [i["lago_id"] for i in their_api.get("/api/v1/invoices").json()["invoices"]] == [str(theirs.pk)]


def test_requires_authentication(client):
    assert client.get("/api/v1/invoices").status_code == 401


def test_invoice_with_tax_and_add_on_fee_item(api, organization, customer):
    add_on = AddOnFactory(
        organization=organization, code="setup", name="Setup", invoice_display_name="Setup fee"
    )
    tax = TaxFactory(organization=organization, code="vat", rate="5.5")
    invoice = create_invoice(
        organization=organization,
        customer=customer,
        invoice_type="one_off",
        currency="EUR",
        fees=[add_on_fee(add_on, 1999, taxes=[tax])],
        issuing_date=dt.date(2024, 1, 1),
    ).invoice
    fee = api.get(f"/api/v1/invoices/{invoice.pk}").json()["invoice"]["fees"][0]
    assert fee["item"]["code"] == "setup" and fee["item"]["item_type"] == "AddOn"
    assert fee["item"]["invoice_display_name"] == "Setup fee"
    assert fee["item"]["lago_item_id"] == str(add_on.pk)
    # 1999 × 5.5 % = 109.945 → 110
    assert (fee["taxes_amount_cents"], fee["taxes_precise_amount"], fee["total_amount_cents"]) == (
        110,
        "1.09945",
        2109,
    )
