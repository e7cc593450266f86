"""Pure invoice arithmetic: coupons, progressive-billing credit, taxes, credit notes, prepaid credits, totals
(billing-semantics.md §0, §6, §7, §8).

Plain frozen dataclasses in, plain frozen dataclasses out; no Django, no ORM, no I/O.

Money that is billed is an ``int`` of minor units (cents; whole yen for JPY). Every intermediate value — a fee's
share of a coupon, a fee's tax, a credit note's coupon adjustment — is kept as an exact ``Fraction`` while
computing, so sums of shares are exact and each rounding (half-up, away from zero, §0) happens exactly once, where
the doc places it. Precise values are handed back as ``Decimal`` rounded half-up to ``PRECISE_PLACES`` decimals
(enough for storage; never feed them back in to recompute taxes — store the integer results instead).

Order of operations of an invoice (§6.1): fees → progressive-billing credit → coupons → taxes per fee →
credit notes → prepaid credits (wallets) → totals.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from fractions import Fraction
from typing import Any

from config.money import currency_exponent, is_known_currency, subunit_to_unit

__all__ = [
    "COUPON_TYPES",
    "FEE_TYPES",
    "FREQUENCIES",
    "PRECISE_PLACES",
    "AppliedTaxResult",
    "CouponResult",
    "CouponToApply",
    "CreditNoteAppliedTax",
    "CreditNoteConsumption",
    "CreditNoteCredit",
    "CreditNoteFee",
    "CreditNoteItem",
    "CreditNoteItemResult",
    "CreditNoteTotals",
    "FeeAppliedTax",
    "FeeLine",
    "FeeResult",
    "InvoiceTotals",
    "ProgressiveBillingCredit",
    "ProgressiveBillingCreditResult",
    "WalletConsumption",
    "WalletCredit",
    "compute_credit_note",
    "compute_invoice_totals",
    "fee_remaining_creditable_amount_cents",
    "max_refundable_amount_cents",
    "wallet_cents_to_credits",
    "wallet_credits_to_cents",
]

FEE_TYPES = frozenset({"subscription", "charge", "fixed_charge", "commitment", "add_on", "credit"})
COUPON_TYPES = frozenset({"fixed_amount", "percentage"})
FREQUENCIES = frozenset({"once", "recurring", "forever"})

#: Decimal places of every precise (unrounded) amount handed back, as Lago's ``numeric(40,15)`` columns.
PRECISE_PLACES = 15
#: Decimal places of ``taxes_rate`` (Lago rounds it to 5).
TAXES_RATE_PLACES = 5
#: Decimal places of wallet credits (Lago stores ``numeric(30,5)``).
CREDITS_PLACES = 5

_HALF = Fraction(1, 2)
_HUNDRED = Fraction(100)

TaxRates = tuple[tuple[str, Decimal], ...]


# --------------------------------------------------------------------------------------------------------------
# Exact arithmetic helpers
# --------------------------------------------------------------------------------------------------------------


def _round_half_up(value: Fraction) -> int:
    """Round an exact rational to an integer, half away from zero (§0)."""
    if value >= 0:
        return math.floor(value + _HALF)
    return -math.floor(-value + _HALF)


def _to_decimal(value: Fraction, places: int = PRECISE_PLACES) -> Decimal:
    """An exact rational as a ``Decimal`` rounded half-up to ``places`` decimals."""
    return Decimal(_round_half_up(value * 10**places)).scaleb(-places)


def _exact(value: Any, name: str) -> Fraction:
    """An int, Decimal or Fraction as an exact Fraction; floats, bools, strings and non-finite values refused."""
    if isinstance(value, bool) or not isinstance(value, int | Decimal | Fraction):
        raise TypeError(f"{name} must be an int or a Decimal, not {type(value).__name__}")
    if isinstance(value, Decimal) and not value.is_finite():
        raise ValueError(f"{name} must be finite")
    return Fraction(value)


def _cents(value: Any, name: str, *, allow_none: bool = False) -> int | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int of minor units, not {type(value).__name__}")
    if value < 0:
        raise ValueError(f"{name} must not be negative, got {value}")
    return value


def _check_currency(currency: str) -> None:
    if not is_known_currency(currency):
        raise ValueError(f"unknown currency {currency!r}")


def _normalize_taxes(taxes: Iterable[Any], owner: str) -> TaxRates:
    result: list[tuple[str, Decimal]] = []
    seen: set[str] = set()
    for entry in taxes:
        code, rate = entry
        if not isinstance(code, str) or not code:
            raise TypeError(f"{owner}: a tax code must be a non-empty string")
        if isinstance(rate, bool) or not isinstance(rate, int | Decimal):
            raise TypeError(
                f"{owner}: tax {code!r} rate must be a Decimal percent, not {type(rate).__name__}"
            )
        rate = Decimal(rate)
        if not rate.is_finite() or rate < 0:
            raise ValueError(f"{owner}: tax {code!r} rate must be a finite percent >= 0")
        if code in seen:
            raise ValueError(f"{owner}: tax {code!r} listed twice")
        seen.add(code)
        result.append((code, rate))
    return tuple(result)


def _checked(values: Iterable[Any], kind: type, name: str) -> list[Any]:
    """The entries as a list, each of ``kind``, with distinct ids."""
    result = list(values)
    for value in result:
        if not isinstance(value, kind):
            raise TypeError(f"{name} must be {kind.__name__} instances")
    if len({value.id for value in result}) != len(result):
        raise ValueError(f"{name}: an id appears twice")
    return result


def _sort_key(rank: int, created_at: datetime | None) -> tuple:
    # Entries without a creation date keep their input order after the dated ones of the same rank; Python's
    # sort is stable, so exact ties keep the input order too.
    return (rank, 1, 0) if created_at is None else (rank, 0, created_at)


# --------------------------------------------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FeeLine:
    """One fee of the invoice, already priced and rounded (``amount_cents``, §0).

    ``billable_metric_code`` is set on charge fees (and their charge-minimum true-ups): it drives metric-limited
    coupons and the wallet bucket. ``plan_code`` (and ``parent_plan_code`` for a plan-override child) is set on
    fees that belong to a subscription: it drives plan-limited coupons. ``taxes`` is the resolved list
    ``[(tax_code, rate_percent)]`` of §6.3's tax source chain; credit (top-up) fees carry none.
    """

    id: str
    fee_type: str
    amount_cents: int
    taxes: TaxRates = ()
    billable_metric_code: str | None = None
    plan_code: str | None = None
    parent_plan_code: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not self.id:
            raise TypeError("FeeLine.id must be a non-empty string")
        if self.fee_type not in FEE_TYPES:
            raise ValueError(f"fee {self.id}: unknown fee_type {self.fee_type!r}")
        _cents(self.amount_cents, f"fee {self.id} amount_cents")
        taxes = _normalize_taxes(self.taxes, f"fee {self.id}")
        if taxes and self.fee_type == "credit":
            raise ValueError(f"fee {self.id}: credit (top-up) fees are never taxed")
        object.__setattr__(self, "taxes", taxes)

    @property
    def plan_codes(self) -> frozenset[str]:
        return frozenset(code for code in (self.plan_code, self.parent_plan_code) if code)

    @property
    def wallet_bucket(self) -> tuple[str, str | None]:
        """The (fee type, billable metric) bucket prepaid credits are capped by (§6.4)."""
        return (self.fee_type, self.billable_metric_code if self.fee_type == "charge" else None)


@dataclass(frozen=True)
class ProgressiveBillingCredit:
    """Usage already billed by progressive-billing invoices this period (§6.1 step 2, §9).

    Allocated over its fees like a coupon: ``fee_ids`` (default: every ``charge`` fee of the invoice), capped at
    what those fees still carry; the excess is reported back (it becomes a credit note on the progressive invoice).
    One credit per subscription, or one per fee for a per-fee allocation.
    """

    amount_cents: int
    fee_ids: frozenset[str] | None = None
    id: str | None = None

    def __post_init__(self) -> None:
        _cents(self.amount_cents, "progressive billing credit amount_cents")
        if self.fee_ids is not None:
            object.__setattr__(self, "fee_ids", frozenset(self.fee_ids))


@dataclass(frozen=True)
class CouponToApply:
    """An active applied coupon of the customer (§6.2), with the applied coupon's own (possibly overridden) terms.

    ``amount_cents``: fixed_amount coupons' amount per invoice. ``remaining_amount_cents``: for a *once* fixed coupon
    the amount not consumed yet (default ``amount_cents``). ``frequency_duration_remaining``: recurring coupons'
    invoices left. A coupon is limited to ``billable_metric_codes`` or to ``plan_codes``, or to nothing.
    """

    id: str
    coupon_type: str
    frequency: str
    amount_cents: int | None = None
    remaining_amount_cents: int | None = None
    percentage_rate: Decimal | None = None
    frequency_duration_remaining: int | None = None
    currency: str | None = None
    plan_codes: frozenset[str] = frozenset()
    billable_metric_codes: frozenset[str] = frozenset()
    created_at: datetime | None = None

    def __post_init__(self) -> None:
        if self.coupon_type not in COUPON_TYPES:
            raise ValueError(f"coupon {self.id}: unknown coupon_type {self.coupon_type!r}")
        if self.frequency not in FREQUENCIES:
            raise ValueError(f"coupon {self.id}: unknown frequency {self.frequency!r}")
        object.__setattr__(self, "plan_codes", frozenset(self.plan_codes))
        object.__setattr__(self, "billable_metric_codes", frozenset(self.billable_metric_codes))
        if self.plan_codes and self.billable_metric_codes:
            raise ValueError(f"coupon {self.id}: limited to plans and to billable metrics at once")
        if self.coupon_type == "percentage":
            rate = self.percentage_rate
            if isinstance(rate, bool) or not isinstance(rate, int | Decimal):
                raise TypeError(f"coupon {self.id}: percentage_rate must be a Decimal percent")
            rate = Decimal(rate)
            if not rate.is_finite() or not 0 <= rate <= 100:
                raise ValueError(f"coupon {self.id}: percentage_rate must lie in [0, 100]")
            object.__setattr__(self, "percentage_rate", rate)
        else:
            _cents(self.amount_cents, f"coupon {self.id} amount_cents")
            _cents(self.remaining_amount_cents, f"coupon {self.id} remaining_amount_cents", allow_none=True)
            if self.currency is None:
                raise ValueError(f"coupon {self.id}: a fixed_amount coupon needs its currency")
        if self.frequency == "recurring":
            remaining = self.frequency_duration_remaining
            if isinstance(remaining, bool) or not isinstance(remaining, int) or remaining < 0:
                raise ValueError(
                    f"coupon {self.id}: recurring coupons need frequency_duration_remaining >= 0"
                )

    @property
    def limitation_rank(self) -> int:
        """0 metric-limited, 1 plan-limited, 2 unrestricted: the application order of §6.2."""
        if self.billable_metric_codes:
            return 0
        if self.plan_codes:
            return 1
        return 2

    def is_eligible(self, fee: FeeLine) -> bool:
        if self.billable_metric_codes:
            return fee.fee_type == "charge" and fee.billable_metric_code in self.billable_metric_codes
        if self.plan_codes:
            return bool(fee.plan_codes & self.plan_codes)
        return True


@dataclass(frozen=True)
class CreditNoteCredit:
    """A finalized, ``available`` credit note of the customer with a remaining credit balance (§6.4)."""

    id: str
    balance_cents: int
    created_at: datetime | None = None
    currency: str | None = None

    def __post_init__(self) -> None:
        _cents(self.balance_cents, f"credit note {self.id} balance_cents")


@dataclass(frozen=True)
class WalletCredit:
    """An active wallet of the customer (§6.4, §8). ``balance_cents`` is its settled balance in money.

    ``fee_types`` / ``billable_metric_codes`` are its ``applies_to`` (both empty: pays every fee).
    ``rate_amount`` (major units per credit) is only needed to report the consumption in credits.
    """

    id: str
    balance_cents: int
    priority: int = 50
    created_at: datetime | None = None
    fee_types: frozenset[str] = frozenset()
    billable_metric_codes: frozenset[str] = frozenset()
    currency: str | None = None
    rate_amount: Decimal | None = None

    def __post_init__(self) -> None:
        _cents(self.balance_cents, f"wallet {self.id} balance_cents")
        if isinstance(self.priority, bool) or not isinstance(self.priority, int):
            raise TypeError(f"wallet {self.id}: priority must be an int")
        object.__setattr__(self, "fee_types", frozenset(self.fee_types))
        object.__setattr__(self, "billable_metric_codes", frozenset(self.billable_metric_codes))
        unknown = self.fee_types - FEE_TYPES
        if unknown:
            raise ValueError(f"wallet {self.id}: unknown fee types {sorted(unknown)}")
        if self.rate_amount is not None and _exact(self.rate_amount, "rate_amount") <= 0:
            raise ValueError(f"wallet {self.id}: rate_amount must be positive")

    def pays(self, bucket: tuple[str, str | None]) -> bool:
        """Whether this wallet may pay the (fee type, metric) bucket: metric targets OR fee types (§6.4)."""
        if not self.fee_types and not self.billable_metric_codes:
            return True
        fee_type, metric = bucket
        if fee_type == "charge" and metric is not None and metric in self.billable_metric_codes:
            return True
        return fee_type in self.fee_types


# --------------------------------------------------------------------------------------------------------------
# Outputs
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FeeAppliedTax:
    """One tax on one fee: ``amount_cents = round(precise_amount_cents)``."""

    tax_code: str
    tax_rate: Decimal
    amount_cents: int
    precise_amount_cents: Decimal


@dataclass(frozen=True)
class FeeResult:
    """A fee after step 2–5 (§6.1–6.4).

    ``precise_coupons_amount_cents`` is Lago's column of that name: coupon shares **plus** the progressive-billing
    credit share (the latter also alone in ``precise_progressive_billing_credit_amount_cents``).
    ``sub_total_excluding_taxes_amount_cents`` = amount − that; taxes are computed on it.
    """

    id: str
    fee_type: str
    amount_cents: int
    precise_progressive_billing_credit_amount_cents: Decimal
    precise_coupons_amount_cents: Decimal
    sub_total_excluding_taxes_amount_cents: Decimal
    taxes_precise_amount_cents: Decimal
    taxes_amount_cents: int
    taxes_rate: Decimal
    applied_taxes: tuple[FeeAppliedTax, ...]
    precise_credit_notes_amount_cents: Decimal

    @property
    def total_amount_cents(self) -> int:
        return self.amount_cents + self.taxes_amount_cents


@dataclass(frozen=True)
class AppliedTaxResult:
    """One tax code on the invoice: ``amount_cents = round(Σ_fees tax)``; ``fees_amount_cents`` is its taxable base."""

    tax_code: str
    tax_rate: Decimal
    amount_cents: int
    precise_amount_cents: Decimal
    fees_amount_cents: int
    precise_fees_amount_cents: Decimal


@dataclass(frozen=True)
class ProgressiveBillingCreditResult:
    id: str | None
    requested_amount_cents: int
    amount_cents: int  # what the invoice deducts
    excess_amount_cents: int  # requested − applied: to be credited back on the progressive invoice


@dataclass(frozen=True)
class CouponResult:
    """What one applied coupon did on this invoice, and what to write back on it (§6.2 lifecycle).

    ``applied``: a credit line (possibly of 0, as in Lago) exists for it; only then update the applied coupon:
    set ``terminated`` / ``frequency_duration_remaining`` / ``remaining_amount_cents`` (once fixed). When not
    applied, ``skipped_reason`` says why and the other fields echo the input.
    """

    id: str
    applied: bool
    amount_cents: int
    base_amount_cents: Decimal
    terminated: bool
    frequency_duration_remaining: int | None
    remaining_amount_cents: int | None
    skipped_reason: str | None = None


@dataclass(frozen=True)
class CreditNoteConsumption:
    id: str
    amount_cents: int
    balance_cents: int  # remaining balance after this invoice

    @property
    def consumed(self) -> bool:
        """``credit_status`` becomes ``consumed`` (balance 0)."""
        return self.balance_cents == 0


@dataclass(frozen=True)
class WalletConsumption:
    """One wallet's ``invoiced`` outbound transaction (none when ``amount_cents`` is 0)."""

    id: str
    amount_cents: int
    balance_cents: int  # money balance after this invoice
    credits: Decimal | None  # amount in credits (needs ``rate_amount``), rounded half-up to 5 dp
    precise_bucket_amounts: Mapping[tuple[str, str | None], Decimal] = field(default_factory=dict)


