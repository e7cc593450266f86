"""Billing periods and day counting (billing-semantics.md §0, §4.1–4.5, §5).

Pure standard-library code: no Django, no ORM, no float.

Model
-----
* A period is a run of whole **local** calendar days in the customer's applicable timezone. It starts at
  local ``00:00:00`` of its first day and ends one second before local ``00:00:00`` of the day after its last
  day (normally local ``23:59:59``). Every datetime returned here is timezone-aware **UTC** with second
  precision, so consecutive periods tile time exactly: ``next.start == previous.end + 1 s``.
* ``calendar`` periods: weekly Monday–Sunday; monthly from the 1st; quarterly from Jan/Apr/Jul/Oct 1st;
  semiannual from Jan/Jul 1st; yearly from Jan 1st.
* ``anniversary`` periods start on the local day-of-month (and month, for quarterly/semiannual/yearly) of
  ``subscription_at``; weekly ones on its weekday. In a month too short for that day the period starts on the
  month's last day, and the previous period ends the day before. The anniversary is re-derived from
  ``subscription_at`` for every period, so a short month never drags the following periods.
* ``days_between`` is Lago's ``Utils::Datetime.date_diff_with_timezone``: the local wall-clock difference,
  ceiled to whole days, with one second added when ``to`` is exactly local midnight; ``00:00 → 23:59:59`` of
  the same local days counts every day once, whatever DST does in between (two DST refinements over Lago:
  see ``days_between``).
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import NamedTuple
from zoneinfo import ZoneInfo

__all__ = [
    "BillingPeriod",
    "BillingTime",
    "Interval",
    "PeriodBounds",
    "billed_days",
    "billing_instants_between",
    "billing_period_for_invoice",
    "bills_base_fee_on",
    "calendar_days_inclusive",
    "charges_interval",
    "current_billing_period",
    "days_between",
    "full_period_days",
    "local_date",
    "local_day_end",
    "local_day_start",
    "next_billing_instant",
    "period_containing",
    "period_dates_containing",
    "resolve_timezone",
    "trial_end_datetime",
]

ONE_SECOND = timedelta(seconds=1)
ONE_DAY = timedelta(days=1)
_MICROSECONDS_PER_DAY = 86_400 * 1_000_000
_UTC_ZONE = ZoneInfo("UTC")


class Interval(StrEnum):
    WEEKLY = "weekly"
    MONTHLY = "monthly"
    QUARTERLY = "quarterly"
    SEMIANNUAL = "semiannual"
    YEARLY = "yearly"

    @property
    def months(self) -> int | None:
        """Length in months (``None`` for weekly)."""
        return _INTERVAL_MONTHS.get(self)


_INTERVAL_MONTHS = {
    Interval.MONTHLY: 1,
    Interval.QUARTERLY: 3,
    Interval.SEMIANNUAL: 6,
    Interval.YEARLY: 12,
}


class BillingTime(StrEnum):
    CALENDAR = "calendar"
    ANNIVERSARY = "anniversary"


class PeriodBounds(NamedTuple):
    """First and last second of a period, both UTC and inclusive (second precision).

    Timestamps with sub-second precision belong to the period when ``start <= t < end + 1 s`` (``contains``);
    ``t <= end`` would drop the last fraction of a second.
    """

    start: datetime
    end: datetime

    def contains(self, instant: datetime) -> bool:
        return self.start <= _aware(instant, "instant") < self.end + ONE_SECOND


# --------------------------------------------------------------------------------------------------------
# Timezones and local days
# --------------------------------------------------------------------------------------------------------


def resolve_timezone(customer_tz: str | ZoneInfo | None, organization_tz: str | ZoneInfo | None) -> ZoneInfo:
    """The applicable timezone: customer's, else organization's, else UTC (§0). Unknown names raise."""
    for candidate in (customer_tz, organization_tz):
        if isinstance(candidate, ZoneInfo):
            return candidate
        if candidate:
            return ZoneInfo(candidate)
    return _UTC_ZONE


def _zone(tz: str | ZoneInfo) -> ZoneInfo:
    if isinstance(tz, ZoneInfo):
        return tz
    if not tz:
        raise ValueError("a timezone is required (use resolve_timezone)")
    return ZoneInfo(tz)


def _aware(value: datetime, name: str) -> datetime:
    """``value`` as UTC; refuses naive datetimes."""
    if not isinstance(value, datetime):
        raise TypeError(f"{name} must be a datetime, not {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware")
    return value.astimezone(UTC)


def _whole_second(value: datetime) -> datetime:
    return value.replace(microsecond=0)


def local_date(instant: datetime, timezone: str | ZoneInfo) -> date:
    """The calendar date of ``instant`` in ``timezone``."""
    return _aware(instant, "instant").astimezone(_zone(timezone)).date()


def local_day_start(day: date, timezone: str | ZoneInfo) -> datetime:
    """The first instant (UTC) of local ``day``.

    ``fold=0`` resolves a local midnight skipped by DST to the transition instant itself (the day's first
    existing second) and a repeated one to its first occurrence.
    """
    return datetime.combine(day, time(0), tzinfo=_zone(timezone)).astimezone(UTC)


def local_day_end(day: date, timezone: str | ZoneInfo) -> datetime:
    """The last second (UTC) of local ``day``: one second before the next local day starts."""
    return local_day_start(day + ONE_DAY, timezone) - ONE_SECOND


def _anchor_date(subscription_at: datetime | date | None, tz: ZoneInfo) -> date | None:
    if subscription_at is None or (
        isinstance(subscription_at, date) and not isinstance(subscription_at, datetime)
    ):
        return subscription_at
    return local_date(subscription_at, tz)


# --------------------------------------------------------------------------------------------------------
# Day counting
# --------------------------------------------------------------------------------------------------------


def days_between(from_dt: datetime, to_dt: datetime, timezone: str | ZoneInfo) -> int:
    """Days billed from ``from_dt`` to ``to_dt`` (§0; Lago ``date_diff_with_timezone``).

    ``ceil((to − from + DST offset change) / 1 day)``, with ``to`` moved one second later when it is exactly
    local midnight (the first instant of its local day). Local ``00:00:00`` of day A → local ``23:59:59`` of
    day B gives ``B − A + 1``. Naive-local subtraction is the same as Lago's offset correction, except that a
    day whose midnight is skipped by DST still starts at a nominal 00:00 (Lago would count that first day's
    missing hour against it), and a non-empty window inside an hour repeated by DST counts 1 day, not 0.
    """
    tz = _zone(timezone)
    start = _aware(from_dt, "from_dt")
    end = _aware(to_dt, "to_dt")
    if end < start:
        raise ValueError(f"to_dt {end.isoformat()} is before from_dt {start.isoformat()}")
    if end == _first_instant_of_local_day(end, tz):
        end += ONE_SECOND
    wall_clock = _wall_clock(end, tz) - _wall_clock(start, tz)
    microseconds = wall_clock // timedelta(microseconds=1)
    if microseconds <= 0:
        # Only inside an hour repeated by DST can a later instant read an earlier (or equal) local time.
        return 1 if end > start else 0
    return -(-microseconds // _MICROSECONDS_PER_DAY)


def _first_instant_of_local_day(instant: datetime, tz: ZoneInfo) -> datetime:
    return local_day_start(instant.astimezone(tz).date(), tz)


def _wall_clock(instant: datetime, tz: ZoneInfo) -> datetime:
    """Naive local reading of ``instant``: UTC difference + offset change = Lago's offset-corrected difference.

    The first instant of a local day reads ``00:00`` even where DST skips local midnight (the clock shows
    ``01:00`` then; America/Santiago, Africa/Cairo, America/Havana…), so such a day still counts as a whole day.
    """
    local = instant.astimezone(tz)
    if instant == local_day_start(local.date(), tz):
        return datetime.combine(local.date(), time(0))
    return local.replace(tzinfo=None)


def billed_days(
    from_dt: datetime, to_dt: datetime, timezone: str | ZoneInfo, *, ended_by_upgrade: bool = False
) -> int:
    """``days_between``, one day less (never below 0) when the subscription ended by an upgrade.

    Lago's ``Subscription#date_diff_with_timezone``: the upgrade day is billed on the new plan (§3.9, §5).
    """
    days = days_between(from_dt, to_dt, timezone)
    return max(days - 1, 0) if ended_by_upgrade else days


def calendar_days_inclusive(from_dt: datetime, to_dt: datetime, timezone: str | ZoneInfo) -> int:
    """Local calendar dates touched from ``from_dt`` to ``to_dt``, both ends included (§3.11, §4.8)."""
    first = local_date(from_dt, timezone)
    last = local_date(to_dt, timezone)
    if last < first:
        raise ValueError("to_dt falls on an earlier local date than from_dt")
    return (last - first).days + 1


def trial_end_datetime(first_started_at: datetime, trial_period_days: int | Decimal) -> datetime:
    """``first started_at of the external_id + trial_period days`` (§4.3), exact 24-hour days."""
    if isinstance(trial_period_days, float):
        raise TypeError("trial_period_days must be an int or a Decimal, not a float")
    seconds = Decimal(trial_period_days) * 86_400
    return _aware(first_started_at, "first_started_at") + timedelta(seconds=int(seconds))


# --------------------------------------------------------------------------------------------------------
# Period arithmetic on local dates
# --------------------------------------------------------------------------------------------------------


def _cycle_start(month_index: int, anchor_day: int) -> date:
    """Start date of the cycle opening in ``month_index`` (year*12 + month-1), clamped to the month's end."""
    year, month0 = divmod(month_index, 12)
    month = month0 + 1
    return date(year, month, min(anchor_day, calendar.monthrange(year, month)[1]))


