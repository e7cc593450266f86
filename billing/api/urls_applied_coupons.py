"""URL routes: applied_coupons."""

urlpatterns: list = []
