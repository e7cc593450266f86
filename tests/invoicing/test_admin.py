"""Invoice and fee back office: pages render, actions go through billing.services.invoices."""

from __future__ import annotations

import pytest

from billing.services import invoices as billing_invoices
from invoicing.models import Fee, Invoice
from tests.catalog.factories import AppliedCouponFactory, CouponFactory
from tests.customers.factories import CustomerFactory
from tests.invoicing.factories import one_off_invoice

pytestmark = pytest.mark.django_db

INVOICES = "/admin/invoicing/invoice/"
FEES = "/admin/invoicing/fee/"


@pytest.fixture(autouse=True)
def no_engine_hook(monkeypatch):
    monkeypatch.setattr(billing_invoices, "_fee_recomputer", lambda: None)


def test_pages_render(admin_client, organization):
    customer = CustomerFactory(organization=organization, name="Acme")
    invoice = one_off_invoice(customer)
    draft = one_off_invoice(customer, finalize=False)
    assert admin_client.get(INVOICES).status_code == 200
    assert (
        admin_client.get(f"{INVOICES}?q=acme&status__exact=finalized&payment_overdue__exact=0").status_code
        == 200
    )
    assert admin_client.get(f"{INVOICES}{invoice.pk}/change/").status_code == 200
    assert admin_client.get(f"{INVOICES}{draft.pk}/change/").status_code == 200
    assert admin_client.get(FEES).status_code == 200
    assert (
        admin_client.get(f"{FEES}{Fee.objects.filter(invoice=invoice).get().pk}/change/").status_code == 200
    )
    assert admin_client.get(f"{INVOICES}add/").status_code == 403


def test_actions_finalize_and_void_through_the_billing_services(admin_client, organization):
    customer = CustomerFactory(organization=organization)
    applied = AppliedCouponFactory(
        coupon=CouponFactory(organization=organization, amount_cents=100), customer=customer
    )
    draft = one_off_invoice(customer, [1000], finalize=False)
    admin_client.post(INVOICES, {"action": "finalize", "_selected_action": [str(draft.pk)]})
    draft.refresh_from_db()
    assert (draft.status, draft.coupons_amount_cents) == ("finalized", 100)
    admin_client.post(INVOICES, {"action": "void", "_selected_action": [str(draft.pk)]})
    draft.refresh_from_db()
    applied.refresh_from_db()
    assert draft.status == "voided" and applied.status == "active"
    # A refused act is reported, not raised.
    response = admin_client.post(
        INVOICES, {"action": "void", "_selected_action": [str(draft.pk)]}, follow=True
    )
    assert response.status_code == 200
    assert Invoice.objects.get(pk=draft.pk).status == "voided"
