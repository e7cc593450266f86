"""The aggregation engine (billing-semantics §2): seven aggregation types in SQL, buckets, groups, rounding."""

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from metering.aggregation import (
    UnsupportedAggregation,
    Window,
    aggregate_charge,
    aggregate_charges,
    charge_buckets,
)
from tests.metering.factories import EventFactory, scenario

pytestmark = pytest.mark.django_db

UTC = dt.UTC
MARCH = Window(
    external_subscription_id="sub",
    from_datetime=dt.datetime(2024, 3, 1, tzinfo=UTC),
    until=dt.datetime(2024, 4, 1, tzinfo=UTC),
    full_period_days=31,
)


def events(s, rows, code="metric", sub="sub", start=dt.datetime(2024, 3, 2, tzinfo=UTC)):
    """rows: property dicts, one event per hour in that order."""
    for i, properties in enumerate(rows):
        EventFactory(
            organization=s.organization,
            code=code,
            external_subscription_id=sub,
            timestamp=start + dt.timedelta(hours=i),
            properties=properties,
        )


def single(s, charge, window=MARCH, **kwargs):
    usages = aggregate_charge(charge=charge, window=window, **kwargs)
    assert len(usages) == 1
    return usages[0]


EX_2_1 = [
    {"v": "5", "user": "a"},
    {"v": "3", "user": "b"},
    {"v": "7", "user": "a"},
    {"v": "2", "user": "c"},
    {"v": "abc", "user": "a"},
]


@pytest.mark.parametrize(
    ("aggregation_type", "field_name", "units"),
    [
        ("count_agg", None, 5),
        ("sum_agg", "v", 17),
        ("max_agg", "v", 7),
        ("latest_agg", "v", 2),
        ("unique_count_agg", "user", 3),
    ],
)
def test_example_2_1_aggregation_table(aggregation_type, field_name, units):
    s = scenario()
    metric = s.metric(aggregation_type=aggregation_type, field_name=field_name)
    charge = s.charge(metric)
    events(s, EX_2_1)
    usage = single(s, charge)
    assert usage.units == Decimal(units)
    assert usage.events_count == 5


def test_sum_counts_only_plain_decimal_strings_and_numbers():
    s = scenario()
    charge = s.charge(s.metric(field_name="v"))
    events(
        s,
        [{"v": v} for v in ["1e3", "+5", ".5", "abc", "5.", "-2.5", "10", "0.25"]] + [{"v": 4}, {"v": True}],
    )
    assert single(s, charge).units == Decimal("11.75")


def test_latest_is_the_last_numeric_event_and_negative_counts_as_zero():
    s = scenario()
    charge = s.charge(s.metric(aggregation_type="latest_agg", field_name="v"))
    events(s, [{"v": "4"}, {"v": "-3"}, {"v": "x"}])
    assert single(s, charge).units == 0
    events(s, [{"v": "9"}], start=dt.datetime(2024, 3, 20, tzinfo=UTC))
    assert single(s, charge).units == 9


def test_latest_breaks_timestamp_ties_by_ingestion_order():
    s = scenario()
    charge = s.charge(s.metric(aggregation_type="latest_agg", field_name="v"))
    for value in ("1", "8", "3"):
        EventFactory(organization=s.organization, code="metric", properties={"v": value})
    assert single(s, charge).units == 3


@pytest.mark.parametrize(
    ("operations", "units"),
    [
        ([("a", "add"), ("a", "add"), ("b", None)], 2),
        ([("a", "add"), ("a", "remove")], 0),
        ([("a", "remove")], 0),
        ([("a", "remove"), ("a", "add")], 1),
        ([("a", "add"), ("a", "remove"), ("a", "remove"), ("a", "add"), ("b", "add"), ("b", "remove")], 1),
    ],
)
def test_unique_count_add_remove_state_machine(operations, units):
    s = scenario()
    charge = s.charge(s.metric(aggregation_type="unique_count_agg", field_name="id"))
    rows = [{"id": value, **({"operation_type": op} if op else {})} for value, op in operations]
    events(s, [*rows, {"other": "no id"}])
    usage = single(s, charge)
    assert usage.units == units
    assert usage.events_count == len(rows) + 1


