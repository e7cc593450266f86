"""Exactly-once rules under real concurrency: separate threads, separate database connections."""

from __future__ import annotations

import contextlib
import datetime as dt
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection

from billing.services import invoices as billing_invoices
from config import errors
from invoicing.models import Credit, Invoice, InvoiceSubscription
from invoicing.services import AlreadyBilled, create_invoice, finalize_invoice
from tests.billing.factories import SubscriptionFactory
from tests.catalog.factories import AppliedCouponFactory, CouponFactory, PlanFactory
from tests.customers.factories import CustomerFactory, OrganizationFactory
from tests.invoicing.factories import one_off_invoice, periodic, subscription_fee

pytestmark = pytest.mark.django_db(transaction=True)


def _in_threads(work, items, *, workers: int = 8):
    """Run `work(item)` for every item from `workers` threads released together; returns results or exceptions."""
    barrier = threading.Barrier(min(workers, len(items)))

    def run(item):
        try:
            with contextlib.suppress(threading.BrokenBarrierError):
                barrier.wait(timeout=10)
            return work(item)
        except Exception as exc:
            return exc
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(run, items))


def test_twenty_concurrent_finalizations_number_without_gap_or_duplicate():
    organization = OrganizationFactory(document_number_prefix="CONC")
    customers = [CustomerFactory(organization=organization) for _ in range(4)]
    drafts = [one_off_invoice(customers[i % 4], finalize=False) for i in range(20)]

    results = _in_threads(lambda invoice: finalize_invoice(invoice=invoice).invoice.pk, drafts)

    assert all(not isinstance(result, Exception) for result in results), results
    invoices = list(Invoice.objects.filter(organization=organization))
    assert all(invoice.status == "finalized" for invoice in invoices)
    assert sorted(invoice.organization_sequential_id for invoice in invoices) == list(range(1, 21))
    for customer in customers:
        mine = [invoice for invoice in invoices if invoice.customer_id == customer.pk]
        assert sorted(invoice.sequential_id for invoice in mine) == [1, 2, 3, 4, 5]
        assert sorted(invoice.number for invoice in mine) == [
            f"CONC-{customer.sequential_id:03d}-{n:03d}" for n in range(1, 6)
        ]
    assert len({invoice.number for invoice in invoices}) == 20


def test_one_draft_finalized_from_many_threads_is_finalized_once_and_its_coupon_used_once():
    organization = OrganizationFactory()
    customer = CustomerFactory(organization=organization)
    applied = AppliedCouponFactory(
        coupon=CouponFactory(organization=organization, amount_cents=400), customer=customer
    )
    draft = one_off_invoice(customer, [1000], finalize=False)

    results = _in_threads(
        lambda _: billing_invoices.finalize_invoice(invoice=Invoice.objects.get(pk=draft.pk), refresh=False),
        range(6),
    )

    successes = [r for r in results if not isinstance(r, Exception)]
    refusals = [r for r in results if isinstance(r, errors.NotAllowed)]
    assert len(successes) == 1 and len(refusals) == 5, results
    assert {r.code for r in refusals} == {"invoice_not_draft"}
    draft.refresh_from_db()
    assert (draft.sequential_id, draft.coupons_amount_cents, draft.total_amount_cents) == (1, 400, 600)
    assert Credit.objects.filter(applied_coupon=applied).count() == 1


def test_concurrent_billing_runs_bill_a_period_once():
    organization = OrganizationFactory()
    customer = CustomerFactory(organization=organization)
    subscription = SubscriptionFactory(plan=PlanFactory(organization=organization), customer=customer)

    def bill(_):
        return create_invoice(
            organization=organization,
            customer=customer,
            invoice_type="subscription",
            currency="EUR",
            fees=[subscription_fee(subscription, 1000)],
            issuing_date=dt.date(2024, 2, 1),
            subscription_periods=[periodic(subscription)],
        ).invoice.pk

    results = _in_threads(bill, range(6))

    assert sum(not isinstance(r, Exception) for r in results) == 1
    assert sum(isinstance(r, AlreadyBilled) for r in results) == 5, results
    assert Invoice.objects.count() == 1 and InvoiceSubscription.objects.count() == 1
