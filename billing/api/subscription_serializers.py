"""Input and output shapes of /subscriptions (Lago's SubscriptionCreateInput, SubscriptionUpdateInput,
Subscription and SubscriptionExtended)."""

from __future__ import annotations

import datetime as dt

from django.utils.dateparse import parse_date, parse_datetime
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from billing.models import BillingTime, Subscription
from billing.selectors import subscriptions as selectors
from catalog.api.plan_serializers import (
    BIGINT_MAX,
    ChargeFilterInput,
    MinimumCommitmentInput,
    PlanSerializer,
    UsageThresholdInput,
)
from catalog.selectors.plans import plan_with_details
from config import clock
from config.api.fields import CurrencyField, optional_str

# --- inputs -------------------------------------------------------------------------------------------------


@extend_schema_field(OpenApiTypes.DATETIME)
class LagoDateTimeField(serializers.Field):
    """An ISO-8601 date-time (a bare date is its UTC midnight, no offset means UTC); otherwise `invalid_date`."""

    default_error_messages = {"invalid_date": "Invalid ISO-8601 date-time."}

    def to_internal_value(self, data):
        if not isinstance(data, str) or not data.strip():
            self.fail("invalid_date")
        text = data.strip()
        try:
            parsed = parse_datetime(text)
            if parsed is None:
                day = parse_date(text)
                if day is None:
                    self.fail("invalid_date")
                parsed = dt.datetime.combine(day, dt.time(0), tzinfo=dt.UTC)
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=dt.UTC)
            return parsed.astimezone(dt.UTC)
        except (ValueError, OverflowError):
            self.fail("invalid_date")

    def to_representation(self, value):
        return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _cents(**kwargs) -> serializers.IntegerField:
    return serializers.IntegerField(min_value=0, max_value=BIGINT_MAX, **kwargs)


def _codes() -> serializers.ListField:
    return serializers.ListField(child=serializers.CharField(max_length=255), required=False, allow_null=True)


class ChargeOverrideInput(serializers.Serializer):
    """One charge of the plan, by id, with the values this subscription overrides."""

    id = serializers.UUIDField()
    invoice_display_name = optional_str()
    min_amount_cents = _cents(required=False, allow_null=True)
    properties = serializers.DictField(required=False, allow_null=True, allow_empty=True)
    filters = ChargeFilterInput(many=True, required=False, allow_null=True)
    tax_codes = _codes()


class FixedChargeOverrideInput(serializers.Serializer):
    id = serializers.UUIDField()
    invoice_display_name = optional_str()
    units = serializers.DecimalField(
        max_digits=30, decimal_places=10, min_value=0, required=False, allow_null=True
    )
    properties = serializers.DictField(required=False, allow_null=True, allow_empty=True)
    tax_codes = _codes()
    apply_units_immediately = serializers.BooleanField(required=False, allow_null=True)  # billing's concern


class PlanOverridesInput(serializers.Serializer):
    amount_cents = _cents(required=False)
    amount_currency = CurrencyField(required=False)
    name = serializers.CharField(required=False, max_length=255)
    invoice_display_name = optional_str()
    description = serializers.CharField(required=False, allow_null=True, allow_blank=True, max_length=10_000)
    trial_period = serializers.DecimalField(
        max_digits=10, decimal_places=4, min_value=0, required=False, allow_null=True
    )
    tax_codes = _codes()
    minimum_commitment = MinimumCommitmentInput(required=False, allow_null=True)
    charges = ChargeOverrideInput(many=True, required=False, allow_null=True)
    fixed_charges = FixedChargeOverrideInput(many=True, required=False, allow_null=True)
    usage_thresholds = UsageThresholdInput(many=True, required=False, allow_null=True)

    def to_internal_value(self, data):
        if isinstance(data, dict) and data.get("minimum_commitment") == {}:
            data = {**data, "minimum_commitment": None}  # Lago's `present?`: an empty object changes nothing
        value = super().to_internal_value(data)
        for key in ("tax_codes", "charges", "fixed_charges", "usage_thresholds", "minimum_commitment"):
            if key in value and value[key] is None:
                del value[key]  # null: keep the plan's
        return value


class SubscriptionCreateInput(serializers.Serializer):
    external_customer_id = serializers.CharField(max_length=255)
    plan_code = serializers.CharField(max_length=255)
    external_id = serializers.CharField(max_length=255)
    name = optional_str()
    subscription_at = LagoDateTimeField(required=False, allow_null=True)
    billing_time = serializers.ChoiceField(choices=BillingTime.choices, required=False, allow_null=True)
    ending_at = LagoDateTimeField(required=False, allow_null=True)
    plan_overrides = PlanOverridesInput(required=False, allow_null=True)


class SubscriptionUpdateInput(serializers.Serializer):
    name = optional_str()
    ending_at = LagoDateTimeField(required=False, allow_null=True)
    subscription_at = LagoDateTimeField(required=False, allow_null=True)
    on_termination_credit_note = serializers.CharField(required=False, allow_null=True, allow_blank=True)
    on_termination_invoice = serializers.CharField(required=False, allow_null=True, allow_blank=True)
    plan_overrides = PlanOverridesInput(required=False, allow_null=True)


# --- outputs ------------------------------------------------------------------------------------------------


