"""The ingestion fast path (metering.ingest.ingest_json): one SQL statement validates, stores and renders the
common request; everything else falls back to the exact path (ingest_events) having stored nothing. These tests
pin that both paths store and answer the same, that odd input never stores anything partially nor answers 500,
and which requests take which path."""

import datetime as dt
import json
from decimal import Decimal

import pytest
from django.db import connection

from customers.services import create_api_key, revoke_api_key
from invoicing.models import Fee
from metering import services
from metering.api import views
from metering.models import Event
from tests.metering.factories import api_client, scenario

pytestmark = pytest.mark.django_db

UTC = dt.UTC
NOW = dt.datetime(2024, 3, 15, 12, tzinfo=UTC)


@pytest.fixture
def exact_calls(monkeypatch):
    """How many requests the exact path (the DRF views' services) answered."""
    calls = []
    for name in ("create_events_batch", "create_event"):
        original = getattr(services, name)

        def wrapped(*args, _original=original, **kwargs):
            calls.append(kwargs)
            return _original(*args, **kwargs)

        monkeypatch.setattr(services, name, wrapped)
    return calls


@pytest.fixture
def exact_only(monkeypatch):
    """Turn the fast path off (to compare both paths' answers)."""

    def switch():
        monkeypatch.setattr(views.ingest, "ingest_json", lambda **kwargs: None)

    return switch


def event(tx="t1", sub="sub", code="metric", **fields):
    return {"transaction_id": tx, "external_subscription_id": sub, "code": code, **fields}


def batch(api, events, **extra):
    return api.post("/api/v1/events/batch", {"events": events}, format="json", **extra)


def raw_batch(api, body: bytes):
    return api.post("/api/v1/events/batch", body, content_type="application/json")


def without_ids(events):
    return [{k: v for k, v in e.items() if k not in ("lago_id", "created_at")} for e in events]


def typical(prefix):
    return [
        event(tx=f"{prefix}a", timestamp=1710072000, properties={"value": "12", "n": 3, "f": 1.5}),
        event(tx=f"{prefix}b", sub="nobody", properties=None, precise_total_amount_cents="12.50"),
        event(tx=f"{prefix}c", code="other", properties={"nested": {"list": [1, "x", None, True]}}),
        event(tx=f"{prefix}d", timestamp=0, precise_total_amount_cents=7),
        event(
            tx=f"{prefix}e", properties={"ünï": "日本語 🚀", "rtl": "שלום"}, precise_total_amount_cents="-0.0"
        ),
    ]


def test_common_batch_takes_the_fast_path_and_answers_like_the_exact_path(exact_calls, exact_only):
    s = scenario(now=NOW)
    fast = batch(s.api, typical("f"))
    assert fast.status_code == 200, fast.json()
    assert exact_calls == []
    exact_only()
    exact = batch(s.api, typical("x"))
    assert exact.status_code == 200 and len(exact_calls) == 1
    fast_events, exact_events = fast.json()["events"], exact.json()["events"]
    for e in exact_events:
        e["transaction_id"] = "f" + e["transaction_id"][1:]
    assert without_ids(fast_events) == without_ids(exact_events)
    subscription = str(s.subscription.id)
    # "nobody" is no subscription; 1970 is before the subscription started
    assert [e["lago_subscription_id"] for e in fast_events] == [
        subscription,
        None,
        subscription,
        None,
        subscription,
    ]
    assert fast_events[0]["lago_customer_id"] == str(s.customer.id)
    assert [e["precise_total_amount_cents"] for e in fast_events] == [None, "12.5", None, "7", "0"]
    assert fast_events[1]["timestamp"] == "2024-03-15T12:00:00.000Z"
    assert fast_events[3]["timestamp"] == "1970-01-01T00:00:00.000Z"
    assert fast_events[0]["created_at"].endswith("Z") and len(fast_events[0]["created_at"]) == 24
    ids = [int(e["lago_id"]) for e in fast_events]
    assert ids == sorted(ids)
    stored = {e.transaction_id: e for e in Event.objects.all()}
    for prefix in ("f", "x"):
        assert stored[f"{prefix}b"].properties == {} and stored[
            f"{prefix}b"
        ].precise_total_amount_cents == Decimal("12.5")
        assert stored[f"{prefix}e"].properties == {"ünï": "日本語 🚀", "rtl": "שלום"}
        assert stored[f"{prefix}a"].timestamp == dt.datetime(2024, 3, 10, 12, tzinfo=UTC)


