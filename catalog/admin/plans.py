"""Back office: the plan editor (plan, charges, fixed charges, usage thresholds, minimum commitment) and a charge
page to edit a charge's filters.

Every form runs the validation functions of catalog.services.plans that the API runs (`charge_errors`,
`fixed_charge_errors`, `usage_threshold_errors`), stores properties normalised the same way, and shows each error
next to its field. The admin's change view is one transaction: a plan is saved with all its inlines or not at
all. Deleting soft-deletes (plans, charges, filters, fixed charges), as the API does.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from django import forms
from django.contrib import admin
from django.core.validators import MaxValueValidator, MinValueValidator
from django.utils.html import format_html
from django.utils.safestring import mark_safe

from billing.services.plan_deletion import terminate_plan_subscriptions
from catalog.models import (
    AddOn,
    BillableMetric,
    Charge,
    ChargeFilter,
    ChargeModel,
    FixedCharge,
    MinimumCommitment,
    Plan,
    UsageThreshold,
)
from catalog.selectors import plans as selectors
from catalog.services import plans as services
from config import clock
from config.lago_enums import CURRENCIES

BIGINT_MAX = 2**63 - 1

PROPERTY_EXAMPLES: dict[str, dict] = {
    "standard": {"amount": "0.50"},
    "graduated": {
        "graduated_ranges": [
            {"from_value": 0, "to_value": 100, "per_unit_amount": "0.10", "flat_amount": "0"},
            {"from_value": 101, "to_value": None, "per_unit_amount": "0.05", "flat_amount": "1"},
        ]
    },
    "graduated_percentage": {
        "graduated_percentage_ranges": [
            {"from_value": 0, "to_value": 1000, "rate": "2", "flat_amount": "0"},
            {"from_value": 1001, "to_value": None, "rate": "1", "flat_amount": "0.30"},
        ]
    },
    "package": {"amount": "10", "package_size": 100, "free_units": 0},
    "percentage": {
        "rate": "1.5",
        "fixed_amount": "0.10",
        "free_units_per_events": 3,
        "free_units_per_total_aggregation": "100",
        "per_transaction_min_amount": "0.50",
        "per_transaction_max_amount": "20",
    },
    "volume": {
        "volume_ranges": [
            {"from_value": 0, "to_value": 100, "per_unit_amount": "2", "flat_amount": "0"},
            {"from_value": 101, "to_value": None, "per_unit_amount": "1", "flat_amount": "0"},
        ]
    },
    "dynamic": {},
}
FIXED_CHARGE_MODELS = services.FIXED_CHARGE_MODELS


def _shapes_help(models, *, grouping: bool) -> str:
    rows = "".join(
        format_html(
            "<dt><code>{}</code></dt><dd><pre style='margin:0 0 6px'>{}</pre></dd>",
            model,
            json.dumps(PROPERTY_EXAMPLES[model], indent=2),
        )
        for model in models
    )
    extra = (
        'Any model may add <code>"pricing_group_keys": ["region"]</code> (one fee per distinct value). '
        if grouping
        else ""
    )
    return mark_safe(  # noqa: S308 — built from constants with format_html
        "JSON object; amounts are decimal <em>strings</em> in major units, bounds are integers. "
        f"{extra}Leave empty for a zero price."
        f"<details><summary>Expected shape per charge model</summary><dl>{rows}</dl></details>"
    )


CHARGE_PROPERTIES_HELP = _shapes_help(ChargeModel.values, grouping=True)
FIXED_CHARGE_PROPERTIES_HELP = _shapes_help(FIXED_CHARGE_MODELS, grouping=False)
FILTER_VALUES_HELP = mark_safe(  # noqa: S308 — a constant
    'JSON object: metric filter key → list of its values, e.g. <code>{"region": ["us", "eu"]}</code>; '
    f'<code>["{services.ALL_FILTER_VALUES}"]</code> matches any declared value of that key.'
)


class PrettyJSONField(forms.JSONField):
    """A JSON textarea that shows the stored object indented, one key per line."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault(
            "widget", forms.Textarea(attrs={"rows": 10, "cols": 80, "style": "font-family: monospace"})
        )
        super().__init__(*args, **kwargs)

    def prepare_value(self, value):
        if isinstance(value, forms.fields.InvalidJSONInput):
            return value
        if value is None:
            return ""
        return json.dumps(value, indent=2, ensure_ascii=False)


