"""Billable metric endpoints (`/billable_metrics`): input/output shapes and thin views."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response

from catalog.models import AggregationType, BillableMetric, RoundingFunction
from catalog.selectors import metrics as selectors
from catalog.services import metrics as services
from catalog.services.metrics import MAX_ROUNDING_PRECISION
from config import errors
from config.api.base import OrganizationViewSet, envelope, validated

PAGE_PARAMETERS = [OpenApiParameter("page", int), OpenApiParameter("per_page", int)]


# --- input ---------------------------------------------------------------------------------------


class BillableMetricFilterInput(serializers.Serializer):
    key = serializers.CharField(max_length=255)
    values = serializers.ListField(child=serializers.CharField(max_length=255), allow_empty=False)


class BillableMetricInput(serializers.Serializer):
    name = serializers.CharField(max_length=255)
    code = serializers.CharField(max_length=255)
    description = serializers.CharField(required=False, allow_null=True, allow_blank=True)
    # custom_agg is accepted here only to be refused with a clear code by the service.
    aggregation_type = serializers.ChoiceField(choices=AggregationType.choices)
    field_name = serializers.CharField(required=False, allow_null=True, allow_blank=True, max_length=255)
    weighted_interval = serializers.ChoiceField(choices=["seconds"], required=False, allow_null=True)
    recurring = serializers.BooleanField(required=False, allow_null=True)
    rounding_function = serializers.ChoiceField(
        choices=RoundingFunction.choices, required=False, allow_null=True
    )
    rounding_precision = serializers.IntegerField(
        required=False, allow_null=True, min_value=-MAX_ROUNDING_PRECISION, max_value=MAX_ROUNDING_PRECISION
    )
    expression = serializers.CharField(
        required=False, allow_null=True, allow_blank=True, trim_whitespace=False
    )
    filters = serializers.ListField(child=BillableMetricFilterInput(), required=False, allow_null=True)

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        if "filters" in value:
            value["filters"] = [dict(item) for item in value["filters"] or []]
        return value


class BillableMetricUpdateInput(BillableMetricInput):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, partial=True, **kwargs)


@extend_schema_field({"anyOf": [{"type": "integer"}, {"type": "string"}]})
class UnixTimestampField(serializers.Field):
    """Unix seconds as an integer, a decimal or a numeric string (fraction dropped, as Lago's `to_i`)."""

    default_error_messages = {"invalid_format": "Not a Unix timestamp."}

    def to_internal_value(self, data):
        try:
            return services.parse_event_timestamp(data)
        except ValueError:
            self.fail("invalid_format")

    def to_representation(self, value):
        return value


class ExpressionEventInput(serializers.Serializer):
    code = serializers.CharField(required=False, allow_null=True, allow_blank=True)
    timestamp = UnixTimestampField(required=False, allow_null=True)
    properties = serializers.DictField(required=False, allow_null=True)


class EvaluateExpressionInput(serializers.Serializer):
    expression = serializers.CharField(trim_whitespace=False)
    event = ExpressionEventInput(required=False, allow_null=True)

    def validate_expression(self, value: str) -> str:
        if not value.strip():
            raise serializers.ValidationError("expression is blank", code="value_is_mandatory")
        return value


# --- output --------------------------------------------------------------------------------------


class BillableMetricFilterSerializer(serializers.Serializer):
    key = serializers.CharField()
    values = serializers.ListField(child=serializers.CharField())


class BillableMetricSerializer(serializers.Serializer):
    lago_id = serializers.UUIDField(source="id")
    name = serializers.CharField()
    code = serializers.CharField()
    description = serializers.CharField(allow_null=True)
    aggregation_type = serializers.CharField()
    weighted_interval = serializers.CharField(allow_null=True)
    recurring = serializers.BooleanField()
    rounding_function = serializers.CharField(allow_null=True)
    rounding_precision = serializers.IntegerField(allow_null=True)
    created_at = serializers.DateTimeField()
    field_name = serializers.CharField(allow_null=True)
    expression = serializers.CharField(allow_null=True)
    filters = serializers.SerializerMethodField()

    @extend_schema_field(BillableMetricFilterSerializer(many=True))
    def get_filters(self, metric: BillableMetric) -> list[dict]:
        return [{"key": f.key, "values": list(f.values)} for f in selectors.metric_filters(metric)]


ExpressionResultEnvelope = inline_serializer(
    name="BillableMetricExpressionResultEnvelope",
    fields={
        "expression_result": inline_serializer(
            name="BillableMetricExpressionResult", fields={"value": serializers.CharField()}
        )
    },
)


# --- views ---------------------------------------------------------------------------------------


class BillableMetricViewSet(OrganizationViewSet):
    root, root_plural = "billable_metric", "billable_metrics"
    output_serializer = BillableMetricSerializer

    def _reload(self, metric: BillableMetric) -> Response:
        return self.render_one(selectors.metric_by_code(self.organization, metric.code))

    @extend_schema(
        operation_id="createBillableMetric",
        request=envelope("billable_metric", BillableMetricInput),
        responses=envelope("billable_metric", BillableMetricSerializer),
    )
    def create(self, request):
        data = validated(BillableMetricInput, self.payload())
        return self._reload(services.create_metric(organization=self.organization, data=data))

    @extend_schema(
        operation_id="findAllBillableMetrics",
        parameters=PAGE_PARAMETERS,
        responses=envelope("billable_metrics", BillableMetricSerializer, many=True, paginated=True),
    )
    def list(self, request):
        return self.render_page(selectors.metric_list(self.organization))

    @extend_schema(
        operation_id="findBillableMetric", responses=envelope("billable_metric", BillableMetricSerializer)
    )
    def retrieve(self, request, code: str):
        return self.render_one(selectors.metric_by_code(self.organization, code))

    @extend_schema(
        operation_id="updateBillableMetric",
        request=envelope("billable_metric", BillableMetricUpdateInput),
        responses=envelope("billable_metric", BillableMetricSerializer),
    )
    def update(self, request, code: str):
        metric = selectors.metric_by_code(self.organization, code)
        data = validated(BillableMetricUpdateInput, self.payload())
        return self._reload(services.update_metric(metric=metric, data=data))

    @extend_schema(
        operation_id="destroyBillableMetric", responses=envelope("billable_metric", BillableMetricSerializer)
    )
    def destroy(self, request, code: str):
        metric = selectors.metric_by_code(self.organization, code)
        return self.render_one(services.delete_metric(metric=metric))

    @extend_schema(
        operation_id="evaluateBillableMetricExpression",
        request=EvaluateExpressionInput,
        responses=ExpressionResultEnvelope,
    )
    def evaluate_expression(self, request):
        """Evaluate an expression against a sample event. Body `{expression, event}` (no root key)."""
        if not isinstance(request.data, dict):
            raise errors.BadRequest("param is missing or the value is empty: expression")
        data = validated(EvaluateExpressionInput, request.data)
        value = services.evaluate_metric_expression(
            organization=self.organization, expression=data["expression"], event=data.get("event")
        )
        return Response({"expression_result": {"value": value}})