@dataclass(frozen=True)
class InvoiceTotals:
    currency: str
    fees_amount_cents: int
    progressive_billing_credit_amount_cents: int
    coupons_amount_cents: int
    sub_total_excluding_taxes_amount_cents: int
    taxes_amount_cents: int
    taxes_precise_amount_cents: Decimal
    taxes_rate: Decimal
    sub_total_including_taxes_amount_cents: int
    credit_notes_amount_cents: int
    prepaid_credit_amount_cents: int
    total_amount_cents: int
    fees: tuple[FeeResult, ...]
    applied_taxes: tuple[AppliedTaxResult, ...]
    progressive_billing_credits: tuple[ProgressiveBillingCreditResult, ...]
    coupons: tuple[CouponResult, ...]
    credit_notes: tuple[CreditNoteConsumption, ...]
    wallets: tuple[WalletConsumption, ...]

    @property
    def payment_status(self) -> str:
        """``pending`` when something is left to pay, else ``succeeded`` (§6.1 step 7)."""
        return "pending" if self.total_amount_cents > 0 else "succeeded"

    def fee(self, fee_id: str) -> FeeResult:
        for fee in self.fees:
            if fee.id == fee_id:
                return fee
        raise KeyError(fee_id)

    def coupon(self, coupon_id: str) -> CouponResult:
        for coupon in self.coupons:
            if coupon.id == coupon_id:
                return coupon
        raise KeyError(coupon_id)


