"""Writes for add-ons (one-off charges and the products behind fixed charges)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from django.db import IntegrityError, transaction

from catalog.models import AddOn, Tax
from config import clock, errors
from config.lago_enums import CURRENCIES

ADD_ON_FIELDS = ("name", "code", "description", "invoice_display_name", "amount_cents", "amount_currency")
MAX_AMOUNT_CENTS = 2**63 - 1


def validate_add_on_attributes(attrs: Mapping[str, Any]) -> dict[str, Any]:
    """Check an add-on's complete attributes (the API and the admin both call this); raise ValidationFailed."""
    values = {field: attrs.get(field) for field in ADD_ON_FIELDS}
    details: dict[str, list[str]] = {}
    for field in ("name", "code"):
        if not isinstance(values[field], str) or not values[field].strip():
            details[field] = ["value_is_mandatory"]
    amount = values["amount_cents"]
    if amount is None:
        details["amount_cents"] = ["value_is_mandatory"]
    elif isinstance(amount, bool) or not isinstance(amount, int):
        details["amount_cents"] = ["value_is_invalid"]
    elif not 0 <= amount <= MAX_AMOUNT_CENTS:
        details["amount_cents"] = ["value_is_out_of_range"]
    currency = values["amount_currency"]
    if not currency:
        details["amount_currency"] = ["value_is_mandatory"]
    elif currency not in CURRENCIES:
        details["amount_currency"] = ["value_is_invalid"]
    if details:
        raise errors.ValidationFailed(details)
    return values


def _save_unique(add_on: AddOn) -> None:
    try:
        with transaction.atomic():
            add_on.save()
    except IntegrityError:
        raise errors.ValidationFailed({"code": ["value_already_exist"]})


@transaction.atomic
def create_add_on(*, organization, data: Mapping[str, Any], taxes: Sequence[Tax] | None = None) -> AddOn:
    add_on = AddOn(organization=organization, **validate_add_on_attributes(data))
    _save_unique(add_on)
    if taxes:
        add_on.taxes.set(taxes)
    return add_on


@transaction.atomic
def update_add_on(*, add_on: AddOn, data: Mapping[str, Any], taxes: Sequence[Tax] | None = None) -> AddOn:
    """Apply the keys present in `data`; `taxes` (when not None) replaces the add-on's taxes."""
    attrs = {field: getattr(add_on, field) for field in ADD_ON_FIELDS}
    attrs.update({k: v for k, v in data.items() if k in ADD_ON_FIELDS})
    for field, value in validate_add_on_attributes(attrs).items():
        setattr(add_on, field, value)
    _save_unique(add_on)
    if taxes is not None:
        add_on.taxes.set(taxes)
    return add_on


@transaction.atomic
def delete_add_on(*, add_on: AddOn) -> AddOn:
    """Soft-delete: the code is free again; invoices and fixed charges keep pointing at the row."""
    add_on.deleted_at = clock.now(add_on.organization)
    add_on.save(update_fields=["deleted_at", "updated_at"])
    return add_on
