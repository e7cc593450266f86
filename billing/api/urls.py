from django.urls import include, path

urlpatterns = [
    path("", include("billing.api.urls_applied_coupons")),
    path("", include("billing.api.urls_subscriptions")),
    path("", include("billing.api.urls_usage")),
    path("", include("billing.api.urls_test_clock")),
    path("", include("billing.api.urls_preview")),
]
