"""Invoice arithmetic: coupons, progressive-billing credit, taxes, credit notes, wallets, totals and credit-note
amounts (billing-semantics.md §0, §3.5, §3.9, §4.6, §6, §7, §8, §9)."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from billing.proration import charge_minimum_true_up_cents, prorate, termination_credit_amount
from config.money import fee_amount_cents, round_cents
from invoicing.calculations import (
    CouponToApply,
    CreditNoteCredit,
    CreditNoteFee,
    CreditNoteItem,
    FeeLine,
    ProgressiveBillingCredit,
    WalletCredit,
    compute_credit_note,
    compute_invoice_totals,
    fee_remaining_creditable_amount_cents,
    max_refundable_amount_cents,
    wallet_cents_to_credits,
    wallet_credits_to_cents,
)

D = Decimal
T0 = datetime(2024, 1, 1, tzinfo=UTC)


def at(days: int) -> datetime:
    return T0 + timedelta(days=days)


def fee(fee_id, amount, fee_type="charge", taxes=(), metric=None, plan=None, parent_plan=None):
    if fee_type == "charge" and metric is None:
        metric = f"m_{fee_id}"
    return FeeLine(
        id=fee_id,
        fee_type=fee_type,
        amount_cents=amount,
        taxes=tuple(taxes),
        billable_metric_code=metric,
        plan_code=plan,
        parent_plan_code=parent_plan,
    )


def fixed(coupon_id, amount, frequency="once", currency="EUR", created=0, **kwargs):
    return CouponToApply(
        id=coupon_id,
        coupon_type="fixed_amount",
        frequency=frequency,
        amount_cents=amount,
        currency=currency,
        created_at=at(created),
        **kwargs,
    )


def percent(coupon_id, rate, frequency="forever", created=0, **kwargs):
    return CouponToApply(
        id=coupon_id,
        coupon_type="percentage",
        frequency=frequency,
        percentage_rate=D(rate),
        created_at=at(created),
        **kwargs,
    )


def totals_line(t):
    return (
        t.fees_amount_cents,
        t.coupons_amount_cents,
        t.sub_total_excluding_taxes_amount_cents,
        t.taxes_amount_cents,
        t.sub_total_including_taxes_amount_cents,
        t.credit_notes_amount_cents,
        t.prepaid_credit_amount_cents,
        t.total_amount_cents,
    )


# ---------------------------------------------------------------------------------------------------------------
# §6 examples
# ---------------------------------------------------------------------------------------------------------------


def ex_6_1_fees():
    true_up = charge_minimum_true_up_cents(
        min_amount_cents=5000, fees_amount_cents=3000, days=31, charges_full_period_days=31
    )
    assert true_up == 2000  # Ex 3.9
    return [
        fee("base", 10000, "subscription", [("plan_vat", D(10))], plan="monthly"),
        fee("a", 5000, taxes=[("zero", D(0))], metric="sum_a", plan="monthly"),
        fee("b", 3000, taxes=[("vat20", D(20))], metric="count_b", plan="monthly"),
        fee("b_true_up", true_up, taxes=[("vat20", D(20))], metric="count_b", plan="monthly"),
    ]


def test_ex_6_1_full_invoice():
    t = compute_invoice_totals(currency="EUR", fees=ex_6_1_fees(), coupons=[fixed("k", 1000)])
    assert totals_line(t) == (20000, 1000, 19000, 1900, 20900, 0, 0, 20900)
    assert [f.precise_coupons_amount_cents for f in t.fees] == [500, 250, 150, 100]
    assert [f.sub_total_excluding_taxes_amount_cents for f in t.fees] == [9500, 4750, 2850, 1900]
    assert [f.taxes_amount_cents for f in t.fees] == [950, 0, 570, 380]
    assert {a.tax_code: (a.amount_cents, a.fees_amount_cents) for a in t.applied_taxes} == {
        "plan_vat": (950, 9500),
        "zero": (0, 4750),
        "vat20": (950, 4750),
    }
    coupon = t.coupon("k")
    assert (coupon.applied, coupon.amount_cents, coupon.terminated, coupon.remaining_amount_cents) == (
        True,
        1000,
        True,
        0,
    )
    assert t.payment_status == "pending"


def test_ex_6_1_once_coupon_larger_than_invoice_keeps_its_remainder():
    fees = [fee("base", 10000, "subscription", [("vat", D(20))], plan="p")]
    t = compute_invoice_totals(currency="EUR", fees=fees, coupons=[fixed("k", 11000)])
    assert (t.coupons_amount_cents, t.taxes_amount_cents, t.total_amount_cents) == (10000, 0, 0)
    coupon = t.coupon("k")
    assert (coupon.amount_cents, coupon.remaining_amount_cents, coupon.terminated) == (10000, 1000, False)
    assert t.payment_status == "succeeded"
    # The next invoice uses the remainder.
    t2 = compute_invoice_totals(
        currency="EUR", fees=fees, coupons=[fixed("k", 11000, remaining_amount_cents=1000)]
    )
    assert (t2.coupons_amount_cents, t2.taxes_amount_cents, t2.total_amount_cents) == (1000, 1800, 10800)
    assert (t2.coupon("k").remaining_amount_cents, t2.coupon("k").terminated) == (0, True)


def test_ex_6_1_stacked_coupons_apply_oldest_first():
    t = compute_invoice_totals(
        currency="EUR",
        fees=ex_6_1_fees(),
        coupons=[fixed("k11", 11000, created=2), fixed("k1", 1000, created=1)],
    )
    assert [c.id for c in t.coupons] == ["k1", "k11"]
    assert [c.amount_cents for c in t.coupons] == [1000, 11000]
    assert t.coupons_amount_cents == 12000
    assert sum(f.precise_coupons_amount_cents for f in t.fees) == 12000


def test_ex_6_2_coupon_ordering_credit_notes_and_wallet():
    fees = [
        fee("A", 10000, "subscription", [("vat", D(20))], plan="p"),
        fee("B", 6000, taxes=[("vat", D(20))], metric="m1", plan="p"),
        fee("C", 4000, taxes=[("vat", D(20))], metric="m2", plan="p"),
    ]
    coupons = [
        percent("K2", 10, created=0),  # older, but unrestricted: applied after the metric-limited one
        fixed("K1", 2000, created=5, billable_metric_codes={"m1"}),
    ]
    t = compute_invoice_totals(
        currency="EUR",
        fees=fees,
        coupons=coupons,
        credit_notes=[CreditNoteCredit(id="cn", balance_cents=5000, created_at=at(0))],
        wallets=[WalletCredit(id="w", balance_cents=10000)],
    )
    assert [c.id for c in t.coupons] == ["K1", "K2"]
    assert [c.amount_cents for c in t.coupons] == [2000, 1800]
    assert t.coupon("K2").base_amount_cents == 18000
    assert [f.precise_coupons_amount_cents for f in t.fees] == [1000, 2400, 400]
    assert totals_line(t) == (20000, 3800, 16200, 3240, 19440, 5000, 10000, 4440)
    assert t.credit_notes[0].balance_cents == 0 and t.credit_notes[0].consumed
    assert t.wallets[0].amount_cents == 10000 and t.wallets[0].balance_cents == 0
    assert t.coupon("K1").terminated and not t.coupon("K2").terminated


def test_ex_6_3_wallet_limited_to_metrics():
    wallet_balance = 3900  # 39.00 credits at rate 1

    def instant_invoice(metric, amount, balance):
        return compute_invoice_totals(
            currency="EUR",
            fees=[fee("f", amount, taxes=[("vat24", D(24))], metric=metric)],
            wallets=[
                WalletCredit(
                    id="w", balance_cents=balance, billable_metric_codes={"m1", "m2"}, rate_amount=D(1)
                )
            ],
        )

    t1 = instant_invoice("m1", 1429, wallet_balance)
    assert (t1.taxes_amount_cents, t1.sub_total_including_taxes_amount_cents) == (343, 1772)
    assert (t1.prepaid_credit_amount_cents, t1.total_amount_cents, t1.wallets[0].balance_cents) == (
        1772,
        0,
        2128,
    )
    assert t1.wallets[0].credits == D("17.72")
    t2 = instant_invoice("m2", 1427, t1.wallets[0].balance_cents)
    assert (t2.taxes_amount_cents, t2.sub_total_including_taxes_amount_cents) == (342, 1769)
    assert (t2.total_amount_cents, t2.wallets[0].balance_cents) == (0, 359)
    t3 = instant_invoice("m3", 1000, t2.wallets[0].balance_cents)
    assert (t3.prepaid_credit_amount_cents, t3.total_amount_cents, t3.wallets[0].balance_cents) == (
        0,
        1240,
        359,
    )


def test_ex_6_4_jpy_taxes():
    base = prorate(amount_cents=1000, days=19, full_period_days=28).amount_cents
    assert base == 679
    t = compute_invoice_totals(
        currency="JPY", fees=[fee("base", base, "subscription", [("vat", D(10))], plan="jp")]
    )
    assert (t.taxes_amount_cents, t.total_amount_cents) == (68, 747)
    assert fee_amount_cents(D("0.4") * 3, "JPY") == 1


def test_ex_3_5_percentage_charge_with_20_percent_tax():
    t = compute_invoice_totals(currency="EUR", fees=[fee("pct", 510, taxes=[("vat", D(20))])])
    assert (t.taxes_amount_cents, t.total_amount_cents) == (102, 612)


def test_ex_7_2_credit_note_consumed_on_termination_invoice():
    t = compute_invoice_totals(
        currency="EUR",
        fees=[fee("usage", 893, taxes=[("vat", D(20))], metric="spend")],
        credit_notes=[CreditNoteCredit(id="cn", balance_cents=643)],
    )
    assert (t.taxes_amount_cents, t.sub_total_including_taxes_amount_cents) == (179, 1072)
    assert (t.credit_notes_amount_cents, t.total_amount_cents, t.credit_notes[0].consumed) == (643, 429, True)
    # The credit note itself: 3 unused days of a 5 000 in-advance fee, + 20 %.
    item = termination_credit_amount(
        amount_cents=5000, unused_days=3, full_period_days=28, fee_amount_cents=5000
    )
    note = compute_credit_note(
        items=[(CreditNoteFee(id="sub", amount_cents=5000, taxes=[("vat", D(20))]), item)],
        credit_amount_cents=643,
    )
    assert (note.sub_total_excluding_taxes_amount_cents, note.taxes_amount_cents) == (536, 107)
    assert (note.total_amount_cents, note.credit_amount_cents, note.rounding_adjustment_cents) == (
        643,
        643,
        0,
    )


def test_ex_9_1_progressive_billing_credit():
    fees = [fee("base", 3100, "subscription", plan="p"), fee("usage", 60000, metric="units", plan="p")]
    t = compute_invoice_totals(currency="EUR", fees=fees, progressive_billing_credit_cents=60000)
    assert (t.progressive_billing_credit_amount_cents, t.sub_total_excluding_taxes_amount_cents) == (
        60000,
        3100,
    )
    assert t.total_amount_cents == 3100
    assert t.fee("usage").precise_progressive_billing_credit_amount_cents == 60000
    assert t.fee("base").precise_coupons_amount_cents == 0
    fees = [fee("base", 3100, "subscription", plan="p"), fee("usage", 40000, metric="units", plan="p")]
    t = compute_invoice_totals(currency="EUR", fees=fees, progressive_billing_credit_cents=20000)
    assert t.total_amount_cents == 23100


def test_progressive_billing_credit_is_capped_and_taxes_follow():
    fees = [
        fee("base", 1000, "subscription", [("vat", D(20))], plan="p"),
        fee("u1", 3000, taxes=[("vat", D(20))]),
        fee("u2", 1000, taxes=[("vat", D(20))]),
    ]
    t = compute_invoice_totals(currency="EUR", fees=fees, progressive_billing_credit_cents=5000)
    pb = t.progressive_billing_credits[0]
    assert (pb.requested_amount_cents, pb.amount_cents, pb.excess_amount_cents) == (5000, 4000, 1000)
    assert (t.sub_total_excluding_taxes_amount_cents, t.taxes_amount_cents, t.total_amount_cents) == (
        1000,
        200,
        1200,
    )
    # Explicit per-fee credits (one per matched fee) and a percentage coupon applied on what is left.
    t = compute_invoice_totals(
        currency="EUR",
        fees=fees,
        progressive_billing_credit_cents=[
            ProgressiveBillingCredit(amount_cents=1000, fee_ids=frozenset({"u1"}))
        ],
        coupons=[percent("k", 50)],
    )
    assert t.fee("u1").precise_progressive_billing_credit_amount_cents == 1000
    assert t.coupon("k").base_amount_cents == 4000
    assert [f.precise_coupons_amount_cents for f in t.fees] == [500, 2000, 500]
    assert t.sub_total_excluding_taxes_amount_cents == 2000
    with pytest.raises(ValueError, match="unknown fees"):
        compute_invoice_totals(
            currency="EUR",
            fees=fees,
            progressive_billing_credit_cents=[
                ProgressiveBillingCredit(amount_cents=1, fee_ids=frozenset({"x"}))
            ],
        )


# ---------------------------------------------------------------------------------------------------------------
# §7 examples
# ---------------------------------------------------------------------------------------------------------------


def test_ex_7_1_invoice_and_credit_note():
    fees = [
        fee("f1", 17900, "subscription", [("org_vat", D(10))], plan="plan1"),
        fee("f2", 39900, "subscription", [("plan_a", D(10)), ("plan_b", D(10))], plan="plan2"),
    ]
    t = compute_invoice_totals(currency="EUR", fees=fees, coupons=[fixed("k", 25000, plan_codes={"plan2"})])
    assert t.fee("f2").precise_coupons_amount_cents == 25000
    assert t.fee("f1").precise_coupons_amount_cents == 0
    assert (t.taxes_amount_cents, t.total_amount_cents, t.taxes_rate) == (4770, 37570, D("14.54268"))
    f2 = t.fee("f2")
    cn_fee = CreditNoteFee(
        id="f2",
        amount_cents=f2.amount_cents,
        precise_coupons_amount_cents=f2.precise_coupons_amount_cents,
        taxes=[(tax.tax_code, tax.tax_rate) for tax in f2.applied_taxes],
    )
    # Requested as Lago's round(11 767.64) = 11 768: the rounding fix brings it to sub_total + taxes.
    note = compute_credit_note(
        items=[CreditNoteItem(fee=cn_fee, amount_cents=26260)], credit_amount_cents=11768
    )
    assert note.coupons_adjustment_amount_cents == 16454
    assert note.precise_coupons_adjustment_amount_cents.quantize(D("0.01")) == D("16453.63")
    assert note.sub_total_excluding_taxes_amount_cents == 9806
    assert note.precise_taxes_amount_cents.quantize(D("0.01")) == D("1961.27")
    assert note.taxes_amount_cents == 1961
    assert [(a.tax_code, a.amount_cents, a.base_amount_cents) for a in note.applied_taxes] == [
        ("plan_a", 981, 9806),
        ("plan_b", 981, 9806),
    ]
    assert (note.expected_total_amount_cents, note.max_creditable_amount_cents) == (11768, 11767)
    assert note.amounts_match and note.rounding_adjustment_cents == -1
    assert (note.total_amount_cents, note.credit_amount_cents, note.balance_amount_cents) == (
        11767,
        11767,
        11767,
    )
    assert note.taxes_rate == D("20.00000")
    # Requesting the estimate's figure needs no fix.
    note = compute_credit_note(items=[(cn_fee, 26260)], credit_amount_cents=11767)
    assert (note.rounding_adjustment_cents, note.total_amount_cents) == (0, 11767)


@pytest.mark.parametrize(
    ("days", "fee_amount", "sub_total", "taxes", "total"),
    [(20, 3750, 3571, 714, 4285), (27, 5000, 4821, 964, 5785)],
)
def test_ex_4_6_termination_credit_note_taxes(days, fee_amount, sub_total, taxes, total):
    item = termination_credit_amount(
        amount_cents=5000, unused_days=days, full_period_days=28, fee_amount_cents=fee_amount
    )
    cn_fee = CreditNoteFee(id="sub", amount_cents=fee_amount, taxes=[("vat", D(20))])
    probe = compute_credit_note(items=[(cn_fee, item)])
    assert probe.expected_total_amount_cents == total + 1  # round(precise total) is one cent above
    note = compute_credit_note(items=[(cn_fee, item)], credit_amount_cents=probe.expected_total_amount_cents)
    assert (note.sub_total_excluding_taxes_amount_cents, note.taxes_amount_cents) == (sub_total, taxes)
    assert (note.total_amount_cents, note.credit_amount_cents, note.max_creditable_amount_cents) == (
        total,
        total,
        total,
    )


def test_credit_note_rounding_fix_goes_to_credit_then_refund_then_offset():
    cn_fee = CreditNoteFee(id="f", amount_cents=5000, taxes=[("vat", D(20))])
    item = D("3571.42857")  # precise total 4285.714284 → 4286, sub_total + taxes = 4285
    note = compute_credit_note(items=[(cn_fee, item)], credit_amount_cents=1000, refund_amount_cents=3286)
    assert (note.credit_amount_cents, note.refund_amount_cents, note.total_amount_cents) == (999, 3286, 4285)
    note = compute_credit_note(items=[(cn_fee, item)], refund_amount_cents=4286)
    assert (note.credit_amount_cents, note.refund_amount_cents, note.balance_amount_cents) == (0, 4285, 0)
    note = compute_credit_note(items=[(cn_fee, item)], offset_amount_cents=4286)
    assert (note.offset_amount_cents, note.total_amount_cents) == (4285, 4285)
    # Two cents off is refused (no fix applied).
    note = compute_credit_note(items=[(cn_fee, item)], credit_amount_cents=4288)
    assert not note.amounts_match
    assert (note.total_amount_cents, note.rounding_adjustment_cents) == (4288, 0)


def test_credit_note_options():
    cn_fee = CreditNoteFee(
        id="f", amount_cents=1000, precise_coupons_amount_cents=D(250), taxes=[("vat", D(10))]
    )
    # Coupons before taxes (default): 1000 − 250 = 750, tax 75.
    note = compute_credit_note(items=[(cn_fee, 1000)])
    assert (
        note.coupons_adjustment_amount_cents,
        note.taxes_amount_cents,
        note.max_creditable_amount_cents,
    ) == (
        250,
        75,
        825,
    )
    # Invoices older than coupons-before-taxes: no coupon adjustment.
    note = compute_credit_note(items=[(cn_fee, 1000)], coupons_before_taxes=False)
    assert (note.coupons_adjustment_amount_cents, note.taxes_amount_cents) == (0, 100)
    # Taxable ratio of the invoice tax.
    note = compute_credit_note(items=[(cn_fee, 1000)], taxable_ratios={"vat": D("0.5")})
    assert (note.applied_taxes[0].base_amount_cents, note.taxes_amount_cents) == (375, 38)
    # Crediting the rest of an invoice absorbs earlier notes' tax rounding (§7).
    note = compute_credit_note(items=[(cn_fee, 1000)], prior_taxes_rounding_adjustment=D("0.6"))
    assert (note.precise_taxes_amount_cents, note.taxes_amount_cents) == (D("74.4"), 74)
    assert note.taxes_rounding_adjustment == D("-0.4")
    # Zero-amount fee: no coupon share, no division by zero.
    zero_fee = CreditNoteFee(id="z", amount_cents=0)
    assert compute_credit_note(items=[(zero_fee, 0)]).max_creditable_amount_cents == 0


def test_credit_note_estimate_helpers():
    assert (
        max_refundable_amount_cents(max_creditable_amount_cents=11767, total_paid_amount_cents=5000) == 5000
    )
    assert (
        max_refundable_amount_cents(
            max_creditable_amount_cents=11767, total_paid_amount_cents=40000, refunded_amount_cents=30000
        )
        == 10000
    )
    assert (
        max_refundable_amount_cents(
            max_creditable_amount_cents=100, total_paid_amount_cents=10, refunded_amount_cents=30
        )
        == 0
    )
    assert fee_remaining_creditable_amount_cents(
        fee_amount_cents=1000, credited_amount_cents=D("300.5")
    ) == D("699.5")
    assert fee_remaining_creditable_amount_cents(fee_amount_cents=1000, credited_amount_cents=2000) == 0


# ---------------------------------------------------------------------------------------------------------------
# Coupon rules (§6.2)
# ---------------------------------------------------------------------------------------------------------------


def test_coupon_order_metric_then_plan_then_unrestricted_then_age():
    fees = [fee("s", 10000, "subscription", plan="p"), fee("u", 10000, metric="m", plan="p")]
    coupons = [
        fixed("free_old", 100, frequency="forever", created=0),
        fixed("plan_new", 100, frequency="forever", created=9, plan_codes={"p"}),
        fixed("plan_old", 100, frequency="forever", created=1, plan_codes={"p"}),
        fixed("metric", 100, frequency="forever", created=10, billable_metric_codes={"m"}),
        fixed("free_new", 100, frequency="forever", created=3),
    ]
    t = compute_invoice_totals(currency="EUR", fees=fees, coupons=coupons)
    assert [c.id for c in t.coupons] == ["metric", "plan_old", "plan_new", "free_old", "free_new"]
    assert t.coupons_amount_cents == 500


def test_coupons_stop_once_the_sub_total_is_zero():
    fees = [fee("s", 1000, "subscription", plan="p")]
    t = compute_invoice_totals(
        currency="EUR",
        fees=fees,
        coupons=[
            fixed("a", 1000, created=0),
            percent("b", 10, "recurring", created=1, frequency_duration_remaining=3),
        ],
    )
    assert t.coupon("a").applied and t.coupon("a").terminated
    b = t.coupon("b")
    assert (b.applied, b.skipped_reason, b.frequency_duration_remaining, b.terminated) == (
        False,
        "sub_total_is_zero",
        3,
        False,
    )


def test_fixed_coupons_only_apply_in_their_currency():
    t = compute_invoice_totals(
        currency="USD", fees=[fee("s", 1000, "subscription")], coupons=[fixed("eur", 100), percent("pct", 10)]
    )
    assert t.coupon("eur").skipped_reason == "currency_mismatch"
    assert t.coupon("eur").remaining_amount_cents == 100
    assert t.coupon("pct").amount_cents == 100


def test_percentage_coupon_rounds_half_up_and_never_exceeds_base():
    t = compute_invoice_totals(
        currency="EUR", fees=[fee("s", 45, "subscription")], coupons=[percent("k", 10)]
    )
    assert t.coupon("k").amount_cents == 5  # 4.5 → 5
    t = compute_invoice_totals(
        currency="EUR", fees=[fee("s", 45, "subscription")], coupons=[percent("k", 100)]
    )
    assert (t.coupon("k").amount_cents, t.total_amount_cents) == (45, 0)


def test_coupon_lifecycles():
    fees = [fee("s", 10000, "subscription")]
    t = compute_invoice_totals(
        currency="EUR",
        fees=fees,
        coupons=[
            percent("once_pct", 1, "once", created=0),
            percent("forever", 1, "forever", created=1),
            fixed("rec_last", 100, "recurring", created=2, frequency_duration_remaining=1),
            fixed("rec", 100, "recurring", created=3, frequency_duration_remaining=3),
        ],
    )
    by_id = {c.id: c for c in t.coupons}
    assert by_id["once_pct"].terminated
    assert not by_id["forever"].terminated
    assert (by_id["rec_last"].frequency_duration_remaining, by_id["rec_last"].terminated) == (0, True)
    assert (by_id["rec"].frequency_duration_remaining, by_id["rec"].terminated) == (2, False)
    assert by_id["rec"].remaining_amount_cents is None


def test_limited_coupon_eligibility():
    fees = [
        fee("s", 1000, "subscription", plan="child", parent_plan="gold"),
        fee("fc", 1000, "fixed_charge", plan="child", parent_plan="gold"),
        fee("u", 1000, metric="api", plan="child", parent_plan="gold"),
        fee("addon", 1000, "add_on"),
    ]
    t = compute_invoice_totals(
        currency="EUR",
        fees=fees,
        coupons=[
            fixed("metric", 300, billable_metric_codes={"api"}),
            fixed("plan", 300, plan_codes={"gold"}, created=1),
            fixed("none", 300, billable_metric_codes={"other"}, created=2),
        ],
    )
    assert t.coupon("none").skipped_reason == "no_eligible_fees"
    # Metric coupon: all on u. Plan coupon (the child plan answers to its parent's code): over s, fc, u's rest.
    assert t.coupon("plan").base_amount_cents == 2700
    assert t.fee("u").precise_coupons_amount_cents.quantize(D("0.01")) == D("377.78")  # 300 + 300 × 700/2700
    assert t.fee("s").precise_coupons_amount_cents.quantize(D("0.01")) == D("111.11")
    assert t.fee("fc").precise_coupons_amount_cents == t.fee("s").precise_coupons_amount_cents
    assert t.fee("addon").precise_coupons_amount_cents == 0
    shares = {f.id: f.precise_coupons_amount_cents for f in t.fees}
    assert shares["s"] + shares["fc"] + shares["u"] == 600
    assert t.coupons_amount_cents == 600


def test_limited_coupon_on_zero_fee_is_applied_with_zero_like_lago():
    fees = [fee("s", 1000, "subscription"), fee("u", 0, metric="api")]
    t = compute_invoice_totals(
        currency="EUR", fees=fees, coupons=[percent("k", 50, "once", billable_metric_codes={"api"})]
    )
    k = t.coupon("k")
    assert (k.applied, k.amount_cents, k.terminated) == (True, 0, True)
    assert t.total_amount_cents == 1000


def test_fractional_base_keeps_coupons_whole_and_shares_exact():
    # A metric coupon spread over two subscriptions' fees leaves a plan-limited base of 1 166.67.
    fees = [
        fee("a1", 500, metric="m", plan="A", taxes=[("vat", D(20))]),
        fee("b1", 1000, metric="m", plan="B", taxes=[("vat", D(20))]),
        fee("a2", 1000, "subscription", plan="A", taxes=[("vat", D(20))]),
    ]
    t = compute_invoice_totals(
        currency="EUR",
        fees=fees,
        coupons=[
            fixed("m", 500, billable_metric_codes={"m"}),
            percent("a", 100, plan_codes={"A"}, created=1),
        ],
    )
    assert t.coupon("a").base_amount_cents.quantize(D("0.01")) == D("1333.33")
    assert t.coupon("a").amount_cents == 1333
    total_shares = sum(f.precise_coupons_amount_cents for f in t.fees)
    assert abs(total_shares - t.coupons_amount_cents) <= D("1e-13")
    assert t.coupons_amount_cents == 1833
    assert all(f.precise_coupons_amount_cents <= f.amount_cents for f in t.fees)


def test_drafts_do_not_apply_coupons():
    t = compute_invoice_totals(
        currency="EUR", fees=[fee("s", 1000, "subscription")], coupons=[fixed("k", 100)], apply_coupons=False
    )
    assert (t.coupons_amount_cents, t.total_amount_cents) == (0, 1000)
    assert t.coupon("k").skipped_reason == "coupons_not_applied"


# ---------------------------------------------------------------------------------------------------------------
# Taxes (§6.3)
# ---------------------------------------------------------------------------------------------------------------


def test_invoice_taxes_round_the_unrounded_sum():
    fees = [fee(f"f{i}", 5, taxes=[("vat", D(10))]) for i in range(3)]  # 0.5 each
    t = compute_invoice_totals(currency="EUR", fees=fees)
    assert [f.taxes_amount_cents for f in t.fees] == [1, 1, 1]
    assert t.applied_taxes[0].amount_cents == 2  # round(1.5)
    assert t.taxes_amount_cents == 2
    assert t.total_amount_cents == 17


def test_fee_with_two_taxes_rounds_their_sum_once():
    t = compute_invoice_totals(currency="EUR", fees=[fee("f", 5, taxes=[("a", D(10)), ("b", D(10))])])
    f = t.fee("f")
    assert [tax.amount_cents for tax in f.applied_taxes] == [1, 1]
    assert (f.taxes_amount_cents, f.taxes_precise_amount_cents, f.taxes_rate) == (1, 1, 20)


def test_taxes_rate_pro_rata_and_zero_sub_total():
    fees = [fee("a", 3000, taxes=[("t10", D(10))]), fee("b", 1000, taxes=[("t20", D(20))]), fee("c", 0)]
    t = compute_invoice_totals(currency="EUR", fees=fees)
    assert t.taxes_rate == D("12.50000")
    t = compute_invoice_totals(currency="EUR", fees=fees, coupons=[percent("k", 100)])
    assert t.sub_total_excluding_taxes_amount_cents == 0
    assert t.taxes_rate == D("10.00000")  # (10 + 20) / 3 fees
    assert compute_invoice_totals(currency="EUR", fees=[]).taxes_rate == 0


def test_input_validation():
    with pytest.raises(ValueError, match="two rates"):
        compute_invoice_totals(
            currency="EUR", fees=[fee("a", 1, taxes=[("vat", D(10))]), fee("b", 1, taxes=[("vat", D(20))])]
        )
    with pytest.raises(ValueError, match="never taxed"):
        FeeLine(id="c", fee_type="credit", amount_cents=100, taxes=(("vat", D(20)),))
    with pytest.raises(ValueError, match="negative"):
        fee("a", -1)
    with pytest.raises(TypeError):
        fee("a", 1.5)
    with pytest.raises(TypeError):
        fee("a", 1, taxes=[("vat", 0.2)])
    with pytest.raises(ValueError, match="fee_type"):
        fee("a", 1, "usage")
    with pytest.raises(ValueError, match="twice"):
        compute_invoice_totals(currency="EUR", fees=[fee("a", 1), fee("a", 2)])
    with pytest.raises(ValueError, match="currency"):
        compute_invoice_totals(currency="XXX1", fees=[])
    with pytest.raises(ValueError, match="percentage_rate"):
        percent("k", 101)
    with pytest.raises(ValueError, match="plans and"):
        fixed("k", 1, plan_codes={"p"}, billable_metric_codes={"m"})
    with pytest.raises(ValueError, match="frequency_duration_remaining"):
        fixed("k", 1, "recurring")
    with pytest.raises(ValueError, match="twice"):
        compute_invoice_totals(currency="EUR", fees=[fee("a", 1)], coupons=[percent("k", 1), percent("k", 2)])
    with pytest.raises(ValueError, match="precise_coupons"):
        CreditNoteFee(id="f", amount_cents=10, precise_coupons_amount_cents=11)


# ---------------------------------------------------------------------------------------------------------------
# Credit notes and wallets on invoices (§6.4, §8)
# ---------------------------------------------------------------------------------------------------------------


def test_credit_notes_oldest_first_same_currency_only():
    t = compute_invoice_totals(
        currency="EUR",
        fees=[fee("s", 1000, "subscription")],
        credit_notes=[
            CreditNoteCredit(id="new", balance_cents=800, created_at=at(5)),
            CreditNoteCredit(id="usd", balance_cents=800, created_at=at(0), currency="USD"),
            CreditNoteCredit(id="old", balance_cents=600, created_at=at(1)),
        ],
    )
    by_id = {c.id: c for c in t.credit_notes}
    assert [c.id for c in t.credit_notes] == ["usd", "old", "new"]
    assert (by_id["usd"].amount_cents, by_id["old"].amount_cents, by_id["new"].amount_cents) == (0, 600, 400)
    assert (by_id["old"].consumed, by_id["new"].balance_cents) == (True, 400)
    assert (t.credit_notes_amount_cents, t.total_amount_cents) == (1000, 0)


def test_wallets_by_priority_then_age_and_only_when_something_is_due():
    fees = [fee("s", 1000, "subscription", [("vat", D(20))])]
    wallets = [
        WalletCredit(id="late", balance_cents=5000, priority=50, created_at=at(0)),
        WalletCredit(id="first", balance_cents=300, priority=1, created_at=at(9)),
        WalletCredit(id="usd", balance_cents=5000, priority=1, created_at=at(0), currency="USD"),
    ]
    t = compute_invoice_totals(currency="EUR", fees=fees, wallets=wallets)
    assert [w.id for w in t.wallets] == ["usd", "first", "late"]
    assert [w.amount_cents for w in t.wallets] == [0, 300, 900]
    assert t.total_amount_cents == 0
    t = compute_invoice_totals(
        currency="EUR",
        fees=fees,
        wallets=wallets,
        credit_notes=[CreditNoteCredit(id="cn", balance_cents=1200)],
    )
    assert t.prepaid_credit_amount_cents == 0 and all(w.amount_cents == 0 for w in t.wallets)


def test_wallet_applies_to_fee_types_and_metrics():
    fees = [
        fee("s", 1000, "subscription", [("vat", D(10))]),
        fee("u1", 2000, taxes=[("vat", D(10))], metric="m1"),
        fee("u2", 4000, taxes=[("vat", D(10))], metric="m2"),
    ]
    t = compute_invoice_totals(
        currency="EUR",
        fees=fees,
        wallets=[
            WalletCredit(id="subs", balance_cents=10000, fee_types={"subscription"}, priority=1),
            WalletCredit(
                id="m1_or_subs", balance_cents=10000, fee_types={"subscription"}, billable_metric_codes={"m1"}
            ),
        ],
    )
    assert [w.amount_cents for w in t.wallets] == [1100, 2200]
    assert dict(t.wallets[1].precise_bucket_amounts) == {("charge", "m1"): 2200}
    assert t.total_amount_cents == 4400


def test_wallet_bucket_caps_follow_coupons_taxes_and_credit_notes():
    fees = [
        fee("s", 1000, "subscription", [("vat", D(20))]),
        fee("u", 3000, taxes=[("vat", D(20))], metric="m"),
    ]
    t = compute_invoice_totals(
        currency="EUR",
        fees=fees,
        coupons=[percent("k", 50)],
        credit_notes=[CreditNoteCredit(id="cn", balance_cents=1200)],
        wallets=[WalletCredit(id="w", balance_cents=10000, billable_metric_codes={"m"})],
    )
    # u: 3000 − 1500 + 300 = 1800, less its 3/4 share of the 1 200 credit note = 900.
    assert t.fee("u").precise_credit_notes_amount_cents == 900
    assert (t.prepaid_credit_amount_cents, t.total_amount_cents) == (900, 300)


def test_wallet_credit_conversions():
    assert wallet_credits_to_cents(credits=D(100), rate_amount=D("0.5"), currency="EUR") == 5000
    assert wallet_cents_to_credits(amount_cents=3000, rate_amount=D("0.5"), currency="EUR") == 60
    assert wallet_credits_to_cents(credits=D("1.2345"), rate_amount=D(1), currency="KWD") == 1235
    assert wallet_credits_to_cents(credits=D("1.5"), rate_amount=D(1), currency="JPY") == 2
    assert wallet_cents_to_credits(amount_cents=100, rate_amount=D("0.3"), currency="EUR") == D("3.33333")
    t = compute_invoice_totals(
        currency="EUR",
        fees=[fee("s", 3000, "subscription")],
        wallets=[WalletCredit(id="w", balance_cents=5000, rate_amount=D("0.5"))],
    )
    assert (t.wallets[0].amount_cents, t.wallets[0].credits) == (3000, 60)


# ---------------------------------------------------------------------------------------------------------------
# Properties
# ---------------------------------------------------------------------------------------------------------------

TAX_CATALOG = {"t0": D(0), "t5_5": D("5.5"), "t7_7": D("7.7"), "t10": D(10), "t20": D(20), "t33": D("33.333")}
CURRENCIES = ["EUR", "JPY", "KWD", "USD"]
METRICS = ["m1", "m2", "m3"]
PLANS = ["p1", "p2"]


@st.composite
def fee_lines(draw):
    n = draw(st.integers(min_value=0, max_value=7))
    result = []
    for i in range(n):
        fee_type = draw(
            st.sampled_from(
                sorted(["subscription", "charge", "fixed_charge", "commitment", "add_on", "credit"])
            )
        )
        amount = draw(st.one_of(st.integers(0, 100), st.integers(0, 10_000_000)))
        taxes = (
            ()
            if fee_type == "credit"
            else tuple(
                (code, TAX_CATALOG[code])
                for code in draw(st.lists(st.sampled_from(sorted(TAX_CATALOG)), unique=True, max_size=2))
            )
        )
        metric = draw(st.sampled_from(METRICS)) if fee_type == "charge" else None
        plan = draw(st.sampled_from(PLANS)) if fee_type not in ("add_on", "credit") else None
        result.append(
            FeeLine(
                id=f"f{i}",
                fee_type=fee_type,
                amount_cents=amount,
                taxes=taxes,
                billable_metric_code=metric,
                plan_code=plan,
            )
        )
    return result


@st.composite
def coupon_list(draw, currency):
    n = draw(st.integers(min_value=0, max_value=4))
    result = []
    for i in range(n):
        limit = draw(st.sampled_from(["none", "metric", "plan"]))
        kwargs = {}
        if limit == "metric":
            kwargs["billable_metric_codes"] = frozenset(
                draw(st.lists(st.sampled_from(METRICS), min_size=1, unique=True))
            )
        elif limit == "plan":
            kwargs["plan_codes"] = frozenset(draw(st.lists(st.sampled_from(PLANS), min_size=1, unique=True)))
        frequency = draw(st.sampled_from(["once", "recurring", "forever"]))
        if frequency == "recurring":
            kwargs["frequency_duration_remaining"] = draw(st.integers(0, 5))
        created = at(draw(st.integers(0, 3)))
        if draw(st.booleans()):
            rate = draw(st.decimals(min_value=0, max_value=100, places=2))
            result.append(
                CouponToApply(
                    id=f"k{i}",
                    coupon_type="percentage",
                    frequency=frequency,
                    percentage_rate=rate,
                    created_at=created,
                    **kwargs,
                )
            )
        else:
            amount = draw(st.integers(0, 5_000_000))
            remaining = draw(st.integers(0, amount)) if frequency == "once" and draw(st.booleans()) else None
            coupon_currency = draw(st.sampled_from([currency, currency, "GBP"]))
            result.append(
                CouponToApply(
                    id=f"k{i}",
                    coupon_type="fixed_amount",
                    frequency=frequency,
                    amount_cents=amount,
                    remaining_amount_cents=remaining,
                    currency=coupon_currency,
                    created_at=created,
                    **kwargs,
                )
            )
    return result


@st.composite
def invoices(draw):
    currency = draw(st.sampled_from(CURRENCIES))
    fees = draw(fee_lines())
    coupons = draw(coupon_list(currency))
    notes = [
        CreditNoteCredit(
            id=f"cn{i}", balance_cents=draw(st.integers(0, 3_000_000)), created_at=at(draw(st.integers(0, 3)))
        )
        for i in range(draw(st.integers(0, 3)))
    ]
    wallets = []
    for i in range(draw(st.integers(0, 3))):
        fee_types = frozenset(
            draw(
                st.lists(
                    st.sampled_from(
                        sorted(["subscription", "charge", "fixed_charge", "commitment", "add_on"])
                    ),
                    max_size=2,
                    unique=True,
                )
            )
        )
        metrics = frozenset(draw(st.lists(st.sampled_from(METRICS), max_size=2, unique=True)))
        wallets.append(
            WalletCredit(
                id=f"w{i}",
                balance_cents=draw(st.integers(0, 5_000_000)),
                priority=draw(st.integers(1, 50)),
                created_at=at(draw(st.integers(0, 3))),
                fee_types=fee_types,
                billable_metric_codes=metrics,
                rate_amount=draw(st.sampled_from([None, D(1), D("0.5"), D("3")])),
            )
        )
    pb = draw(st.integers(0, 5_000_000)) if draw(st.booleans()) else 0
    return currency, fees, coupons, notes, wallets, pb


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(invoices())
def test_invoice_invariants(case):
    currency, fees, coupons, notes, wallets, pb = case
    t = compute_invoice_totals(
        currency=currency,
        fees=fees,
        coupons=coupons,
        credit_notes=notes,
        wallets=wallets,
        progressive_billing_credit_cents=pb,
    )
    # Totals identities, never negative.
    assert t.fees_amount_cents == sum(f.amount_cents for f in fees)
    assert t.sub_total_excluding_taxes_amount_cents == (
        t.fees_amount_cents - t.progressive_billing_credit_amount_cents - t.coupons_amount_cents
    )
    assert t.sub_total_excluding_taxes_amount_cents >= 0
    assert (
        t.sub_total_including_taxes_amount_cents
        == t.sub_total_excluding_taxes_amount_cents + t.taxes_amount_cents
    )
    assert t.total_amount_cents == (
        t.sub_total_including_taxes_amount_cents - t.credit_notes_amount_cents - t.prepaid_credit_amount_cents
    )
    assert t.total_amount_cents >= 0
    # Coupons and the progressive-billing credit never exceed the fees; fee shares add up to them.
    assert t.coupons_amount_cents + t.progressive_billing_credit_amount_cents <= t.fees_amount_cents
    assert t.progressive_billing_credit_amount_cents <= pb
    shares = sum((f.precise_coupons_amount_cents for f in t.fees), D(0))
    discounts = t.coupons_amount_cents + t.progressive_billing_credit_amount_cents
    assert abs(shares - discounts) <= D("1e-14") * max(len(fees), 1)
    for f in t.fees:
        assert 0 <= f.precise_progressive_billing_credit_amount_cents <= f.precise_coupons_amount_cents
        assert f.precise_coupons_amount_cents <= f.amount_cents
        assert f.taxes_amount_cents >= 0 and f.taxes_precise_amount_cents >= 0
        assert f.taxes_amount_cents == round_cents(f.taxes_precise_amount_cents)
    # Taxes: non-negative, the invoice rounds the exact sum once.
    assert t.taxes_amount_cents >= 0
    exact_taxes = sum((f.taxes_precise_amount_cents for f in t.fees), D(0))
    assert abs(t.taxes_amount_cents - exact_taxes) <= D("0.5") + D("1e-13")
    assert sum(a.precise_amount_cents for a in t.applied_taxes) == t.taxes_precise_amount_cents or abs(
        sum(a.precise_amount_cents for a in t.applied_taxes) - t.taxes_precise_amount_cents
    ) <= D("1e-13")
    # Coupons: amounts within their base, lifecycle consistent.
    by_id = {c.id: c for c in coupons}
    for result in t.coupons:
        coupon = by_id[result.id]
        assert 0 <= result.amount_cents <= result.base_amount_cents + D("1e-14")
        if not result.applied:
            assert result.amount_cents == 0 and not result.terminated
            assert result.frequency_duration_remaining == coupon.frequency_duration_remaining
            continue
        if coupon.coupon_type == "percentage":
            assert result.amount_cents <= round_cents(result.base_amount_cents * coupon.percentage_rate / 100)
        if coupon.frequency == "recurring":
            assert result.frequency_duration_remaining == max(coupon.frequency_duration_remaining - 1, 0)
            assert result.terminated == (result.frequency_duration_remaining == 0)
        elif coupon.frequency == "forever":
            assert not result.terminated
        elif coupon.coupon_type == "fixed_amount":
            before = (
                coupon.amount_cents
                if coupon.remaining_amount_cents is None
                else coupon.remaining_amount_cents
            )
            assert result.remaining_amount_cents == before - result.amount_cents >= 0
            assert result.terminated == (result.remaining_amount_cents == 0)
        else:
            assert result.terminated
    # Credit notes and wallets never overdraw.
    assert sum(c.amount_cents for c in t.credit_notes) == t.credit_notes_amount_cents
    assert t.credit_notes_amount_cents <= t.sub_total_including_taxes_amount_cents
    notes_by_id = {n.id: n for n in notes}
    for consumption in t.credit_notes:
        assert 0 <= consumption.amount_cents <= notes_by_id[consumption.id].balance_cents
        assert (
            consumption.balance_cents == notes_by_id[consumption.id].balance_cents - consumption.amount_cents
        )
    wallets_by_id = {w.id: w for w in wallets}
    assert sum(w.amount_cents for w in t.wallets) == t.prepaid_credit_amount_cents
    for consumption in t.wallets:
        wallet = wallets_by_id[consumption.id]
        assert 0 <= consumption.amount_cents <= wallet.balance_cents
        payable = any(wallet.pays(f.wallet_bucket) for f in fees)
        if not payable:
            assert consumption.amount_cents == 0
        if consumption.credits is not None and consumption.amount_cents:
            back = wallet_credits_to_cents(
                credits=consumption.credits, rate_amount=wallet.rate_amount, currency=currency
            )
            assert abs(back - consumption.amount_cents) <= 1
    if t.sub_total_including_taxes_amount_cents - t.credit_notes_amount_cents <= 0:
        assert t.prepaid_credit_amount_cents == 0


@settings(max_examples=300, deadline=None)
@given(fee_lines(), st.sampled_from(CURRENCIES))
def test_nothing_applied_means_fees_plus_taxes(fees, currency):
    t = compute_invoice_totals(currency=currency, fees=fees)
    expected_taxes = round_cents(
        sum((f.amount_cents * rate / 100 for f in fees for _, rate in f.taxes), D(0))
    )
    assert t.taxes_amount_cents == expected_taxes
    assert t.total_amount_cents == t.fees_amount_cents + expected_taxes
    assert t.coupons_amount_cents == t.credit_notes_amount_cents == t.prepaid_credit_amount_cents == 0
    for f, line in zip(t.fees, fees, strict=True):
        assert f.taxes_amount_cents == round_cents(
            sum((line.amount_cents * r / 100 for _, r in line.taxes), D(0))
        )


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 1_000_000),
            st.fractions(min_value=0, max_value=1),
            st.lists(st.sampled_from(sorted(TAX_CATALOG)), unique=True, max_size=3),
            st.fractions(min_value=0, max_value=1),
        ),
        min_size=1,
        max_size=4,
    ),
)
def test_credit_note_invariants(rows):
    items = []
    for i, (amount, coupon_ratio, codes, item_ratio) in enumerate(rows):
        coupons = D(math.floor(amount * coupon_ratio * 100000)) / 100000
        cn_fee = CreditNoteFee(
            id=f"f{i}",
            amount_cents=amount,
            precise_coupons_amount_cents=coupons,
            taxes=[(code, TAX_CATALOG[code]) for code in codes],
        )
        item = D(math.floor(amount * item_ratio * 100000)) / 100000
        items.append(CreditNoteItem(fee=cn_fee, amount_cents=item))
    probe = compute_credit_note(items=items)
    assert abs(probe.max_creditable_amount_cents - probe.expected_total_amount_cents) <= 1
    assert probe.coupons_adjustment_amount_cents <= sum(round_cents(i.amount_cents) for i in items) + 1
    assert probe.taxes_amount_cents >= 0 and probe.sub_total_excluding_taxes_amount_cents >= 0
    for requested in {probe.expected_total_amount_cents, probe.max_creditable_amount_cents}:
        for split in (0, requested // 2, requested):
            note = compute_credit_note(
                items=items, credit_amount_cents=split, refund_amount_cents=requested - split
            )
            assert note.amounts_match
            assert (
                note.total_amount_cents
                == note.sub_total_excluding_taxes_amount_cents + note.taxes_amount_cents
            )
            assert (
                note.total_amount_cents
                == note.credit_amount_cents + note.refund_amount_cents + note.offset_amount_cents
            )
            assert min(note.credit_amount_cents, note.refund_amount_cents, note.offset_amount_cents) >= 0
    exact = sum((Fraction(i.amount_cents) for i in items), Fraction(0))
    assert probe.precise_total_amount_cents >= 0 and exact >= 0
