"""Public document routes (no API key): an invoice PDF by its unguessable stored path. Mounted by config/urls.py
under ``documents/``, so a file is served at ``/documents/invoices/<token>/<number>.pdf``."""

from django.urls import path

from invoicing.api.documents import invoice_document

urlpatterns = [
    path("invoices/<str:token>/<str:filename>", invoice_document, name="invoice-document"),
]
