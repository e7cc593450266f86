"""Usage endpoints: current usage of a customer's subscription, and instant-fee estimates for an event.

The payloads are built by plain functions from billing.usage's results; the serializer classes describe them
for the OpenAPI schema (Lago's CustomerUsage and Fee objects)."""

from __future__ import annotations

from decimal import Decimal

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from billing import usage as usage_service
from billing.usage import ChargeUsageResult, CurrentUsage, EstimatedFee, FeeLine
from config.api.base import OrganizationViewSet, envelope, validated
from config.money import subunit_to_unit
from invoicing.api.serializers import InvoiceFeeSerializer  # Lago's one Fee object
from metering.api.serializers import EventEstimateInputSerializer, decimal_text

# --------------------------------------------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------------------------------------------


def units_text(value: Decimal) -> str:
    """Lago renders units as BigDecimal strings: "4.0", "0.9", "2177.419354838709677419354839"."""
    text = decimal_text(value) or "0"
    return text if "." in text else f"{text}.0"


def _iso(value) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def _sum_lines(lines: list[FeeLine]) -> dict:
    return {
        "units": units_text(sum((line.usage.units for line in lines), Decimal(0))),
        "total_aggregated_units": units_text(
            sum((line.usage.total_aggregated_units for line in lines), Decimal(0))
        ),
        "amount_cents": sum(line.amount_cents for line in lines),
        "events_count": sum(line.usage.events_count for line in lines),
        "pricing_unit_details": None,
    }


def _filters_payload(lines: list[FeeLine]) -> list[dict]:
    by_bucket: dict[int, list[FeeLine]] = {}
    for line in lines:
        by_bucket.setdefault(line.usage.bucket.index, []).append(line)
    payload = []
    for bucket_lines in by_bucket.values():
        charge_filter = bucket_lines[0].usage.charge_filter
        payload.append(
            {
                **_sum_lines(bucket_lines),
                "invoice_display_name": getattr(charge_filter, "invoice_display_name", None),
                "values": charge_filter.values if charge_filter is not None else None,
                "presentation_breakdowns": [],
            }
        )
    return payload


def _grouped_usage_payload(result: ChargeUsageResult) -> list[dict]:
    lines = list(result.lines)
    if not any(line.usage.grouped_by for line in lines):
        return []
    groups: dict[tuple, list[FeeLine]] = {}
    for line in lines:
        key = tuple(sorted((line.usage.grouped_by or {}).items(), key=lambda kv: kv[0]))
        groups.setdefault(key, []).append(line)
    payload = []
    for group_lines in groups.values():
        payload.append(
            {
                **_sum_lines(group_lines),
                "grouped_by": group_lines[0].usage.grouped_by or {},
                "filters": _filters_payload(group_lines) if result.has_filters else [],
                "presentation_breakdowns": [],
            }
        )
    return payload


def charge_usage_payload(result: ChargeUsageResult, currency: str) -> dict:
    charge, metric = result.charge, result.charge.billable_metric
    lines = list(result.lines)
    return {
        **_sum_lines(lines),
        "amount_currency": currency,
        "charge": {
            "lago_id": str(charge.pk),
            "charge_model": charge.charge_model,
            "invoice_display_name": charge.invoice_display_name,
        },
        "billable_metric": {
            "lago_id": str(metric.pk),
            "name": metric.name,
            "code": metric.code,
            "aggregation_type": metric.aggregation_type,
        },
        "filters": _filters_payload(lines) if result.has_filters else [],
        "grouped_usage": _grouped_usage_payload(result),
        "presentation_breakdowns": [],
    }


def current_usage_payload(usage: CurrentUsage) -> dict:
    return {
        "from_datetime": _iso(usage.period.charges_from_datetime),
        "to_datetime": _iso(usage.period.charges_to_datetime),
        "issuing_date": usage.issuing_date.isoformat(),
        "lago_invoice_id": None,
        "currency": usage.currency,
        "amount_cents": usage.amount_cents,
        "taxes_amount_cents": usage.taxes_amount_cents,
        "total_amount_cents": usage.total_amount_cents,
        "charges_usage": [charge_usage_payload(charge, usage.currency) for charge in usage.charges],
    }


