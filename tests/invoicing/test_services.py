"""Invoice services: creation (draft or finalized), finalization with coupons, numbering, voiding, payment status,
overdue marking, draft refresh — with exact amounts (billing-semantics §6)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from billing.models import AppliedCoupon
from billing.services import invoices as billing_invoices
from config import errors
from invoicing import selectors
from invoicing.models import AppliedTax, Credit, Fee, Invoice, InvoiceSubscription
from invoicing.services import (
    AlreadyBilled,
    FeeDraft,
    applicable_taxes_for_fee,
    create_invoice,
    finalize_invoice,
    invoice_dates,
    mark_overdue_invoices,
    refresh_draft_totals,
    replace_draft_fees,
    update_invoice,
    void_invoice,
)
from tests.billing.factories import SubscriptionFactory, move_clock, sandbox_organization
from tests.catalog.factories import (
    AddOnFactory,
    AppliedCouponFactory,
    ChargeFactory,
    CouponFactory,
    FixedChargeFactory,
    PlanFactory,
)
from tests.customers.factories import CustomerFactory, TaxFactory
from tests.invoicing.factories import add_on_fee, charge_fee, one_off_invoice, periodic, subscription_fee

pytestmark = pytest.mark.django_db

UTC = dt.UTC


@pytest.fixture(autouse=True)
def no_engine_hook(monkeypatch):
    """Finalizing refreshes a draft with the engine's hook when it exists; these tests own their fee lines."""
    monkeypatch.setattr(billing_invoices, "_fee_recomputer", lambda: None)


def _taxes(fee_type, customer, **sources):
    return applicable_taxes_for_fee(fee_type=fee_type, customer=customer, **sources)


# --------------------------------------------------------------------------------------------------------------
# Ex 6.1 — the full invoice
# --------------------------------------------------------------------------------------------------------------


@pytest.fixture
def ex61(organization):
    """Monthly plan 10 000 (tax 10 %), charge A 50 × 1.00 (tax 0 %), charge B 1 × 30.00 with minimum 5 000
    (tax 20 %), a fixed once coupon of 1 000; grace period 1 day (so the invoice starts as a draft)."""
    organization.invoice_grace_period = 1
    organization.save()
    customer = CustomerFactory(organization=organization)
    tax10 = TaxFactory(organization=organization, code="vat_10", rate="10")
    tax0 = TaxFactory(organization=organization, code="vat_0", rate="0")
    tax20 = TaxFactory(organization=organization, code="vat_20", rate="20")
    plan = PlanFactory(organization=organization, amount_cents=10000)
    plan.taxes.set([tax10])
    charge_a = ChargeFactory(plan=plan, billable_metric__aggregation_type="sum_agg")
    charge_a.taxes.set([tax0])
    charge_b = ChargeFactory(
        plan=plan,
        billable_metric__aggregation_type="count_agg",
        properties={"amount": "30"},
        min_amount_cents=5000,
    )
    charge_b.taxes.set([tax20])
    subscription = SubscriptionFactory(plan=plan, customer=customer)
    applied = AppliedCouponFactory(
        coupon=CouponFactory(organization=organization, amount_cents=1000), customer=customer
    )
    fees = [
        subscription_fee(subscription, 10000, taxes=_taxes("subscription", customer, plan=plan)),
        charge_fee(
            subscription,
            charge_a,
            5000,
            units=50,
            events_count=3,
            taxes=_taxes("charge", customer, charge=charge_a, plan=plan),
        ),
        charge_fee(
            subscription,
            charge_b,
            3000,
            units=1,
            events_count=1,
            taxes=_taxes("charge", customer, charge=charge_b, plan=plan),
        ),
        charge_fee(
            subscription,
            charge_b,
            2000,
            units=1,
            events_count=0,
            true_up_parent_index=2,
            taxes=_taxes("charge", customer, charge=charge_b, plan=plan),
        ),
    ]
    return {"customer": customer, "subscription": subscription, "applied": applied, "fees": fees}


def _create_ex61(ex61):
    customer = ex61["customer"]
    return billing_invoices.create_invoice(
        organization=customer.organization,
        customer=customer,
        invoice_type="subscription",
        currency="EUR",
        fees=ex61["fees"],
        issuing_date=dt.date(2024, 2, 1),
        subscription_periods=[periodic(ex61["subscription"])],
    )


