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


def draft_subscription_invoice(*, frozen_time: dt.datetime | None = None):
    """A draft made by the billing engine, as finance staff find it during a grace period.

    A sandbox organization whose clock stands at ``frozen_time`` (default 2024-02-02 12:00 UTC); customer `acme`
    (3 days of grace, taxed 20 %); plan `pro` (100.00 a month, in arrears) with a graduated charge on `api_calls`
    (sum): units 0–10 at 1.00, 11+ at 0.50. 20 units in January, 4 in February (current usage 4.00 + 0.80 tax).
    Billed on Feb 1: the draft has the base fee 10 000 and the charge fee 1 500 (10 × 1.00 + 10 × 0.50); taxes
    2 300; total 13 800. Returns a namespace: organization, secret, customer, subscription, charge, invoice."""
    from types import SimpleNamespace

    from billing.runs import run_billing
    from metering.models import Event
    from tests.billing.factories import SubscriptionFactory, sandbox_organization
    from tests.catalog.factories import BillableMetricFactory, ChargeFactory, PlanFactory
    from tests.customers.factories import TaxFactory

    frozen_time = frozen_time or dt.datetime(2024, 2, 2, 12, tzinfo=UTC)
    organization, secret = sandbox_organization(frozen_time)
    customer = CustomerFactory(
        organization=organization,
        external_id="acme",
        name="Acme Corp",
        email="billing@acme.test",
        currency="EUR",
        invoice_grace_period=3,
    )
    customer.taxes.set([TaxFactory(organization=organization, code="vat_20", name="VAT", rate="20")])
    plan = PlanFactory(organization=organization, code="pro", name="Pro", amount_cents=10_000)
    metric = BillableMetricFactory(
        organization=organization, code="api_calls", name="API calls", aggregation_type="sum_agg"
    )
    charge = ChargeFactory(
        plan=plan,
        billable_metric=metric,
        charge_model="graduated",
        properties={
            "graduated_ranges": [
                {"from_value": 0, "to_value": 10, "per_unit_amount": "1", "flat_amount": "0"},
                {"from_value": 11, "to_value": None, "per_unit_amount": "0.5", "flat_amount": "0"},
            ]
        },
    )
    subscription = SubscriptionFactory(plan=plan, customer=customer, external_id="acme_pro")
    # created_at is auto_now_add: the subscription was created when it started (a run bills no earlier period).
    type(subscription).objects.filter(pk=subscription.pk).update(created_at=subscription.started_at)
    events = [(dt.datetime(2024, 1, 10, tzinfo=UTC), "20"), (dt.datetime(2024, 2, 1, 8, tzinfo=UTC), "4")]
    Event.objects.bulk_create(
        Event(
            organization=organization,
            transaction_id=f"tx_{index}",
            external_subscription_id=subscription.external_id,
            code="api_calls",
            timestamp=at,
            properties={"value": value},
            created_at=at,
        )
        for index, (at, value) in enumerate(events)
    )
    (invoice,) = run_billing(organization=organization).invoices
    return SimpleNamespace(
        organization=organization,
        secret=secret,
        customer=customer,
        subscription=subscription,
        charge=charge,
        invoice=invoice,
    )