def period_dates_containing(
    day: date,
    *,
    interval: Interval | str,
    billing_time: BillingTime | str,
    anchor: date | None = None,
) -> tuple[date, date]:
    """First and last local date of the period containing local ``day``.

    ``anchor`` is the local date of ``subscription_at``; required for anniversary billing, ignored for
    calendar billing.
    """
    interval = Interval(interval)
    billing_time = BillingTime(billing_time)
    if billing_time is BillingTime.ANNIVERSARY and anchor is None:
        raise ValueError("anniversary billing needs subscription_at")

    if interval is Interval.WEEKLY:
        first_weekday = 0 if billing_time is BillingTime.CALENDAR else anchor.weekday()
        start = day - timedelta(days=(day.weekday() - first_weekday) % 7)
        return start, start + timedelta(days=6)

    months = interval.months
    if billing_time is BillingTime.CALENDAR:
        anchor_month_index, anchor_day = 0, 1  # January, 1st: aligns months, quarters, halves and years
    else:
        anchor_month_index, anchor_day = anchor.year * 12 + anchor.month - 1, anchor.day

    day_index = day.year * 12 + day.month - 1
    cycle = day_index - (day_index - anchor_month_index) % months
    start = _cycle_start(cycle, anchor_day)
    if start > day:  # in a cycle month but before its anniversary day: still the previous period
        cycle -= months
        start = _cycle_start(cycle, anchor_day)
    end = _cycle_start(cycle + months, anchor_day) - ONE_DAY
    return start, end


