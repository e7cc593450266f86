"""URL routes: coupons."""

from django.urls import path

from catalog.api.coupons import CouponViewSet

urlpatterns: list = [
    path("coupons", CouponViewSet.as_view({"get": "list", "post": "create"}), name="coupon-list"),
    path(
        "coupons/<str:code>",
        CouponViewSet.as_view({"get": "retrieve", "put": "update", "delete": "destroy"}),
        name="coupon-detail",
    ),
]