class SubscriptionPaymentMethodSerializer(serializers.Serializer):
    payment_method_type = serializers.CharField()
    payment_method_id = serializers.UUIDField(allow_null=True)


class SubscriptionUsageThresholdSerializer(serializers.Serializer):
    threshold_display_name = serializers.CharField(allow_null=True)
    amount_cents = serializers.IntegerField()
    recurring = serializers.BooleanField()


def _now(serializer: serializers.Serializer, subscription: Subscription) -> dt.datetime:
    now = serializer.context.get("now")
    return now if now is not None else clock.now(subscription.customer.organization)


class SubscriptionSerializer(serializers.Serializer):
    """Lago's V1::SubscriptionSerializer (the list shape)."""

    lago_id = serializers.UUIDField(source="id")
    external_id = serializers.CharField()
    lago_customer_id = serializers.UUIDField(source="customer_id")
    external_customer_id = serializers.CharField(source="customer.external_id")
    billing_time = serializers.ChoiceField(choices=BillingTime.choices)
    name = serializers.CharField(allow_null=True)
    plan_code = serializers.CharField(source="plan.code")
    plan_amount_cents = serializers.IntegerField(source="plan.amount_cents")
    plan_amount_currency = serializers.CharField(source="plan.amount_currency")
    # pending | active | terminated | canceled | incomplete (a plain string: a named `status` enum would collide
    # with other apps' `status` enums in the OpenAPI components).
    status = serializers.CharField()
    created_at = serializers.DateTimeField()
    canceled_at = serializers.DateTimeField(allow_null=True)
    started_at = serializers.DateTimeField(allow_null=True)
    ending_at = serializers.DateTimeField(allow_null=True)
    subscription_at = serializers.DateTimeField()
    terminated_at = serializers.DateTimeField(allow_null=True)
    previous_plan_code = serializers.SerializerMethodField()
    next_plan_code = serializers.SerializerMethodField()
    downgrade_plan_date = serializers.SerializerMethodField()
    trial_ended_at = serializers.DateTimeField(allow_null=True)
    current_billing_period_started_at = serializers.SerializerMethodField()
    current_billing_period_ending_at = serializers.SerializerMethodField()
    on_termination_credit_note = serializers.CharField(allow_null=True)
    on_termination_invoice = serializers.CharField()
    applied_invoice_custom_sections = serializers.SerializerMethodField()
    payment_method = serializers.SerializerMethodField()

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_previous_plan_code(self, subscription: Subscription) -> str | None:
        previous = subscription.previous_subscription
        return previous.plan.code if previous is not None else None

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_next_plan_code(self, subscription: Subscription) -> str | None:
        following = selectors.live_next_subscription(subscription)
        return following.plan.code if following is not None else None

    @extend_schema_field(serializers.DateField(allow_null=True))
    def get_downgrade_plan_date(self, subscription: Subscription) -> str | None:
        day = selectors.downgrade_plan_date(subscription)
        return day.isoformat() if day is not None else None

    def _period(self, subscription: Subscription):
        cache = self.context.setdefault("_periods", {})
        if subscription.pk not in cache:
            cache[subscription.pk] = selectors.current_billing_period(subscription, _now(self, subscription))
        return cache[subscription.pk]

    @extend_schema_field(serializers.DateTimeField(allow_null=True))
    def get_current_billing_period_started_at(self, subscription: Subscription) -> str | None:
        period = self._period(subscription)
        return _iso(period.charges_from_datetime) if period is not None else None

    @extend_schema_field(serializers.DateTimeField(allow_null=True))
    def get_current_billing_period_ending_at(self, subscription: Subscription) -> str | None:
        period = self._period(subscription)
        return _iso(period.charges_to_datetime) if period is not None else None

    @extend_schema_field(serializers.ListField(child=serializers.DictField()))
    def get_applied_invoice_custom_sections(self, subscription: Subscription) -> list:
        return []  # invoice custom sections are not supported yet

    @extend_schema_field(SubscriptionPaymentMethodSerializer)
    def get_payment_method(self, subscription: Subscription) -> dict:
        return {"payment_method_type": "provider", "payment_method_id": None}


class SubscriptionExtendedSerializer(SubscriptionSerializer):
    """Lago's SubscriptionObjectExtended (create, show, update): with the plan and its usage thresholds."""

    plan = serializers.SerializerMethodField()
    applicable_usage_thresholds = serializers.SerializerMethodField()

    def _plan(self, subscription: Subscription):
        cache = self.context.setdefault("_plans", {})
        if subscription.plan_id not in cache:
            cache[subscription.plan_id] = plan_with_details(subscription.plan)
        return cache[subscription.plan_id]

    @extend_schema_field(PlanSerializer)
    def get_plan(self, subscription: Subscription) -> dict:
        return PlanSerializer(self._plan(subscription)).data

    @extend_schema_field(SubscriptionUsageThresholdSerializer(many=True))
    def get_applicable_usage_thresholds(self, subscription: Subscription) -> list:
        plan = self._plan(subscription)
        thresholds = list(plan.usage_thresholds.all())
        if not thresholds and plan.parent_id is not None:
            thresholds = list(plan.parent.usage_thresholds.all())
        return SubscriptionUsageThresholdSerializer(thresholds, many=True).data


def _iso(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
