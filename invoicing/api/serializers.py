"""Input and output shapes of /invoices and /fees (Lago's InvoiceUpdateInput, Invoice, Fee).

Output is built by plain payload functions over the stored rows (Lago's V1::InvoiceSerializer and
V1::FeeSerializer); the serializer classes declare the same fields for the OpenAPI schema and call them.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import ROUND_HALF_UP, Decimal

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from billing.api.subscription_serializers import LagoDateTimeField, SubscriptionSerializer
from config import clock
from config.api.fields import CurrencyField
from config.money import round_cents, subunit_to_unit
from customers.api.serializers import CustomerSerializer
from invoicing import documents
from invoicing.models import Credit, Fee, FeePaymentStatus, FeeType, Invoice, InvoiceStatus, PaymentStatus
from invoicing.numbering import draft_number

_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
_MAX_UNITS = Decimal(10) ** 13  # with 15 decimals: the 28 digits of Decimal's default context

# --- formatting --------------------------------------------------------------------------------------------------


def _text(value) -> str | None:
    return None if value is None else str(value)


def _iso(value: dt.datetime | None) -> str | None:
    return None if value is None else value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _date(value: dt.date | None) -> str | None:
    return None if value is None else value.isoformat()


def decimal_text(value) -> str:
    """A Decimal without exponent or trailing zeros: "0.0002", "120", "2177.419354838709677"."""
    text = format(Decimal(value).normalize(), "f")
    return "0" if text in ("-0", "") else text


def units_text(value) -> str:
    """Lago renders BigDecimal columns as "10.0", "0.5", "2177.41935"."""
    text = decimal_text(value)
    return text if "." in text else f"{text}.0"


# --- fees --------------------------------------------------------------------------------------------------------


def _fee_item(fee: Fee) -> dict:
    """Lago's Fee#item_*: what the fee bills (a metric, an add-on, a plan or a wallet transaction)."""
    item = {
        "type": fee.fee_type,
        "code": fee.fee_type,
        "name": fee.fee_type,
        "description": None,
        "invoice_display_name": fee.invoice_display_name or fee.fee_type,
        "filters": None,
        "filter_invoice_display_name": None,
        "lago_item_id": None,
        "item_type": "Subscription",
        "grouped_by": fee.grouped_by or {},
    }
    if fee.fee_type == FeeType.CHARGE and fee.charge_id:
        charge, metric = fee.charge, fee.charge.billable_metric
        item.update(
            code=metric.code,
            name=metric.name,
            description=metric.description,
            invoice_display_name=fee.invoice_display_name or charge.invoice_display_name or metric.name,
            lago_item_id=str(metric.pk),
            item_type="BillableMetric",
        )
        if fee.charge_filter_id:
            item["filters"] = fee.charge_filter.values or {}
            item["filter_invoice_display_name"] = fee.charge_filter.invoice_display_name
    elif fee.fee_type in (FeeType.ADD_ON, FeeType.FIXED_CHARGE):
        add_on = fee.add_on if fee.add_on_id else (fee.fixed_charge.add_on if fee.fixed_charge_id else None)
        if add_on is not None:
            fixed_name = fee.fixed_charge.invoice_display_name if fee.fixed_charge_id else None
            item.update(
                code=add_on.code,
                name=add_on.name,
                description=add_on.description,
                invoice_display_name=fee.invoice_display_name
                or fixed_name
                or add_on.invoice_display_name
                or add_on.name,
                lago_item_id=str(add_on.pk),
                item_type="AddOn",
            )
    elif fee.fee_type == FeeType.CREDIT:
        item.update(
            lago_item_id=_text((fee.properties or {}).get("wallet_transaction_id")) or str(fee.pk),
            item_type="WalletTransaction",
        )
    elif fee.subscription_id:  # subscription and commitment fees
        plan = fee.subscription.plan
        display = fee.invoice_display_name
        if fee.fee_type == FeeType.COMMITMENT and not display:
            commitment = getattr(plan, "minimum_commitment", None)  # a missing reverse one-to-one → None
            display = (commitment.invoice_display_name if commitment else None) or "Minimum commitment"
        item.update(
            code=plan.code,
            name=plan.name,
            description=plan.description,
            invoice_display_name=display or plan.invoice_display_name or plan.name,
            lago_item_id=str(fee.subscription_id),
        )
    return item


