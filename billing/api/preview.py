"""POST /invoices/preview: parse, compute with the billing engine inside a rolled-back transaction, serialize."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from billing.models import BillingTime
from billing.preview import preview_invoice
from catalog.models import CouponType
from config.api.base import OrganizationViewSet, envelope, validated
from config.api.fields import CountryField, CurrencyField, TimezoneField, optional_str
from invoicing.api.serializers import InvoiceSerializer, invoice_payload


class PreviewCustomerInput(serializers.Serializer):
    external_id = optional_str()
    name = optional_str()
    currency = CurrencyField(required=False, allow_null=True)
    timezone = TimezoneField(required=False, allow_null=True)
    address_line1 = optional_str()
    address_line2 = optional_str()
    city = optional_str()
    state = optional_str()
    country = CountryField(required=False, allow_null=True, allow_blank=True)
    tax_identification_number = optional_str()


class PreviewCouponInput(serializers.Serializer):
    code = serializers.CharField()
    name = optional_str()
    coupon_type = serializers.ChoiceField(CouponType.choices, required=False)
    amount_cents = serializers.IntegerField(required=False, allow_null=True, min_value=0)
    amount_currency = CurrencyField(required=False, allow_null=True)
    percentage_rate = serializers.DecimalField(
        max_digits=10, decimal_places=5, required=False, allow_null=True, min_value=0, max_value=100
    )
    frequency_duration = serializers.IntegerField(required=False, allow_null=True, min_value=1)


class PreviewSubscriptionsInput(serializers.Serializer):
    external_ids = serializers.ListField(child=serializers.CharField(), allow_empty=False)
    plan_code = optional_str()
    terminated_at = serializers.DateTimeField(required=False, allow_null=True)


class InvoicePreviewInput(serializers.Serializer):
    customer = PreviewCustomerInput()
    plan_code = optional_str()
    subscription_at = serializers.DateTimeField(required=False, allow_null=True)
    billing_time = serializers.ChoiceField(BillingTime.choices, required=False)
    coupons = PreviewCouponInput(many=True, required=False)
    subscriptions = PreviewSubscriptionsInput(required=False)
    billing_entity_code = optional_str()


class InvoicePreviewView(OrganizationViewSet):
    root = "invoice"

    @extend_schema(
        operation_id="invoicePreview",
        request=InvoicePreviewInput,
        responses=envelope("invoice", InvoiceSerializer),
    )
    def create(self, request):
        body = request.data if isinstance(request.data, dict) else {}
        data = validated(InvoicePreviewInput, body)
        payload = preview_invoice(
            organization=self.organization,
            data=data,
            render=lambda invoice: invoice_payload(invoice, detail=True),
        )
        return Response({"invoice": payload})