def test_ex61_draft_has_taxes_but_no_coupon(ex61):
    result = _create_ex61(ex61)
    invoice = result.invoice

    assert invoice.status == "draft" and invoice.number == "" and invoice.sequential_id is None
    assert invoice.expected_finalization_date == dt.date(2024, 2, 2)
    assert invoice.payment_due_date == dt.date(2024, 2, 1)
    assert (invoice.fees_amount_cents, invoice.coupons_amount_cents) == (20000, 0)
    assert invoice.taxes_amount_cents == 1000 + 0 + 600 + 400
    assert invoice.total_amount_cents == 22000
    assert Credit.objects.count() == 0
    ex61["applied"].refresh_from_db()
    assert ex61["applied"].status == "active"
    assert InvoiceSubscription.objects.filter(invoice=invoice).count() == 1
    true_up = Fee.objects.get(invoice=invoice, true_up_parent_fee__isnull=False)
    assert true_up.amount_cents == 2000 and true_up.true_up_parent_fee.amount_cents == 3000


def test_ex61_finalized_totals_are_persisted_exactly(ex61):
    invoice = _create_ex61(ex61).invoice
    result = billing_invoices.finalize_invoice(invoice=invoice, refresh=False)
    invoice = Invoice.objects.get(pk=invoice.pk)

    assert result.totals.total_amount_cents == 20900
    assert invoice.status == "finalized" and invoice.payment_status == "pending"
    assert invoice.fees_amount_cents == 20000
    assert invoice.coupons_amount_cents == 1000
    assert invoice.sub_total_excluding_taxes_amount_cents == 19000
    assert invoice.taxes_amount_cents == 1900
    assert invoice.sub_total_including_taxes_amount_cents == 20900
    assert invoice.total_amount_cents == 20900
    assert invoice.finalized_at is not None
    prefix = invoice.organization.document_number_prefix
    assert invoice.number == f"{prefix}-{ex61['customer'].sequential_id:03d}-001"
    assert invoice.sequential_id == 1

    fees = list(Fee.objects.filter(invoice=invoice).order_by("-amount_cents"))
    assert [f.amount_cents for f in fees] == [10000, 5000, 3000, 2000]
    assert [f.precise_coupons_amount_cents for f in fees] == [
        Decimal(500),
        Decimal(250),
        Decimal(150),
        Decimal(100),
    ]
    assert [f.taxes_amount_cents for f in fees] == [950, 0, 570, 380]
    assert [f.taxes_rate for f in fees] == [Decimal(10), Decimal(0), Decimal(20), Decimal(20)]
    assert all(f.payment_status == "pending" for f in fees)

    invoice_taxes = {
        t.tax_code: (t.amount_cents, t.taxable_base_amount_cents) for t in invoice.applied_taxes.all()
    }
    assert invoice_taxes == {"vat_10": (950, 9500), "vat_0": (0, 4750), "vat_20": (950, 4750)}
    assert AppliedTax.objects.filter(fee__invoice=invoice).count() == 4

    credit = Credit.objects.get(invoice=invoice)
    assert (credit.amount_cents, credit.before_taxes, credit.applied_coupon_id) == (
        1000,
        True,
        ex61["applied"].pk,
    )
    ex61["applied"].refresh_from_db()
    assert ex61["applied"].status == "terminated" and ex61["applied"].terminated_at is not None
    snapshot = invoice.document_snapshot
    assert snapshot["buyer"]["external_id"] == ex61["customer"].external_id
    assert snapshot["seller"]["name"] == invoice.organization.name
    assert snapshot["currency"] == "EUR" and snapshot["locale"] == "en"


def test_finalizing_twice_is_refused_and_changes_nothing(ex61):
    invoice = _create_ex61(ex61).invoice
    billing_invoices.finalize_invoice(invoice=invoice, refresh=False)
    with pytest.raises(errors.NotAllowed) as raised:
        billing_invoices.finalize_invoice(invoice=Invoice.objects.get(pk=invoice.pk), refresh=False)
    assert raised.value.code == "invoice_not_draft"
    assert Credit.objects.count() == 1
    assert Invoice.objects.get(pk=invoice.pk).sequential_id == 1


def test_a_period_is_invoiced_only_once(ex61):
    _create_ex61(ex61)
    with pytest.raises(AlreadyBilled) as raised:
        _create_ex61(ex61)
    assert raised.value.periods[0].subscription == ex61["subscription"]
    assert Invoice.objects.count() == 1
    assert Fee.objects.count() == 4
    assert InvoiceSubscription.objects.count() == 1


# --------------------------------------------------------------------------------------------------------------
# Coupon lifecycle
# --------------------------------------------------------------------------------------------------------------


def _one_off(customer, amount, *, finalize=True, taxes=()):
    return billing_invoices.create_invoice(
        organization=customer.organization,
        customer=customer,
        invoice_type="one_off",
        currency="EUR",
        fees=[add_on_fee(AddOnFactory(organization=customer.organization), amount, taxes=taxes)],
        issuing_date=dt.date(2024, 3, 1),
        finalize=finalize,
    ).invoice


