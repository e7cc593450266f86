"""Invoice and fee endpoints: parse, call a service, serialize.

Finalizing, voiding and refreshing go through billing.services.invoices (coupons apply and are given back).
One-off invoices (``POST /invoices``) go through invoicing.services.one_off: they take no coupons, credit notes
or wallets (§6.1). Fee updates and deletions go through invoicing.services.fees.
"""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.response import Response

from billing.services import invoices as billing_invoices
from config import errors
from config.api.base import OrganizationViewSet, envelope, validated
from customers import selectors as customer_selectors
from customers.api.views import list_filters
from invoicing import selectors, services
from invoicing.api.serializers import (
    FeeFilterParams,
    FeeUpdateInput,
    InvoiceFeeSerializer,
    InvoiceFilterParams,
    InvoiceOneOffCreateInput,
    InvoiceSerializer,
    InvoiceUpdateInput,
    InvoiceVoidInput,
    invoice_payload,
)
from invoicing.models import FeePaymentStatus, FeeType, InvoiceStatus, InvoiceType, PaymentStatus
from invoicing.services import fees as fee_services
from invoicing.services.one_off import OneOffFee, create_one_off_invoice

PAGE_PARAMETERS = [OpenApiParameter("page", int), OpenApiParameter("per_page", int)]

INVOICE_LIST_PARAMETERS = [
    *PAGE_PARAMETERS,
    OpenApiParameter("external_customer_id", str),
    OpenApiParameter("amount_from", int),
    OpenApiParameter("amount_to", int),
    OpenApiParameter("issuing_date_from", OpenApiTypes.DATE),
    OpenApiParameter("issuing_date_to", OpenApiTypes.DATE),
    OpenApiParameter("statuses[]", str, many=True, enum=InvoiceStatus.values),
    OpenApiParameter("payment_statuses[]", str, many=True, enum=PaymentStatus.values),
    OpenApiParameter("payment_overdue", bool),
    OpenApiParameter("search_term", str),
    OpenApiParameter("currency", str),
    OpenApiParameter("payment_dispute_lost", bool),
    OpenApiParameter("invoice_type", str, enum=InvoiceType.values),
    OpenApiParameter("self_billed", bool),
    OpenApiParameter("metadata[key]", str),
]

FEE_LIST_PARAMETERS = [
    *PAGE_PARAMETERS,
    OpenApiParameter("external_customer_id", str),
    OpenApiParameter("external_subscription_id", str),
    OpenApiParameter("event_transaction_id", str),
    OpenApiParameter("currency", str),
    OpenApiParameter("fee_type", str, enum=FeeType.values),
    OpenApiParameter("billable_metric_code", str),
    OpenApiParameter("payment_status", str, enum=FeePaymentStatus.values),
    *(
        OpenApiParameter(f"{column}_{bound}", OpenApiTypes.DATETIME)
        for column in ("created_at", "succeeded_at", "failed_at", "refunded_at")
        for bound in ("from", "to")
    ),
]

LAGO_ID = OpenApiParameter("lago_id", OpenApiTypes.UUID, OpenApiParameter.PATH)

INVOICE_ENVELOPE = envelope("invoice", InvoiceSerializer)