def _major(amount_cents: Decimal, currency: str) -> str:
    return decimal_text(Decimal(amount_cents) / subunit_to_unit(currency)) or "0"


def estimated_fee_payload(fee: EstimatedFee) -> dict:
    charge, metric, subscription = fee.charge, fee.charge.billable_metric, fee.subscription
    taxes_precise = sum((t.amount for t in fee.taxes), Decimal(0))
    return {
        "lago_id": None,
        "lago_charge_id": str(charge.pk),
        "lago_charge_filter_id": str(fee.charge_filter.pk) if fee.charge_filter is not None else None,
        "lago_fixed_charge_id": None,
        "lago_invoice_id": None,
        "lago_true_up_fee_id": None,
        "lago_true_up_parent_fee_id": None,
        "lago_subscription_id": str(subscription.pk),
        "lago_customer_id": str(subscription.customer_id),
        "external_customer_id": subscription.customer.external_id,
        "external_subscription_id": subscription.external_id,
        "amount_cents": fee.amount_cents,
        "precise_amount": _major(Decimal(fee.amount_cents), fee.currency),
        "precise_total_amount": _major(Decimal(fee.amount_cents) + taxes_precise, fee.currency),
        "amount_currency": fee.currency,
        "taxes_amount_cents": fee.taxes_amount_cents,
        "taxes_precise_amount": _major(taxes_precise, fee.currency),
        "taxes_rate": float(fee.taxes_rate),
        "units": units_text(fee.priced.units),
        "precise_unit_amount": decimal_text(fee.priced.unit_amount) or "0",
        "total_aggregated_units": units_text(fee.total_aggregated_units),
        "total_amount_cents": fee.amount_cents + fee.taxes_amount_cents,
        "total_amount_currency": fee.currency,
        "events_count": fee.events_count,
        "pay_in_advance": True,
        "invoiceable": charge.invoiceable,
        "from_date": _iso(fee.period.charges_from_datetime),
        "to_date": _iso(fee.period.charges_to_datetime),
        "payment_status": "pending",
        "created_at": None,
        "succeeded_at": None,
        "failed_at": None,
        "refunded_at": None,
        "event_transaction_id": fee.transaction_id,
        "precise_coupons_amount_cents": "0.0",
        "sub_total_excluding_taxes_amount_cents": fee.amount_cents,
        "sub_total_excluding_taxes_precise_amount_cents": units_text(Decimal(fee.amount_cents)),
        "amount_details": fee.priced.details or {},
        "self_billed": False,
        "item": {
            "type": "charge",
            "code": metric.code,
            "name": metric.name,
            "invoice_display_name": charge.invoice_display_name or metric.name,
            "filter_invoice_display_name": getattr(fee.charge_filter, "invoice_display_name", None),
            "filters": fee.charge_filter.values if fee.charge_filter is not None else None,
            "lago_item_id": str(metric.pk),
            "item_type": "BillableMetric",
            "grouped_by": fee.grouped_by or {},
        },
        "applied_taxes": [
            {
                "lago_id": None,
                "lago_tax_id": str(applied.tax.pk),
                "tax_name": applied.tax.name,
                "tax_code": applied.tax.code,
                "tax_rate": float(applied.tax.rate),
                "tax_description": applied.tax.description,
                "amount_cents": applied.amount_cents,
                "amount_currency": fee.currency,
                "created_at": None,
            }
            for applied in fee.taxes
        ],
    }


# --------------------------------------------------------------------------------------------------------------
# Schema (documentation of the payloads above)
# --------------------------------------------------------------------------------------------------------------


class PricingUnitDetailsSerializer(serializers.Serializer):
    amount_cents = serializers.IntegerField()
    short_name = serializers.CharField()
    conversion_rate = serializers.CharField()


class _UsageFiguresSerializer(serializers.Serializer):
    units = serializers.CharField()
    total_aggregated_units = serializers.CharField()
    amount_cents = serializers.IntegerField()
    events_count = serializers.IntegerField()
    pricing_unit_details = PricingUnitDetailsSerializer(allow_null=True)