def charges_interval(interval: Interval | str, bill_charges_monthly: bool = False) -> Interval:
    """Interval of the usage (charges) periods: monthly for yearly/semiannual plans billing charges monthly.

    ``bill_charges_monthly`` is ignored for other intervals, as Lago does.
    """
    interval = Interval(interval)
    if bill_charges_monthly and interval in (Interval.YEARLY, Interval.SEMIANNUAL):
        return Interval.MONTHLY
    return interval


# --------------------------------------------------------------------------------------------------------
# Periods as UTC instants
# --------------------------------------------------------------------------------------------------------


def period_containing(
    instant: datetime,
    *,
    interval: Interval | str,
    billing_time: BillingTime | str,
    subscription_at: datetime | date | None,
    timezone: str | ZoneInfo,
) -> PeriodBounds:
    """The whole (unclamped) period containing ``instant``: local 00:00:00 of its first day → its last second."""
    tz = _zone(timezone)
    start, end = period_dates_containing(
        local_date(instant, tz),
        interval=interval,
        billing_time=billing_time,
        anchor=_anchor_date(subscription_at, tz),
    )
    return PeriodBounds(local_day_start(start, tz), local_day_end(end, tz))


def full_period_days(
    instant: datetime | date,
    *,
    interval: Interval | str,
    billing_time: BillingTime | str,
    subscription_at: datetime | date | None,
    timezone: str | ZoneInfo,
) -> int:
    """Length in days of the whole period containing ``instant`` (a UTC instant or a local date) (§5).

    Months 28–31, quarters 89–92, half-years 181–184, years 365/366 (anniversary years counted from their own
    first to last day), weeks 7.
    """
    tz = _zone(timezone)
    day = instant if not isinstance(instant, datetime) else local_date(instant, tz)
    start, end = period_dates_containing(
        day, interval=interval, billing_time=billing_time, anchor=_anchor_date(subscription_at, tz)
    )
    return (end - start).days + 1


