"""Catalog endpoints: parse, call a service, serialize."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema

from catalog.api.serializers import TaxInput, TaxSerializer, TaxUpdateInput
from catalog.selectors import taxes as selectors
from catalog.services import taxes as services
from config.api.base import OrganizationViewSet, envelope, validated

PAGE_PARAMETERS = [OpenApiParameter("page", int), OpenApiParameter("per_page", int)]


class TaxViewSet(OrganizationViewSet):
    root, root_plural = "tax", "taxes"
    output_serializer = TaxSerializer

    @extend_schema(
        operation_id="createTax", request=envelope("tax", TaxInput), responses=envelope("tax", TaxSerializer)
    )
    def create(self, request):
        tax = services.create_tax(organization=self.organization, data=validated(TaxInput, self.payload()))
        return self.render_one(tax)

    @extend_schema(
        operation_id="findAllTaxes",
        parameters=PAGE_PARAMETERS,
        responses=envelope("taxes", TaxSerializer, many=True, paginated=True),
    )
    def list(self, request):
        return self.render_page(selectors.tax_list(self.organization))

    @extend_schema(operation_id="findTax", responses=envelope("tax", TaxSerializer))
    def retrieve(self, request, code: str):
        return self.render_one(selectors.tax_by_code(self.organization, code))

    @extend_schema(
        operation_id="updateTax",
        request=envelope("tax", TaxUpdateInput),
        responses=envelope("tax", TaxSerializer),
    )
    def update(self, request, code: str):
        tax = selectors.tax_by_code(self.organization, code)
        data = validated(TaxUpdateInput, self.payload())
        return self.render_one(services.update_tax(tax=tax, data=data))

    @extend_schema(operation_id="destroyTax", responses=envelope("tax", TaxSerializer))
    def destroy(self, request, code: str):
        tax = selectors.tax_by_code(self.organization, code)
        return self.render_one(services.delete_tax(tax=tax))