def test_once_fixed_coupon_larger_than_the_invoice_carries_its_remainder(organization):
    customer = CustomerFactory(organization=organization)
    applied = AppliedCouponFactory(
        coupon=CouponFactory(organization=organization, amount_cents=11000), customer=customer
    )

    first = _one_off(customer, 10000)
    assert (first.coupons_amount_cents, first.taxes_amount_cents, first.total_amount_cents) == (10000, 0, 0)
    assert first.payment_status == "succeeded"
    assert set(Fee.objects.filter(invoice=first).values_list("payment_status", flat=True)) == {"succeeded"}
    applied.refresh_from_db()
    assert applied.status == "active"
    assert selectors.coupon_consumed_amounts([applied.pk]) == {applied.pk: 10000}

    second = _one_off(customer, 5000)
    assert (second.coupons_amount_cents, second.total_amount_cents) == (1000, 4000)
    applied.refresh_from_db()
    assert applied.status == "terminated"

    third = _one_off(customer, 5000)
    assert third.coupons_amount_cents == 0 and third.total_amount_cents == 5000


def test_recurring_coupon_counts_down_and_terminates(organization):
    customer = CustomerFactory(organization=organization)
    coupon = CouponFactory(
        organization=organization,
        coupon_type="percentage",
        percentage_rate=Decimal("10"),
        amount_cents=None,
        amount_currency=None,
        frequency="recurring",
        frequency_duration=2,
    )
    applied = AppliedCouponFactory(coupon=coupon, customer=customer)

    assert _one_off(customer, 4000).coupons_amount_cents == 400
    applied.refresh_from_db()
    assert (applied.status, applied.frequency_duration_remaining) == ("active", 1)

    assert _one_off(customer, 2500).coupons_amount_cents == 250
    applied.refresh_from_db()
    assert (applied.status, applied.frequency_duration_remaining) == ("terminated", 0)

    assert _one_off(customer, 2500).coupons_amount_cents == 0


def test_draft_does_not_touch_coupons_until_finalized(organization):
    organization.invoice_grace_period = 3
    organization.save()
    customer = CustomerFactory(organization=organization)
    applied = AppliedCouponFactory(
        coupon=CouponFactory(organization=organization, amount_cents=500), customer=customer
    )
    subscription = SubscriptionFactory(plan=PlanFactory(organization=organization), customer=customer)
    result = billing_invoices.create_invoice(
        organization=organization,
        customer=customer,
        invoice_type="subscription",
        currency="EUR",
        fees=[subscription_fee(subscription, 3000)],
        issuing_date=dt.date(2024, 2, 1),
        subscription_periods=[periodic(subscription)],
    )
    assert result.invoice.status == "draft"
    assert result.totals.coupons[0].applied is False
    assert result.invoice.coupons_amount_cents == 0 and result.invoice.total_amount_cents == 3000
    applied.refresh_from_db()
    assert applied.status == "active"

    final = billing_invoices.finalize_invoice(invoice=result.invoice, refresh=False).invoice
    assert (final.coupons_amount_cents, final.total_amount_cents) == (500, 2500)
    applied.refresh_from_db()
    assert applied.status == "terminated"


def test_voiding_gives_the_coupon_usage_back(organization):
    customer = CustomerFactory(organization=organization)
    once = AppliedCouponFactory(
        coupon=CouponFactory(organization=organization, amount_cents=1000), customer=customer
    )
    recurring = AppliedCouponFactory(
        coupon=CouponFactory(
            organization=organization,
            coupon_type="percentage",
            percentage_rate=Decimal("50"),
            amount_cents=None,
            amount_currency=None,
            frequency="recurring",
            frequency_duration=1,
        ),
        customer=customer,
    )
    invoice = _one_off(customer, 5000)
    assert invoice.coupons_amount_cents == 1000 + 2000
    once.refresh_from_db()
    recurring.refresh_from_db()
    assert once.status == recurring.status == "terminated"

    voided = billing_invoices.void_invoice(invoice=invoice)
    assert voided.status == "voided" and voided.voided_at is not None and not voided.payment_overdue
    once.refresh_from_db()
    recurring.refresh_from_db()
    assert (once.status, once.terminated_at) == ("active", None)
    assert (recurring.status, recurring.frequency_duration_remaining) == ("active", 1)
    assert selectors.coupon_consumed_amounts([once.pk]) == {once.pk: 0}

    again = _one_off(customer, 5000)
    assert again.coupons_amount_cents == 3000


