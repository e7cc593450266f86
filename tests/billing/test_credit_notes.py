"""Automatic credit notes for the unused part of pay-in-advance plans (billing-semantics §4.4, §4.5) and their
consumption by later invoices (§6.4), through the subscription services and the billing engine."""

from __future__ import annotations

import datetime as dt
import threading
from decimal import Decimal

import pytest
from django.db import connection

from billing.credit_notes import termination_credit_note
from billing.runs import bill_subscription
from billing.services import invoices as billing_invoices
from billing.services.subscriptions import create_subscription, terminate_subscription
from invoicing.models import Credit, CreditNote, Fee, Invoice, InvoiceSubscription
from tests.billing.factories import SubscriptionFactory, move_clock, sandbox_organization
from tests.catalog.factories import PlanFactory
from tests.customers.factories import CustomerFactory, TaxFactory

pytestmark = pytest.mark.django_db


def utc(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=dt.UTC)


def start(organization, plan, *, at, billing_time="calendar", customer=None, external_id="sub_1"):
    """Subscribe through the service at the organization's clock `at` and bill what is due."""
    move_clock(organization, at)
    customer = customer or CustomerFactory(organization=organization, currency=plan.amount_currency)
    subscription = create_subscription(
        organization=organization,
        data={
            "external_customer_id": customer.external_id,
            "plan_code": plan.code,
            "external_id": external_id,
            "billing_time": billing_time,
        },
    )
    bill_subscription(subscription, now=at)
    return subscription


def terminate(subscription, *, at, **options):
    move_clock(subscription.organization, at)
    subscription = terminate_subscription(subscription=subscription, **options)
    bill_subscription(subscription, now=at)
    return subscription


def upgrade(subscription, plan, *, at):
    """§4.4: the engine's order — terminating invoice, credit note, then the new plan's start invoice."""
    organization = subscription.organization
    move_clock(organization, at)
    new = create_subscription(
        organization=organization,
        data={
            "external_customer_id": subscription.customer.external_id,
            "plan_code": plan.code,
            "external_id": subscription.external_id,
        },
    )
    old = type(subscription).objects.get(pk=subscription.pk)
    bill_subscription(old, now=at)
    note = termination_credit_note(old)
    invoices = bill_subscription(new, now=at).invoices
    return old, new, note, invoices


def base_fee(subscription) -> Fee:
    return Fee.objects.get(subscription=subscription, fee_type="subscription")


def invoice_of(subscription, reason: str) -> Invoice:
    return InvoiceSubscription.objects.get(subscription=subscription, invoicing_reason=reason).invoice


# --------------------------------------------------------------------------------------------------------------
# Termination (§4.5)
# --------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("billing_time", "start_total", "sub_total", "taxes", "total"),
    [
        ("calendar", 4500, 3571, 714, 4285),  # 20 unused days × 5000/28 = 3571.43
        ("anniversary", 6000, 4821, 964, 5785),  # 27 unused days × 5000/28 = 4821.43
    ],
)
def test_ex_4_6_termination_credits_unused_days_with_taxes(
    billing_time, start_total, sub_total, taxes, total
):
    organization, _ = sandbox_organization(utc(2023, 2, 8))
    plan = PlanFactory(organization=organization, amount_cents=5000, pay_in_advance=True)
    plan.taxes.add(TaxFactory(organization=organization, rate="20.00"))
    subscription = start(organization, plan, at=utc(2023, 2, 8), billing_time=billing_time)
    start_invoice = invoice_of(subscription, "subscription_starting")
    assert start_invoice.total_amount_cents == start_total

    subscription = terminate(subscription, at=utc(2023, 2, 8, 12))
    assert subscription.on_termination_credit_note == "credit"
    note = termination_credit_note(subscription)

    assert note is not None
    assert note.invoice_id == start_invoice.pk
    assert note.reason == "order_cancellation"
    assert note.status == "finalized" and note.credit_status == "available"
    assert note.number == f"{start_invoice.number}-CN001" and note.sequential_id == 1
    assert note.issuing_date == dt.date(2023, 2, 8)
    assert (note.sub_total_excluding_taxes_amount_cents, note.taxes_amount_cents) == (sub_total, taxes)
    assert (note.total_amount_cents, note.credit_amount_cents, note.balance_amount_cents) == (
        total,
        total,
        total,
    )
    assert (note.refund_amount_cents, note.offset_amount_cents, note.coupons_adjustment_amount_cents) == (
        0,
        0,
        0,
    )
    assert note.taxes_rate == Decimal("20.00000")
    [item] = note.items.all()
    assert item.fee_id == base_fee(subscription).pk and item.amount_cents == sub_total
    [applied] = note.applied_taxes.all()
    assert (applied.amount_cents, applied.base_amount_cents, applied.tax_rate) == (
        taxes,
        sub_total,
        Decimal("20"),
    )


def test_skip_issues_no_credit_note():
    organization, _ = sandbox_organization(utc(2023, 2, 8))
    plan = PlanFactory(organization=organization, amount_cents=5000, pay_in_advance=True)
    subscription = start(organization, plan, at=utc(2023, 2, 8))
    subscription = terminate(subscription, at=utc(2023, 2, 10), on_termination_credit_note="skip")
    assert termination_credit_note(subscription) is None
    assert CreditNote.objects.count() == 0


