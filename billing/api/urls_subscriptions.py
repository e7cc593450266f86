"""URL routes: subscriptions."""

urlpatterns: list = []
