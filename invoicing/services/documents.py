"""What an invoice document shows, copied onto the invoice when it is finalized (seller, buyer, addresses, tax
ids, locale, currency), so later edits of the organization or the customer never change an issued invoice."""

from __future__ import annotations

ADDRESS_KEYS = ("address_line1", "address_line2", "city", "state", "zipcode", "country")


def _address(source) -> dict:
    return {key: getattr(source, key, None) for key in ADDRESS_KEYS}


def document_snapshot(*, organization, customer, currency: str) -> dict:
    shipping = customer.shipping_address or {}
    return {
        "locale": customer.applicable_document_locale,
        "currency": currency,
        "seller": {
            "lago_id": str(organization.pk),
            "name": organization.name,
            "legal_name": organization.legal_name,
            "legal_number": organization.legal_number,
            "tax_identification_number": organization.tax_identification_number,
            "email": organization.email,
            "address": _address(organization),
            "timezone": organization.timezone,
            "document_number_prefix": organization.document_number_prefix,
            "invoice_footer": organization.invoice_footer,
        },
        "buyer": {
            "lago_id": str(customer.pk),
            "external_id": customer.external_id,
            "slug": customer.slug,
            "name": customer.name,
            "firstname": customer.firstname,
            "lastname": customer.lastname,
            "legal_name": customer.legal_name,
            "legal_number": customer.legal_number,
            "tax_identification_number": customer.tax_identification_number,
            "email": customer.email,
            "phone": customer.phone,
            "customer_type": customer.customer_type,
            "timezone": customer.applicable_timezone,
            "address": _address(customer),
            "shipping_address": {key: shipping.get(key) for key in ADDRESS_KEYS},
            "metadata": [
                {"key": item.key, "value": item.value}
                for item in customer.metadata.all()
                if item.display_in_invoice
            ],
        },
    }