def _fee_boundaries(fee: Fee) -> tuple[str | None, str | None]:
    props = fee.properties or {}
    if fee.fee_type == FeeType.CHARGE:
        return props.get("charges_from_datetime"), props.get("charges_to_datetime")
    if fee.fee_type == FeeType.FIXED_CHARGE:
        return (
            props.get("fixed_charges_from_datetime") or props.get("from_datetime"),
            props.get("fixed_charges_to_datetime") or props.get("to_datetime"),
        )
    return props.get("from_datetime"), props.get("to_datetime")


def fee_applied_tax_payload(applied) -> dict:
    return {
        "lago_id": str(applied.pk),
        "lago_fee_id": _text(applied.fee_id),
        "lago_tax_id": _text(applied.tax_id),
        "tax_name": applied.tax_name,
        "tax_code": applied.tax_code,
        "tax_rate": float(applied.tax_rate),
        "tax_description": applied.tax_description,
        "amount_cents": applied.amount_cents,
        "amount_currency": applied.amount_currency,
        "created_at": _iso(applied.created_at),
    }


def fee_payload(fee: Fee) -> dict:
    currency = fee.amount_currency
    subunit = Decimal(subunit_to_unit(currency))
    precise_amount = Decimal(fee.precise_amount_cents)
    taxes_precise = Decimal(fee.taxes_precise_amount_cents)
    sub_total = Decimal(fee.amount_cents) - Decimal(fee.precise_coupons_amount_cents)
    true_up = getattr(fee, "true_up_fee", None)  # a missing reverse one-to-one → None
    from_date, to_date = _fee_boundaries(fee)
    return {
        "lago_id": str(fee.pk),
        "lago_charge_id": _text(fee.charge_id),
        "lago_charge_filter_id": _text(fee.charge_filter_id),
        "lago_fixed_charge_id": _text(fee.fixed_charge_id),
        "lago_invoice_id": _text(fee.invoice_id),
        "lago_true_up_fee_id": _text(true_up.pk) if true_up is not None else None,
        "lago_true_up_parent_fee_id": _text(fee.true_up_parent_fee_id),
        "lago_subscription_id": _text(fee.subscription_id),
        "external_subscription_id": fee.subscription.external_id if fee.subscription_id else None,
        "lago_customer_id": _text(fee.customer_id),
        "external_customer_id": fee.customer.external_id,
        "item": _fee_item(fee),
        "pay_in_advance": fee.pay_in_advance,
        "invoiceable": fee.invoiceable,
        "amount_cents": fee.amount_cents,
        "amount_currency": currency,
        "precise_amount": decimal_text(precise_amount / subunit),
        "precise_total_amount": decimal_text((precise_amount + taxes_precise) / subunit),
        "taxes_amount_cents": fee.taxes_amount_cents,
        "taxes_precise_amount": decimal_text(taxes_precise / subunit),
        "taxes_rate": float(fee.taxes_rate),
        "total_aggregated_units": units_text(fee.total_aggregated_units)
        if fee.total_aggregated_units is not None
        else None,
        "total_amount_cents": fee.amount_cents + fee.taxes_amount_cents,
        "total_amount_currency": currency,
        "units": units_text(fee.units),
        "description": fee.description,
        "precise_unit_amount": units_text(fee.precise_unit_amount),
        "precise_coupons_amount_cents": units_text(fee.precise_coupons_amount_cents),
        "events_count": fee.events_count,
        "payment_status": fee.payment_status,
        "created_at": _iso(fee.created_at),
        "succeeded_at": _iso(fee.succeeded_at),
        "failed_at": _iso(fee.failed_at),
        "refunded_at": _iso(fee.refunded_at),
        "amount_details": fee.amount_details or {},
        "self_billed": False,
        "pricing_unit_details": None,
        "from_date": from_date,
        "to_date": to_date,
        "event_transaction_id": fee.event_transaction_id,
        "sub_total_excluding_taxes_amount_cents": round_cents(sub_total),
        "sub_total_excluding_taxes_precise_amount_cents": units_text(sub_total),
        "applied_taxes": [fee_applied_tax_payload(applied) for applied in fee.applied_taxes.all()],
    }


class InvoiceFeeItemSerializer(serializers.Serializer):
    type = serializers.CharField()
    code = serializers.CharField()
    name = serializers.CharField()
    description = serializers.CharField(allow_null=True)
    invoice_display_name = serializers.CharField()
    filters = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()), allow_null=True
    )
    filter_invoice_display_name = serializers.CharField(allow_null=True)
    lago_item_id = serializers.CharField(allow_null=True)
    item_type = serializers.CharField()
    grouped_by = serializers.DictField()


