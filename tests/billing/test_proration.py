"""Base-fee, credit, commitment and charge-minimum proration (billing-semantics.md §3.9, §4.3–4.7, §5, §6.4)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from billing.periods import (
    billing_period_for_invoice,
    current_billing_period,
    days_between,
    local_day_end,
    period_containing,
    trial_end_datetime,
)
from billing.proration import (
    ProratedAmount,
    base_fee_amount_cents,
    base_fee_for_billing_period,
    base_fee_for_window,
    charge_minimum_true_up_cents,
    commitment_proration_coefficient,
    commitment_true_up_cents,
    first_period_base_fee,
    prorate,
    prorated_charge_minimum,
    prorated_commitment_cents,
    termination_base_fee,
    termination_credit_amount,
    trial_end_base_fee,
    unused_days_for_credit,
    upgrade_new_plan_base_fee,
)
from config.money import round_cents

ZONES = [
    "UTC",
    "America/New_York",
    "Europe/Paris",
    "Asia/Kolkata",
    "Pacific/Auckland",
    "Australia/Lord_Howe",
    "America/Santiago",
]


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def monthly_calendar(instant: datetime, started_at: datetime, **extra) -> object:
    return current_billing_period(
        instant=instant,
        interval="monthly",
        billing_time="calendar",
        subscription_at=started_at,
        started_at=started_at,
        timezone="UTC",
        **extra,
    )


# --------------------------------------------------------------------------------------------------------
# The core formula
# --------------------------------------------------------------------------------------------------------


class TestBaseFeeAmount:
    def test_exact_half_rounds_up_unlike_lagos_float(self):
        # §0: 34-cent plan, 28-day month, 21 days = exact 25.5 → Lago's float gives 25, Tollbooth 26.
        assert base_fee_amount_cents(amount_cents=34, days=21, full_period_days=28) == 26

    def test_full_and_empty(self):
        assert base_fee_amount_cents(amount_cents=2_900, days=29, full_period_days=29) == 2_900
        assert base_fee_amount_cents(amount_cents=2_900, days=0, full_period_days=29) == 0

    def test_large_amounts_stay_exact(self):
        amount = 10**15 + 1
        assert base_fee_amount_cents(amount_cents=amount, days=1, full_period_days=2) == 500_000_000_000_001
        assert base_fee_amount_cents(amount_cents=amount, days=365, full_period_days=366) == (
            amount * 365 * 2 + 366
        ) // (366 * 2)

    def test_prorate_keeps_the_precise_amount(self):
        result = prorate(amount_cents=1_000, days=19, full_period_days=28)
        assert result == ProratedAmount(679, result.precise_amount_cents, 19, 28)
        assert result.precise_amount_cents.quantize(Decimal("0.00001")) == Decimal("678.57143")

    def test_decimal_amounts_are_accepted(self):
        assert prorate(amount_cents=Decimal("1000.5"), days=1, full_period_days=1).amount_cents == 1_001

    @pytest.mark.parametrize(
        ("kwargs", "error"),
        [
            ({"amount_cents": 10.0, "days": 1, "full_period_days": 2}, TypeError),
            ({"amount_cents": True, "days": 1, "full_period_days": 2}, TypeError),
            ({"amount_cents": 10, "days": 1.0, "full_period_days": 2}, TypeError),
            ({"amount_cents": 10, "days": 3, "full_period_days": 2}, ValueError),
            ({"amount_cents": 10, "days": -1, "full_period_days": 2}, ValueError),
            ({"amount_cents": 10, "days": 0, "full_period_days": 0}, ValueError),
        ],
    )
    def test_rejects_bad_inputs(self, kwargs, error):
        with pytest.raises(error):
            base_fee_amount_cents(**kwargs)


@settings(max_examples=500, deadline=None)
@given(
    amount=st.integers(min_value=-(10**12), max_value=10**12),
    full=st.integers(min_value=1, max_value=366),
    data=st.data(),
)
def test_base_fee_is_exact_half_up(amount, full, data):
    days = data.draw(st.integers(min_value=0, max_value=full))
    exact = Fraction(amount * days, full)
    magnitude = abs(exact)
    rounded = int(magnitude) + (1 if magnitude - int(magnitude) >= Fraction(1, 2) else 0)
    expected = rounded if exact >= 0 else -rounded
    assert base_fee_amount_cents(amount_cents=amount, days=days, full_period_days=full) == expected
    if amount >= 0:
        assert 0 <= expected <= amount


# --------------------------------------------------------------------------------------------------------
# §5 examples
# --------------------------------------------------------------------------------------------------------


class TestSection5:
    def test_ex_5_1_calendar_in_arrears(self):
        started_at = utc(2024, 2, 10, 9)
        kwargs = {
            "interval": "monthly",
            "billing_time": "calendar",
            "subscription_at": started_at,
            "started_at": started_at,
            "timezone": "UTC",
            "plan_pay_in_advance": False,
        }
        february = billing_period_for_invoice(billing_instant=utc(2024, 3, 1), **kwargs)
        assert february.base_fee_days() == 20 and february.full_period_days == 29
        assert base_fee_for_billing_period(amount_cents=2_900, period=february).amount_cents == 2_000

        march = billing_period_for_invoice(billing_instant=utc(2024, 4, 1), **kwargs)
        assert base_fee_for_billing_period(amount_cents=2_900, period=march).amount_cents == 2_900

        terminated_at = utc(2024, 4, 12, 15)
        april = monthly_calendar(terminated_at, started_at, terminated_at=terminated_at)
        fee = termination_base_fee(
            amount_cents=2_900,
            from_datetime=april.from_datetime,
            terminated_at=terminated_at,
            full_period_days=april.full_period_days,
            timezone="UTC",
        )
        assert (fee.days, fee.full_period_days, fee.amount_cents) == (12, 30, 1_160)

    def test_ex_5_2_anniversary_month_end(self):
        subscription_at = utc(2023, 1, 31, 8)
        kwargs = {
            "interval": "monthly",
            "billing_time": "anniversary",
            "subscription_at": subscription_at,
            "started_at": subscription_at,
            "timezone": "UTC",
        }
        first = billing_period_for_invoice(
            billing_instant=utc(2023, 2, 28), plan_pay_in_advance=False, **kwargs
        )
        assert (first.from_datetime, first.to_datetime) == (utc(2023, 1, 31), utc(2023, 2, 27, 23, 59, 59))
        assert first.full_period_days == 28
        assert base_fee_for_billing_period(amount_cents=3_000, period=first).amount_cents == 3_000

        terminated_at = utc(2023, 3, 10, 12)
        last = current_billing_period(instant=terminated_at, terminated_at=terminated_at, **kwargs)
        assert last.period_start_date == date(2023, 2, 28)
        assert last.period_end_date == date(2023, 3, 30)
        fee = base_fee_for_billing_period(amount_cents=3_000, period=last)
        assert (fee.days, fee.full_period_days, fee.amount_cents) == (11, 31, 1_065)

    def test_ex_5_3_quarterly_calendar(self):
        started_at, terminated_at = utc(2024, 5, 20, 10), utc(2024, 6, 20, 10)
        period = current_billing_period(
            instant=terminated_at,
            interval="quarterly",
            billing_time="calendar",
            subscription_at=started_at,
            started_at=started_at,
            terminated_at=terminated_at,
            timezone="UTC",
        )
        assert period.full_period_days == 91
        fee = base_fee_for_billing_period(amount_cents=91_000, period=period)
        assert (fee.days, fee.amount_cents) == (32, 32_000)

    def test_ex_5_3_quarterly_anniversary_subscription_from_an_upgrade(self):
        """lago-api spec/scenarios/subscriptions/upgrade_proration_spec.rb."""
        subscription_at = utc(2024, 1, 15, 10)  # inherited from the upgraded subscription
        started_at, terminated_at = utc(2024, 5, 20, 10), utc(2024, 6, 20, 10)
        period = current_billing_period(
            instant=terminated_at,
            interval="quarterly",
            billing_time="anniversary",
            subscription_at=subscription_at,
            started_at=started_at,
            terminated_at=terminated_at,
            timezone="UTC",
        )
        assert (period.period_start_date, period.period_end_date) == (date(2024, 4, 15), date(2024, 7, 14))
        assert period.full_period_days == 91
        assert base_fee_for_billing_period(amount_cents=91_000, period=period).amount_cents == 32_000

    def test_ex_5_4_weekly_and_yearly_calendar_first_periods(self):
        wednesday = utc(2024, 3, 6, 14)
        week = current_billing_period(
            instant=wednesday,
            interval="weekly",
            billing_time="calendar",
            subscription_at=wednesday,
            started_at=wednesday,
            timezone="UTC",
        )
        assert base_fee_for_billing_period(amount_cents=700, period=week).amount_cents == 500

        july = utc(2024, 7, 1, 9)
        year = current_billing_period(
            instant=july,
            interval="yearly",
            billing_time="calendar",
            subscription_at=july,
            started_at=july,
            timezone="UTC",
        )
        fee = first_period_base_fee(
            amount_cents=36_600,
            started_at=july,
            period_end=year.to_datetime,
            full_period_days=year.full_period_days,
            timezone="UTC",
        )
        assert (fee.days, fee.full_period_days, fee.amount_cents) == (184, 366, 18_400)

    @pytest.mark.parametrize(
        ("upgrade", "expected_days", "expected"), [(False, 18, 1_800), (True, 17, 1_700)]
    )
    def test_termination_vs_upgrade_at_midnight(self, upgrade, expected_days, expected):
        """invoices/progressive_billing_spec.rb: 3 100/mo in arrears from 2022-12-01, ended 2022-12-18 00:00."""
        ended_at = utc(2022, 12, 18)
        period = monthly_calendar(ended_at, utc(2022, 12, 1), terminated_at=ended_at)
        assert period.to_datetime == ended_at
        fee = termination_base_fee(
            amount_cents=3_100,
            from_datetime=period.from_datetime,
            terminated_at=ended_at,
            full_period_days=period.full_period_days,
            timezone="UTC",
            upgrade=upgrade,
        )
        assert (fee.days, fee.amount_cents) == (expected_days, expected)
        assert base_fee_for_billing_period(amount_cents=3_100, period=period, ended_by_upgrade=upgrade) == fee


# --------------------------------------------------------------------------------------------------------
# §4.3 trial
# --------------------------------------------------------------------------------------------------------


class TestTrial:
    started_at = utc(2024, 3, 5, 12, 12)

    def test_ex_4_2_first_invoice_at_trial_end(self):
        trial_end = trial_end_datetime(self.started_at, 10)
        assert trial_end == utc(2024, 3, 15, 12, 12)
        period = monthly_calendar(self.started_at, self.started_at)
        fee = trial_end_base_fee(
            amount_cents=5_000_000,
            trial_end=trial_end,
            period_end=period.to_datetime,
            full_period_days=period.full_period_days,
            timezone="UTC",
        )
        assert (fee.days, fee.full_period_days, fee.amount_cents) == (17, 31, 2_741_935)
        # the same through the period-level helper: the trial part of the period is free
        assert base_fee_for_billing_period(amount_cents=5_000_000, period=period, trial_end=trial_end) == fee

    def test_ex_4_2_upgrade_mid_trial_measures_the_new_trial_from_the_original_start(self):
        upgraded_at = utc(2024, 3, 10, 9)
        trial_end = trial_end_datetime(self.started_at, 13)  # original start, new plan's 13 days
        assert trial_end == utc(2024, 3, 18, 12, 12)
        new_period = current_billing_period(
            instant=upgraded_at,
            interval="monthly",
            billing_time="calendar",
            subscription_at=self.started_at,
            started_at=upgraded_at,
            timezone="UTC",
        )
        fee = upgrade_new_plan_base_fee(
            amount_cents=10_000_000,
            upgraded_at=upgraded_at,
            period_end=new_period.to_datetime,
            full_period_days=new_period.full_period_days,
            timezone="UTC",
            trial_end=trial_end,
        )
        assert (fee.days, fee.amount_cents) == (14, 4_516_129)

    def test_trial_covering_the_whole_window_is_free(self):
        period = monthly_calendar(self.started_at, self.started_at)
        fee = base_fee_for_billing_period(amount_cents=5_000_000, period=period, trial_end=utc(2024, 4, 10))
        assert fee == ProratedAmount(0, Decimal(0), 0, 31)
        exactly_at_end = base_fee_for_billing_period(
            amount_cents=5_000_000, period=period, trial_end=period.to_datetime
        )
        assert exactly_at_end.amount_cents == 0

    def test_trial_ended_before_the_window_changes_nothing(self):
        period = monthly_calendar(utc(2024, 4, 10), utc(2024, 3, 5, 12, 12))
        fee = base_fee_for_billing_period(
            amount_cents=3_000, period=period, trial_end=utc(2024, 3, 15, 12, 12)
        )
        assert fee.amount_cents == 3_000

    def test_in_arrears_termination_during_and_after_trial(self):
        period = monthly_calendar(utc(2024, 3, 25, 8), self.started_at, terminated_at=utc(2024, 3, 25, 8))
        trial_end = utc(2024, 3, 15, 12, 12)
        fee = termination_base_fee(
            amount_cents=3_100,
            from_datetime=period.from_datetime,
            terminated_at=utc(2024, 3, 25, 8),
            full_period_days=31,
            timezone="UTC",
            trial_end=trial_end,
        )
        assert (fee.days, fee.amount_cents) == (10, 1_000)  # ceil(9.8) days after the trial
        in_trial = termination_base_fee(
            amount_cents=3_100,
            from_datetime=period.from_datetime,
            terminated_at=utc(2024, 3, 12),
            full_period_days=31,
            timezone="UTC",
            trial_end=trial_end,
        )
        assert in_trial.amount_cents == 0


# --------------------------------------------------------------------------------------------------------
# §4.4 upgrade / downgrade
# --------------------------------------------------------------------------------------------------------


class TestUpgradeDowngrade:
    def test_ex_4_3_upgrade_monthly_to_yearly(self):
        subscription_at = utc(2023, 6, 29, 12, 12)
        upgraded_at = utc(2023, 9, 28, 10)
        old = current_billing_period(
            instant=upgraded_at,
            interval="monthly",
            billing_time="anniversary",
            subscription_at=subscription_at,
            started_at=subscription_at,
            terminated_at=upgraded_at,
            timezone="UTC",
        )
        assert (old.period_start_date, old.period_end_date, old.full_period_days) == (
            date(2023, 8, 29),
            date(2023, 9, 28),
            31,
        )
        unused = unused_days_for_credit(
            period_end=local_day_end(old.period_end_date, "UTC"),
            terminated_at=upgraded_at,
            timezone="UTC",
            upgrade=True,
        )
        assert unused == 1
        credit = termination_credit_amount(
            amount_cents=1_000, unused_days=unused, full_period_days=31, fee_amount_cents=1_000
        )
        assert round_cents(credit) == 32

        new = current_billing_period(
            instant=upgraded_at,
            interval="yearly",
            billing_time="anniversary",
            subscription_at=subscription_at,
            started_at=upgraded_at,
            timezone="UTC",
        )
        assert (new.from_datetime, new.to_datetime) == (utc(2023, 9, 28), utc(2024, 6, 28, 23, 59, 59))
        fee = upgrade_new_plan_base_fee(
            amount_cents=12_000,
            upgraded_at=upgraded_at,
            period_end=new.to_datetime,
            full_period_days=new.full_period_days,
            timezone="UTC",
        )
        assert (fee.days, fee.full_period_days, fee.amount_cents) == (275, 366, 9_016)

    def test_ex_4_4_downgrade_applied_at_period_end(self):
        activated_at = utc(2023, 11, 19, 12, 12)
        period = current_billing_period(
            instant=activated_at,
            interval="yearly",
            billing_time="anniversary",
            subscription_at=utc(2023, 7, 19, 12, 12),
            started_at=activated_at,
            timezone="UTC",
        )
        assert (period.from_datetime, period.to_datetime) == (utc(2023, 11, 19), utc(2024, 7, 18, 23, 59, 59))
        fee = base_fee_for_billing_period(amount_cents=118_800, period=period)
        assert (fee.days, fee.full_period_days, fee.amount_cents) == (243, 366, 78_875)

    def test_ex_4_5_calendar_upgrade_in_advance_to_in_advance(self):
        upgraded_at = utc(2023, 5, 11, 10)
        period = monthly_calendar(upgraded_at, utc(2023, 1, 1))
        unused = unused_days_for_credit(
            period_end=period.to_datetime, terminated_at=upgraded_at, timezone="UTC", upgrade=True
        )
        assert unused == 21
        credit = termination_credit_amount(
            amount_cents=2_000, unused_days=unused, full_period_days=31, fee_amount_cents=2_000
        )
        assert round_cents(credit) == 1_355
        new_fee = upgrade_new_plan_base_fee(
            amount_cents=4_000,
            upgraded_at=upgraded_at,
            period_end=period.to_datetime,
            full_period_days=31,
            timezone="UTC",
        )
        assert (new_fee.days, new_fee.amount_cents) == (21, 2_710)
        assert new_fee.amount_cents - round_cents(credit) == 1_355  # the fresh credit note is consumed

    def test_in_arrears_upgrade_splits_the_period_without_gap_or_overlap(self):
        # Old plan bills days(start, upgrade) − 1, new plan days(upgrade day, end): together one full period.
        upgraded_at = utc(2023, 5, 11, 10)
        old = monthly_calendar(upgraded_at, utc(2023, 1, 1), terminated_at=upgraded_at)
        old_fee = termination_base_fee(
            amount_cents=3_100,
            from_datetime=old.from_datetime,
            terminated_at=upgraded_at,
            full_period_days=31,
            timezone="UTC",
            upgrade=True,
        )
        new_fee = upgrade_new_plan_base_fee(
            amount_cents=3_100,
            upgraded_at=upgraded_at,
            period_end=old.billing_instant - timedelta(seconds=1),
            full_period_days=31,
            timezone="UTC",
        )
        assert (old_fee.days, new_fee.days) == (10, 21)
        assert old_fee.amount_cents + new_fee.amount_cents == 3_100


# --------------------------------------------------------------------------------------------------------
# §4.5 termination credit notes
# --------------------------------------------------------------------------------------------------------


class TestTerminationCredit:
    def test_ex_4_6_calendar(self):
        moment = utc(2023, 2, 8, 10)
        period = monthly_calendar(moment, moment)
        start_fee = base_fee_for_billing_period(amount_cents=5_000, period=period)
        assert (start_fee.days, start_fee.full_period_days, start_fee.amount_cents) == (21, 28, 3_750)
        assert start_fee.amount_cents + round_cents(Decimal(start_fee.amount_cents) * Decimal("0.2")) == 4_500

        unused = unused_days_for_credit(period_end=period.to_datetime, terminated_at=moment, timezone="UTC")
        assert unused == 20
        item = termination_credit_amount(
            amount_cents=5_000,
            unused_days=unused,
            full_period_days=28,
            fee_amount_cents=start_fee.amount_cents,
        )
        assert item.quantize(Decimal("0.01")) == Decimal("3571.43")
        assert round_cents(item) == 3_571
        assert round_cents(item * Decimal("0.2")) == 714

    def test_ex_4_6_anniversary(self):
        moment = utc(2023, 2, 8, 10)
        period = current_billing_period(
            instant=moment,
            interval="monthly",
            billing_time="anniversary",
            subscription_at=moment,
            started_at=moment,
            timezone="UTC",
        )
        start_fee = base_fee_for_billing_period(amount_cents=5_000, period=period)
        assert start_fee.amount_cents == 5_000  # + 20 % tax = 6 000
        unused = unused_days_for_credit(period_end=period.to_datetime, terminated_at=moment, timezone="UTC")
        assert unused == 27
        item = termination_credit_amount(
            amount_cents=5_000, unused_days=unused, full_period_days=28, fee_amount_cents=5_000
        )
        assert (round_cents(item), round_cents(item * Decimal("0.2"))) == (4_821, 964)

    def test_credit_is_capped_then_reduced_by_earlier_credit_notes(self):
        # §4.5: fee 1 000, earlier notes 300, unused value 500 → item 200
        item = termination_credit_amount(
            amount_cents=1_500,
            unused_days=10,
            full_period_days=30,
            fee_amount_cents=1_000,
            already_credited_cents=300,
        )
        assert item == Decimal(200)
        # capped at the fee (the fee was itself prorated) before the deduction
        capped = termination_credit_amount(
            amount_cents=3_000,
            unused_days=20,
            full_period_days=30,
            fee_amount_cents=1_000,
            already_credited_cents=300,
        )
        assert capped == Decimal(700)
        nothing_left = termination_credit_amount(
            amount_cents=1_500,
            unused_days=10,
            full_period_days=30,
            fee_amount_cents=1_000,
            already_credited_cents=900,
        )
        assert nothing_left == Decimal(0)

    def test_unused_days_are_local_calendar_dates(self):
        # Terminated 2024-03-11 02:00Z = 03-10 22:00 in New York: the 10th is the (used) termination day.
        period_end = local_day_end(date(2024, 3, 31), "America/New_York")
        assert (
            unused_days_for_credit(
                period_end=period_end, terminated_at=utc(2024, 3, 11, 2), timezone="America/New_York"
            )
            == 21
        )
        utc_period_end = utc(2024, 3, 31, 23, 59, 59)
        assert (
            unused_days_for_credit(
                period_end=utc_period_end, terminated_at=utc(2024, 3, 11, 2), timezone="UTC"
            )
            == 20
        )
        # terminated on the last day: nothing unused; upgraded on the last day: that day is credited
        assert (
            unused_days_for_credit(
                period_end=utc(2024, 3, 31, 23, 59, 59), terminated_at=utc(2024, 3, 31, 9), timezone="UTC"
            )
            == 0
        )
        assert (
            unused_days_for_credit(
                period_end=utc(2024, 3, 31, 23, 59, 59),
                terminated_at=utc(2024, 3, 31, 9),
                timezone="UTC",
                upgrade=True,
            )
            == 1
        )

    def test_unused_days_with_trial(self):
        period_end = utc(2024, 3, 31, 23, 59, 59)
        # terminated during the trial: the whole post-trial part (billed at trial end) comes back
        assert (
            unused_days_for_credit(
                period_end=period_end,
                terminated_at=utc(2024, 3, 10),
                timezone="UTC",
                trial_end=utc(2024, 3, 15, 12),
            )
            == 17
        )
        # trial outlasting the period: nothing was billed, nothing to credit
        assert (
            unused_days_for_credit(
                period_end=period_end,
                terminated_at=utc(2024, 3, 10),
                timezone="UTC",
                trial_end=utc(2024, 4, 2),
            )
            == 0
        )
        # trial over before termination: plain rule
        assert (
            unused_days_for_credit(
                period_end=period_end,
                terminated_at=utc(2024, 3, 20),
                timezone="UTC",
                trial_end=utc(2024, 3, 15),
            )
            == 11
        )


@settings(max_examples=300, deadline=None)
@given(
    day=st.dates(min_value=date(2000, 1, 1), max_value=date(2050, 12, 31)),
    seconds=st.integers(min_value=0, max_value=86_399),
    interval=st.sampled_from(["weekly", "monthly", "quarterly", "semiannual", "yearly"]),
    billing_time=st.sampled_from(["calendar", "anniversary"]),
    anchor=st.dates(min_value=date(2000, 1, 1), max_value=date(2050, 12, 31)),
    tz=st.sampled_from(ZONES),
)
def test_used_and_unused_days_partition_the_period(day, seconds, interval, billing_time, anchor, tz):
    """Termination: used days (ceil) + unused days = full period; upgrade: old + new plan days = full period."""
    from zoneinfo import ZoneInfo

    zone = ZoneInfo(tz)
    moment = (
        datetime.combine(day, datetime.min.time(), tzinfo=zone) + timedelta(seconds=seconds)
    ).astimezone(UTC)
    kwargs = {"interval": interval, "billing_time": billing_time, "subscription_at": anchor, "timezone": tz}
    start, end = period_containing(moment, **kwargs)
    full = days_between(start, end, tz)
    if moment == start:
        return  # ``days(start, start)`` counts the start's midnight day: not a mid-period event
    used = days_between(start, moment, tz)
    assert used + unused_days_for_credit(period_end=end, terminated_at=moment, timezone=tz) == full
    old_plan = termination_base_fee(
        amount_cents=100,
        from_datetime=start,
        terminated_at=moment,
        full_period_days=full,
        timezone=tz,
        upgrade=True,
    )
    new_plan = upgrade_new_plan_base_fee(
        amount_cents=100, upgraded_at=moment, period_end=end, full_period_days=full, timezone=tz
    )
    assert old_plan.days + new_plan.days == full
    assert new_plan.days == unused_days_for_credit(
        period_end=end, terminated_at=moment, timezone=tz, upgrade=True
    )


# --------------------------------------------------------------------------------------------------------
# §4.7 commitment, §3.9 charge minimum, §6.4 JPY
# --------------------------------------------------------------------------------------------------------


class TestCommitment:
    def test_ex_4_7_february_and_march(self):
        started_at = utc(2024, 2, 28, 10)
        kwargs = {
            "interval": "monthly",
            "billing_time": "calendar",
            "subscription_at": started_at,
            "started_at": started_at,
            "timezone": "UTC",
            "plan_pay_in_advance": False,
        }
        february = billing_period_for_invoice(billing_instant=utc(2024, 3, 1), **kwargs)
        base = base_fee_for_billing_period(amount_cents=10_000, period=february)
        assert base.amount_cents == 690
        days = days_between(february.from_datetime, february.to_datetime, "UTC")
        assert commitment_proration_coefficient(
            days=days, full_period_days=february.full_period_days
        ) == Fraction(2, 29)
        assert (
            prorated_commitment_cents(commitment_amount_cents=1_000_000, days=days, full_period_days=29)
            == 68_966
        )
        fees = base.amount_cents + 1_000 + 1_000 + 1_000
        assert fees == 3_690
        assert (
            commitment_true_up_cents(
                commitment_amount_cents=1_000_000, fees_amount_cents=fees, days=days, full_period_days=29
            )
            == 65_276
        )

        march = billing_period_for_invoice(billing_instant=utc(2024, 4, 1), **kwargs)
        march_base = base_fee_for_billing_period(amount_cents=10_000, period=march).amount_cents
        assert march_base == 10_000
        assert (
            commitment_true_up_cents(
                commitment_amount_cents=1_000_000,
                fees_amount_cents=march_base + 1_000,
                days=march.base_fee_days(),
                full_period_days=march.full_period_days,
            )
            == 989_000
        )

    def test_no_true_up_when_fees_exceed_the_commitment(self):
        assert (
            commitment_true_up_cents(
                commitment_amount_cents=1_000, fees_amount_cents=5_000, days=10, full_period_days=30
            )
            == 0
        )


class TestChargeMinimum:
    def test_ex_3_9_full_month(self):
        assert (
            charge_minimum_true_up_cents(
                min_amount_cents=5_000, fees_amount_cents=3_000, days=31, charges_full_period_days=31
            )
            == 2_000
        )

    def test_ex_3_9_terminated_mid_month(self):
        terminated_at = utc(2023, 2, 25, 6)
        period = monthly_calendar(terminated_at, utc(2023, 1, 1), terminated_at=terminated_at)
        assert period.charges_from_datetime == utc(2023, 2, 1)
        assert (period.charges_days(), period.charges_full_period_days) == (25, 28)
        prorated = prorated_charge_minimum(min_amount_cents=1_000, days=25, charges_full_period_days=28)
        assert prorated.quantize(Decimal("0.01")) == Decimal("892.86")
        assert (
            charge_minimum_true_up_cents(
                min_amount_cents=1_000,
                fees_amount_cents=800,
                days=period.charges_days(),
                charges_full_period_days=period.charges_full_period_days,
            )
            == 93
        )

    def test_upgrade_counts_one_day_less(self):
        upgraded_at = utc(2023, 2, 25, 6)
        period = monthly_calendar(upgraded_at, utc(2023, 1, 1), terminated_at=upgraded_at)
        assert period.charges_days(ended_by_upgrade=True) == 24

    def test_no_true_up_when_fees_reach_the_minimum(self):
        assert (
            charge_minimum_true_up_cents(
                min_amount_cents=1_000,
                fees_amount_cents=Decimal("892.86"),
                days=25,
                charges_full_period_days=28,
            )
            == 0
        )


def test_ex_6_4_jpy_first_period():
    started_at = utc(2023, 2, 10, 3)
    period = monthly_calendar(started_at, started_at)
    fee = base_fee_for_billing_period(amount_cents=1_000, period=period)  # ¥1 000, zero-decimal currency
    assert (fee.days, fee.full_period_days, fee.amount_cents) == (19, 28, 679)


def test_window_helper_matches_period_helper():
    started_at = utc(2024, 2, 10, 9)
    period = monthly_calendar(started_at, started_at)
    assert base_fee_for_window(
        amount_cents=2_900,
        from_datetime=period.from_datetime,
        to_datetime=period.to_datetime,
        full_period_days=period.full_period_days,
        timezone=period.timezone,
    ) == base_fee_for_billing_period(amount_cents=2_900, period=period)