def _messages(codes) -> list[str]:
    """Error codes as messages; a nested dict becomes `key: code` lines (`graduated_ranges: invalid_…`)."""
    if isinstance(codes, Mapping):
        return [f"{key}: {message}" for key, value in codes.items() for message in _messages(value)]
    if isinstance(codes, list | tuple):
        return [str(code) for code in codes]
    return [str(codes)]


def _add_errors(form: forms.Form, found: Mapping, *, field_map: Mapping[str, str] | None = None) -> None:
    """Put each service error next to its form field (or at the top of the form when it has none)."""
    field_map = field_map or {}
    for key, codes in found.items():
        name = field_map.get(key, key)
        target = name if name in form.fields and not form.fields[name].disabled else None
        messages = _messages(codes) if target else [f"{key}: {m}" for m in _messages(codes)]
        for message in messages:
            form.add_error(target, message)


def _limit_to_organization(form: forms.ModelForm, name: str, organization_id) -> None:
    """A chosen related object (metric, add-on, tax) must belong to the plan's organization."""
    value = form.cleaned_data.get(name)
    if value is None or organization_id is None:
        return
    values = value if hasattr(value, "__iter__") else [value]
    if any(item.organization_id != organization_id for item in values):
        form.add_error(name, f"{name}_not_found: belongs to another organization")


def _stored(instance) -> bool:
    """Saved already? (Our primary keys are UUIDs set at instantiation, so `pk` says nothing.)"""
    return not instance._state.adding


def _bounded(form: forms.Form, name: str, minimum: int = 0, maximum: int = BIGINT_MAX) -> None:
    if name in form.fields:
        form.fields[name].validators += [MinValueValidator(minimum), MaxValueValidator(maximum)]


# ==============================================================================================================
# Charges
# ==============================================================================================================