# --------------------------------------------------------------------------------------------------------------
# Invoice totals (§6)
# --------------------------------------------------------------------------------------------------------------


class _FeeState:
    __slots__ = ("coupons", "credit_notes", "fee", "pb", "taxes", "taxes_amount")

    def __init__(self, fee: FeeLine) -> None:
        self.fee = fee
        self.pb = Fraction(0)
        self.coupons = Fraction(0)
        self.credit_notes = Fraction(0)
        self.taxes: list[tuple[str, Decimal, Fraction]] = []
        self.taxes_amount = 0

    @property
    def discounts(self) -> Fraction:
        return self.pb + self.coupons

    @property
    def remaining(self) -> Fraction:
        """``fee.amount − fee.precise_coupons`` (coupons incl. progressive-billing credit)."""
        return self.fee.amount_cents - self.discounts

    @property
    def taxes_precise(self) -> Fraction:
        return sum((tax for _, _, tax in self.taxes), Fraction(0))


def _allocate_before_taxes(states: Sequence[_FeeState], credit: int, base: Fraction, *, kind: str) -> None:
    """Spread a before-tax credit over fees: share = credit × (amount − coupons) / base, capped at the fee."""
    if base <= 0 or credit == 0:
        return
    shares = [(state, credit * state.remaining / base) for state in states]
    for state, share in shares:
        if kind == "pb":
            state.pb += share
        else:
            state.coupons += share
        overflow = state.discounts - state.fee.amount_cents
        if overflow > 0:  # Lago's cap; unreachable while credit <= base
            if kind == "pb":
                state.pb -= overflow
            else:
                state.coupons -= overflow


