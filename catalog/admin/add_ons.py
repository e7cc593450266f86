"""Back office: add-ons.

The form's clean() runs catalog.services.add_ons.validate_add_on_attributes (the API's checks) and refuses taxes of
another organization; deleting soft-deletes, as the API does.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin

from catalog.admin.metrics import add_service_errors
from catalog.models import AddOn
from catalog.services import add_ons as services
from config import errors
from config.lago_enums import CURRENCIES


class AddOnForm(forms.ModelForm):
    amount_currency = forms.ChoiceField(choices=[(c, c) for c in sorted(CURRENCIES)])

    class Meta:
        model = AddOn
        fields = "__all__"

    def clean(self):
        cleaned = super().clean()
        attrs = {
            field: cleaned.get(field) if field in self.fields else getattr(self.instance, field)
            for field in services.ADD_ON_FIELDS
        }
        try:
            services.validate_add_on_attributes(attrs)
        except errors.ValidationFailed as exc:
            add_service_errors(self, exc.error_details)
        organization = cleaned.get("organization") or getattr(self.instance, "organization", None)
        taxes = cleaned.get("taxes")
        if (
            organization is not None
            and taxes is not None
            and any(t.organization_id != organization.pk for t in taxes)
        ):
            self.add_error("taxes", "tax_not_found: every tax must belong to the add-on's organization")
        return cleaned


@admin.register(AddOn)
class AddOnAdmin(admin.ModelAdmin):
    form = AddOnForm
    list_display = (
        "code",
        "name",
        "amount_cents",
        "amount_currency",
        "organization",
        "created_at",
        "deleted_at",
    )
    list_filter = ("amount_currency", "organization")
    search_fields = ("code", "name", "invoice_display_name")
    list_select_related = ("organization",)
    filter_horizontal = ("taxes",)
    readonly_fields = ("id", "created_at", "updated_at", "deleted_at")
    fields = (
        "id",
        "organization",
        "name",
        "code",
        "invoice_display_name",
        "description",
        "amount_cents",
        "amount_currency",
        "taxes",
        "created_at",
        "updated_at",
        "deleted_at",
    )

    def get_readonly_fields(self, request, obj=None):
        return self.readonly_fields if obj is None else (*self.readonly_fields, "organization")

    def get_deleted_objects(self, objs, request):
        """Deleting is a soft delete: nothing cascades and nothing blocks it (PROTECT guards hard deletes)."""
        objs = list(objs)
        return [str(o) for o in objs], {self.model._meta.verbose_name_plural: len(objs)}, set(), []

    def delete_model(self, request, obj):
        services.delete_add_on(add_on=obj)

    def delete_queryset(self, request, queryset):
        for add_on in queryset.filter(deleted_at__isnull=True):
            services.delete_add_on(add_on=add_on)