def test_single_event_takes_the_fast_path_and_answers_like_the_exact_path(exact_calls, exact_only):
    s = scenario(now=NOW)
    fast = s.api.post("/api/v1/events", {"event": event(tx="one", properties={"v": "1"})}, format="json")
    assert fast.status_code == 200 and exact_calls == []
    exact_only()
    exact = s.api.post("/api/v1/events", {"event": event(tx="two", properties={"v": "1"})}, format="json")
    assert exact.status_code == 200 and len(exact_calls) == 1
    fast_event, exact_event = fast.json()["event"], exact.json()["event"]
    assert fast_event["lago_id"] == str(Event.objects.get(transaction_id="one").id)
    assert without_ids([{**fast_event, "transaction_id": "two"}]) == without_ids([exact_event])


def test_a_batch_body_sent_to_the_single_endpoint_is_not_taken():
    s = scenario()
    response = s.api.post("/api/v1/events", {"events": [event()]}, format="json")
    assert response.status_code == 400
    assert s.api.post("/api/v1/events/batch", {"event": event()}, format="json").status_code == 400
    assert Event.objects.count() == 0


@pytest.mark.parametrize(
    ("fields", "stored"),
    [
        ({"transaction_id": 42}, {"transaction_id": "42"}),
        ({"timestamp": "1651240791"}, {"timestamp": dt.datetime(2022, 4, 29, 13, 59, 51, tzinfo=UTC)}),
        (
            {"timestamp": 1651240791.5},
            {"timestamp": dt.datetime(2022, 4, 29, 13, 59, 51, 500000, tzinfo=UTC)},
        ),
        ({"timestamp": "2024-03-10T10:00:00Z"}, {"timestamp": dt.datetime(2024, 3, 10, 10, tzinfo=UTC)}),
        ({"timestamp": ""}, {"timestamp": NOW}),
        ({"precise_total_amount_cents": ""}, {"precise_total_amount_cents": None}),
        ({"precise_total_amount_cents": " 1.5 "}, {"precise_total_amount_cents": Decimal("1.5")}),
        ({"precise_total_amount_cents": "1e3"}, {"precise_total_amount_cents": Decimal(1000)}),
        ({"transaction_id": "日本"}, {"transaction_id": "日本"}),
        ({"transaction_id": "🚀"}, {"transaction_id": "🚀"}),
    ],
)
def test_other_accepted_shapes_go_through_the_exact_path(exact_calls, fields, stored):
    s = scenario(now=NOW)
    response = batch(s.api, [event(tx="plain"), {**event(tx="odd"), **fields}])
    assert response.status_code == 200, response.json()
    assert len(exact_calls) == 1
    row = Event.objects.exclude(transaction_id="plain").values(*stored).get()
    assert row == stored


def test_an_invalid_item_after_valid_ones_stores_nothing_and_is_reported_by_index(exact_calls):
    s = scenario()
    events = [event(tx=f"v{i}") for i in range(60)] + [event(tx=None)] + [event(tx=f"w{i}") for i in range(5)]
    response = batch(s.api, events)
    assert response.status_code == 422
    assert response.json()["error_details"] == {"60": {"transaction_id": ["value_is_mandatory"]}}
    assert Event.objects.count() == 0 and len(exact_calls) == 1


def test_keys_already_stored_or_repeated_roll_the_whole_batch_back():
    s = scenario()
    assert batch(s.api, [event(tx="old")]).status_code == 200
    stored = batch(s.api, [event(tx="new"), event(tx="old")])
    assert stored.json()["error_details"] == {"1": {"transaction_id": ["value_already_exist"]}}
    repeated = batch(s.api, [event(tx="x"), event(tx="y"), event(tx="x")])
    assert repeated.json()["error_details"] == {"2": {"transaction_id": ["value_already_exist"]}}
    assert list(Event.objects.values_list("transaction_id", flat=True)) == ["old"]


