"""URL routes: invoices (one-off creation, list, show, update, finalize, download, void, refresh), fees (list,
show, update, delete) and credit notes."""

from django.urls import path

from invoicing.api.credit_notes import CreditNoteViewSet
from invoicing.api.documents import InvoiceDocumentViewSet
from invoicing.api.views import FeeViewSet, InvoiceViewSet

urlpatterns = [
    path("invoices", InvoiceViewSet.as_view({"get": "list", "post": "create"}), name="invoice-list"),
    path(
        "invoices/<str:lago_id>",
        InvoiceViewSet.as_view({"get": "retrieve", "put": "update"}),
        name="invoice-detail",
    ),
    path(
        "invoices/<str:lago_id>/finalize",
        InvoiceViewSet.as_view({"put": "finalize"}),
        name="invoice-finalize",
    ),
    path(
        "invoices/<str:lago_id>/download",
        InvoiceDocumentViewSet.as_view({"post": "download"}),
        name="invoice-download",
    ),
    path("invoices/<str:lago_id>/void", InvoiceViewSet.as_view({"post": "void"}), name="invoice-void"),
    path(
        "invoices/<str:lago_id>/refresh", InvoiceViewSet.as_view({"put": "refresh"}), name="invoice-refresh"
    ),
    path("fees", FeeViewSet.as_view({"get": "list"}), name="fee-list"),
    path(
        "fees/<str:lago_id>",
        FeeViewSet.as_view({"get": "retrieve", "put": "update", "delete": "destroy"}),
        name="fee-detail",
    ),
]

urlpatterns += [
    path("credit_notes", CreditNoteViewSet.as_view({"get": "list"}), name="credit-note-list"),
    path(
        "credit_notes/<str:lago_id>",
        CreditNoteViewSet.as_view({"get": "retrieve"}),
        name="credit-note-detail",
    ),
]
