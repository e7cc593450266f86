"""URL routes: applied_coupons."""

from django.urls import path

from billing.api.applied_coupons import AppliedCouponViewSet, CustomerAppliedCouponViewSet

urlpatterns: list = [
    path(
        "applied_coupons",
        AppliedCouponViewSet.as_view({"get": "list", "post": "create"}),
        name="applied-coupon-list",
    ),
    path(
        "customers/<str:external_customer_id>/applied_coupons",
        CustomerAppliedCouponViewSet.as_view({"get": "list"}),
        name="customer-applied-coupon-list",
    ),
    path(
        "customers/<str:external_customer_id>/applied_coupons/<str:applied_coupon_id>",
        CustomerAppliedCouponViewSet.as_view({"delete": "destroy"}),
        name="customer-applied-coupon-detail",
    ),
]