class ChargeForm(forms.ModelForm):
    """One charge. Validated with services.charge_errors; with `check_stored_filters`, the charge's live filters
    are validated too (their properties follow the charge's model, their keys its metric)."""

    check_stored_filters = True

    properties = PrettyJSONField(required=False, help_text=CHARGE_PROPERTIES_HELP)
    regroup_paid_fees = forms.ChoiceField(
        choices=[("", "—"), ("invoice", "invoice")],
        required=False,
        help_text="Only pay in advance + not invoiceable.",
    )

    class Meta:
        model = Charge
        fields = (
            "billable_metric",
            "code",
            "charge_model",
            "pay_in_advance",
            "invoiceable",
            "regroup_paid_fees",
            "prorated",
            "min_amount_cents",
            "invoice_display_name",
            "properties",
            "taxes",
            "position",
        )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "billable_metric" in self.fields:
            self.fields["billable_metric"].queryset = BillableMetric.objects.filter(
                deleted_at__isnull=True
            ).select_related("organization")
            self.fields["billable_metric"].label_from_instance = lambda m: f"{m.code} ({m.organization})"
        self.fields["code"].required = False
        self.fields["code"].help_text = "Unique in the plan; defaults to the metric code (then _2, _3…)."
        _bounded(self, "min_amount_cents")
        plan = self._plan()
        if _stored(self.instance) and plan is not None and selectors.plan_attached_to_subscriptions(plan):
            # Charges::UpdateService keeps these once the plan has subscriptions.
            for name in ("billable_metric", "code", "charge_model", "pay_in_advance", "invoiceable",
                         "regroup_paid_fees", "prorated", "min_amount_cents"):  # fmt: skip
                if name in self.fields:
                    self.fields[name].disabled = True
                    self.fields[name].help_text = "Frozen: the plan has subscriptions."

    def _plan(self) -> Plan | None:
        try:
            return self.instance.plan
        except Plan.DoesNotExist:
            return None

    def stored_filters(self) -> list[dict]:
        if not (self.check_stored_filters and _stored(self.instance)):
            return []
        return [
            {"invoice_display_name": f.invoice_display_name, "properties": f.properties, "values": f.values}
            for f in selectors.charge_filters(self.instance)
        ]

    def charge_attributes(self) -> dict:
        data = self.cleaned_data
        return {
            "billable_metric": data.get("billable_metric"),
            "charge_model": data.get("charge_model"),
            "properties": data.get("properties"),
            "pay_in_advance": bool(data.get("pay_in_advance")),
            "invoiceable": bool(data.get("invoiceable")),
            "prorated": bool(data.get("prorated")),
            "min_amount_cents": data.get("min_amount_cents") or 0,
            "regroup_paid_fees": data.get("regroup_paid_fees") or None,
        }

    def clean(self):
        cleaned = super().clean()
        plan = self._plan()
        organization_id = plan.organization_id if plan is not None else None
        _limit_to_organization(self, "billable_metric", organization_id)
        _limit_to_organization(self, "taxes", organization_id)
        if organization_id is not None:
            self.instance.organization_id = organization_id
        cleaned["regroup_paid_fees"] = cleaned.get("regroup_paid_fees") or None
        if self.errors or cleaned.get("billable_metric") is None or not cleaned.get("charge_model"):
            return cleaned
        attrs = self.charge_attributes()
        found = services.charge_errors(**attrs, filters=self.stored_filters())
        if found:
            if "filters" in found:
                found["filters"] = {
                    f"stored filter {int(i) + 1}": errs for i, errs in found["filters"].items()
                }
            _add_errors(self, found)
            return cleaned
        cleaned["properties"] = services.normalized_charge_properties(
            attrs["charge_model"], attrs["properties"]
        )
        return cleaned


class PlanInlineFormSet(forms.BaseInlineFormSet):
    """Gives each row the plan object being edited (Django sets only `plan_id`, which for a plan being added
    points at nothing yet), so rows can check they belong to the organization chosen on the page."""

    def _construct_form(self, i, **kwargs):
        form = super()._construct_form(i, **kwargs)
        form.instance.plan = self.instance
        return form


class ChargeInlineFormSet(PlanInlineFormSet):
    """Codes unique among the plan's live charges (defaulting like the API); deletions are soft (save_formset)."""

    def get_queryset(self):
        return super().get_queryset().filter(deleted_at__isnull=True).select_related("billable_metric")

    def clean(self):
        super().clean()
        live = [f for f in self.forms if f.has_changed() or _stored(f.instance)]
        live = [f for f in live if hasattr(f, "cleaned_data") and not self._should_delete_form(f)]
        taken: set[str] = set()
        for form in live:
            code = form.cleaned_data.get("code")
            if code:
                if code in taken:
                    form.add_error("code", "value_already_exist")
                taken.add(code)
        for form in live:
            metric = form.cleaned_data.get("billable_metric")
            if not form.cleaned_data.get("code") and metric is not None:
                code = services.generate_code(metric.code, taken)
                form.cleaned_data["code"] = code
                form.instance.code = code
                taken.add(code)


class ChargeInline(admin.StackedInline):
    model = Charge
    form = ChargeForm
    formset = ChargeInlineFormSet
    extra = 0
    show_change_link = True  # the charge page edits its filters
    filter_horizontal = ("taxes",)


# ==============================================================================================================
# Fixed charges, thresholds, commitment
# ==============================================================================================================