def _normalize_pb_credits(
    value: int | Sequence[ProgressiveBillingCredit],
) -> tuple[ProgressiveBillingCredit, ...]:
    if isinstance(value, bool):
        raise TypeError(
            "progressive_billing_credit_cents must be an int or a sequence of ProgressiveBillingCredit"
        )
    if isinstance(value, int):
        _cents(value, "progressive_billing_credit_cents")
        return (ProgressiveBillingCredit(amount_cents=value),) if value else ()
    credits = tuple(value)
    for credit in credits:
        if not isinstance(credit, ProgressiveBillingCredit):
            raise TypeError("progressive billing credits must be ProgressiveBillingCredit instances")
    return credits


def _coupon_unapplied(coupon: CouponToApply, reason: str) -> CouponResult:
    return CouponResult(
        id=coupon.id,
        applied=False,
        amount_cents=0,
        base_amount_cents=Decimal(0),
        terminated=False,
        frequency_duration_remaining=coupon.frequency_duration_remaining,
        remaining_amount_cents=_once_fixed_remaining(coupon),
        skipped_reason=reason,
    )


def _once_fixed_remaining(coupon: CouponToApply) -> int | None:
    if coupon.coupon_type != "fixed_amount" or coupon.frequency != "once":
        return None
    return coupon.amount_cents if coupon.remaining_amount_cents is None else coupon.remaining_amount_cents


def _apply_coupon(coupon: CouponToApply, eligible: Sequence[_FeeState]) -> CouponResult:
    base = sum((state.remaining for state in eligible), Fraction(0))
    # Never discount more than the eligible fees still carry: floor(base) is base itself whenever it is whole,
    # and keeps the credit an integer that the fee shares add up to exactly when it is not.
    ceiling = math.floor(base)
    if coupon.coupon_type == "percentage":
        candidate = _round_half_up(base * Fraction(coupon.percentage_rate) / _HUNDRED)
    elif coupon.frequency == "once":
        candidate = _once_fixed_remaining(coupon)
    else:
        candidate = coupon.amount_cents
    credit = max(min(candidate, ceiling), 0)
    _allocate_before_taxes(eligible, credit, base, kind="coupon")

    frequency_remaining = coupon.frequency_duration_remaining
    remaining_amount = _once_fixed_remaining(coupon)
    if coupon.frequency == "forever":
        terminated = False
    elif coupon.frequency == "once":
        if coupon.coupon_type == "percentage":
            terminated = True
        else:
            terminated = credit >= remaining_amount
            remaining_amount -= credit
    else:
        frequency_remaining = max(frequency_remaining - 1, 0)
        terminated = frequency_remaining <= 0
    return CouponResult(
        id=coupon.id,
        applied=True,
        amount_cents=credit,
        base_amount_cents=_to_decimal(base),
        terminated=terminated,
        frequency_duration_remaining=frequency_remaining,
        remaining_amount_cents=remaining_amount,
    )


