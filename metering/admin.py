"""Back office for events: browse and search, read-only (events are append-only), with the billable status."""

from __future__ import annotations

import json

from django.contrib import admin
from django.utils.html import format_html

from metering.models import Event
from metering.selectors import NOT_BILLABLE_REASONS, not_billable_reason_sql


class BillableFilter(admin.SimpleListFilter):
    title = "billable"
    parameter_name = "billable"

    def lookups(self, request, model_admin):
        return [
            ("yes", "Billable"),
            ("no", "Not billable"),
            *((r, f"Not billable: {r}") for r in NOT_BILLABLE_REASONS),
        ]

    def queryset(self, request, queryset):
        value = self.value()
        if value == "yes":
            return queryset.filter(not_billable_reason__isnull=True)
        if value == "no":
            return queryset.filter(not_billable_reason__isnull=False)
        if value in NOT_BILLABLE_REASONS:
            return queryset.filter(not_billable_reason=value)
        return queryset


@admin.register(Event)
class EventAdmin(admin.ModelAdmin):
    list_display = (
        "transaction_id",
        "code",
        "external_subscription_id",
        "timestamp",
        "billable_status",
        "organization",
        "created_at",
    )
    list_filter = (BillableFilter, "organization")
    search_fields = ("=transaction_id", "=external_subscription_id", "=code")
    search_help_text = "Exact transaction id, external subscription id or code."
    date_hierarchy = "timestamp"
    show_full_result_count = False
    list_select_related = ("organization",)
    fields = (
        "id",
        "organization",
        "transaction_id",
        "external_subscription_id",
        "code",
        "timestamp",
        "pretty_properties",
        "precise_total_amount_cents",
        "created_at",
        "billable_status",
    )
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(not_billable_reason=not_billable_reason_sql())

    @admin.display(description="Billable")
    def billable_status(self, obj):
        reason = getattr(obj, "not_billable_reason", None)
        if reason is None:
            return format_html('<span style="color:#187a2f">{}</span>', "billable")
        return format_html('<span style="color:#b3261e">not billable — {}</span>', reason)

    @admin.display(description="Properties")
    def pretty_properties(self, obj):
        return format_html("<pre>{}</pre>", json.dumps(obj.properties, indent=2, sort_keys=True, default=str))

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
