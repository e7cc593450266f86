"""Invoice PDF documents over HTTP.

* ``POST /api/v1/invoices/{lago_id}/download`` (downloadInvoice): Lago looks the invoice up among *finalized*
  invoices only — a draft, voided, failed or pending invoice (or another organization's) is 404
  ``invoice_not_found``. Where Lago queues a job and answers an empty 200 when the file is not ready, we render it
  on the spot and always answer ``{"invoice": {...}}`` with ``file_url`` set.
* ``GET /documents/invoices/<token>/<number>.pdf`` (`invoice_document`, routed by `invoicing.urls_documents`): the
  file itself. The URL is a capability — whoever holds the random token may read the file, as with Lago's
  file_url — so it takes no API key; any other path is 404.
"""

from __future__ import annotations

from django.http import FileResponse, Http404
from django.views.decorators.http import require_safe
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.response import Response

from config.api.base import OrganizationViewSet, envelope
from invoicing import documents, selectors
from invoicing.api.serializers import InvoiceSerializer, invoice_payload
from invoicing.models import InvoiceStatus

LAGO_ID = OpenApiParameter("lago_id", OpenApiTypes.UUID, OpenApiParameter.PATH)


class InvoiceDocumentViewSet(OrganizationViewSet):
    root, root_plural = "invoice", "invoices"
    output_serializer = InvoiceSerializer

    @extend_schema(
        operation_id="downloadInvoice",
        parameters=[LAGO_ID],
        request=None,
        responses=envelope("invoice", InvoiceSerializer),
    )
    def download(self, request, lago_id: str):
        invoice = selectors.invoice_by_id(self.organization, lago_id, status=InvoiceStatus.FINALIZED)
        documents.generate_invoice_pdf(invoice)
        payload = invoice_payload(selectors.invoice_with_details(invoice), detail=True)
        payload["file_url"] = documents.file_url(invoice, request)
        return Response({"invoice": payload})


@require_safe
def invoice_document(request, token: str, filename: str):
    """The stored PDF of an invoice, inline, by its unguessable path."""
    invoice = documents.stored_document(token, filename)
    if invoice is None:
        raise Http404("invoice document not found")
    try:
        handle = invoice.file.storage.open(invoice.file.name, "rb")
    except OSError as exc:
        raise Http404("invoice document not found") from exc
    response = FileResponse(handle, content_type="application/pdf", filename=filename)
    response["Cache-Control"] = "private, max-age=3600"
    response["X-Robots-Tag"] = "noindex, nofollow"
    response["Referrer-Policy"] = "no-referrer"
    return response
