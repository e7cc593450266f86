"""Invoicing factories and builders. Invoices are made through the services (so totals, taxes and numbers are
real); `InvoiceFactory` / `FeeFactory` make bare rows for list and filter tests."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import factory

from invoicing.models import Fee, Invoice
from invoicing.services import FeeDraft, SubscriptionPeriod
from tests.catalog.factories import AddOnFactory
from tests.customers.factories import CustomerFactory

UTC = dt.UTC


class InvoiceFactory(factory.django.DjangoModelFactory):
    """A bare finalized invoice row (no fees): for list, filter and tenancy tests."""

    class Meta:
        model = Invoice

    customer = factory.SubFactory(CustomerFactory)
    organization = factory.SelfAttribute("customer.organization")
    invoice_type = "subscription"
    status = "finalized"
    payment_status = "pending"
    currency = "EUR"
    number = factory.Sequence(lambda n: f"INV-{n:05d}")
    issuing_date = dt.date(2024, 1, 1)
    payment_due_date = factory.SelfAttribute("issuing_date")
    fees_amount_cents = 1000
    sub_total_excluding_taxes_amount_cents = factory.SelfAttribute("fees_amount_cents")
    sub_total_including_taxes_amount_cents = factory.SelfAttribute("fees_amount_cents")
    total_amount_cents = factory.SelfAttribute("fees_amount_cents")


class FeeFactory(factory.django.DjangoModelFactory):
    """A bare add-on fee row of an invoice."""

    class Meta:
        model = Fee

    invoice = factory.SubFactory(InvoiceFactory)
    organization = factory.SelfAttribute("invoice.organization")
    customer = factory.SelfAttribute("invoice.customer")
    fee_type = "add_on"
    add_on = factory.SubFactory(AddOnFactory, organization=factory.SelfAttribute("..organization"))
    amount_cents = 1000
    precise_amount_cents = Decimal("1000")
    amount_currency = "EUR"
    units = Decimal("1")


def add_on_fee(add_on, amount_cents: int, *, taxes=(), units: int = 1) -> FeeDraft:
    return FeeDraft(
        fee_type="add_on",
        amount_cents=amount_cents,
        units=units,
        unit_amount_cents=amount_cents // max(units, 1),
        precise_unit_amount=Decimal(amount_cents) / 100 / max(units, 1),
        add_on=add_on,
        taxes=list(taxes),
    )


def subscription_fee(subscription, amount_cents: int, *, taxes=()) -> FeeDraft:
    return FeeDraft(
        fee_type="subscription",
        amount_cents=amount_cents,
        units=1,
        unit_amount_cents=amount_cents,
        precise_unit_amount=Decimal(amount_cents) / 100,
        subscription=subscription,
        properties={
            "from_datetime": dt.datetime(2024, 1, 1, tzinfo=UTC),
            "to_datetime": dt.datetime(2024, 1, 31, 23, 59, 59, tzinfo=UTC),
        },
        taxes=list(taxes),
    )


def charge_fee(
    subscription, charge, amount_cents: int, *, units, events_count: int, taxes=(), **extra
) -> FeeDraft:
    return FeeDraft(
        fee_type="charge",
        amount_cents=amount_cents,
        units=units,
        total_aggregated_units=units,
        events_count=events_count,
        subscription=subscription,
        charge=charge,
        properties={
            "charges_from_datetime": dt.datetime(2024, 1, 1, tzinfo=UTC),
            "charges_to_datetime": dt.datetime(2024, 1, 31, 23, 59, 59, tzinfo=UTC),
        },
        taxes=list(taxes),
        **extra,
    )


def periodic(subscription, timestamp: dt.datetime | None = None) -> SubscriptionPeriod:
    """The January 2024 period of a monthly calendar subscription, billed on Feb 1."""
    return SubscriptionPeriod(
        subscription=subscription,
        invoicing_reason="subscription_periodic",
        timestamp=timestamp or dt.datetime(2024, 2, 1, tzinfo=UTC),
        from_datetime=dt.datetime(2024, 1, 1, tzinfo=UTC),
        to_datetime=dt.datetime(2024, 1, 31, 23, 59, 59, tzinfo=UTC),
        charges_from_datetime=dt.datetime(2024, 1, 1, tzinfo=UTC),
        charges_to_datetime=dt.datetime(2024, 1, 31, 23, 59, 59, tzinfo=UTC),
    )


def one_off_invoice(customer, amounts=(1000,), *, taxes=(), issuing_date=dt.date(2024, 1, 15), finalize=True):
    """A one-off invoice of add-on fees, through invoicing.services.create_invoice (finalized unless told)."""
    from invoicing.services import create_invoice

    add_on = AddOnFactory(organization=customer.organization)
    return create_invoice(
        organization=customer.organization,
        customer=customer,
        invoice_type="one_off",
        currency=customer.currency or "EUR",
        fees=[add_on_fee(add_on, amount, taxes=taxes) for amount in amounts],
        issuing_date=issuing_date,
        finalize=finalize,
    ).invoice
