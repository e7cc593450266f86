"""Wire compatibility of /invoices and /fees with the official lago-python-client against a live Tollbooth."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from lago_python_client.exceptions import LagoApiError
from lago_python_client.models.invoice import Invoice as InvoiceInput
from lago_python_client.models.invoice import InvoiceMetadata, InvoiceMetadataList

from billing.services import invoices as billing_invoices
from invoicing.services import create_invoice
from tests.billing.factories import SubscriptionFactory
from tests.catalog.factories import AppliedCouponFactory, ChargeFactory, CouponFactory, PlanFactory
from tests.customers.factories import CustomerFactory, TaxFactory
from tests.invoicing.factories import charge_fee, one_off_invoice, periodic, subscription_fee

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def no_engine_hook(monkeypatch):
    monkeypatch.setattr(billing_invoices, "_fee_recomputer", lambda: None)


@pytest.fixture
def invoices(lago):
    organization = lago.organization
    organization.invoice_grace_period = 2
    organization.save()
    customer = CustomerFactory(organization=organization, external_id="sdk_cust", currency="EUR")
    tax = TaxFactory(organization=organization, code="vat", rate="10")
    plan = PlanFactory(organization=organization, code="sdk_plan", amount_cents=5000)
    charge = ChargeFactory(plan=plan, billable_metric__code="sdk_metric")
    subscription = SubscriptionFactory(plan=plan, customer=customer, external_id="sdk_sub")
    AppliedCouponFactory(coupon=CouponFactory(organization=organization, amount_cents=500), customer=customer)
    draft = create_invoice(
        organization=organization,
        customer=customer,
        invoice_type="subscription",
        currency="EUR",
        fees=[
            subscription_fee(subscription, 5000, taxes=[tax]),
            charge_fee(subscription, charge, 1200, units=Decimal(12), events_count=2, taxes=[tax]),
        ],
        issuing_date=dt.date(2024, 2, 1),
        subscription_periods=[periodic(subscription)],
    ).invoice
    one_off = one_off_invoice(customer, [800])
    return {"draft": draft, "one_off": one_off, "organization": organization}


def test_invoices_round_trip(lago, invoices):
    draft, one_off = invoices["draft"], invoices["one_off"]
    prefix = invoices["organization"].document_number_prefix

    found = lago.invoices.find(str(draft.pk))
    assert found.lago_id == str(draft.pk) and found.status == "draft" and found.number == f"{prefix}-DRAFT"
    assert (
        found.fees_amount_cents == 6200
        and found.taxes_amount_cents == 620
        and found.total_amount_cents == 6820
    )
    assert found.billing_periods.__root__[0].external_subscription_id == "sdk_sub"
    assert found.customer.external_id == "sdk_cust"
    assert found.subscriptions.__root__[0].external_id == "sdk_sub"
    assert {fee.item.code for fee in found.fees.__root__} == {"sdk_plan", "sdk_metric"}

    page = lago.invoices.find_all({"external_customer_id": "sdk_cust", "per_page": 1})
    assert page["meta"]["total_count"] == 2 and len(page["invoices"]) == 1
    drafts = lago.invoices.find_all({"statuses[]": ["draft"]})
    assert [invoice.lago_id for invoice in drafts["invoices"]] == [str(draft.pk)]

    finalized = lago.invoices.finalize(str(draft.pk))
    assert finalized.status == "finalized" and finalized.number != f"{prefix}-DRAFT"
    assert finalized.coupons_amount_cents == 500
    assert finalized.total_amount_cents == 6820 - 500 - 50
    assert finalized.credits.__root__[0].item.type == "coupon"
    assert finalized.credits.__root__[0].amount_cents == 500 and finalized.credits.__root__[0].before_taxes

    paid = lago.invoices.update(
        InvoiceInput(
            payment_status="succeeded",
            metadata=InvoiceMetadataList(__root__=[InvoiceMetadata(key="po", value="PO-7")]),
        ),
        str(one_off.pk),
    )
    assert paid.payment_status == "succeeded" and paid.total_due_amount_cents == 0
    assert paid.metadata.__root__[0].key == "po" and paid.metadata.__root__[0].value == "PO-7"

    voided = lago.invoices.void(str(finalized.lago_id))
    assert voided.status == "voided" and voided.voided_at is not None

    with pytest.raises(LagoApiError) as refused:
        lago.invoices.void(str(finalized.lago_id))
    assert refused.value.status_code == 405
    with pytest.raises(LagoApiError) as missing:
        lago.invoices.find("not-a-uuid")
    assert missing.value.status_code == 404


def test_fees_round_trip(lago, invoices):
    draft = invoices["draft"]
    page = lago.fees.find_all({"external_subscription_id": "sdk_sub"})
    assert page["meta"]["total_count"] == 2
    charge = next(fee for fee in page["fees"] if fee.item.type == "charge")
    assert charge.lago_invoice_id == str(draft.pk) and charge.units == "12.0" and charge.events_count == 2
    assert charge.taxes_amount_cents == 120 and charge.total_amount_cents == 1320

    found = lago.fees.find(charge.lago_id)
    assert found.lago_id == charge.lago_id and found.item.code == "sdk_metric"
    assert found.applied_taxes.__root__[0].tax_code == "vat"
    assert [fee.lago_id for fee in lago.fees.find_all({"fee_type": "charge"})["fees"]] == [charge.lago_id]
    with pytest.raises(LagoApiError) as missing:
        lago.fees.find("00000000-0000-0000-0000-000000000000")
    assert missing.value.status_code == 404
