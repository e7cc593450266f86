"""Reads for billable metrics, always scoped by organization; deleted metrics are invisible."""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet

from catalog.models import BillableMetric, BillableMetricFilter
from config import errors


def metric_list(organization) -> QuerySet[BillableMetric]:
    return (
        BillableMetric.objects.filter(organization=organization, deleted_at__isnull=True)
        .prefetch_related(Prefetch("filters", queryset=BillableMetricFilter.objects.order_by("key")))
        .order_by("-created_at", "code")
    )


def metric_by_code(organization, code: str) -> BillableMetric:
    if "\x00" in code:  # PostgreSQL text cannot hold NUL: no such row
        raise errors.NotFound("billable_metric")
    metric = metric_list(organization).filter(code=code).first()
    if metric is None:
        raise errors.NotFound("billable_metric")
    return metric


def metric_filters(metric: BillableMetric) -> list[BillableMetricFilter]:
    """The metric's filters ordered by key, as Lago lists them."""
    return sorted(metric.filters.all(), key=lambda f: f.key)
