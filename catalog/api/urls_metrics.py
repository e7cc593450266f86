"""URL routes: metrics."""

urlpatterns: list = []
