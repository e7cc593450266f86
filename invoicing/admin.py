"""Back office for finance staff: invoices and their fees.

Invoices are documents: nothing here edits an invoice's columns. Every act is a service call, the same the API
makes — refresh, finalize and void through billing.services.invoices (coupons and credit notes apply and are given
back), payment status through invoicing.services.update_invoice (``PUT /invoices/{id}``), PDFs through
invoicing.documents, and a fee adjustment on a draft through invoicing.services.adjustments.adjust_fee. A
refused act shows the service's error code as a message and changes nothing.

Acts are offered twice: as list actions (on the selected invoices) and as buttons on an invoice's page (POSTs to
``<invoice>/act/<name>/``). The PDF of a finalized or voided invoice is its stored document; a draft's is a
preview rendered on the fly (stamped "Draft", never stored).
"""

from __future__ import annotations

import datetime as dt
import io
import uuid
import zipfile
from collections.abc import Callable
from decimal import Decimal

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from billing.services import invoices as billing_invoices
from config import errors
from config.money import currency_exponent, subunit_to_unit
from invoicing import documents, locales, services
from invoicing.models import (
    AppliedTax,
    Credit,
    Fee,
    FeeType,
    Invoice,
    InvoiceStatus,
    PaymentStatus,
)
from invoicing.numbering import draft_number
from invoicing.services.adjustments import adjust_fee

ADMIN_LOCALE = "en"


# --------------------------------------------------------------------------------------------------------------
# Formatting
# --------------------------------------------------------------------------------------------------------------


def money(amount_cents: int | None, currency: str | None) -> str:
    """``€1,234.56``, ``¥1,234``, ``KWD 1,234.567`` — the PDF's formatting, in English."""
    if amount_cents is None or not currency:
        return "-"
    try:
        exponent = currency_exponent(currency)
    except Exception:  # an unknown currency code still shows its digits
        return f"{amount_cents} {currency}"
    return locales.format_money(int(amount_cents), currency, exponent, ADMIN_LOCALE)


def unit_price(fee: Fee) -> str:
    try:
        exponent = currency_exponent(fee.amount_currency)
    except Exception:
        return str(fee.precise_unit_amount)
    return locales.format_unit_price(
        Decimal(fee.precise_unit_amount), fee.amount_currency, exponent, ADMIN_LOCALE
    )


def units(value) -> str:
    return locales.format_units(Decimal(value), ADMIN_LOCALE) if value is not None else "-"


def invoice_label(invoice: Invoice) -> str:
    """The number finance staff see: the final number, or "{prefix}-DRAFT (id…)" for a draft."""
    if invoice.status == InvoiceStatus.DRAFT or not invoice.number:
        return f"{draft_number(invoice.organization)} ({str(invoice.pk)[:8]})"
    return invoice.number


def fee_label(fee: Fee) -> str:
    """What the fee bills, as the invoice shows it."""
    if fee.invoice_display_name:
        return fee.invoice_display_name
    if fee.fee_type == FeeType.CHARGE and fee.charge_id:
        metric = fee.charge.billable_metric
        name = fee.charge.invoice_display_name or metric.name
        if fee.charge_filter_id and fee.charge_filter.invoice_display_name:
            name = f"{name} — {fee.charge_filter.invoice_display_name}"
        return name
    if fee.add_on_id:
        return fee.add_on.invoice_display_name or fee.add_on.name
    if fee.fixed_charge_id:
        return fee.fixed_charge.invoice_display_name or str(fee.fixed_charge_id)
    if fee.subscription_id:
        plan = fee.subscription.plan
        if fee.fee_type == FeeType.COMMITMENT:
            return "Minimum commitment"
        return plan.invoice_display_name or plan.name
    return fee.get_fee_type_display()


