"""Read-only credit note endpoints: ``GET /credit_notes`` (findAllCreditNotes) and ``GET /credit_notes/{lago_id}``
(findCreditNote). Lago shows finalized notes only; the output is Lago's V1::CreditNoteSerializer with its items
(each with its fee) and applied taxes, plus the customer (spec's CreditNoteExtended)."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers

from config.api.base import OrganizationViewSet, envelope
from customers.api.serializers import CustomerSerializer
from customers.api.views import list_filters
from invoicing import credit_notes
from invoicing.api.serializers import InvoiceFeeSerializer, LagoChoiceField, fee_payload
from invoicing.models import CreditNote, CreditNoteReason, CreditStatus, RefundStatus


def _iso(value) -> str | None:
    return None if value is None else value.strftime("%Y-%m-%dT%H:%M:%SZ")


def credit_note_payload(note: CreditNote) -> dict:
    return {
        "lago_id": str(note.pk),
        "billing_entity_code": None,
        "sequential_id": note.sequential_id,
        "number": note.number,
        "lago_invoice_id": str(note.invoice_id),
        "invoice_number": note.invoice.number,
        "issuing_date": note.issuing_date.isoformat(),
        "credit_status": note.credit_status,
        "refund_status": note.refund_status,
        "reason": note.reason,
        "description": note.description,
        "currency": note.currency,
        "total_amount_cents": note.total_amount_cents,
        "taxes_amount_cents": note.taxes_amount_cents,
        "taxes_rate": float(note.taxes_rate),
        "sub_total_excluding_taxes_amount_cents": note.sub_total_excluding_taxes_amount_cents,
        "balance_amount_cents": note.balance_amount_cents,
        "credit_amount_cents": note.credit_amount_cents,
        "refund_amount_cents": note.refund_amount_cents,
        "offset_amount_cents": note.offset_amount_cents,
        "coupons_adjustment_amount_cents": note.coupons_adjustment_amount_cents,
        "created_at": _iso(note.created_at),
        "updated_at": _iso(note.updated_at),
        "file_url": None,
        "self_billed": False,
        "items": [
            {
                "lago_id": str(item.pk),
                "amount_cents": item.amount_cents,
                "amount_currency": item.amount_currency,
                "fee": fee_payload(item.fee) if item.fee_id else None,
            }
            for item in note.items.all()
        ],
        "applied_taxes": [
            {
                "lago_id": str(applied.pk),
                "lago_credit_note_id": str(note.pk),
                "lago_tax_id": None if applied.tax_id is None else str(applied.tax_id),
                "tax_name": applied.tax_name,
                "tax_code": applied.tax_code,
                "tax_rate": float(applied.tax_rate),
                "tax_description": applied.tax_description,
                "base_amount_cents": applied.base_amount_cents,
                "amount_cents": applied.amount_cents,
                "amount_currency": applied.amount_currency,
                "created_at": _iso(applied.created_at),
            }
            for applied in note.applied_taxes.all()
        ],
        "customer": CustomerSerializer(note.customer).data,
    }


class CreditNoteItemSerializer(serializers.Serializer):
    lago_id = serializers.UUIDField()
    amount_cents = serializers.IntegerField()
    amount_currency = serializers.CharField()
    fee = InvoiceFeeSerializer()


class CreditNoteAppliedTaxSerializer(serializers.Serializer):
    lago_id = serializers.UUIDField()
    lago_credit_note_id = serializers.UUIDField()
    lago_tax_id = serializers.UUIDField(allow_null=True)
    tax_name = serializers.CharField()
    tax_code = serializers.CharField()
    tax_rate = serializers.FloatField()
    tax_description = serializers.CharField(allow_null=True)
    base_amount_cents = serializers.IntegerField()
    amount_cents = serializers.IntegerField()
    amount_currency = serializers.CharField()
    created_at = serializers.DateTimeField()


class CreditNoteSerializer(serializers.Serializer):
    """Lago's CreditNote object (with its customer, as CreditNoteExtended)."""

    lago_id = serializers.UUIDField()
    billing_entity_code = serializers.CharField(allow_null=True)
    sequential_id = serializers.IntegerField()
    number = serializers.CharField()
    lago_invoice_id = serializers.UUIDField()
    invoice_number = serializers.CharField()
    issuing_date = serializers.DateField()
    credit_status = serializers.CharField(allow_null=True, help_text="available, consumed or voided")
    refund_status = serializers.CharField(allow_null=True, help_text="pending, succeeded or failed")
    reason = serializers.CharField()
    description = serializers.CharField(allow_null=True)
    currency = serializers.CharField()
    total_amount_cents = serializers.IntegerField()
    taxes_amount_cents = serializers.IntegerField()
    taxes_rate = serializers.FloatField()
    sub_total_excluding_taxes_amount_cents = serializers.IntegerField()
    balance_amount_cents = serializers.IntegerField()
    credit_amount_cents = serializers.IntegerField()
    refund_amount_cents = serializers.IntegerField()
    offset_amount_cents = serializers.IntegerField()
    coupons_adjustment_amount_cents = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    file_url = serializers.CharField(allow_null=True)
    self_billed = serializers.BooleanField()
    items = CreditNoteItemSerializer(many=True)
    applied_taxes = CreditNoteAppliedTaxSerializer(many=True)
    customer = CustomerSerializer()

    def to_representation(self, instance: CreditNote) -> dict:
        return credit_note_payload(instance)


