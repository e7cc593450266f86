"""GET /events/{transaction_id} and GET /events: the Event object plus "why isn't my event counted?"."""

import datetime as dt
from urllib.parse import quote

import pytest

from tests.billing.factories import SubscriptionFactory
from tests.metering.factories import scenario

pytestmark = pytest.mark.django_db

UTC = dt.UTC


def find(s, tx):
    return s.api.get(f"/api/v1/events/{quote(tx, safe='')}")


def status(s, tx):
    response = find(s, tx)
    assert response.status_code == 200, response.json()
    return response.json()["event"]["billable"]


def listing(s, **params):
    response = s.api.get("/api/v1/events", params)
    assert response.status_code == 200, response.json()
    return response.json()


@pytest.fixture
def s():
    s = scenario()  # subscription "sub" active since 2024-03-01, now 2024-03-15 12:00
    s.charge(s.metric(code="sum", field_name="v"))
    s.charge(s.metric(code="seats", aggregation_type="unique_count_agg", field_name="seat"))
    s.metric(code="orphan_metric", aggregation_type="count_agg")
    return s


def test_billable_event(s):
    s.send(code="sum", tx="ok", v="3")
    body = find(s, "ok").json()["event"]
    assert body["billable"] == {"status": "billable", "reason": None}
    assert body["lago_subscription_id"] == str(s.subscription.id)
    assert body["lago_customer_id"] == str(s.customer.id)
    assert body["properties"] == {"v": "3"}


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        ({"code": "sum", "sub": "ghost", "v": "1"}, "subscription_not_found"),
        ({"code": "sum", "ts": "2024-02-20T00:00:00Z", "v": "1"}, "subscription_not_active_at_timestamp"),
        ({"code": "unknown", "v": "1"}, "billable_metric_not_found"),
        ({"code": "orphan_metric"}, "billable_metric_not_in_plan"),
        ({"code": "sum", "v": "abc"}, "value_not_usable"),
        ({"code": "sum", "v": "1e3"}, "value_not_usable"),
        ({"code": "sum"}, "value_not_usable"),
        ({"code": "seats"}, "value_not_usable"),
    ],
)
def test_not_billable_reasons(s, event, reason):
    s.send(tx="why", **event)
    assert status(s, "why") == {"status": "not_billable", "reason": reason}


def test_terminated_subscription_makes_later_events_not_billable(s):
    s.subscription.terminated_at = dt.datetime(2024, 3, 10, tzinfo=UTC)
    s.subscription.status = "terminated"
    s.subscription.save()
    s.send(code="sum", tx="before", ts="2024-03-09T00:00:00Z", v="1")
    s.send(code="sum", tx="after", ts="2024-03-11T00:00:00Z", v="1")
    assert status(s, "before")["status"] == "billable"
    assert status(s, "after")["reason"] == "subscription_not_active_at_timestamp"


def test_a_subscription_created_later_with_a_past_start_makes_earlier_events_billable(s):
    s.send(code="sum", tx="early", sub="late_sub", ts="2024-03-02T00:00:00Z", v="1")
    assert status(s, "early")["reason"] == "subscription_not_found"
    SubscriptionFactory(
        organization=s.organization,
        plan=s.plan,
        customer=s.customer,
        external_id="late_sub",
        subscription_at=dt.datetime(2024, 3, 1, tzinfo=UTC),
        started_at=dt.datetime(2024, 3, 1, tzinfo=UTC),
    )
    assert status(s, "early") == {"status": "billable", "reason": None}


def test_find_is_org_wide_and_returns_the_first_match(s):
    s.send(code="sum", tx="shared", sub="sub", v="1")
    s.send(code="sum", tx="shared", sub="ghost", v="2")
    body = find(s, "shared").json()["event"]
    assert body["external_subscription_id"] == "sub"


def test_find_unknown_is_404_and_other_organizations_are_invisible(s):
    other = scenario()
    other.send(code="sum", tx="theirs")
    response = find(s, "theirs")
    assert response.status_code == 404
    assert response.json() == {"status": 404, "error": "Not Found", "code": "event_not_found"}


def test_transaction_ids_with_slashes_are_found(s):
    s.send(code="sum", tx="a/b c", v="1")
    assert find(s, "a/b c").json()["event"]["transaction_id"] == "a/b c"


def test_list_filters_and_pagination(s):
    s.send(code="sum", tx="e1", ts="2024-03-02T00:00:00Z", v="1")
    s.send(code="sum", tx="e2", ts="2024-03-05T00:00:00Z", v="x")
    s.send(code="seats", tx="e3", ts="2024-03-07T00:00:00Z", seat="a")
    s.send(code="sum", tx="e4", sub="ghost", ts="2024-03-08T00:00:00Z", v="1")
    s.send(code="sum", tx="e5", ts="2024-02-01T00:00:00Z", v="1")

    body = listing(s)
    assert [e["transaction_id"] for e in body["events"]] == ["e4", "e3", "e2", "e1", "e5"]
    assert body["meta"]["total_count"] == 5
    assert [e["billable"]["status"] for e in body["events"]] == [
        "not_billable",
        "billable",
        "not_billable",
        "billable",
        "not_billable",
    ]
    assert [e["transaction_id"] for e in listing(s, code="seats")["events"]] == ["e3"]
    assert [e["transaction_id"] for e in listing(s, external_subscription_id="ghost")["events"]] == ["e4"]
    assert [
        e["transaction_id"]
        for e in listing(s, timestamp_from="2024-03-03T00:00:00Z", timestamp_to="2024-03-07T00:00:00Z")[
            "events"
        ]
    ] == ["e3", "e2"]
    assert [
        e["transaction_id"]
        for e in listing(s, external_subscription_id="sub", timestamp_from_started_at="true")["events"]
    ] == ["e3", "e2", "e1"]
    assert [e["transaction_id"] for e in listing(s, billable="true")["events"]] == ["e3", "e1"]
    assert [e["transaction_id"] for e in listing(s, billable="false")["events"]] == ["e4", "e2", "e5"]
    assert [e["transaction_id"] for e in listing(s, not_billable_reason="value_not_usable")["events"]] == [
        "e2"
    ]
    page = listing(s, billable="false", per_page=2, page=2)
    assert [e["transaction_id"] for e in page["events"]] == ["e5"]
    assert page["meta"] == {
        "current_page": 2,
        "next_page": None,
        "prev_page": 1,
        "total_pages": 2,
        "total_count": 3,
    }


@pytest.mark.parametrize(
    ("params", "details"),
    [
        ({"not_billable_reason": "bogus"}, {"not_billable_reason": ["value_is_invalid"]}),
        ({"billable": "maybe"}, {"billable": ["value_is_invalid"]}),
        ({"timestamp_from": "yesterday"}, {"timestamp_from": ["value_is_invalid"]}),
    ],
)
def test_list_refuses_bad_filters(s, params, details):
    response = s.api.get("/api/v1/events", params)
    assert response.status_code == 422
    assert response.json()["error_details"] == details


def test_billable_filter_runs_in_sql(s, django_assert_max_num_queries):
    for i in range(30):
        s.send(code="sum", tx=f"n{i}", v=str(i) if i % 3 else "bad")
    with django_assert_max_num_queries(4):  # auth, count, page (no per-event queries)
        body = listing(s, billable="false")
    assert body["meta"]["total_count"] == 10