class InvoiceFeeAppliedTaxSerializer(serializers.Serializer):
    lago_id = serializers.UUIDField()
    lago_fee_id = serializers.UUIDField(allow_null=True)
    lago_tax_id = serializers.UUIDField(allow_null=True)
    tax_name = serializers.CharField()
    tax_code = serializers.CharField()
    tax_rate = serializers.FloatField()
    tax_description = serializers.CharField(allow_null=True)
    amount_cents = serializers.IntegerField()
    amount_currency = serializers.CharField()
    created_at = serializers.DateTimeField()


class InvoiceFeeSerializer(serializers.Serializer):
    """Lago's Fee object (GET /fees, GET /fees/{id}, invoice ``fees``)."""

    lago_id = serializers.UUIDField()
    lago_charge_id = serializers.UUIDField(allow_null=True)
    lago_charge_filter_id = serializers.UUIDField(allow_null=True)
    lago_fixed_charge_id = serializers.UUIDField(allow_null=True)
    lago_invoice_id = serializers.UUIDField(allow_null=True)
    lago_true_up_fee_id = serializers.UUIDField(allow_null=True)
    lago_true_up_parent_fee_id = serializers.UUIDField(allow_null=True)
    lago_subscription_id = serializers.UUIDField(allow_null=True)
    external_subscription_id = serializers.CharField(allow_null=True)
    lago_customer_id = serializers.UUIDField(allow_null=True)
    external_customer_id = serializers.CharField(allow_null=True)
    item = InvoiceFeeItemSerializer()
    pay_in_advance = serializers.BooleanField()
    invoiceable = serializers.BooleanField()
    amount_cents = serializers.IntegerField()
    amount_currency = serializers.CharField()
    precise_amount = serializers.CharField()
    precise_total_amount = serializers.CharField()
    taxes_amount_cents = serializers.IntegerField()
    taxes_precise_amount = serializers.CharField()
    taxes_rate = serializers.FloatField()
    total_aggregated_units = serializers.CharField(allow_null=True)
    total_amount_cents = serializers.IntegerField()
    total_amount_currency = serializers.CharField()
    units = serializers.CharField()
    description = serializers.CharField(allow_null=True)
    precise_unit_amount = serializers.CharField()
    precise_coupons_amount_cents = serializers.CharField()
    events_count = serializers.IntegerField(allow_null=True)
    payment_status = serializers.CharField()
    created_at = serializers.DateTimeField(allow_null=True)
    succeeded_at = serializers.DateTimeField(allow_null=True)
    failed_at = serializers.DateTimeField(allow_null=True)
    refunded_at = serializers.DateTimeField(allow_null=True)
    amount_details = serializers.DictField()
    self_billed = serializers.BooleanField()
    pricing_unit_details = serializers.DictField(allow_null=True)
    from_date = serializers.DateTimeField(allow_null=True)
    to_date = serializers.DateTimeField(allow_null=True)
    event_transaction_id = serializers.CharField(allow_null=True)
    sub_total_excluding_taxes_amount_cents = serializers.IntegerField()
    sub_total_excluding_taxes_precise_amount_cents = serializers.CharField()
    applied_taxes = InvoiceFeeAppliedTaxSerializer(many=True)

    def to_representation(self, instance: Fee) -> dict:
        return fee_payload(instance)


# --- invoices ----------------------------------------------------------------------------------------------------


def invoice_applied_tax_payload(applied) -> dict:
    return {
        "lago_id": str(applied.pk),
        "lago_invoice_id": _text(applied.invoice_id),
        "lago_tax_id": _text(applied.tax_id),
        "tax_name": applied.tax_name,
        "tax_code": applied.tax_code,
        "tax_rate": float(applied.tax_rate),
        "tax_description": applied.tax_description,
        "amount_cents": applied.amount_cents,
        "amount_currency": applied.amount_currency,
        "fees_amount_cents": applied.taxable_base_amount_cents,
        "created_at": _iso(applied.created_at),
    }