def compute_invoice_totals(
    *,
    currency: str,
    fees: Sequence[FeeLine],
    coupons: Sequence[CouponToApply] = (),
    credit_notes: Sequence[CreditNoteCredit] = (),
    wallets: Sequence[WalletCredit] = (),
    progressive_billing_credit_cents: int | Sequence[ProgressiveBillingCredit] = 0,
    apply_coupons: bool = True,
) -> InvoiceTotals:
    """Compute an invoice from its fees, in §6.1's order.

    ``progressive_billing_credit_cents``: an int (one credit over every charge fee) or ``ProgressiveBillingCredit``
    entries. ``apply_coupons=False`` for drafts (§6.1 step 3); a draft also gets no credit notes nor wallets —
    pass none. Credit notes and wallets in another currency (when given one) are left untouched.
    """
    _check_currency(currency)
    fees = tuple(fees)
    for fee in fees:
        if not isinstance(fee, FeeLine):
            raise TypeError("fees must be FeeLine instances")
    states = [_FeeState(fee) for fee in fees]
    by_id: dict[str, _FeeState] = {}
    for state in states:
        if state.fee.id in by_id:
            raise ValueError(f"fee id {state.fee.id!r} appears twice")
        by_id[state.fee.id] = state
    tax_rates: dict[str, Decimal] = {}
    for fee in fees:
        for code, rate in fee.taxes:
            if tax_rates.setdefault(code, rate) != rate:
                raise ValueError(f"tax {code!r} has two rates on one invoice ({tax_rates[code]} and {rate})")

    fees_amount = sum(fee.amount_cents for fee in fees)
    sub_total = fees_amount  # sub_total_excluding_taxes, integer at every step

    # Step 2 — progressive-billing credit, allocated like a coupon.
    pb_results: list[ProgressiveBillingCreditResult] = []
    pb_amount = 0
    for credit in _normalize_pb_credits(progressive_billing_credit_cents):
        if credit.fee_ids is None:
            targets = [state for state in states if state.fee.fee_type == "charge"]
        else:
            unknown = credit.fee_ids - by_id.keys()
            if unknown:
                raise ValueError(f"progressive billing credit targets unknown fees {sorted(unknown)}")
            targets = [state for state in states if state.fee.id in credit.fee_ids]
        base = sum((state.remaining for state in targets), Fraction(0))
        applied = max(min(credit.amount_cents, math.floor(base)), 0)
        _allocate_before_taxes(targets, applied, base, kind="pb")
        pb_amount += applied
        sub_total -= applied
        pb_results.append(
            ProgressiveBillingCreditResult(
                id=credit.id,
                requested_amount_cents=credit.amount_cents,
                amount_cents=applied,
                excess_amount_cents=credit.amount_cents - applied,
            )
        )

    # Step 3 — coupons: metric-limited, then plan-limited, then unrestricted; oldest first within each.
    coupon_results: list[CouponResult] = []
    coupons_amount = 0
    ordered = sorted(
        _checked(coupons, CouponToApply, "coupons"), key=lambda c: _sort_key(c.limitation_rank, c.created_at)
    )
    for coupon in ordered:
        if not apply_coupons:
            coupon_results.append(_coupon_unapplied(coupon, "coupons_not_applied"))
            continue
        if sub_total <= 0:
            coupon_results.append(_coupon_unapplied(coupon, "sub_total_is_zero"))
            continue
        if coupon.coupon_type == "fixed_amount" and coupon.currency != currency:
            coupon_results.append(_coupon_unapplied(coupon, "currency_mismatch"))
            continue
        eligible = [state for state in states if coupon.is_eligible(state.fee)]
        if not eligible:
            coupon_results.append(_coupon_unapplied(coupon, "no_eligible_fees"))
            continue
        result = _apply_coupon(coupon, eligible)
        coupons_amount += result.amount_cents
        sub_total -= result.amount_cents
        coupon_results.append(result)

    # Step 4 — taxes per fee on amount − coupons.
    invoice_tax = Fraction(0)
    per_code_tax: dict[str, Fraction] = {}
    per_code_base: dict[str, Fraction] = {}
    per_code_count: dict[str, int] = {}
    for state in states:
        base = state.remaining
        for code, rate in state.fee.taxes:
            tax = base * Fraction(rate) / _HUNDRED
            state.taxes.append((code, rate, tax))
            per_code_tax[code] = per_code_tax.get(code, Fraction(0)) + tax
            per_code_base[code] = per_code_base.get(code, Fraction(0)) + base
            per_code_count[code] = per_code_count.get(code, 0) + 1
            invoice_tax += tax
        state.taxes_amount = _round_half_up(state.taxes_precise)
    taxes_amount = _round_half_up(invoice_tax)
    if sub_total > 0:
        rate_fraction = sum(
            (Fraction(tax_rates[code]) * per_code_base[code] / sub_total for code in per_code_tax),
            Fraction(0),
        )
    elif states:  # zero sub-total: pro rata of the number of fees bearing each tax (Lago)
        rate_fraction = sum(
            (Fraction(tax_rates[code]) * per_code_count[code] / len(states) for code in per_code_tax),
            Fraction(0),
        )
    else:
        rate_fraction = Fraction(0)
    sub_total_including = sub_total + taxes_amount

    # Step 5 — credit notes, oldest first, after taxes.
    cn_results: list[CreditNoteConsumption] = []
    credit_notes_amount = 0
    remaining = sub_total_including
    ordered_notes = sorted(
        _checked(credit_notes, CreditNoteCredit, "credit_notes"), key=lambda n: _sort_key(0, n.created_at)
    )
    for note in ordered_notes:
        amount = 0
        if remaining > 0 and (note.currency is None or note.currency == currency):
            amount = min(note.balance_cents, remaining)
        if amount > 0:
            for state in states:
                after_tax = state.remaining + state.taxes_amount
                state.credit_notes += amount * (after_tax - state.credit_notes) / remaining
                state.credit_notes = min(state.credit_notes, after_tax)
            remaining -= amount
            credit_notes_amount += amount
        cn_results.append(
            CreditNoteConsumption(id=note.id, amount_cents=amount, balance_cents=note.balance_cents - amount)
        )

    # Step 6 — prepaid credits, only when something is left to pay.
    wallet_results = _apply_wallets(currency, states, wallets, remaining)
    prepaid_amount = sum(result.amount_cents for result in wallet_results)
    total = sub_total_including - credit_notes_amount - prepaid_amount

    fee_results = tuple(
        FeeResult(
            id=state.fee.id,
            fee_type=state.fee.fee_type,
            amount_cents=state.fee.amount_cents,
            precise_progressive_billing_credit_amount_cents=_to_decimal(state.pb),
            precise_coupons_amount_cents=_to_decimal(state.discounts),
            sub_total_excluding_taxes_amount_cents=_to_decimal(state.remaining),
            taxes_precise_amount_cents=_to_decimal(state.taxes_precise),
            taxes_amount_cents=state.taxes_amount,
            taxes_rate=sum((rate for _, rate in state.fee.taxes), Decimal(0)),
            applied_taxes=tuple(
                FeeAppliedTax(
                    tax_code=code,
                    tax_rate=rate,
                    amount_cents=_round_half_up(tax),
                    precise_amount_cents=_to_decimal(tax),
                )
                for code, rate, tax in state.taxes
            ),
            precise_credit_notes_amount_cents=_to_decimal(state.credit_notes),
        )
        for state in states
    )
    applied_taxes = tuple(
        AppliedTaxResult(
            tax_code=code,
            tax_rate=tax_rates[code],
            amount_cents=_round_half_up(per_code_tax[code]),
            precise_amount_cents=_to_decimal(per_code_tax[code]),
            fees_amount_cents=_round_half_up(per_code_base[code]),
            precise_fees_amount_cents=_to_decimal(per_code_base[code]),
        )
        for code in per_code_tax
    )
    return InvoiceTotals(
        currency=currency,
        fees_amount_cents=fees_amount,
        progressive_billing_credit_amount_cents=pb_amount,
        coupons_amount_cents=coupons_amount,
        sub_total_excluding_taxes_amount_cents=sub_total,
        taxes_amount_cents=taxes_amount,
        taxes_precise_amount_cents=_to_decimal(invoice_tax),
        taxes_rate=_to_decimal(rate_fraction, TAXES_RATE_PLACES),
        sub_total_including_taxes_amount_cents=sub_total_including,
        credit_notes_amount_cents=credit_notes_amount,
        prepaid_credit_amount_cents=prepaid_amount,
        total_amount_cents=total,
        fees=fee_results,
        applied_taxes=applied_taxes,
        progressive_billing_credits=tuple(pb_results),
        coupons=tuple(coupon_results),
        credit_notes=tuple(cn_results),
        wallets=wallet_results,
    )


