"""Day-based proration of base fees, credits, commitments and charge minimums (billing-semantics.md §3.9,
§4.3–4.5, §4.7, §5).

Every proration is ``amount × days / full_period_days`` computed exactly in ``Decimal`` and rounded half-up
once (``config.money.round_cents``). Lago multiplies a float day price and rounds the double, which can turn an
exact ``.5`` into the cent below; Tollbooth deliberately does not reproduce that (§0).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, localcontext
from fractions import Fraction
from zoneinfo import ZoneInfo

from billing.periods import BillingPeriod, billed_days, local_date, local_day_start
from config.money import round_cents

__all__ = [
    "ProratedAmount",
    "base_fee_amount_cents",
    "base_fee_for_billing_period",
    "base_fee_for_window",
    "charge_minimum_true_up_cents",
    "commitment_proration_coefficient",
    "commitment_true_up_cents",
    "first_period_base_fee",
    "prorate",
    "prorated_charge_minimum",
    "prorated_commitment_cents",
    "termination_base_fee",
    "termination_credit_amount",
    "trial_end_base_fee",
    "unused_days_for_credit",
    "upgrade_new_plan_base_fee",
]

# Ample for exactness: amount × days has < 25 digits, and a quotient by n ≤ 10**6 that is not an exact
# half-integer lies at least 1/(2n) from one, far above the 10**-30 error left by 60 significant digits.
_PRECISION = 60


def _check_amount(value: int | Decimal, name: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise TypeError(f"{name} must be an int or a Decimal, not {type(value).__name__}")
    return Decimal(value)


def _check_days(days: int, full_period_days: int) -> None:
    for name, value in (("days", days), ("full_period_days", full_period_days)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{name} must be an int")
    if full_period_days <= 0:
        raise ValueError("full_period_days must be positive")
    if not 0 <= days <= full_period_days:
        raise ValueError(f"days must lie in [0, {full_period_days}], got {days}")


def _precise(amount: Decimal, days: int, full_period_days: int) -> Decimal:
    with localcontext() as ctx:
        ctx.prec = _PRECISION
        return amount * days / full_period_days


@dataclass(frozen=True)
class ProratedAmount:
    """A prorated amount: the rounded ``amount_cents`` and the exact ``precise_amount_cents`` it came from."""

    amount_cents: int
    precise_amount_cents: Decimal
    days: int
    full_period_days: int


def prorate(*, amount_cents: int | Decimal, days: int, full_period_days: int) -> ProratedAmount:
    """``amount_cents × days / full_period_days``, exact, rounded half-up to a whole minor unit."""
    _check_days(days, full_period_days)
    precise = _precise(_check_amount(amount_cents, "amount_cents"), days, full_period_days)
    return ProratedAmount(round_cents(precise), precise, days, full_period_days)


def base_fee_amount_cents(*, amount_cents: int, days: int, full_period_days: int) -> int:
    """Base fee for ``days`` of a ``full_period_days`` period (§5): ``round_half_up(amount × days / full)``."""
    return prorate(amount_cents=amount_cents, days=days, full_period_days=full_period_days).amount_cents


def _zero(full_period_days: int) -> ProratedAmount:
    _check_days(0, full_period_days)
    return ProratedAmount(0, Decimal(0), 0, full_period_days)


def base_fee_for_window(
    *,
    amount_cents: int,
    from_datetime: datetime,
    to_datetime: datetime,
    full_period_days: int,
    timezone: str | ZoneInfo,
    ended_by_upgrade: bool = False,
    trial_end: datetime | None = None,
) -> ProratedAmount:
    """Base fee for the window ``from_datetime → to_datetime`` of a period of ``full_period_days``.

    The part inside the trial is free (§4.3): nothing if the trial ends at or after ``to_datetime``, else the
    window starts at ``trial_end`` when the trial ends inside it. Days are ``days_between`` (one less when the
    subscription ended by an upgrade, §5).
    """
    start = from_datetime
    if trial_end is not None:
        if trial_end >= to_datetime:
            return _zero(full_period_days)
        start = max(start, trial_end)
    days = billed_days(start, to_datetime, timezone, ended_by_upgrade=ended_by_upgrade)
    return prorate(amount_cents=amount_cents, days=days, full_period_days=full_period_days)


def base_fee_for_billing_period(
    *,
    amount_cents: int,
    period: BillingPeriod,
    ended_by_upgrade: bool = False,
    trial_end: datetime | None = None,
) -> ProratedAmount:
    """Base fee of a ``BillingPeriod``: full amount for a whole period, prorated for a clamped one."""
    return base_fee_for_window(
        amount_cents=amount_cents,
        from_datetime=period.from_datetime,
        to_datetime=period.to_datetime,
        full_period_days=period.full_period_days,
        timezone=period.timezone,
        ended_by_upgrade=ended_by_upgrade,
        trial_end=trial_end,
    )


def first_period_base_fee(
    *,
    amount_cents: int,
    started_at: datetime,
    period_end: datetime,
    full_period_days: int,
    timezone: str | ZoneInfo,
    trial_end: datetime | None = None,
) -> ProratedAmount:
    """First (partial) period: ``days(local day start of started_at, period_end)`` (§5, calendar start)."""
    return base_fee_for_window(
        amount_cents=amount_cents,
        from_datetime=local_day_start(local_date(started_at, timezone), timezone),
        to_datetime=period_end,
        full_period_days=full_period_days,
        timezone=timezone,
        trial_end=trial_end,
    )


def trial_end_base_fee(
    *,
    amount_cents: int,
    trial_end: datetime,
    period_end: datetime,
    full_period_days: int,
    timezone: str | ZoneInfo,
) -> ProratedAmount:
    """Pay-in-advance base fee invoiced at trial end: ``days(trial_end, period_end)`` (§4.3)."""
    return base_fee_for_window(
        amount_cents=amount_cents,
        from_datetime=trial_end,
        to_datetime=period_end,
        full_period_days=full_period_days,
        timezone=timezone,
    )


def termination_base_fee(
    *,
    amount_cents: int,
    from_datetime: datetime,
    terminated_at: datetime,
    full_period_days: int,
    timezone: str | ZoneInfo,
    upgrade: bool = False,
    trial_end: datetime | None = None,
) -> ProratedAmount:
    """Final in-arrears base fee: ``days(from_datetime, terminated_at)``, termination day counted; one day
    less when the termination is an upgrade (the upgrade day is billed on the new plan) (§4.4, §5).
    """
    return base_fee_for_window(
        amount_cents=amount_cents,
        from_datetime=from_datetime,
        to_datetime=terminated_at,
        full_period_days=full_period_days,
        timezone=timezone,
        ended_by_upgrade=upgrade,
        trial_end=trial_end,
    )


def upgrade_new_plan_base_fee(
    *,
    amount_cents: int,
    upgraded_at: datetime,
    period_end: datetime,
    full_period_days: int,
    timezone: str | ZoneInfo,
    trial_end: datetime | None = None,
) -> ProratedAmount:
    """New plan's base fee after an upgrade: ``days(upgrade day 00:00, period_end)`` (§4.4, §5)."""
    return first_period_base_fee(
        amount_cents=amount_cents,
        started_at=upgraded_at,
        period_end=period_end,
        full_period_days=full_period_days,
        timezone=timezone,
        trial_end=trial_end,
    )


