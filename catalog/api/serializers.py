"""Input and output shapes of the catalog endpoints (Lago's field names)."""

from __future__ import annotations

from rest_framework import serializers


class TaxInput(serializers.Serializer):
    name = serializers.CharField(max_length=255)
    code = serializers.CharField(max_length=255)
    description = serializers.CharField(required=False, allow_null=True, allow_blank=True)
    rate = serializers.DecimalField(max_digits=10, decimal_places=4, min_value=0, max_value=100)
    applied_to_organization = serializers.BooleanField(required=False, default=False)


class TaxUpdateInput(TaxInput):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, partial=True, **kwargs)


class TaxSerializer(serializers.Serializer):
    lago_id = serializers.UUIDField(source="id")
    name = serializers.CharField()
    code = serializers.CharField()
    description = serializers.CharField(allow_null=True)
    rate = serializers.FloatField()
    applied_to_organization = serializers.BooleanField()
    created_at = serializers.DateTimeField()