class InvoiceViewSet(OrganizationViewSet):
    root, root_plural = "invoice", "invoices"
    output_serializer = InvoiceSerializer

    def render_invoice(self, invoice) -> Response:
        return Response({"invoice": invoice_payload(selectors.invoice_with_details(invoice), detail=True)})

    @extend_schema(
        operation_id="findAllInvoices",
        parameters=INVOICE_LIST_PARAMETERS,
        responses=envelope("invoices", InvoiceSerializer, many=True, paginated=True),
    )
    def list(self, request):
        filters = list_filters(request, InvoiceFilterParams)
        if not filters.get("external_customer_id") and filters.get("customer_external_id"):
            filters["external_customer_id"] = filters["customer_external_id"]
        return self.render_page(selectors.invoice_list(self.organization, filters=filters))

    @extend_schema(
        operation_id="createInvoice",
        request=envelope("invoice", InvoiceOneOffCreateInput),
        responses=INVOICE_ENVELOPE,
    )
    def create(self, request):
        data = validated(InvoiceOneOffCreateInput, self.payload())
        external_id = data.get("external_customer_id")
        if not external_id:
            raise errors.NotFound("customer")
        customer = customer_selectors.customer_by_external_id(self.organization, external_id)
        fees = [
            OneOffFee(
                add_on_code=fee["add_on_code"],
                units=fee.get("units"),
                unit_amount_cents=fee.get("unit_amount_cents"),
                description=fee.get("description"),
                invoice_display_name=fee.get("invoice_display_name") or None,
                tax_codes=fee.get("tax_codes"),
                from_datetime=fee.get("from_datetime"),
                to_datetime=fee.get("to_datetime"),
            )
            for fee in data.get("fees") or []
        ]
        result = create_one_off_invoice(
            organization=self.organization, customer=customer, currency=data.get("currency"), fees=fees
        )
        return self.render_invoice(result.invoice)

    @extend_schema(operation_id="findInvoice", parameters=[LAGO_ID], responses=INVOICE_ENVELOPE)
    def retrieve(self, request, lago_id: str):
        return self.render_invoice(selectors.invoice_by_id(self.organization, lago_id))

    @extend_schema(
        operation_id="updateInvoice",
        parameters=[LAGO_ID],
        request=envelope("invoice", InvoiceUpdateInput),
        responses=INVOICE_ENVELOPE,
    )
    def update(self, request, lago_id: str):
        invoice = selectors.invoice_by_id(self.organization, lago_id)
        data = validated(InvoiceUpdateInput, self.payload())
        invoice = services.update_invoice(
            invoice=invoice, payment_status=data.get("payment_status"), metadata=data.get("metadata")
        )
        return self.render_invoice(invoice)

    @extend_schema(
        operation_id="finalizeInvoice", parameters=[LAGO_ID], request=None, responses=INVOICE_ENVELOPE
    )
    def finalize(self, request, lago_id: str):
        # Lago looks the invoice up among drafts: any other invoice is "not found".
        invoice = selectors.invoice_by_id(self.organization, lago_id, status=InvoiceStatus.DRAFT)
        result = billing_invoices.finalize_invoice(invoice=invoice)
        return self.render_invoice(result.invoice)

    @extend_schema(
        operation_id="voidInvoice", parameters=[LAGO_ID], request=InvoiceVoidInput, responses=INVOICE_ENVELOPE
    )
    def void(self, request, lago_id: str):
        invoice = selectors.invoice_by_id(self.organization, lago_id)
        body = request.data if isinstance(request.data, dict) else {}
        data = validated(InvoiceVoidInput, {k: v for k, v in body.items() if k in InvoiceVoidInput().fields})
        invoice = billing_invoices.void_invoice(
            invoice=invoice, generate_credit_note=bool(data.get("generate_credit_note"))
        )
        return self.render_invoice(invoice)

    @extend_schema(
        operation_id="refreshInvoice", parameters=[LAGO_ID], request=None, responses=INVOICE_ENVELOPE
    )
    def refresh(self, request, lago_id: str):
        invoice = selectors.invoice_by_id(self.organization, lago_id)
        return self.render_invoice(billing_invoices.refresh_invoice(invoice))


class FeeViewSet(OrganizationViewSet):
    root, root_plural = "fee", "fees"
    output_serializer = InvoiceFeeSerializer

    @extend_schema(
        operation_id="findAllFees",
        parameters=FEE_LIST_PARAMETERS,
        responses=envelope("fees", InvoiceFeeSerializer, many=True, paginated=True),
    )
    def list(self, request):
        return self.render_page(
            selectors.fee_list(self.organization, filters=list_filters(request, FeeFilterParams))
        )

    @extend_schema(
        operation_id="findFee", parameters=[LAGO_ID], responses=envelope("fee", InvoiceFeeSerializer)
    )
    def retrieve(self, request, lago_id: str):
        return self.render_one(selectors.fee_by_id(self.organization, lago_id))

    @extend_schema(
        operation_id="updateFee",
        parameters=[LAGO_ID],
        request=envelope("fee", FeeUpdateInput),
        responses=envelope("fee", InvoiceFeeSerializer),
    )
    def update(self, request, lago_id: str):
        fee = selectors.fee_by_id(self.organization, lago_id)
        data = validated(FeeUpdateInput, self.payload())
        kwargs = {"payment_status": data["payment_status"]} if "payment_status" in data else {}
        fee = fee_services.update_fee(fee=fee, **kwargs)
        return self.render_one(selectors.fee_by_id(self.organization, fee.pk))

    @extend_schema(
        operation_id="deleteFee", parameters=[LAGO_ID], responses=envelope("fee", InvoiceFeeSerializer)
    )
    def destroy(self, request, lago_id: str):
        fee = selectors.fee_by_id(self.organization, lago_id)
        deleted = fee_services.delete_fee(fee=fee)
        fee.deleted_at = deleted.deleted_at
        return self.render_one(fee)
