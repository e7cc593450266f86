"""Billing periods and day counting (billing-semantics.md §0, §4.1–4.5, §5)."""

from __future__ import annotations

import calendar
import itertools
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from billing.periods import (
    BillingPeriod,
    BillingTime,
    Interval,
    PeriodBounds,
    billed_days,
    billing_instants_between,
    billing_period_for_invoice,
    bills_base_fee_on,
    calendar_days_inclusive,
    charges_interval,
    current_billing_period,
    days_between,
    full_period_days,
    local_date,
    local_day_end,
    local_day_start,
    next_billing_instant,
    period_containing,
    period_dates_containing,
    resolve_timezone,
    trial_end_datetime,
)

SECOND = timedelta(seconds=1)
ZONES = [
    "UTC",
    "America/New_York",
    "Europe/Paris",
    "Asia/Kolkata",
    "Pacific/Auckland",
    "Australia/Lord_Howe",
    "America/Santiago",  # DST switches at local midnight
    "America/Havana",  # DST switches at local midnight, both ways
]
DAY_RANGES = {
    Interval.WEEKLY: (7, 7),
    Interval.MONTHLY: (28, 31),
    Interval.QUARTERLY: (89, 92),
    Interval.SEMIANNUAL: (181, 184),
    Interval.YEARLY: (365, 366),
}


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def local(tz: str, *args: int) -> datetime:
    return datetime(*args, tzinfo=ZoneInfo(tz))


def bounds(start: datetime, end: datetime) -> PeriodBounds:
    return PeriodBounds(start, end)


# --------------------------------------------------------------------------------------------------------
# §4.1 Ex 4.1 — boundaries
# --------------------------------------------------------------------------------------------------------


class TestExample41:
    def test_monthly_anniversary_pay_in_advance_first_and_second_invoice(self):
        subscription_at = utc(2023, 6, 29, 12, 12)
        first = current_billing_period(
            instant=subscription_at,
            interval="monthly",
            billing_time="anniversary",
            subscription_at=subscription_at,
            started_at=subscription_at,
            timezone="UTC",
        )
        assert (first.from_datetime, first.to_datetime) == (utc(2023, 6, 29), utc(2023, 7, 28, 23, 59, 59))

        second = billing_period_for_invoice(
            billing_instant=utc(2023, 7, 29),
            interval="monthly",
            billing_time="anniversary",
            subscription_at=subscription_at,
            started_at=subscription_at,
            timezone="UTC",
            plan_pay_in_advance=True,
        )
        assert (second.from_datetime, second.to_datetime) == (utc(2023, 7, 29), utc(2023, 8, 28, 23, 59, 59))
        assert (second.charges_from_datetime, second.charges_to_datetime) == (
            utc(2023, 6, 29, 12, 12),
            utc(2023, 7, 28, 23, 59, 59),
        )

    def test_quarterly_anniversary_from_january_31(self):
        periods = [
            period_containing(
                instant,
                interval="quarterly",
                billing_time="anniversary",
                subscription_at=utc(2022, 1, 31),
                timezone="UTC",
            )
            for instant in (utc(2022, 2, 15), utc(2022, 5, 15), utc(2022, 8, 15))
        ]
        assert periods == [
            bounds(utc(2022, 1, 31), utc(2022, 4, 29, 23, 59, 59)),
            bounds(utc(2022, 4, 30), utc(2022, 7, 30, 23, 59, 59)),
            bounds(utc(2022, 7, 31), utc(2022, 10, 30, 23, 59, 59)),
        ]

    def test_yearly_anniversary_from_february_29(self):
        kwargs = {"interval": "yearly", "billing_time": "anniversary", "subscription_at": utc(2024, 2, 29)}
        assert period_containing(utc(2025, 2, 20), timezone="UTC", **kwargs) == bounds(
            utc(2024, 2, 29), utc(2025, 2, 27, 23, 59, 59)
        )
        assert period_containing(utc(2025, 3, 10), timezone="UTC", **kwargs) == bounds(
            utc(2025, 2, 28), utc(2026, 2, 27, 23, 59, 59)
        )

    def test_monthly_calendar_new_york_march_2024_dst(self):
        period = period_containing(
            utc(2024, 3, 15),
            interval="monthly",
            billing_time="calendar",
            subscription_at=None,
            timezone="America/New_York",
        )
        assert period == bounds(utc(2024, 3, 1, 5), utc(2024, 4, 1, 3, 59, 59))
        assert days_between(*period, "America/New_York") == 31


def test_sub_second_timestamps_belong_to_exactly_one_period():
    kwargs = {"interval": "monthly", "billing_time": "calendar", "subscription_at": None, "timezone": "UTC"}
    late = datetime(2024, 1, 31, 23, 59, 59, 999_999, tzinfo=UTC)
    january = period_containing(late, **kwargs)
    february = period_containing(utc(2024, 2, 1), **kwargs)
    assert january.end == utc(2024, 1, 31, 23, 59, 59)
    assert january.contains(late) and not february.contains(late)
    assert not january.contains(utc(2024, 2, 1)) and february.contains(utc(2024, 2, 1))
    period = current_billing_period(
        instant=late,
        interval="monthly",
        billing_time="calendar",
        subscription_at=None,
        started_at=utc(2024, 1, 1),
        timezone="UTC",
    )
    assert period.charges_from_datetime <= late < period.charges_until == utc(2024, 2, 1)