class ChargeFilterUsageSerializer(_UsageFiguresSerializer):
    invoice_display_name = serializers.CharField(allow_null=True)
    values = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()), allow_null=True
    )
    presentation_breakdowns = serializers.ListField(child=serializers.DictField())


class GroupedUsageSerializer(_UsageFiguresSerializer):
    grouped_by = serializers.DictField(child=serializers.CharField(allow_null=True))
    filters = ChargeFilterUsageSerializer(many=True)
    presentation_breakdowns = serializers.ListField(child=serializers.DictField())


class UsageChargeSerializer(serializers.Serializer):
    lago_id = serializers.UUIDField()
    charge_model = serializers.CharField()
    invoice_display_name = serializers.CharField(allow_null=True)


class UsageMetricSerializer(serializers.Serializer):
    lago_id = serializers.UUIDField()
    name = serializers.CharField()
    code = serializers.CharField()
    aggregation_type = serializers.CharField()


class ChargeUsageSerializer(_UsageFiguresSerializer):
    amount_currency = serializers.CharField()
    charge = UsageChargeSerializer()
    billable_metric = UsageMetricSerializer()
    filters = ChargeFilterUsageSerializer(many=True)
    grouped_usage = GroupedUsageSerializer(many=True)
    presentation_breakdowns = serializers.ListField(child=serializers.DictField())


class CustomerUsageSerializer(serializers.Serializer):
    from_datetime = serializers.DateTimeField()
    to_datetime = serializers.DateTimeField()
    issuing_date = serializers.DateField()
    lago_invoice_id = serializers.UUIDField(allow_null=True)
    currency = serializers.CharField()
    amount_cents = serializers.IntegerField()
    taxes_amount_cents = serializers.IntegerField()
    total_amount_cents = serializers.IntegerField()
    charges_usage = ChargeUsageSerializer(many=True)


class CurrentUsageParams(serializers.Serializer):
    external_subscription_id = serializers.CharField(required=False, allow_blank=True)
    apply_taxes = serializers.BooleanField(required=False, default=True)
    charge_id = serializers.UUIDField(required=False)
    charge_code = serializers.CharField(required=False)
    billable_metric_code = serializers.CharField(required=False)
    # deprecated aliases of charge_id / charge_code
    filter_by_charge_id = serializers.UUIDField(required=False)
    filter_by_charge_code = serializers.CharField(required=False)


class CurrentUsageView(OrganizationViewSet):
    root = "customer_usage"

    @extend_schema(
        operation_id="findCustomerCurrentUsage",
        parameters=[
            OpenApiParameter("external_subscription_id", str, required=True),
            OpenApiParameter("apply_taxes", bool),
            OpenApiParameter("charge_id", OpenApiTypes.UUID),
            OpenApiParameter("charge_code", str),
            OpenApiParameter("billable_metric_code", str),
            OpenApiParameter("filter_by_charge_id", OpenApiTypes.UUID, deprecated=True),
            OpenApiParameter("filter_by_charge_code", str, deprecated=True),
        ],
        responses=envelope("customer_usage", CustomerUsageSerializer),
    )
    def retrieve(self, request, external_customer_id: str):
        query = request.query_params
        raw = {name: query.get(name) for name in CurrentUsageParams().fields if name in query}
        params = validated(CurrentUsageParams, raw)
        usage = usage_service.customer_current_usage(
            organization=self.organization,
            external_customer_id=external_customer_id,
            external_subscription_id=params.get("external_subscription_id"),
            apply_taxes=params["apply_taxes"],
            only={
                "charge_id": params.get("charge_id") or params.get("filter_by_charge_id"),
                "charge_code": params.get("charge_code") or params.get("filter_by_charge_code"),
                "billable_metric_code": params.get("billable_metric_code"),
            },
        )
        return Response({"customer_usage": current_usage_payload(usage)})


class EstimateFeesView(OrganizationViewSet):
    root = "event"

    @extend_schema(
        operation_id="eventEstimateFees",
        request=envelope("event", EventEstimateInputSerializer),
        responses=envelope("fees", InvoiceFeeSerializer, many=True),
    )
    def create(self, request):
        fees = usage_service.estimate_instant_fees(organization=self.organization, payload=self.payload())
        return Response({"fees": [estimated_fee_payload(fee) for fee in fees]})
