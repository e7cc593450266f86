"""Writes for billable metrics: create, update, delete, filter changes, expression evaluation.

Validation lives in `validate_metric_attributes`, shared by the API and the admin form, so neither can store a
metric the other would refuse (billing-semantics §2).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction

from catalog.expressions import (
    ExpressionEvaluationError,
    ExpressionSyntaxError,
    evaluate_expression,
    format_value,
    parse_expression,
)
from catalog.models import AggregationType, BillableMetric, BillableMetricFilter, Charge, ChargeFilter
from config import clock, errors

ALL_FILTER_VALUES = "__ALL_FILTER_VALUES__"

# Fields of the metric itself (filters are a relation, handled apart).
METRIC_FIELDS = (
    "name",
    "code",
    "description",
    "aggregation_type",
    "field_name",
    "weighted_interval",
    "recurring",
    "rounding_function",
    "rounding_precision",
    "expression",
)
# Lago (BillableMetrics::UpdateService): once a metric is used by a plan only these stay editable; the
# other keys of an update are silently ignored. Filters stay editable too (handled apart).
EDITABLE_WHEN_ATTACHED = frozenset({"name", "description"})

NOT_RECURRING_TYPES = frozenset({AggregationType.COUNT, AggregationType.MAX, AggregationType.LATEST})
WEIGHTED_INTERVALS = frozenset({"seconds"})
# Aggregated units are rounded to at most this many decimal places (negative: tens, hundreds…).
MAX_ROUNDING_PRECISION = 100


def expression_error_details(error: ExpressionSyntaxError) -> dict[str, list[str]]:
    """Lago's `invalid_expression`, plus where the parser stopped (0-based character offset, as a string).

    `expression_position` is a Tollbooth addition: error_details values stay lists of strings, so a Lago client
    that iterates over them keeps working.
    """
    return {"expression": ["invalid_expression"], "expression_position": [str(error.position)]}


def validate_metric_attributes(attrs: Mapping[str, Any]) -> dict[str, Any]:
    """Check a metric's complete set of attributes; return them normalised or raise ValidationFailed.

    Normalisation: `field_name` is forced to null for count_agg, a blank expression becomes null.
    """
    values = {field: attrs.get(field) for field in METRIC_FIELDS}
    details: dict[str, list[str]] = {}

    def fail(field: str, code: str) -> None:
        details.setdefault(field, []).append(code)

    for field in ("name", "code"):
        if not isinstance(values[field], str) or not values[field].strip():
            fail(field, "value_is_mandatory")

    aggregation_type = values["aggregation_type"]
    if aggregation_type == AggregationType.CUSTOM:
        # Lago's scripted aggregator is deprecated and paid-only; Tollbooth does not implement it.
        fail("aggregation_type", "custom_agg_not_supported")
    elif aggregation_type not in AggregationType.values:
        fail(
            "aggregation_type", "value_is_mandatory" if aggregation_type in (None, "") else "value_is_invalid"
        )

    if values["expression"] is not None and not str(values["expression"]).strip():
        values["expression"] = None

    if aggregation_type == AggregationType.COUNT:
        values["field_name"] = None
        if values["expression"] is not None:
            fail("expression", "not_compatible_with_aggregation_type")
    elif aggregation_type in AggregationType.values and not (values["field_name"] or "").strip():
        fail("field_name", "value_is_mandatory")

    if (
        aggregation_type == AggregationType.WEIGHTED_SUM
        and values["weighted_interval"] not in WEIGHTED_INTERVALS
    ):
        # Lago's model: inclusion in ["seconds"] when weighted_sum_agg, so a missing interval is value_is_invalid.
        fail("weighted_interval", "value_is_invalid")
    elif values["weighted_interval"] is not None and values["weighted_interval"] not in WEIGHTED_INTERVALS:
        fail("weighted_interval", "value_is_invalid")

    if values["recurring"] is None:
        values["recurring"] = False
    if values["recurring"] and aggregation_type in NOT_RECURRING_TYPES:
        fail("recurring", "not_compatible_with_aggregation_type")

    if values["rounding_function"] not in (None, "round", "ceil", "floor"):
        fail("rounding_function", "value_is_invalid")
    precision = values["rounding_precision"]
    if precision is not None and (isinstance(precision, bool) or not isinstance(precision, int)):
        fail("rounding_precision", "value_is_invalid")
    elif precision is not None and abs(precision) > MAX_ROUNDING_PRECISION:
        fail("rounding_precision", "value_is_out_of_range")

    if values["expression"] is not None and "expression" not in details:
        try:
            parse_expression(values["expression"])
        except ExpressionSyntaxError as error:
            for key, codes in expression_error_details(error).items():
                details.setdefault(key, []).extend(codes)

    if details:
        raise errors.ValidationFailed(details)
    return values


def validate_metric_filters(filters: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Filters as [{key, values}]: unique non-blank keys, each with a non-empty list of non-blank strings.

    Duplicate values inside one filter are dropped (order kept), as Lago does.
    """
    normalised: list[dict[str, Any]] = []
    details: dict = {}
    seen: set[str] = set()
    for index, item in enumerate(filters):
        key, raw_values = item.get("key"), item.get("values")
        item_errors: dict[str, list[str]] = {}
        if not isinstance(key, str) or not key.strip():
            item_errors["key"] = ["value_is_mandatory"]
        if not isinstance(raw_values, list | tuple) or not raw_values:
            item_errors["values"] = ["value_is_mandatory"]
        elif not all(isinstance(v, str) and v.strip() for v in raw_values):
            item_errors["values"] = ["value_is_invalid"]
        if item_errors:
            details[str(index)] = item_errors
            continue
        if key in seen:
            raise errors.ValidationFailed({"filters": ["value_already_exist"]})
        seen.add(key)
        normalised.append({"key": key, "values": list(dict.fromkeys(raw_values))})
    if details:
        raise errors.ValidationFailed({"filters": details})
    return normalised


