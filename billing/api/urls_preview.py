from django.urls import path

from billing.api.preview import InvoicePreviewView

urlpatterns = [
    path("invoices/preview", InvoicePreviewView.as_view({"post": "create"}), name="invoice-preview")
]
