"""Event endpoints: ingestion (single, batch), look-up with billable status, and the filtered list."""

from __future__ import annotations

from django.http import HttpResponse
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from billing.instant_fees import queue_instant_fees
from config import errors
from config.api.auth import bearer_token
from config.api.base import OrganizationViewSet, envelope, validated
from customers.models import Organization
from customers.selectors import api_key_digest
from metering import ingest, selectors, services
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

    def dispatch(self, request, *args, **kwargs):
        """Ingestion first tries the fast path (docs/events-storage.md, "Ingestion path"): a live key, and a body
        that one SQL statement validates, stores and renders. Whatever it declines (it then stored nothing)
        goes through DRF to `create`/`batch` below, which answer exactly, errors included."""
        action = self.action_map.get(request.method.lower())
        if action in ("create", "batch"):
            response = fast_ingest(request, many=action == "batch")
            if response is not None:
                return response
        return super().dispatch(request, *args, **kwargs)

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


def fast_ingest(request, *, many: bool) -> HttpResponse | None:
    """POST /events or /events/batch without DRF: None when the request needs the full path.

    The API key is checked by the ingestion statement itself (live key → its organization): an unknown or
    revoked key stores nothing and the full path answers 401."""
    if request.META.get("QUERY_STRING"):
        return None
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return None
    token = bearer_token(request.META.get("HTTP_AUTHORIZATION", ""))
    if token is None or not 0 < length <= ingest.FAST_PATH_MAX_BODY:
        return None
    stored = ingest.ingest_json(api_key_digest=api_key_digest(token), body=request.body, many=many)
    if stored is None:
        return None
    if stored.attributed:  # only events attributed to a subscription can be billed on their own
        organization = Organization.objects.get(pk=stored.organization_id)
        queue_instant_fees(
            organization=organization, events=stored.attributed
        )  # pay-in-advance charges (§3.10)
    root = "events" if many else "event"
    return HttpResponse(f'{{"{root}":{stored.json}}}', content_type="application/json")