def test_only_finalized_invoices_can_be_voided(organization):
    customer = CustomerFactory(organization=organization)
    draft = one_off_invoice(customer, finalize=False)
    with pytest.raises(errors.NotAllowed) as raised:
        void_invoice(invoice=draft)
    assert raised.value.code == "not_voidable"
    finalized = one_off_invoice(customer)
    void_invoice(invoice=finalized)
    with pytest.raises(errors.NotAllowed):
        void_invoice(invoice=finalized)
    assert Invoice.objects.get(pk=draft.pk).status == "draft"


def test_void_with_credit_note_generation_is_refused(organization):
    invoice = one_off_invoice(CustomerFactory(organization=organization))
    with pytest.raises(errors.Forbidden):
        billing_invoices.void_invoice(invoice=invoice, generate_credit_note=True)
    assert Invoice.objects.get(pk=invoice.pk).status == "finalized"


# --------------------------------------------------------------------------------------------------------------
# Numbering
# --------------------------------------------------------------------------------------------------------------


def test_per_customer_numbers(organization):
    organization.document_number_prefix = "ACME"
    organization.save()
    first, second = CustomerFactory(organization=organization), CustomerFactory(organization=organization)
    numbers = [
        one_off_invoice(first).number,
        one_off_invoice(first).number,
        one_off_invoice(second).number,
    ]
    assert numbers == [
        f"ACME-{first.sequential_id:03d}-001",
        f"ACME-{first.sequential_id:03d}-002",
        f"ACME-{second.sequential_id:03d}-001",
    ]


def test_per_organization_numbers_keep_counting_across_months(organization):
    organization.document_number_prefix = "ACME"
    organization.document_numbering = "per_organization"
    organization.save()
    first, second = CustomerFactory(organization=organization), CustomerFactory(organization=organization)
    assert one_off_invoice(first, issuing_date=dt.date(2024, 1, 31)).number == "ACME-202401-001"
    assert one_off_invoice(second, issuing_date=dt.date(2024, 1, 31)).number == "ACME-202401-002"
    assert one_off_invoice(first, issuing_date=dt.date(2024, 2, 1)).number == "ACME-202402-003"


def test_drafts_get_no_number_and_keep_none_of_the_sequence(organization):
    customer = CustomerFactory(organization=organization)
    draft = one_off_invoice(customer, finalize=False)
    finalized = one_off_invoice(customer)
    assert draft.number == "" and finalized.sequential_id == 1
    finalize_invoice(invoice=draft)
    assert draft.sequential_id == 2


# --------------------------------------------------------------------------------------------------------------
# Dates, grace period, finalization of due drafts
# --------------------------------------------------------------------------------------------------------------


def test_finalize_due_drafts_waits_for_the_grace_period():
    organization, _ = sandbox_organization(dt.datetime(2024, 2, 1, 10, tzinfo=UTC))
    organization.invoice_grace_period = 2
    organization.net_payment_term = 10
    organization.save()
    customer = CustomerFactory(organization=organization)
    applied = AppliedCouponFactory(
        coupon=CouponFactory(organization=organization, amount_cents=700), customer=customer
    )
    subscription = SubscriptionFactory(plan=PlanFactory(organization=organization), customer=customer)
    draft = billing_invoices.create_invoice(
        organization=organization,
        customer=customer,
        invoice_type="subscription",
        currency="EUR",
        fees=[subscription_fee(subscription, 10000)],
        issuing_date=dt.date(2024, 2, 1),
        subscription_periods=[periodic(subscription)],
    ).invoice
    assert draft.expected_finalization_date == dt.date(2024, 2, 3)
    assert draft.payment_due_date == dt.date(2024, 2, 11)

    move_clock(organization, dt.datetime(2024, 2, 2, 23, tzinfo=UTC))
    assert billing_invoices.finalize_due_drafts(organization=organization, now=organization.frozen_time) == []

    move_clock(organization, dt.datetime(2024, 2, 3, 0, 30, tzinfo=UTC))
    done = billing_invoices.finalize_due_drafts(organization=organization, now=organization.frozen_time)
    assert [invoice.pk for invoice in done] == [draft.pk]
    draft.refresh_from_db()
    assert draft.status == "finalized" and draft.coupons_amount_cents == 700
    # The issuing date moves to the finalization day; the payment due date follows it.
    assert (draft.issuing_date, draft.payment_due_date) == (dt.date(2024, 2, 3), dt.date(2024, 2, 13))
    assert draft.finalized_at == dt.datetime(2024, 2, 3, 0, 30, tzinfo=UTC)
    applied.refresh_from_db()
    assert applied.status == "terminated"
    assert billing_invoices.finalize_due_drafts(organization=organization, now=organization.frozen_time) == []