def test_unique_count_per_event_deltas_for_percentage():
    s = scenario()
    charge = s.charge(
        s.metric(aggregation_type="unique_count_agg", field_name="id"), "percentage", {"rate": "1"}
    )
    events(s, [{"id": "a"}, {"id": "a"}, {"id": "a", "operation_type": "remove"}, {"id": "b"}])
    usage = single(s, charge)
    assert usage.units == 1
    assert usage.event_values == (1, 0, -1, 1)


def test_sum_event_values_in_time_order_for_percentage():
    s = scenario()
    charge = s.charge(s.metric(field_name="v"), "percentage", {"rate": "1"})
    events(s, [{"v": "4"}, {"v": "x"}, {"v": "6"}])
    EventFactory(
        organization=s.organization,
        code="metric",
        timestamp=dt.datetime(2024, 3, 1, tzinfo=UTC),
        properties={"v": "1"},
    )
    assert single(s, charge).event_values == (1, 4, 6)


def test_only_the_subscription_window_and_organization_are_aggregated():
    s = scenario()
    charge = s.charge(s.metric(aggregation_type="count_agg"))
    events(s, [{}, {}])
    events(s, [{}], sub="other")
    events(s, [{}], code="other_code")
    events(s, [{}], start=dt.datetime(2024, 2, 29, 23, 59, 59, tzinfo=UTC))
    events(s, [{}], start=dt.datetime(2024, 4, 1, tzinfo=UTC))
    events(s, [{}], start=dt.datetime(2024, 3, 31, 23, 59, 59, 999999, tzinfo=UTC))
    other = scenario()
    events(other, [{}, {}, {}])
    assert single(s, charge).units == 3


def test_recurring_sum_carries_units_over_periods():
    s = scenario()
    charge = s.charge(s.metric(field_name="v", recurring=True))
    events(s, [{"v": "10"}, {"v": "-4"}], start=dt.datetime(2024, 2, 10, tzinfo=UTC))
    events(s, [{"v": "3"}])
    window = Window(
        external_subscription_id="sub",
        from_datetime=MARCH.from_datetime,
        until=MARCH.until,
        history_from=dt.datetime(2024, 1, 1, tzinfo=UTC),
    )
    usage = single(s, charge, window=window)
    assert usage.units == 9
    assert usage.events_count == 1
    assert single(s, charge).units == 3  # without history: metered view of the same window


def test_example_2_3_weighted_sum():
    s = scenario()
    charge = s.charge(
        s.metric(
            aggregation_type="weighted_sum_agg", field_name="v", recurring=True, weighted_interval="seconds"
        )
    )
    EventFactory(
        organization=s.organization,
        code="metric",
        properties={"v": "2500"},
        timestamp=dt.datetime(2023, 3, 5, tzinfo=UTC),
    )
    EventFactory(
        organization=s.organization,
        code="metric",
        properties={"v": "-2000"},
        timestamp=dt.datetime(2023, 4, 4, tzinfo=UTC),
    )
    EventFactory(
        organization=s.organization,
        code="metric",
        properties={"v": "-200"},
        timestamp=dt.datetime(2023, 4, 6, tzinfo=UTC),
    )
    history = dt.datetime(2023, 3, 5, tzinfo=UTC)
    march = Window(
        "sub", dt.datetime(2023, 3, 5, tzinfo=UTC), dt.datetime(2023, 4, 1, tzinfo=UTC), history, 31
    )
    april = Window(
        "sub", dt.datetime(2023, 4, 1, tzinfo=UTC), dt.datetime(2023, 5, 1, tzinfo=UTC), history, 30
    )
    first = single(s, charge, window=march)
    assert first.units.quantize(Decimal("0.001")) == Decimal("2177.419")
    assert first.total_aggregated_units == 2500
    second = single(s, charge, window=april)
    assert second.units.quantize(Decimal("0.0001")) == Decimal("533.3333")
    assert second.total_aggregated_units == 300
    assert second.events_count == 2


@pytest.mark.parametrize(
    ("function", "precision", "units"),
    [
        ("round", 2, "17.46"),
        ("ceil", 0, "18"),
        ("floor", -1, "10"),
        ("round", -1, "20"),
        (None, None, "17.455"),
    ],
)
def test_example_2_4_rounding_after_aggregation(function, precision, units):
    s = scenario()
    charge = s.charge(s.metric(field_name="v", rounding_function=function, rounding_precision=precision))
    events(s, [{"v": "10.005"}, {"v": "7.45"}])
    usage = single(s, charge)
    assert usage.units == Decimal(units)
    assert usage.aggregated_units == Decimal("17.455")


