"""Input fields shared by every API: currencies, timezones, countries, Lago-style nullable strings."""

from __future__ import annotations

import zoneinfo
from functools import cache

from rest_framework import serializers

from config.lago_enums import COUNTRIES, CURRENCIES


@cache
def _timezones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def is_valid_timezone(name: str) -> bool:
    return isinstance(name, str) and name in _timezones()


class CurrencyField(serializers.CharField):
    default_error_messages = {"value_is_invalid": "Unknown currency."}

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        if value not in CURRENCIES:
            self.fail("value_is_invalid")
        return value


class TimezoneField(serializers.CharField):
    default_error_messages = {"invalid_timezone": "Unknown timezone."}

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        if not is_valid_timezone(value):
            self.fail("invalid_timezone")
        return value


class CountryField(serializers.CharField):
    default_error_messages = {"country_code_invalid": "Unknown country code."}

    def to_internal_value(self, data):
        value = super().to_internal_value(data).upper()
        if value not in COUNTRIES:
            self.fail("country_code_invalid")
        return value


def optional_str(max_length: int = 255, **kwargs) -> serializers.CharField:
    return serializers.CharField(
        required=False,
        allow_null=True,
        allow_blank=True,
        max_length=max_length,
        trim_whitespace=True,
        **kwargs,
    )


class StrictBooleanField(serializers.BooleanField):
    """Booleans as JSON true/false (and their usual string forms), never arbitrary truthiness."""