def test_invoice_dates_follow_the_customer_settings(organization):
    organization.invoice_grace_period = 3
    organization.net_payment_term = 30
    organization.save()
    customer = CustomerFactory(organization=organization)
    dates = invoice_dates(customer=customer, billing_date=dt.date(2024, 2, 1))
    assert (dates.issuing_date, dates.expected_finalization_date, dates.payment_due_date) == (
        dt.date(2024, 2, 4),
        dt.date(2024, 2, 4),
        dt.date(2024, 3, 5),
    )
    customer.subscription_invoice_issuing_date_anchor = "current_period_end"
    customer.subscription_invoice_issuing_date_adjustment = "keep_anchor"
    dates = invoice_dates(customer=customer, billing_date=dt.date(2024, 2, 1))
    assert (dates.issuing_date, dates.expected_finalization_date) == (
        dt.date(2024, 1, 31),
        dt.date(2024, 2, 3),
    )


# --------------------------------------------------------------------------------------------------------------
# Payment status, metadata, overdue
# --------------------------------------------------------------------------------------------------------------


def test_payment_status_update_marks_paid_and_clears_overdue(organization):
    invoice = one_off_invoice(CustomerFactory(organization=organization), [2500])
    Invoice.objects.filter(pk=invoice.pk).update(payment_overdue=True)
    invoice = update_invoice(invoice=Invoice.objects.get(pk=invoice.pk), payment_status="succeeded")
    assert (invoice.payment_status, invoice.total_paid_amount_cents, invoice.payment_overdue) == (
        "succeeded",
        2500,
        False,
    )
    assert list(Fee.objects.filter(invoice=invoice).values_list("payment_status", flat=True)) == ["succeeded"]
    assert Fee.objects.get(invoice=invoice).succeeded_at is not None

    invoice = update_invoice(invoice=invoice, payment_status="failed")
    assert (invoice.payment_status, invoice.total_paid_amount_cents) == ("failed", 0)
    fee = Fee.objects.get(invoice=invoice)
    assert (fee.payment_status, fee.succeeded_at is None, fee.failed_at is not None) == ("failed", True, True)


def test_drafts_refuse_payment_status_and_metadata(organization):
    draft = one_off_invoice(CustomerFactory(organization=organization), finalize=False)
    with pytest.raises(errors.NotAllowed) as raised:
        update_invoice(invoice=draft, payment_status="succeeded")
    assert raised.value.code == "payment_status_update_on_draft_invoice"
    with pytest.raises(errors.NotAllowed) as raised:
        update_invoice(invoice=draft, metadata=[{"key": "po", "value": "1"}])
    assert raised.value.code == "metadata_on_draft_invoice"
    # Restating the current status is not a change.
    assert update_invoice(invoice=draft, payment_status="pending").status == "draft"


def test_metadata_entries_are_updated_created_and_removed(organization):
    invoice = one_off_invoice(CustomerFactory(organization=organization))
    invoice = update_invoice(
        invoice=invoice, metadata=[{"key": "po", "value": "123"}, {"key": "ref", "value": "a"}]
    )
    po, ref = invoice.metadata
    assert (po["key"], po["value"], ref["key"]) == ("po", "123", "ref")
    invoice = update_invoice(
        invoice=invoice, metadata=[{"id": po["id"], "key": "po", "value": "456"}, {"key": "x", "value": "y"}]
    )
    assert [(m["key"], m["value"]) for m in invoice.metadata] == [("po", "456"), ("x", "y")]
    assert invoice.metadata[0]["id"] == po["id"] and invoice.metadata[0]["created_at"] == po["created_at"]
    with pytest.raises(errors.ValidationFailed) as raised:
        update_invoice(invoice=invoice, metadata=[{"key": f"k{i}", "value": "v"} for i in range(6)])
    assert raised.value.error_details == {"metadata": ["invalid_count"]}
    with pytest.raises(errors.ValidationFailed) as raised:
        update_invoice(invoice=invoice, metadata=[{"key": "a", "value": "1"}, {"key": "a", "value": "2"}])
    assert raised.value.error_details == {"key": ["value_already_exist"]}
    assert [(m["key"], m["value"]) for m in Invoice.objects.get(pk=invoice.pk).metadata] == [
        ("po", "456"),
        ("x", "y"),
    ]