def metric_is_attached_to_plans(metric: BillableMetric) -> bool:
    """Used by a live charge of a live plan: Lago then freezes everything but name, description and filters."""
    if metric.pk is None:
        return False
    return Charge.objects.filter(
        billable_metric=metric, deleted_at__isnull=True, plan__deleted_at__isnull=True
    ).exists()


def _save_metric(metric: BillableMetric) -> None:
    try:
        with transaction.atomic():
            metric.save()
    except IntegrityError:
        raise errors.ValidationFailed({"code": ["value_already_exist"]})


@transaction.atomic
def create_metric(*, organization, data: Mapping[str, Any]) -> BillableMetric:
    values = validate_metric_attributes(data)
    filters = validate_metric_filters(data.get("filters") or [])
    metric = BillableMetric(organization=organization, **values)
    _save_metric(metric)
    for item in filters:
        BillableMetricFilter.objects.create(billable_metric=metric, key=item["key"], values=item["values"])
    return metric


@transaction.atomic
def update_metric(*, metric: BillableMetric, data: Mapping[str, Any]) -> BillableMetric:
    """Apply the keys present in `data`; when the metric is used by a plan only name, description and filters
    change (the other keys are ignored, as in Lago)."""
    metric = BillableMetric.objects.select_for_update().get(pk=metric.pk)
    editable = EDITABLE_WHEN_ATTACHED if metric_is_attached_to_plans(metric) else frozenset(METRIC_FIELDS)
    attrs = {field: getattr(metric, field) for field in METRIC_FIELDS}
    attrs.update({k: v for k, v in data.items() if k in editable})
    values = validate_metric_attributes(attrs)
    filters = validate_metric_filters(data.get("filters") or []) if "filters" in data else None
    for field, value in values.items():
        setattr(metric, field, value)
    _save_metric(metric)
    if filters is not None:
        sync_metric_filters(metric=metric, filters=filters)
    return metric


@transaction.atomic
def sync_metric_filters(*, metric: BillableMetric, filters: Sequence[Mapping[str, Any]]) -> None:
    """Make the metric's filters exactly `filters`, and prune charge filters that used removed keys or values.

    Mirrors Lago's BillableMetricFilters::CreateOrUpdateBatchService: a charge filter keeps the values that still
    exist on the metric (`__ALL_FILTER_VALUES__` always survives); a key left with no value is dropped from it; a
    charge filter left with no key at all is soft-deleted.
    """
    filters = validate_metric_filters(filters)
    wanted = {item["key"]: item["values"] for item in filters}
    existing = {f.key: f for f in metric.filters.all()}
    for key, metric_filter in existing.items():
        if key not in wanted:
            metric_filter.delete()
    for key, values in wanted.items():
        metric_filter = existing.get(key)
        if metric_filter is None:
            BillableMetricFilter.objects.create(billable_metric=metric, key=key, values=values)
        elif metric_filter.values != values:
            metric_filter.values = values
            metric_filter.save(update_fields=["values"])
    _prune_charge_filters(metric, wanted)


