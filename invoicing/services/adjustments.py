"""Adjusted fees (Lago's AdjustedFees): a finance user corrects a fee of a draft invoice — its units, its unit
amount, or both — and the draft's totals (taxes, sub-totals, total) are recomputed from its fees.

How an adjusted fee is priced (`reprice_adjusted_fee`, also used when a draft's fees are recomputed, so an
adjustment survives a refresh):

* a unit amount (with or without units): ``amount = units × unit_amount_cents`` (units: the adjusted ones, else
  the fee's), rounded half-up once;
* units alone, on a charge fee: the charge model prices the adjusted units (the charge filter's properties when
  the fee is a filter's bucket) — ``catalog.charge_models.compute_charge_amount`` with the fee's events count.
  Lago refuses this for the ``percentage`` model (it needs every event's value) and for prorated ``graduated``
  charges; so do we, and for ``dynamic`` (priced from the events' own amounts): 422
  ``charge: invalid_charge_model``;
* units alone, on a fixed-charge fee: the fixed charge's model prices them (``fixed_charge_amount``);
* units alone, on any other fee (subscription, add-on, commitment): ``units × the fee's unit price``.

Adjustments are stored on the fee (``adjusted_units`` / ``adjusted_unit_amount_cents``) and merge: adjusting the
units of a fee whose unit amount was adjusted keeps that unit amount.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation, localcontext

from django.db import transaction

from catalog.charge_models import ChargeUsage, compute_charge_amount, fixed_charge_amount
from catalog.models import Charge, ChargeFilter, FixedCharge
from config import errors
from config.money import currency_exponent, fee_amount_cents, round_cents, subunit_to_unit
from invoicing.models import Fee, FeeType, Invoice, InvoiceStatus

__all__ = ["adjust_fee", "reprice_adjusted_fee"]

#: Units below 10^13 keep their 15 decimals within Decimal's 28-digit context; amounts fit a bigint.
_MAX_UNITS = Decimal(10) ** 13
#: A unit price below 10^13 major units (its 15 decimals likewise).
_MAX_UNIT_PRICE = 10**13
_MAX_CENTS = 2**63 - 1
_FIFTEEN_PLACES = Decimal("0.000000000000001")
_FIVE_PLACES = Decimal("0.00001")
#: Charge models whose units cannot be re-priced without the events (Lago: percentage; we add dynamic).
_UNITS_NOT_ADJUSTABLE = frozenset({"percentage", "dynamic"})


def _units(value) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | Decimal | str):
        raise errors.ValidationFailed({"units": ["value_is_invalid"]})
    try:
        units = Decimal(value)
    except InvalidOperation:
        raise errors.ValidationFailed({"units": ["value_is_invalid"]})
    if not units.is_finite():
        raise errors.ValidationFailed({"units": ["value_is_invalid"]})
    if units < 0 or units >= _MAX_UNITS:
        raise errors.ValidationFailed({"units": ["value_is_out_of_range"]})
    if units != units.quantize(_FIFTEEN_PLACES):
        raise errors.ValidationFailed({"units": ["value_is_invalid"]})
    return units.quantize(_FIFTEEN_PLACES)


def _unit_amount_cents(value, currency: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise errors.ValidationFailed({"unit_amount_cents": ["value_is_invalid"]})
    if value < 0 or value >= _MAX_UNIT_PRICE * subunit_to_unit(currency):
        raise errors.ValidationFailed({"unit_amount_cents": ["value_is_out_of_range"]})
    return value


def _charge_properties(charge: Charge, charge_filter: ChargeFilter | None) -> dict:
    if charge_filter is not None:
        return charge_filter.properties or {}
    return charge.properties or {}


def _set_amount(fee: Fee, precise_cents: Decimal, amount_cents: int) -> None:
    if amount_cents > _MAX_CENTS:
        raise errors.ValidationFailed({"amount_cents": ["value_is_out_of_range"]})
    fee.precise_amount_cents = Decimal(precise_cents).quantize(_FIVE_PLACES)
    fee.amount_cents = amount_cents


def reprice_adjusted_fee(fee: Fee) -> None:
    """Price ``fee`` (an unsaved or stored instance, not saved here) from its ``adjusted_units`` /
    ``adjusted_unit_amount_cents``; a fee without adjustment is left as is. See the module docstring."""
    with localcontext() as context:
        context.prec = 60  # 15-decimal units and prices times each other, exactly
        _reprice(fee)


def _reprice(fee: Fee) -> None:
    units, unit_amount = fee.adjusted_units, fee.adjusted_unit_amount_cents
    if units is None and unit_amount is None:
        return
    currency = fee.amount_currency
    subunit = Decimal(subunit_to_unit(currency))
    if units is not None:
        fee.units = Decimal(units)
    if unit_amount is not None:
        precise = Decimal(fee.units) * Decimal(unit_amount)
        _set_amount(fee, precise, round_cents(precise))
        fee.unit_amount_cents = unit_amount
        fee.precise_unit_amount = (Decimal(unit_amount) / subunit).quantize(_FIFTEEN_PLACES)
        fee.amount_details = {}
        return
    units = Decimal(units)
    if fee.fee_type == FeeType.CHARGE and fee.charge_id:
        charge = Charge.objects.get(pk=fee.charge_id)
        if charge.charge_model in _UNITS_NOT_ADJUSTABLE or (
            charge.prorated and charge.charge_model == "graduated"
        ):
            raise errors.ValidationFailed({"charge": ["invalid_charge_model"]})
        charge_filter = (
            ChargeFilter.objects.filter(pk=fee.charge_filter_id).first() if fee.charge_filter_id else None
        )
        priced = compute_charge_amount(
            charge.charge_model,
            _charge_properties(charge, charge_filter),
            ChargeUsage(units=units, events_count=int(fee.events_count or 0)),
            currency_exponent=currency_exponent(currency),
        )
    elif fee.fee_type == FeeType.FIXED_CHARGE and fee.fixed_charge_id:
        fixed = FixedCharge.objects.get(pk=fee.fixed_charge_id)
        priced = fixed_charge_amount(fixed.charge_model, fixed.properties or {}, units=units)
    else:
        precise = units * Decimal(fee.precise_unit_amount) * subunit
        _set_amount(fee, precise, round_cents(precise))
        return
    _set_amount(fee, priced.amount * subunit, fee_amount_cents(priced.amount, currency))
    fee.precise_unit_amount = Decimal(priced.unit_amount).quantize(_FIFTEEN_PLACES)
    fee.unit_amount_cents = round_cents(Decimal(priced.unit_amount) * subunit)
    fee.amount_details = priced.details


@transaction.atomic
def adjust_fee(*, fee: Fee, units=None, unit_amount_cents=None) -> Fee:
    """Adjust a fee of a draft invoice and recompute the draft's totals.

    * 405 ``invoice_not_draft`` when the fee is not on a draft (a finalized invoice is a document);
    * 422 ``base: adjustment_is_empty`` when neither ``units`` nor ``unit_amount_cents`` is given;
    * 422 ``units`` / ``unit_amount_cents``: ``value_is_invalid`` (not a number; more than 15 decimals for units),
      ``value_is_out_of_range`` (negative; units or a unit price of 10^13 major units or more; an amount beyond a
      bigint);
    * 422 ``charge: invalid_charge_model`` for units alone on a percentage, dynamic or prorated graduated charge;
    * 405 ``true_up_fee_not_adjustable`` for a charge minimum's true-up fee (it follows its charge).

    The invoice row is locked first (as finalization does), so an adjustment never races a finalization.
    Returns the stored fee."""
    # invoices imports this module (a refresh keeps adjustments): import it when called
    from invoicing.services.invoices import refresh_draft_totals

    if fee.invoice_id is None:
        raise errors.NotAllowed("invoice_not_draft")
    invoice = Invoice.objects.select_for_update(of=("self",)).get(pk=fee.invoice_id)
    if invoice.status != InvoiceStatus.DRAFT:
        raise errors.NotAllowed("invoice_not_draft")
    locked = Fee.objects.select_for_update(of=("self",)).filter(pk=fee.pk, invoice=invoice).first()
    if locked is None:
        raise errors.NotFound("fee")
    if units is None and unit_amount_cents is None:
        raise errors.ValidationFailed({"base": ["adjustment_is_empty"]})
    if locked.true_up_parent_fee_id is not None:
        raise errors.NotAllowed("true_up_fee_not_adjustable")
    details: dict[str, list[str]] = {}
    currency = locked.amount_currency
    for parse, value in ((_units, units), (lambda v: _unit_amount_cents(v, currency), unit_amount_cents)):
        if value is None:
            continue
        try:
            parse(value)
        except errors.ValidationFailed as exc:
            details.update(exc.error_details)
    if details:
        raise errors.ValidationFailed(details)
    if units is not None:
        locked.adjusted_units = _units(units)
    if unit_amount_cents is not None:
        locked.adjusted_unit_amount_cents = _unit_amount_cents(unit_amount_cents, currency)
    reprice_adjusted_fee(locked)
    locked.save()
    refresh_draft_totals(invoice=invoice)
    locked.refresh_from_db()
    return locked
