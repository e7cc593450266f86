"""Event shapes: Lago's EventInput (documentation only: ingestion validates by hand, see metering.ingest) and
the Event object, rendered by a plain function because a batch renders 100 of them per request."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from metering.selectors import NOT_BILLABLE_REASONS


def iso_millis(value: datetime | None) -> str | None:
    """Lago's event timestamps: ISO-8601 UTC with milliseconds (`2024-03-01T12:00:00.123Z`)."""
    if value is None:
        return None
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def decimal_text(value: Decimal | None) -> str | None:
    if value is None:
        return None
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "") else text


def _uuid_text(value) -> str | None:
    return None if value is None else str(value)


def events_payload(events) -> list[dict]:
    """event_payload for a freshly stored batch (they share one created_at: formatted once)."""
    created = {}
    payloads = []
    for event in events:
        if event.created_at not in created:
            created[event.created_at] = iso_millis(event.created_at)
        payloads.append(event_payload(event, created_at=created[event.created_at]))
    return payloads


def event_payload(event, *, with_status: bool = False, created_at: str | None = None) -> dict:
    data = {
        "lago_id": str(event.id) if event.id is not None else None,
        "transaction_id": event.transaction_id,
        "lago_customer_id": _uuid_text(getattr(event, "lago_customer_id", None)),
        "lago_subscription_id": _uuid_text(getattr(event, "lago_subscription_id", None)),
        "external_subscription_id": event.external_subscription_id,
        "code": event.code,
        "timestamp": iso_millis(event.timestamp),
        "precise_total_amount_cents": decimal_text(event.precise_total_amount_cents),
        "properties": event.properties,
        "created_at": created_at or iso_millis(event.created_at),
    }
    if with_status:
        reason = getattr(event, "not_billable_reason", None)
        data["billable"] = {"status": "not_billable" if reason else "billable", "reason": reason}
    return data


@extend_schema_field({"oneOf": [{"type": "integer"}, {"type": "string"}]})
class _TimestampField(serializers.JSONField):
    pass


class EventInputSerializer(serializers.Serializer):
    transaction_id = serializers.CharField()
    external_subscription_id = serializers.CharField()
    code = serializers.CharField()
    timestamp = _TimestampField(required=False)
    precise_total_amount_cents = serializers.CharField(required=False, allow_null=True)
    properties = serializers.DictField(required=False, allow_null=True)


class EventBatchInputSerializer(serializers.Serializer):
    events = EventInputSerializer(many=True)


class EventEstimateInputSerializer(serializers.Serializer):
    code = serializers.CharField()
    external_subscription_id = serializers.CharField()
    properties = serializers.DictField(required=False)
    # Tollbooth also reads these (all optional): the estimate's timestamp and a dynamic-model amount.
    timestamp = _TimestampField(required=False)
    precise_total_amount_cents = serializers.CharField(required=False, allow_null=True)


class EventSerializer(serializers.Serializer):
    """Lago's Event object."""

    lago_id = serializers.CharField(allow_null=True)
    transaction_id = serializers.CharField()
    lago_customer_id = serializers.UUIDField(allow_null=True)
    lago_subscription_id = serializers.UUIDField(allow_null=True)
    external_subscription_id = serializers.CharField()
    code = serializers.CharField()
    timestamp = serializers.DateTimeField()
    precise_total_amount_cents = serializers.CharField(allow_null=True)
    properties = serializers.DictField()
    created_at = serializers.DateTimeField(allow_null=True)

    def to_representation(self, instance):
        return event_payload(instance)


class BillableStatusSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["billable", "not_billable"])
    reason = serializers.ChoiceField(choices=NOT_BILLABLE_REASONS, allow_null=True)


class EventWithStatusSerializer(EventSerializer):
    """The Event object plus Tollbooth's `billable` block: why an event is (not) counted."""

    billable = BillableStatusSerializer()

    def to_representation(self, instance):
        return event_payload(instance, with_status=True)