def test_overdue_marking_follows_the_sandbox_clock_and_the_customer_timezone():
    organization, _ = sandbox_organization(dt.datetime(2024, 1, 6, 12, tzinfo=UTC))
    organization.net_payment_term = 5
    organization.save()
    utc_customer = CustomerFactory(organization=organization)
    east_customer = CustomerFactory(organization=organization, timezone="Pacific/Kiritimati")  # UTC+14
    utc_invoice = one_off_invoice(utc_customer, issuing_date=dt.date(2024, 1, 1))
    east_invoice = one_off_invoice(east_customer, issuing_date=dt.date(2024, 1, 1))
    paid = one_off_invoice(utc_customer, issuing_date=dt.date(2024, 1, 1))
    update_invoice(invoice=paid, payment_status="succeeded")
    assert utc_invoice.payment_due_date == dt.date(2024, 1, 6)

    # 12:00 UTC on the due day: already the 7th in Kiritimati.
    marked = mark_overdue_invoices(organization=organization, now=organization.frozen_time)
    assert [invoice.pk for invoice in marked] == [east_invoice.pk]

    move_clock(organization, dt.datetime(2024, 1, 7, 0, 0, 1, tzinfo=UTC))
    marked = mark_overdue_invoices(organization=organization, now=organization.frozen_time)
    assert [invoice.pk for invoice in marked] == [utc_invoice.pk]
    assert mark_overdue_invoices(organization=organization, now=organization.frozen_time) == []
    assert set(Invoice.objects.filter(payment_overdue=True).values_list("pk", flat=True)) == {
        utc_invoice.pk,
        east_invoice.pk,
    }

    # Paying or voiding clears it.
    update_invoice(invoice=utc_invoice, payment_status="succeeded")
    void_invoice(invoice=east_invoice)
    assert not Invoice.objects.filter(payment_overdue=True).exists()


def test_overdue_marking_without_organization_skips_sandbox_clocks():
    organization, _ = sandbox_organization(dt.datetime(2024, 1, 1, tzinfo=UTC))
    invoice = one_off_invoice(CustomerFactory(organization=organization), issuing_date=dt.date(2024, 1, 1))
    assert mark_overdue_invoices(now=dt.datetime(2030, 1, 1, tzinfo=UTC)) == []
    assert not Invoice.objects.get(pk=invoice.pk).payment_overdue


# --------------------------------------------------------------------------------------------------------------
# Fees: zero buckets, taxes precedence, refresh
# --------------------------------------------------------------------------------------------------------------


def test_zero_charge_buckets_are_not_stored_but_base_fees_are(organization):
    customer = CustomerFactory(organization=organization)
    plan = PlanFactory(organization=organization)
    subscription = SubscriptionFactory(plan=plan, customer=customer)
    empty_charge = ChargeFactory(plan=plan)
    minimum_charge = ChargeFactory(plan=plan, min_amount_cents=500)
    result = create_invoice(
        organization=organization,
        customer=customer,
        invoice_type="subscription",
        currency="EUR",
        fees=[
            subscription_fee(subscription, 0),
            charge_fee(subscription, empty_charge, 0, units=0, events_count=0),
            charge_fee(subscription, minimum_charge, 0, units=0, events_count=0),
            charge_fee(subscription, minimum_charge, 500, units=1, events_count=0, true_up_parent_index=2),
        ],
        issuing_date=dt.date(2024, 2, 1),
        finalize=True,
    )
    stored = Fee.objects.filter(invoice=result.invoice)
    assert sorted((f.fee_type, str(f.charge_id or ""), f.amount_cents) for f in stored) == sorted(
        [
            ("subscription", "", 0),
            ("charge", str(minimum_charge.pk), 0),
            ("charge", str(minimum_charge.pk), 500),
        ]
    )
    assert result.invoice.total_amount_cents == 500


def test_taxes_precedence(organization):
    customer = CustomerFactory(organization=organization)
    org_tax = TaxFactory(organization=organization, code="org", applied_to_organization=True)
    customer_tax = TaxFactory(organization=organization, code="cust")
    plan_tax = TaxFactory(organization=organization, code="plan")
    charge_tax = TaxFactory(organization=organization, code="charge")
    fixed_tax = TaxFactory(organization=organization, code="fixed")
    add_on_tax = TaxFactory(organization=organization, code="addon")
    explicit_tax = TaxFactory(organization=organization, code="explicit")
    plan = PlanFactory(organization=organization)
    charge = ChargeFactory(plan=plan)
    fixed_charge = FixedChargeFactory(plan=plan)
    add_on = AddOnFactory(organization=organization)

    def codes(fee_type, **sources):
        return [t.code for t in applicable_taxes_for_fee(fee_type=fee_type, customer=customer, **sources)]

    assert codes("subscription", plan=plan) == ["org"]
    customer.taxes.set([customer_tax])
    assert codes("subscription", plan=plan) == ["cust"]
    plan.taxes.set([plan_tax])
    assert codes("charge", charge=charge, plan=plan) == ["plan"]
    charge.taxes.set([charge_tax])
    assert codes("charge", charge=charge, plan=plan) == ["charge"]
    fixed_charge.add_on.taxes.set([add_on_tax])
    assert codes("fixed_charge", fixed_charge=fixed_charge, plan=plan) == ["plan"]  # add-on taxes unused
    fixed_charge.taxes.set([fixed_tax])
    assert codes("fixed_charge", fixed_charge=fixed_charge, plan=plan) == ["fixed"]
    assert codes("add_on", add_on=add_on) == ["cust"]
    add_on.taxes.set([add_on_tax])
    assert codes("add_on", add_on=add_on) == ["addon"]
    assert codes("add_on", add_on=add_on, explicit_taxes=[explicit_tax]) == ["explicit"]
    assert codes("credit") == []
    assert org_tax.applied_to_organization