class FixedChargeForm(forms.ModelForm):
    properties = PrettyJSONField(required=False, help_text=FIXED_CHARGE_PROPERTIES_HELP)
    charge_model = forms.ChoiceField(choices=[(m, m) for m in FIXED_CHARGE_MODELS])

    class Meta:
        model = FixedCharge
        fields = (
            "add_on",
            "code",
            "charge_model",
            "units",
            "pay_in_advance",
            "prorated",
            "invoice_display_name",
            "properties",
            "taxes",
        )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["add_on"].queryset = AddOn.objects.filter(deleted_at__isnull=True).select_related(
            "organization"
        )
        self.fields["code"].required = False
        self.fields["code"].help_text = "Unique in the plan; defaults to the add-on code (then _2, _3…)."
        self.fields["units"].validators.append(MinValueValidator(0))
        if _stored(self.instance):
            # FixedCharges::UpdateService never changes these after creation.
            for name in ("add_on", "pay_in_advance", "prorated"):
                self.fields[name].disabled = True
            plan = self.instance.plan
            if selectors.plan_attached_to_subscriptions(plan):
                for name in ("code", "charge_model", "taxes"):
                    self.fields[name].disabled = True
                    self.fields[name].help_text = "Frozen: the plan has subscriptions."

    def clean(self):
        cleaned = super().clean()
        plan = getattr(self.instance, "plan", None) if self.instance.plan_id else None
        organization_id = plan.organization_id if plan is not None else None
        _limit_to_organization(self, "add_on", organization_id)
        _limit_to_organization(self, "taxes", organization_id)
        if organization_id is not None:
            self.instance.organization_id = organization_id
        if self.errors or not cleaned.get("charge_model"):
            return cleaned
        found = services.fixed_charge_errors(
            charge_model=cleaned["charge_model"],
            properties=cleaned.get("properties"),
            pay_in_advance=bool(cleaned.get("pay_in_advance")),
            prorated=bool(cleaned.get("prorated")),
            units=cleaned.get("units"),
        )
        if found:
            _add_errors(self, found)
            return cleaned
        cleaned["properties"] = services.normalized_fixed_charge_properties(
            cleaned["charge_model"], cleaned.get("properties")
        )
        return cleaned


class FixedChargeInlineFormSet(PlanInlineFormSet):
    def get_queryset(self):
        return super().get_queryset().filter(deleted_at__isnull=True).select_related("add_on")

    def clean(self):
        super().clean()
        live = [
            f
            for f in self.forms
            if hasattr(f, "cleaned_data")
            and (f.has_changed() or _stored(f.instance))
            and not self._should_delete_form(f)
        ]
        taken: set[str] = set()
        for form in live:
            code = form.cleaned_data.get("code")
            if code:
                if code in taken:
                    form.add_error("code", "value_already_exist")
                taken.add(code)
        for form in live:
            add_on = form.cleaned_data.get("add_on") or (
                form.instance.add_on if form.instance.add_on_id else None
            )
            if not form.cleaned_data.get("code") and add_on is not None:
                code = services.generate_code(add_on.code, taken)
                form.cleaned_data["code"] = code
                form.instance.code = code
                taken.add(code)


class FixedChargeInline(admin.StackedInline):
    model = FixedCharge
    form = FixedChargeForm
    formset = FixedChargeInlineFormSet
    extra = 0
    filter_horizontal = ("taxes",)


class UsageThresholdForm(forms.ModelForm):
    class Meta:
        model = UsageThreshold
        fields = ("threshold_display_name", "amount_cents", "recurring")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        _bounded(self, "amount_cents", minimum=1)


