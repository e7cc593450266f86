"""Billing runs: the invoices the semantics doc predicts, each exactly once, whatever the run schedule."""

import datetime as dt
import threading
from decimal import Decimal

import pytest
from django.db import connection

from billing.models import Subscription
from billing.runs import bill_subscription, run_billing
from catalog.models import MinimumCommitment
from invoicing.models import Fee, Invoice, InvoiceSubscription
from metering.models import Event
from tests.billing.factories import SubscriptionFactory
from tests.catalog.factories import BillableMetricFactory, ChargeFactory, PlanFactory
from tests.customers.factories import CustomerFactory, OrganizationFactory

pytestmark = pytest.mark.django_db


def utc(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=dt.UTC)


def subscription_on(plan, *, started_at, billing_time="calendar", customer=None, created_at=None, **extra):
    customer = customer or CustomerFactory(organization=plan.organization, currency=plan.amount_currency)
    subscription = SubscriptionFactory(
        plan=plan,
        organization=plan.organization,
        customer=customer,
        billing_time=billing_time,
        subscription_at=started_at,
        started_at=started_at,
        **extra,
    )
    # created_at is auto_now_add: set the creation instant the scenario describes.
    subscription.created_at = created_at or started_at
    Subscription.objects.filter(pk=subscription.pk).update(created_at=subscription.created_at)
    return subscription


def add_events(subscription, code, values, *, at):
    Event.objects.bulk_create(
        Event(
            organization=subscription.organization,
            transaction_id=f"tx-{subscription.external_id}-{code}-{at.isoformat()}-{i}",
            external_subscription_id=subscription.external_id,
            code=code,
            timestamp=at,
            properties={"value": str(value)},
            created_at=at,
        )
        for i, value in enumerate(values)
    )


def fees_of(invoice, fee_type=None):
    fees = Fee.objects.filter(invoice=invoice)
    if fee_type:
        fees = fees.filter(fee_type=fee_type)
    return sorted(fees.values_list("amount_cents", flat=True))


@pytest.fixture
def organization():
    return OrganizationFactory(timezone="UTC", default_currency="EUR")


def test_ex_5_1_in_arrears_calendar_start_mid_month_full_month_then_termination(organization):
    plan = PlanFactory(organization=organization, interval="monthly", amount_cents=2900, pay_in_advance=False)
    subscription = subscription_on(plan, started_at=utc(2024, 2, 10), created_at=utc(2024, 2, 10))

    summary = run_billing(organization=organization, now=utc(2024, 3, 1, 1))
    assert len(summary.invoices) == 1
    february = summary.invoices[0]
    assert fees_of(february, "subscription") == [2000]  # 20/29 × 2900
    assert february.issuing_date == dt.date(2024, 3, 1)
    assert february.total_amount_cents == 2000 and february.status == "finalized"

    march = run_billing(organization=organization, now=utc(2024, 4, 1, 1)).invoices
    assert [fees_of(i, "subscription") for i in march] == [[2900]]

    subscription.status, subscription.terminated_at = "terminated", utc(2024, 4, 12, 15)
    subscription.save()
    final = run_billing(organization=organization, now=utc(2024, 4, 12, 16)).invoices
    assert [fees_of(i, "subscription") for i in final] == [[1160]]  # 12 days × 2900/30
    assert InvoiceSubscription.objects.get(invoice=final[0]).invoicing_reason == "subscription_terminating"


def test_ex_5_4_weekly_in_arrears_and_yearly_in_advance_start(organization):
    weekly = PlanFactory(organization=organization, interval="weekly", amount_cents=700, pay_in_advance=False)
    subscription_on(weekly, started_at=utc(2024, 3, 6), created_at=utc(2024, 3, 6))  # a Wednesday
    invoices = run_billing(organization=organization, now=utc(2024, 3, 11)).invoices
    assert [fees_of(i, "subscription") for i in invoices] == [[500]]

    yearly = PlanFactory(
        organization=organization, interval="yearly", amount_cents=36600, pay_in_advance=True
    )
    yearly_subscription = subscription_on(yearly, started_at=utc(2024, 7, 1), created_at=utc(2024, 7, 1))
    invoices = bill_subscription(yearly_subscription, now=utc(2024, 7, 1, 0, 5)).invoices
    assert [fees_of(i, "subscription") for i in invoices] == [[18400]]  # 184/366 × 36 600