class TestLagoAnniversaryBoundaryScenario:
    """lago-api spec/scenarios/current_usage/anniversary_period_boundaries_spec.rb."""

    def period_start(self, instant: datetime, interval: str, subscription_at: datetime) -> datetime:
        return period_containing(
            instant,
            interval=interval,
            billing_time="anniversary",
            subscription_at=subscription_at,
            timezone="UTC",
        ).start

    def test_quarterly_month_end_holds_the_quarter(self):
        assert self.period_start(utc(2022, 5, 31), "quarterly", utc(2022, 1, 31)) == utc(2022, 4, 30)
        assert self.period_start(utc(2022, 7, 30), "quarterly", utc(2022, 1, 31)) == utc(2022, 4, 30)
        assert self.period_start(utc(2022, 8, 15), "quarterly", utc(2022, 1, 31)) == utc(2022, 7, 31)

    def test_quarterly_29th_resolved_from_subscription_day(self):
        assert self.period_start(utc(2022, 2, 28), "quarterly", utc(2022, 1, 29)) == utc(2022, 1, 29)

    def test_semiannual_ignores_month_ends_outside_billing_months(self):
        assert self.period_start(utc(2021, 4, 30), "semiannual", utc(2021, 1, 31)) == utc(2021, 1, 31)

    def test_yearly_leap_day_event_on_clamped_day_belongs_to_one_period(self):
        kwargs = {"interval": "yearly", "billing_time": "anniversary", "subscription_at": utc(2024, 2, 29)}
        event = utc(2025, 2, 28, 12)
        opening = period_containing(utc(2025, 3, 10), timezone="UTC", **kwargs)
        closing = period_containing(utc(2025, 2, 20), timezone="UTC", **kwargs)
        assert opening.start <= event <= opening.end
        assert not closing.start <= event <= closing.end


# --------------------------------------------------------------------------------------------------------
# Calendar and anniversary boundaries
# --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("interval", "day", "expected"),
    [
        ("weekly", date(2024, 3, 6), (date(2024, 3, 4), date(2024, 3, 10))),
        ("weekly", date(2024, 3, 4), (date(2024, 3, 4), date(2024, 3, 10))),
        ("weekly", date(2024, 3, 10), (date(2024, 3, 4), date(2024, 3, 10))),
        ("weekly", date(2024, 12, 31), (date(2024, 12, 30), date(2025, 1, 5))),
        ("monthly", date(2024, 2, 10), (date(2024, 2, 1), date(2024, 2, 29))),
        ("monthly", date(2023, 12, 31), (date(2023, 12, 1), date(2023, 12, 31))),
        ("quarterly", date(2024, 5, 20), (date(2024, 4, 1), date(2024, 6, 30))),
        ("quarterly", date(2024, 1, 1), (date(2024, 1, 1), date(2024, 3, 31))),
        ("quarterly", date(2024, 12, 31), (date(2024, 10, 1), date(2024, 12, 31))),
        ("semiannual", date(2024, 6, 30), (date(2024, 1, 1), date(2024, 6, 30))),
        ("semiannual", date(2024, 7, 1), (date(2024, 7, 1), date(2024, 12, 31))),
        ("yearly", date(2024, 7, 1), (date(2024, 1, 1), date(2024, 12, 31))),
    ],
)
def test_calendar_periods(interval, day, expected):
    assert period_dates_containing(day, interval=interval, billing_time="calendar") == expected


@pytest.mark.parametrize(
    ("interval", "anchor", "day", "expected"),
    [
        # weekly on the subscription weekday (2024-03-06 is a Wednesday)
        ("weekly", date(2024, 3, 6), date(2024, 3, 12), (date(2024, 3, 6), date(2024, 3, 12))),
        ("weekly", date(2024, 3, 6), date(2024, 3, 13), (date(2024, 3, 13), date(2024, 3, 19))),
        # monthly, short months start on their last day; later months are not dragged
        ("monthly", date(2023, 1, 31), date(2023, 2, 27), (date(2023, 1, 31), date(2023, 2, 27))),
        ("monthly", date(2023, 1, 31), date(2023, 2, 28), (date(2023, 2, 28), date(2023, 3, 30))),
        ("monthly", date(2023, 1, 31), date(2023, 3, 31), (date(2023, 3, 31), date(2023, 4, 29))),
        ("monthly", date(2023, 1, 31), date(2023, 4, 30), (date(2023, 4, 30), date(2023, 5, 30))),
        ("monthly", date(2024, 1, 30), date(2024, 2, 29), (date(2024, 2, 29), date(2024, 3, 29))),
        ("monthly", date(2023, 6, 29), date(2023, 9, 28), (date(2023, 8, 29), date(2023, 9, 28))),
        # anniversary on the 1st of a non-calendar month
        ("quarterly", date(2024, 2, 1), date(2024, 4, 30), (date(2024, 2, 1), date(2024, 4, 30))),
        # §5: an anniversary quarter covering Feb–Apr of a common year is 89 days
        ("quarterly", date(2023, 2, 15), date(2023, 3, 1), (date(2023, 2, 15), date(2023, 5, 14))),
        ("semiannual", date(2023, 8, 31), date(2024, 1, 15), (date(2023, 8, 31), date(2024, 2, 28))),
        ("semiannual", date(2023, 8, 31), date(2024, 2, 29), (date(2024, 2, 29), date(2024, 8, 30))),
        ("yearly", date(2023, 6, 29), date(2024, 6, 28), (date(2023, 6, 29), date(2024, 6, 28))),
        ("yearly", date(2024, 2, 29), date(2028, 2, 28), (date(2027, 2, 28), date(2028, 2, 28))),
        ("yearly", date(2024, 2, 29), date(2028, 2, 29), (date(2028, 2, 29), date(2029, 2, 27))),
    ],
)
def test_anniversary_periods(interval, anchor, day, expected):
    assert (
        period_dates_containing(day, interval=interval, billing_time="anniversary", anchor=anchor) == expected
    )


def test_anniversary_needs_subscription_at():
    with pytest.raises(ValueError, match="subscription_at"):
        period_dates_containing(date(2024, 1, 1), interval="monthly", billing_time="anniversary")


def test_unknown_interval_and_billing_time_are_rejected():
    with pytest.raises(ValueError):
        period_dates_containing(date(2024, 1, 1), interval="daily", billing_time="calendar")
    with pytest.raises(ValueError):
        period_dates_containing(date(2024, 1, 1), interval="monthly", billing_time="fortnightly")


def test_enums_are_lago_strings():
    assert [i.value for i in Interval] == ["weekly", "monthly", "quarterly", "semiannual", "yearly"]
    assert [b.value for b in BillingTime] == ["calendar", "anniversary"]
    assert Interval("yearly") == "yearly"
    assert Interval.WEEKLY.months is None
    assert Interval.SEMIANNUAL.months == 6


