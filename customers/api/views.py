"""Organization and customer endpoints: parse, call a service, serialize."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers

from catalog.selectors.taxes import taxes_by_codes
from config.api.base import OrganizationViewSet, envelope, validated
from customers import selectors, services
from customers.api.serializers import (
    CustomerInput,
    CustomerSerializer,
    OrganizationSerializer,
    OrganizationUpdateInput,
)


class OrganizationView(OrganizationViewSet):
    root = "organization"
    output_serializer = OrganizationSerializer

    @extend_schema(
        operation_id="findOrganization",
        summary="Retrieve your organization (Tollbooth extension)",
        responses=envelope("organization", OrganizationSerializer),
    )
    def retrieve(self, request):
        return self.render_one(self.organization)

    @extend_schema(
        operation_id="updateOrganization",
        request=envelope("organization", OrganizationUpdateInput),
        responses=envelope("organization", OrganizationSerializer),
    )
    def update(self, request):
        data = validated(OrganizationUpdateInput, self.payload())
        organization = services.update_organization(organization=self.organization, data=data)
        return self.render_one(organization)


class CustomerFilterParams(serializers.Serializer):
    account_type = serializers.ListField(
        child=serializers.ChoiceField(["customer", "partner"]), required=False
    )
    countries = serializers.ListField(child=serializers.CharField(), required=False)
    states = serializers.ListField(child=serializers.CharField(), required=False)
    zipcodes = serializers.ListField(child=serializers.CharField(), required=False)
    currencies = serializers.ListField(child=serializers.CharField(), required=False)
    search_term = serializers.CharField(required=False, allow_blank=True)
    customer_type = serializers.ChoiceField(["company", "individual"], required=False)
    has_customer_type = serializers.BooleanField(required=False, allow_null=True, default=None)
    has_tax_identification_number = serializers.BooleanField(required=False, allow_null=True, default=None)


def list_filters(request, serializer_cls) -> dict:
    """Read Lago's query filters, accepting both `key[]=a&key[]=b` and `key=a`."""
    params = request.query_params
    raw: dict = {}
    for name, field in serializer_cls().fields.items():
        if isinstance(field, serializers.ListField):
            values = params.getlist(f"{name}[]") or params.getlist(name)
            if values:
                raw[name] = values
        elif name in params:
            raw[name] = params.get(name)
    filters = validated(serializer_cls, raw)
    metadata = {
        k[len("metadata[") : -1]: v
        for k, v in params.items()
        if k.startswith("metadata[") and k.endswith("]")
    }
    if metadata:
        filters["metadata"] = metadata
    return filters


CUSTOMER_LIST_PARAMETERS = [
    OpenApiParameter("page", int),
    OpenApiParameter("per_page", int),
    OpenApiParameter("account_type[]", str, many=True),
    OpenApiParameter("countries[]", str, many=True),
    OpenApiParameter("states[]", str, many=True),
    OpenApiParameter("zipcodes[]", str, many=True),
    OpenApiParameter("currencies[]", str, many=True),
    OpenApiParameter("search_term", str),
    OpenApiParameter("customer_type", str),
    OpenApiParameter("has_customer_type", bool),
    OpenApiParameter("has_tax_identification_number", bool),
]


class CustomerViewSet(OrganizationViewSet):
    root, root_plural = "customer", "customers"
    output_serializer = CustomerSerializer
    lookup_field = "external_customer_id"
    lookup_value_regex = "[^/]+"

    @extend_schema(
        operation_id="createCustomer",
        request=envelope("customer", CustomerInput),
        responses=envelope("customer", CustomerSerializer),
    )
    def create(self, request):
        data = dict(validated(CustomerInput, self.payload()))
        tax_codes = data.pop("tax_codes", None)
        metadata = data.pop("metadata", None)
        taxes = taxes_by_codes(self.organization, tax_codes) if tax_codes is not None else None
        customer, _ = services.upsert_customer(
            organization=self.organization,
            external_id=data.pop("external_id"),
            data=data,
            taxes=taxes,
            metadata=metadata,
        )
        return self.render_one(selectors.customer_by_external_id(self.organization, customer.external_id))

    @extend_schema(
        operation_id="findAllCustomers",
        parameters=CUSTOMER_LIST_PARAMETERS,
        responses=envelope("customers", CustomerSerializer, many=True, paginated=True),
    )
    def list(self, request):
        filters = list_filters(request, CustomerFilterParams)
        return self.render_page(selectors.customer_list(self.organization, filters=filters))

    @extend_schema(operation_id="findCustomer", responses=envelope("customer", CustomerSerializer))
    def retrieve(self, request, external_customer_id: str):
        return self.render_one(selectors.customer_by_external_id(self.organization, external_customer_id))

    @extend_schema(operation_id="destroyCustomer", responses=envelope("customer", CustomerSerializer))
    def destroy(self, request, external_customer_id: str):
        customer = selectors.customer_by_external_id(self.organization, external_customer_id)
        return self.render_one(services.delete_customer(customer=customer))
