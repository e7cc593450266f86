"""Instant fees of pay-in-advance charges (billing-semantics §3.10, §3.11, §2.2): every event sent through
POST /events or /events/batch is billed on its own — an instant invoice, or a standalone fee — exactly once."""

import datetime as dt
import threading
from decimal import Decimal

import pytest
from django.db import connection

from billing import instant_fees
from billing.runs import bill_subscription
from billing.tasks import create_instant_fees as create_instant_fees_task
from invoicing.models import AppliedTax, Fee, Invoice, InvoiceSubscription
from metering.models import Event
from tests.catalog.factories import AppliedCouponFactory, CouponFactory
from tests.customers.factories import TaxFactory
from tests.metering.factories import scenario

pytestmark = pytest.mark.django_db

UTC = dt.UTC


@pytest.fixture
def on_commit(django_capture_on_commit_callbacks):
    """Run what a request queues after its commit (the test transaction never commits)."""

    def run(call, *args, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return call(*args, **kwargs)

    return run


@pytest.fixture
def send(on_commit):
    def post(s, **fields):
        return on_commit(s.send, **fields)

    return post


@pytest.fixture
def batch(on_commit):
    def post(s, events, expect=200):
        response = on_commit(s.api.post, "/api/v1/events/batch", {"events": events}, format="json")
        assert response.status_code == expect, response.json()
        return response.json()

    return post


def instant(s, aggregation_type="sum_agg", charge_model="standard", properties=None, **fields):
    metric_fields = {k: fields.pop(k) for k in ("field_name", "recurring") if k in fields}
    metric = s.metric(aggregation_type=aggregation_type, **metric_fields)
    return s.charge(metric, charge_model, properties or {"amount": "1"}, pay_in_advance=True, **fields)


def bill(s, now):
    """The billing run for the subscription at `now` (created when it started: nothing is backdated)."""
    from billing.models import Subscription

    Subscription.objects.filter(pk=s.subscription.pk).update(created_at=s.subscription.started_at)
    s.subscription.refresh_from_db()
    return bill_subscription(s.subscription, now=now)


def amounts(s):
    """The instant fees' amounts, in event order."""
    return list(
        Fee.objects.filter(subscription=s.subscription, pay_in_advance=True)
        .order_by("created_at", "id")
        .values_list("amount_cents", flat=True)
    )


def run(s, send, events, code="metric"):
    for i, properties in enumerate(events):
        properties = dict(properties)
        ts = properties.pop("ts", f"2024-03-{2 + i:02d}T10:00:00Z")
        precise = properties.pop("precise", None)
        send(s, code=code, ts=ts, precise=precise, **properties)
    return amounts(s)


# --------------------------------------------------------------------------------------------------------------
# Ex 3.10, event by event through POST /events
# --------------------------------------------------------------------------------------------------------------


def test_ex_3_10_package(send):
    s = scenario()
    instant(s, charge_model="package", properties={"amount": "100", "free_units": 3, "package_size": 2})
    assert run(s, send, [{"value": "3"}, {"value": "1"}, {"value": "2"}]) == [0, 10_000, 10_000]
    assert Invoice.objects.filter(customer=s.customer).count() == 3


def test_ex_3_10_graduated_first_tier_flat_fee_once(send):
    s = scenario()
    instant(
        s,
        charge_model="graduated",
        properties={
            "graduated_ranges": [
                {"from_value": 0, "to_value": 5, "per_unit_amount": "0.02", "flat_amount": "0.01"},
                {"from_value": 6, "to_value": None, "per_unit_amount": "0.01", "flat_amount": "0.01"},
            ]
        },
    )
    assert run(s, send, [{"value": "3"}, {"value": "1"}, {"value": "2"}]) == [7, 2, 4]


def test_ex_3_10_standard_sum_negative_events_are_never_refunded(send):
    s = scenario()
    instant(s, properties={"amount": "1.00"})
    assert run(s, send, [{"value": "10"}, {"value": "-4"}, {"value": "8"}]) == [1_000, 0, 400]
    fees = Fee.objects.filter(subscription=s.subscription).order_by("created_at")
    assert [f.units for f in fees] == [Decimal(10), Decimal(0), Decimal(4)]
    assert [f.total_aggregated_units for f in fees] == [Decimal(10), Decimal(6), Decimal(14)]


def test_ex_3_10_unique_count(send):
    s = scenario()
    instant(s, aggregation_type="unique_count_agg", field_name="id", properties={"amount": "12"})
    events = [
        {"id": "id_1"},
        {"id": "id_1", "operation_type": "remove"},
        {"id": "id_1"},
        {"id": "id_2"},
        {"id": "id_2"},
        {"id": "id_3"},
    ]
    assert run(s, send, events) == [1_200, 0, 0, 1_200, 0, 1_200]


def test_ex_3_10_percentage_with_free_total(send):
    s = scenario()
    instant(
        s,
        charge_model="percentage",
        properties={"rate": "5", "fixed_amount": "1", "free_units_per_total_aggregation": "3"},
    )
    assert run(s, send, [{"value": "5"}, {"value": "1"}]) == [110, 105]


def test_ex_3_6_percentage_per_transaction_min_max(send):
    s = scenario()
    instant(
        s,
        charge_model="percentage",
        properties={
            "rate": "1",
            "fixed_amount": "0.5",
            "per_transaction_min_amount": "1.75",
            "per_transaction_max_amount": "2",
        },
    )
    assert run(s, send, [{"value": "100"}, {"value": "1000"}, {"value": "10000"}]) == [175, 200, 200]


COUNT_GRADUATED = {
    "graduated_ranges": [
        {"from_value": 0, "to_value": 2, "per_unit_amount": "0", "flat_amount": "0"},
        {"from_value": 3, "to_value": None, "per_unit_amount": "2", "flat_amount": "0"},
    ]
}


def test_ex_3_10_count_graduated_same_second_ties_in_ingestion_order(send):
    s = scenario()
    instant(s, aggregation_type="count_agg", charge_model="graduated", properties=COUNT_GRADUATED)
    same = "2024-03-05T10:00:00Z"
    assert run(s, send, [{"ts": same}, {"ts": same}, {"ts": same}]) == [0, 0, 200]


def test_ex_3_10_count_graduated_same_second_in_one_batch(batch):
    s = scenario()
    instant(s, aggregation_type="count_agg", charge_model="graduated", properties=COUNT_GRADUATED)
    events = [
        {
            "transaction_id": f"b{i}",
            "external_subscription_id": "sub",
            "code": "metric",
            "timestamp": 1709632800,
        }
        for i in range(3)
    ]
    batch(s, events)
    by_tx = dict(
        Fee.objects.filter(subscription=s.subscription).values_list("event_transaction_id", "amount_cents")
    )
    assert by_tx == {"b0": 0, "b1": 0, "b2": 200}


def test_ex_3_10_dynamic(send):
    s = scenario()
    instant(s, charge_model="dynamic", properties={})
    assert run(s, send, [{"value": "1", "precise": "1234.56"}]) == [1_235]


def test_instant_fees_match_the_estimates(send):
    s = scenario()
    instant(s, aggregation_type="unique_count_agg", field_name="id", properties={"amount": "12"})
    estimates = []
    for i, user in enumerate(["a", "b", "a", "c"]):
        ts = f"2024-03-{2 + i:02d}T10:00:00Z"
        estimates.append(s.estimate(timestamp=ts, properties={"id": user})["fees"][0]["amount_cents"])
        send(s, ts=ts, id=user)
    assert amounts(s) == estimates == [1_200, 1_200, 0, 1_200]


# --------------------------------------------------------------------------------------------------------------
# Invoiceable or not
# --------------------------------------------------------------------------------------------------------------


def test_invoiceable_charge_bills_each_event_on_a_finalized_subscription_invoice(send):
    s = scenario()
    charge = instant(s, properties={"amount": "2"})
    TaxFactory(organization=s.organization, code="vat", rate="20", applied_to_organization=True)
    send(s, ts="2024-03-10T08:30:00Z", tx="evt-1", value="3")

    invoice = Invoice.objects.get(customer=s.customer)
    assert invoice.invoice_type == "subscription"
    assert invoice.status == "finalized" and invoice.number and invoice.finalized_at is not None
    assert invoice.issuing_date == dt.date(2024, 3, 15)  # the clock's day: billed now
    assert (invoice.fees_amount_cents, invoice.taxes_amount_cents, invoice.total_amount_cents) == (
        600,
        120,
        720,
    )
    assert invoice.payment_status == "pending"
    period = InvoiceSubscription.objects.get(invoice=invoice)
    assert period.invoicing_reason == "in_advance_charge"
    assert period.subscription_id == s.subscription.id
    assert period.timestamp == dt.datetime(2024, 3, 10, 8, 30, tzinfo=UTC)
    assert (period.charges_from_datetime, period.charges_to_datetime) == (
        dt.datetime(2024, 3, 1, tzinfo=UTC),
        dt.datetime(2024, 3, 31, 23, 59, 59, tzinfo=UTC),
    )
    fee = Fee.objects.get(invoice=invoice)
    assert fee.fee_type == "charge" and fee.charge_id == charge.id and fee.charge_filter_id is None
    assert fee.pay_in_advance is True and fee.invoiceable is True
    assert fee.event_transaction_id == "evt-1"
    assert (fee.amount_cents, fee.units, fee.events_count, fee.taxes_amount_cents) == (600, 3, 1, 120)
    assert fee.properties == {
        "timestamp": "2024-03-10T08:30:00Z",
        "charges_from_datetime": "2024-03-01T00:00:00Z",
        "charges_to_datetime": "2024-03-31T23:59:59Z",
    }


def test_non_invoiceable_charge_creates_a_standalone_fee_with_its_taxes(send):
    s = scenario()
    charge = instant(s, properties={"amount": "2"}, invoiceable=False)
    TaxFactory(organization=s.organization, code="vat", rate="20", applied_to_organization=True)
    TaxFactory(organization=s.organization, code="eco", rate="2.5", applied_to_organization=True)
    send(s, tx="evt-1", value="3.5")

    assert Invoice.objects.count() == 0
    fee = Fee.objects.get(subscription=s.subscription)
    assert fee.invoice_id is None and fee.invoiceable is False and fee.pay_in_advance is True
    assert fee.charge_id == charge.id and fee.customer_id == s.customer.id
    assert fee.amount_cents == 700
    assert fee.taxes_amount_cents == 158  # 700 × 22.5 % = 157.5 → 158
    assert fee.taxes_rate == Decimal("22.5")
    taxes = {
        t.tax_code: (t.amount_cents, t.taxable_base_amount_cents) for t in AppliedTax.objects.filter(fee=fee)
    }
    assert taxes == {"vat": (140, 700), "eco": (18, 700)}
    assert fee.payment_status == "pending"
    payload = s.api.get(f"/api/v1/fees/{fee.id}").json()["fee"]
    assert payload["lago_invoice_id"] is None and payload["event_transaction_id"] == "evt-1"
    assert (payload["amount_cents"], payload["taxes_amount_cents"], payload["total_amount_cents"]) == (
        700,
        158,
        858,
    )
    assert (payload["pay_in_advance"], payload["invoiceable"]) == (True, False)
    assert (payload["from_date"], payload["to_date"]) == ("2024-03-01T00:00:00Z", "2024-03-31T23:59:59Z")


def test_fee_on_the_most_specific_filter_and_its_pricing_group(send):
    s = scenario()
    charge = s.charge(
        s.metric(filters={"region": ["us", "eu"]}),
        "standard",
        {"amount": "1"},
        pay_in_advance=True,
        filters=[({"region": ["us"]}, {"amount": "2", "pricing_group_keys": ["team"]})],
    )
    send(s, value="1", region="us", team="red")
    send(s, value="1", region="eu")
    fees = list(Fee.objects.filter(subscription=s.subscription).order_by("created_at"))
    assert [f.amount_cents for f in fees] == [200, 100]
    assert fees[0].charge_filter_id == charge.filters.get().id and fees[0].grouped_by == {"team": "red"}
    assert fees[1].charge_filter_id is None and fees[1].grouped_by == {}


def test_events_without_the_field_create_no_fee_except_count(send):
    s = scenario()
    instant(s)  # sum on "value"
    count = s.charge(s.metric(code="calls", aggregation_type="count_agg"), "standard", {"amount": "3"})
    count.pay_in_advance = True
    count.save()
    send(s, other="1")
    send(s, value="abc")
    send(s, code="calls")
    assert list(Fee.objects.values_list("charge_id", "amount_cents")) == [(count.id, 300)]


def test_events_of_a_metric_without_pay_in_advance_charge_create_nothing(send):
    s = scenario()
    s.charge(s.metric(), "standard", {"amount": "1"})  # in arrears
    send(s, value="5")
    send(s, sub="unknown", value="5")
    assert Fee.objects.count() == 0 and Invoice.objects.count() == 0


def test_ingestion_hot_path_costs_at_most_one_query(django_assert_num_queries):
    s = scenario()
    s.charge(s.metric(), "standard", {"amount": "1"})
    event = Event.objects.create(
        organization=s.organization,
        transaction_id="t",
        external_subscription_id="sub",
        code="metric",
        timestamp=dt.datetime(2024, 3, 2, tzinfo=UTC),
        created_at=dt.datetime(2024, 3, 2, tzinfo=UTC),
    )
    event.lago_subscription_id = s.subscription.id
    unattributed = Event(id=999, code="metric", transaction_id="u", external_subscription_id="x")
    with django_assert_num_queries(0):
        assert instant_fees.queue_instant_fees(organization=s.organization, events=[unattributed]) == 0
    with django_assert_num_queries(1):
        assert instant_fees.queue_instant_fees(organization=s.organization, events=[event]) == 0


def test_events_of_a_period_already_invoiced_are_still_billed(send):
    s = scenario(now=dt.datetime(2024, 4, 10, tzinfo=UTC))
    instant(s, properties={"amount": "1"})
    summary = bill(s, dt.datetime(2024, 4, 10, tzinfo=UTC))
    assert len(summary.invoices) == 1  # March's periodic invoice
    send(s, ts="2024-03-20T10:00:00Z", value="4")
    fee = Fee.objects.get(pay_in_advance=True)
    assert fee.amount_cents == 400
    assert fee.properties["charges_from_datetime"] == "2024-03-01T00:00:00Z"
    assert fee.invoice.invoice_subscriptions.get().invoicing_reason == "in_advance_charge"


def test_periodic_invoice_does_not_bill_metered_pay_in_advance_charges_again(send):
    s = scenario(now=dt.datetime(2024, 3, 20, tzinfo=UTC))
    instant(s, properties={"amount": "1"})
    send(s, ts="2024-03-10T10:00:00Z", value="4")
    summary = bill(s, dt.datetime(2024, 4, 1, 1, tzinfo=UTC))
    periodic = summary.invoices[0]
    assert list(Fee.objects.filter(invoice=periodic).values_list("fee_type", "amount_cents")) == [
        ("subscription", 10_000)
    ]


# --------------------------------------------------------------------------------------------------------------
# Exactly once
# --------------------------------------------------------------------------------------------------------------


def test_a_resent_event_is_refused_and_never_billed_twice(send):
    s = scenario()
    instant(s)
    send(s, tx="same", value="5")
    send(s, tx="same", value="5", expect=422)
    assert amounts(s) == [500]
    assert Invoice.objects.count() == 1


def test_a_rerun_task_bills_nothing_twice(send):
    s = scenario()
    instant(s)
    send(s, tx="one", value="5")
    event = Event.objects.get(transaction_id="one")
    items = [[event.id, str(s.subscription.id)]]
    assert create_instant_fees_task.delay(str(s.organization.id), items).get() == 0
    assert create_instant_fees_task(str(s.organization.id), items) == 0
    assert amounts(s) == [500]
    assert Invoice.objects.count() == 1


def test_two_charges_on_one_metric_bill_one_fee_each(send):
    s = scenario()
    metric = s.metric()
    first = s.charge(metric, "standard", {"amount": "1"}, pay_in_advance=True)
    second = s.charge(metric, "standard", {"amount": "3"}, pay_in_advance=True, invoiceable=False)
    send(s, value="2")
    fees = dict(Fee.objects.values_list("charge_id", "amount_cents"))
    assert fees == {first.id: 200, second.id: 600}
    assert Invoice.objects.count() == 1


def test_a_batch_creates_one_instant_invoice_per_event(batch):
    s = scenario()
    instant(s, properties={"amount": "1"})
    events = [
        {
            "transaction_id": f"b{i}",
            "external_subscription_id": "sub",
            "code": "metric",
            "timestamp": f"2024-03-0{i + 2}T00:00:00Z",
            "properties": {"value": str(value)},
        }
        for i, value in enumerate([2, 3, 4])
    ]
    batch(s, events)
    invoices = Invoice.objects.filter(customer=s.customer).order_by("sequential_id")
    assert [i.total_amount_cents for i in invoices] == [200, 300, 400]
    assert len({i.number for i in invoices}) == 3
    assert all(i.status == "finalized" for i in invoices)
    # the same batch sent again is refused whole: nothing more is billed
    batch(s, events, expect=422)
    assert Invoice.objects.count() == 3


def test_coupons_apply_to_an_instant_invoice(send):
    s = scenario()
    instant(s, properties={"amount": "10"})
    coupon = CouponFactory(organization=s.organization, amount_cents=1_500, frequency="once")
    AppliedCouponFactory(coupon=coupon, organization=s.organization, customer=s.customer)
    TaxFactory(organization=s.organization, code="vat", rate="20", applied_to_organization=True)
    send(s, value="1")
    send(s, value="1")
    first, second = Invoice.objects.order_by("sequential_id")
    assert (first.fees_amount_cents, first.coupons_amount_cents, first.taxes_amount_cents) == (
        1_000,
        1_000,
        0,
    )
    assert first.total_amount_cents == 0 and first.payment_status == "succeeded"
    # the once coupon carries its 500 remainder to the next instant invoice
    assert (second.coupons_amount_cents, second.taxes_amount_cents, second.total_amount_cents) == (
        500,
        100,
        600,
    )


@pytest.mark.django_db(transaction=True)
def test_two_workers_on_one_event_create_one_fee():
    s = scenario()
    instant(s)
    event = Event.objects.create(
        organization=s.organization,
        transaction_id="race",
        external_subscription_id="sub",
        code="metric",
        timestamp=dt.datetime(2024, 3, 2, tzinfo=UTC),
        properties={"value": "5"},
        created_at=dt.datetime(2024, 3, 2, tzinfo=UTC),
    )
    items = [[event.id, str(s.subscription.id)]]
    barrier = threading.Barrier(2)
    results, failures = [], []

    def work():
        try:
            barrier.wait()
            results.append(len(instant_fees.create_instant_fees(organization=s.organization, items=items)))
        except Exception as exc:
            failures.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=work) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert sorted(results) == [0, 1]
    assert Fee.objects.filter(event_transaction_id="race").count() == 1
    assert Invoice.objects.count() == 1