class UsageThresholdFormSet(PlanInlineFormSet):
    def clean(self):
        super().clean()
        thresholds = [
            {
                "amount_cents": f.cleaned_data.get("amount_cents"),
                "recurring": bool(f.cleaned_data.get("recurring")),
            }
            for f in self.forms
            if hasattr(f, "cleaned_data") and f.cleaned_data and not self._should_delete_form(f)
        ]
        found = services.usage_threshold_errors(thresholds)
        if found:
            raise forms.ValidationError(_messages(found["usage_thresholds"]))

    def save(self, commit=True):
        # Deleting first frees the one-recurring-threshold slot for a new recurring row.
        for form in self.deleted_forms:
            if _stored(form.instance):
                form.instance.delete()
        return super().save(commit=commit)


class UsageThresholdInline(admin.TabularInline):
    model = UsageThreshold
    form = UsageThresholdForm
    formset = UsageThresholdFormSet
    extra = 0


class MinimumCommitmentForm(forms.ModelForm):
    class Meta:
        model = MinimumCommitment
        fields = ("amount_cents", "invoice_display_name", "taxes")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        _bounded(self, "amount_cents")

    def clean(self):
        cleaned = super().clean()
        plan = getattr(self.instance, "plan", None) if self.instance.plan_id else None
        _limit_to_organization(self, "taxes", plan.organization_id if plan is not None else None)
        return cleaned


class MinimumCommitmentInline(admin.StackedInline):
    model = MinimumCommitment
    form = MinimumCommitmentForm
    formset = PlanInlineFormSet
    extra = 0
    max_num = 1
    filter_horizontal = ("taxes",)


# ==============================================================================================================
# Plan
# ==============================================================================================================