def test_anniversary_anchor_is_the_local_date_of_subscription_at():
    # 2024-01-31 23:30 in New York is already 2024-02-01 UTC: the anniversary is the 31st, in local time.
    subscription_at = local("America/New_York", 2024, 1, 31, 23, 30)
    period = period_containing(
        utc(2024, 3, 15),
        interval="monthly",
        billing_time="anniversary",
        subscription_at=subscription_at,
        timezone="America/New_York",
    )
    assert period.start.astimezone(ZoneInfo("America/New_York")).date() == date(2024, 2, 29)
    assert period.end.astimezone(ZoneInfo("America/New_York")).date() == date(2024, 3, 30)


def test_subscription_at_may_be_a_local_date():
    assert period_containing(
        utc(2024, 3, 15),
        interval="monthly",
        billing_time="anniversary",
        subscription_at=date(2024, 1, 10),
        timezone="UTC",
    ) == bounds(utc(2024, 3, 10), utc(2024, 4, 9, 23, 59, 59))


# --------------------------------------------------------------------------------------------------------
# §5 full period days
# --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("interval", "billing_time", "anchor", "day", "expected"),
    [
        ("weekly", "calendar", None, date(2024, 3, 6), 7),
        ("monthly", "calendar", None, date(2024, 2, 10), 29),
        ("monthly", "calendar", None, date(2023, 2, 10), 28),
        ("monthly", "calendar", None, date(2024, 4, 12), 30),
        ("monthly", "anniversary", date(2023, 6, 29), date(2023, 9, 28), 31),
        ("quarterly", "calendar", None, date(2024, 5, 20), 91),
        ("quarterly", "calendar", None, date(2023, 2, 1), 90),
        ("quarterly", "calendar", None, date(2023, 8, 1), 92),
        ("quarterly", "anniversary", date(2023, 2, 15), date(2023, 3, 1), 89),
        ("quarterly", "anniversary", date(2022, 1, 31), date(2022, 2, 1), 89),
        ("quarterly", "anniversary", date(2024, 4, 15), date(2024, 6, 20), 91),
        ("semiannual", "calendar", None, date(2023, 3, 1), 181),
        ("semiannual", "calendar", None, date(2024, 3, 1), 182),
        ("semiannual", "calendar", None, date(2024, 9, 1), 184),
        ("yearly", "calendar", None, date(2024, 7, 1), 366),
        ("yearly", "calendar", None, date(2023, 7, 1), 365),
        ("yearly", "anniversary", date(2023, 6, 29), date(2023, 9, 28), 366),
        ("yearly", "anniversary", date(2023, 7, 19), date(2023, 11, 19), 366),
        ("yearly", "anniversary", date(2024, 2, 29), date(2024, 3, 1), 365),
        ("yearly", "anniversary", date(2024, 2, 29), date(2027, 3, 1), 366),
        ("yearly", "anniversary", date(2024, 3, 1), date(2025, 3, 1), 365),
        ("yearly", "anniversary", date(2023, 3, 1), date(2023, 3, 1), 366),
    ],
)
def test_full_period_days(interval, billing_time, anchor, day, expected):
    assert (
        full_period_days(
            day, interval=interval, billing_time=billing_time, subscription_at=anchor, timezone="UTC"
        )
        == expected
    )


def test_full_period_days_of_an_instant_uses_its_local_date():
    # 2024-03-01 02:00Z is still February in New York.
    kwargs = {"interval": "monthly", "billing_time": "calendar", "subscription_at": None}
    assert full_period_days(utc(2024, 3, 1, 2), timezone="America/New_York", **kwargs) == 29
    assert full_period_days(utc(2024, 3, 1, 2), timezone="UTC", **kwargs) == 31


# --------------------------------------------------------------------------------------------------------
# §0 day counting
# --------------------------------------------------------------------------------------------------------