def credit_payload(credit: Credit) -> dict:
    """Lago's V1::CreditSerializer: a coupon credit, or a credit note's (item code = note number, name = the
    number of the invoice it was issued on)."""
    applied = credit.applied_coupon
    coupon = applied.coupon if applied is not None else None
    note = credit.credit_note if credit.credit_note_id else None
    return {
        "lago_id": str(credit.pk),
        "amount_cents": credit.amount_cents,
        "amount_currency": credit.amount_currency,
        "before_taxes": credit.before_taxes,
        "item": {
            "lago_item_id": _text(coupon.pk) if coupon is not None else _text(note.pk) if note else None,
            "type": "coupon" if applied is not None else "credit_note",
            "code": coupon.code if coupon is not None else note.number if note else None,
            "name": coupon.name if coupon is not None else note.invoice.number if note else None,
        },
        "invoice": {"lago_id": str(credit.invoice_id), "payment_status": credit.invoice.payment_status},
    }


def _metadata_payload(invoice: Invoice) -> list[dict]:
    return [
        {
            "lago_id": item.get("id"),
            "key": item.get("key"),
            "value": item.get("value"),
            "created_at": item.get("created_at"),
        }
        for item in invoice.metadata or []
    ]


def _billing_period_payload(period) -> dict:
    subscription = period.subscription
    return {
        "lago_subscription_id": str(period.subscription_id),
        "external_subscription_id": subscription.external_id,
        "lago_plan_id": str(subscription.plan_id),
        "subscription_from_datetime": _iso(period.from_datetime),
        "subscription_to_datetime": _iso(period.to_datetime),
        "charges_from_datetime": _iso(period.charges_from_datetime),
        "charges_to_datetime": _iso(period.charges_to_datetime),
        "invoicing_reason": period.invoicing_reason,
    }


def total_due_amount_cents(invoice: Invoice) -> int:
    """Lago: 0 once voided, else total − paid − offset credit notes (none yet)."""
    if invoice.status == InvoiceStatus.VOIDED:
        return 0
    return invoice.total_amount_cents - invoice.total_paid_amount_cents


def invoice_payload(invoice: Invoice, *, detail: bool, now: dt.datetime | None = None) -> dict:
    """Lago's V1::InvoiceSerializer: the list shape (customer, metadata, applied taxes) or, with ``detail``, the
    full one (billing periods, subscriptions, fees, credits, …). Drafts show the number "{prefix}-DRAFT"."""
    is_draft = invoice.status == InvoiceStatus.DRAFT
    no_prepaid = invoice.prepaid_credit_amount_cents == 0
    payload = {
        "lago_id": str(invoice.pk),
        "billing_entity_code": None,
        "sequential_id": invoice.sequential_id,
        "number": draft_number(invoice.organization) if is_draft or not invoice.number else invoice.number,
        "issuing_date": _date(invoice.issuing_date),
        "payment_due_date": _date(invoice.payment_due_date),
        "net_payment_term": invoice.net_payment_term,
        "invoice_type": invoice.invoice_type,
        "status": invoice.status,
        "payment_status": invoice.payment_status,
        "payment_dispute_lost_at": None,
        "payment_overdue": invoice.payment_overdue,
        "currency": invoice.currency,
        "fees_amount_cents": invoice.fees_amount_cents,
        "taxes_amount_cents": invoice.taxes_amount_cents,
        "progressive_billing_credit_amount_cents": invoice.progressive_billing_credit_amount_cents,
        "coupons_amount_cents": invoice.coupons_amount_cents,
        "credit_notes_amount_cents": invoice.credit_notes_amount_cents,
        "sub_total_excluding_taxes_amount_cents": invoice.sub_total_excluding_taxes_amount_cents,
        "sub_total_including_taxes_amount_cents": invoice.sub_total_including_taxes_amount_cents,
        "total_amount_cents": invoice.total_amount_cents,
        "total_due_amount_cents": total_due_amount_cents(invoice),
        "total_paid_amount_cents": invoice.total_paid_amount_cents,
        "total_offsetted_credit_note_amount_cents": 0,
        "prepaid_credit_amount_cents": invoice.prepaid_credit_amount_cents,
        # The granted/purchased split of prepaid credits comes from wallet transactions (wallets issue).
        "prepaid_granted_credit_amount_cents": 0 if no_prepaid else None,
        "prepaid_purchased_credit_amount_cents": 0 if no_prepaid else None,
        "file_url": documents.file_url(invoice),
        "xml_url": None,
        "version_number": invoice.version_number,
        "self_billed": False,
        "created_at": _iso(invoice.created_at),
        "updated_at": _iso(invoice.updated_at),
        "voided_at": _iso(invoice.voided_at),
        "customer": CustomerSerializer(invoice.customer).data,
        "metadata": _metadata_payload(invoice),
        "applied_taxes": [invoice_applied_tax_payload(applied) for applied in invoice.applied_taxes.all()],
    }
    if detail:
        periods = list(invoice.invoice_subscriptions.all())
        subscriptions = []
        seen = set()
        for period in periods:
            if period.subscription_id not in seen:
                seen.add(period.subscription_id)
                subscriptions.append(period.subscription)
        context = {"now": now or clock.now(invoice.organization)}
        payload.update(
            {
                "billing_periods": [_billing_period_payload(period) for period in periods],
                "subscriptions": SubscriptionSerializer(subscriptions, many=True, context=context).data,
                "fees": [fee_payload(fee) for fee in invoice.fees.all()],
                "credits": [credit_payload(credit) for credit in invoice.credits.all()],
                "error_details": [],
                "applied_invoice_custom_sections": [],
            }
        )
    if invoice.invoice_type == "progressive_billing":
        payload["applied_usage_thresholds"] = []
    return payload


