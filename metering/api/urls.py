"""URL routes: events. The fixed paths come before `events/<transaction_id>` (which may contain slashes)."""

from django.urls import path

from billing.api.usage import EstimateFeesView
from metering.api.views import EventViewSet

urlpatterns = [
    path("events", EventViewSet.as_view({"get": "list", "post": "create"}), name="event-list"),
    path("events/batch", EventViewSet.as_view({"post": "batch"}), name="event-batch"),
    path("events/estimate_fees", EstimateFeesView.as_view({"post": "create"}), name="event-estimate-fees"),
    path("events/<path:transaction_id>", EventViewSet.as_view({"get": "retrieve"}), name="event-detail"),
]