class TestDaysBetween:
    def test_inclusive_local_days(self):
        assert days_between(utc(2024, 2, 10), utc(2024, 2, 29, 23, 59, 59), "UTC") == 20
        assert days_between(utc(2024, 3, 1), utc(2024, 3, 1, 23, 59, 59), "UTC") == 1

    def test_partial_day_is_ceiled(self):
        # Ex 5.3: days(05-20 00:00, 06-20 10:00) = ceil(31.42) = 32
        assert days_between(utc(2024, 5, 20), utc(2024, 6, 20, 10), "UTC") == 32
        assert days_between(utc(2024, 4, 1), utc(2024, 4, 12, 15), "UTC") == 12
        assert days_between(utc(2024, 4, 1), utc(2024, 4, 1, 0, 0, 1), "UTC") == 1

    def test_to_exactly_at_local_midnight_gains_a_second(self):
        assert days_between(utc(2022, 12, 1), utc(2022, 12, 18), "UTC") == 18
        assert days_between(utc(2022, 12, 1), utc(2022, 12, 17, 23, 59, 59), "UTC") == 17
        assert days_between(utc(2022, 12, 1), utc(2022, 12, 1), "UTC") == 1
        # Local midnight in Paris is 23:00Z; UTC midnight is not local midnight there.
        assert days_between(utc(2022, 11, 30, 23), utc(2022, 12, 17, 23), "Europe/Paris") == 18
        assert days_between(utc(2022, 11, 30, 23), utc(2022, 12, 18), "Europe/Paris") == 18

    @pytest.mark.parametrize(
        ("tz", "day"),
        [
            ("America/New_York", date(2024, 3, 10)),
            ("America/New_York", date(2024, 11, 3)),
            ("Europe/Paris", date(2024, 3, 31)),
            ("Europe/Paris", date(2024, 10, 27)),
            ("Pacific/Auckland", date(2024, 4, 7)),
            ("Pacific/Auckland", date(2024, 9, 29)),
            ("Australia/Lord_Howe", date(2024, 4, 7)),
            ("Australia/Lord_Howe", date(2024, 10, 6)),
            ("America/Santiago", date(2024, 4, 6)),
            ("America/Santiago", date(2024, 9, 8)),
            ("America/Havana", date(2024, 3, 10)),
            ("America/Havana", date(2024, 11, 3)),
        ],
    )
    def test_dst_transition_day_counts_once(self, tz, day):
        start, end = local_day_start(day, tz), local_day_end(day, tz)
        assert (end + SECOND - start) != timedelta(days=1)  # really a 23/23.5/24.5/25-hour day
        assert days_between(start, end, tz) == 1
        assert days_between(start, end + SECOND, tz) == 2  # the next local midnight counts the next day
        week_start = local_day_start(day - timedelta(days=3), tz)
        week_end = local_day_end(day + timedelta(days=3), tz)
        assert days_between(week_start, week_end, tz) == 7

    def test_midnight_skipped_by_dst_starts_the_day_at_the_transition(self):
        # Chile springs forward at local midnight: 2024-09-08 begins at 01:00 -03 (= 04:00Z).
        start = local_day_start(date(2024, 9, 8), "America/Santiago")
        assert start == utc(2024, 9, 8, 4)
        assert local_day_end(date(2024, 9, 7), "America/Santiago") == utc(2024, 9, 8, 3, 59, 59)

    def test_havana_dst_at_midnight(self):
        # 2024-03-10: local midnight skipped (day starts 01:00 CDT = 05:00Z).
        assert local_day_start(date(2024, 3, 10), "America/Havana") == utc(2024, 3, 10, 5)
        assert days_between(utc(2024, 3, 10, 5), utc(2024, 3, 11, 4), "America/Havana") == 2
        # 2024-11-03: 00:00–00:59 happens twice; the day starts at the first 00:00 (04:00Z).
        assert local_day_start(date(2024, 11, 3), "America/Havana") == utc(2024, 11, 3, 4)
        # the second 00:00 is not midnight, and a window inside the repeated hour still touches one day
        assert days_between(utc(2024, 11, 3, 4), utc(2024, 11, 3, 5), "America/Havana") == 1
        assert days_between(utc(2024, 11, 3, 4, 30), utc(2024, 11, 3, 5, 10), "America/Havana") == 1
        assert days_between(utc(2024, 11, 3, 4, 30), utc(2024, 11, 3, 4, 30), "America/Havana") == 0

    def test_same_tzinfo_local_inputs_are_not_double_corrected(self):
        # Aware datetimes sharing a tzinfo subtract as wall-clock times in Python; the result must not move.
        tz = ZoneInfo("America/New_York")
        from_local = datetime(2024, 3, 1, tzinfo=tz)
        to_local = datetime(2024, 3, 31, 23, 59, 59, tzinfo=tz)
        assert days_between(from_local, to_local, tz) == 31
        assert days_between(from_local.astimezone(UTC), to_local.astimezone(UTC), tz) == 31
        fixed = timezone(timedelta(hours=-5))
        assert days_between(from_local.astimezone(fixed), to_local.astimezone(fixed), tz) == 31

    def test_rejects_reversed_and_naive(self):
        with pytest.raises(ValueError, match="before"):
            days_between(utc(2024, 3, 2), utc(2024, 3, 1), "UTC")
        with pytest.raises(ValueError, match="timezone-aware"):
            days_between(datetime(2024, 3, 1), utc(2024, 3, 2), "UTC")
        with pytest.raises(TypeError):
            days_between(date(2024, 3, 1), utc(2024, 3, 2), "UTC")

    def test_billed_days_upgrade_bills_one_day_less(self):
        assert billed_days(utc(2022, 12, 1), utc(2022, 12, 18), "UTC") == 18
        assert billed_days(utc(2022, 12, 1), utc(2022, 12, 18), "UTC", ended_by_upgrade=True) == 17
        assert billed_days(utc(2022, 12, 1), utc(2022, 12, 1, 10), "UTC", ended_by_upgrade=True) == 0

    def test_calendar_days_inclusive(self):
        # Ex 3.12: seat added 03-10, removed 03-20 → 11 days
        assert calendar_days_inclusive(utc(2024, 3, 10, 15), utc(2024, 3, 20, 1), "UTC") == 11
        assert calendar_days_inclusive(utc(2024, 3, 10, 15), utc(2024, 3, 10, 16), "UTC") == 1
        # 2024-03-11 02:00Z is still 03-10 in New York
        assert calendar_days_inclusive(utc(2024, 3, 10, 15), utc(2024, 3, 11, 2), "America/New_York") == 1
        with pytest.raises(ValueError):
            calendar_days_inclusive(utc(2024, 3, 11), utc(2024, 3, 10), "UTC")


class TestTimezones:
    def test_resolution_order(self):
        assert resolve_timezone("Asia/Kolkata", "Europe/Paris") == ZoneInfo("Asia/Kolkata")
        assert resolve_timezone(None, "Europe/Paris") == ZoneInfo("Europe/Paris")
        assert resolve_timezone("", "Europe/Paris") == ZoneInfo("Europe/Paris")
        assert resolve_timezone(None, None) == ZoneInfo("UTC")
        assert resolve_timezone(ZoneInfo("Pacific/Auckland"), None) == ZoneInfo("Pacific/Auckland")

    def test_unknown_zone_raises(self):
        with pytest.raises(ZoneInfoNotFoundError):
            resolve_timezone("Mars/Olympus", None)

    def test_local_helpers(self):
        assert local_day_start(date(2024, 3, 1), "America/New_York") == utc(2024, 3, 1, 5)
        assert local_day_end(date(2024, 3, 31), "America/New_York") == utc(2024, 4, 1, 3, 59, 59)
        assert local_date(utc(2024, 3, 1, 2), "America/New_York") == date(2024, 2, 29)
        assert local_day_start(date(2024, 3, 1), "UTC").tzinfo is UTC

    def test_trial_end(self):
        assert trial_end_datetime(utc(2024, 3, 5, 12, 12), 10) == utc(2024, 3, 15, 12, 12)
        assert trial_end_datetime(utc(2024, 3, 5, 12, 12), Decimal("0.5")) == utc(2024, 3, 6, 0, 12)
        with pytest.raises(TypeError):
            trial_end_datetime(utc(2024, 3, 5), 1.5)


# --------------------------------------------------------------------------------------------------------
# current_billing_period
# --------------------------------------------------------------------------------------------------------


