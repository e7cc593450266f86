"""Metering factories and a small builder for usage scenarios (organization on a test clock, metric, plan,
charge, customer, subscription, API client)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

import factory
from rest_framework.test import APIClient

from tests.billing.factories import SubscriptionFactory, sandbox_organization
from tests.catalog.factories import (
    BillableMetricFactory,
    BillableMetricFilterFactory,
    ChargeFactory,
    ChargeFilterFactory,
    PlanFactory,
)
from tests.customers.factories import CustomerFactory, OrganizationFactory

UTC = dt.UTC


class EventFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "metering.Event"

    organization = factory.SubFactory(OrganizationFactory)
    transaction_id = factory.Sequence(lambda n: f"tx_{n}")
    external_subscription_id = "sub"
    code = "metric"
    timestamp = dt.datetime(2024, 3, 10, tzinfo=UTC)
    properties = factory.LazyFunction(dict)
    precise_total_amount_cents = None
    created_at = dt.datetime(2024, 3, 10, tzinfo=UTC)


def api_client(secret: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


@dataclass
class Scenario:
    """An organization frozen at `now`, a customer `cust` with subscription `sub` on a monthly calendar plan."""

    organization: object
    api: APIClient
    customer: object
    plan: object
    subscription: object

    def metric(self, code="metric", aggregation_type="sum_agg", field_name="value", filters=None, **fields):
        if aggregation_type == "count_agg":
            field_name = None
        metric = BillableMetricFactory(
            organization=self.organization,
            code=code,
            aggregation_type=aggregation_type,
            field_name=field_name,
            **fields,
        )
        for key, values in (filters or {}).items():
            BillableMetricFilterFactory(billable_metric=metric, key=key, values=values)
        return metric

    def charge(self, metric, charge_model="standard", properties=None, filters=(), **fields):
        charge = ChargeFactory(
            plan=self.plan,
            organization=self.organization,
            billable_metric=metric,
            charge_model=charge_model,
            properties=properties if properties is not None else {"amount": "1"},
            **fields,
        )
        for position, (values, filter_properties) in enumerate(filters):
            ChargeFilterFactory(charge=charge, values=values, properties=filter_properties, position=position)
        return charge

    def send(self, code="metric", ts=None, tx=None, sub="sub", expect=200, precise=None, **properties):
        payload = {
            "transaction_id": tx or f"tx_{Scenario._next()}",
            "external_subscription_id": sub,
            "code": code,
            "properties": properties,
        }
        if ts is not None:
            payload["timestamp"] = ts
        if precise is not None:
            payload["precise_total_amount_cents"] = precise
        response = self.api.post("/api/v1/events", {"event": payload}, format="json")
        assert response.status_code == expect, response.json()
        return response.json()

    def usage(self, *, apply_taxes=None, customer="cust", sub="sub", expect=200):
        url = f"/api/v1/customers/{customer}/current_usage?external_subscription_id={sub}"
        if apply_taxes is not None:
            url += f"&apply_taxes={apply_taxes}"
        response = self.api.get(url)
        assert response.status_code == expect, response.json()
        return response.json()

    def estimate(self, code="metric", sub="sub", expect=200, **fields):
        response = self.api.post(
            "/api/v1/events/estimate_fees",
            {"event": {"code": code, "external_subscription_id": sub, **fields}},
            format="json",
        )
        assert response.status_code == expect, response.json()
        return response.json()

    _counter = 0

    @staticmethod
    def _next() -> int:
        Scenario._counter += 1
        return Scenario._counter


def scenario(
    *,
    now=dt.datetime(2024, 3, 15, 12, tzinfo=UTC),
    started_at=dt.datetime(2024, 3, 1, tzinfo=UTC),
    interval="monthly",
    billing_time="calendar",
    customer_timezone=None,
    organization_timezone="UTC",
    currency="EUR",
) -> Scenario:
    organization, secret = sandbox_organization(now, timezone=organization_timezone, currency=currency)
    customer = CustomerFactory(
        organization=organization, external_id="cust", timezone=customer_timezone, currency=currency
    )
    plan = PlanFactory(organization=organization, interval=interval, amount_currency=currency)
    subscription = SubscriptionFactory(
        organization=organization,
        plan=plan,
        customer=customer,
        external_id="sub",
        billing_time=billing_time,
        subscription_at=started_at,
        started_at=started_at,
    )
    return Scenario(organization, api_client(secret), customer, plan, subscription)


def charge_usage(body: dict, code: str = "metric") -> dict:
    """The charges_usage entry of a metric code in a current_usage response."""
    usage = body["customer_usage"]
    return next(c for c in usage["charges_usage"] if c["billable_metric"]["code"] == code)


def dec(value) -> Decimal:
    return Decimal(str(value))
