"""Credit notes (billing-semantics §7): amounts, numbering, statuses following the invoice, limits; their
consumption by later invoices (§6.4); and the read-only API (findAllCreditNotes, findCreditNote)."""

from __future__ import annotations

import datetime as dt
import threading
from decimal import Decimal

import pytest
from django.db import connection

from billing.services import invoices as billing_invoices
from config import errors
from invoicing.credit_notes import available_credit_notes, create_credit_note
from invoicing.models import Credit, CreditNote, CreditNoteItem, Fee, Invoice
from tests.billing.factories import SubscriptionFactory
from tests.catalog.factories import AppliedCouponFactory, CouponFactory, PlanFactory
from tests.conftest import make_api_client
from tests.customers.factories import CustomerFactory, OrganizationFactory, TaxFactory
from tests.invoicing.factories import one_off_invoice, periodic, subscription_fee

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def no_engine_hook(monkeypatch):
    """Invoices here are built by hand: a refresh keeps their fees (no engine recomputation)."""
    monkeypatch.setattr(billing_invoices, "_fee_recomputer", lambda: None)


def subscription_invoice(customer, amounts, *, taxes=(), currency="EUR", finalize=None, day=1):
    """A subscription invoice of base fees through billing (coupons and credit notes apply when finalized)."""
    subscription = SubscriptionFactory(
        plan=PlanFactory(organization=customer.organization, amount_currency=currency),
        organization=customer.organization,
        customer=customer,
    )
    return billing_invoices.create_invoice(
        organization=customer.organization,
        customer=customer,
        invoice_type="subscription",
        currency=currency,
        fees=[subscription_fee(subscription, amount, taxes=taxes) for amount in amounts],
        issuing_date=dt.date(2024, 2, day),
        subscription_periods=[periodic(subscription, dt.datetime(2024, 2, day, tzinfo=dt.UTC))],
        finalize=finalize,
    ).invoice


def only_fee(invoice) -> Fee:
    return Fee.objects.prefetch_related("applied_taxes").get(invoice=invoice)


def credit(invoice, amount, total=None, **kwargs) -> CreditNote:
    fee = only_fee(invoice)
    return create_credit_note(
        invoice=invoice,
        reason=kwargs.pop("reason", "other"),
        items=[(fee, amount)],
        credit_amount_cents=amount if total is None else total,
        **kwargs,
    )


@pytest.fixture
def customer():
    return CustomerFactory(organization=OrganizationFactory(), currency="EUR")


# --------------------------------------------------------------------------------------------------------------
# Amounts, numbers, statuses
# --------------------------------------------------------------------------------------------------------------


def test_a_note_removes_taxes_per_code_and_is_numbered_after_its_invoice(customer):
    tax = TaxFactory(organization=customer.organization, code="vat", rate="20.00")
    invoice = subscription_invoice(customer, [5000], taxes=[tax])
    fee = only_fee(invoice)
    # Ex 4.6: 20 unused days of 28 → 3571.43 excl. taxes; credit round(4285.71) → rounding fix → 4285.
    note = create_credit_note(
        invoice=invoice,
        reason="order_cancellation",
        items=[(fee, Decimal("3571.42857"))],
        credit_amount_cents=4286,
    )
    assert (note.status, note.credit_status, note.refund_status) == ("finalized", "available", None)
    assert (note.number, note.sequential_id) == (f"{invoice.number}-CN001", 1)
    assert note.sub_total_excluding_taxes_amount_cents == 3571
    assert (note.taxes_amount_cents, note.total_amount_cents, note.credit_amount_cents) == (714, 4285, 4285)
    assert note.balance_amount_cents == 4285 and note.taxes_rate == Decimal("20.00000")
    [item] = note.items.all()
    assert (item.fee_id, item.amount_cents, item.precise_amount_cents) == (
        fee.pk,
        3571,
        Decimal("3571.42857"),
    )
    [applied] = note.applied_taxes.all()
    assert (applied.tax_code, applied.tax_id, applied.amount_cents, applied.base_amount_cents) == (
        "vat",
        tax.pk,
        714,
        3571,
    )

    second = credit(invoice, 100, 120)
    assert (second.number, second.sequential_id) == (f"{invoice.number}-CN002", 2)


def test_the_coupon_share_of_the_fee_is_not_credited(customer):
    tax = TaxFactory(organization=customer.organization, rate="20.00")
    AppliedCouponFactory(
        coupon=CouponFactory(organization=customer.organization, amount_cents=2000), customer=customer
    )
    invoice = subscription_invoice(customer, [10000], taxes=[tax])
    assert invoice.coupons_amount_cents == 2000
    note = credit(invoice, 5000, 4800)
    # coupon adjustment 5000 × 2000/10000 = 1000; sub-total 4000; taxes 800.
    assert note.coupons_adjustment_amount_cents == 1000
    assert (note.sub_total_excluding_taxes_amount_cents, note.taxes_amount_cents) == (4000, 800)
    assert note.total_amount_cents == 4800