@dataclass(frozen=True)
class BillingPeriod:
    """What one invoice (or the current usage) of one subscription covers.

    ``from_datetime``/``to_datetime`` bound the base fee, ``charges_from_datetime``/``charges_to_datetime`` the
    usage; all UTC, inclusive, second precision. The ``*_period_*_date`` fields are the local first/last dates of
    the whole, unclamped periods that contain them: proration divides by their length.
    """

    from_datetime: datetime
    to_datetime: datetime
    charges_from_datetime: datetime
    charges_to_datetime: datetime
    timezone: ZoneInfo
    period_start_date: date
    period_end_date: date
    charges_period_start_date: date
    charges_period_end_date: date

    @property
    def full_period_days(self) -> int:
        """Length of the whole base-fee period (denominator of the base-fee proration, §5)."""
        return (self.period_end_date - self.period_start_date).days + 1

    @property
    def charges_full_period_days(self) -> int:
        """Length of the whole usage period (denominator of the charge-minimum proration, §3.9)."""
        return (self.charges_period_end_date - self.charges_period_start_date).days + 1

    @property
    def charges_until(self) -> datetime:
        """Exclusive upper bound of the usage window for event queries: ``charges_to_datetime + 1 s``.

        Select events with ``charges_from_datetime <= timestamp < charges_until`` so that sub-second timestamps
        in the window's last second are not lost.
        """
        return self.charges_to_datetime + ONE_SECOND

    @property
    def billing_day(self) -> date:
        """Local date the usage period becomes billable: the first day of the next (charges) period."""
        return self.charges_period_end_date + ONE_DAY

    @property
    def billing_instant(self) -> datetime:
        """Local 00:00 of ``billing_day``, in UTC."""
        return local_day_start(self.billing_day, self.timezone)

    def base_fee_days(self, *, ended_by_upgrade: bool = False) -> int:
        """Days billed for the base fee, ``from_datetime`` → ``to_datetime``."""
        return billed_days(
            self.from_datetime, self.to_datetime, self.timezone, ended_by_upgrade=ended_by_upgrade
        )

    def charges_days(self, *, ended_by_upgrade: bool = False) -> int:
        """Days of the usage window (numerator of the charge-minimum proration, §3.9)."""
        return billed_days(
            self.charges_from_datetime,
            self.charges_to_datetime,
            self.timezone,
            ended_by_upgrade=ended_by_upgrade,
        )


