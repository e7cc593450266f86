"""Event endpoints: ingestion (single, batch), look-up with billable status, and the filtered list."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from billing.instant_fees import queue_instant_fees
from config import errors
from config.api.base import OrganizationViewSet, envelope, validated
from metering import selectors, services
from metering.api.serializers import (
    EventBatchInputSerializer,
    EventInputSerializer,
    EventSerializer,
    EventWithStatusSerializer,
    event_payload,
    events_payload,
)


class EventFilterParams(serializers.Serializer):
    external_subscription_id = serializers.CharField(required=False)
    code = serializers.CharField(required=False)
    timestamp_from = serializers.DateTimeField(required=False)
    timestamp_to = serializers.DateTimeField(required=False)
    timestamp_from_started_at = serializers.BooleanField(required=False, default=False)
    billable = serializers.BooleanField(required=False, allow_null=True, default=None)
    not_billable_reason = serializers.ChoiceField(choices=selectors.NOT_BILLABLE_REASONS, required=False)


EVENT_LIST_PARAMETERS = [
    OpenApiParameter("page", int),
    OpenApiParameter("per_page", int),
    OpenApiParameter("external_subscription_id", str),
    OpenApiParameter("code", str),
    OpenApiParameter("timestamp_from_started_at", bool),
    OpenApiParameter("timestamp_from", str),
    OpenApiParameter("timestamp_to", str),
    OpenApiParameter("billable", bool, description="Tollbooth: only (not) billable events."),
    OpenApiParameter(
        "not_billable_reason",
        str,
        enum=selectors.NOT_BILLABLE_REASONS,
        description="Tollbooth: only events not billable for this reason.",
    ),
]


class EventViewSet(OrganizationViewSet):
    root, root_plural = "event", "events"
    output_serializer = EventWithStatusSerializer

    @extend_schema(
        operation_id="createEvent",
        request=envelope("event", EventInputSerializer),
        responses=envelope("event", EventSerializer),
    )
    def create(self, request):
        event = services.create_event(organization=self.organization, payload=self.payload())
        queue_instant_fees(organization=self.organization, events=[event])  # pay-in-advance charges (§3.10)
        return Response({"event": event_payload(event)})

    @extend_schema(
        operation_id="createBatchEvents",
        request=EventBatchInputSerializer,
        responses=envelope("events", EventSerializer, many=True),
    )
    def batch(self, request):
        data = request.data
        if not isinstance(data, dict) or "events" not in data or data["events"] is None:
            raise errors.BadRequest("param is missing or the value is empty: events")
        events = services.create_events_batch(organization=self.organization, payloads=data["events"])
        queue_instant_fees(organization=self.organization, events=events)  # pay-in-advance charges (§3.10)
        return Response({"events": events_payload(events)})

    @extend_schema(
        operation_id="findAllEvents",
        parameters=EVENT_LIST_PARAMETERS,
        responses=envelope("events", EventWithStatusSerializer, many=True, paginated=True),
    )
    def list(self, request):
        params = request.query_params
        raw = {name: params.get(name) for name in EventFilterParams().fields if name in params}
        filters = validated(EventFilterParams, raw)
        return self.render_page(selectors.event_list(self.organization, **filters))

    @extend_schema(operation_id="findEvent", responses=envelope("event", EventWithStatusSerializer))
    def retrieve(self, request, transaction_id: str):
        return self.render_one(selectors.event_by_transaction_id(self.organization, transaction_id))
