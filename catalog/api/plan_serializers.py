"""Input and output shapes of /plans, /plans/{code}/charges and /plans/{code}/fixed_charges (Lago's names).

Input serializers only check types and ranges; the business rules (charge model vs metric, properties, filters,
codes) live in catalog.services.plans so the admin applies the very same ones.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from catalog.api.serializers import TaxSerializer
from catalog.models import ChargeModel, PlanInterval
from config.api.fields import CurrencyField, optional_str

BIGINT_MAX = 2**63 - 1
FIXED_CHARGE_MODELS = ("standard", "graduated", "volume")


def _cents(**kwargs) -> serializers.IntegerField:
    return serializers.IntegerField(min_value=0, max_value=BIGINT_MAX, **kwargs)


def _codes(**kwargs) -> serializers.ListField:
    return serializers.ListField(
        child=serializers.CharField(max_length=255), required=False, allow_null=True, **kwargs
    )


def _properties(**kwargs) -> serializers.DictField:
    """A charge-model properties object; its content is validated by catalog.charge_properties."""
    return serializers.DictField(required=False, allow_null=True, allow_empty=True, **kwargs)


# --- inputs -------------------------------------------------------------------------------------------------


class ChargeFilterInput(serializers.Serializer):
    invoice_display_name = optional_str()
    properties = serializers.DictField(allow_empty=True)
    values = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField(max_length=255, allow_blank=True))
    )


class AppliedPricingUnitInput(serializers.Serializer):
    code = serializers.CharField(required=False, max_length=255)
    conversion_rate = serializers.CharField(required=False, max_length=64)


def _require_lists(data, names: tuple[str, ...]) -> None:
    """DRF reports a non-list for a nested `many=True` serializer under `non_field_errors`; Lago's shape is
    `{"charges": ["value_is_invalid"]}`."""
    if not isinstance(data, dict):
        return
    bad = {
        name: ["value_is_invalid"]
        for name in names
        if data.get(name) is not None and not isinstance(data[name], list)
    }
    if bad:
        raise serializers.ValidationError(
            {
                name: [serializers.ErrorDetail(code, code=code) for code in codes]
                for name, codes in bad.items()
            }
        )


class ChargeInput(serializers.Serializer):
    """One charge of a plan. `billable_metric_id` as in Lago, or `billable_metric_code` (Tollbooth convenience)."""

    id = serializers.UUIDField(required=False, allow_null=True)
    billable_metric_id = serializers.UUIDField(required=False, allow_null=True)
    billable_metric_code = serializers.CharField(required=False, allow_null=True, max_length=255)
    code = optional_str()
    charge_model = serializers.ChoiceField(choices=ChargeModel.choices, required=False)
    pay_in_advance = serializers.BooleanField(required=False, allow_null=True)
    invoiceable = serializers.BooleanField(required=False, allow_null=True)
    regroup_paid_fees = serializers.ChoiceField(choices=["invoice"], required=False, allow_null=True)
    invoice_display_name = optional_str()
    prorated = serializers.BooleanField(required=False, allow_null=True)
    min_amount_cents = _cents(required=False, allow_null=True)
    properties = _properties()
    filters = ChargeFilterInput(many=True, required=False, allow_null=True)
    tax_codes = _codes()
    applied_pricing_unit = AppliedPricingUnitInput(required=False, allow_null=True)  # accepted, not stored
    accepts_target_wallet = serializers.BooleanField(required=False, allow_null=True)
    cascade_updates = serializers.BooleanField(
        required=False, allow_null=True
    )  # accepted, children untouched


class ChargeCreateInput(ChargeInput):
    """POST /plans/{code}/charges: a new charge needs its model and metric."""

    charge_model = serializers.ChoiceField(choices=ChargeModel.choices)


class FixedChargeInput(serializers.Serializer):
    id = serializers.UUIDField(required=False, allow_null=True)
    add_on_id = serializers.UUIDField(required=False, allow_null=True)
    add_on_code = serializers.CharField(required=False, allow_null=True, max_length=255)
    code = optional_str()
    invoice_display_name = optional_str()
    units = serializers.DecimalField(
        max_digits=30, decimal_places=10, min_value=0, required=False, allow_null=True
    )
    charge_model = serializers.ChoiceField(choices=FIXED_CHARGE_MODELS, required=False)
    pay_in_advance = serializers.BooleanField(required=False, allow_null=True)
    prorated = serializers.BooleanField(required=False, allow_null=True)
    properties = _properties()
    tax_codes = _codes()
    apply_units_immediately = serializers.BooleanField(required=False, allow_null=True)  # billing's concern
    cascade_updates = serializers.BooleanField(required=False, allow_null=True)


class FixedChargeCreateInput(FixedChargeInput):
    charge_model = serializers.ChoiceField(choices=FIXED_CHARGE_MODELS)


class MinimumCommitmentInput(serializers.Serializer):
    amount_cents = _cents()
    invoice_display_name = optional_str()
    tax_codes = _codes()


class UsageThresholdInput(serializers.Serializer):
    threshold_display_name = optional_str()
    amount_cents = serializers.IntegerField(min_value=1, max_value=BIGINT_MAX)
    recurring = serializers.BooleanField(required=False, default=False)


class PlanInput(serializers.Serializer):
    name = serializers.CharField(max_length=255)
    invoice_display_name = optional_str()
    code = serializers.CharField(max_length=255)
    description = serializers.CharField(required=False, allow_null=True, allow_blank=True, max_length=10_000)
    interval = serializers.ChoiceField(choices=PlanInterval.choices)
    amount_cents = _cents()
    amount_currency = CurrencyField()
    trial_period = serializers.DecimalField(
        max_digits=10, decimal_places=4, min_value=0, required=False, allow_null=True
    )
    pay_in_advance = serializers.BooleanField()
    bill_charges_monthly = serializers.BooleanField(required=False, allow_null=True)
    bill_fixed_charges_monthly = serializers.BooleanField(required=False, allow_null=True)
    tax_codes = _codes()
    minimum_commitment = MinimumCommitmentInput(required=False, allow_null=True)
    charges = ChargeInput(many=True, required=False, allow_null=True)
    fixed_charges = FixedChargeInput(many=True, required=False, allow_null=True)
    usage_thresholds = UsageThresholdInput(many=True, required=False, allow_null=True)
    metadata = serializers.DictField(
        child=serializers.CharField(max_length=255, allow_null=True, allow_blank=True),
        required=False,
        allow_null=True,
    )

    def validate_metadata(self, value):
        if value is not None and any(len(key) > 100 for key in value):
            raise serializers.ValidationError("value_is_too_long", code="value_is_too_long")
        if value is not None and any("\x00" in key for key in value):
            raise serializers.ValidationError("value_is_invalid", code="value_is_invalid")
        return value

    def to_internal_value(self, data):
        # `minimum_commitment: {}` removes the commitment (Lago's `blank?`): don't ask for its amount.
        commitment_removed = isinstance(data, dict) and data.get("minimum_commitment") == {}
        if commitment_removed:
            data = {**data, "minimum_commitment": None}
        _require_lists(data, ("charges", "fixed_charges", "usage_thresholds"))
        return super().to_internal_value(data)


class PlanUpdateInput(PlanInput):
    cascade_updates = serializers.BooleanField(required=False, allow_null=True)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, partial=True, **kwargs)


# --- outputs ------------------------------------------------------------------------------------------------


def _output_properties(properties: dict) -> dict:
    """Lago's ChargeSerializer mirrors the deprecated `grouped_by` and `pricing_group_keys` into each other."""
    attributes = dict(properties or {})
    if attributes.get("grouped_by") and not attributes.get("pricing_group_keys"):
        attributes["pricing_group_keys"] = attributes["grouped_by"]
    if attributes.get("pricing_group_keys") and not attributes.get("grouped_by"):
        attributes["grouped_by"] = attributes["pricing_group_keys"]
    return attributes


