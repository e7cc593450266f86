"""Back office for the billing app."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages

from billing.models import AppliedCoupon, Subscription, SubscriptionStatus
from billing.services import applied_coupons as applied_coupon_services
from billing.services import subscriptions as subscription_services
from catalog.admin.metrics import add_service_errors
from config import errors


@admin.register(Subscription)
class SubscriptionAdmin(admin.ModelAdmin):
    """Subscriptions are created through the API; here they are browsed, renamed, given an end date or
    terminated — every change goes through billing.services.subscriptions."""

    list_display = (
        "external_id",
        "customer",
        "plan_code",
        "status",
        "billing_time",
        "subscription_at",
        "started_at",
        "terminated_at",
        "organization",
    )
    list_filter = ("status", "billing_time", "organization")
    search_fields = ("external_id", "customer__external_id", "customer__name", "plan__code", "name")
    list_select_related = ("customer", "plan", "organization")
    ordering = ("-created_at",)
    actions = ["terminate"]
    fields = (
        "id",
        "organization",
        "customer",
        "plan",
        "external_id",
        "name",
        "status",
        "billing_time",
        "subscription_at",
        "started_at",
        "ending_at",
        "terminated_at",
        "canceled_at",
        "trial_ended_at",
        "previous_subscription",
        "on_termination_credit_note",
        "on_termination_invoice",
        "created_at",
        "updated_at",
    )
    readonly_fields = tuple(f for f in fields if f not in ("name", "ending_at"))

    @admin.display(description="plan", ordering="plan__code")
    def plan_code(self, subscription: Subscription) -> str:
        return subscription.plan.code

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        data = {name: form.cleaned_data[name] for name in form.changed_data if name in ("name", "ending_at")}
        if not data:
            return
        try:
            subscription_services.update_subscription(subscription=obj, data=data)
        except errors.ValidationFailed as exc:
            self.message_user(request, f"Not saved: {exc.error_details}", level=messages.ERROR)
        except errors.DomainError as exc:
            self.message_user(request, f"Not saved: {exc}", level=messages.ERROR)

    @admin.action(description="Terminate selected subscriptions (pending ones are canceled)")
    def terminate(self, request, queryset):
        done = 0
        for subscription in queryset.select_related("customer__organization").order_by("pk"):
            if subscription.status in (SubscriptionStatus.ACTIVE, SubscriptionStatus.PENDING):
                subscription_services.terminate_subscription(subscription=subscription)
                done += 1
        self.message_user(request, f"Terminated or canceled {done} subscription(s).")


# --- applied coupons (metrics/add-ons/coupons helper) ---------------------------------------------------


class AppliedCouponForm(forms.ModelForm):
    """Giving a coupon in the back office runs the API's rules (billing.services.applied_coupons)."""

    class Meta:
        model = AppliedCoupon
        fields = ("customer", "coupon", *applied_coupon_services.OVERRIDE_FIELDS)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in applied_coupon_services.OVERRIDE_FIELDS:
            if name in self.fields:
                self.fields[name].required = False
                self.fields[name].help_text = "Leave empty to use the coupon's value."

    def overrides(self) -> dict:
        """The override fields that were filled in (an empty field means: the coupon's value)."""
        return {
            name: self.cleaned_data.get(name)
            for name in applied_coupon_services.OVERRIDE_FIELDS
            if self.cleaned_data.get(name) not in (None, "")
        }

    def clean(self):
        cleaned = super().clean()
        customer, coupon = cleaned.get("customer"), cleaned.get("coupon")
        if customer is None or coupon is None:
            return cleaned
        overrides = self.overrides()
        try:
            applied_coupon_services.check_coupon_application(
                customer=customer, coupon=coupon, overrides=overrides
            )
        except errors.ValidationFailed as exc:
            add_service_errors(self, exc.error_details)
        except (errors.NotFound, errors.NotAllowed) as exc:
            self.add_error("coupon", exc.code)
        self.instance.organization = customer.organization
        return cleaned


@admin.register(AppliedCoupon)
class AppliedCouponAdmin(admin.ModelAdmin):
    """Applied coupons are given here through apply_coupon and taken back with the terminate action; once
    created they are read-only, as in the API."""

    form = AppliedCouponForm
    list_display = (
        "id",
        "coupon",
        "customer",
        "status",
        "amount_cents",
        "amount_currency",
        "percentage_rate",
        "frequency",
        "frequency_duration_remaining",
        "organization",
        "created_at",
        "terminated_at",
    )
    list_filter = ("status", "frequency", "organization")
    search_fields = ("coupon__code", "coupon__name", "customer__external_id", "customer__name")
    list_select_related = ("coupon", "customer", "organization")
    raw_id_fields = ("customer", "coupon")
    ordering = ("-created_at",)
    actions = ["terminate"]
    readonly_fields = (
        "id",
        "organization",
        "status",
        "frequency_duration_remaining",
        "terminated_at",
        "created_at",
        "updated_at",
    )

    def get_fields(self, request, obj=None):
        editable = ("customer", "coupon", *applied_coupon_services.OVERRIDE_FIELDS)
        return editable if obj is None else (*self.readonly_fields[:1], *editable, *self.readonly_fields[1:])

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        return self.get_fields(request, obj)

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        if change:
            return
        applied = applied_coupon_services.apply_coupon(
            customer=form.cleaned_data["customer"],
            coupon=form.cleaned_data["coupon"],
            overrides=form.overrides(),
        )
        obj.pk, obj.created_at, obj.status = applied.pk, applied.created_at, applied.status

    @admin.action(description="Terminate selected applied coupons")
    def terminate(self, request, queryset):
        for applied in queryset.select_related("organization").order_by("pk"):
            applied_coupon_services.terminate_applied_coupon(applied_coupon=applied)
        self.message_user(request, f"Terminated {queryset.count()} applied coupon(s).")
