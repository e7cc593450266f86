"""What the billing engine hands to invoicing: priced fee lines (`FeeDraft`), and the tax source chain of §6.3.

A `FeeDraft` is a fee computed but not stored yet. The engine builds one per base fee, charge bucket/group,
fixed charge, true-up, commitment, add-on or credit line and passes the list to `create_invoice` (or to
`replace_draft_fees` on a refresh). References to catalog/billing rows may be objects or ids.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from catalog.models import Tax
from invoicing.models import FeeType

__all__ = ["FeeDraft", "applicable_taxes_for_fee", "fee_adjustment_key", "ref_id"]

# Storage scales of the Fee columns (invoicing.models): values are rounded half-up to them once, here.
_PRECISE_AMOUNT_PLACES = 5
_UNITS_PLACES = 15


def _decimal(value: Any, name: str) -> Decimal:
    """An int, Decimal or numeric string as a Decimal; floats and bools are refused (never float near money)."""
    if isinstance(value, bool) or not isinstance(value, int | Decimal | str):
        raise TypeError(
            f"FeeDraft.{name} must be an int, a Decimal or a numeric string, not {type(value).__name__}"
        )
    result = Decimal(value)
    if not result.is_finite():
        raise ValueError(f"FeeDraft.{name} must be finite")
    return result


def _quantized(value: Decimal, places: int) -> Decimal:
    return value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def ref_id(value: Any) -> uuid.UUID | None:
    """The primary key of a model instance, a UUID or a UUID string (None stays None)."""
    if value is None:
        return None
    if isinstance(value, uuid.UUID):
        return value
    if isinstance(value, str):
        return uuid.UUID(value)
    pk = getattr(value, "pk", None)
    if pk is None:
        raise TypeError(
            f"expected a saved model instance, a UUID or a UUID string, not {type(value).__name__}"
        )
    return pk if isinstance(pk, uuid.UUID) else uuid.UUID(str(pk))


def _json_value(value: Any) -> Any:
    """Datetimes in `properties` are stored as ISO-8601 UTC strings with a `Z` (Lago's fee properties)."""
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            raise ValueError("FeeDraft.properties datetimes must be timezone-aware")
        return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): _json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_value(v) for v in value]
    return value


@dataclass
class FeeDraft:
    """One priced fee line, not stored yet.

    Amounts: ``amount_cents`` is the rounded fee (§0), ``precise_amount_cents`` the unrounded value (defaults to
    ``amount_cents``). ``unit_amount_cents`` / ``precise_unit_amount`` (major units) as Lago reports them.

    References (object or id): ``subscription``, ``charge``, ``charge_filter``, ``fixed_charge``, ``add_on``.
    ``true_up_parent_index``: for a charge-minimum true-up fee, the index in the same list of the fee it trues up.

    ``taxes``: the catalog ``Tax`` rows that apply, resolved by the caller with ``applicable_taxes_for_fee``
    (§6.3). Credit (top-up) fees carry none.

    ``billable_metric_code`` (charge fees and their true-ups) drives metric-limited coupons and wallet buckets;
    ``plan_code`` / ``parent_plan_code`` (every fee of a subscription) drive plan-limited coupons. When omitted they
    are derived from the charge and the subscription's plan.

    ``properties``: what the fee covers, e.g. ``from_datetime``/``to_datetime`` (base fee, fixed charge) and
    ``charges_from_datetime``/``charges_to_datetime`` (charges); aware datetimes are stored as ISO-8601 UTC.
    For a credit fee, ``properties["wallet_transaction_id"]`` becomes the fee item's ``lago_item_id``.
    """

    fee_type: str
    amount_cents: int
    precise_amount_cents: Decimal | int | str | None = None
    units: Decimal | int | str = 0
    total_aggregated_units: Decimal | int | str | None = None
    events_count: int | None = None
    unit_amount_cents: int = 0
    precise_unit_amount: Decimal | int | str = 0
    amount_details: dict = field(default_factory=dict)
    subscription: Any = None
    charge: Any = None
    charge_filter: Any = None
    fixed_charge: Any = None
    add_on: Any = None
    grouped_by: dict = field(default_factory=dict)
    invoice_display_name: str | None = None
    description: str | None = None
    pay_in_advance: bool = False
    invoiceable: bool = True
    properties: dict = field(default_factory=dict)
    true_up_parent_index: int | None = None
    taxes: Sequence[Tax] = ()
    billable_metric_code: str | None = None
    plan_code: str | None = None
    parent_plan_code: str | None = None
    event_transaction_id: str | None = None

    def __post_init__(self) -> None:
        if self.fee_type not in FeeType.values:
            raise ValueError(f"unknown fee_type {self.fee_type!r}")
        for name in ("amount_cents", "unit_amount_cents"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"FeeDraft.{name} must be an int of minor units")
        if self.amount_cents < 0:
            raise ValueError("FeeDraft.amount_cents must not be negative")
        if self.events_count is not None and (
            isinstance(self.events_count, bool) or not isinstance(self.events_count, int)
        ):
            raise TypeError("FeeDraft.events_count must be an int or None")
        precise = self.amount_cents if self.precise_amount_cents is None else self.precise_amount_cents
        self.precise_amount_cents = _quantized(
            _decimal(precise, "precise_amount_cents"), _PRECISE_AMOUNT_PLACES
        )
        self.units = _quantized(_decimal(self.units, "units"), _UNITS_PLACES)
        if self.total_aggregated_units is not None:
            self.total_aggregated_units = _quantized(
                _decimal(self.total_aggregated_units, "total_aggregated_units"), _UNITS_PLACES
            )
        self.precise_unit_amount = _quantized(
            _decimal(self.precise_unit_amount, "precise_unit_amount"), _UNITS_PLACES
        )
        self.taxes = tuple(self.taxes)
        for tax in self.taxes:
            if not isinstance(tax, Tax):
                raise TypeError("FeeDraft.taxes must be catalog Tax instances")
        if self.taxes and self.fee_type == FeeType.CREDIT:
            raise ValueError("credit (top-up) fees are never taxed")
        if self.true_up_parent_index is not None and (
            isinstance(self.true_up_parent_index, bool) or not isinstance(self.true_up_parent_index, int)
        ):
            raise TypeError("FeeDraft.true_up_parent_index must be an int or None")
        self.properties = _json_value(dict(self.properties or {}))
        self.grouped_by = _json_value(dict(self.grouped_by or {}))
        self.amount_details = _json_value(dict(self.amount_details or {}))

    @property
    def is_zero(self) -> bool:
        """0 units, 0 amount and 0 events: a charge bucket not worth a fee (§2.3 rule 4)."""
        return self.units == 0 and self.amount_cents == 0 and not self.events_count


