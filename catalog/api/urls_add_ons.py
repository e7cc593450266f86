"""URL routes: add_ons."""

from django.urls import path

from catalog.api.add_ons import AddOnViewSet

urlpatterns: list = [
    path("add_ons", AddOnViewSet.as_view({"get": "list", "post": "create"}), name="add-on-list"),
    path(
        "add_ons/<str:code>",
        AddOnViewSet.as_view({"get": "retrieve", "put": "update", "delete": "destroy"}),
        name="add-on-detail",
    ),
]