class TestCurrentBillingPeriod:
    def test_first_period_clamped_to_start(self):
        period = current_billing_period(
            instant=utc(2024, 2, 15),
            interval="monthly",
            billing_time="calendar",
            subscription_at=utc(2024, 2, 10, 9, 30),
            started_at=utc(2024, 2, 10, 9, 30),
            timezone="UTC",
        )
        assert period.from_datetime == utc(2024, 2, 10)
        assert period.to_datetime == utc(2024, 2, 29, 23, 59, 59)
        assert period.charges_from_datetime == utc(2024, 2, 10, 9, 30)
        assert period.charges_to_datetime == utc(2024, 2, 29, 23, 59, 59)
        assert period.full_period_days == 29
        assert period.base_fee_days() == 20
        assert period.billing_day == date(2024, 3, 1)
        assert period.billing_instant == utc(2024, 3, 1)

    def test_start_clamp_uses_local_day(self):
        # started 2024-04-07 02:00Z = 2024-04-06 22:00 in New York: base fee from the local 6th.
        period = current_billing_period(
            instant=utc(2024, 4, 10),
            interval="quarterly",
            billing_time="calendar",
            subscription_at=utc(2024, 4, 7, 2),
            started_at=utc(2024, 4, 7, 2),
            timezone="America/New_York",
        )
        assert period.from_datetime == utc(2024, 4, 6, 4)
        assert period.charges_from_datetime == utc(2024, 4, 7, 2)
        assert period.to_datetime == utc(2024, 7, 1, 3, 59, 59)

    def test_termination_clamps_both_ends_and_caps_the_instant(self):
        period = current_billing_period(
            instant=utc(2024, 5, 3),  # after termination: still the period of the termination
            interval="monthly",
            billing_time="calendar",
            subscription_at=utc(2024, 1, 1),
            started_at=utc(2024, 1, 1),
            terminated_at=utc(2024, 4, 12, 15),
            timezone="UTC",
        )
        assert period.from_datetime == utc(2024, 4, 1)
        assert period.to_datetime == utc(2024, 4, 12, 15)
        assert period.charges_to_datetime == utc(2024, 4, 12, 15)
        assert period.full_period_days == 30
        assert period.base_fee_days() == 12

    def test_second_precision(self):
        period = current_billing_period(
            instant=utc(2024, 4, 20),
            interval="monthly",
            billing_time="calendar",
            subscription_at=utc(2024, 4, 3, 8, 0, 0),
            started_at=datetime(2024, 4, 3, 8, 0, 0, 700_000, tzinfo=UTC),
            terminated_at=datetime(2024, 4, 12, 15, 0, 0, 400_000, tzinfo=UTC),
            timezone="UTC",
        )
        assert period.charges_from_datetime == utc(2024, 4, 3, 8)
        assert period.charges_to_datetime == utc(2024, 4, 12, 15)

    def test_bill_charges_monthly_narrows_the_usage_period(self):
        period = current_billing_period(
            instant=utc(2024, 5, 20),
            interval="yearly",
            billing_time="anniversary",
            subscription_at=utc(2023, 9, 15),
            started_at=utc(2023, 9, 15),
            timezone="UTC",
            bill_charges_monthly=True,
        )
        assert (period.from_datetime, period.to_datetime) == (utc(2023, 9, 15), utc(2024, 9, 14, 23, 59, 59))
        assert (period.charges_from_datetime, period.charges_to_datetime) == (
            utc(2024, 5, 15),
            utc(2024, 6, 14, 23, 59, 59),
        )
        assert period.full_period_days == 366
        assert period.charges_full_period_days == 31
        assert period.billing_day == date(2024, 6, 15)

    def test_bill_charges_monthly_is_ignored_outside_yearly_and_semiannual(self):
        assert charges_interval("quarterly", True) is Interval.QUARTERLY
        assert charges_interval("semiannual", True) is Interval.MONTHLY
        assert charges_interval("yearly", False) is Interval.YEARLY

    def test_rejects_instant_before_start_and_termination_before_start(self):
        kwargs = {
            "interval": "monthly",
            "billing_time": "calendar",
            "subscription_at": None,
            "timezone": "UTC",
        }
        with pytest.raises(ValueError, match="not started"):
            current_billing_period(instant=utc(2024, 1, 1), started_at=utc(2024, 1, 2), **kwargs)
        with pytest.raises(ValueError, match="before started_at"):
            current_billing_period(
                instant=utc(2024, 1, 3), started_at=utc(2024, 1, 2), terminated_at=utc(2024, 1, 1), **kwargs
            )

    def test_result_is_frozen(self):
        period = current_billing_period(
            instant=utc(2024, 1, 3),
            interval="weekly",
            billing_time="calendar",
            subscription_at=None,
            started_at=utc(2024, 1, 1),
            timezone="UTC",
        )
        assert isinstance(period, BillingPeriod)
        with pytest.raises(AttributeError):
            period.from_datetime = utc(2020, 1, 1)  # type: ignore[misc]


# --------------------------------------------------------------------------------------------------------
# billing_period_for_invoice
# --------------------------------------------------------------------------------------------------------


