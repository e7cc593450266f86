"""Reads for add-ons, always scoped by organization; deleted add-ons are invisible."""

from __future__ import annotations

from django.db.models import QuerySet

from catalog.models import AddOn
from config import errors


def add_on_list(organization) -> QuerySet[AddOn]:
    return (
        AddOn.objects.filter(organization=organization, deleted_at__isnull=True)
        .prefetch_related("taxes")
        .order_by("-created_at", "code")
    )


def add_on_by_code(organization, code: str) -> AddOn:
    if "\x00" in code:  # PostgreSQL text cannot hold NUL: no such row
        raise errors.NotFound("add_on")
    add_on = add_on_list(organization).filter(code=code).first()
    if add_on is None:
        raise errors.NotFound("add_on")
    return add_on