class CreditNoteFilterParams(serializers.Serializer):
    external_customer_id = serializers.CharField(required=False, allow_blank=True)
    # Lago ignores a malformed date rather than refusing it.
    issuing_date_from = serializers.CharField(required=False, allow_blank=True)
    issuing_date_to = serializers.CharField(required=False, allow_blank=True)
    search_term = serializers.CharField(required=False, allow_blank=True)
    currency = serializers.CharField(required=False, allow_blank=True)
    reason = LagoChoiceField(choices=CreditNoteReason.choices, required=False)
    credit_status = LagoChoiceField(choices=CreditStatus.choices, required=False)
    refund_status = LagoChoiceField(choices=RefundStatus.choices, required=False)
    invoice_number = serializers.CharField(required=False, allow_blank=True)
    amount_from = serializers.IntegerField(required=False, min_value=-(2**63), max_value=2**63 - 1)
    amount_to = serializers.IntegerField(required=False, min_value=-(2**63), max_value=2**63 - 1)
    self_billed = serializers.CharField(required=False, allow_blank=True)


CREDIT_NOTE_LIST_PARAMETERS = [
    OpenApiParameter("page", int),
    OpenApiParameter("per_page", int),
    OpenApiParameter("external_customer_id", str),
    OpenApiParameter("issuing_date_from", OpenApiTypes.DATE),
    OpenApiParameter("issuing_date_to", OpenApiTypes.DATE),
    OpenApiParameter("search_term", str),
    OpenApiParameter("currency", str),
    OpenApiParameter("reason", str, enum=CreditNoteReason.values),
    OpenApiParameter("credit_status", str, enum=CreditStatus.values),
    OpenApiParameter("refund_status", str, enum=RefundStatus.values),
    OpenApiParameter("invoice_number", str),
    OpenApiParameter("amount_from", int),
    OpenApiParameter("amount_to", int),
    OpenApiParameter("self_billed", bool),
    OpenApiParameter("billing_entity_codes[]", str, many=True),
]

LAGO_ID = OpenApiParameter("lago_id", OpenApiTypes.UUID, OpenApiParameter.PATH)


class CreditNoteViewSet(OrganizationViewSet):
    root, root_plural = "credit_note", "credit_notes"
    output_serializer = CreditNoteSerializer

    @extend_schema(
        operation_id="findAllCreditNotes",
        parameters=CREDIT_NOTE_LIST_PARAMETERS,
        responses=envelope("credit_notes", CreditNoteSerializer, many=True, paginated=True),
    )
    def list(self, request):
        filters = list_filters(request, CreditNoteFilterParams)
        return self.render_page(credit_notes.credit_note_list(self.organization, filters=filters))

    @extend_schema(
        operation_id="findCreditNote",
        parameters=[LAGO_ID],
        responses=envelope("credit_note", CreditNoteSerializer),
    )
    def retrieve(self, request, lago_id: str):
        return self.render_one(credit_notes.credit_note_by_id(self.organization, lago_id))
