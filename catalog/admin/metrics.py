"""Back office: billable metrics, with their filters inline.

The form's clean() runs catalog.services.metrics.validate_metric_attributes and the filters' formset runs
validate_metric_filters — the same checks as the API — and the filters are saved through sync_metric_filters, so
the charge filters that used a removed key or value are pruned exactly as when the API changes them. A metric
used by a plan has its aggregation settings read-only (the API ignores changes to them). Deleting soft-deletes
the metric and its charges.
"""

from __future__ import annotations

from collections.abc import Mapping

from django import forms
from django.contrib import admin

from catalog.models import BillableMetric, BillableMetricFilter
from catalog.services import metrics as services
from config import errors

FROZEN_WHEN_ATTACHED = tuple(f for f in services.METRIC_FIELDS if f not in services.EDITABLE_WHEN_ATTACHED)


def add_service_errors(form: forms.BaseForm, error_details: Mapping) -> None:
    """Show a service's ValidationFailed details on the form: next to their field, or at the top."""
    for field, codes in error_details.items():
        text = ", ".join(codes) if isinstance(codes, list | tuple) else str(codes)
        if field in form.fields:
            form.add_error(field, text)
        else:
            form.add_error(None, f"{field}: {text}")


class BillableMetricForm(forms.ModelForm):
    weighted_interval = forms.ChoiceField(
        choices=[("", "—"), ("seconds", "seconds")],
        required=False,
        help_text="Required for weighted_sum_agg.",
    )

    class Meta:
        model = BillableMetric
        fields = "__all__"

    def clean_weighted_interval(self):
        return self.cleaned_data.get("weighted_interval") or None

    def clean(self):
        cleaned = super().clean()
        attrs = {
            field: cleaned.get(field) if field in self.fields else getattr(self.instance, field)
            for field in services.METRIC_FIELDS
        }
        try:
            values = services.validate_metric_attributes(attrs)
        except errors.ValidationFailed as exc:
            add_service_errors(self, exc.error_details)
            return cleaned
        for field, value in values.items():
            if field in self.fields:
                cleaned[field] = value
        return cleaned


class BillableMetricFilterFormSet(forms.BaseInlineFormSet):
    def live_filters(self) -> list[dict]:
        return [
            {"key": form.cleaned_data["key"], "values": form.cleaned_data["values"]}
            for form in self.forms
            if form.cleaned_data and not form.cleaned_data.get("DELETE")
        ]

    def clean(self):
        super().clean()
        if any(self.errors):
            return
        try:
            services.validate_metric_filters(self.live_filters())
        except errors.ValidationFailed as exc:
            raise forms.ValidationError(f"Invalid filters: {exc.error_details}")


class BillableMetricFilterInline(admin.TabularInline):
    model = BillableMetricFilter
    formset = BillableMetricFilterFormSet
    extra = 0
    fields = ("key", "values")

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        field = super().formfield_for_dbfield(db_field, request, **kwargs)
        if db_field.name == "values":
            field.help_text = 'A JSON list of strings, e.g. ["us", "eu"].'
        return field


@admin.register(BillableMetric)
class BillableMetricAdmin(admin.ModelAdmin):
    form = BillableMetricForm
    inlines = [BillableMetricFilterInline]
    list_display = (
        "code",
        "name",
        "aggregation_type",
        "field_name",
        "recurring",
        "organization",
        "created_at",
        "deleted_at",
    )
    list_filter = ("aggregation_type", "recurring", "organization")
    search_fields = ("code", "name")
    list_select_related = ("organization",)
    readonly_fields = ("id", "created_at", "updated_at", "deleted_at")
    fields = (
        "id",
        "organization",
        "name",
        "code",
        "description",
        "aggregation_type",
        "field_name",
        "weighted_interval",
        "recurring",
        "rounding_function",
        "rounding_precision",
        "expression",
        "created_at",
        "updated_at",
        "deleted_at",
    )

    def get_readonly_fields(self, request, obj=None):
        readonly = list(self.readonly_fields)
        if obj is not None:
            readonly.append("organization")
            if services.metric_is_attached_to_plans(obj):
                readonly.extend(FROZEN_WHEN_ATTACHED)
        return readonly

    def save_formset(self, request, form, formset, change):
        if formset.model is not BillableMetricFilter:
            return super().save_formset(request, form, formset, change)
        services.sync_metric_filters(metric=form.instance, filters=formset.live_filters())
        # What the admin's change message reads after a formset.save().
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
        return None

    def get_deleted_objects(self, objs, request):
        """Deleting is a soft delete: nothing cascades and nothing blocks it (PROTECT guards hard deletes)."""
        objs = list(objs)
        return [str(o) for o in objs], {self.model._meta.verbose_name_plural: len(objs)}, set(), []

    def delete_model(self, request, obj):
        services.delete_metric(metric=obj)

    def delete_queryset(self, request, queryset):
        for metric in queryset.filter(deleted_at__isnull=True):
            services.delete_metric(metric=metric)
