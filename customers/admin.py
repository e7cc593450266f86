"""Back office for organizations, API keys and customers."""

from __future__ import annotations

from django.contrib import admin, messages

from customers import services
from customers.models import ApiKey, Customer, CustomerMetadata, Organization


class ApiKeyInline(admin.TabularInline):
    model = ApiKey
    extra = 0
    fields = ("name", "prefix", "created_at", "last_used_at", "revoked_at")
    readonly_fields = ("prefix", "created_at", "last_used_at")
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False  # new keys go through the API key admin, which shows the secret once


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "id",
        "default_currency",
        "timezone",
        "document_numbering",
        "is_sandbox",
        "created_at",
    )
    list_filter = ("default_currency", "document_numbering", "is_sandbox")
    search_fields = ("name", "legal_name", "id", "email")
    readonly_fields = ("id", "hmac_key", "created_at", "updated_at")
    inlines = [ApiKeyInline]
    fieldsets = (
        (None, {"fields": ("id", "name", "legal_name", "legal_number", "tax_identification_number", "email")}),
        ("Billing", {"fields": ("default_currency", "timezone", "document_locale", "net_payment_term",
                                "invoice_grace_period", "invoice_footer", "document_numbering",
                                "document_number_prefix", "finalize_zero_amount_invoice")}),
        ("Address", {"fields": ("address_line1", "address_line2", "city", "state", "zipcode", "country")}),
        ("Integrations", {"fields": ("webhook_url", "email_settings", "hmac_key")}),
        ("Test clock", {"fields": ("is_sandbox", "frozen_time")}),
        ("Timestamps", {"fields": ("created_at", "updated_at")}),
    )  # fmt: skip


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ("prefix", "name", "organization", "created_at", "last_used_at", "revoked_at")
    list_filter = ("organization",)
    search_fields = ("name", "prefix", "organization__name")
    readonly_fields = ("prefix", "created_at", "last_used_at")
    actions = ["revoke"]

    def get_fields(self, request, obj=None):
        return ("organization", "name") if obj is None else ("organization", "name", "prefix", "created_at",
                                                              "last_used_at", "revoked_at")  # fmt: skip

    def get_readonly_fields(self, request, obj=None):
        return self.readonly_fields if obj is None else (*self.readonly_fields, "organization")

    def save_model(self, request, obj, form, change):
        if change:
            return super().save_model(request, obj, form, change)
        api_key, secret = services.create_api_key(organization=obj.organization, name=obj.name)
        obj.pk = api_key.pk
        self.message_user(
            request, f"New API key (copy it now, it is shown only once): {secret}", level=messages.WARNING
        )

    @admin.action(description="Revoke selected API keys")
    def revoke(self, request, queryset):
        for api_key in queryset:
            services.revoke_api_key(api_key=api_key)
        self.message_user(request, f"Revoked {queryset.count()} key(s).")


class CustomerMetadataInline(admin.TabularInline):
    model = CustomerMetadata
    extra = 0
    fields = ("key", "value", "display_in_invoice")


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    list_display = (
        "external_id",
        "name",
        "organization",
        "currency",
        "country",
        "account_type",
        "created_at",
    )
    list_filter = ("organization", "currency", "account_type", "customer_type", "country", "deleted_at")
    search_fields = ("external_id", "name", "firstname", "lastname", "legal_name", "email")
    readonly_fields = ("id", "sequential_id", "created_at", "updated_at", "deleted_at")
    filter_horizontal = ("taxes",)
    inlines = [CustomerMetadataInline]

    def save_formset(self, request, form, formset, change):
        for instance in formset.save(commit=False):
            instance.organization = form.instance.organization
            instance.save()
        for obj in formset.deleted_objects:
            obj.delete()