def _build_period(
    *,
    base_day: date,
    charges_day: date,
    interval: Interval,
    billing_time: BillingTime,
    anchor: date | None,
    started_at: datetime,
    terminated_at: datetime | None,
    tz: ZoneInfo,
    bill_charges_monthly: bool,
) -> BillingPeriod:
    base_start, base_end = period_dates_containing(
        base_day, interval=interval, billing_time=billing_time, anchor=anchor
    )
    charges_start, charges_end = period_dates_containing(
        charges_day,
        interval=charges_interval(interval, bill_charges_monthly),
        billing_time=billing_time,
        anchor=anchor,
    )
    started = _whole_second(started_at)

    from_dt = max(local_day_start(base_start, tz), local_day_start(started.astimezone(tz).date(), tz))
    to_dt = local_day_end(base_end, tz)
    charges_from = max(local_day_start(charges_start, tz), started)
    charges_to = local_day_end(charges_end, tz)
    if terminated_at is not None:
        terminated = _whole_second(terminated_at)
        to_dt = min(to_dt, terminated)
        charges_to = min(charges_to, terminated)
    to_dt = max(to_dt, started)
    charges_to = max(charges_to, charges_from)

    return BillingPeriod(
        from_datetime=from_dt,
        to_datetime=to_dt,
        charges_from_datetime=charges_from,
        charges_to_datetime=charges_to,
        timezone=tz,
        period_start_date=base_start,
        period_end_date=base_end,
        charges_period_start_date=charges_start,
        charges_period_end_date=charges_end,
    )


def current_billing_period(
    *,
    instant: datetime,
    interval: Interval | str,
    billing_time: BillingTime | str,
    subscription_at: datetime | date | None,
    started_at: datetime,
    terminated_at: datetime | None = None,
    timezone: str | ZoneInfo,
    bill_charges_monthly: bool = False,
) -> BillingPeriod:
    """The in-progress period at ``instant`` (current usage, subscription start, termination).

    Base fee from ``max(period start, local day start of started_at)``; charges from
    ``max(period start, started_at)``; both ends clamped to ``terminated_at``. For a terminated subscription
    ``instant`` is capped at ``terminated_at`` (the last period). The start-of-subscription invoice of a
    pay-in-advance plan is ``current_billing_period(instant=started_at, ...)``.
    """
    tz = _zone(timezone)
    interval = Interval(interval)
    billing_time = BillingTime(billing_time)
    at = _aware(instant, "instant")
    started = _aware(started_at, "started_at")
    terminated = None if terminated_at is None else _aware(terminated_at, "terminated_at")
    if terminated is not None:
        if terminated < started:
            raise ValueError("terminated_at is before started_at")
        at = min(at, terminated)
    if at < started:
        raise ValueError("the subscription has not started at this instant")
    day = at.astimezone(tz).date()
    return _build_period(
        base_day=day,
        charges_day=day,
        interval=interval,
        billing_time=billing_time,
        anchor=_anchor_date(subscription_at, tz),
        started_at=started,
        terminated_at=terminated,
        tz=tz,
        bill_charges_monthly=bill_charges_monthly,
    )


def _billing_day(
    billing_instant: datetime,
    *,
    interval: Interval,
    billing_time: BillingTime,
    anchor: date | None,
    tz: ZoneInfo,
    bill_charges_monthly: bool,
) -> date:
    day = local_date(billing_instant, tz)
    start, _ = period_dates_containing(
        day,
        interval=charges_interval(interval, bill_charges_monthly),
        billing_time=billing_time,
        anchor=anchor,
    )
    if start != day:
        raise ValueError(
            f"{day.isoformat()} is not a billing day of this subscription (period starts {start})"
        )
    return day


def bills_base_fee_on(
    billing_instant: datetime,
    *,
    interval: Interval | str,
    billing_time: BillingTime | str,
    subscription_at: datetime | date | None,
    timezone: str | ZoneInfo,
) -> bool:
    """Whether the local day of ``billing_instant`` starts a base-fee period.

    Always true on billing days, except the monthly charge-only runs of yearly/semiannual plans with
    ``bill_charges_monthly``.
    """
    tz = _zone(timezone)
    day = local_date(billing_instant, tz)
    start, _ = period_dates_containing(
        day, interval=interval, billing_time=billing_time, anchor=_anchor_date(subscription_at, tz)
    )
    return start == day