def _prune_charge_filters(metric: BillableMetric, wanted: Mapping[str, list[str]]) -> None:
    charge_filters = ChargeFilter.objects.select_for_update().filter(
        charge__billable_metric=metric, charge__deleted_at__isnull=True, deleted_at__isnull=True
    )
    now = None
    for charge_filter in charge_filters:
        current = charge_filter.values if isinstance(charge_filter.values, dict) else {}
        kept: dict[str, list[str]] = {}
        for key, values in current.items():
            if key not in wanted:
                continue
            allowed = set(wanted[key]) | {ALL_FILTER_VALUES}
            remaining = [v for v in (values or []) if v in allowed]
            if remaining:
                kept[key] = remaining
        if kept == current:
            continue
        if kept:
            charge_filter.values = kept
            charge_filter.save(update_fields=["values", "updated_at"])
        else:
            now = now or clock.now(metric.organization)
            charge_filter.deleted_at = now
            charge_filter.save(update_fields=["deleted_at", "updated_at"])


@transaction.atomic
def delete_metric(*, metric: BillableMetric) -> BillableMetric:
    """Soft-delete the metric and the charges (and their filters) pricing it; the code is free again."""
    now = clock.now(metric.organization)
    metric.deleted_at = now
    metric.save(update_fields=["deleted_at", "updated_at"])
    charges = Charge.objects.filter(billable_metric=metric, deleted_at__isnull=True)
    ChargeFilter.objects.filter(charge__in=charges, deleted_at__isnull=True).update(
        deleted_at=now, updated_at=now
    )
    charges.update(deleted_at=now, updated_at=now)
    return metric


# Unix seconds accepted for a sample event: up to 9999-12-31T23:59:59Z either side of the epoch.
MAX_EVENT_TIMESTAMP = 253_402_300_799


def parse_event_timestamp(raw: Any) -> int | None:
    """Lago reads the sample event's timestamp with `to_i`: Unix seconds (int, decimal or numeric string), the
    fraction dropped. None when missing; raises ValueError when not a number or beyond year 9999."""
    if raw is None or raw == "":
        return None
    if isinstance(raw, bool) or not isinstance(raw, int | Decimal | float | str) or len(str(raw)) > 64:
        raise ValueError("not a timestamp")
    try:
        value = Decimal(str(raw).strip())
    except ArithmeticError:
        raise ValueError("not a timestamp")
    if not value.is_finite() or abs(value) > MAX_EVENT_TIMESTAMP:
        raise ValueError("timestamp out of range")
    return int(value)


def _event_timestamp(raw: Any, organization) -> int:
    try:
        timestamp = parse_event_timestamp(raw)
    except ValueError:
        raise errors.ValidationFailed({"event": {"timestamp": ["invalid_format"]}})
    return int(clock.now(organization).timestamp()) if timestamp is None else timestamp


def ruby_decimal_string(value: Decimal) -> str:
    """A decimal as Lago's JSON renders a BigDecimal: plain notation, at least one decimal ("2.0", "12.5")."""
    text = format_value(value)
    if "." not in text and "E" not in text:
        text += ".0"
    return text


def evaluate_metric_expression(
    *, organization, expression: str | None, event: Mapping[str, Any] | None
) -> str:
    """Evaluate `expression` against a sample event (`POST /billable_metrics/evaluate_expression`).

    Numbers come back as decimal strings the way Lago renders its BigDecimal result ("2.0"); strings as is.
    """
    if expression is None or not str(expression).strip():
        raise errors.ValidationFailed({"expression": ["value_is_mandatory"]})
    try:
        parse_expression(expression)
    except ExpressionSyntaxError as error:
        raise errors.ValidationFailed(expression_error_details(error))
    event = event or {}
    timestamp = _event_timestamp(event.get("timestamp"), organization)
    try:
        result = evaluate_expression(
            expression,
            code=str(event.get("code") or ""),
            timestamp=Decimal(timestamp),
            properties=event.get("properties") or {},
        )
    except ExpressionEvaluationError:
        raise errors.ValidationFailed({"event": ["invalid_event"]})
    if isinstance(result, Decimal):
        return ruby_decimal_string(result)
    return result
