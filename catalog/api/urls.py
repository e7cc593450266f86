from django.urls import include, path

from catalog.api.taxes import TaxViewSet

urlpatterns = [
    path("taxes", TaxViewSet.as_view({"get": "list", "post": "create"}), name="tax-list"),
    path(
        "taxes/<str:code>",
        TaxViewSet.as_view({"get": "retrieve", "put": "update", "delete": "destroy"}),
        name="tax-detail",
    ),
    path("", include("catalog.api.urls_metrics")),
    path("", include("catalog.api.urls_add_ons")),
    path("", include("catalog.api.urls_coupons")),
    path("", include("catalog.api.urls_plans")),
]