# --------------------------------------------------------------------------------------------------------------
# Recurring and prorated (§2.2, §3.11)
# --------------------------------------------------------------------------------------------------------------


def seats(s, *, prorated):
    return instant(
        s,
        aggregation_type="unique_count_agg",
        field_name="seat",
        recurring=True,
        properties={"amount": "30"},
        prorated=prorated,
    )


def test_ex_3_11_prorated_seats_then_full_price_renewal(send):
    june = dt.datetime(2024, 6, 1, tzinfo=UTC)
    s = scenario(now=dt.datetime(2024, 6, 20, tzinfo=UTC), started_at=june)
    s.plan.amount_cents = 0
    s.plan.save()
    charge = seats(s, prorated=True)
    for day in range(11, 16):
        send(s, ts=f"2024-06-{day}T09:00:00Z", seat=f"seat_{day}")
    assert amounts(s) == [2_000, 1_900, 1_800, 1_700, 1_600]
    assert all(f.units == 1 for f in Fee.objects.filter(pay_in_advance=True))

    summary = bill(s, dt.datetime(2024, 7, 1, 0, 30, tzinfo=UTC))
    (periodic,) = summary.invoices
    renewal = Fee.objects.get(invoice=periodic, charge=charge)
    assert (renewal.amount_cents, renewal.units, renewal.pay_in_advance) == (15_000, 5, True)
    assert renewal.properties == {
        "charges_from_datetime": "2024-07-01T00:00:00Z",
        "charges_to_datetime": "2024-07-31T23:59:59Z",
        "timestamp": "2024-07-01T00:00:00Z",
    }
    assert periodic.fees_amount_cents == 15_000  # the base fee is 0; June's seats were billed instantly

    # a sixth seat in July bills one seat prorated over July's 31 days (July 17 → 15 days)
    s.organization.frozen_time = dt.datetime(2024, 7, 20, tzinfo=UTC)
    s.organization.save()
    send(s, ts="2024-07-17T09:00:00Z", seat="seat_new")
    send(s, ts="2024-07-18T09:00:00Z", seat="seat_11")  # still active: nothing
    assert amounts(s)[-2:] == [1_452, 0]  # 30 × ceil5(15/31) = 30 × 0.48388 = 14.5164