class InvoiceAppliedTaxSerializer(serializers.Serializer):
    lago_id = serializers.UUIDField()
    lago_invoice_id = serializers.UUIDField(allow_null=True)
    lago_tax_id = serializers.UUIDField(allow_null=True)
    tax_name = serializers.CharField()
    tax_code = serializers.CharField()
    tax_rate = serializers.FloatField()
    tax_description = serializers.CharField(allow_null=True)
    amount_cents = serializers.IntegerField()
    amount_currency = serializers.CharField()
    fees_amount_cents = serializers.IntegerField()
    created_at = serializers.DateTimeField()


class InvoiceMetadataSerializer(serializers.Serializer):
    lago_id = serializers.UUIDField()
    key = serializers.CharField()
    value = serializers.CharField()
    created_at = serializers.DateTimeField()


class InvoiceCreditItemSerializer(serializers.Serializer):
    lago_item_id = serializers.UUIDField(allow_null=True)
    type = serializers.CharField()
    code = serializers.CharField(allow_null=True)
    name = serializers.CharField(allow_null=True)


class InvoiceCreditInvoiceSerializer(serializers.Serializer):
    lago_id = serializers.UUIDField()
    payment_status = serializers.CharField()


class InvoiceCreditSerializer(serializers.Serializer):
    lago_id = serializers.UUIDField()
    amount_cents = serializers.IntegerField()
    amount_currency = serializers.CharField()
    before_taxes = serializers.BooleanField()
    item = InvoiceCreditItemSerializer()
    invoice = InvoiceCreditInvoiceSerializer()


class InvoiceBillingPeriodSerializer(serializers.Serializer):
    lago_subscription_id = serializers.UUIDField()
    external_subscription_id = serializers.CharField()
    lago_plan_id = serializers.UUIDField()
    subscription_from_datetime = serializers.DateTimeField(allow_null=True)
    subscription_to_datetime = serializers.DateTimeField(allow_null=True)
    charges_from_datetime = serializers.DateTimeField(allow_null=True)
    charges_to_datetime = serializers.DateTimeField(allow_null=True)
    invoicing_reason = serializers.CharField()


