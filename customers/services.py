"""Writes for organizations, API keys and customers: one function per act."""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Max

from config import clock, errors
from customers.models import ApiKey, Customer, CustomerMetadata, Organization
from customers.selectors import api_key_digest

API_KEY_PREFIX = "tb_"

ORGANIZATION_FIELDS = {
    "name", "legal_name", "legal_number", "tax_identification_number", "email", "timezone", "default_currency",
    "document_locale", "net_payment_term", "invoice_grace_period", "invoice_footer", "document_numbering",
    "document_number_prefix", "finalize_zero_amount_invoice", "email_settings", "webhook_url",
    "address_line1", "address_line2", "city", "state", "zipcode", "country",
}  # fmt: skip

CUSTOMER_FIELDS = {
    "name", "firstname", "lastname", "legal_name", "legal_number", "tax_identification_number", "email",
    "phone", "url", "logo_url", "account_type", "customer_type", "currency", "timezone", "net_payment_term",
    "invoice_grace_period", "document_locale", "finalize_zero_amount_invoice",
    "subscription_invoice_issuing_date_anchor", "subscription_invoice_issuing_date_adjustment",
    "payment_provider_settings", "shipping_address", "skip_invoice_custom_sections",
    "address_line1", "address_line2", "city", "state", "zipcode", "country",
}  # fmt: skip


@transaction.atomic
def create_organization(
    *,
    name: str,
    timezone: str = "UTC",
    default_currency: str = "USD",
    sandbox: bool = False,
    frozen_time: dt.datetime | None = None,
) -> tuple[Organization, str]:
    """Create an organization with its first API key; returns the key's secret (shown only now)."""
    organization = Organization.objects.create(
        name=name,
        timezone=timezone,
        default_currency=default_currency,
        is_sandbox=sandbox,
        frozen_time=(frozen_time or clock.utc_now()) if sandbox else None,
    )
    _, secret = create_api_key(organization=organization, name="default")
    return organization, secret


def create_api_key(*, organization: Organization, name: str = "") -> tuple[ApiKey, str]:
    secret = API_KEY_PREFIX + secrets.token_urlsafe(32)
    api_key = ApiKey.objects.create(
        organization=organization, name=name, digest=api_key_digest(secret), prefix=secret[:10]
    )
    return api_key, secret


def revoke_api_key(*, api_key: ApiKey) -> ApiKey:
    if api_key.revoked_at is None:
        api_key.revoked_at = clock.now(api_key.organization)
        api_key.save(update_fields=["revoked_at"])
    return api_key


@transaction.atomic
def update_organization(*, organization: Organization, data: Mapping[str, Any]) -> Organization:
    for field, value in data.items():
        if field in ORGANIZATION_FIELDS:
            setattr(organization, field, value)
    organization.save()
    return organization


@transaction.atomic
def upsert_customer(
    *,
    organization: Organization,
    external_id: str,
    data: Mapping[str, Any],
    taxes: Sequence | None = None,
    metadata: Sequence[Mapping[str, Any]] | None = None,
) -> tuple[Customer, bool]:
    """Create the customer with this external_id, or update the keys given. Returns (customer, created)."""
    # The organization row lock serialises sequential ids and concurrent upserts of one external_id.
    Organization.objects.select_for_update().filter(pk=organization.pk).first()
    customer = Customer.objects.filter(
        organization=organization, external_id=external_id, deleted_at__isnull=True
    ).first()
    created = customer is None
    if created:
        last = Customer.objects.filter(organization=organization).aggregate(m=Max("sequential_id"))["m"] or 0
        customer = Customer(organization=organization, external_id=external_id, sequential_id=last + 1)
    if not created and "currency" in data and customer.currency and data["currency"] != customer.currency:
        _ensure_currency_can_change(customer)
    for field, value in data.items():
        if field in CUSTOMER_FIELDS:
            setattr(customer, field, value)
    try:
        with transaction.atomic():
            customer.save()
    except IntegrityError:
        raise errors.ValidationFailed(external_id=["value_already_exist"])
    if taxes is not None:
        customer.taxes.set(taxes)
    if metadata is not None:
        _replace_customer_metadata(customer, metadata)
    return customer, created


def _ensure_currency_can_change(customer: Customer) -> None:
    """Lago refuses a currency change once the customer has been billed or subscribed in one."""
    related_names = ("subscriptions", "invoices", "wallets")
    for name in related_names:
        manager = getattr(customer, name, None)
        if manager is not None and manager.exists():
            raise errors.ValidationFailed(currency=["currencies_does_not_match"])


def _replace_customer_metadata(customer: Customer, items: Iterable[Mapping[str, Any]]) -> None:
    """Metadata in the payload is the whole set: listed keys are created or updated, the rest removed."""
    kept = []
    existing = {str(m.id): m for m in customer.metadata.all()}
    by_key = {m.key: m for m in existing.values()}
    for item in items:
        row = existing.get(str(item.get("id"))) if item.get("id") else by_key.get(item["key"])
        if row is None:
            row = CustomerMetadata(organization=customer.organization, customer=customer)
        row.key, row.value = item["key"], item["value"]
        row.display_in_invoice = item.get("display_in_invoice", False)
        row.save()
        kept.append(row.pk)
    customer.metadata.exclude(pk__in=kept).delete()


@transaction.atomic
def delete_customer(*, customer: Customer) -> Customer:
    """Soft-delete: the external_id becomes free again, invoices keep their customer."""
    customer.deleted_at = clock.now(customer.organization)
    customer.save(update_fields=["deleted_at", "updated_at"])
    return customer