def describe_error(exc: errors.DomainError) -> str:
    """A service refusal as finance staff read it: the error code(s) the API would answer."""
    if isinstance(exc, errors.ValidationFailed):
        return "; ".join(
            f"{field}: {', '.join(map(str, codes)) if isinstance(codes, list | tuple) else codes}"
            for field, codes in exc.error_details.items()
        )
    if isinstance(exc, errors.BadRequest):
        return exc.message
    return getattr(exc, "code", None) or str(exc)


# --------------------------------------------------------------------------------------------------------------
# List filters
# --------------------------------------------------------------------------------------------------------------


class DateRangeListFilter(admin.FieldListFilter):
    """A from/to date range (``<field>__gte`` / ``<field>__lte``, ISO dates, both optional); an unreadable date
    is ignored."""

    template = "admin/invoicing/date_range_filter.html"

    def __init__(self, field, request, params, model, model_admin, field_path):
        self.lookup_gte = f"{field_path}__gte"
        self.lookup_lte = f"{field_path}__lte"
        super().__init__(field, request, params, model, model_admin, field_path)
        self.title = f"{getattr(field, 'verbose_name', field_path)} (range)"

    def expected_parameters(self):
        return [self.lookup_gte, self.lookup_lte]

    def _date(self, name: str) -> dt.date | None:
        value = self.used_parameters.get(name)
        if isinstance(value, list):
            value = value[-1] if value else None
        try:
            return dt.date.fromisoformat(str(value).strip()) if value else None
        except ValueError:
            return None

    @property
    def value_gte(self) -> str:
        day = self._date(self.lookup_gte)
        return day.isoformat() if day else ""

    @property
    def value_lte(self) -> str:
        day = self._date(self.lookup_lte)
        return day.isoformat() if day else ""

    def queryset(self, request, queryset):
        start, end = self._date(self.lookup_gte), self._date(self.lookup_lte)
        if start is not None:
            queryset = queryset.filter(**{self.lookup_gte: start})
        if end is not None:
            queryset = queryset.filter(**{self.lookup_lte: end})
        return queryset

    def get_facet_counts(self, pk_attname, filtered_qs):
        return {}

    def choices(self, changelist):
        """One entry: the other query parameters (kept as hidden fields) and the reset link."""
        others = [
            (key, value)
            for key, values in changelist.params.items()
            if key not in self.expected_parameters()
            for value in (values if isinstance(values, list) else [values])
        ]
        yield {
            "selected": bool(self.value_gte or self.value_lte),
            "hidden": others,
            "reset_query_string": changelist.get_query_string(remove=self.expected_parameters()),
            "display": "Any date",
        }


# --------------------------------------------------------------------------------------------------------------
# Inlines: the invoice's fees, taxes and credits (read-only)
# --------------------------------------------------------------------------------------------------------------


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class FeeInline(ReadOnlyInline):
    model = Fee
    verbose_name_plural = "fees"
    fields = (
        "item",
        "fee_type",
        "units_display",
        "unit_price_display",
        "amount",
        "taxes",
        "taxes_amount",
        "total",
        "adjustment",
    )
    readonly_fields = fields

    def get_queryset(self, request):
        return fee_queryset()

    @admin.display(description="item")
    def item(self, fee: Fee) -> str:
        return fee_label(fee)

    @admin.display(description="units")
    def units_display(self, fee: Fee) -> str:
        return units(fee.units)

    @admin.display(description="unit price")
    def unit_price_display(self, fee: Fee) -> str:
        return unit_price(fee)

    @admin.display(description="amount")
    def amount(self, fee: Fee) -> str:
        return money(fee.amount_cents, fee.amount_currency)

    @admin.display(description="taxes")
    def taxes(self, fee: Fee) -> str:
        applied = list(fee.applied_taxes.all())
        if not applied:
            return "-"
        return ", ".join(
            f"{tax.tax_code} {locales.format_percent(tax.tax_rate, ADMIN_LOCALE)}" for tax in applied
        )

    @admin.display(description="tax amount")
    def taxes_amount(self, fee: Fee) -> str:
        return money(fee.taxes_amount_cents, fee.amount_currency)

    @admin.display(description="total")
    def total(self, fee: Fee) -> str:
        return money(fee.amount_cents + fee.taxes_amount_cents, fee.amount_currency)

    @admin.display(description="adjustment")
    def adjustment(self, fee: Fee) -> str:
        adjusted = fee.adjusted_units is not None or fee.adjusted_unit_amount_cents is not None
        label = "adjusted" if adjusted else ""
        if fee.invoice is None or fee.invoice.status != InvoiceStatus.DRAFT or fee.true_up_parent_fee_id:
            return label or "-"
        url = reverse("admin:invoicing_invoice_adjust_fee", args=[fee.invoice_id, fee.pk])
        return format_html(
            '{} <a class="button tb-adjust" id="adjust-{}" href="{}">Adjust</a>', label, fee.pk, url
        )