class InvoiceSerializer(serializers.Serializer):
    """Lago's Invoice object. The list omits billing_periods, subscriptions, fees, credits, error_details and
    applied_invoice_custom_sections (as Lago's index)."""

    lago_id = serializers.UUIDField()
    billing_entity_code = serializers.CharField(allow_null=True)
    sequential_id = serializers.IntegerField(allow_null=True)
    number = serializers.CharField()
    issuing_date = serializers.DateField()
    payment_due_date = serializers.DateField()
    net_payment_term = serializers.IntegerField()
    invoice_type = serializers.CharField()
    status = serializers.CharField()
    payment_status = serializers.CharField()
    payment_dispute_lost_at = serializers.DateTimeField(allow_null=True)
    payment_overdue = serializers.BooleanField()
    currency = serializers.CharField()
    fees_amount_cents = serializers.IntegerField()
    taxes_amount_cents = serializers.IntegerField()
    progressive_billing_credit_amount_cents = serializers.IntegerField()
    coupons_amount_cents = serializers.IntegerField()
    credit_notes_amount_cents = serializers.IntegerField()
    sub_total_excluding_taxes_amount_cents = serializers.IntegerField()
    sub_total_including_taxes_amount_cents = serializers.IntegerField()
    total_amount_cents = serializers.IntegerField()
    total_due_amount_cents = serializers.IntegerField()
    total_paid_amount_cents = serializers.IntegerField()
    total_offsetted_credit_note_amount_cents = serializers.IntegerField()
    prepaid_credit_amount_cents = serializers.IntegerField()
    prepaid_granted_credit_amount_cents = serializers.IntegerField(allow_null=True)
    prepaid_purchased_credit_amount_cents = serializers.IntegerField(allow_null=True)
    file_url = serializers.CharField(allow_null=True)
    xml_url = serializers.CharField(allow_null=True)
    version_number = serializers.IntegerField()
    self_billed = serializers.BooleanField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    voided_at = serializers.DateTimeField(allow_null=True)
    customer = CustomerSerializer()
    metadata = InvoiceMetadataSerializer(many=True)
    applied_taxes = InvoiceAppliedTaxSerializer(many=True)
    billing_periods = InvoiceBillingPeriodSerializer(many=True, required=False)
    subscriptions = SubscriptionSerializer(many=True, required=False)
    fees = InvoiceFeeSerializer(many=True, required=False)
    credits = InvoiceCreditSerializer(many=True, required=False)
    error_details = serializers.ListField(child=serializers.DictField(), required=False)
    applied_invoice_custom_sections = serializers.ListField(child=serializers.DictField(), required=False)
    applied_usage_thresholds = serializers.ListField(child=serializers.DictField(), required=False)

    def to_representation(self, instance: Invoice) -> dict:
        return invoice_payload(
            instance, detail=self.context.get("detail", False), now=self.context.get("now")
        )


# --- inputs ------------------------------------------------------------------------------------------------------


class LagoChoiceField(serializers.ChoiceField):
    """A choice where null is just another invalid value (422 ``value_is_invalid``, as Lago)."""

    def validate_empty_values(self, data):
        if data is None:
            self.fail("invalid_choice", input=data)
        return super().validate_empty_values(data)


class InvoiceMetadataInput(serializers.Serializer):
    id = serializers.CharField(required=False, allow_null=True, allow_blank=True, max_length=255)
    key = serializers.CharField(max_length=255)
    value = serializers.CharField(max_length=1024)


class InvoiceUpdateInput(serializers.Serializer):
    payment_status = LagoChoiceField(choices=PaymentStatus.choices, required=False)
    metadata = InvoiceMetadataInput(many=True, required=False)


class InvoiceVoidInput(serializers.Serializer):
    generate_credit_note = serializers.BooleanField(required=False, allow_null=True)
    refund_amount = serializers.IntegerField(
        required=False, allow_null=True, min_value=0, max_value=2**63 - 1
    )
    credit_amount = serializers.IntegerField(
        required=False, allow_null=True, min_value=0, max_value=2**63 - 1
    )


class InvoiceFilterParams(serializers.Serializer):
    external_customer_id = serializers.CharField(required=False, allow_blank=True)
    customer_external_id = serializers.CharField(required=False, allow_blank=True)
    amount_from = serializers.IntegerField(required=False, min_value=-(2**63), max_value=2**63 - 1)
    amount_to = serializers.IntegerField(required=False, min_value=-(2**63), max_value=2**63 - 1)
    # Lago ignores a malformed date rather than refusing it.
    issuing_date_from = serializers.CharField(required=False, allow_blank=True)
    issuing_date_to = serializers.CharField(required=False, allow_blank=True)
    statuses = serializers.ListField(child=serializers.CharField(), required=False)
    status = serializers.ListField(child=serializers.CharField(), required=False)
    payment_statuses = serializers.ListField(child=serializers.CharField(), required=False)
    payment_status = serializers.ListField(child=serializers.CharField(), required=False)
    payment_overdue = serializers.CharField(required=False, allow_blank=True)
    search_term = serializers.CharField(required=False, allow_blank=True)
    currency = serializers.CharField(required=False, allow_blank=True)
    invoice_type = serializers.CharField(required=False, allow_blank=True)
    payment_dispute_lost = serializers.CharField(required=False, allow_blank=True)
    self_billed = serializers.CharField(required=False, allow_blank=True)


