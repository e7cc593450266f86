"""Back office for the catalog."""

from django.contrib import admin

from catalog.models import Tax


@admin.register(Tax)
class TaxAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "rate", "applied_to_organization", "organization", "created_at")
    list_filter = ("organization", "applied_to_organization")
    search_fields = ("code", "name", "description")
    readonly_fields = ("id", "created_at", "updated_at")