class TestBillingPeriodForInvoice:
    def test_downgrade_scenario_monthly_anniversary_in_advance(self):
        """lago-api spec/scenarios/subscriptions/downgrade_spec.rb: invoices of Aug 19, Sep 19, Oct 19."""
        subscription_at = utc(2023, 7, 19, 12, 12)
        kwargs = {
            "interval": "monthly",
            "billing_time": "anniversary",
            "subscription_at": subscription_at,
            "started_at": subscription_at,
            "timezone": "UTC",
            "plan_pay_in_advance": True,
        }
        expected = [
            (
                utc(2023, 8, 19, 12, 12),
                utc(2023, 8, 19),
                utc(2023, 9, 18, 23, 59, 59),
                utc(2023, 7, 19, 12, 12),
            ),
            (utc(2023, 9, 19, 12, 12), utc(2023, 9, 19), utc(2023, 10, 18, 23, 59, 59), utc(2023, 8, 19)),
            (utc(2023, 10, 19, 12, 12), utc(2023, 10, 19), utc(2023, 11, 18, 23, 59, 59), utc(2023, 9, 19)),
        ]
        for billing_instant, from_dt, to_dt, charges_from in expected:
            period = billing_period_for_invoice(billing_instant=billing_instant, **kwargs)
            assert (period.from_datetime, period.to_datetime) == (from_dt, to_dt)
            assert period.charges_from_datetime == charges_from
            assert period.charges_to_datetime == from_dt - SECOND

    def test_in_arrears_bills_the_elapsed_period(self):
        period = billing_period_for_invoice(
            billing_instant=utc(2024, 3, 1),
            interval="monthly",
            billing_time="calendar",
            subscription_at=utc(2024, 2, 28, 10),
            started_at=utc(2024, 2, 28, 10),
            timezone="UTC",
            plan_pay_in_advance=False,
        )
        assert (period.from_datetime, period.to_datetime) == (utc(2024, 2, 28), utc(2024, 2, 29, 23, 59, 59))
        assert (period.charges_from_datetime, period.charges_to_datetime) == (
            utc(2024, 2, 28, 10),
            utc(2024, 2, 29, 23, 59, 59),
        )
        assert period.full_period_days == 29
        assert period.base_fee_days() == 2

    def test_in_advance_calendar_in_new_york(self):
        period = billing_period_for_invoice(
            billing_instant=utc(2024, 4, 1, 4),  # local midnight of April 1st
            interval="monthly",
            billing_time="calendar",
            subscription_at=utc(2024, 1, 10),
            started_at=utc(2024, 1, 10),
            timezone="America/New_York",
            plan_pay_in_advance=True,
        )
        assert (period.from_datetime, period.to_datetime) == (utc(2024, 4, 1, 4), utc(2024, 5, 1, 3, 59, 59))
        assert (period.charges_from_datetime, period.charges_to_datetime) == (
            utc(2024, 3, 1, 5),
            utc(2024, 4, 1, 3, 59, 59),
        )
        assert period.full_period_days == 30
        assert period.charges_full_period_days == 31

    @pytest.mark.parametrize("pay_in_advance", [False, True])
    def test_yearly_with_monthly_charges(self, pay_in_advance):
        kwargs = {
            "interval": "yearly",
            "billing_time": "calendar",
            "subscription_at": utc(2023, 3, 10),
            "started_at": utc(2023, 3, 10),
            "timezone": "UTC",
            "plan_pay_in_advance": pay_in_advance,
            "bill_charges_monthly": True,
        }
        mid_year = billing_period_for_invoice(billing_instant=utc(2024, 6, 1), **kwargs)
        assert (mid_year.charges_from_datetime, mid_year.charges_to_datetime) == (
            utc(2024, 5, 1),
            utc(2024, 5, 31, 23, 59, 59),
        )
        assert (mid_year.from_datetime, mid_year.to_datetime) == (
            utc(2024, 1, 1),
            utc(2024, 12, 31, 23, 59, 59),
        )
        base_kwargs = {
            "interval": "yearly",
            "billing_time": "calendar",
            "subscription_at": None,
            "timezone": "UTC",
        }
        assert not bills_base_fee_on(utc(2024, 6, 1), **base_kwargs)

        new_year = billing_period_for_invoice(billing_instant=utc(2024, 1, 1), **kwargs)
        assert bills_base_fee_on(utc(2024, 1, 1), **base_kwargs)
        assert (new_year.charges_from_datetime, new_year.charges_to_datetime) == (
            utc(2023, 12, 1),
            utc(2023, 12, 31, 23, 59, 59),
        )
        if pay_in_advance:
            assert (new_year.from_datetime, new_year.to_datetime) == (
                utc(2024, 1, 1),
                utc(2024, 12, 31, 23, 59, 59),
            )
        else:
            assert (new_year.from_datetime, new_year.to_datetime) == (
                utc(2023, 3, 10),
                utc(2023, 12, 31, 23, 59, 59),
            )
            assert new_year.base_fee_days() == 297
            assert new_year.full_period_days == 365

    def test_first_monthly_charge_run_of_a_yearly_plan_starts_at_started_at(self):
        period = billing_period_for_invoice(
            billing_instant=utc(2023, 4, 1),
            interval="yearly",
            billing_time="calendar",
            subscription_at=utc(2023, 3, 10, 8),
            started_at=utc(2023, 3, 10, 8),
            timezone="UTC",
            plan_pay_in_advance=False,
            bill_charges_monthly=True,
        )
        assert period.charges_from_datetime == utc(2023, 3, 10, 8)
        assert period.charges_to_datetime == utc(2023, 3, 31, 23, 59, 59)
        assert period.charges_full_period_days == 31

    def test_semiannual_anniversary_with_monthly_charges(self):
        kwargs = {
            "interval": "semiannual",
            "billing_time": "anniversary",
            "subscription_at": utc(2023, 8, 31),
            "started_at": utc(2023, 8, 31),
            "timezone": "UTC",
            "plan_pay_in_advance": False,
            "bill_charges_monthly": True,
        }
        period = billing_period_for_invoice(billing_instant=utc(2024, 2, 29), **kwargs)
        assert (period.charges_from_datetime, period.charges_to_datetime) == (
            utc(2024, 1, 31),
            utc(2024, 2, 28, 23, 59, 59),
        )
        assert (period.from_datetime, period.to_datetime) == (utc(2023, 8, 31), utc(2024, 2, 28, 23, 59, 59))
        assert period.full_period_days == 182
        base_kwargs = {
            "interval": "semiannual",
            "billing_time": "anniversary",
            "subscription_at": utc(2023, 8, 31),
        }
        assert bills_base_fee_on(utc(2024, 2, 29), timezone="UTC", **base_kwargs)
        assert not bills_base_fee_on(utc(2024, 1, 31), timezone="UTC", **base_kwargs)

    def test_past_start_in_advance_bills_the_next_period_in_full(self):
        period = billing_period_for_invoice(
            billing_instant=utc(2024, 5, 1),
            interval="monthly",
            billing_time="calendar",
            subscription_at=utc(2024, 4, 10, 8),
            started_at=utc(2024, 4, 10, 8),
            timezone="UTC",
            plan_pay_in_advance=True,
        )
        assert period.base_fee_days() == period.full_period_days == 31
        assert period.charges_from_datetime == utc(2024, 4, 10, 8)

    def test_rejects_days_that_are_not_billing_days(self):
        with pytest.raises(ValueError, match="not a billing day"):
            billing_period_for_invoice(
                billing_instant=utc(2024, 3, 2),
                interval="monthly",
                billing_time="calendar",
                subscription_at=None,
                started_at=utc(2024, 1, 1),
                timezone="UTC",
                plan_pay_in_advance=False,
            )
        with pytest.raises(ValueError, match="not a billing day"):
            # 2024-04-01 00:00Z is still March 31st in New York
            billing_period_for_invoice(
                billing_instant=utc(2024, 4, 1),
                interval="monthly",
                billing_time="calendar",
                subscription_at=None,
                started_at=utc(2024, 1, 1),
                timezone="America/New_York",
                plan_pay_in_advance=False,
            )

    def test_rejects_unstarted_and_terminated_subscriptions(self):
        kwargs = {
            "billing_instant": utc(2024, 3, 1),
            "interval": "monthly",
            "billing_time": "calendar",
            "subscription_at": None,
            "timezone": "UTC",
            "plan_pay_in_advance": False,
        }
        with pytest.raises(ValueError, match="started on or after"):
            billing_period_for_invoice(started_at=utc(2024, 3, 1), **kwargs)
        with pytest.raises(ValueError, match="terminated before"):
            billing_period_for_invoice(started_at=utc(2024, 1, 1), terminated_at=utc(2024, 2, 20), **kwargs)


