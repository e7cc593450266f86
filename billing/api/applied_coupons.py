"""Applied coupon endpoints: `POST/GET /applied_coupons`, `GET /customers/{id}/applied_coupons`,
`DELETE /customers/{id}/applied_coupons/{applied_coupon_id}`."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.response import Response

from billing.models import AppliedCoupon
from billing.selectors import applied_coupons as selectors
from billing.services import applied_coupons as services
from catalog.api.coupons import DecimalStringField
from catalog.models import CouponFrequency, CouponStatus
from catalog.selectors.coupons import coupon_by_code
from config import errors
from config.api.base import OrganizationViewSet, envelope, validated
from config.api.fields import CurrencyField
from customers.selectors import customer_by_external_id as _customer_by_external_id


def customer_by_external_id(organization, external_id: str):
    if "\x00" in external_id:  # PostgreSQL text cannot hold NUL: no such customer
        raise errors.NotFound("customer")
    return _customer_by_external_id(organization, external_id)


class AppliedCouponInput(serializers.Serializer):
    external_customer_id = serializers.CharField(max_length=255)
    coupon_code = serializers.CharField(max_length=255)
    frequency = serializers.ChoiceField(choices=CouponFrequency.choices, required=False, allow_null=True)
    frequency_duration = serializers.IntegerField(required=False, allow_null=True)
    amount_cents = serializers.IntegerField(
        required=False, allow_null=True, min_value=0, max_value=services.MAX_AMOUNT_CENTS
    )
    amount_currency = CurrencyField(required=False, allow_null=True)
    percentage_rate = serializers.DecimalField(
        max_digits=10, decimal_places=5, required=False, allow_null=True
    )


class AppliedCouponFilterParams(serializers.Serializer):
    # Lago ignores an unknown status rather than refusing it.
    status = serializers.CharField(required=False, allow_blank=True)
    external_customer_id = serializers.CharField(required=False, allow_blank=True)
    coupon_code = serializers.ListField(child=serializers.CharField(), required=False)


class AppliedCouponSerializer(serializers.Serializer):
    lago_id = serializers.UUIDField(source="id")
    lago_coupon_id = serializers.UUIDField(source="coupon.id")
    coupon_code = serializers.CharField(source="coupon.code")
    coupon_name = serializers.CharField(source="coupon.name")
    coupon_status = serializers.CharField(source="coupon.status")
    coupon_deleted_at = serializers.DateTimeField(source="coupon.deleted_at", allow_null=True)
    lago_customer_id = serializers.UUIDField(source="customer.id")
    external_customer_id = serializers.CharField(source="customer.external_id")
    status = serializers.CharField()
    amount_cents = serializers.IntegerField(allow_null=True)
    amount_cents_remaining = serializers.SerializerMethodField()
    amount_currency = serializers.CharField(allow_null=True)
    percentage_rate = DecimalStringField(allow_null=True)
    frequency = serializers.CharField()
    frequency_duration = serializers.IntegerField(allow_null=True)
    frequency_duration_remaining = serializers.IntegerField(allow_null=True)
    expiration_at = serializers.DateTimeField(source="coupon.expiration_at", allow_null=True)
    created_at = serializers.DateTimeField()
    terminated_at = serializers.DateTimeField(allow_null=True)

    @extend_schema_field(serializers.IntegerField(allow_null=True))
    def get_amount_cents_remaining(self, applied_coupon: AppliedCoupon) -> int | None:
        return selectors.amount_cents_remaining(applied_coupon)


class AppliedCouponCreditSerializer(serializers.Serializer):
    lago_id = serializers.UUIDField()
    amount_cents = serializers.IntegerField()
    amount_currency = serializers.CharField()
    before_taxes = serializers.BooleanField()
    item = serializers.JSONField()
    invoice = serializers.JSONField()


class AppliedCouponExtendedSerializer(AppliedCouponSerializer):
    """The list shape (Lago's AppliedCouponObjectExtended): the applied coupon with its credits."""

    credits = serializers.SerializerMethodField()

    @extend_schema_field(AppliedCouponCreditSerializer(many=True))
    def get_credits(self, applied_coupon: AppliedCoupon) -> list[dict]:
        return []  # coupon credits arrive with invoicing


LIST_PARAMETERS = [
    OpenApiParameter("page", int),
    OpenApiParameter("per_page", int),
    OpenApiParameter("status", str, enum=CouponStatus.values),
    OpenApiParameter("coupon_code[]", str, many=True),
]


def _list_filters(request) -> dict:
    params = request.query_params
    raw: dict = {}
    codes = params.getlist("coupon_code[]") or params.getlist("coupon_code")
    if codes:
        raw["coupon_code"] = codes
    for name in ("status", "external_customer_id"):
        if name in params:
            raw[name] = params.get(name)
    return dict(validated(AppliedCouponFilterParams, raw))


class AppliedCouponViewSet(OrganizationViewSet):
    root, root_plural = "applied_coupon", "applied_coupons"
    output_serializer = AppliedCouponSerializer

    @extend_schema(
        operation_id="applyCoupon",
        request=envelope("applied_coupon", AppliedCouponInput),
        responses=envelope("applied_coupon", AppliedCouponSerializer),
    )
    def create(self, request):
        data = dict(validated(AppliedCouponInput, self.payload()))
        customer = customer_by_external_id(self.organization, data.pop("external_customer_id"))
        coupon = coupon_by_code(self.organization, data.pop("coupon_code"))
        applied = services.apply_coupon(customer=customer, coupon=coupon, overrides=data)
        return self.render_one(selectors.applied_coupon_list(self.organization).get(pk=applied.pk))

    @extend_schema(
        operation_id="findAllAppliedCoupons",
        parameters=[*LIST_PARAMETERS, OpenApiParameter("external_customer_id", str)],
        responses=envelope("applied_coupons", AppliedCouponExtendedSerializer, many=True, paginated=True),
    )
    def list(self, request):
        return self.render_extended_page(_list_filters(request))

    def render_extended_page(self, filters: dict) -> Response:
        """A page in the list shape: each applied coupon with its credits."""
        qs = selectors.applied_coupon_list(self.organization, filters=filters)
        items, meta = self.pagination.paginate(qs, self.request)
        return Response(
            {self.root_plural: AppliedCouponExtendedSerializer(items, many=True).data, "meta": meta}
        )


class CustomerAppliedCouponViewSet(AppliedCouponViewSet):
    @extend_schema(
        operation_id="findAllCustomerAppliedCoupons",
        parameters=LIST_PARAMETERS,
        responses=envelope("applied_coupons", AppliedCouponExtendedSerializer, many=True, paginated=True),
    )
    def list(self, request, external_customer_id: str):
        customer = customer_by_external_id(self.organization, external_customer_id)
        filters = _list_filters(request)
        filters.pop("external_customer_id", None)
        return self.render_extended_page({**filters, "customer": customer})

    @extend_schema(
        operation_id="deleteAppliedCoupon",
        responses=envelope("applied_coupon", AppliedCouponSerializer),
    )
    def destroy(self, request, external_customer_id: str, applied_coupon_id: str):
        customer = customer_by_external_id(self.organization, external_customer_id)
        applied = selectors.applied_coupon_of_customer(self.organization, customer, applied_coupon_id)
        services.terminate_applied_coupon(applied_coupon=applied)
        return self.render_one(selectors.applied_coupon_of_customer(self.organization, customer, applied.pk))
