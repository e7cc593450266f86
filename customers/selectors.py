"""Reads for organizations, API keys and customers; every customer query is scoped by organization."""

from __future__ import annotations

import hashlib
from functools import cache

from django.db import connection
from django.db.models import Q, QuerySet

from config import errors
from customers.models import ApiKey, Customer, Organization


def api_key_digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def api_key_by_secret(secret: str) -> ApiKey | None:
    """The live (not revoked) key with this secret, its organization loaded; None when unknown or revoked.

    Every API request starts here, so it is one indexed query (the unique index on `digest`) written in SQL:
    building the equivalent ORM query cost more than running it. No cache: a revoked key stops working on the
    next request."""
    sql = _api_key_sql()
    with connection.cursor() as cursor:
        cursor.execute(sql, [api_key_digest(secret)])
        row = cursor.fetchone()
    if row is None:
        return None
    split = len(ApiKey._meta.concrete_fields)
    api_key = _from_row(ApiKey, row[:split])
    api_key.organization = _from_row(Organization, row[split:])
    return api_key


@cache
def _api_key_sql() -> str:
    quote = connection.ops.quote_name
    columns = [f"k.{quote(f.column)}" for f in ApiKey._meta.concrete_fields] + [
        f"o.{quote(f.column)}" for f in Organization._meta.concrete_fields
    ]
    return (
        f"SELECT {', '.join(columns)} FROM {ApiKey._meta.db_table} k "  # noqa: S608
        f"JOIN {Organization._meta.db_table} o ON o.id = k.organization_id "
        "WHERE k.digest = %s AND k.revoked_at IS NULL"
    )


def _from_row(model, values):
    """A model instance from its concrete columns, with the fields' own conversions (e.g. JSON) applied."""
    fields = model._meta.concrete_fields
    values = [
        f.from_db_value(v, None, connection) if v is not None and hasattr(f, "from_db_value") else v
        for f, v in zip(fields, values, strict=True)
    ]
    return model.from_db(connection.alias, [f.attname for f in fields], values)


def customer_list(organization: Organization, *, filters: dict | None = None) -> QuerySet[Customer]:
    filters = filters or {}
    qs = (
        Customer.objects.filter(organization=organization, deleted_at__isnull=True)
        .select_related("organization")
        .prefetch_related("metadata", "taxes")
        .order_by("-created_at", "-sequential_id")
    )
    if filters.get("account_type"):
        qs = qs.filter(account_type__in=filters["account_type"])
    if filters.get("countries"):
        qs = qs.filter(country__in=filters["countries"])
    if filters.get("states"):
        qs = qs.filter(state__in=filters["states"])
    if filters.get("zipcodes"):
        qs = qs.filter(zipcode__in=filters["zipcodes"])
    if filters.get("currencies"):
        qs = qs.filter(currency__in=filters["currencies"])
    if filters.get("customer_type"):
        qs = qs.filter(customer_type=filters["customer_type"])
    if filters.get("has_customer_type") is not None:
        qs = qs.filter(customer_type__isnull=not filters["has_customer_type"])
    if filters.get("has_tax_identification_number") is not None:
        with_tin = Q(tax_identification_number__isnull=False) & ~Q(tax_identification_number="")
        qs = qs.filter(with_tin) if filters["has_tax_identification_number"] else qs.exclude(with_tin)
    for key, value in (filters.get("metadata") or {}).items():
        qs = qs.filter(metadata__key=key, metadata__value=value)
    if filters.get("search_term"):
        term = filters["search_term"]
        qs = qs.filter(
            Q(name__icontains=term)
            | Q(firstname__icontains=term)
            | Q(lastname__icontains=term)
            | Q(legal_name__icontains=term)
            | Q(external_id__icontains=term)
            | Q(email__icontains=term)
        )
    return qs


def customer_by_external_id(organization: Organization, external_id: str) -> Customer:
    customer = customer_list(organization).filter(external_id=external_id).first()
    if customer is None:
        raise errors.NotFound("customer")
    return customer