@extend_schema_field(OpenApiTypes.STR)
class UnitsField(serializers.Field):
    """Units of a one-off fee: a JSON number or a numeric string (Lago types it ``string``), > 0 and < 10^13;
    more than 15 decimals are rounded half-up (the column's scale)."""

    default_error_messages = {
        "invalid": "A number is required.",
        "min_value": "Units must be greater than 0.",
        "max_value": "Units are too large.",
    }

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int | Decimal | str):
            self.fail("invalid")
        text = str(data).strip()
        if isinstance(data, str) and not _NUMBER.match(text):
            self.fail("invalid")
        try:
            value = Decimal(text)
        except ArithmeticError:
            self.fail("invalid")
        if not value.is_finite():
            self.fail("invalid")
        if value >= _MAX_UNITS:
            self.fail("max_value")
        value = value.quantize(Decimal("1e-15"), rounding=ROUND_HALF_UP)
        if value <= 0:
            self.fail("min_value")
        return value

    def to_representation(self, value):
        return units_text(value)


class OneOffFeeInput(serializers.Serializer):
    add_on_code = serializers.CharField(max_length=255)
    invoice_display_name = serializers.CharField(
        required=False, allow_null=True, allow_blank=True, max_length=255
    )
    unit_amount_cents = serializers.IntegerField(
        required=False, allow_null=True, min_value=0, max_value=2**63 - 1
    )
    units = UnitsField(required=False, allow_null=True)
    description = serializers.CharField(
        required=False, allow_null=True, allow_blank=True, max_length=65_535, trim_whitespace=False
    )
    from_datetime = LagoDateTimeField(required=False, allow_null=True)
    to_datetime = LagoDateTimeField(required=False, allow_null=True)
    tax_codes = serializers.ListField(
        child=serializers.CharField(max_length=255), required=False, allow_null=True
    )
    skip_psp = serializers.BooleanField(required=False, allow_null=True)


class InvoiceOneOffCreateInput(serializers.Serializer):
    """Lago's InvoiceOneOffCreateInput. ``external_customer_id`` and ``fees`` are checked by the service (an
    unknown or missing customer is 404 ``customer_not_found``, no fees 404 ``fees_not_found``, as Lago);
    ``billing_entity_code``, ``invoice_custom_section`` and ``payment_method`` are accepted and unused (one
    billing entity, no custom sections, no payment providers)."""

    external_customer_id = serializers.CharField(
        required=False, allow_null=True, allow_blank=True, max_length=255
    )
    billing_entity_code = serializers.CharField(
        required=False, allow_null=True, allow_blank=True, max_length=255
    )
    currency = CurrencyField(required=False, allow_null=True)
    fees = OneOffFeeInput(many=True, required=False, allow_null=True)
    invoice_custom_section = serializers.DictField(required=False, allow_null=True)
    payment_method = serializers.DictField(required=False, allow_null=True)


class FeeUpdateInput(serializers.Serializer):
    """Lago's FeeUpdateInput: ``payment_status`` (an unknown value is 422 ``value_is_invalid``; without it nothing
    changes, as Lago)."""

    payment_status = LagoChoiceField(choices=FeePaymentStatus.choices, required=False)


class FeeFilterParams(serializers.Serializer):
    external_customer_id = serializers.CharField(required=False, allow_blank=True)
    external_subscription_id = serializers.CharField(required=False, allow_blank=True)
    currency = serializers.CharField(required=False, allow_blank=True)
    fee_type = LagoChoiceField(choices=FeeType.choices, required=False)
    billable_metric_code = serializers.CharField(required=False, allow_blank=True)
    payment_status = LagoChoiceField(choices=FeePaymentStatus.choices, required=False)
    event_transaction_id = serializers.CharField(required=False, allow_blank=True)
    created_at_from = LagoDateTimeField(required=False)
    created_at_to = LagoDateTimeField(required=False)
    succeeded_at_from = LagoDateTimeField(required=False)
    succeeded_at_to = LagoDateTimeField(required=False)
    failed_at_from = LagoDateTimeField(required=False)
    failed_at_to = LagoDateTimeField(required=False)
    refunded_at_from = LagoDateTimeField(required=False)
    refunded_at_to = LagoDateTimeField(required=False)


__all__ = [
    "FeeFilterParams",
    "FeeUpdateInput",
    "InvoiceFeeSerializer",
    "InvoiceFilterParams",
    "InvoiceOneOffCreateInput",
    "InvoiceSerializer",
    "InvoiceUpdateInput",
    "InvoiceVoidInput",
    "OneOffFeeInput",
    "credit_payload",
    "fee_payload",
    "invoice_payload",
]
