"""Writes for the catalog: one function per act."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.db import IntegrityError, transaction

from catalog.models import Tax
from config import errors

TAX_FIELDS = {"code", "name", "description", "rate", "applied_to_organization"}


def _save_unique(instance, field: str) -> None:
    try:
        with transaction.atomic():
            instance.save()
    except IntegrityError:
        raise errors.ValidationFailed({field: ["value_already_exist"]})


@transaction.atomic
def create_tax(*, organization, data: Mapping[str, Any]) -> Tax:
    tax = Tax(organization=organization, **{k: v for k, v in data.items() if k in TAX_FIELDS})
    _save_unique(tax, "code")
    return tax


@transaction.atomic
def update_tax(*, tax: Tax, data: Mapping[str, Any]) -> Tax:
    for field, value in data.items():
        if field in TAX_FIELDS:
            setattr(tax, field, value)
    _save_unique(tax, "code")
    return tax


@transaction.atomic
def delete_tax(*, tax: Tax) -> Tax:
    """Remove the tax everywhere it is applied; already issued invoices keep their copied rates."""
    snapshot = Tax(**{f.attname: getattr(tax, f.attname) for f in Tax._meta.concrete_fields})
    tax.delete()
    return snapshot
