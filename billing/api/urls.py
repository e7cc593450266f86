from django.urls import include, path

urlpatterns = [
    path("", include("billing.api.urls_applied_coupons")),
    path("", include("billing.api.urls_subscriptions")),
    path("", include("billing.api.urls_usage")),
]