def unused_days_for_credit(
    *,
    period_end: datetime,
    terminated_at: datetime,
    timezone: str | ZoneInfo,
    upgrade: bool = False,
    trial_end: datetime | None = None,
) -> int:
    """Unused days of a pay-in-advance period, counted on local calendar dates (§4.4, §4.5).

    Termination: ``period_end − termination_day`` (the termination day counts as used). Upgrade:
    ``period_end − upgrade_day + 1`` (the upgrade day is credited back and billed on the new plan). Days inside
    a trial were never billed: when the trial ends on or after that day the count starts at the trial-end day
    (all of the post-trial part), and is 0 if the trial outlasts the period (Lago ``CreateFromTermination``).
    """
    end_day = local_date(period_end, timezone)
    used_through = local_date(terminated_at, timezone)
    if upgrade:
        used_through -= timedelta(days=1)
    if trial_end is not None:
        trial_end_day = local_date(trial_end, timezone)
        if trial_end_day >= used_through:
            if trial_end_day > end_day:
                return 0
            used_through = trial_end_day - timedelta(days=1)
    return max((end_day - used_through).days, 0)


def termination_credit_amount(
    *,
    amount_cents: int,
    unused_days: int,
    full_period_days: int,
    fee_amount_cents: int,
    already_credited_cents: int | Decimal = 0,
) -> Decimal:
    """Precise credit-note item for the unused days of a pay-in-advance base fee (§4.5).

    ``min(unused_days × amount / full_period_days, fee amount) − items already credited on that fee``, never
    negative; unrounded, since the credit note removes the coupon share and adds taxes before rounding (§7).
    """
    value = prorate(amount_cents=amount_cents, days=unused_days, full_period_days=full_period_days)
    capped = min(value.precise_amount_cents, _check_amount(fee_amount_cents, "fee_amount_cents"))
    remaining = capped - _check_amount(already_credited_cents, "already_credited_cents")
    return max(remaining, Decimal(0))


def commitment_proration_coefficient(*, days: int, full_period_days: int) -> Fraction:
    """``days covered / full period days`` of a minimum commitment (§4.7), exact."""
    _check_days(days, full_period_days)
    return Fraction(days, full_period_days)


def prorated_commitment_cents(*, commitment_amount_cents: int, days: int, full_period_days: int) -> int:
    """Commitment for the covered days, rounded half-up to cents (§4.7)."""
    return base_fee_amount_cents(
        amount_cents=commitment_amount_cents, days=days, full_period_days=full_period_days
    )


def commitment_true_up_cents(
    *, commitment_amount_cents: int, fees_amount_cents: int, days: int, full_period_days: int
) -> int:
    """Commitment true-up fee: prorated commitment − Σ fees of the commitment period, or 0 (§4.7)."""
    prorated = prorated_commitment_cents(
        commitment_amount_cents=commitment_amount_cents, days=days, full_period_days=full_period_days
    )
    return max(prorated - fees_amount_cents, 0)


def prorated_charge_minimum(*, min_amount_cents: int, days: int, charges_full_period_days: int) -> Decimal:
    """``min_amount_cents / charges_duration_days × days`` (§3.9), unrounded."""
    return prorate(
        amount_cents=min_amount_cents, days=days, full_period_days=charges_full_period_days
    ).precise_amount_cents


def charge_minimum_true_up_cents(
    *, min_amount_cents: int, fees_amount_cents: int | Decimal, days: int, charges_full_period_days: int
) -> int:
    """True-up fee of a charge minimum: ``round(prorated_min − Σ fees)`` when Σ fees is below it, else 0 (§3.9).

    ``days`` is the charges window's ``billed_days`` (one less when the subscription ended by an upgrade).
    """
    prorated = prorated_charge_minimum(
        min_amount_cents=min_amount_cents, days=days, charges_full_period_days=charges_full_period_days
    )
    fees = _check_amount(fees_amount_cents, "fees_amount_cents")
    if fees >= prorated:
        return 0
    return round_cents(prorated - fees)