class AppliedTaxInline(ReadOnlyInline):
    model = AppliedTax
    fk_name = "invoice"
    verbose_name_plural = "taxes"
    fields = ("tax_code", "tax_name", "rate", "base", "amount")
    readonly_fields = fields

    @admin.display(description="rate")
    def rate(self, tax: AppliedTax) -> str:
        return locales.format_percent(tax.tax_rate, ADMIN_LOCALE)

    @admin.display(description="taxable base")
    def base(self, tax: AppliedTax) -> str:
        return money(tax.taxable_base_amount_cents, tax.amount_currency)

    @admin.display(description="amount")
    def amount(self, tax: AppliedTax) -> str:
        return money(tax.amount_cents, tax.amount_currency)


class CreditInline(ReadOnlyInline):
    model = Credit
    verbose_name_plural = "credits"
    fields = ("source", "amount", "before_taxes", "created_at")
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("applied_coupon__coupon", "credit_note")

    @admin.display(description="source")
    def source(self, credit: Credit) -> str:
        if credit.applied_coupon_id:
            return f"coupon {credit.applied_coupon.coupon.code}"
        if credit.credit_note_id:
            return f"credit note {credit.credit_note.number or credit.credit_note_id}"
        return "-"

    @admin.display(description="amount")
    def amount(self, credit: Credit) -> str:
        return money(credit.amount_cents, credit.amount_currency)


# --------------------------------------------------------------------------------------------------------------
# Fee adjustment form
# --------------------------------------------------------------------------------------------------------------


