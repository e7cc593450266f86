"""One-off invoices (``POST /invoices``; lago-api Invoices::CreateOneOffService and Fees::OneOffService).

A one-off invoice bills add-ons: one ``add_on`` fee per requested line, taxed, finalized at once (numbered, PDF
queued) and never reduced by coupons, credit notes or wallets (billing-semantics §6.1). The customer's currency is
the invoice's: set from it when the customer has none, refused when it differs.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.db import transaction

from catalog.models import AddOn
from catalog.selectors.taxes import taxes_by_codes
from config import clock, errors
from config.money import round_cents, subunit_to_unit
from customers import services as customer_services
from invoicing.models import FeeType, InvoiceType
from invoicing.services.fee_drafts import FeeDraft, applicable_taxes_for_fee
from invoicing.services.invoices import InvoiceResult, create_invoice

__all__ = ["OneOffFee", "create_one_off_invoice"]

_UTC_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
_MAX_CENTS = 2**63 - 1
_MAX_UNITS = Decimal(10) ** 13  # units keep 15 decimals within Decimal's 28 digits
_MAX_UNIT_PRICE = 10**13  # in major units: the unit price keeps its 15 decimals likewise


@dataclass(frozen=True)
class OneOffFee:
    """One requested line: the add-on by code; ``units`` default 1, ``unit_amount_cents`` default the add-on's
    amount, ``description`` default the add-on's; ``tax_codes`` None → the §6.3 chain (add-on taxes, customer
    taxes, organization defaults), a list (even empty) → exactly those taxes."""

    add_on_code: str
    units: Decimal | None = None
    unit_amount_cents: int | None = None
    description: str | None = None
    invoice_display_name: str | None = None
    tax_codes: Sequence[str] | None = None
    from_datetime: dt.datetime | None = None
    to_datetime: dt.datetime | None = None


def _add_ons(organization, fees: Sequence[OneOffFee]) -> dict[str, AddOn]:
    codes = list(dict.fromkeys(fee.add_on_code for fee in fees))
    if any("\x00" in code for code in codes):
        raise errors.NotFound("add_on")
    found = {
        add_on.code: add_on
        for add_on in AddOn.objects.filter(
            organization=organization, code__in=codes, deleted_at__isnull=True
        ).prefetch_related("taxes")
    }
    if len(found) != len(codes):
        raise errors.NotFound("add_on")
    return found


def _ensure_currency(customer, currency: str | None) -> str:
    """Lago's Customers::UpdateCurrencyService when a resource assigns the currency."""
    currency = currency or customer.currency
    if not currency:
        raise errors.ValidationFailed({"currency": ["value_is_mandatory"]})
    if customer.currency == currency:
        return currency
    if customer.currency:
        raise errors.ValidationFailed({"currency": ["currencies_does_not_match"]})
    customer_services.upsert_customer(
        organization=customer.organization, external_id=customer.external_id, data={"currency": currency}
    )
    customer.currency = currency
    return currency


def _properties(fee: OneOffFee) -> dict:
    properties = {}
    if fee.from_datetime is not None:
        properties["from_datetime"] = fee.from_datetime.astimezone(dt.UTC).strftime(_UTC_FORMAT)
    if fee.to_datetime is not None:
        properties["to_datetime"] = fee.to_datetime.astimezone(dt.UTC).strftime(_UTC_FORMAT)
    return properties


def _draft(fee: OneOffFee, add_on: AddOn, *, organization, customer, currency: str) -> FeeDraft:
    units = Decimal(1) if fee.units is None else Decimal(fee.units)
    unit_amount_cents = add_on.amount_cents if fee.unit_amount_cents is None else int(fee.unit_amount_cents)
    if not units.is_finite() or units <= 0 or units >= _MAX_UNITS:
        raise errors.ValidationFailed({"units": ["value_is_out_of_range"]})
    if unit_amount_cents < 0 or unit_amount_cents >= _MAX_UNIT_PRICE * subunit_to_unit(currency):
        raise errors.ValidationFailed({"unit_amount_cents": ["value_is_out_of_range"]})
    if fee.tax_codes is not None:
        taxes = taxes_by_codes(organization, fee.tax_codes) if fee.tax_codes else []
    else:
        taxes = applicable_taxes_for_fee(fee_type=FeeType.ADD_ON, customer=customer, add_on=add_on)
    precise = units * Decimal(unit_amount_cents)
    if precise > _MAX_CENTS:
        raise errors.ValidationFailed({"amount_cents": ["value_is_out_of_range"]})
    return FeeDraft(
        fee_type=FeeType.ADD_ON,
        amount_cents=round_cents(precise),
        precise_amount_cents=precise,
        units=units,
        unit_amount_cents=unit_amount_cents,
        precise_unit_amount=Decimal(unit_amount_cents) / Decimal(subunit_to_unit(currency)),
        add_on=add_on,
        invoice_display_name=fee.invoice_display_name or None,
        description=fee.description if fee.description is not None else add_on.description,
        properties=_properties(fee),
        taxes=taxes,
    )


@transaction.atomic
def create_one_off_invoice(
    *, organization, customer, currency: str | None, fees: Sequence[OneOffFee]
) -> InvoiceResult:
    """Create and finalize a one-off invoice of add-on fees.

    Refusals (checked in Lago's order, nothing written): no fees → 404 ``fees_not_found``; an unknown add-on
    code → 404 ``add_on_not_found``; no currency given nor known → 422 ``currency: value_is_mandatory``; another
    currency than the customer's → 422 ``currency: currencies_does_not_match``; an unknown tax code → 404
    ``tax_not_found``; units ≤ 0 or ≥ 10^13, a negative unit amount or one of 10^13 major units or more → 422
    ``value_is_out_of_range``; amounts beyond a bigint → 422 ``amount_cents: value_is_out_of_range``.

    Amount per fee: ``units × unit_amount_cents`` rounded half-up (precise amount kept). Issuing date: today in
    the customer's timezone. Zero-amount fees are kept (an explicit line)."""
    if customer.organization_id != organization.pk:
        raise errors.NotFound("customer")
    fees = list(fees)
    if not fees:
        raise errors.NotFound("fees")
    add_ons = _add_ons(organization, fees)
    currency = _ensure_currency(customer, currency)
    drafts = [
        _draft(fee, add_ons[fee.add_on_code], organization=organization, customer=customer, currency=currency)
        for fee in fees
    ]
    # Every total of the invoice (fees + taxes) must fit its bigint column.
    with_taxes = sum(
        (
            Decimal(d.amount_cents) * (1 + sum((Decimal(t.rate) for t in d.taxes), Decimal(0)) / 100)
            for d in drafts
        ),
        Decimal(0),
    )
    if with_taxes > _MAX_CENTS:
        raise errors.ValidationFailed({"amount_cents": ["value_is_out_of_range"]})
    today = clock.now(organization).astimezone(ZoneInfo(customer.applicable_timezone)).date()
    return create_invoice(
        organization=organization,
        customer=customer,
        invoice_type=InvoiceType.ONE_OFF,
        currency=currency,
        fees=drafts,
        issuing_date=today,
        finalize=True,
        skip_zero_fees=False,
    )
