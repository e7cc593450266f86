"""URL routes: coupons."""

urlpatterns: list = []
