"""Input and output shapes of the organization and customer endpoints (Lago's field names)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from catalog.api.serializers import TaxSerializer
from config.api.fields import CountryField, CurrencyField, TimezoneField, optional_str
from customers.choices import (
    DOCUMENT_LOCALES,
    EMAIL_SETTINGS,
    AccountType,
    CustomerType,
    DocumentNumbering,
    FinalizeZeroAmountInvoice,
    IssuingDateAdjustment,
    IssuingDateAnchor,
)
from customers.models import Customer, Organization

ADDRESS_KEYS = ("address_line1", "address_line2", "city", "state", "zipcode", "country")


# --- organizations -------------------------------------------------------------------------------


class OrganizationBillingConfigurationInput(serializers.Serializer):
    invoice_footer = optional_str(max_length=600)
    invoice_grace_period = serializers.IntegerField(required=False, min_value=0, max_value=365)
    document_locale = serializers.ChoiceField(choices=DOCUMENT_LOCALES, required=False)


class OrganizationUpdateInput(serializers.Serializer):
    name = serializers.CharField(required=False, max_length=255)
    webhook_url = serializers.URLField(required=False, allow_null=True, allow_blank=True, max_length=1024)
    country = CountryField(required=False, allow_null=True, allow_blank=True)
    default_currency = CurrencyField(required=False)
    address_line1 = optional_str()
    address_line2 = optional_str()
    state = optional_str()
    zipcode = optional_str(64)
    email = serializers.EmailField(required=False, allow_null=True, allow_blank=True)
    city = optional_str()
    legal_name = optional_str()
    legal_number = optional_str()
    document_numbering = serializers.ChoiceField(choices=DocumentNumbering.choices, required=False)
    document_number_prefix = serializers.RegexField(r"^[A-Za-z0-9_\-]{1,10}$", required=False)
    net_payment_term = serializers.IntegerField(required=False, min_value=0, max_value=365)
    tax_identification_number = optional_str()
    timezone = TimezoneField(required=False)
    email_settings = serializers.ListField(
        child=serializers.ChoiceField(choices=EMAIL_SETTINGS), required=False, allow_empty=True
    )
    billing_configuration = OrganizationBillingConfigurationInput(required=False)
    finalize_zero_amount_invoice = serializers.BooleanField(required=False)

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        billing = value.pop("billing_configuration", {}) or {}
        value.update(billing)
        for key in ("country", "email", "webhook_url"):
            if value.get(key) == "":
                value[key] = None
        if "document_number_prefix" in value:
            value["document_number_prefix"] = value["document_number_prefix"].upper()
        return value


class OrganizationBillingConfigurationSerializer(serializers.Serializer):
    invoice_footer = serializers.CharField(allow_null=True)
    invoice_grace_period = serializers.IntegerField()
    document_locale = serializers.CharField()


class OrganizationSerializer(serializers.Serializer):
    lago_id = serializers.UUIDField(source="id")
    name = serializers.CharField()
    created_at = serializers.DateTimeField()
    webhook_url = serializers.CharField(allow_null=True)
    webhook_urls = serializers.SerializerMethodField()
    country = serializers.CharField(allow_null=True)
    default_currency = serializers.CharField()
    address_line1 = serializers.CharField(allow_null=True)
    address_line2 = serializers.CharField(allow_null=True)
    state = serializers.CharField(allow_null=True)
    zipcode = serializers.CharField(allow_null=True)
    email = serializers.CharField(allow_null=True)
    city = serializers.CharField(allow_null=True)
    legal_name = serializers.CharField(allow_null=True)
    legal_number = serializers.CharField(allow_null=True)
    document_numbering = serializers.CharField()
    document_number_prefix = serializers.CharField()
    net_payment_term = serializers.IntegerField()
    tax_identification_number = serializers.CharField(allow_null=True)
    timezone = serializers.CharField()
    email_settings = serializers.ListField(child=serializers.CharField())
    finalize_zero_amount_invoice = serializers.BooleanField()
    billing_configuration = serializers.SerializerMethodField()
    taxes = serializers.SerializerMethodField()

    def get_webhook_urls(self, organization: Organization) -> list[str]:
        return [organization.webhook_url] if organization.webhook_url else []

    @extend_schema_field(OrganizationBillingConfigurationSerializer)
    def get_billing_configuration(self, organization: Organization) -> dict:
        return {
            "invoice_footer": organization.invoice_footer,
            "invoice_grace_period": organization.invoice_grace_period,
            "document_locale": organization.document_locale,
        }

    @extend_schema_field(TaxSerializer(many=True))
    def get_taxes(self, organization: Organization) -> list:
        taxes = organization.taxes.filter(applied_to_organization=True).order_by("code")
        return TaxSerializer(taxes, many=True).data


# --- customers -----------------------------------------------------------------------------------


class CustomerBillingConfigurationInput(serializers.Serializer):
    invoice_grace_period = serializers.IntegerField(
        required=False, allow_null=True, min_value=0, max_value=365
    )
    subscription_invoice_issuing_date_anchor = serializers.ChoiceField(
        choices=IssuingDateAnchor.choices, required=False, allow_null=True
    )
    subscription_invoice_issuing_date_adjustment = serializers.ChoiceField(
        choices=IssuingDateAdjustment.choices, required=False, allow_null=True
    )
    payment_provider = serializers.ChoiceField(
        choices=["stripe", "adyen", "gocardless", "moneyhash", "cashfree", "flutterwave"],
        required=False,
        allow_null=True,
    )
    payment_provider_code = optional_str()
    provider_customer_id = optional_str()
    sync = serializers.BooleanField(required=False)
    sync_with_provider = serializers.BooleanField(required=False)
    document_locale = serializers.ChoiceField(choices=DOCUMENT_LOCALES, required=False, allow_null=True)
    provider_payment_methods = serializers.ListField(
        child=serializers.CharField(), required=False, allow_null=True
    )


class AddressInput(serializers.Serializer):
    address_line1 = optional_str()
    address_line2 = optional_str()
    city = optional_str()
    state = optional_str()
    zipcode = optional_str(64)
    country = CountryField(required=False, allow_null=True, allow_blank=True)


class CustomerMetadataInput(serializers.Serializer):
    id = serializers.UUIDField(required=False, allow_null=True)
    key = serializers.CharField(max_length=255)
    value = serializers.CharField(max_length=1024, allow_blank=True)
    display_in_invoice = serializers.BooleanField(required=False, default=False)


PROVIDER_KEYS = (
    "payment_provider",
    "payment_provider_code",
    "provider_customer_id",
    "sync",
    "sync_with_provider",
    "provider_payment_methods",
)


class CustomerInput(serializers.Serializer):
    external_id = serializers.CharField(max_length=255)
    name = optional_str()
    firstname = optional_str()
    lastname = optional_str()
    account_type = serializers.ChoiceField(choices=AccountType.choices, required=False, allow_null=True)
    customer_type = serializers.ChoiceField(choices=CustomerType.choices, required=False, allow_null=True)
    address_line1 = optional_str()
    address_line2 = optional_str()
    city = optional_str()
    state = optional_str()
    zipcode = optional_str(64)
    country = CountryField(required=False, allow_null=True, allow_blank=True)
    currency = CurrencyField(required=False, allow_null=True)
    email = optional_str(1024)
    legal_name = optional_str()
    legal_number = optional_str()
    logo_url = optional_str(1024)
    phone = optional_str()
    url = optional_str(1024)
    tax_identification_number = optional_str()
    timezone = TimezoneField(required=False, allow_null=True)
    net_payment_term = serializers.IntegerField(required=False, allow_null=True, min_value=0, max_value=365)
    finalize_zero_amount_invoice = serializers.ChoiceField(
        choices=FinalizeZeroAmountInvoice.choices, required=False
    )
    billing_configuration = CustomerBillingConfigurationInput(required=False)
    shipping_address = AddressInput(required=False, allow_null=True)
    metadata = CustomerMetadataInput(many=True, required=False)
    tax_codes = serializers.ListField(child=serializers.CharField(), required=False)
    skip_invoice_custom_sections = serializers.BooleanField(required=False)
    integration_customers = serializers.ListField(child=serializers.DictField(), required=False)
    invoice_custom_section_codes = serializers.ListField(child=serializers.CharField(), required=False)
    billing_entity_code = optional_str()

    def validate_email(self, value):
        # Lago accepts a comma-separated list of addresses.
        if value:
            email = serializers.EmailField()
            for part in value.split(","):
                email.run_validation(part.strip())
        return value

    def validate_metadata(self, value):
        keys = [item["key"] for item in value]
        if len(keys) != len(set(keys)):
            raise serializers.ValidationError("value_already_exist", code="value_already_exist")
        return value

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        for ignored in ("integration_customers", "invoice_custom_section_codes", "billing_entity_code"):
            value.pop(ignored, None)
        billing = value.pop("billing_configuration", None) or {}
        for key in (
            "invoice_grace_period",
            "subscription_invoice_issuing_date_anchor",
            "subscription_invoice_issuing_date_adjustment",
            "document_locale",
        ):
            if key in billing:
                value[key] = billing[key]
        provider = {k: billing[k] for k in PROVIDER_KEYS if k in billing}
        if provider:
            value["payment_provider_settings"] = provider
        if "shipping_address" in value:
            value["shipping_address"] = dict(value["shipping_address"] or {})
        if value.get("account_type") is None:
            value.pop("account_type", None)
        if value.get("country") == "":
            value["country"] = None
        return value


class CustomerBillingConfigurationSerializer(serializers.Serializer):
    invoice_grace_period = serializers.IntegerField(allow_null=True)
    subscription_invoice_issuing_date_anchor = serializers.CharField(allow_null=True)
    subscription_invoice_issuing_date_adjustment = serializers.CharField(allow_null=True)
    payment_provider = serializers.CharField(allow_null=True)
    payment_provider_code = serializers.CharField(allow_null=True)
    provider_customer_id = serializers.CharField(allow_null=True)
    sync = serializers.BooleanField(allow_null=True)
    sync_with_provider = serializers.BooleanField(allow_null=True)
    document_locale = serializers.CharField(allow_null=True)
    provider_payment_methods = serializers.ListField(child=serializers.CharField(), allow_null=True)


class AddressSerializer(serializers.Serializer):
    address_line1 = serializers.CharField(allow_null=True)
    address_line2 = serializers.CharField(allow_null=True)
    city = serializers.CharField(allow_null=True)
    state = serializers.CharField(allow_null=True)
    zipcode = serializers.CharField(allow_null=True)
    country = serializers.CharField(allow_null=True)


class CustomerMetadataSerializer(serializers.Serializer):
    lago_id = serializers.UUIDField(source="id")
    key = serializers.CharField()
    value = serializers.CharField()
    display_in_invoice = serializers.BooleanField()
    created_at = serializers.DateTimeField()


class CustomerSerializer(serializers.Serializer):
    lago_id = serializers.UUIDField(source="id")
    sequential_id = serializers.IntegerField()
    slug = serializers.CharField()
    external_id = serializers.CharField()
    address_line1 = serializers.CharField(allow_null=True)
    address_line2 = serializers.CharField(allow_null=True)
    applicable_timezone = serializers.CharField()
    city = serializers.CharField(allow_null=True)
    country = serializers.CharField(allow_null=True)
    currency = serializers.CharField(allow_null=True)
    email = serializers.CharField(allow_null=True)
    legal_name = serializers.CharField(allow_null=True)
    legal_number = serializers.CharField(allow_null=True)
    logo_url = serializers.CharField(allow_null=True)
    name = serializers.CharField(allow_null=True)
    firstname = serializers.CharField(allow_null=True)
    lastname = serializers.CharField(allow_null=True)
    account_type = serializers.CharField()
    customer_type = serializers.CharField(allow_null=True)
    phone = serializers.CharField(allow_null=True)
    state = serializers.CharField(allow_null=True)
    tax_identification_number = serializers.CharField(allow_null=True)
    timezone = serializers.CharField(allow_null=True)
    url = serializers.CharField(allow_null=True)
    zipcode = serializers.CharField(allow_null=True)
    net_payment_term = serializers.IntegerField(allow_null=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    finalize_zero_amount_invoice = serializers.CharField()
    skip_invoice_custom_sections = serializers.BooleanField()
    billing_configuration = serializers.SerializerMethodField()
    shipping_address = serializers.SerializerMethodField()
    metadata = CustomerMetadataSerializer(many=True)
    integration_customers = serializers.SerializerMethodField()
    taxes = TaxSerializer(many=True, source="taxes.all")
    applicable_invoice_custom_sections = serializers.SerializerMethodField()

    @extend_schema_field(CustomerBillingConfigurationSerializer)
    def get_billing_configuration(self, customer: Customer) -> dict:
        provider = customer.payment_provider_settings or {}
        return {
            "invoice_grace_period": customer.invoice_grace_period,
            "subscription_invoice_issuing_date_anchor": customer.subscription_invoice_issuing_date_anchor,
            "subscription_invoice_issuing_date_adjustment": customer.subscription_invoice_issuing_date_adjustment,
            "payment_provider": provider.get("payment_provider"),
            "payment_provider_code": provider.get("payment_provider_code"),
            "provider_customer_id": provider.get("provider_customer_id"),
            "sync": provider.get("sync"),
            "sync_with_provider": provider.get("sync_with_provider"),
            "document_locale": customer.document_locale,
            "provider_payment_methods": provider.get("provider_payment_methods"),
        }

    @extend_schema_field(AddressSerializer)
    def get_shipping_address(self, customer: Customer) -> dict:
        address = customer.shipping_address or {}
        return {key: address.get(key) for key in ADDRESS_KEYS}

    def get_integration_customers(self, customer: Customer) -> list[dict]:
        return []

    def get_applicable_invoice_custom_sections(self, customer: Customer) -> list[dict]:
        return []