def test_calling_twice_issues_one_credit_note():
    organization, _ = sandbox_organization(utc(2023, 2, 8))
    plan = PlanFactory(organization=organization, amount_cents=5000, pay_in_advance=True)
    subscription = terminate(start(organization, plan, at=utc(2023, 2, 8)), at=utc(2023, 2, 10))
    first = termination_credit_note(subscription)
    second = termination_credit_note(subscription)
    assert first is not None and second.pk == first.pk
    assert CreditNote.objects.count() == 1
    assert first.total_amount_cents == 3214  # 18 unused days × 5000/28 = 3214.29


@pytest.mark.django_db(transaction=True)
def test_concurrent_calls_issue_one_credit_note():
    organization, _ = sandbox_organization(utc(2023, 2, 8))
    plan = PlanFactory(organization=organization, amount_cents=5000, pay_in_advance=True)
    subscription = terminate(start(organization, plan, at=utc(2023, 2, 8)), at=utc(2023, 2, 10))
    barrier = threading.Barrier(2)
    results, failures = [], []

    def issue():
        try:
            barrier.wait()
            results.append(termination_credit_note(type(subscription).objects.get(pk=subscription.pk)).pk)
        except Exception as exc:
            failures.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=issue) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert len(set(results)) == 1
    assert CreditNote.objects.count() == 1


@pytest.mark.parametrize("option", ["refund", "offset"])
def test_refund_and_offset_are_issued_as_a_credit_for_now(option):
    organization, _ = sandbox_organization(utc(2023, 2, 8))
    plan = PlanFactory(organization=organization, amount_cents=5000, pay_in_advance=True)
    subscription = start(organization, plan, at=utc(2023, 2, 8))
    subscription = terminate(subscription, at=utc(2023, 2, 10), on_termination_credit_note=option)
    note = termination_credit_note(subscription)
    assert (note.credit_amount_cents, note.refund_amount_cents, note.offset_amount_cents) == (3214, 0, 0)


def test_in_arrears_plans_and_period_end_terminations_get_no_credit_note():
    organization, _ = sandbox_organization(utc(2023, 2, 8))
    arrears = PlanFactory(organization=organization, amount_cents=5000, pay_in_advance=False)
    subscription = terminate(start(organization, arrears, at=utc(2023, 2, 8)), at=utc(2023, 2, 10))
    assert termination_credit_note(subscription) is None

    advance = PlanFactory(organization=organization, amount_cents=5000, pay_in_advance=True)
    other = start(organization, advance, at=utc(2023, 2, 8), external_id="sub_2")
    other = terminate(other, at=utc(2023, 2, 28, 23, 59, 59))  # the last day is used: nothing left
    assert termination_credit_note(other) is None
    assert CreditNote.objects.count() == 0


def test_earlier_credit_notes_on_the_fee_are_deducted():
    from invoicing.credit_notes import create_credit_note

    organization, _ = sandbox_organization(utc(2023, 2, 1))
    plan = PlanFactory(organization=organization, amount_cents=2800, pay_in_advance=True)
    subscription = start(organization, plan, at=utc(2023, 2, 1))
    fee = base_fee(subscription)
    create_credit_note(invoice=fee.invoice, reason="other", items=[(fee, 300)], credit_amount_cents=300)
    subscription = terminate(subscription, at=utc(2023, 2, 23))  # 5 unused days × 100 = 500
    note = termination_credit_note(subscription)
    assert note.total_amount_cents == 200  # 500 − 300 already credited (§4.5: a deduction, not a cap)


def test_a_voided_start_invoice_is_not_credited():
    organization, _ = sandbox_organization(utc(2023, 2, 8))
    plan = PlanFactory(organization=organization, amount_cents=5000, pay_in_advance=True)
    subscription = start(organization, plan, at=utc(2023, 2, 8))
    billing_invoices.void_invoice(invoice=invoice_of(subscription, "subscription_starting"))
    subscription = terminate(subscription, at=utc(2023, 2, 10))
    assert termination_credit_note(subscription) is None


def test_a_draft_start_invoice_gets_a_draft_note_finalized_with_it():
    organization, _ = sandbox_organization(utc(2023, 2, 8))
    customer = CustomerFactory(organization=organization, invoice_grace_period=3)
    plan = PlanFactory(organization=organization, amount_cents=5000, pay_in_advance=True)
    plan.taxes.add(TaxFactory(organization=organization, rate="20.00"))
    subscription = start(organization, plan, at=utc(2023, 2, 8), customer=customer)
    draft = invoice_of(subscription, "subscription_starting")
    assert draft.status == "draft"

    subscription = terminate(subscription, at=utc(2023, 2, 8, 12))
    note = termination_credit_note(subscription)
    assert (note.status, note.number, note.total_amount_cents) == ("draft", "", 4285)

    # Finalizing recomputes the draft's fees (the item follows the new fee) and finalizes the note with it.
    move_clock(organization, utc(2023, 2, 11))
    finalized = billing_invoices.finalize_invoice(invoice=draft).invoice
    note.refresh_from_db()
    assert note.status == "finalized" and note.number == f"{finalized.number}-CN001"
    assert note.total_amount_cents == 4285 and note.credit_status == "available"
    assert note.items.get().fee_id == base_fee(subscription).pk
    # A draft note is never consumed, not even by the invoice it was issued on.
    assert finalized.credit_notes_amount_cents == 0


