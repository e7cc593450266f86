"""Coupon endpoints (`/coupons`): input/output shapes and thin views."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import ISO_8601, serializers

from catalog.models import Coupon, CouponExpiration, CouponFrequency, CouponType
from catalog.selectors import coupons as selectors
from catalog.services import coupons as services
from catalog.services.metrics import ruby_decimal_string
from config.api.base import OrganizationViewSet, envelope, validated
from config.api.fields import CurrencyField

PAGE_PARAMETERS = [OpenApiParameter("page", int), OpenApiParameter("per_page", int)]


class DecimalStringField(serializers.CharField):
    """A decimal rendered the way Lago's JSON renders a BigDecimal: a string, "10.0", "12.5"."""

    def to_representation(self, value):
        return ruby_decimal_string(value)


class ExpirationAtField(serializers.DateTimeField):
    """ISO 8601 date-time, or a bare date ("2025-12-31", midnight UTC) as Lago also reads; else `invalid_date`."""

    default_error_messages = {"invalid_date": "Not a date."}

    def __init__(self, **kwargs):
        super().__init__(input_formats=[ISO_8601, "%Y-%m-%d"], **kwargs)

    def to_internal_value(self, value):
        try:
            return super().to_internal_value(value)
        except serializers.ValidationError:
            self.fail("invalid_date")


def expiration_at_field() -> serializers.DateTimeField:
    return ExpirationAtField(required=False, allow_null=True)


class CouponLimitationInput(serializers.Serializer):
    plan_codes = serializers.ListField(
        child=serializers.CharField(max_length=255), required=False, allow_null=True
    )
    billable_metric_codes = serializers.ListField(
        child=serializers.CharField(max_length=255), required=False, allow_null=True
    )


class CouponInput(serializers.Serializer):
    name = serializers.CharField(max_length=255)
    code = serializers.CharField(max_length=255)
    description = serializers.CharField(required=False, allow_null=True, allow_blank=True)
    coupon_type = serializers.ChoiceField(choices=CouponType.choices)
    amount_cents = serializers.IntegerField(required=False, allow_null=True)
    amount_currency = CurrencyField(required=False, allow_null=True)
    percentage_rate = serializers.DecimalField(
        max_digits=10, decimal_places=5, required=False, allow_null=True
    )
    frequency = serializers.ChoiceField(choices=CouponFrequency.choices)
    frequency_duration = serializers.IntegerField(required=False, allow_null=True)
    reusable = serializers.BooleanField(required=False)
    expiration = serializers.ChoiceField(choices=CouponExpiration.choices)
    expiration_at = expiration_at_field()
    applies_to = CouponLimitationInput(required=False, allow_null=True)


class CouponUpdateInput(CouponInput):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, partial=True, **kwargs)


class CouponSerializer(serializers.Serializer):
    lago_id = serializers.UUIDField(source="id")
    name = serializers.CharField()
    code = serializers.CharField()
    description = serializers.CharField(allow_null=True)
    coupon_type = serializers.CharField()
    amount_cents = serializers.IntegerField(allow_null=True)
    amount_currency = serializers.CharField(allow_null=True)
    percentage_rate = DecimalStringField(allow_null=True)
    frequency = serializers.CharField()
    frequency_duration = serializers.IntegerField(allow_null=True)
    reusable = serializers.BooleanField()
    limited_plans = serializers.BooleanField()
    plan_codes = serializers.SerializerMethodField()
    limited_billable_metrics = serializers.BooleanField()
    billable_metric_codes = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()
    expiration = serializers.CharField()
    expiration_at = serializers.DateTimeField(allow_null=True)
    terminated_at = serializers.DateTimeField(allow_null=True)

    def get_plan_codes(self, coupon: Coupon) -> list[str]:
        return sorted(p.code for p in coupon.plans.all())

    def get_billable_metric_codes(self, coupon: Coupon) -> list[str]:
        return sorted(m.code for m in coupon.billable_metrics.all())


class CouponViewSet(OrganizationViewSet):
    root, root_plural = "coupon", "coupons"
    output_serializer = CouponSerializer

    @extend_schema(
        operation_id="createCoupon",
        request=envelope("coupon", CouponInput),
        responses=envelope("coupon", CouponSerializer),
    )
    def create(self, request):
        data = validated(CouponInput, self.payload())
        coupon = services.create_coupon(organization=self.organization, data=data)
        return self.render_one(selectors.coupon_by_code(self.organization, coupon.code))

    @extend_schema(
        operation_id="findAllCoupons",
        parameters=PAGE_PARAMETERS,
        responses=envelope("coupons", CouponSerializer, many=True, paginated=True),
    )
    def list(self, request):
        return self.render_page(selectors.coupon_list(self.organization))

    @extend_schema(operation_id="findCoupon", responses=envelope("coupon", CouponSerializer))
    def retrieve(self, request, code: str):
        return self.render_one(selectors.coupon_by_code(self.organization, code))

    @extend_schema(
        operation_id="updateCoupon",
        request=envelope("coupon", CouponUpdateInput),
        responses=envelope("coupon", CouponSerializer),
    )
    def update(self, request, code: str):
        coupon = selectors.coupon_by_code(self.organization, code)
        data = validated(CouponUpdateInput, self.payload())
        coupon = services.update_coupon(coupon=coupon, data=data)
        return self.render_one(selectors.coupon_by_code(self.organization, coupon.code))

    @extend_schema(operation_id="destroyCoupon", responses=envelope("coupon", CouponSerializer))
    def destroy(self, request, code: str):
        coupon = selectors.coupon_by_code(self.organization, code)
        return self.render_one(services.delete_coupon(coupon=coupon))
