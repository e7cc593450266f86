"""Reads of events, and "why isn't my event counted?" computed at read time, in SQL.

An event is billable when it can be aggregated today: a subscription with its `external_subscription_id`
existed at its timestamp (`started_at ≤ timestamp ≤ terminated_at`), a live metric has its code, that metric is
charged on the plan of such a subscription, and its value is usable by the metric's aggregation
(§2.1: a numeric `properties[field_name]` for sum/max/latest/weighted sum, a present one for unique count).
Because it is computed against the current subscriptions and metrics, a subscription created later with a past
start date makes earlier events billable.
"""

from __future__ import annotations

from datetime import datetime

from django.apps import apps
from django.db.models import CharField, QuerySet
from django.db.models.expressions import RawSQL

from catalog.models import BillableMetric, Charge
from config import errors
from metering.ingest import NUMERIC_VALUE_PATTERN
from metering.models import Event

NOT_BILLABLE_REASONS = (
    "subscription_not_found",
    "subscription_not_active_at_timestamp",
    "billable_metric_not_found",
    "billable_metric_not_in_plan",
    "value_not_usable",
)
VALUE_AGGREGATIONS = ("sum_agg", "max_agg", "latest_agg", "weighted_sum_agg")


def _tables() -> dict[str, str]:
    # billing sits to the right of metering: reached through the app registry, never imported.
    subscription = apps.get_model("billing", "Subscription")
    return {
        "event": Event._meta.db_table,
        "subscription": subscription._meta.db_table,
        "metric": BillableMetric._meta.db_table,
        "charge": Charge._meta.db_table,
    }


def _active_at_timestamp(alias: str, event: str) -> str:
    return (
        f"{alias}.organization_id = {event}.organization_id"
        f" AND {alias}.external_id = {event}.external_subscription_id"
        f' AND {alias}.started_at IS NOT NULL AND {alias}.started_at <= {event}."timestamp"'
        f' AND ({alias}.terminated_at IS NULL OR {event}."timestamp" <= {alias}.terminated_at)'
    )


def not_billable_reason_sql() -> RawSQL:
    """SQL expression: NULL when the event is billable, else the first reason it is not."""
    t = _tables()
    ev = t["event"]
    value_aggregations = ", ".join(f"'{a}'" for a in VALUE_AGGREGATIONS)
    sql = f"""CASE
    WHEN NOT EXISTS (SELECT 1 FROM {t["subscription"]} s
                     WHERE s.organization_id = {ev}.organization_id
                       AND s.external_id = {ev}.external_subscription_id)
        THEN 'subscription_not_found'
    WHEN NOT EXISTS (SELECT 1 FROM {t["subscription"]} s WHERE {_active_at_timestamp("s", ev)})
        THEN 'subscription_not_active_at_timestamp'
    WHEN NOT EXISTS (SELECT 1 FROM {t["metric"]} m
                     WHERE m.organization_id = {ev}.organization_id AND m.code = {ev}.code
                       AND m.deleted_at IS NULL)
        THEN 'billable_metric_not_found'
    WHEN NOT EXISTS (SELECT 1 FROM {t["subscription"]} s
                     JOIN {t["charge"]} c ON c.plan_id = s.plan_id AND c.deleted_at IS NULL
                     JOIN {t["metric"]} m ON m.id = c.billable_metric_id AND m.deleted_at IS NULL
                     WHERE {_active_at_timestamp("s", ev)} AND m.code = {ev}.code)
        THEN 'billable_metric_not_in_plan'
    WHEN EXISTS (SELECT 1 FROM {t["metric"]} m
                 WHERE m.organization_id = {ev}.organization_id AND m.code = {ev}.code AND m.deleted_at IS NULL
                   AND ((m.aggregation_type IN ({value_aggregations})
                         AND NOT coalesce(({ev}.properties ->> m.field_name) ~ %s, FALSE))
                        OR (m.aggregation_type = 'unique_count_agg'
                            AND ({ev}.properties ->> m.field_name) IS NULL)))
        THEN 'value_not_usable'
    END"""  # noqa: S608
    return RawSQL(sql, (NUMERIC_VALUE_PATTERN,), output_field=CharField())  # noqa: S611


def _attributed_subscription_sql(column: str) -> RawSQL:
    t = _tables()
    sql = (
        f"(SELECT s.{column} FROM {t['subscription']} s WHERE {_active_at_timestamp('s', t['event'])}"  # noqa: S608
        f" ORDER BY s.started_at DESC LIMIT 1)"
    )
    return RawSQL(sql, (), output_field=CharField())  # noqa: S611


def event_queryset(organization) -> QuerySet[Event]:
    """The organization's events with their billable status and attributed subscription (for rendering)."""
    return Event.objects.filter(organization=organization).annotate(
        not_billable_reason=not_billable_reason_sql(),
        lago_subscription_id=_attributed_subscription_sql("id"),
        lago_customer_id=_attributed_subscription_sql("customer_id"),
    )


def event_by_transaction_id(organization, transaction_id: str) -> Event:
    """Org-wide look-up by transaction id (Lago: the first match)."""
    event = event_queryset(organization).filter(transaction_id=transaction_id).order_by("id").first()
    if event is None:
        raise errors.NotFound("event")
    return event


def event_list(
    organization,
    *,
    external_subscription_id: str | None = None,
    code: str | None = None,
    timestamp_from: datetime | None = None,
    timestamp_to: datetime | None = None,
    timestamp_from_started_at: bool = False,
    billable: bool | None = None,
    not_billable_reason: str | None = None,
) -> QuerySet[Event]:
    """findAllEvents, newest first. `billable` / `not_billable_reason` (Tollbooth extensions) filter in SQL."""
    qs = event_queryset(organization).order_by("-timestamp", "-id")
    if external_subscription_id:
        qs = qs.filter(external_subscription_id=external_subscription_id)
        if timestamp_from_started_at:
            started_at = subscription_started_at(organization, external_subscription_id)
            if started_at is not None:
                timestamp_from = max(timestamp_from, started_at) if timestamp_from else started_at
    if code:
        qs = qs.filter(code=code)
    if timestamp_from is not None:
        qs = qs.filter(timestamp__gte=timestamp_from)
    if timestamp_to is not None:
        qs = qs.filter(timestamp__lte=timestamp_to)
    if billable is not None or not_billable_reason:
        qs = qs.alias(reason=not_billable_reason_sql())
        if billable is True:
            qs = qs.filter(reason__isnull=True)
        elif billable is False:
            qs = qs.filter(reason__isnull=False)
        if not_billable_reason:
            qs = qs.filter(reason=not_billable_reason)
    return qs


def subscription_started_at(organization, external_id: str) -> datetime | None:
    """started_at of the external id's current subscription (active, else the latest started)."""
    subscription = apps.get_model("billing", "Subscription")
    row = (
        subscription.objects.filter(
            organization=organization, external_id=external_id, started_at__isnull=False
        )
        .order_by("-started_at")
        .values_list("started_at", flat=True)
        .first()
    )
    return row