class FeeAdjustmentForm(forms.Form):
    """Units and/or a unit price (in the invoice currency's major units, e.g. 12.50 EUR) for a draft's fee."""

    units = forms.DecimalField(
        required=False,
        min_value=0,
        max_digits=28,
        decimal_places=15,
        help_text="Leave empty to keep the fee's units (a unit price alone applies to the current units).",
    )
    unit_price = forms.DecimalField(
        required=False,
        min_value=0,
        help_text="Leave empty to re-price the new units with the fee's pricing (charge model, plan or add-on).",
    )

    def __init__(self, *args, currency: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.currency = currency
        exponent = currency_exponent(currency)
        self.fields["unit_price"] = forms.DecimalField(
            required=False,
            min_value=0,
            max_value=Decimal(10**13) - Decimal(1).scaleb(-exponent),
            max_digits=13 + exponent,
            decimal_places=exponent,
            label=f"Unit price ({currency})",
            help_text=self.fields["unit_price"].help_text,
        )
        self.fields["unit_price"].widget.attrs["step"] = (
            str(Decimal(1).scaleb(-exponent)) if exponent else "1"
        )

    def clean(self):
        cleaned = super().clean()
        if not self.errors and cleaned.get("units") is None and cleaned.get("unit_price") is None:
            raise forms.ValidationError("Give new units, a new unit price, or both.")
        return cleaned

    def unit_amount_cents(self) -> int | None:
        price = self.cleaned_data.get("unit_price")
        if price is None:
            return None
        return int(price * subunit_to_unit(self.currency))


_ADJUSTMENT_FIELDS = {"units": "units", "unit_amount_cents": "unit_price"}


# --------------------------------------------------------------------------------------------------------------
# Invoices
# --------------------------------------------------------------------------------------------------------------


def _money_display(name: str, description: str) -> Callable:
    """A read-only invoice amount column, formatted with the invoice's currency."""

    @admin.display(description=description)
    def display(model_admin, invoice: Invoice) -> str:
        return money(getattr(invoice, name), invoice.currency)

    return display


def fee_queryset():
    """Live fees with what their labels and amounts read."""
    return (
        Fee.objects.filter(deleted_at__isnull=True)
        .select_related(
            "invoice__organization",
            "charge__billable_metric",
            "charge_filter",
            "fixed_charge",
            "add_on",
            "subscription__plan",
        )
        .prefetch_related("applied_taxes")
        .order_by("created_at", "id")
    )


def _finalize(invoice):
    return billing_invoices.finalize_invoice(invoice=invoice)


def _void(invoice):
    return billing_invoices.void_invoice(invoice=invoice)


def _refresh(invoice):
    return billing_invoices.refresh_invoice(invoice)


def _mark(status: str) -> Callable:
    def act(invoice):
        return services.update_invoice(invoice=invoice, payment_status=status)

    return act


ACTS: dict[str, tuple[str, tuple[str, ...], Callable, str]] = {
    "refresh": ("Refresh draft", (InvoiceStatus.DRAFT,), _refresh, "refreshed"),
    "finalize": ("Finalize", (InvoiceStatus.DRAFT,), _finalize, "finalized"),
    "void": ("Void", (InvoiceStatus.FINALIZED,), _void, "voided"),
    "mark_succeeded": (
        "Mark payment succeeded",
        (InvoiceStatus.FINALIZED,),
        _mark(PaymentStatus.SUCCEEDED),
        "marked paid (succeeded)",
    ),
    "mark_failed": (
        "Mark payment failed",
        (InvoiceStatus.FINALIZED,),
        _mark(PaymentStatus.FAILED),
        "marked payment failed",
    ),
}


@admin.register(Invoice)
class InvoiceAdmin(admin.ModelAdmin):
    change_form_template = "admin/invoicing/invoice/change_form.html"
    list_display = (
        "display_number",
        "customer_display",
        "issuing_date",
        "status",
        "payment_status",
        "total",
        "invoice_type",
        "payment_overdue",
    )
    list_filter = (
        "status",
        "payment_status",
        ("customer", admin.RelatedOnlyFieldListFilter),
        ("issuing_date", DateRangeListFilter),
        "currency",
        "invoice_type",
        "payment_overdue",
        "organization",
    )
    search_fields = (
        "number",
        "customer__external_id",
        "customer__name",
        "customer__firstname",
        "customer__lastname",
        "customer__email",
    )
    list_select_related = ("customer", "organization")
    date_hierarchy = "issuing_date"
    ordering = ("-issuing_date", "-created_at")
    list_per_page = 50
    inlines = [FeeInline, AppliedTaxInline, CreditInline]
    actions = [
        "refresh_drafts",
        "finalize",
        "void",
        "mark_payment_succeeded",
        "mark_payment_failed",
        "download_pdfs",
    ]
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "display_number",
                    "customer_link",
                    "organization",
                    "invoice_type",
                    "status",
                    "payment_status",
                    "payment_overdue",
                    "currency",
                    "issuing_date",
                    "payment_due_date",
                    "net_payment_term",
                    "expected_finalization_date",
                    "billing_periods",
                )
            },
        ),
        (
            "Amounts",
            {
                "fields": (
                    "fees_amount",
                    "progressive_billing_credit_amount",
                    "coupons_amount",
                    "sub_total_excluding_taxes",
                    "taxes_amount",
                    "sub_total_including_taxes",
                    "credit_notes_amount",
                    "prepaid_credit_amount",
                    "total",
                    "total_paid",
                    "total_due",
                )
            },
        ),
        (
            "Document",
            {"fields": ("pdf", "metadata", "finalized_at", "voided_at", "created_at", "updated_at")},
        ),
    )

    # --- permissions: invoices are documents --------------------------------------------------------------

    def get_readonly_fields(self, request, obj=None):
        return [name for _, options in self.fieldsets for name in options["fields"]]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        """Nothing on the page is editable: saving the form never writes the invoice."""

    def save_related(self, request, form, formsets, change):
        """Nor its fees, taxes or credits."""

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("customer", "organization")

    # --- columns and read-only fields ---------------------------------------------------------------------

    @admin.display(description="number", ordering="number")
    def display_number(self, invoice: Invoice) -> str:
        return invoice_label(invoice)

    @admin.display(description="customer", ordering="customer__name")
    def customer_display(self, invoice: Invoice) -> str:
        customer = invoice.customer
        name = customer.name or " ".join(filter(None, [customer.firstname, customer.lastname]))
        return f"{name} ({customer.external_id})" if name else customer.external_id

    @admin.display(description="customer")
    def customer_link(self, invoice: Invoice) -> str:
        url = reverse("admin:customers_customer_change", args=[invoice.customer_id])
        return format_html('<a href="{}">{}</a>', url, self.customer_display(invoice))

    @admin.display(description="billing periods")
    def billing_periods(self, invoice: Invoice) -> str:
        rows = list(invoice.invoice_subscriptions.select_related("subscription"))
        if not rows:
            return "-"
        return format_html_join(
            mark_safe("<br>"),
            "{} — {}: {} → {}",
            (
                (
                    row.subscription.external_id,
                    row.get_invoicing_reason_display().lower(),
                    utc_text(row.charges_from_datetime or row.from_datetime),
                    utc_text(row.charges_to_datetime or row.to_datetime),
                )
                for row in rows
            ),
        )

    fees_amount = _money_display("fees_amount_cents", "fees")
    progressive_billing_credit_amount = _money_display(
        "progressive_billing_credit_amount_cents", "progressive billing credit"
    )
    coupons_amount = _money_display("coupons_amount_cents", "coupons")
    sub_total_excluding_taxes = _money_display(
        "sub_total_excluding_taxes_amount_cents", "sub-total excl. taxes"
    )
    taxes_amount = _money_display("taxes_amount_cents", "taxes")
    sub_total_including_taxes = _money_display(
        "sub_total_including_taxes_amount_cents", "sub-total incl. taxes"
    )
    credit_notes_amount = _money_display("credit_notes_amount_cents", "credit notes")
    prepaid_credit_amount = _money_display("prepaid_credit_amount_cents", "prepaid credits")
    total_paid = _money_display("total_paid_amount_cents", "paid")

    @admin.display(description="total", ordering="total_amount_cents")
    def total(self, invoice: Invoice) -> str:
        return money(invoice.total_amount_cents, invoice.currency)

    @admin.display(description="due")
    def total_due(self, invoice: Invoice) -> str:
        due = (
            0
            if invoice.status == InvoiceStatus.VOIDED
            else invoice.total_amount_cents - invoice.total_paid_amount_cents
        )
        return money(due, invoice.currency)

    @admin.display(description="PDF")
    def pdf(self, invoice: Invoice) -> str:
        url = reverse("admin:invoicing_invoice_pdf", args=[invoice.pk])
        if invoice.status == InvoiceStatus.DRAFT:
            return format_html('<a id="pdf-link" href="{}">Preview PDF (draft, not stored)</a>', url)
        if invoice.status not in documents.DOCUMENT_STATUSES:
            return "-"
        public = documents.file_url(invoice)
        if public:
            return format_html(
                '<a id="pdf-link" href="{}">Download PDF</a> · <a href="{}">public link</a>', url, public
            )
        return format_html('<a id="pdf-link" href="{}">Download PDF</a> (rendered on first download)', url)

    # --- acts: one helper for list actions and page buttons -----------------------------------------------

    def _run(self, request, invoice: Invoice, name: str) -> bool:
        _, _, act, _ = ACTS[name]
        try:
            act(invoice)
        except errors.DomainError as exc:
            self.message_user(
                request,
                f"{invoice_label(invoice)}: not {ACTS[name][3]} — {describe_error(exc)}",
                messages.ERROR,
            )
            return False
        return True

    def _run_many(self, request, queryset, name: str) -> None:
        done = 0
        for invoice in queryset.select_related("customer", "organization").order_by("created_at", "id"):
            done += self._run(request, invoice, name)
        if done:
            self.message_user(request, f"{done} invoice(s) {ACTS[name][3]}.", messages.SUCCESS)

    @admin.action(description="Refresh the selected draft invoices", permissions=["change"])
    def refresh_drafts(self, request, queryset):
        self._run_many(request, queryset, "refresh")

    @admin.action(description="Finalize the selected draft invoices", permissions=["change"])
    def finalize(self, request, queryset):
        self._run_many(request, queryset, "finalize")

    @admin.action(description="Void the selected finalized invoices", permissions=["change"])
    def void(self, request, queryset):
        self._run_many(request, queryset, "void")

    @admin.action(description="Mark payment succeeded (paid)", permissions=["change"])
    def mark_payment_succeeded(self, request, queryset):
        self._run_many(request, queryset, "mark_succeeded")

    @admin.action(description="Mark payment failed", permissions=["change"])
    def mark_payment_failed(self, request, queryset):
        self._run_many(request, queryset, "mark_failed")

    @admin.action(description="Download the PDFs of the selected invoices", permissions=["view"])
    def download_pdfs(self, request, queryset):
        invoices = list(queryset.select_related("customer", "organization").order_by("created_at", "id"))
        files: list[tuple[str, bytes]] = []
        for invoice in invoices:
            try:
                files.append(self._pdf(invoice))
            except errors.DomainError as exc:
                self.message_user(
                    request, f"{invoice_label(invoice)}: no PDF — {describe_error(exc)}", messages.ERROR
                )
        if not files:
            return None
        if len(files) == 1:
            return _pdf_response(*files[0])
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for filename, content in files:
                archive.writestr(filename, content)
        response = HttpResponse(buffer.getvalue(), content_type="application/zip")
        response["Content-Disposition"] = 'attachment; filename="invoices.zip"'
        return response

    def _pdf(self, invoice: Invoice) -> tuple[str, bytes]:
        """(file name, bytes): the stored document (rendered and stored first if needed), or a draft's preview."""
        if invoice.status == InvoiceStatus.DRAFT:
            return f"draft-{invoice.pk}.pdf", documents.render_invoice_pdf(invoice)
        name = documents.generate_invoice_pdf(invoice)
        with invoice.file.storage.open(name, "rb") as handle:
            content = handle.read()
        return name.rsplit("/", 1)[-1], content

    # --- the invoice page: buttons, PDF, fee adjustment ---------------------------------------------------

    def get_urls(self):
        urls = super().get_urls()
        wrap = self.admin_site.admin_view
        return [
            path("<path:object_id>/act/<str:name>/", wrap(self.act_view), name="invoicing_invoice_act"),
            path("<path:object_id>/pdf/", wrap(self.pdf_view), name="invoicing_invoice_pdf"),
            path(
                "<path:object_id>/fees/<str:fee_id>/adjust/",
                wrap(self.adjust_fee_view),
                name="invoicing_invoice_adjust_fee",
            ),
            *urls,
        ]

    def _invoice_or_404(self, request, object_id) -> Invoice:
        invoice = self.get_object(request, object_id)
        if invoice is None:
            raise Http404("invoice not found")
        return invoice

    def _change_url(self, invoice: Invoice) -> str:
        return reverse("admin:invoicing_invoice_change", args=[invoice.pk])

    def act_view(self, request, object_id, name):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if name not in ACTS:
            raise Http404("unknown act")
        invoice = self._invoice_or_404(request, object_id)
        if not self.has_change_permission(request, invoice):
            raise PermissionDenied
        if self._run(request, invoice, name):
            invoice.refresh_from_db()
            self.message_user(request, f"Invoice {invoice_label(invoice)} {ACTS[name][3]}.", messages.SUCCESS)
        return HttpResponseRedirect(self._change_url(invoice))

    def pdf_view(self, request, object_id):
        invoice = self._invoice_or_404(request, object_id)
        if not self.has_view_or_change_permission(request, invoice):
            raise PermissionDenied
        try:
            filename, content = self._pdf(invoice)
        except errors.DomainError as exc:
            self.message_user(
                request, f"{invoice_label(invoice)}: no PDF — {describe_error(exc)}", messages.ERROR
            )
            return HttpResponseRedirect(self._change_url(invoice))
        return _pdf_response(filename, content)

    def adjust_fee_view(self, request, object_id, fee_id):
        invoice = self._invoice_or_404(request, object_id)
        if not self.has_change_permission(request, invoice):
            raise PermissionDenied
        fee = fee_queryset().filter(invoice=invoice, pk__in=_uuid_or_none(fee_id)).first()
        if fee is None:
            raise Http404("fee not found")
        if invoice.status != InvoiceStatus.DRAFT:
            self.message_user(
                request,
                f"{invoice_label(invoice)}: fee not adjusted — invoice_not_draft (only a draft's fees can be adjusted)",
                messages.ERROR,
            )
            return HttpResponseRedirect(self._change_url(invoice))
        exponent = currency_exponent(invoice.currency)
        initial = {
            "units": _plain(fee.adjusted_units) if fee.adjusted_units is not None else None,
            "unit_price": (
                Decimal(fee.adjusted_unit_amount_cents).scaleb(-exponent)
                if fee.adjusted_unit_amount_cents is not None
                else None
            ),
        }
        form = FeeAdjustmentForm(
            request.POST if request.method == "POST" else None, initial=initial, currency=invoice.currency
        )
        if request.method == "POST" and form.is_valid():
            try:
                adjusted = adjust_fee(
                    fee=fee, units=form.cleaned_data.get("units"), unit_amount_cents=form.unit_amount_cents()
                )
            except errors.ValidationFailed as exc:
                for field, codes in exc.error_details.items():
                    codes = codes if isinstance(codes, list | tuple) else [codes]
                    form.add_error(_ADJUSTMENT_FIELDS.get(field), f"{field}: {', '.join(map(str, codes))}")
            except errors.DomainError as exc:
                self.message_user(
                    request,
                    f"{invoice_label(invoice)}: fee not adjusted — {describe_error(exc)}",
                    messages.ERROR,
                )
                return HttpResponseRedirect(self._change_url(invoice))
            else:
                invoice.refresh_from_db()
                self.message_user(
                    request,
                    f"{fee_label(adjusted)} adjusted: {units(adjusted.units)} × {unit_price(adjusted)} = "
                    f"{money(adjusted.amount_cents, adjusted.amount_currency)}; invoice total "
                    f"{money(invoice.total_amount_cents, invoice.currency)}.",
                    messages.SUCCESS,
                )
                return HttpResponseRedirect(self._change_url(invoice))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": f"Adjust a fee of {invoice_label(invoice)}",
            "invoice": invoice,
            "invoice_label": invoice_label(invoice),
            "fee": fee,
            "fee_label": fee_label(fee),
            "fee_units": units(fee.units),
            "fee_unit_price": unit_price(fee),
            "fee_amount": money(fee.amount_cents, fee.amount_currency),
            "invoice_total": money(invoice.total_amount_cents, invoice.currency),
            "is_charge": fee.fee_type == FeeType.CHARGE,
            "form": form,
            "change_url": self._change_url(invoice),
        }
        return TemplateResponse(request, "admin/invoicing/invoice/adjust_fee.html", context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        if request.method == "POST":  # no field is editable: a posted form changes nothing
            return HttpResponseRedirect(request.path)
        invoice = self.get_object(request, object_id)
        extra_context = dict(extra_context or {})
        extra_context.update(
            show_save=False,
            show_save_and_continue=False,
            show_save_and_add_another=False,
            show_delete=False,
        )
        if invoice is not None:
            buttons = []
            can_change = self.has_change_permission(request, invoice)
            for name, (label, statuses, _, _) in ACTS.items():
                if can_change and invoice.status in statuses:
                    buttons.append(
                        {
                            "name": name,
                            "label": label,
                            "url": reverse("admin:invoicing_invoice_act", args=[invoice.pk, name]),
                            "confirm": "Void this invoice? It cannot be undone." if name == "void" else "",
                        }
                    )
            extra_context["invoice_buttons"] = buttons
            if invoice.status == InvoiceStatus.DRAFT or invoice.status in documents.DOCUMENT_STATUSES:
                extra_context["pdf_url"] = reverse("admin:invoicing_invoice_pdf", args=[invoice.pk])
                extra_context["pdf_label"] = (
                    "Preview PDF" if invoice.status == InvoiceStatus.DRAFT else "Download PDF"
                )
            extra_context["title"] = f"Invoice {invoice_label(invoice)}"
        return super().change_view(request, object_id, form_url, extra_context)


def utc_text(value: dt.datetime | None) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if value else "-"


def _plain(value) -> str:
    """A Decimal without exponent or trailing zeros ("3", "2.5")."""
    text = format(Decimal(value).normalize(), "f")
    return "0" if text in ("-0", "") else text


def _uuid_or_none(value: str) -> list:
    try:
        return [uuid.UUID(str(value))]
    except ValueError:
        return []


def _pdf_response(filename: str, content: bytes) -> HttpResponse:
    response = HttpResponse(content, content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "private, no-store"
    return response


# --------------------------------------------------------------------------------------------------------------
# Fees
# --------------------------------------------------------------------------------------------------------------


@admin.register(Fee)
class FeeAdmin(admin.ModelAdmin):
    """Fees are browsed here; a draft's fee is adjusted from its invoice (the "Adjust" link)."""

    list_display = (
        "id",
        "fee_type",
        "invoice",
        "customer",
        "amount",
        "payment_status",
        "pay_in_advance",
        "created_at",
    )
    list_filter = ("fee_type", "payment_status", "pay_in_advance", "amount_currency", "organization")
    search_fields = ("id", "invoice__number", "customer__external_id", "event_transaction_id")
    list_select_related = ("invoice__organization", "customer")
    ordering = ("-created_at",)
    readonly_fields = ("adjust_link",)

    def get_readonly_fields(self, request, obj=None):
        return ["adjust_link", *(field.name for field in Fee._meta.fields)]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        """Fees are never edited here."""

    def change_view(self, request, object_id, form_url="", extra_context=None):
        if request.method == "POST":  # no field is editable: a posted form changes nothing
            return HttpResponseRedirect(request.path)
        extra_context = {**(extra_context or {}), "show_save": False, "show_save_and_continue": False}
        return super().change_view(request, object_id, form_url, extra_context)

    @admin.display(description="amount", ordering="amount_cents")
    def amount(self, fee: Fee) -> str:
        return money(fee.amount_cents, fee.amount_currency)

    @admin.display(description="adjust")
    def adjust_link(self, fee: Fee) -> str:
        if fee.invoice is None or fee.invoice.status != InvoiceStatus.DRAFT:
            return "only fees of draft invoices can be adjusted"
        url = reverse("admin:invoicing_invoice_adjust_fee", args=[fee.invoice_id, fee.pk])
        return format_html('<a href="{}">Adjust this fee</a>', url)
