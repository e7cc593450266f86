"""URL routes: plans."""

urlpatterns: list = []