def test_batch_of_101_is_refused_and_batch_of_100_is_stored(exact_calls):
    s = scenario()
    refused = batch(s.api, [event(tx=f"t{i}") for i in range(101)])
    assert refused.status_code == 422
    assert refused.json()["error_details"] == {"events": ["too_many_events"]}
    assert Event.objects.count() == 0
    stored = batch(s.api, [event(tx=f"t{i}", properties={"i": i}) for i in range(100)])
    assert stored.status_code == 200 and len(stored.json()["events"]) == 100
    assert Event.objects.count() == 100 and len(exact_calls) == 1


def test_expression_events_in_a_mixed_batch_are_evaluated_once(exact_calls):
    s = scenario()
    s.metric(code="calls", field_name="duration_s", expression="CEIL(event.properties.duration_ms / 1000)")
    response = batch(
        s.api,
        [
            event(tx="a", properties={"duration_ms": 1}),
            event(tx="b", code="calls", properties={"duration_ms": 1543}),
            event(tx="c", properties={"duration_ms": 1}),
        ],
    )
    assert response.status_code == 200, response.json()
    assert [e["transaction_id"] for e in response.json()["events"]] == ["a", "b", "c"]
    assert len(exact_calls) == 1
    stored = dict(Event.objects.values_list("transaction_id", "properties"))
    assert stored == {
        "a": {"duration_ms": 1},
        "b": {"duration_ms": 1543, "duration_s": 2},
        "c": {"duration_ms": 1},
    }
    # without the expression's code, the same batch shape takes the fast path
    assert batch(s.api, [event(tx="d", properties={"duration_ms": 1})]).status_code == 200
    assert len(exact_calls) == 1


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (
            b'{"events": [{"transaction_id": "a", "external_subscription_id": "s", "code": "c", "properties": {"k": "x\\u0000"}}]}',
            422,
        ),
        (
            b'{"events": [{"transaction_id": "a", "external_subscription_id": "s", "code": "c", "properties": {"\\u0000": 1}}]}',
            422,
        ),
        (b'{"events": [{"transaction_id": "a\\u0000", "external_subscription_id": "s", "code": "c"}]}', 422),
        (
            b'{"events": [{"transaction_id": "a", "external_subscription_id": "s", "code": "c", "properties": {"k": "\\ud800"}}]}',
            422,
        ),
        (b'{"events": [{"transaction_id": "\\udc00", "external_subscription_id": "s", "code": "c"}]}', 422),
        (
            b'{"events": [{"transaction_id": "a", "external_subscription_id": "s", "code": "c", "properties": {"k": NaN}}]}',
            422,
        ),
        (
            b'{"events": [{"transaction_id": "a", "external_subscription_id": "s", "code": "c", "properties": {"k": -Infinity}}]}',
            422,
        ),
        (
            b'{"events": [{"transaction_id": "a", "external_subscription_id": "s", "code": "c", "properties": {"k": {"d": [1e5000]}}}]}',
            422,
        ),
        (
            b'{"events": [{"transaction_id": "a", "external_subscription_id": "s", "code": "c", "properties": {"k": 1e-5000}}]}',
            422,
        ),
        (
            b'{"events": [{"transaction_id": "a", "external_subscription_id": "s", "code": "c", "timestamp": -62135596801}]}',
            422,
        ),
        (
            b'{"events": [{"transaction_id": "a", "external_subscription_id": "s", "code": "c", "timestamp": 253402300800}]}',
            422,
        ),
        (
            b'{"events": [{"transaction_id": "a", "external_subscription_id": "s", "code": "c", "timestamp": true}]}',
            422,
        ),
        (b'{"events": [{"transaction_id": "\\u2003", "external_subscription_id": "s", "code": "c"}]}', 422),
        (
            b'{"events": [{"transaction_id": "a", "external_subscription_id": "s", "code": "c"}, [1], null, 7]}',
            422,
        ),
        (b'{"events": "x"}', 422),
        (b'{"events": []}', 422),
        (b'{"events": null}', 400),
        (b"[1]", 400),
        (b'"events"', 400),
        (b'{"events": [{"transaction_id": "a", "external_subscription_id": "s", "code": "c"}]', 400),
        (
            b'\xef\xbb\xbf{"events": [{"transaction_id": "a", "external_subscription_id": "s", "code": "c"}]}',
            400,
        ),
        (b'{"events": [{"transaction_id": "\xff", "external_subscription_id": "s", "code": "c"}]}', 400),
        (
            b'{"events": [{"transaction_id": "a", "external_subscription_id": "s", "code": "c", "properties": '
            + b"[" * 5000
            + b"]" * 5000
            + b"}]}",
            400,  # Python's parser gives up on the depth
        ),
    ],
)
def test_odd_json_is_refused_whole_and_never_a_server_error(body, status):
    s = scenario()
    response = raw_batch(s.api, body)
    assert response.status_code == status, response.content[:300]
    assert Event.objects.count() == 0


