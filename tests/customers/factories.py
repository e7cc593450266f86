import factory

from catalog.models import Tax
from customers.models import Customer, Organization


class OrganizationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Organization

    name = factory.Sequence(lambda n: f"Organization {n}")
    default_currency = "EUR"
    timezone = "UTC"


class CustomerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Customer

    organization = factory.SubFactory(OrganizationFactory)
    external_id = factory.Sequence(lambda n: f"cust_{n}")
    sequential_id = factory.Sequence(lambda n: n + 1)
    name = factory.Sequence(lambda n: f"Customer {n}")
    currency = "EUR"


class TaxFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Tax

    organization = factory.SubFactory(OrganizationFactory)
    code = factory.Sequence(lambda n: f"tax_{n}")
    name = factory.Sequence(lambda n: f"Tax {n}")
    rate = "20.00"