# --------------------------------------------------------------------------------------------------------------
# Upgrade (§4.4)
# --------------------------------------------------------------------------------------------------------------


def test_ex_4_3_upgrade_credits_the_unused_day_of_the_old_plan():
    organization, _ = sandbox_organization(utc(2023, 6, 29))
    monthly = PlanFactory(organization=organization, amount_cents=1000, pay_in_advance=True)
    yearly = PlanFactory(
        organization=organization, interval="yearly", amount_cents=12000, pay_in_advance=True
    )
    old = start(organization, monthly, at=utc(2023, 6, 29, 12, 12), billing_time="anniversary")
    bill_subscription(old, now=utc(2023, 8, 29, 1))  # periods from 07-29 and 08-29, each in full
    august = Fee.objects.get(
        subscription=old, fee_type="subscription", properties__from_datetime="2023-08-29T00:00:00Z"
    )
    assert august.amount_cents == 1000

    old, new, note, invoices = upgrade(old, yearly, at=utc(2023, 9, 28, 10))
    assert old.status == "terminated" and new.previous_subscription_id == old.pk
    assert note.reason == "order_cancellation"
    assert note.total_amount_cents == 32  # 1 day (the upgrade day) × 1000/31
    assert note.items.get().fee_id == august.pk
    [start_invoice] = invoices
    assert (
        Fee.objects.get(invoice=start_invoice, fee_type="subscription").amount_cents == 9016
    )  # 275 × 12000/366
    assert start_invoice.credit_notes_amount_cents == 32
    assert start_invoice.total_amount_cents == 9016 - 32
    note.refresh_from_db()
    assert (note.balance_amount_cents, note.credit_status) == (0, "consumed")


def test_ex_4_5_upgrade_credit_note_is_consumed_by_the_new_plan_invoice():
    organization, _ = sandbox_organization(utc(2023, 5, 1))
    plan_a = PlanFactory(organization=organization, amount_cents=2000, pay_in_advance=True)
    plan_b = PlanFactory(organization=organization, amount_cents=4000, pay_in_advance=True)
    old = start(organization, plan_a, at=utc(2023, 5, 1))
    assert base_fee(old).amount_cents == 2000

    old, _new, note, invoices = upgrade(old, plan_b, at=utc(2023, 5, 11, 9))
    assert note.total_amount_cents == 1355  # 21 unused days × 2000/31 = 1354.84
    [start_invoice] = invoices
    assert start_invoice.fees_amount_cents == 2710  # 21 days × 4000/31
    assert start_invoice.credit_notes_amount_cents == 1355
    assert start_invoice.total_amount_cents == 1355
    note.refresh_from_db()
    assert (note.balance_amount_cents, note.credit_status) == (0, "consumed")
    credit = Credit.objects.get(invoice=start_invoice)
    assert (credit.credit_note_id, credit.amount_cents, credit.before_taxes) == (note.pk, 1355, False)


def test_a_partly_consumed_note_keeps_its_balance_for_the_next_invoice():
    organization, _ = sandbox_organization(utc(2023, 5, 1))
    plan = PlanFactory(organization=organization, amount_cents=31000, pay_in_advance=True)
    cheap = PlanFactory(organization=organization, amount_cents=1000, pay_in_advance=False)
    subscription = terminate(start(organization, plan, at=utc(2023, 5, 1)), at=utc(2023, 5, 21))
    note = termination_credit_note(subscription)
    assert note.total_amount_cents == 10000  # 10 unused days × 1000

    customer = subscription.customer
    other = start(organization, cheap, at=utc(2023, 5, 21), customer=customer, external_id="sub_2")
    june = bill_subscription(other, now=utc(2023, 6, 1, 1)).invoices[0]  # 11 days × 1000/31 = 355
    assert (june.credit_notes_amount_cents, june.total_amount_cents) == (355, 0)
    note.refresh_from_db()
    assert (note.balance_amount_cents, note.credit_status) == (10000 - 355, "available")

    july = bill_subscription(other, now=utc(2023, 7, 1, 1)).invoices[0]
    assert (july.credit_notes_amount_cents, july.total_amount_cents) == (1000, 0)
    note.refresh_from_db()
    assert note.balance_amount_cents == 10000 - 355 - 1000
    assert Credit.objects.filter(credit_note=note).count() == 2


def test_subscription_factory_plans_stay_consistent():
    # Guard for the helpers above: a factory subscription on a pay-in-advance plan has no note until terminated.
    subscription = SubscriptionFactory(plan=PlanFactory(pay_in_advance=True))
    assert termination_credit_note(subscription) is None