def test_deeply_nested_json_is_a_bad_request():
    s = scenario()
    body = (
        b'{"events": [{"transaction_id": "a", "external_subscription_id": "s", "code": "c", "properties": {"k": '
        + b"[" * 100_000
        + b"]" * 100_000
        + b"}}]}"
    )
    assert raw_batch(s.api, body).status_code in (400, 422)
    assert Event.objects.count() == 0


@pytest.mark.parametrize("depth", [60, 70, 2000])
def test_deep_nesting_is_left_to_the_exact_path(exact_calls, depth):
    s = scenario()
    nested = b"[" * depth + b"]" * depth
    body = (
        b'{"events": [{"transaction_id": "a", "external_subscription_id": "s", "code": "c", "other": '
        + nested
        + b"}]}"
    )
    response = raw_batch(s.api, body)
    # Python's parser, not the fast path, decides what it can read (beyond, DRF's parser answers 400)
    assert len(exact_calls) == (60 < depth < 900)
    assert response.status_code == (200 if depth < 900 else 400)
    assert Event.objects.count() == (depth < 900)


def test_duplicate_json_keys_keep_the_last_value_on_both_paths(exact_only):
    s = scenario()
    body = b'{"events": [{"transaction_id": "first", "transaction_id": "a", "external_subscription_id": "s", "code": "c", "properties": {"k": 1, "k": 2}}]}'
    assert raw_batch(s.api, body).status_code == 200
    exact_only()
    assert raw_batch(s.api, body.replace(b'"s"', b'"s2"')).status_code == 200
    assert sorted(Event.objects.values_list("transaction_id", "properties")) == [
        ("a", {"k": 2}),
        ("a", {"k": 2}),
    ]


def test_unicode_identifiers_and_properties_are_kept_exactly(exact_calls):
    s = scenario()
    tx = "x" + "🚀" * 254  # 255 characters (identifiers without any ASCII character take the exact path)
    properties = {
        "日本": "語",
        "e\u0301": "\u2028\u2029",
        "emoji": "👩‍👩‍👧",
        "quote": '"\\/',
        "ctl": "\t\n\x01",
    }
    response = batch(s.api, [event(tx=tx, sub="sübscription", code="ćode", properties=properties)])
    assert response.status_code == 200, response.json()
    body = response.json()["events"][0]
    assert (body["transaction_id"], body["external_subscription_id"], body["code"]) == (
        tx,
        "sübscription",
        "ćode",
    )
    assert body["properties"] == properties
    assert Event.objects.get().properties == properties
    assert exact_calls == []
    too_long = batch(s.api, [event(tx="🚀" * 256)])
    assert too_long.json()["error_details"] == {"0": {"transaction_id": ["value_is_too_long"]}}


