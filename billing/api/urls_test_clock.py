from django.urls import path

from billing.api.test_clock import TestClockView

urlpatterns = [
    path("test_clock", TestClockView.as_view({"get": "retrieve"}), name="test-clock"),
    path("test_clock/advance", TestClockView.as_view({"post": "advance"}), name="test-clock-advance"),
]