def fee_adjustment_key(
    *, fee_type: str, subscription_id, charge_id, charge_filter_id, fixed_charge_id, add_on_id, grouped_by
) -> tuple:
    """What identifies "the same fee" across refreshes of a draft (adjustments are carried over by this key)."""
    grouped = tuple(sorted((str(k), "" if v is None else str(v)) for k, v in (grouped_by or {}).items()))
    return (
        str(fee_type),
        str(subscription_id or ""),
        str(charge_id or ""),
        str(charge_filter_id or ""),
        str(fixed_charge_id or ""),
        str(add_on_id or ""),
        grouped,
    )


def _taxes(related) -> list[Tax]:
    return list(related.taxes.all()) if related is not None else []


def applicable_taxes_for_fee(
    *,
    fee_type: str,
    customer,
    explicit_taxes: Iterable[Tax] | None = None,
    add_on=None,
    charge=None,
    fixed_charge=None,
    commitment=None,
    plan=None,
) -> list[Tax]:
    """The taxes of one fee by §6.3's precedence: the first non-empty source wins.

    explicit ``tax_codes`` of a one-off fee → add-on taxes (add-on fees only; a fixed charge's add-on taxes are
    unused, §4.8) → charge taxes (charge fees and their true-ups) → fixed-charge taxes → commitment taxes →
    plan taxes (subscription, charge, fixed-charge and commitment fees; pass the subscription's plan, an override
    child included) → customer taxes → the organization's default taxes (``applied_to_organization``).
    Credit (top-up) fees are never taxed.
    """
    if fee_type not in FeeType.values:
        raise ValueError(f"unknown fee_type {fee_type!r}")
    if fee_type == FeeType.CREDIT:
        return []
    candidates: list[list[Tax]] = []
    if explicit_taxes is not None:
        candidates.append(list(explicit_taxes))
    if fee_type == FeeType.ADD_ON:
        candidates.append(_taxes(add_on))
    if fee_type == FeeType.CHARGE:
        candidates.append(_taxes(charge))
    if fee_type == FeeType.FIXED_CHARGE:
        candidates.append(_taxes(fixed_charge))
    if fee_type == FeeType.COMMITMENT:
        candidates.append(_taxes(commitment))
    if fee_type in (FeeType.SUBSCRIPTION, FeeType.CHARGE, FeeType.FIXED_CHARGE, FeeType.COMMITMENT):
        candidates.append(_taxes(plan))
    candidates.append(_taxes(customer))
    for taxes in candidates:
        if taxes:
            return taxes
    return list(
        Tax.objects.filter(organization_id=customer.organization_id, applied_to_organization=True).order_by(
            "code"
        )
    )