def _wallet_buckets(states: Sequence[_FeeState], total: int) -> dict[tuple[str, str | None], Fraction]:
    """Per (fee type, metric) bucket: Σ (amount − coupons + precise taxes − credit-note share), largest first."""
    buckets: dict[tuple[str, str | None], Fraction] = {}
    for state in states:
        if state.remaining == 0:
            continue
        cap = state.remaining + state.taxes_precise - state.credit_notes
        if cap <= 0:
            continue
        key = state.fee.wallet_bucket
        buckets[key] = buckets.get(key, Fraction(0)) + cap
    ordered = dict(sorted(buckets.items(), key=lambda item: -item[1]))  # stable: first seen wins ties
    # Lago's reconciliation: precise caps may fall short of the rounded total by up to a cent per bucket; the
    # largest bucket absorbs the difference so an unrestricted wallet can still pay the whole total.
    if ordered:
        difference = total - sum(ordered.values(), Fraction(0))
        if 0 < difference <= len(ordered):
            largest = next(iter(ordered))
            ordered[largest] += difference
    return ordered


def _apply_wallets(
    currency: str, states: Sequence[_FeeState], wallets: Sequence[WalletCredit], total: int
) -> tuple[WalletConsumption, ...]:
    ordered_wallets = sorted(
        _checked(wallets, WalletCredit, "wallets"),
        key=lambda w: (w.priority, *_sort_key(0, w.created_at)[1:]),
    )
    buckets = _wallet_buckets(states, total) if total > 0 else {}
    remaining_invoice = total
    results: list[WalletConsumption] = []
    for wallet in ordered_wallets:
        used = Fraction(0)
        taken: dict[tuple[str, str | None], Fraction] = {}
        usable = remaining_invoice > 0 and wallet.balance_cents > 0
        if wallet.currency is not None and wallet.currency != currency:
            usable = False
        if usable:
            for key, cap in buckets.items():
                if cap <= 0 or not wallet.pays(key):
                    continue
                take = min(cap, wallet.balance_cents - used, remaining_invoice - used)
                if take <= 0:
                    break
                buckets[key] = cap - take
                taken[key] = taken.get(key, Fraction(0)) + take
                used += take
        # Σ takes <= min(balance, remaining invoice), both whole: the rounded amount stays within them.
        amount = _round_half_up(used)
        remaining_invoice -= amount
        credits = None
        if wallet.rate_amount is not None:
            credits = wallet_cents_to_credits(
                amount_cents=amount, rate_amount=wallet.rate_amount, currency=currency
            )
        results.append(
            WalletConsumption(
                id=wallet.id,
                amount_cents=amount,
                balance_cents=wallet.balance_cents - amount,
                credits=credits,
                precise_bucket_amounts={key: _to_decimal(value) for key, value in taken.items()},
            )
        )
    return tuple(results)


# --------------------------------------------------------------------------------------------------------------
# Wallet credits ↔ money (§8)
# --------------------------------------------------------------------------------------------------------------


def wallet_credits_to_cents(*, credits: Decimal, rate_amount: Decimal, currency: str) -> int:
    """Money of ``credits``: ``round(credits × rate_amount, exponent)`` in minor units (§8)."""
    _check_currency(currency)
    value = _exact(credits, "credits") * _exact(rate_amount, "rate_amount") * subunit_to_unit(currency)
    return _round_half_up(value)