def test_example_2_2_filters_and_groups():
    s = scenario()
    metric = s.metric(
        field_name="value", filters={"cloud": ["aws", "gcp", "azure"], "region": ["us", "europe", "asia"]}
    )
    charge = s.charge(
        metric,
        properties={"amount": "10"},
        filters=[
            (
                {"cloud": ["aws"], "region": ["__ALL_FILTER_VALUES__"]},
                {"amount": "12", "grouped_by": ["country"]},
            )
        ],
    )
    events(
        s,
        [
            {"value": "10", "cloud": "aws", "region": "us", "country": "us"},
            {"value": "10", "cloud": "aws", "region": "europe", "country": "france"},
            {"value": "10", "cloud": "aws", "region": "asia"},
            {"value": "10", "cloud": "gcp", "region": "asia", "country": "china"},
        ],
    )
    usages = aggregate_charge(charge=charge, window=MARCH)
    summary = [(u.bucket.index, u.grouped_by, u.units) for u in usages]
    assert summary == [
        (1, {"country": "france"}, 10),
        (1, {"country": "us"}, 10),
        (1, {"country": None}, 10),
        (0, None, 10),
    ]


def _filtered(s, metric_filters, charge_filters, rows):
    metric = s.metric(aggregation_type="count_agg", filters=metric_filters)
    charge = s.charge(metric, filters=[(values, {"amount": "1"}) for values in charge_filters])
    events(s, rows)
    usages = aggregate_charge(charge=charge, window=MARCH)
    return {u.bucket.index: u.units for u in usages}


def test_the_filter_with_most_keys_wins_and_the_rest_goes_to_the_default_bucket():
    s = scenario()
    units = _filtered(
        s,
        {"region": ["us", "eu"], "tier": ["gold", "silver"]},
        [{"region": ["us"]}, {"region": ["us"], "tier": ["gold"]}],
        [
            {"region": "us", "tier": "gold"},
            {"region": "us", "tier": "silver"},
            {"region": "us"},
            {"region": "eu", "tier": "gold"},
            {},
        ],
    )
    assert units == {1: 2, 2: 1, 0: 2}


def test_all_filter_values_means_any_declared_value_and_undeclared_keys_are_ignored():
    s = scenario()
    units = _filtered(
        s,
        {"region": ["us", "eu"]},
        [{"region": ["__ALL_FILTER_VALUES__"], "undeclared": ["x"]}],
        [{"region": "us"}, {"region": "eu"}, {"region": "asia"}, {"undeclared": "x"}],
    )
    assert units == {1: 2, 0: 2}


def test_same_keys_subset_filter_takes_its_events_from_the_broader_one():
    s = scenario()
    units = _filtered(
        s,
        {"size": ["512", "1024"]},
        [{"size": ["512", "1024"]}, {"size": ["512"]}],
        [{"size": "512"}, {"size": "1024"}, {"size": 512}],
    )
    assert units == {1: 1, 2: 2, 0: 0}


def test_same_keys_partly_overlapping_filters_both_count_the_shared_events():
    s = scenario()
    units = _filtered(
        s,
        {"size": ["512", "1024"], "steps": ["25", "50", "75"]},
        [{"size": ["512", "1024"], "steps": ["25", "50"]}, {"size": ["512"], "steps": ["25", "75"]}],
        [{"size": "512", "steps": "25"}, {"size": "1024", "steps": "50"}, {"size": "512", "steps": "75"}],
    )
    assert units == {1: 2, 2: 2, 0: 0}


def test_identical_filters_the_oldest_counts():
    s = scenario()
    units = _filtered(s, {"region": ["us"]}, [{"region": ["us"]}, {"region": ["us"]}], [{"region": "us"}])
    assert units == {1: 1, 2: 0, 0: 0}


def test_filter_buckets_without_events_still_appear_with_null_groups():
    s = scenario()
    metric = s.metric(filters={"region": ["us"]})
    charge = s.charge(
        metric,
        properties={"amount": "1", "pricing_group_keys": ["team"]},
        filters=[({"region": ["us"]}, {"amount": "2"})],
    )
    usages = aggregate_charge(charge=charge, window=MARCH)
    assert [(u.bucket.index, u.grouped_by, u.units, u.events_count) for u in usages] == [
        (1, None, 0, 0),
        (0, {"team": None}, 0, 0),
    ]


