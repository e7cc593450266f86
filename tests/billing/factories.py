"""Billing factories. Sub-factories keep one organization consistent: pass `organization=` (or the customer or
plan) and everything below follows it."""

import datetime as dt

import factory

from tests.customers.factories import CustomerFactory


class SubscriptionFactory(factory.django.DjangoModelFactory):
    """An active subscription started on 2024-01-01 (UTC) on a monthly in-arrears plan."""

    class Meta:
        model = "billing.Subscription"

    plan = factory.SubFactory("tests.catalog.factories.PlanFactory")
    organization = factory.SelfAttribute("plan.organization")
    customer = factory.SubFactory(CustomerFactory, organization=factory.SelfAttribute("..organization"))
    external_id = factory.Sequence(lambda n: f"sub_{n}")
    status = "active"
    billing_time = "calendar"
    subscription_at = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    started_at = factory.SelfAttribute("subscription_at")


def sandbox_organization(frozen_time: dt.datetime, *, timezone: str = "UTC", currency: str = "EUR"):
    """An organization on a test clock (config.clock.now returns `frozen_time`) and its API key secret."""
    from customers.services import create_organization

    return create_organization(
        name="Sandbox", timezone=timezone, default_currency=currency, sandbox=True, frozen_time=frozen_time
    )


def move_clock(organization, frozen_time: dt.datetime) -> None:
    organization.frozen_time = frozen_time
    organization.save(update_fields=["frozen_time"])