# --------------------------------------------------------------------------------------------------------
# Scheduler helpers
# --------------------------------------------------------------------------------------------------------


class TestBillingInstants:
    def test_next_billing_instant(self):
        kwargs = {"interval": "monthly", "billing_time": "calendar", "subscription_at": None}
        assert next_billing_instant(utc(2024, 3, 15), timezone="UTC", **kwargs) == utc(2024, 4, 1)
        assert next_billing_instant(utc(2024, 4, 1), timezone="UTC", **kwargs) == utc(2024, 5, 1)
        assert next_billing_instant(utc(2024, 4, 1), timezone="America/New_York", **kwargs) == utc(
            2024, 4, 1, 4
        )
        assert next_billing_instant(utc(2024, 3, 31, 23, 59, 59), timezone="UTC", **kwargs) == utc(2024, 4, 1)

    def test_next_billing_instant_monthly_charges(self):
        kwargs = {"interval": "yearly", "billing_time": "anniversary", "subscription_at": utc(2023, 1, 31)}
        assert next_billing_instant(utc(2024, 2, 10), timezone="UTC", **kwargs) == utc(2025, 1, 31)
        assert next_billing_instant(
            utc(2024, 2, 10), timezone="UTC", bill_charges_monthly=True, **kwargs
        ) == utc(2024, 2, 29)

    def test_catch_up_lists_every_missed_boundary(self):
        kwargs = {"interval": "weekly", "billing_time": "anniversary", "subscription_at": utc(2024, 3, 6, 12)}
        instants = billing_instants_between(utc(2024, 3, 6, 12), utc(2024, 4, 3), timezone="UTC", **kwargs)
        assert instants == [utc(2024, 3, 13), utc(2024, 3, 20), utc(2024, 3, 27), utc(2024, 4, 3)]
        # (a, b]: a boundary equal to ``after`` is excluded, one equal to ``until`` included
        assert billing_instants_between(utc(2024, 3, 13), utc(2024, 3, 20), timezone="UTC", **kwargs) == [
            utc(2024, 3, 20)
        ]
        assert (
            billing_instants_between(utc(2024, 3, 13), utc(2024, 3, 19, 23), timezone="UTC", **kwargs) == []
        )

    def test_catch_up_across_dst_and_month_ends(self):
        tz = "Europe/Paris"
        kwargs = {
            "interval": "monthly",
            "billing_time": "anniversary",
            "subscription_at": local(tz, 2024, 1, 31, 9),
        }
        instants = billing_instants_between(
            local(tz, 2024, 1, 31, 9), local(tz, 2024, 6, 1), timezone=tz, **kwargs
        )
        paris = ZoneInfo(tz)
        assert [i.astimezone(paris).date() for i in instants] == [
            date(2024, 2, 29),
            date(2024, 3, 31),
            date(2024, 4, 30),
            date(2024, 5, 31),
        ]
        assert all(i.astimezone(paris).time() == datetime.min.time() for i in instants)
        assert all(i.tzinfo is UTC for i in instants)
        # each instant is a valid billing day for the invoice builder
        for instant in instants:
            billing_period_for_invoice(
                billing_instant=instant,
                started_at=local(tz, 2024, 1, 31, 9),
                timezone=tz,
                plan_pay_in_advance=False,
                **kwargs,
            )


# --------------------------------------------------------------------------------------------------------
# Exhaustive walks: every interval × billing time × timezone × month-end anchor
# --------------------------------------------------------------------------------------------------------

WALK_ANCHORS = [
    (2024, 1, 28),
    (2024, 1, 29),
    (2024, 1, 30),
    (2024, 1, 31),
    (2024, 2, 29),
    (2023, 3, 31),
    (2023, 5, 30),
    (2023, 8, 31),
    (2023, 11, 30),
    (2022, 12, 31),
]
PERIODS_PER_WALK = 36


def _months_between(a: date, b: date) -> int:
    return (b.year - a.year) * 12 + b.month - a.month


def _check_start(start: date, interval: Interval, billing_time: BillingTime, anchor: date) -> None:
    if interval is Interval.WEEKLY:
        assert start.weekday() == (0 if billing_time is BillingTime.CALENDAR else anchor.weekday())
        return
    months = interval.months
    if billing_time is BillingTime.CALENDAR:
        assert start.day == 1
        assert (start.month - 1) % months == 0
        return
    month_length = calendar.monthrange(start.year, start.month)[1]
    assert start.day == min(anchor.day, month_length)
    assert _months_between(anchor, start) % months == 0