def test_a_note_on_a_draft_invoice_is_a_draft_finalized_with_it(customer):
    customer.invoice_grace_period = 2
    customer.save()
    AppliedCouponFactory(
        coupon=CouponFactory(organization=customer.organization, amount_cents=1000), customer=customer
    )
    draft = subscription_invoice(customer, [4000])
    assert draft.status == "draft"
    note = credit(draft, 2000)
    assert (note.status, note.number, note.coupons_adjustment_amount_cents) == ("draft", "", 0)
    assert available_credit_notes(customer, "EUR", lock=False) == []

    finalized = billing_invoices.finalize_invoice(invoice=draft).invoice
    note.refresh_from_db()
    assert (note.status, note.number) == ("finalized", f"{finalized.number}-CN001")
    assert note.finalized_at is not None
    # The coupon applied at finalization: 2000 × 1000/4000 = 500 of the item is the coupon's.
    assert note.coupons_adjustment_amount_cents == 500
    assert (note.total_amount_cents, note.credit_amount_cents, note.balance_amount_cents) == (
        1500,
        1500,
        1500,
    )
    assert finalized.credit_notes_amount_cents == 0  # a note is never consumed by its own invoice


@pytest.mark.parametrize(
    ("amount", "total", "kwargs", "error"),
    [
        (1000, 1500, {}, {"base": ["does_not_match_item_amounts"]}),
        (5001, 5001, {}, {"amount_cents": ["higher_than_remaining_fee_amount"]}),
        (0, 0, {}, {"base": ["total_amount_must_be_positive"]}),
        (1000, 0, {"refund_amount_cents": 1000}, {"refund_amount_cents": ["cannot_refund_unpaid_invoice"]}),
        (1000, 1000, {"reason": "because"}, {"reason": ["value_is_invalid"]}),
        (1000, -1, {}, {"credit_amount_cents": ["value_is_invalid"]}),
    ],
)
def test_refused_notes_change_nothing(customer, amount, total, kwargs, error):
    invoice = subscription_invoice(customer, [5000])
    with pytest.raises(errors.ValidationFailed) as refused:
        credit(invoice, amount, total, **kwargs)
    assert refused.value.error_details == error
    assert CreditNote.objects.count() == 0 and CreditNoteItem.objects.count() == 0


def test_earlier_items_reduce_what_a_fee_can_still_be_credited(customer):
    invoice = subscription_invoice(customer, [5000])
    credit(invoice, 3000)
    with pytest.raises(errors.ValidationFailed) as refused:
        credit(invoice, 2001)
    assert refused.value.error_details == {"amount_cents": ["higher_than_remaining_fee_amount"]}
    assert credit(invoice, 2000).total_amount_cents == 2000


def test_a_fee_of_another_invoice_or_a_voided_invoice_is_refused(customer):
    invoice = subscription_invoice(customer, [5000])
    other = subscription_invoice(customer, [5000], day=2)
    with pytest.raises(errors.ValidationFailed) as refused:
        create_credit_note(
            invoice=invoice, reason="other", items=[(only_fee(other), 100)], credit_amount_cents=100
        )
    assert refused.value.error_details == {"fee_id": ["fee_not_found"]}
    billing_invoices.void_invoice(invoice=invoice)
    with pytest.raises(errors.NotAllowed):
        credit(invoice, 100)
    assert CreditNote.objects.count() == 0


# --------------------------------------------------------------------------------------------------------------
# Consumption on later invoices (§6.4)
# --------------------------------------------------------------------------------------------------------------


def test_notes_are_consumed_oldest_first_and_keep_what_is_left(customer):
    invoices = [subscription_invoice(customer, [5000], day=day) for day in (1, 2)]
    first = credit(invoices[0], 3000)
    second = credit(invoices[1], 4000)

    invoice = subscription_invoice(customer, [5000], day=3)
    assert (invoice.credit_notes_amount_cents, invoice.total_amount_cents) == (5000, 0)
    assert invoice.payment_status == "succeeded"
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.balance_amount_cents, first.credit_status) == (0, "consumed")
    assert (second.balance_amount_cents, second.credit_status) == (2000, "available")
    credits = {
        c.credit_note_id: (c.amount_cents, c.before_taxes) for c in Credit.objects.filter(invoice=invoice)
    }
    assert credits == {first.pk: (3000, False), second.pk: (2000, False)}

    later = subscription_invoice(customer, [1500], day=4)
    assert (later.credit_notes_amount_cents, later.total_amount_cents) == (1500, 0)
    second.refresh_from_db()
    assert (second.balance_amount_cents, second.credit_status) == (500, "available")