def test_a_credit_fee_cannot_carry_taxes(organization):
    with pytest.raises(ValueError):
        FeeDraft(fee_type="credit", amount_cents=100, taxes=[TaxFactory(organization=organization)])
    with pytest.raises(TypeError):
        FeeDraft(fee_type="charge", amount_cents=100, units=1.5)


def test_rows_of_another_organization_are_refused(organization):
    customer = CustomerFactory(organization=organization)
    foreign_add_on = AddOnFactory()
    with pytest.raises(ValueError):
        create_invoice(
            organization=organization,
            customer=customer,
            invoice_type="one_off",
            currency="EUR",
            fees=[add_on_fee(foreign_add_on, 100)],
            issuing_date=dt.date(2024, 1, 1),
        )
    assert not Invoice.objects.exists()


def test_refresh_replaces_draft_fees_and_keeps_adjustments(organization):
    organization.invoice_grace_period = 2
    organization.save()
    customer = CustomerFactory(organization=organization)
    tax = TaxFactory(organization=organization, code="vat", rate="20")
    plan = PlanFactory(organization=organization)
    subscription = SubscriptionFactory(plan=plan, customer=customer)
    charge = ChargeFactory(plan=plan)
    draft = create_invoice(
        organization=organization,
        customer=customer,
        invoice_type="subscription",
        currency="EUR",
        fees=[
            subscription_fee(subscription, 1000, taxes=[tax]),
            charge_fee(subscription, charge, 300, units=3, events_count=3, taxes=[tax]),
        ],
        issuing_date=dt.date(2024, 2, 1),
        subscription_periods=[periodic(subscription)],
    ).invoice
    assert (draft.status, draft.total_amount_cents) == ("draft", 1560)
    Fee.objects.filter(invoice=draft, fee_type="charge").update(adjusted_unit_amount_cents=250)

    result = replace_draft_fees(
        invoice=draft,
        fees=[
            subscription_fee(subscription, 1000, taxes=[tax]),
            charge_fee(subscription, charge, 500, units=5, events_count=5, taxes=[tax]),
        ],
    )
    charge_fee_row = Fee.objects.get(invoice=draft, fee_type="charge")
    assert (charge_fee_row.units, charge_fee_row.amount_cents, charge_fee_row.adjusted_unit_amount_cents) == (
        Decimal(5),
        1250,
        250,
    )
    assert result.invoice.total_amount_cents == (1000 + 1250) * 12 // 10
    assert InvoiceSubscription.objects.filter(invoice=draft).count() == 1

    finalized = one_off_invoice(customer)
    with pytest.raises(errors.NotAllowed):
        replace_draft_fees(invoice=finalized, fees=[])
    with pytest.raises(errors.NotAllowed):
        refresh_draft_totals(invoice=finalized)


def test_refresh_uses_the_engine_hook_when_present(organization, monkeypatch):
    organization.invoice_grace_period = 2
    organization.save()
    customer = CustomerFactory(organization=organization)
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
    calls = []

    def recompute(invoice):
        calls.append(invoice.pk)
        return [subscription_fee(subscription, 1200)]

    monkeypatch.setattr(billing_invoices, "_fee_recomputer", lambda: recompute)
    refreshed = billing_invoices.refresh_invoice(draft)
    assert calls == [draft.pk] and refreshed.total_amount_cents == 1200

    monkeypatch.setattr(billing_invoices, "_fee_recomputer", lambda: None)
    Fee.objects.filter(invoice=draft).update(amount_cents=900)
    assert billing_invoices.refresh_invoice(draft).total_amount_cents == 900


def test_without_the_hook_module_the_recomputer_is_absent(monkeypatch):
    import importlib

    monkeypatch.undo()
    real_import = importlib.import_module

    def fake_import(name, *args):
        if name == "billing.invoice_fees":
            raise ModuleNotFoundError(name=name)
        return real_import(name, *args)

    monkeypatch.setattr(importlib, "import_module", fake_import)
    assert billing_invoices._fee_recomputer() is None


