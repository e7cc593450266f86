"""URL routes: metrics."""

from django.urls import path

from catalog.api.metrics import BillableMetricViewSet

urlpatterns: list = [
    path(
        "billable_metrics",
        BillableMetricViewSet.as_view({"get": "list", "post": "create"}),
        name="billable-metric-list",
    ),
    # Before the detail route, which would otherwise take "evaluate_expression" for a code.
    path(
        "billable_metrics/evaluate_expression",
        BillableMetricViewSet.as_view({"post": "evaluate_expression"}),
        name="billable-metric-evaluate-expression",
    ),
    path(
        "billable_metrics/<str:code>",
        BillableMetricViewSet.as_view({"get": "retrieve", "put": "update", "delete": "destroy"}),
        name="billable-metric-detail",
    ),
]