class PlanForm(forms.ModelForm):
    amount_currency = forms.ChoiceField(choices=[(c, c) for c in sorted(CURRENCIES)])
    metadata = PrettyJSONField(required=False, help_text='JSON object of strings, e.g. {"crm_id": "42"}.')

    class Meta:
        model = Plan
        fields = (
            "organization",
            "name",
            "code",
            "invoice_display_name",
            "description",
            "interval",
            "amount_cents",
            "amount_currency",
            "pay_in_advance",
            "trial_period",
            "bill_charges_monthly",
            "bill_fixed_charges_monthly",
            "taxes",
            "metadata",
        )
        help_texts = {
            "bill_charges_monthly": "Yearly and semiannual plans only (ignored otherwise, as in Lago).",
            "bill_fixed_charges_monthly": "Yearly and semiannual plans only (ignored otherwise, as in Lago).",
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        _bounded(self, "amount_cents")
        if "trial_period" in self.fields:
            self.fields["trial_period"].validators.append(MinValueValidator(0))

    def clean_metadata(self):
        metadata = self.cleaned_data.get("metadata")
        if metadata in (None, ""):
            return None
        if (
            not isinstance(metadata, dict)
            or services.has_nul(metadata)
            or not all(
                isinstance(k, str) and len(k) <= 100 and (v is None or (isinstance(v, str) and len(v) <= 255))
                for k, v in metadata.items()
            )
        ):
            raise forms.ValidationError(
                "value_is_invalid: an object of strings (keys ≤ 100, values ≤ 255 chars)"
            )
        return metadata

    def clean(self):
        cleaned = super().clean()
        organization = cleaned.get("organization") or (
            self.instance.organization if _stored(self.instance) else None
        )
        if organization is not None:
            _limit_to_organization(self, "taxes", organization.pk)
            code = cleaned.get("code")
            clash = Plan.objects.filter(
                organization=organization, code=code, parent__isnull=True, deleted_at__isnull=True
            ).exclude(pk=self.instance.pk)
            if code and not self.instance.parent_id and clash.exists():
                self.add_error("code", "value_already_exist")
        interval = cleaned.get("interval") or self.instance.interval
        for name in ("bill_charges_monthly", "bill_fixed_charges_monthly"):
            if name in self.fields and not self.fields[name].disabled:
                if interval not in services.MONTHLY_SPLIT_INTERVALS:
                    cleaned[name] = None
                elif cleaned.get(name) is None:
                    cleaned[name] = False
        return cleaned


class PlanKindFilter(admin.SimpleListFilter):
    title = "kind"
    parameter_name = "kind"

    def lookups(self, request, model_admin):
        return [("parent", "Plans"), ("override", "Subscription overrides")]

    def queryset(self, request, queryset):
        if self.value() == "parent":
            return queryset.filter(parent__isnull=True)
        if self.value() == "override":
            return queryset.filter(parent__isnull=False)
        return queryset


@admin.register(Plan)
class PlanAdmin(admin.ModelAdmin):
    form = PlanForm
    list_display = ("code", "name", "interval", "amount", "pay_in_advance", "charges_count", "organization",
                    "parent", "created_at")  # fmt: skip
    list_filter = (
        PlanKindFilter,
        "organization",
        "interval",
        "pay_in_advance",
        "amount_currency",
        "pending_deletion",
    )
    search_fields = ("code", "name", "invoice_display_name", "description", "organization__name")
    readonly_fields = ("id", "parent", "pending_deletion", "created_at", "updated_at")
    inlines = [ChargeInline, FixedChargeInline, UsageThresholdInline, MinimumCommitmentInline]
    filter_horizontal = ("taxes",)
    fieldsets = (
        (None, {"fields": ("id", "organization", "name", "code", "invoice_display_name", "description", "parent")}),
        ("Pricing", {"fields": ("interval", "amount_cents", "amount_currency", "pay_in_advance", "trial_period",
                                "bill_charges_monthly", "bill_fixed_charges_monthly", "taxes")}),
        ("More", {"fields": ("metadata", "pending_deletion", "created_at", "updated_at")}),
    )  # fmt: skip

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .filter(deleted_at__isnull=True)
            .select_related("organization", "parent")
        )

    @admin.display(description="amount")
    def amount(self, plan: Plan) -> str:
        return f"{plan.amount_cents} {plan.amount_currency} (cents)"

    @admin.display(description="charges")
    def charges_count(self, plan: Plan) -> int:
        return plan.charges.filter(deleted_at__isnull=True).count()

    def get_readonly_fields(self, request, obj=None):
        fields = list(self.readonly_fields)
        if obj is not None:
            fields.append("organization")  # charges, add-ons and taxes are the organization's
            if selectors.plan_attached_to_subscriptions(obj):
                # Plans::UpdateService keeps these once the plan has subscriptions.
                fields += ["code", "interval", "pay_in_advance", "amount_currency", "trial_period",
                           "bill_charges_monthly", "bill_fixed_charges_monthly"]  # fmt: skip
        return fields

    def save_formset(self, request, form, formset, change):
        plan = form.instance
        if formset.model in (Charge, FixedCharge):
            instances = formset.save(commit=False)
            for obj in formset.deleted_objects:
                if isinstance(obj, Charge):
                    services.delete_charge(charge=obj)
                else:
                    services.delete_fixed_charge(fixed_charge=obj)
            for obj in instances:
                obj.organization_id = plan.organization_id
                obj.save()
            formset.save_m2m()
            return
        super().save_formset(request, form, formset, change)

    def get_deleted_objects(self, objs, request):
        # Deletion is soft and terminates the plan's subscriptions: nothing below it is removed or protected.
        return [format_html("{}", str(obj)) for obj in objs], {}, set(), []

    def delete_model(self, request, obj):
        terminate_plan_subscriptions(obj)
        services.delete_plan(plan=obj)

    def delete_queryset(self, request, queryset):
        for plan in queryset:
            self.delete_model(request, plan)


# ==============================================================================================================
# A charge's own page: its filters
# ==============================================================================================================


class ChargeFilterForm(forms.ModelForm):
    values = PrettyJSONField(help_text=FILTER_VALUES_HELP)
    properties = PrettyJSONField(required=False, help_text=CHARGE_PROPERTIES_HELP)

    class Meta:
        model = ChargeFilter
        fields = ("invoice_display_name", "values", "properties", "position")


