"""Catalog factories. Sub-factories keep one organization consistent: pass `organization=` (or the parent
object) and everything below follows it."""

import factory

from tests.customers.factories import OrganizationFactory

# --- plans, charges, filters, fixed charges (plans helper) -------------------------------------------------


class BillableMetricFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "catalog.BillableMetric"

    organization = factory.SubFactory(OrganizationFactory)
    name = factory.Sequence(lambda n: f"Metric {n}")
    code = factory.Sequence(lambda n: f"metric_{n}")
    aggregation_type = "sum_agg"
    field_name = "value"
    recurring = False


class BillableMetricFilterFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "catalog.BillableMetricFilter"

    billable_metric = factory.SubFactory(BillableMetricFactory)
    key = factory.Sequence(lambda n: f"key_{n}")
    values = factory.LazyFunction(lambda: ["a", "b"])


class AddOnFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "catalog.AddOn"

    organization = factory.SubFactory(OrganizationFactory)
    name = factory.Sequence(lambda n: f"Add-on {n}")
    code = factory.Sequence(lambda n: f"add_on_{n}")
    amount_cents = 1000
    amount_currency = "EUR"


class PlanFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "catalog.Plan"

    organization = factory.SubFactory(OrganizationFactory)
    name = factory.Sequence(lambda n: f"Plan {n}")
    code = factory.Sequence(lambda n: f"plan_{n}")
    interval = "monthly"
    amount_cents = 10000
    amount_currency = "EUR"
    pay_in_advance = False


class ChargeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "catalog.Charge"

    plan = factory.SubFactory(PlanFactory)
    organization = factory.SelfAttribute("plan.organization")
    billable_metric = factory.SubFactory(
        BillableMetricFactory, organization=factory.SelfAttribute("..organization")
    )
    code = factory.SelfAttribute("billable_metric.code")
    charge_model = "standard"
    properties = factory.LazyFunction(lambda: {"amount": "1"})


class ChargeFilterFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "catalog.ChargeFilter"

    charge = factory.SubFactory(ChargeFactory)
    properties = factory.LazyFunction(lambda: {"amount": "2"})
    values = factory.LazyFunction(dict)


class FixedChargeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "catalog.FixedCharge"

    plan = factory.SubFactory(PlanFactory)
    organization = factory.SelfAttribute("plan.organization")
    add_on = factory.SubFactory(AddOnFactory, organization=factory.SelfAttribute("..organization"))
    code = factory.SelfAttribute("add_on.code")
    charge_model = "standard"
    properties = factory.LazyFunction(lambda: {"amount": "5"})
    units = 1


# --- coupons and applied coupons (metrics/add-ons/coupons helper) -----------------------------------------


class CouponFactory(factory.django.DjangoModelFactory):
    """A fixed-amount, once, reusable coupon without expiration; use the traits' fields to vary it."""

    class Meta:
        model = "catalog.Coupon"

    organization = factory.SubFactory(OrganizationFactory)
    name = factory.Sequence(lambda n: f"Coupon {n}")
    code = factory.Sequence(lambda n: f"coupon_{n}")
    coupon_type = "fixed_amount"
    amount_cents = 1000
    amount_currency = "EUR"
    frequency = "once"
    reusable = True
    expiration = "no_expiration"


class AppliedCouponFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "billing.AppliedCoupon"

    coupon = factory.SubFactory(CouponFactory)
    organization = factory.SelfAttribute("coupon.organization")
    customer = factory.SubFactory(
        "tests.customers.factories.CustomerFactory", organization=factory.SelfAttribute("..organization")
    )
    amount_cents = factory.SelfAttribute("coupon.amount_cents")
    amount_currency = factory.SelfAttribute("coupon.amount_currency")
    percentage_rate = factory.SelfAttribute("coupon.percentage_rate")
    frequency = factory.SelfAttribute("coupon.frequency")
    frequency_duration = factory.SelfAttribute("coupon.frequency_duration")
    frequency_duration_remaining = factory.SelfAttribute("coupon.frequency_duration")


# One subscription factory for every test module (it needs PlanFactory above, hence imported last).
from tests.billing.factories import SubscriptionFactory  # noqa: E402, F401