def test_ex_4_7_minimum_commitment_true_up(organization):
    plan = PlanFactory(
        organization=organization, interval="monthly", amount_cents=10000, pay_in_advance=False
    )
    MinimumCommitment.objects.create(plan=plan, amount_cents=1_000_000)
    metric = BillableMetricFactory(
        organization=organization, code="calls", aggregation_type="sum_agg", field_name="value"
    )
    ChargeFactory(plan=plan, billable_metric=metric, charge_model="standard", properties={"amount": "10"})
    subscription = subscription_on(plan, started_at=utc(2024, 2, 28, 10), created_at=utc(2024, 2, 28, 10))
    add_events(subscription, "calls", [1, 1, 1], at=utc(2024, 2, 28, 12))

    february = run_billing(organization=organization, now=utc(2024, 3, 1, 0, 1)).invoices[0]
    assert fees_of(february, "subscription") == [690]  # 2/29 × 10 000
    assert fees_of(february, "charge") == [3000]
    assert fees_of(february, "commitment") == [65276]  # 68 966 − 3 690

    add_events(subscription, "calls", [1], at=utc(2024, 3, 5))
    march = run_billing(organization=organization, now=utc(2024, 4, 1, 0, 1)).invoices[0]
    assert fees_of(march, "commitment") == [989000]  # 1 000 000 − 10 000 − 1 000
    assert march.fees_amount_cents == 1_000_000


def test_charges_are_billed_per_period_and_late_runs_catch_up_with_their_own_issuing_dates(organization):
    plan = PlanFactory(organization=organization, interval="monthly", amount_cents=1000, pay_in_advance=False)
    metric = BillableMetricFactory(
        organization=organization, code="gb", aggregation_type="sum_agg", field_name="value"
    )
    ChargeFactory(plan=plan, billable_metric=metric, charge_model="standard", properties={"amount": "0.5"})
    subscription = subscription_on(plan, started_at=utc(2024, 1, 1), created_at=utc(2024, 1, 1))
    add_events(subscription, "gb", [10, 30], at=utc(2024, 1, 15))
    add_events(subscription, "gb", [4], at=utc(2024, 2, 29, 23, 59, 59))
    add_events(subscription, "gb", [100], at=utc(2024, 3, 1))

    # The scheduler was down from January to mid-April: one run catches up on three periods.
    invoices = sorted(
        run_billing(organization=organization, now=utc(2024, 4, 15)).invoices, key=lambda i: i.issuing_date
    )
    assert [i.issuing_date for i in invoices] == [
        dt.date(2024, 2, 1),
        dt.date(2024, 3, 1),
        dt.date(2024, 4, 1),
    ]
    assert [fees_of(i, "charge") for i in invoices] == [[2000], [200], [5000]]
    assert [i.total_amount_cents for i in invoices] == [3000, 1200, 6000]
    assert all(i.status == "finalized" and i.number for i in invoices)


