"""Back office for invoices and fees: browse, filter and search; invoices are documents, so nothing here edits
amounts. Finalizing and voiding go through billing.services.invoices (coupons apply and are given back)."""

from __future__ import annotations

from django.contrib import admin, messages

from billing.services import invoices as billing_invoices
from config import errors
from invoicing.models import AppliedTax, Credit, Fee, Invoice, InvoiceStatus
from invoicing.numbering import draft_number


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class FeeInline(ReadOnlyInline):
    model = Fee
    fields = (
        "fee_type",
        "invoice_display_name",
        "units",
        "amount_cents",
        "precise_coupons_amount_cents",
        "taxes_amount_cents",
        "taxes_rate",
        "payment_status",
        "subscription",
        "charge",
        "charge_filter",
        "fixed_charge",
        "add_on",
    )
    readonly_fields = fields


class AppliedTaxInline(ReadOnlyInline):
    model = AppliedTax
    fk_name = "invoice"
    fields = ("tax_code", "tax_name", "tax_rate", "taxable_base_amount_cents", "amount_cents")
    readonly_fields = fields


class CreditInline(ReadOnlyInline):
    model = Credit
    fields = ("applied_coupon", "amount_cents", "amount_currency", "before_taxes", "created_at")
    readonly_fields = fields


@admin.register(Invoice)
class InvoiceAdmin(admin.ModelAdmin):
    list_display = (
        "display_number",
        "customer",
        "invoice_type",
        "status",
        "payment_status",
        "payment_overdue",
        "issuing_date",
        "currency",
        "total_amount_cents",
        "organization",
    )
    list_filter = ("status", "payment_status", "payment_overdue", "invoice_type", "currency", "organization")
    search_fields = ("id", "number", "customer__external_id", "customer__name", "customer__email")
    list_select_related = ("customer", "organization")
    date_hierarchy = "issuing_date"
    ordering = ("-issuing_date", "-created_at")
    inlines = [FeeInline, AppliedTaxInline, CreditInline]
    actions = ["finalize", "void"]

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in Invoice._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="number", ordering="number")
    def display_number(self, invoice: Invoice) -> str:
        return draft_number(invoice.organization) if invoice.status == InvoiceStatus.DRAFT else invoice.number

    @admin.action(description="Finalize the selected draft invoices")
    def finalize(self, request, queryset):
        self._run(
            request, queryset, lambda invoice: billing_invoices.finalize_invoice(invoice=invoice), "finalized"
        )

    @admin.action(description="Void the selected finalized invoices")
    def void(self, request, queryset):
        self._run(request, queryset, lambda invoice: billing_invoices.void_invoice(invoice=invoice), "voided")

    def _run(self, request, queryset, act, verb: str) -> None:
        done = 0
        for invoice in queryset.order_by("created_at"):
            try:
                act(invoice)
                done += 1
            except errors.DomainError as exc:
                self.message_user(request, f"{invoice}: {exc}", messages.WARNING)
        self.message_user(request, f"{done} invoice(s) {verb}.", messages.SUCCESS)


@admin.register(Fee)
class FeeAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "fee_type",
        "invoice",
        "customer",
        "amount_cents",
        "amount_currency",
        "payment_status",
    )
    list_filter = ("fee_type", "payment_status", "amount_currency", "organization")
    search_fields = ("id", "invoice__number", "customer__external_id", "event_transaction_id")
    list_select_related = ("invoice", "customer")
    ordering = ("-created_at",)

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in Fee._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