def wallet_cents_to_credits(*, amount_cents: int, rate_amount: Decimal, currency: str) -> Decimal:
    """Credits worth ``amount_cents``: ``amount / subunit / rate_amount``, rounded half-up to 5 decimals (§8)."""
    _check_currency(currency)
    rate = _exact(rate_amount, "rate_amount")
    if rate <= 0:
        raise ValueError("rate_amount must be positive")
    if isinstance(amount_cents, bool) or not isinstance(amount_cents, int):
        raise TypeError("amount_cents must be an int")
    exponent = currency_exponent(currency)
    return _to_decimal(Fraction(amount_cents, 10**exponent) / rate, CREDITS_PLACES)


# --------------------------------------------------------------------------------------------------------------
# Credit notes (§7)
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CreditNoteFee:
    """The invoice fee a credit-note item credits: its rounded amount, Lago's ``precise_coupons_amount_cents``
    (coupons + progressive-billing credit share) and its applied taxes ``[(code, rate)]``."""

    id: str
    amount_cents: int
    precise_coupons_amount_cents: Decimal | int = 0
    taxes: TaxRates = ()

    def __post_init__(self) -> None:
        _cents(self.amount_cents, f"fee {self.id} amount_cents")
        coupons = _exact(self.precise_coupons_amount_cents, f"fee {self.id} precise_coupons_amount_cents")
        if not 0 <= coupons <= self.amount_cents:
            raise ValueError(f"fee {self.id}: precise_coupons_amount_cents must lie in [0, amount_cents]")
        object.__setattr__(self, "taxes", _normalize_taxes(self.taxes, f"fee {self.id}"))


@dataclass(frozen=True)
class CreditNoteItem:
    """``amount_cents`` credited on ``fee``, excluding taxes; may be precise (a Decimal)."""

    fee: CreditNoteFee
    amount_cents: int | Decimal

    def __post_init__(self) -> None:
        if _exact(self.amount_cents, "item amount_cents") < 0:
            raise ValueError("a credit note item amount must not be negative")


@dataclass(frozen=True)
class CreditNoteItemResult:
    fee_id: str
    amount_cents: int
    precise_amount_cents: Decimal
    precise_coupons_adjustment_amount_cents: Decimal


@dataclass(frozen=True)
class CreditNoteAppliedTax:
    tax_code: str
    tax_rate: Decimal
    base_amount_cents: int
    amount_cents: int
    precise_amount_cents: Decimal


@dataclass(frozen=True)
class CreditNoteTotals:
    """A credit note's amounts (§7).

    ``expected_total_amount_cents`` = round(items − coupons + taxes): what the requested
    ``credit + refund + offset`` must match ±1 (``amounts_match``; else 422 ``does_not_match_item_amounts``).
    ``max_creditable_amount_cents`` = sub_total + taxes: the estimate's figure and the total after the rounding
    fix. When the amounts match, ``total/credit/refund/offset_amount_cents`` are the requested ones after the
    rounding fix (``rounding_adjustment_cents`` added to credit, else refund, else offset); otherwise they echo
    the request unchanged.
    """

    items: tuple[CreditNoteItemResult, ...]
    precise_coupons_adjustment_amount_cents: Decimal
    coupons_adjustment_amount_cents: int
    sub_total_excluding_taxes_amount_cents: int
    precise_taxes_amount_cents: Decimal
    taxes_amount_cents: int
    taxes_rate: Decimal
    applied_taxes: tuple[CreditNoteAppliedTax, ...]
    precise_total_amount_cents: Decimal
    expected_total_amount_cents: int
    max_creditable_amount_cents: int
    requested_total_amount_cents: int
    amounts_match: bool
    rounding_adjustment_cents: int
    total_amount_cents: int
    credit_amount_cents: int
    refund_amount_cents: int
    offset_amount_cents: int

    @property
    def balance_amount_cents(self) -> int:
        """The credit left to use on later invoices: the credited part."""
        return self.credit_amount_cents

    @property
    def taxes_rounding_adjustment(self) -> Decimal:
        """``taxes_amount − precise_taxes``: summed over earlier notes when a note credits all that remains."""
        return Decimal(self.taxes_amount_cents) - self.precise_taxes_amount_cents


def _normalize_items(items: Iterable[Any]) -> tuple[CreditNoteItem, ...]:
    result = []
    for item in items:
        if isinstance(item, CreditNoteItem):
            result.append(item)
        else:
            fee, amount = item
            result.append(CreditNoteItem(fee=fee, amount_cents=amount))
    return tuple(result)


