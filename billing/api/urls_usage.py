"""URL routes: usage. (POST /events/estimate_fees is routed with the other /events paths, in metering.)"""

from django.urls import path

from billing.api.past_usage import PastUsageView
from billing.api.usage import CurrentUsageView

urlpatterns = [
    path(
        "customers/<str:external_customer_id>/current_usage",
        CurrentUsageView.as_view({"get": "retrieve"}),
        name="customer-current-usage",
    ),
    path(
        "customers/<str:external_customer_id>/past_usage",
        PastUsageView.as_view({"get": "list"}),
        name="customer-past-usage",
    ),
]
