from django.urls import path

from catalog.api.views import TaxViewSet

urlpatterns = [
    path("taxes", TaxViewSet.as_view({"get": "list", "post": "create"}), name="tax-list"),
    path(
        "taxes/<str:code>",
        TaxViewSet.as_view({"get": "retrieve", "put": "update", "delete": "destroy"}),
        name="tax-detail",
    ),
]