class ChargeFilterSerializer(serializers.Serializer):
    invoice_display_name = serializers.CharField(allow_null=True)
    properties = serializers.SerializerMethodField()
    values = serializers.DictField(child=serializers.ListField(child=serializers.CharField()))

    @extend_schema_field(serializers.DictField())
    def get_properties(self, charge_filter) -> dict:
        return _output_properties(charge_filter.properties)


class ChargeSerializer(serializers.Serializer):
    lago_id = serializers.UUIDField(source="id")
    lago_billable_metric_id = serializers.UUIDField(source="billable_metric_id")
    code = serializers.CharField(allow_null=True)
    invoice_display_name = serializers.CharField(allow_null=True)
    billable_metric_code = serializers.CharField(source="billable_metric.code")
    created_at = serializers.DateTimeField()
    charge_model = serializers.CharField()
    invoiceable = serializers.BooleanField()
    regroup_paid_fees = serializers.CharField(allow_null=True)
    pay_in_advance = serializers.BooleanField()
    prorated = serializers.BooleanField()
    min_amount_cents = serializers.IntegerField()
    properties = serializers.SerializerMethodField()
    filters = serializers.SerializerMethodField()
    taxes = TaxSerializer(many=True, source="taxes.all")
    applied_pricing_unit = serializers.SerializerMethodField()
    accepts_target_wallet = serializers.BooleanField()
    lago_parent_id = serializers.UUIDField(source="parent_id", allow_null=True)

    @extend_schema_field(serializers.DictField())
    def get_properties(self, charge) -> dict:
        return _output_properties(charge.properties)

    @extend_schema_field(ChargeFilterSerializer(many=True))
    def get_filters(self, charge) -> list:
        live = [f for f in charge.filters.all() if f.deleted_at is None]
        return ChargeFilterSerializer(live, many=True).data

    @extend_schema_field(serializers.DictField(allow_null=True))
    def get_applied_pricing_unit(self, charge) -> dict | None:
        return None  # pricing units are not supported


