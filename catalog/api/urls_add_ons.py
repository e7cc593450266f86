"""URL routes: add_ons."""

urlpatterns: list = []