def test_decimal_properties_are_stored_and_answered_exactly(exact_calls):
    s = scenario()
    raw = (
        b'{"events": [{"transaction_id": "d", "external_subscription_id": "s", "code": "c", "properties": '
        b'{"v": 0.1000000000000000055511151231257827, "w": 1.50, "big": 123456789012345678901234567890}}]}'
    )
    response = raw_batch(s.api, raw)
    assert response.status_code == 200 and exact_calls == []
    assert b"0.1000000000000000055511151231257827" in response.content and b"1.50" in response.content
    with connection.cursor() as cursor:
        cursor.execute("SELECT properties->>'v', properties->>'w', properties->>'big' FROM metering_event")
        assert cursor.fetchone() == (
            "0.1000000000000000055511151231257827",
            "1.50",
            "123456789012345678901234567890",
        )


@pytest.mark.parametrize(
    ("timestamp", "rendered"),
    [
        (253402300799, "9999-12-31T23:59:59.000Z"),
        (-62135596800, "0001-01-01T00:00:00.000Z"),
        (-1, "1969-12-31T23:59:59.000Z"),
        (None, "2024-03-15T12:00:00.999Z"),
    ],
)
def test_timestamps_at_the_bounds_and_the_sandbox_clock(exact_calls, timestamp, rendered):
    frozen = dt.datetime(2024, 3, 15, 12, 0, 0, 999999, tzinfo=UTC)
    s = scenario(now=frozen)
    response = batch(s.api, [event(timestamp=timestamp)])
    assert response.json()["events"][0]["timestamp"] == rendered
    if timestamp is None:
        assert Event.objects.get().timestamp == frozen  # milliseconds are truncated on the wire only
    assert exact_calls == []


def test_unknown_and_revoked_keys_are_refused_at_once():
    s = scenario()
    assert batch(api_client("nope"), [event()]).status_code == 401
    api_key, secret = create_api_key(organization=s.organization, name="temp")
    client = api_client(secret)
    assert batch(client, [event(tx="ok")]).status_code == 200
    revoke_api_key(api_key=api_key)
    assert batch(client, [event(tx="late")]).status_code == 401
    assert client.post("/api/v1/events", {"event": event(tx="late")}, format="json").status_code == 401
    assert list(Event.objects.values_list("transaction_id", flat=True)) == ["ok"]


def test_a_key_stores_in_its_own_organization():
    mine, other = scenario(), scenario()
    assert batch(other.api, [event(tx="theirs")]).status_code == 200
    assert batch(mine.api, [event(tx="theirs")]).status_code == 200
    stored = set(Event.objects.values_list("organization_id", flat=True))
    assert stored == {mine.organization.id, other.organization.id}


def test_a_query_string_or_a_body_over_the_fast_path_limit_takes_the_exact_path(exact_calls):
    s = scenario()
    assert (
        s.api.post("/api/v1/events/batch?x=1", {"events": [event(tx="q")]}, format="json").status_code == 200
    )
    big = [event(tx=f"big{i}", properties={"blob": "x" * 11_000}) for i in range(100)]
    assert len(json.dumps({"events": big})) > 1 << 20
    assert batch(s.api, big).status_code == 200
    assert len(exact_calls) == 2 and Event.objects.count() == 101


def test_attributed_events_queue_their_instant_fees(exact_calls, django_capture_on_commit_callbacks):
    s = scenario(now=NOW)
    s.charge(s.metric(aggregation_type="count_agg", code="calls"), pay_in_advance=True)
    with django_capture_on_commit_callbacks(execute=True):
        response = batch(
            s.api, [event(tx=f"c{i}", code="calls") for i in range(3)] + [event(tx="ghost", sub="x")]
        )
    assert response.status_code == 200 and exact_calls == []
    assert Fee.objects.filter(subscription=s.subscription, pay_in_advance=True).count() == 3


def test_the_statement_stays_within_psycopgs_query_cache():
    from psycopg._queries import MAX_CACHED_STATEMENT_LENGTH

    from metering.ingest import _fast_sql

    assert len(_fast_sql()) <= MAX_CACHED_STATEMENT_LENGTH
