"""Reads for the catalog, always scoped by organization."""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import QuerySet

from catalog.models import Tax
from config import errors


def tax_list(organization) -> QuerySet[Tax]:
    return Tax.objects.filter(organization=organization).order_by("-created_at", "code")


def tax_by_code(organization, code: str) -> Tax:
    tax = tax_list(organization).filter(code=code).first()
    if tax is None:
        raise errors.NotFound("tax")
    return tax


def taxes_by_codes(organization, codes: Iterable[str]) -> list[Tax]:
    """The taxes for these codes, in order; an unknown code is Lago's 404 tax_not_found."""
    codes = list(dict.fromkeys(codes))
    found = {t.code: t for t in tax_list(organization).filter(code__in=codes)}
    if len(found) != len(codes):
        raise errors.NotFound("tax")
    return [found[c] for c in codes]


def organization_default_taxes(organization) -> QuerySet[Tax]:
    return tax_list(organization).filter(applied_to_organization=True)