def billing_period_for_invoice(
    *,
    billing_instant: datetime,
    interval: Interval | str,
    billing_time: BillingTime | str,
    subscription_at: datetime | date | None,
    started_at: datetime,
    terminated_at: datetime | None = None,
    timezone: str | ZoneInfo,
    plan_pay_in_advance: bool,
    bill_charges_monthly: bool = False,
) -> BillingPeriod:
    """The periods billed by the periodic invoice issued on the local day of ``billing_instant`` (§4.1).

    That day must be a billing day (first local day of a usage period). Charges always cover the elapsed
    usage period. The base fee covers the elapsed period for in-arrears plans and the period starting that day
    for pay-in-advance plans. Whether the base fee is billed at all on that day: ``bills_base_fee_on``.
    A subscription terminated before the billing day has no periodic invoice there (its last invoice is built
    from ``current_billing_period(instant=terminated_at)``): ``ValueError``.
    """
    tz = _zone(timezone)
    interval = Interval(interval)
    billing_time = BillingTime(billing_time)
    anchor = _anchor_date(subscription_at, tz)
    day = _billing_day(
        billing_instant,
        interval=interval,
        billing_time=billing_time,
        anchor=anchor,
        tz=tz,
        bill_charges_monthly=bill_charges_monthly,
    )
    day_start = local_day_start(day, tz)
    started = _aware(started_at, "started_at")
    if started >= day_start:
        raise ValueError("the subscription started on or after this billing day: nothing elapsed to bill")
    terminated = None if terminated_at is None else _aware(terminated_at, "terminated_at")
    if terminated is not None and terminated < day_start:
        raise ValueError("the subscription was terminated before this billing day")

    elapsed_day = day - ONE_DAY
    return _build_period(
        base_day=day if plan_pay_in_advance else elapsed_day,
        charges_day=elapsed_day,
        interval=interval,
        billing_time=billing_time,
        anchor=anchor,
        started_at=started,
        terminated_at=terminated,
        tz=tz,
        bill_charges_monthly=bill_charges_monthly,
    )


def next_billing_instant(
    instant: datetime,
    *,
    interval: Interval | str,
    billing_time: BillingTime | str,
    subscription_at: datetime | date | None,
    timezone: str | ZoneInfo,
    bill_charges_monthly: bool = False,
) -> datetime:
    """Local 00:00 (as UTC) of the first day after the usage period containing ``instant``.

    That is when the period in progress at ``instant`` becomes billable; always strictly after ``instant``.
    """
    tz = _zone(timezone)
    _, end = period_dates_containing(
        local_date(instant, tz),
        interval=charges_interval(interval, bill_charges_monthly),
        billing_time=billing_time,
        anchor=_anchor_date(subscription_at, tz),
    )
    return local_day_start(end + ONE_DAY, tz)


def billing_instants_between(
    after: datetime,
    until: datetime,
    *,
    interval: Interval | str,
    billing_time: BillingTime | str,
    subscription_at: datetime | date | None,
    timezone: str | ZoneInfo,
    bill_charges_monthly: bool = False,
) -> list[datetime]:
    """Every billing instant ``t`` with ``after < t <= until``, oldest first (scheduler catch-up)."""
    tz = _zone(timezone)
    limit = _aware(until, "until")
    anchor = _anchor_date(subscription_at, tz)
    instants: list[datetime] = []
    current = next_billing_instant(
        after,
        interval=interval,
        billing_time=billing_time,
        subscription_at=anchor,
        timezone=tz,
        bill_charges_monthly=bill_charges_monthly,
    )
    while current <= limit:
        instants.append(current)
        current = next_billing_instant(
            current,
            interval=interval,
            billing_time=billing_time,
            subscription_at=anchor,
            timezone=tz,
            bill_charges_monthly=bill_charges_monthly,
        )
    return instants
