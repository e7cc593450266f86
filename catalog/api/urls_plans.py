"""URL routes: plans and their charges / fixed charges."""

from django.urls import path

from catalog.api.plans import PlanChargeViewSet, PlanFixedChargeViewSet, PlanViewSet

urlpatterns: list = [
    path("plans", PlanViewSet.as_view({"get": "list", "post": "create"}), name="plan-list"),
    path(
        "plans/<str:code>",
        PlanViewSet.as_view({"get": "retrieve", "put": "update", "delete": "destroy"}),
        name="plan-detail",
    ),
    path(
        "plans/<str:code>/charges",
        PlanChargeViewSet.as_view({"get": "list", "post": "create"}),
        name="plan-charge-list",
    ),
    path(
        "plans/<str:code>/charges/<str:charge_code>",
        PlanChargeViewSet.as_view({"get": "retrieve", "put": "update", "delete": "destroy"}),
        name="plan-charge-detail",
    ),
    path(
        "plans/<str:code>/fixed_charges",
        PlanFixedChargeViewSet.as_view({"get": "list", "post": "create"}),
        name="plan-fixed-charge-list",
    ),
    path(
        "plans/<str:code>/fixed_charges/<str:fixed_charge_code>",
        PlanFixedChargeViewSet.as_view({"get": "retrieve", "put": "update", "delete": "destroy"}),
        name="plan-fixed-charge-detail",
    ),
]
