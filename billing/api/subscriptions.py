"""Subscription endpoints (/subscriptions, /subscriptions/{external_id}, /customers/{id}/subscriptions):
parse, call a service, serialize."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from billing.api.subscription_serializers import (
    SubscriptionCreateInput,
    SubscriptionExtendedSerializer,
    SubscriptionSerializer,
    SubscriptionUpdateInput,
)
from billing.models import Subscription, SubscriptionStatus
from billing.selectors import subscriptions as selectors
from billing.services import subscriptions as services
from config import clock
from config.api.base import OrganizationViewSet, envelope, validated
from config.api.fields import CurrencyField
from customers.api.views import list_filters
from customers.selectors import customer_by_external_id

LISTED_STATUSES = ["active", "canceled", "pending", "terminated"]


class SubscriptionListParams(serializers.Serializer):
    external_customer_id = serializers.CharField(required=False)
    plan_code = serializers.CharField(required=False)
    currency = CurrencyField(required=False)
    status = serializers.ListField(child=serializers.ChoiceField(LISTED_STATUSES), required=False)


class CustomerSubscriptionListParams(serializers.Serializer):
    plan_code = serializers.CharField(required=False)
    status = serializers.ListField(child=serializers.ChoiceField(LISTED_STATUSES), required=False)


class SubscriptionStatusParam(serializers.Serializer):
    status = serializers.ChoiceField(SubscriptionStatus.choices, required=False)


PAGE_PARAMETERS = [OpenApiParameter("page", int), OpenApiParameter("per_page", int)]
STATUS_LIST_PARAMETER = OpenApiParameter("status[]", str, many=True, enum=LISTED_STATUSES)


def _status_param(request) -> str | None:
    return validated(
        SubscriptionStatusParam, {k: v for k, v in request.query_params.items() if k == "status"}
    ).get("status")


class SubscriptionViewSet(OrganizationViewSet):
    root, root_plural = "subscription", "subscriptions"
    output_serializer = SubscriptionSerializer
    lookup_field = "external_id"
    lookup_value_regex = "[^/]+"

    def context(self) -> dict:
        return {"now": clock.now(self.organization)}

    def render_extended(self, subscription: Subscription):
        data = SubscriptionExtendedSerializer(
            selectors.subscription_with_details(subscription), context=self.context()
        ).data
        return Response({self.root: data})

    @extend_schema(
        operation_id="createSubscription",
        request=envelope("subscription", SubscriptionCreateInput),
        responses=envelope("subscription", SubscriptionExtendedSerializer),
    )
    def create(self, request):
        data = validated(SubscriptionCreateInput, self.payload())
        subscription = services.create_subscription(organization=self.organization, data=data)
        bill_now(subscription)
        return self.render_extended(subscription)

    @extend_schema(
        operation_id="findAllSubscriptions",
        parameters=[
            *PAGE_PARAMETERS,
            OpenApiParameter("external_customer_id", str),
            OpenApiParameter("plan_code", str),
            OpenApiParameter("currency", str),
            STATUS_LIST_PARAMETER,
        ],
        responses=envelope("subscriptions", SubscriptionSerializer, many=True, paginated=True),
    )
    def list(self, request):
        filters = list_filters(request, SubscriptionListParams)
        return self.render_page(
            selectors.subscription_list(self.organization, filters=filters), context=self.context()
        )

    @extend_schema(
        operation_id="findSubscription",
        parameters=[OpenApiParameter("status", str, enum=[s.value for s in SubscriptionStatus])],
        responses=envelope("subscription", SubscriptionExtendedSerializer),
    )
    def retrieve(self, request, external_id: str):
        subscription = selectors.subscription_by_external_id(
            self.organization, external_id, status=_status_param(request)
        )
        return self.render_extended(subscription)

    @extend_schema(
        operation_id="updateSubscription",
        parameters=[OpenApiParameter("status", str, enum=["active", "pending"])],
        request=envelope("subscription", SubscriptionUpdateInput),
        responses=envelope("subscription", SubscriptionExtendedSerializer),
    )
    def update(self, request, external_id: str):
        payload = self.payload()
        status = _status_param(request)
        if status is None and isinstance(request.data.get("status"), str):
            status = request.data["status"]
        data = validated(SubscriptionUpdateInput, payload)
        subscription = selectors.subscription_to_update(self.organization, external_id, status=status)
        subscription = services.update_subscription(subscription=subscription, data=data)
        return self.render_extended(subscription)

    @extend_schema(
        operation_id="destroySubscription",
        parameters=[
            OpenApiParameter("status", str),
            OpenApiParameter("on_termination_credit_note", str, enum=["credit", "refund", "offset", "skip"]),
            OpenApiParameter("on_termination_invoice", str, enum=["generate", "skip"]),
        ],
        responses=envelope("subscription", SubscriptionSerializer),
    )
    def destroy(self, request, external_id: str):
        params = request.query_params
        subscription = selectors.subscription_to_terminate(
            self.organization, external_id, status=params.get("status")
        )
        subscription = services.terminate_subscription(
            subscription=subscription,
            on_termination_credit_note=params.get("on_termination_credit_note") or None,
            on_termination_invoice=params.get("on_termination_invoice") or None,
        )
        bill_now(subscription)
        return self.render_one(selectors.subscription_with_details(subscription), context=self.context())


def bill_now(subscription) -> None:
    """What a start, an upgrade or a termination bills at once (Lago invoices these immediately); the hourly run
    would catch anything missed, exactly once either way."""
    from billing.runs import bill_subscription

    chain = [subscription]
    if subscription.previous_subscription_id is not None:
        chain.insert(0, subscription.previous_subscription)
    for member in chain:
        if member.started_at is not None:
            bill_subscription(member)


class CustomerSubscriptionViewSet(OrganizationViewSet):
    root, root_plural = "subscription", "subscriptions"
    output_serializer = SubscriptionSerializer

    @extend_schema(
        operation_id="findAllCustomerSubscriptions",
        parameters=[*PAGE_PARAMETERS, OpenApiParameter("plan_code", str), STATUS_LIST_PARAMETER],
        responses=envelope("subscriptions", SubscriptionSerializer, many=True, paginated=True),
    )
    def list(self, request, external_customer_id: str):
        customer = customer_by_external_id(self.organization, external_customer_id)
        filters = list_filters(request, CustomerSubscriptionListParams)
        filters["customer"] = customer
        return self.render_page(
            selectors.subscription_list(self.organization, filters=filters),
            context={"now": clock.now(self.organization)},
        )
