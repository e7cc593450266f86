"""Add-on endpoints (`/add_ons`): input/output shapes and thin views."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers

from catalog.api.serializers import TaxSerializer
from catalog.selectors import add_ons as selectors
from catalog.selectors.taxes import taxes_by_codes
from catalog.services import add_ons as services
from catalog.services.add_ons import MAX_AMOUNT_CENTS
from config.api.base import OrganizationViewSet, envelope, validated
from config.api.fields import CurrencyField

PAGE_PARAMETERS = [OpenApiParameter("page", int), OpenApiParameter("per_page", int)]


class AddOnInput(serializers.Serializer):
    name = serializers.CharField(max_length=255)
    code = serializers.CharField(max_length=255)
    description = serializers.CharField(required=False, allow_null=True, allow_blank=True)
    invoice_display_name = serializers.CharField(
        required=False, allow_null=True, allow_blank=True, max_length=255
    )
    amount_cents = serializers.IntegerField(min_value=0, max_value=MAX_AMOUNT_CENTS)
    amount_currency = CurrencyField()
    tax_codes = serializers.ListField(child=serializers.CharField(), required=False, allow_null=True)


class AddOnUpdateInput(AddOnInput):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, partial=True, **kwargs)


class AddOnSerializer(serializers.Serializer):
    lago_id = serializers.UUIDField(source="id")
    name = serializers.CharField()
    invoice_display_name = serializers.CharField(allow_null=True)
    code = serializers.CharField()
    amount_cents = serializers.IntegerField()
    amount_currency = serializers.CharField()
    description = serializers.CharField(allow_null=True)
    created_at = serializers.DateTimeField()
    taxes = TaxSerializer(many=True, source="taxes.all")


class AddOnViewSet(OrganizationViewSet):
    root, root_plural = "add_on", "add_ons"
    output_serializer = AddOnSerializer

    def _taxes(self, data: dict):
        """The taxes named by `tax_codes` (null = none); None when the key is absent (keep the current ones)."""
        if "tax_codes" not in data:
            return None
        return taxes_by_codes(self.organization, data.pop("tax_codes") or [])

    @extend_schema(
        operation_id="createAddOn",
        request=envelope("add_on", AddOnInput),
        responses=envelope("add_on", AddOnSerializer),
    )
    def create(self, request):
        data = dict(validated(AddOnInput, self.payload()))
        taxes = self._taxes(data)
        add_on = services.create_add_on(organization=self.organization, data=data, taxes=taxes)
        return self.render_one(selectors.add_on_by_code(self.organization, add_on.code))

    @extend_schema(
        operation_id="findAllAddOns",
        parameters=PAGE_PARAMETERS,
        responses=envelope("add_ons", AddOnSerializer, many=True, paginated=True),
    )
    def list(self, request):
        return self.render_page(selectors.add_on_list(self.organization))

    @extend_schema(operation_id="findAddOn", responses=envelope("add_on", AddOnSerializer))
    def retrieve(self, request, code: str):
        return self.render_one(selectors.add_on_by_code(self.organization, code))

    @extend_schema(
        operation_id="updateAddOn",
        request=envelope("add_on", AddOnUpdateInput),
        responses=envelope("add_on", AddOnSerializer),
    )
    def update(self, request, code: str):
        add_on = selectors.add_on_by_code(self.organization, code)
        data = dict(validated(AddOnUpdateInput, self.payload()))
        taxes = self._taxes(data)
        add_on = services.update_add_on(add_on=add_on, data=data, taxes=taxes)
        return self.render_one(selectors.add_on_by_code(self.organization, add_on.code))

    @extend_schema(operation_id="destroyAddOn", responses=envelope("add_on", AddOnSerializer))
    def destroy(self, request, code: str):
        add_on = selectors.add_on_by_code(self.organization, code)
        return self.render_one(services.delete_add_on(add_on=add_on))