def test_rerunning_never_bills_twice(organization):
    plan = PlanFactory(organization=organization, interval="monthly", amount_cents=1000, pay_in_advance=True)
    subscription = subscription_on(plan, started_at=utc(2024, 1, 1), created_at=utc(2024, 1, 1))
    first = run_billing(organization=organization, now=utc(2024, 3, 2))
    assert len(first.invoices) == 3  # start (January) + February + March in advance
    again = run_billing(organization=organization, now=utc(2024, 3, 2))
    assert again.invoices == []
    assert bill_subscription(subscription, now=utc(2024, 3, 2)).invoices == []
    assert Invoice.objects.filter(customer=subscription.customer).count() == 3


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_runs_produce_the_invoices_of_one():
    organization = OrganizationFactory()
    plan = PlanFactory(organization=organization, interval="monthly", amount_cents=1000, pay_in_advance=False)
    for _ in range(6):
        subscription_on(plan, started_at=utc(2024, 1, 1), created_at=utc(2024, 1, 1))
    barrier = threading.Barrier(2)
    errors = []

    def run():
        try:
            barrier.wait()
            run_billing(organization=organization, now=utc(2024, 4, 1, 1))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert Invoice.objects.filter(organization=organization).count() == 6 * 3
    assert InvoiceSubscription.objects.filter(organization=organization).count() == 6 * 3
    numbers = list(Invoice.objects.filter(organization=organization).values_list("number", flat=True))
    assert len(set(numbers)) == len(numbers)


def test_ex_4_2_trial_in_advance_bills_at_trial_end(organization):
    plan = PlanFactory(
        organization=organization,
        interval="monthly",
        amount_cents=5_000_000,
        pay_in_advance=True,
        trial_period=Decimal(10),
    )
    subscription_on(plan, started_at=utc(2024, 3, 5, 12, 12), created_at=utc(2024, 3, 5, 12, 12))
    assert run_billing(organization=organization, now=utc(2024, 3, 15, 12, 0)).invoices == []
    invoices = run_billing(organization=organization, now=utc(2024, 3, 15, 12, 13)).invoices
    assert [fees_of(i, "subscription") for i in invoices] == [[2_741_935]]  # 17 days × 5 000 000 / 31


def test_grace_period_keeps_periodic_invoices_draft(organization):
    plan = PlanFactory(organization=organization, interval="monthly", amount_cents=1000, pay_in_advance=False)
    customer = CustomerFactory(organization=organization, invoice_grace_period=3)
    subscription_on(plan, started_at=utc(2024, 1, 1), created_at=utc(2024, 1, 1), customer=customer)
    invoice = run_billing(organization=organization, now=utc(2024, 2, 1, 1)).invoices[0]
    assert invoice.status == "draft" and invoice.number == ""
    assert invoice.expected_finalization_date == dt.date(2024, 2, 4)


def test_backdated_subscription_bills_only_periods_ending_after_its_creation(organization):
    plan = PlanFactory(organization=organization, interval="monthly", amount_cents=1000, pay_in_advance=True)
    subscription = subscription_on(plan, started_at=utc(2024, 1, 1), created_at=utc(2024, 3, 15))
    assert bill_subscription(subscription, now=utc(2024, 3, 20)).invoices == []  # no invoice at creation
    invoices = bill_subscription(subscription, now=utc(2024, 4, 1, 1)).invoices
    assert [fees_of(i, "subscription") for i in invoices] == [[1000]]  # April in advance, in full
    period = InvoiceSubscription.objects.get(invoice=invoices[0])
    assert period.charges_from_datetime == utc(2024, 3, 1)


def test_a_once_coupon_carries_its_remainder_to_the_next_invoice(organization, api):
    from tests.catalog.factories import AppliedCouponFactory, CouponFactory

    plan = PlanFactory(organization=organization, interval="monthly", amount_cents=400, pay_in_advance=False)
    subscription = subscription_on(plan, started_at=utc(2024, 1, 1), created_at=utc(2024, 1, 1))
    applied = AppliedCouponFactory(
        coupon=CouponFactory(organization=organization, amount_cents=1000), customer=subscription.customer
    )
    invoices = sorted(
        run_billing(organization=organization, now=utc(2024, 4, 1, 1)).invoices, key=lambda i: i.issuing_date
    )
    assert [i.coupons_amount_cents for i in invoices] == [400, 400, 200]
    assert [i.total_amount_cents for i in invoices] == [0, 0, 200]
    applied.refresh_from_db()
    assert applied.status == "terminated"
    listed = api.get("/api/v1/applied_coupons", {"status": "terminated"}).json()["applied_coupons"]
    assert listed[0]["amount_cents_remaining"] == 0