def test_recurring_seats_not_prorated_bill_full_price_and_renew(send):
    s = scenario(now=dt.datetime(2024, 3, 20, tzinfo=UTC))
    seats(s, prorated=False)
    send(s, ts="2024-03-05T09:00:00Z", seat="a")
    send(s, ts="2024-03-06T09:00:00Z", seat="b")
    send(s, ts="2024-03-07T09:00:00Z", seat="b", operation_type="remove")
    assert amounts(s) == [3_000, 3_000, 0]
    summary = bill(s, dt.datetime(2024, 4, 1, 1, tzinfo=UTC))
    renewal = Fee.objects.get(invoice=summary.invoices[0], fee_type="charge")
    assert (renewal.amount_cents, renewal.units) == (3_000, 1)
    # April starts from the carried-over seat (running max 1): re-adding b bills again, and c too
    s.organization.frozen_time = dt.datetime(2024, 4, 20, tzinfo=UTC)
    s.organization.save()
    send(s, ts="2024-04-02T09:00:00Z", seat="b")
    send(s, ts="2024-04-03T09:00:00Z", seat="c")
    assert amounts(s)[-2:] == [3_000, 3_000]


def test_no_renewal_on_the_termination_invoice(send):
    s = scenario(now=dt.datetime(2024, 3, 20, tzinfo=UTC))
    seats(s, prorated=False)
    send(s, ts="2024-03-05T09:00:00Z", seat="a")
    s.subscription.status = "terminated"
    s.subscription.terminated_at = dt.datetime(2024, 3, 25, tzinfo=UTC)
    s.subscription.save()
    summary = bill(s, dt.datetime(2024, 4, 1, 1, tzinfo=UTC))
    assert [i.invoice_subscriptions.get().invoicing_reason for i in summary.invoices] == [
        "subscription_terminating"
    ]
    assert not Fee.objects.filter(invoice__in=summary.invoices, fee_type="charge").exists()


def test_commitment_counts_instant_fees_of_the_window(send):
    from catalog.models import MinimumCommitment

    s = scenario(now=dt.datetime(2024, 3, 20, tzinfo=UTC))
    MinimumCommitment.objects.create(plan=s.plan, amount_cents=15_000)
    instant(s, properties={"amount": "1"})
    send(s, ts="2024-03-10T10:00:00Z", value="30")
    summary = bill(s, dt.datetime(2024, 4, 1, 1, tzinfo=UTC))
    commitment = Fee.objects.get(invoice=summary.invoices[0], fee_type="commitment")
    assert commitment.amount_cents == 15_000 - 10_000 - 3_000
