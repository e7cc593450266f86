"""URL routes: subscriptions."""

from django.urls import path

from billing.api.subscriptions import CustomerSubscriptionViewSet, SubscriptionViewSet

urlpatterns: list = [
    path(
        "subscriptions",
        SubscriptionViewSet.as_view({"get": "list", "post": "create"}),
        name="subscription-list",
    ),
    path(
        "subscriptions/<str:external_id>",
        SubscriptionViewSet.as_view({"get": "retrieve", "put": "update", "delete": "destroy"}),
        name="subscription-detail",
    ),
    path(
        "customers/<str:external_customer_id>/subscriptions",
        CustomerSubscriptionViewSet.as_view({"get": "list"}),
        name="customer-subscription-list",
    ),
]