class FixedChargeSerializer(serializers.Serializer):
    lago_id = serializers.UUIDField(source="id")
    lago_add_on_id = serializers.UUIDField(source="add_on_id")
    code = serializers.CharField()
    invoice_display_name = serializers.SerializerMethodField()
    add_on_code = serializers.CharField(source="add_on.code")
    created_at = serializers.DateTimeField()
    charge_model = serializers.CharField()
    pay_in_advance = serializers.BooleanField()
    prorated = serializers.BooleanField()
    properties = serializers.DictField()
    units = serializers.DecimalField(
        max_digits=30, decimal_places=10, coerce_to_string=False, normalize_output=True
    )
    lago_parent_id = serializers.UUIDField(source="parent_id", allow_null=True)
    taxes = TaxSerializer(many=True, source="taxes.all")

    def get_invoice_display_name(self, fixed_charge) -> str:
        """The spec (and the official client) want a string here: without its own name, a fixed charge shows its
        add-on's invoice name, as the spec describes."""
        add_on = fixed_charge.add_on
        return fixed_charge.invoice_display_name or add_on.invoice_display_name or add_on.name


class MinimumCommitmentSerializer(serializers.Serializer):
    lago_id = serializers.UUIDField(source="id")
    plan_code = serializers.CharField(source="plan.code")
    amount_cents = serializers.IntegerField()
    invoice_display_name = serializers.CharField(allow_null=True)
    interval = serializers.CharField(source="plan.interval")
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    taxes = TaxSerializer(many=True, source="taxes.all")


class UsageThresholdSerializer(serializers.Serializer):
    lago_id = serializers.UUIDField(source="id")
    threshold_display_name = serializers.CharField(allow_null=True)
    amount_cents = serializers.IntegerField()
    recurring = serializers.BooleanField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class PlanSerializer(serializers.Serializer):
    """Lago's V1::PlanSerializer with every include (charges, fixed charges, thresholds, taxes, commitment).

    `active_subscriptions_count`, `customers_count` (override children included) and `draft_invoices_count` come
    from the view through the `counts` context ({plan_id: {...}}); Lago itself now always sends 0 for them."""

    lago_id = serializers.UUIDField(source="id")
    name = serializers.CharField()
    invoice_display_name = serializers.CharField(allow_null=True)
    created_at = serializers.DateTimeField()
    code = serializers.CharField()
    interval = serializers.CharField()
    description = serializers.CharField(allow_null=True)
    amount_cents = serializers.IntegerField()
    amount_currency = serializers.CharField()
    trial_period = serializers.DecimalField(
        max_digits=10, decimal_places=4, coerce_to_string=False, normalize_output=True, allow_null=True
    )
    pay_in_advance = serializers.BooleanField()
    bill_charges_monthly = serializers.BooleanField(allow_null=True)
    bill_fixed_charges_monthly = serializers.BooleanField(allow_null=True)
    customers_count = serializers.SerializerMethodField()
    active_subscriptions_count = serializers.SerializerMethodField()
    draft_invoices_count = serializers.SerializerMethodField()
    parent_id = serializers.UUIDField(allow_null=True)
    pending_deletion = serializers.BooleanField()
    minimum_commitment = serializers.SerializerMethodField()
    charges = ChargeSerializer(many=True, source="charges.all")
    fixed_charges = FixedChargeSerializer(many=True, source="fixed_charges.all")
    taxes = TaxSerializer(many=True, source="taxes.all")
    usage_thresholds = UsageThresholdSerializer(many=True, source="usage_thresholds.all")
    metadata = serializers.DictField(allow_null=True)

    def _count(self, plan, name: str) -> int:
        return self.context.get("counts", {}).get(plan.id, {}).get(name, 0)

    def get_customers_count(self, plan) -> int:
        return self._count(plan, "customers_count")

    def get_active_subscriptions_count(self, plan) -> int:
        return self._count(plan, "active_subscriptions_count")

    def get_draft_invoices_count(self, plan) -> int:
        return self._count(plan, "draft_invoices_count")

    @extend_schema_field(MinimumCommitmentSerializer(allow_null=True))
    def get_minimum_commitment(self, plan) -> dict | None:
        try:
            commitment = plan.minimum_commitment
        except plan.__class__.minimum_commitment.RelatedObjectDoesNotExist:
            return None
        return MinimumCommitmentSerializer(commitment).data