@pytest.mark.parametrize("tz", ZONES)
@pytest.mark.parametrize("billing_time", list(BillingTime))
@pytest.mark.parametrize("interval", list(Interval))
def test_periods_tile_time(interval, billing_time, tz):
    zone = ZoneInfo(tz)
    low, high = DAY_RANGES[interval]
    for anchor_parts in WALK_ANCHORS:
        subscription_at = datetime(*anchor_parts, 13, 45, tzinfo=zone)
        anchor = subscription_at.date()
        kwargs = {"interval": interval, "billing_time": billing_time, "subscription_at": subscription_at}
        period = period_containing(subscription_at, timezone=tz, **kwargs)
        assert period.start <= subscription_at <= period.end
        if billing_time is BillingTime.ANNIVERSARY:
            assert period.start.astimezone(zone).date() == anchor
        starts: list[date] = []
        for _ in range(PERIODS_PER_WALK):
            start, end = period
            assert start.tzinfo is UTC and end.tzinfo is UTC
            assert start.microsecond == 0 and end.microsecond == 0
            local_start, local_end = start.astimezone(zone), end.astimezone(zone)
            # local 00:00:00 → 23:59:59 (or the first existing second after a DST gap at midnight)
            assert local_start.time() == datetime.min.time() or start == local_day_start(
                local_start.date(), tz
            )
            assert (end + SECOND).astimezone(zone).time() == datetime.min.time() or (
                end + SECOND == local_day_start((end + SECOND).astimezone(zone).date(), tz)
            )
            # contains its own bounds
            assert period_containing(start, timezone=tz, **kwargs) == period
            assert period_containing(end, timezone=tz, **kwargs) == period
            _check_start(local_start.date(), interval, billing_time, anchor)
            days = full_period_days(start, timezone=tz, **kwargs)
            assert days == days_between(start, end, tz) == (local_end.date() - local_start.date()).days + 1
            assert low <= days <= high
            starts.append(local_start.date())
            following = period_containing(end + SECOND, timezone=tz, **kwargs)
            assert following.start == end + SECOND  # no gap, no overlap
            assert next_billing_instant(start, timezone=tz, **kwargs) == following.start
            period = following
        if interval is not Interval.WEEKLY:
            # the anniversary is re-derived every period: starts are exactly one interval apart in months
            assert {_months_between(a, b) for a, b in itertools.pairwise(starts)} == {interval.months}


@pytest.mark.parametrize("tz", ZONES)
@pytest.mark.parametrize("interval", list(Interval))
def test_billing_periods_of_consecutive_invoices_tile(interval, tz):
    """Charges windows of consecutive periodic invoices meet exactly; in-advance base windows do too."""
    zone = ZoneInfo(tz)
    subscription_at = datetime(2024, 1, 31, 10, tzinfo=zone)
    kwargs = {
        "interval": interval,
        "billing_time": "anniversary",
        "subscription_at": subscription_at,
        "timezone": tz,
    }
    for pay_in_advance in (False, True):
        for monthly in (False, True):
            instants = billing_instants_between(
                subscription_at, subscription_at + timedelta(days=800), bill_charges_monthly=monthly, **kwargs
            )
            periods = [
                billing_period_for_invoice(
                    billing_instant=instant,
                    started_at=subscription_at,
                    plan_pay_in_advance=pay_in_advance,
                    bill_charges_monthly=monthly,
                    **kwargs,
                )
                for instant in instants
            ]
            assert periods[0].charges_from_datetime == subscription_at
            for instant, period in zip(instants, periods, strict=True):
                assert period.billing_instant == instant
                assert period.charges_to_datetime == instant - SECOND
            for previous, current in itertools.pairwise(periods):
                assert current.charges_from_datetime == previous.charges_to_datetime + SECOND
            base_billed = [
                p for i, p in zip(instants, periods, strict=True) if bills_base_fee_on(i, **kwargs)
            ]
            for previous, current in itertools.pairwise(base_billed):
                assert current.from_datetime == previous.to_datetime + SECOND


# --------------------------------------------------------------------------------------------------------
# Properties
# --------------------------------------------------------------------------------------------------------

instants = st.datetimes(
    min_value=datetime(1995, 1, 1), max_value=datetime(2055, 12, 31), timezones=st.just(UTC)
)
anchors = st.dates(min_value=date(1995, 1, 1), max_value=date(2055, 12, 31))


@settings(max_examples=400, deadline=None)
@given(
    instant=instants,
    interval=st.sampled_from(list(Interval)),
    billing_time=st.sampled_from(list(BillingTime)),
    anchor=anchors,
    tz=st.sampled_from(ZONES),
)
def test_any_instant_lies_in_exactly_one_period(instant, interval, billing_time, anchor, tz):
    kwargs = {"interval": interval, "billing_time": billing_time, "subscription_at": anchor, "timezone": tz}
    period = period_containing(instant, **kwargs)
    assert period.contains(instant)
    assert period.start <= instant < period.end + SECOND
    # neighbours start right after / end right before: periods partition time
    before = period_containing(period.start - SECOND, **kwargs)
    after = period_containing(period.end + SECOND, **kwargs)
    assert before.end == period.start - SECOND
    assert after.start == period.end + SECOND
    assert period_containing(period.start, **kwargs) == period == period_containing(period.end, **kwargs)
    # a full period counts exactly full_period_days days
    days = full_period_days(instant, **kwargs)
    assert days_between(period.start, period.end, tz) == days
    low, high = DAY_RANGES[interval]
    assert low <= days <= high


@settings(max_examples=300, deadline=None)
@given(start=instants, seconds=st.integers(min_value=0, max_value=400 * 86_400), tz=st.sampled_from(ZONES))
def test_days_between_matches_local_calendar_days_for_day_aligned_windows(start, seconds, tz):
    zone = ZoneInfo(tz)
    first_day = start.astimezone(zone).date()
    last_day = (start + timedelta(seconds=seconds)).astimezone(zone).date()
    window_start, window_end = local_day_start(first_day, tz), local_day_end(last_day, tz)
    assert days_between(window_start, window_end, tz) == (last_day - first_day).days + 1
    # any window within those local days never counts more days than it touches
    end = start + timedelta(seconds=seconds)
    touched = calendar_days_inclusive(start, end, tz)
    assert touched - 1 <= days_between(start, end, tz) <= touched