def test_credit_notes_apply_after_taxes(customer):
    tax = TaxFactory(organization=customer.organization, rate="20.00")
    credit(subscription_invoice(customer, [10000]), 5000)
    invoice = subscription_invoice(customer, [10000], taxes=[tax], day=2)
    assert invoice.sub_total_including_taxes_amount_cents == 12000
    assert (invoice.credit_notes_amount_cents, invoice.total_amount_cents) == (5000, 7000)


def test_notes_in_another_currency_one_off_invoices_and_drafts_do_not_consume(customer):
    note = credit(subscription_invoice(customer, [5000]), 3000)
    usd = subscription_invoice(customer, [1000], currency="USD", day=2)
    assert usd.credit_notes_amount_cents == 0 and usd.total_amount_cents == 1000
    one_off = one_off_invoice(customer, [1000])
    assert one_off.credit_notes_amount_cents == 0
    draft = subscription_invoice(customer, [1000], finalize=False, day=3)
    assert draft.credit_notes_amount_cents == 0
    note.refresh_from_db()
    assert note.balance_amount_cents == 3000

    # Finalizing the draft later consumes it.
    finalized = billing_invoices.finalize_invoice(invoice=draft).invoice
    assert (finalized.credit_notes_amount_cents, finalized.total_amount_cents) == (1000, 0)
    note.refresh_from_db()
    assert note.balance_amount_cents == 2000


@pytest.mark.django_db(transaction=True)
def test_two_invoices_finalized_at_once_never_consume_more_than_the_balance():
    customer = CustomerFactory(organization=OrganizationFactory(), currency="EUR")
    note = credit(subscription_invoice(customer, [5000]), 3000)
    drafts = [subscription_invoice(customer, [2000], finalize=False, day=day) for day in (2, 3)]
    barrier = threading.Barrier(2)
    failures = []

    def finalize(invoice):
        try:
            barrier.wait()
            billing_invoices.finalize_invoice(invoice=Invoice.objects.get(pk=invoice.pk))
        except Exception as exc:
            failures.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=finalize, args=(draft,)) for draft in drafts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    note.refresh_from_db()
    consumed = sorted(
        Invoice.objects.filter(pk__in=[d.pk for d in drafts]).values_list(
            "credit_notes_amount_cents", flat=True
        )
    )
    assert consumed == [1000, 2000]
    assert (note.balance_amount_cents, note.credit_status) == (0, "consumed")
    assert sum(Credit.objects.filter(credit_note=note).values_list("amount_cents", flat=True)) == 3000


# --------------------------------------------------------------------------------------------------------------
# API
# --------------------------------------------------------------------------------------------------------------


@pytest.fixture
def notes(organization):
    customer = CustomerFactory(organization=organization, external_id="cn_cust", currency="EUR")
    tax = TaxFactory(organization=organization, code="vat", rate="20.00")
    invoice = subscription_invoice(customer, [5000], taxes=[tax])
    first = credit(invoice, 1000, 1200, reason="order_cancellation", description="unused days")
    second = credit(invoice, 500, 600)
    customer.invoice_grace_period = 2
    customer.save()
    draft_note = credit(subscription_invoice(customer, [1000], day=2), 100)
    return {"invoice": invoice, "first": first, "second": second, "draft": draft_note}


def test_find_credit_note(api, notes):
    first, invoice = notes["first"], notes["invoice"]
    response = api.get(f"/api/v1/credit_notes/{first.pk}")
    assert response.status_code == 200
    body = response.json()["credit_note"]
    assert body["lago_id"] == str(first.pk) and body["number"] == f"{invoice.number}-CN001"
    assert (body["lago_invoice_id"], body["invoice_number"]) == (str(invoice.pk), invoice.number)
    assert (body["reason"], body["description"], body["credit_status"], body["refund_status"]) == (
        "order_cancellation",
        "unused days",
        "available",
        None,
    )
    assert body["total_amount_cents"] == 1200 and body["taxes_amount_cents"] == 200
    assert body["sub_total_excluding_taxes_amount_cents"] == 1000 and body["balance_amount_cents"] == 1200
    assert (body["refund_amount_cents"], body["offset_amount_cents"], body["taxes_rate"]) == (0, 0, 20.0)
    assert body["issuing_date"] == first.issuing_date.isoformat()
    [item] = body["items"]
    assert item["amount_cents"] == 1000 and item["fee"]["lago_id"] == str(only_fee(invoice).pk)
    [applied] = body["applied_taxes"]
    assert (applied["tax_code"], applied["amount_cents"], applied["base_amount_cents"]) == ("vat", 200, 1000)
    assert body["customer"]["external_id"] == "cn_cust"


