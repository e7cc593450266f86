"""GET /customers/{external_customer_id}/past_usage: the charge fees of a subscription's issued invoices, per
billed period (billing.past_usage), in Lago's CustomerPastUsage shape (the CustomerUsage object per period)."""

from __future__ import annotations

from decimal import Decimal

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from billing import past_usage as past_usage_service
from billing.api.usage import CustomerUsageSerializer, units_text
from billing.past_usage import UsagePeriod
from config.api.base import OrganizationViewSet, envelope, validated
from invoicing.models import Fee

ZERO = Decimal(0)


def _iso(value) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def _figures(fees: list[Fee]) -> dict:
    return {
        "units": units_text(sum((Decimal(fee.units) for fee in fees), ZERO)),
        "total_aggregated_units": units_text(
            sum((Decimal(fee.total_aggregated_units or 0) for fee in fees), ZERO)
        ),
        "amount_cents": sum(fee.amount_cents for fee in fees),
        "events_count": sum(int(fee.events_count or 0) for fee in fees),
        "pricing_unit_details": None,
    }


def _filters(fees: list[Fee], charge) -> list[dict]:
    """Per charge filter (the default bucket last, with null values), when the charge has filters."""
    if not any(f.deleted_at is None for f in charge.filters.all()) and not any(
        f.charge_filter_id for f in fees
    ):
        return []
    buckets: dict = {}
    for fee in fees:
        buckets.setdefault(fee.charge_filter_id, []).append(fee)
    payload = []
    for filter_id in sorted(buckets, key=lambda k: (k is None, str(k))):
        bucket = buckets[filter_id]
        charge_filter = bucket[0].charge_filter
        payload.append(
            {
                **_figures(bucket),
                "invoice_display_name": charge_filter.invoice_display_name if charge_filter else None,
                "values": charge_filter.values if charge_filter else None,
                "presentation_breakdowns": [],
            }
        )
    return payload


def _grouped_usage(fees: list[Fee], charge) -> list[dict]:
    if not any(fee.grouped_by for fee in fees):
        return []
    groups: dict = {}
    for fee in fees:
        key = tuple(sorted((fee.grouped_by or {}).items()))
        groups.setdefault(key, []).append(fee)
    return [
        {
            **_figures(group),
            "grouped_by": group[0].grouped_by or {},
            "filters": _filters(group, charge),
            "presentation_breakdowns": [],
        }
        for group in groups.values()
    ]


def _charges_usage(period: UsagePeriod) -> list[dict]:
    by_charge: dict = {}
    for fee in period.fees:
        by_charge.setdefault(fee.charge_id, []).append(fee)
    payload = []
    for fees in by_charge.values():
        charge = fees[0].charge
        metric = charge.billable_metric
        payload.append(
            {
                **_figures(fees),
                "amount_currency": period.currency,
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
                "filters": _filters(fees, charge),
                "grouped_usage": _grouped_usage(fees, charge),
                "presentation_breakdowns": [],
            }
        )
    return payload


def usage_period_payload(period: UsagePeriod) -> dict:
    return {
        "from_datetime": _iso(period.charges_from_datetime),
        "to_datetime": _iso(period.charges_to_datetime),
        "issuing_date": period.invoice.issuing_date.isoformat(),
        "lago_invoice_id": str(period.invoice.pk),
        "currency": period.currency,
        "amount_cents": period.amount_cents,
        "taxes_amount_cents": period.taxes_amount_cents,
        "total_amount_cents": period.total_amount_cents,
        "charges_usage": _charges_usage(period),
    }


class PastUsageParams(serializers.Serializer):
    # required: the service says so after the customer look-up (404 first, then 422 value_is_mandatory)
    external_subscription_id = serializers.CharField(required=False, allow_blank=True)
    billable_metric_code = serializers.CharField(required=False, allow_blank=True)
    periods_count = serializers.IntegerField(required=False, min_value=1, max_value=10_000)


class PastUsageView(OrganizationViewSet):
    root_plural = "usage_periods"

    @extend_schema(
        operation_id="findAllCustomerPastUsage",
        parameters=[
            OpenApiParameter("page", int),
            OpenApiParameter("per_page", int),
            OpenApiParameter("external_subscription_id", str, required=True),
            OpenApiParameter("billable_metric_code", str),
            OpenApiParameter("periods_count", int),
        ],
        responses=envelope("usage_periods", CustomerUsageSerializer, many=True, paginated=True),
    )
    def list(self, request, external_customer_id: str):
        query = request.query_params
        raw = {name: query.get(name) for name in PastUsageParams().fields if name in query}
        params = validated(PastUsageParams, raw)
        metric, periods = past_usage_service.customer_past_usage(
            organization=self.organization,
            external_customer_id=external_customer_id,
            external_subscription_id=params.get("external_subscription_id"),
            billable_metric_code=params.get("billable_metric_code") or None,
            periods_count=params.get("periods_count"),
        )
        page, meta = self.pagination.paginate(periods, request)
        past_usage_service.attach_fees(
            page, external_subscription_id=params["external_subscription_id"], metric=metric
        )
        return Response({"usage_periods": [usage_period_payload(p) for p in page], "meta": meta})
