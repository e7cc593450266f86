"""Back office for organizations, API keys and customers.

A customer's page also shows, read-only, what finance staff look for: its subscriptions, its latest invoices
and the current usage of each active subscription (billing.usage.compute_current_usage, the same computation as
``GET /customers/{id}/current_usage``)."""

from __future__ import annotations

from django.contrib import admin, messages
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from customers import services
from customers.models import ApiKey, Customer, CustomerMetadata, Organization

#: Read-only blocks of the customer page, after its own fields.
OVERVIEW_FIELDS = ("subscriptions_overview", "invoices_overview", "current_usage_overview")
#: How many of the latest invoices the customer page lists (the rest: the filtered invoice list).
LATEST_INVOICES = 25


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

    # --- billing overview (read-only) ---------------------------------------------------------------------

    def get_readonly_fields(self, request, obj=None):
        fields = tuple(super().get_readonly_fields(request, obj))
        return fields if obj is None else (*fields, *OVERVIEW_FIELDS)

    def get_fields(self, request, obj=None):
        return [name for name in super().get_fields(request, obj) if name not in OVERVIEW_FIELDS]

    def get_fieldsets(self, request, obj=None):
        fieldsets = list(super().get_fieldsets(request, obj))
        if obj is not None:
            fieldsets.append(("Billing overview", {"fields": OVERVIEW_FIELDS}))
        return fieldsets

    @admin.display(description="subscriptions")
    def subscriptions_overview(self, customer: Customer) -> str:
        from billing.models import Subscription
        from invoicing.admin import utc_text

        rows = list(
            Subscription.objects.filter(customer=customer).select_related("plan").order_by("-created_at")
        )
        if not rows:
            return "No subscription."
        body = format_html_join(
            "",
            '<tr><td><a href="{}">{}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>',
            (
                (
                    reverse("admin:billing_subscription_change", args=[row.pk]),
                    row.external_id,
                    row.plan.code,
                    row.status,
                    row.billing_time,
                    utc_text(row.started_at),
                    utc_text(row.terminated_at),
                )
                for row in rows
            ),
        )
        return format_html(
            '<table id="customer-subscriptions"><thead><tr><th>external id</th><th>plan</th><th>status</th>'
            "<th>billing time</th><th>started</th><th>terminated</th></tr></thead><tbody>{}</tbody></table>",
            body,
        )

    @admin.display(description="invoices")
    def invoices_overview(self, customer: Customer) -> str:
        from invoicing.admin import invoice_label, money
        from invoicing.models import Invoice

        invoices = Invoice.objects.filter(customer=customer).select_related("organization")
        count = invoices.count()
        if not count:
            return "No invoice."
        latest = invoices.order_by("-issuing_date", "-created_at")[:LATEST_INVOICES]
        body = format_html_join(
            "",
            '<tr><td><a href="{}">{}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>'
            '<td style="text-align:right">{}</td></tr>',
            (
                (
                    reverse("admin:invoicing_invoice_change", args=[invoice.pk]),
                    invoice_label(invoice),
                    invoice.issuing_date,
                    invoice.invoice_type,
                    invoice.status,
                    invoice.payment_status,
                    money(invoice.total_amount_cents, invoice.currency),
                )
                for invoice in latest
            ),
        )
        all_url = f"{reverse('admin:invoicing_invoice_changelist')}?customer__id__exact={customer.pk}"
        return format_html(
            '<table id="customer-invoices"><thead><tr><th>number</th><th>issuing date</th><th>type</th>'
            "<th>status</th><th>payment</th><th>total</th></tr></thead><tbody>{}</tbody></table>"
            '<p><a href="{}">All {} invoice(s) of this customer</a></p>',
            body,
            all_url,
            count,
        )

    @admin.display(description="current usage")
    def current_usage_overview(self, customer: Customer) -> str:
        from billing.models import Subscription, SubscriptionStatus
        from billing.usage import compute_current_usage
        from config import errors
        from invoicing.admin import money, units, utc_text

        active = list(
            Subscription.objects.filter(customer=customer, status=SubscriptionStatus.ACTIVE)
            .select_related("plan", "customer__organization", "organization")
            .order_by("created_at")
        )
        if not active:
            return "No active subscription."
        blocks = []
        for subscription in active:
            try:
                usage = compute_current_usage(subscription=subscription)
            except errors.DomainError as exc:
                blocks.append(
                    format_html(
                        "<p><strong>{}</strong>: usage unavailable ({})</p>",
                        subscription.external_id,
                        getattr(exc, "code", exc),
                    )
                )
                continue
            rows = format_html_join(
                "",
                '<tr><td>{}</td><td style="text-align:right">{}</td><td style="text-align:right">{}</td>'
                '<td style="text-align:right">{}</td></tr>',
                (
                    (
                        charge.charge.billable_metric.code,
                        units(charge.units),
                        charge.events_count,
                        money(charge.amount_cents, usage.currency),
                    )
                    for charge in usage.charges
                ),
            )
            blocks.append(
                format_html(
                    '<div class="customer-usage" data-subscription="{}"><p><strong>{}</strong> ({}) — {} → {}</p>'
                    "<table><thead><tr><th>metric</th><th>units</th><th>events</th><th>amount</th></tr></thead>"
                    "<tbody>{}</tbody></table>"
                    "<p>Amount {} · taxes {} · total <strong>{}</strong></p></div>",
                    subscription.external_id,
                    subscription.external_id,
                    subscription.plan.code,
                    utc_text(usage.period.charges_from_datetime),
                    utc_text(usage.period.charges_to_datetime),
                    rows,
                    money(usage.amount_cents, usage.currency),
                    money(usage.taxes_amount_cents, usage.currency),
                    money(usage.total_amount_cents, usage.currency),
                )
            )
        return format_html_join("", "{}", ((block,) for block in blocks))

    def save_formset(self, request, form, formset, change):
        for instance in formset.save(commit=False):
            instance.organization = form.instance.organization
            instance.save()
        for obj in formset.deleted_objects:
            obj.delete()
