"""URL routes: usage."""

urlpatterns: list = []