class ChargeFilterFormSet(forms.BaseInlineFormSet):
    """The charge's filters validated together with the charge (as the API does): keys and values against the
    metric's filters, properties against the charge's model, no two filters with the same values."""

    def get_queryset(self):
        return super().get_queryset().filter(deleted_at__isnull=True)

    def clean(self):
        super().clean()
        charge = self.instance
        if charge.billable_metric_id is None or not charge.charge_model:
            return
        forms_in_use = [
            f
            for f in self.forms
            if hasattr(f, "cleaned_data") and f.cleaned_data and not self._should_delete_form(f)
        ]
        if any(f.errors for f in forms_in_use):
            return
        filters = [
            {
                "invoice_display_name": f.cleaned_data.get("invoice_display_name"),
                "values": f.cleaned_data.get("values"),
                "properties": f.cleaned_data.get("properties"),
            }
            for f in forms_in_use
        ]
        metric = BillableMetric.objects.prefetch_related("filters").get(pk=charge.billable_metric_id)
        found = services.charge_errors(
            billable_metric=metric,
            charge_model=charge.charge_model,
            properties=charge.properties,
            pay_in_advance=charge.pay_in_advance,
            invoiceable=charge.invoiceable,
            prorated=charge.prorated,
            min_amount_cents=charge.min_amount_cents,
            regroup_paid_fees=charge.regroup_paid_fees,
            filters=filters,
        )
        for index, errs in (found.get("filters") or {}).items():
            _add_errors(forms_in_use[int(index)], errs)
        if found.get("filters"):
            return
        for form in forms_in_use:
            form.cleaned_data["properties"] = services.normalized_filter_properties(
                charge.charge_model, form.cleaned_data.get("properties")
            )
            form.instance.properties = form.cleaned_data["properties"]

    def save(self, commit=True):
        instances = super().save(commit=False)
        for obj in self.deleted_objects:
            obj.deleted_at = clock.now(self.instance.plan.organization)
            obj.save(update_fields=["deleted_at", "updated_at"])
        for obj in instances:
            obj.save()
        self.save_m2m()
        return instances


class ChargeFilterInline(admin.StackedInline):
    model = ChargeFilter
    form = ChargeFilterForm
    formset = ChargeFilterFormSet
    extra = 0


class ChargePageForm(ChargeForm):
    # Filters are edited on this page and validated by ChargeFilterFormSet with the charge's new values.
    check_stored_filters = False

    def clean(self):
        cleaned = super().clean()
        plan = self._plan()
        metric = cleaned.get("billable_metric")
        if plan is None or metric is None:
            return cleaned
        taken = {c.code for c in selectors.plan_charges(plan) if c.pk != self.instance.pk and c.code}
        code = cleaned.get("code")
        if code and code in taken:
            self.add_error("code", "value_already_exist")
        elif not code:
            cleaned["code"] = services.generate_code(metric.code, taken)
        return cleaned


@admin.register(Charge)
class ChargeAdmin(admin.ModelAdmin):
    form = ChargePageForm
    list_display = ("__str__", "code", "plan", "charge_model", "pay_in_advance", "organization", "created_at")
    list_filter = ("charge_model", "pay_in_advance", "organization")
    search_fields = ("code", "plan__code", "plan__name", "billable_metric__code")
    readonly_fields = ("id", "plan", "created_at", "updated_at")
    inlines = [ChargeFilterInline]
    filter_horizontal = ("taxes",)

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .filter(deleted_at__isnull=True, plan__deleted_at__isnull=True)
            .select_related("plan", "billable_metric", "organization")
        )

    def has_add_permission(self, request):
        return False  # charges are added on their plan's page

    def get_deleted_objects(self, objs, request):
        return [format_html("{}", str(obj)) for obj in objs], {}, set(), []

    def delete_model(self, request, obj):
        services.delete_charge(charge=obj)

    def delete_queryset(self, request, queryset):
        for charge in queryset:
            services.delete_charge(charge=charge)