def test_find_all_credit_notes_with_filters(api, notes):
    def ids(params=None):
        response = api.get("/api/v1/credit_notes", params or {})
        assert response.status_code == 200
        return [note["lago_id"] for note in response.json()["credit_notes"]]

    first, second = str(notes["first"].pk), str(notes["second"].pk)
    assert ids() == [second, first]  # newest first; the draft note is not shown
    assert ids({"reason": "order_cancellation"}) == [first]
    assert ids({"credit_status": "consumed"}) == []
    assert ids({"invoice_number": notes["invoice"].number}) == [second, first]
    assert ids({"external_customer_id": "cn_cust", "amount_from": 1000}) == [first]
    assert ids({"amount_to": 600}) == [second]
    assert ids({"search_term": "CN002"}) == [second]
    assert ids({"currency": "USD"}) == []
    assert ids({"self_billed": "true"}) == []
    page = api.get("/api/v1/credit_notes", {"per_page": 1}).json()
    assert page["meta"]["total_count"] == 2 and len(page["credit_notes"]) == 1


@pytest.mark.parametrize(
    ("params", "error"),
    [
        ({"reason": "because"}, "reason"),
        ({"amount_from": "lots"}, "amount_from"),
        ({"credit_status": "x"}, "credit_status"),
    ],
)
def test_invalid_filters_are_refused(api, notes, params, error):
    response = api.get("/api/v1/credit_notes", params)
    assert response.status_code == 422
    assert error in response.json()["error_details"]


def test_draft_unknown_and_malformed_ids_are_not_found(api, notes):
    for lago_id in (notes["draft"].pk, "00000000-0000-0000-0000-000000000000", "not-a-uuid", "1" * 300):
        response = api.get(f"/api/v1/credit_notes/{lago_id}")
        assert response.status_code == 404
        assert response.json()["code"] == "credit_note_not_found"


def test_credit_notes_are_scoped_to_the_organization(api, notes):
    other = OrganizationFactory(name="Other")
    theirs = make_api_client(other)
    assert theirs.get("/api/v1/credit_notes").json()["credit_notes"] == []
    assert theirs.get(f"/api/v1/credit_notes/{notes['first'].pk}").status_code == 404
    # Their own note shows to them only.
    their_customer = CustomerFactory(organization=other, currency="EUR")
    their_note = credit(subscription_invoice(their_customer, [1000]), 100)
    assert [n["lago_id"] for n in theirs.get("/api/v1/credit_notes").json()["credit_notes"]] == [
        str(their_note.pk)
    ]
    assert api.get(f"/api/v1/credit_notes/{their_note.pk}").status_code == 404
    assert str(their_note.pk) not in {
        n["lago_id"] for n in api.get("/api/v1/credit_notes").json()["credit_notes"]
    }


@pytest.mark.django_db(transaction=True)
def test_credit_notes_round_trip_with_the_lago_client(lago):
    customer = CustomerFactory(organization=lago.organization, external_id="sdk_cust", currency="EUR")
    tax = TaxFactory(organization=lago.organization, code="vat", rate="20.00")
    invoice = subscription_invoice(customer, [5000], taxes=[tax])
    note = credit(invoice, 1000, 1200)

    found = lago.credit_notes.find(str(note.pk))
    assert found.lago_id == str(note.pk) and found.number == f"{invoice.number}-CN001"
    assert (found.total_amount_cents, found.taxes_amount_cents, found.balance_amount_cents) == (
        1200,
        200,
        1200,
    )
    assert found.items.__root__[0].fee.lago_id == str(only_fee(invoice).pk)
    assert found.applied_taxes.__root__[0].tax_code == "vat"
    page = lago.credit_notes.find_all({"external_customer_id": "sdk_cust"})
    assert [n.lago_id for n in page["credit_notes"]] == [str(note.pk)]


def test_the_consuming_invoice_shows_the_credit_note_credit(api, organization):
    customer = CustomerFactory(organization=organization, currency="EUR")
    source = subscription_invoice(customer, [5000])
    note = credit(source, 1000)
    invoice = subscription_invoice(customer, [3000], day=2)
    body = api.get(f"/api/v1/invoices/{invoice.pk}").json()["invoice"]
    assert body["credit_notes_amount_cents"] == 1000 and body["total_amount_cents"] == 2000
    [line] = body["credits"]
    assert (line["amount_cents"], line["before_taxes"]) == (1000, False)
    assert line["item"] == {
        "lago_item_id": str(note.pk),
        "type": "credit_note",
        "code": note.number,
        "name": source.number,
    }