def event_queries(captured) -> int:
    return sum("metering_event" in q["sql"] for q in captured.captured_queries)


def test_one_query_per_charge_whatever_the_filters():
    s = scenario()
    metric = s.metric(filters={"region": ["us", "eu"], "tier": ["a", "b"]})
    charge = s.charge(
        metric,
        filters=[
            ({"region": ["us"]}, {"amount": "1"}),
            ({"region": ["eu"]}, {"amount": "1", "pricing_group_keys": ["team"]}),
            ({"region": ["us"], "tier": ["a"]}, {"amount": "1"}),
        ],
    )
    events(s, [{"value": "1", "region": "us", "tier": "a"}, {"value": "2", "region": "eu", "team": "x"}])
    buckets = charge_buckets(charge)
    with CaptureQueriesContext(connection) as captured:
        aggregate_charge(charge=charge, window=MARCH, buckets=buckets)
    assert event_queries(captured) == 1


def test_all_charges_of_a_subscription_in_one_pass():
    s = scenario()
    count = s.charge(s.metric(code="calls", aggregation_type="count_agg"))
    total = s.charge(
        s.metric(code="volume", field_name="v", filters={"region": ["us", "eu"]}),
        filters=[({"region": ["us"]}, {"amount": "2"}), ({"region": ["eu"]}, {"amount": "3"})],
    )
    seats = s.charge(
        s.metric(code="seats", aggregation_type="unique_count_agg", field_name="seat", recurring=True)
    )
    latest = s.charge(s.metric(code="gauge", aggregation_type="latest_agg", field_name="v"))
    events(s, [{}, {}], code="calls")
    events(s, [{"v": "2", "region": "us"}, {"v": "5", "region": "eu"}, {"v": "1"}], code="volume")
    events(s, [{"seat": "a"}], code="seats", start=dt.datetime(2024, 2, 1, tzinfo=UTC))
    events(s, [{"seat": "b"}, {"seat": "a", "operation_type": "remove"}, {"seat": "c"}], code="seats")
    events(s, [{"v": "7"}, {"v": "3"}], code="gauge")
    window = Window("sub", MARCH.from_datetime, MARCH.until, dt.datetime(2024, 1, 1, tzinfo=UTC), 31)
    with CaptureQueriesContext(connection) as captured:
        results = aggregate_charges([count, total, seats, latest], window=window)
    assert event_queries(captured) == 1
    assert [u.units for u in results[count.pk]] == [2]
    assert [(u.bucket.index, u.units) for u in results[total.pk]] == [(1, 2), (2, 5), (0, 1)]
    assert [(u.units, u.events_count) for u in results[seats.pk]] == [(2, 3)]
    assert [u.units for u in results[latest.pk]] == [3]


def test_two_charges_on_the_same_metric():
    s = scenario()
    metric = s.metric(field_name="v")
    cheap = s.charge(metric, properties={"amount": "1"})
    grouped = s.charge(metric, properties={"amount": "2", "pricing_group_keys": ["team"]})
    events(s, [{"v": "2", "team": "x"}, {"v": "3", "team": "y"}, {"v": "4", "team": "x"}])
    results = aggregate_charges([cheap, grouped], window=MARCH)
    assert [u.units for u in results[cheap.pk]] == [9]
    assert [(u.grouped_by, u.units) for u in results[grouped.pk]] == [({"team": "x"}, 6), ({"team": "y"}, 3)]


def test_custom_aggregation_is_refused():
    s = scenario()
    charge = s.charge(s.metric(aggregation_type="custom_agg"))
    with pytest.raises(UnsupportedAggregation):
        aggregate_charge(charge=charge, window=MARCH)


def test_dynamic_sums_precise_amounts_per_group():
    s = scenario()
    charge = s.charge(s.metric(field_name="v"), "dynamic", {"pricing_group_keys": ["k"]})
    for amount, group in (("10.1", "a"), ("901.9", "b"), ("0.5", "b")):
        EventFactory(
            organization=s.organization,
            code="metric",
            properties={"v": "1", "k": group},
            precise_total_amount_cents=Decimal(amount),
        )
    usages = aggregate_charge(charge=charge, window=MARCH)
    assert [(u.grouped_by, u.precise_total_amount_cents) for u in usages] == [
        ({"k": "a"}, Decimal("10.1")),
        ({"k": "b"}, Decimal("902.4")),
    ]