def test_applied_coupon_state_is_read_under_lock_and_skips_other_customers(organization):
    customer, other = CustomerFactory(organization=organization), CustomerFactory(organization=organization)
    AppliedCouponFactory(coupon=CouponFactory(organization=organization, amount_cents=300), customer=other)
    invoice = _one_off(customer, 1000)
    assert invoice.coupons_amount_cents == 0
    assert AppliedCoupon.objects.get(customer=other).status == "active"


def test_tasks_run_the_services_on_each_clock():
    from invoicing import tasks

    organization, _ = sandbox_organization(dt.datetime(2024, 3, 1, tzinfo=UTC))
    invoice = one_off_invoice(CustomerFactory(organization=organization), issuing_date=dt.date(2024, 1, 1))
    assert tasks.mark_overdue_invoices(str(organization.pk)) == 1
    assert tasks.mark_overdue_invoices() == 0
    assert Invoice.objects.get(pk=invoice.pk).payment_overdue
    assert tasks.finalize_due_drafts(str(organization.pk)) == 0


def test_ex62_limited_coupons_apply_first_with_codes_read_back_at_finalization(organization):
    """Ex 6.2: A (base) 10 000, B (metric m1) 6 000, C (metric m2) 4 000, 20 % tax; K1 2 000 once limited to m1,
    K2 10 % forever. The draft is finalized later, so metric and plan codes come from the stored fees."""
    organization.invoice_grace_period = 1
    organization.save()
    customer = CustomerFactory(organization=organization)
    tax = TaxFactory(organization=organization, code="vat", rate="20")
    plan = PlanFactory(organization=organization)
    subscription = SubscriptionFactory(plan=plan, customer=customer)
    m1 = ChargeFactory(plan=plan, billable_metric__code="m1")
    m2 = ChargeFactory(plan=plan, billable_metric__code="m2")
    k1 = CouponFactory(organization=organization, amount_cents=2000, limited_billable_metrics=True)
    k1.billable_metrics.set([m1.billable_metric])
    k2 = CouponFactory(
        organization=organization,
        coupon_type="percentage",
        percentage_rate=Decimal("10"),
        amount_cents=None,
        amount_currency=None,
        frequency="forever",
    )
    AppliedCouponFactory(coupon=k2, customer=customer)  # older, but unrestricted: applied last
    AppliedCouponFactory(coupon=k1, customer=customer)
    draft = billing_invoices.create_invoice(
        organization=organization,
        customer=customer,
        invoice_type="subscription",
        currency="EUR",
        fees=[
            subscription_fee(subscription, 10000, taxes=[tax]),
            charge_fee(subscription, m1, 6000, units=6, events_count=6, taxes=[tax]),
            charge_fee(subscription, m2, 4000, units=4, events_count=4, taxes=[tax]),
        ],
        issuing_date=dt.date(2024, 2, 1),
        subscription_periods=[periodic(subscription)],
    ).invoice
    invoice = billing_invoices.finalize_invoice(invoice=draft, refresh=False).invoice
    assert invoice.coupons_amount_cents == 3800
    assert invoice.sub_total_excluding_taxes_amount_cents == 16200
    assert invoice.taxes_amount_cents == 3240
    assert invoice.total_amount_cents == 19440
    by_amount = {f.amount_cents: f.precise_coupons_amount_cents for f in Fee.objects.filter(invoice=invoice)}
    assert by_amount == {10000: Decimal(1000), 6000: Decimal(2400), 4000: Decimal(400)}
    assert sorted(Credit.objects.filter(invoice=invoice).values_list("amount_cents", flat=True)) == [
        1800,
        2000,
    ]


def test_plan_limited_coupon_covers_a_subscription_on_an_override_child_plan(organization):
    customer = CustomerFactory(organization=organization)
    parent = PlanFactory(organization=organization, code="pro")
    child = PlanFactory(organization=organization, code="pro", parent=parent)
    other_plan = PlanFactory(organization=organization, code="basic")
    coupon = CouponFactory(organization=organization, amount_cents=500, limited_plans=True)
    coupon.plans.set([parent])
    AppliedCouponFactory(coupon=coupon, customer=customer)
    on_child = SubscriptionFactory(plan=child, customer=customer)
    on_other = SubscriptionFactory(plan=other_plan, customer=customer)
    invoice = billing_invoices.create_invoice(
        organization=organization,
        customer=customer,
        invoice_type="subscription",
        currency="EUR",
        fees=[subscription_fee(on_child, 300), subscription_fee(on_other, 1000)],
        issuing_date=dt.date(2024, 2, 1),
        finalize=True,
    ).invoice
    assert invoice.coupons_amount_cents == 300
    assert {
        f.subscription_id: f.precise_coupons_amount_cents for f in Fee.objects.filter(invoice=invoice)
    } == {
        on_child.pk: Decimal(300),
        on_other.pk: Decimal(0),
    }
