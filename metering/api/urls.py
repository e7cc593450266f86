"""URL routes: events."""

urlpatterns: list = []