def compute_credit_note(
    *,
    items: Sequence[CreditNoteItem | tuple[CreditNoteFee, int | Decimal]],
    credit_amount_cents: int = 0,
    refund_amount_cents: int = 0,
    offset_amount_cents: int = 0,
    coupons_before_taxes: bool = True,
    taxable_ratios: Mapping[str, Decimal] | None = None,
    prior_taxes_rounding_adjustment: Decimal | int = 0,
) -> CreditNoteTotals:
    """Amounts of a credit note on an invoice (§7).

    * ``coupons_adjustment = Σ item × fee.precise_coupons / fee.amount`` (0 for invoices older than coupons
      before taxes: ``coupons_before_taxes=False``);
    * ``sub_total_excluding_taxes = round(Σ items − coupons_adjustment)``;
    * per tax (code, rate): ``base = Σ (item − its coupon share) × taxable ratio`` (``taxable_ratios[code]``,
      default 1), ``tax = base × rate / 100``; ``taxes_amount = round(Σ precise taxes − prior adjustment)``;
    * ``prior_taxes_rounding_adjustment``: Σ ``taxes_rounding_adjustment`` of the invoice's earlier credit notes,
      to pass only when this note credits everything still creditable on the invoice (else 0);
    * rounding fix: ``total = sub_total + taxes`` (see ``CreditNoteTotals``).

    Limits that need the invoice's history (remaining per fee, paid, already refunded) are the caller's; see
    ``fee_remaining_creditable_amount_cents`` and ``max_refundable_amount_cents``.
    """
    normalized = _normalize_items(items)
    requested = {}
    for name, value in (
        ("credit_amount_cents", credit_amount_cents),
        ("refund_amount_cents", refund_amount_cents),
        ("offset_amount_cents", offset_amount_cents),
    ):
        requested[name] = _cents(value, name)
    ratios = {
        code: _exact(ratio, f"taxable ratio of {code}") for code, ratio in (taxable_ratios or {}).items()
    }
    prior_adjustment = _exact(prior_taxes_rounding_adjustment, "prior_taxes_rounding_adjustment")

    item_results = []
    items_total = Fraction(0)
    coupons_adjustment = Fraction(0)
    tax_bases: dict[tuple[str, Decimal], Fraction] = {}
    for item in normalized:
        amount = Fraction(item.amount_cents)
        fee = item.fee
        share = Fraction(0)
        if coupons_before_taxes and fee.amount_cents:
            share = amount * Fraction(fee.precise_coupons_amount_cents) / fee.amount_cents
        items_total += amount
        coupons_adjustment += share
        for code, rate in fee.taxes:
            key = (code, rate)
            tax_bases[key] = tax_bases.get(key, Fraction(0)) + amount - share
        item_results.append(
            CreditNoteItemResult(
                fee_id=fee.id,
                amount_cents=_round_half_up(amount),
                precise_amount_cents=_to_decimal(amount),
                precise_coupons_adjustment_amount_cents=_to_decimal(share),
            )
        )

    net_items = items_total - coupons_adjustment
    applied_taxes = []
    precise_taxes = Fraction(0)
    rate_fraction = Fraction(0)
    for (code, rate), raw_base in tax_bases.items():
        base = raw_base * ratios.get(code, Fraction(1))
        tax = base * Fraction(rate) / _HUNDRED
        precise_taxes += tax
        if net_items:
            rate_fraction += raw_base / net_items * Fraction(rate)
        applied_taxes.append(
            CreditNoteAppliedTax(
                tax_code=code,
                tax_rate=rate,
                base_amount_cents=_round_half_up(base),
                amount_cents=_round_half_up(tax),
                precise_amount_cents=_to_decimal(tax),
            )
        )
    precise_taxes -= prior_adjustment
    taxes_amount = _round_half_up(precise_taxes)
    sub_total = _round_half_up(net_items)
    precise_total = net_items + precise_taxes
    expected_total = _round_half_up(precise_total)
    max_creditable = sub_total + taxes_amount

    credit = requested["credit_amount_cents"]
    refund = requested["refund_amount_cents"]
    offset = requested["offset_amount_cents"]
    requested_total = credit + refund + offset
    amounts_match = abs(requested_total - expected_total) <= 1
    adjustment = 0
    if amounts_match and requested_total != max_creditable:
        adjustment = max_creditable - requested_total
        credit, refund, offset = _spread_adjustment(adjustment, credit, refund, offset)

    return CreditNoteTotals(
        items=tuple(item_results),
        precise_coupons_adjustment_amount_cents=_to_decimal(coupons_adjustment),
        coupons_adjustment_amount_cents=_round_half_up(coupons_adjustment),
        sub_total_excluding_taxes_amount_cents=sub_total,
        precise_taxes_amount_cents=_to_decimal(precise_taxes),
        taxes_amount_cents=taxes_amount,
        taxes_rate=_to_decimal(rate_fraction, TAXES_RATE_PLACES),
        applied_taxes=tuple(applied_taxes),
        precise_total_amount_cents=_to_decimal(precise_total),
        expected_total_amount_cents=expected_total,
        max_creditable_amount_cents=max_creditable,
        requested_total_amount_cents=requested_total,
        amounts_match=amounts_match,
        rounding_adjustment_cents=adjustment,
        total_amount_cents=credit + refund + offset,
        credit_amount_cents=credit,
        refund_amount_cents=refund,
        offset_amount_cents=offset,
    )


def _spread_adjustment(adjustment: int, credit: int, refund: int, offset: int) -> tuple[int, int, int]:
    """Add the rounding fix to the credit part, else the refund part, else the offset part (never below 0)."""
    parts = [credit, refund, offset]
    if adjustment > 0:
        index = next((i for i, part in enumerate(parts) if part > 0), 0)
        parts[index] += adjustment
    else:
        left = -adjustment
        for i, part in enumerate(parts):
            take = min(part, left)
            parts[i] -= take
            left -= take
    return parts[0], parts[1], parts[2]


def fee_remaining_creditable_amount_cents(
    *, fee_amount_cents: int, credited_amount_cents: int | Decimal
) -> Decimal:
    """What a fee can still be credited, excluding taxes: ``fee.amount − Σ earlier items`` (never < 0) (§7)."""
    _cents(fee_amount_cents, "fee_amount_cents")
    remaining = Fraction(fee_amount_cents) - _exact(credited_amount_cents, "credited_amount_cents")
    return _to_decimal(max(remaining, Fraction(0)))


def max_refundable_amount_cents(
    *, max_creditable_amount_cents: int, total_paid_amount_cents: int, refunded_amount_cents: int = 0
) -> int:
    """The estimate's ``max_refundable_amount_cents = min(creditable, paid − already refunded)``, never < 0 (§7)."""
    for name, value in (
        ("max_creditable_amount_cents", max_creditable_amount_cents),
        ("total_paid_amount_cents", total_paid_amount_cents),
        ("refunded_amount_cents", refunded_amount_cents),
    ):
        _cents(value, name)
    return max(min(max_creditable_amount_cents, total_paid_amount_cents - refunded_amount_cents), 0)
