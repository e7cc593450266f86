"""Test clock endpoints (a Tollbooth extension; Lago has none): GET /test_clock, POST /test_clock/advance."""

from __future__ import annotations

import datetime as dt

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response

from billing.services.test_clock import advance_test_clock
from config import errors
from config.api.base import OrganizationViewSet, envelope, validated


class TestClockSerializer(serializers.Serializer):
    frozen_time = serializers.DateTimeField()


class TestClockAdvanceInput(serializers.Serializer):
    frozen_time = serializers.DateTimeField()


AdvanceResult = inline_serializer(
    name="TestClockAdvanceResult",
    fields={
        "test_clock": TestClockSerializer(),
        "jobs": serializers.DictField(child=serializers.IntegerField()),
    },
)


class TestClockView(OrganizationViewSet):
    root = "test_clock"
    output_serializer = TestClockSerializer

    def _sandbox(self):
        if not self.organization.is_sandbox:
            raise errors.Forbidden("not_a_sandbox_organization")
        return self.organization

    @extend_schema(operation_id="findTestClock", responses=envelope("test_clock", TestClockSerializer))
    def retrieve(self, request):
        return Response({"test_clock": {"frozen_time": _iso(self._sandbox().frozen_time)}})

    @extend_schema(
        operation_id="advanceTestClock",
        request=envelope("test_clock", TestClockAdvanceInput),
        responses=AdvanceResult,
    )
    def advance(self, request):
        organization = self._sandbox()
        data = validated(TestClockAdvanceInput, self.payload())
        jobs = advance_test_clock(organization=organization, frozen_time=data["frozen_time"])
        organization.refresh_from_db()
        return Response({"test_clock": {"frozen_time": _iso(organization.frozen_time)}, "jobs": jobs})


def _iso(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
