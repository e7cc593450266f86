"""Back office: coupons.

The form's clean() runs catalog.services.coupons.validate_coupon_attributes and check_limitations — the API's
checks — and once a coupon has been applied only its name, description and expiration stay editable (as in the
API). The limited_* flags follow the chosen plans/metrics. Deleting soft-deletes the coupon and terminates its
active applications; the "terminate" action stops new applications.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin

from catalog.admin.metrics import add_service_errors
from catalog.models import BillableMetric, Coupon, Plan
from catalog.services import coupons as services
from config import clock, errors
from config.lago_enums import CURRENCIES

FROZEN_WHEN_APPLIED = (
    *(f for f in services.COUPON_FIELDS if f not in services.EDITABLE_WHEN_APPLIED),
    "plans",
    "billable_metrics",
)


class CouponForm(forms.ModelForm):
    amount_currency = forms.ChoiceField(
        choices=[("", "—"), *((c, c) for c in sorted(CURRENCIES))], required=False
    )

    class Meta:
        model = Coupon
        fields = "__all__"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "plans" in self.fields:
            self.fields["plans"].queryset = Plan.objects.filter(deleted_at__isnull=True, parent__isnull=True)
        if "billable_metrics" in self.fields:
            self.fields["billable_metrics"].queryset = BillableMetric.objects.filter(deleted_at__isnull=True)

    def clean_amount_currency(self):
        return self.cleaned_data.get("amount_currency") or None

    def clean(self):
        cleaned = super().clean()
        attrs = {
            field: cleaned.get(field) if field in self.fields else getattr(self.instance, field)
            for field in services.COUPON_FIELDS
        }
        organization = cleaned.get("organization") or getattr(self.instance, "organization", None)
        setting_expiration = {"expiration", "expiration_at"} & set(self.changed_data)
        try:
            values = services.validate_coupon_attributes(
                attrs, expiration_after=clock.now(organization) if setting_expiration else None
            )
        except errors.ValidationFailed as exc:
            add_service_errors(self, exc.error_details)
        else:
            for field, value in values.items():
                if field in self.fields:
                    cleaned[field] = value
        if organization is not None and "plans" in self.fields:
            try:
                services.check_limitations(
                    organization,
                    list(cleaned.get("plans") or []),
                    list(cleaned.get("billable_metrics") or []),
                )
            except errors.NotFound as exc:
                self.add_error("plans" if exc.code == "plans_not_found" else "billable_metrics", exc.code)
            except errors.NotAllowed as exc:
                self.add_error(None, exc.code)
        return cleaned


@admin.register(Coupon)
class CouponAdmin(admin.ModelAdmin):
    form = CouponForm
    list_display = (
        "code",
        "name",
        "coupon_type",
        "amount_cents",
        "amount_currency",
        "percentage_rate",
        "frequency",
        "status",
        "expiration_at",
        "organization",
        "created_at",
        "deleted_at",
    )
    list_filter = ("coupon_type", "frequency", "status", "expiration", "reusable", "organization")
    search_fields = ("code", "name")
    list_select_related = ("organization",)
    filter_horizontal = ("plans", "billable_metrics")
    readonly_fields = (
        "id",
        "status",
        "terminated_at",
        "limited_plans",
        "limited_billable_metrics",
        "created_at",
        "updated_at",
        "deleted_at",
    )
    fields = (
        "id",
        "organization",
        "name",
        "code",
        "description",
        "coupon_type",
        "amount_cents",
        "amount_currency",
        "percentage_rate",
        "frequency",
        "frequency_duration",
        "reusable",
        "expiration",
        "expiration_at",
        "plans",
        "billable_metrics",
        "limited_plans",
        "limited_billable_metrics",
        "status",
        "terminated_at",
        "created_at",
        "updated_at",
        "deleted_at",
    )
    actions = ["terminate"]

    def get_readonly_fields(self, request, obj=None):
        readonly = list(self.readonly_fields)
        if obj is not None:
            readonly.append("organization")
            if services.coupon_is_applied(obj):
                readonly.extend(FROZEN_WHEN_APPLIED)
        return readonly

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        coupon = form.instance
        services.set_coupon_limitations(
            coupon=coupon, plans=list(coupon.plans.all()), metrics=list(coupon.billable_metrics.all())
        )

    def get_deleted_objects(self, objs, request):
        """Deleting is a soft delete: nothing cascades and nothing blocks it (PROTECT guards hard deletes)."""
        objs = list(objs)
        return [str(o) for o in objs], {self.model._meta.verbose_name_plural: len(objs)}, set(), []

    def delete_model(self, request, obj):
        services.delete_coupon(coupon=obj)

    def delete_queryset(self, request, queryset):
        for coupon in queryset.filter(deleted_at__isnull=True):
            services.delete_coupon(coupon=coupon)

    @admin.action(description="Terminate selected coupons (no new applications; customers keep theirs)")
    def terminate(self, request, queryset):
        for coupon in queryset:
            services.terminate_coupon(coupon=coupon)
        self.message_user(request, f"Terminated {queryset.count()} coupon(s).")
