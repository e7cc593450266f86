"""POST /events and POST /events/batch: validation, timestamps, exactly-once by constraint, expressions."""

import datetime as dt
import threading
from decimal import Decimal

import pytest
from django.db import connection

from metering.models import Event
from tests.metering.factories import api_client, charge_usage, scenario

pytestmark = pytest.mark.django_db

UTC = dt.UTC
NOW = dt.datetime(2024, 3, 15, 12, tzinfo=UTC)


def post(api, event):
    return api.post("/api/v1/events", {"event": event}, format="json")


def batch(api, events):
    return api.post("/api/v1/events/batch", {"events": events}, format="json")


def event(tx="t1", sub="s1", code="metric", **fields):
    return {"transaction_id": tx, "external_subscription_id": sub, "code": code, **fields}


def test_create_returns_lagos_event_object():
    s = scenario()
    response = post(
        s.api,
        event(
            tx="tx_1",
            sub="sub",
            timestamp=1710072000,
            properties={"v": "12", "n": 3},
            precise_total_amount_cents="12.50",
        ),
    )
    assert response.status_code == 200, response.json()
    body = response.json()["event"]
    stored = Event.objects.get()
    assert body == {
        "lago_id": str(stored.id),
        "transaction_id": "tx_1",
        "lago_customer_id": str(s.customer.id),
        "lago_subscription_id": str(s.subscription.id),
        "external_subscription_id": "sub",
        "code": "metric",
        "timestamp": "2024-03-10T12:00:00.000Z",
        "precise_total_amount_cents": "12.5",
        "properties": {"v": "12", "n": 3},
        "created_at": body["created_at"],
    }
    assert body["created_at"].endswith("Z")
    assert stored.properties == {"v": "12", "n": 3}
    assert stored.precise_total_amount_cents == Decimal("12.5")
    assert stored.organization_id == s.organization.id


def test_unknown_subscription_gives_null_lago_ids():
    s = scenario()
    body = post(s.api, event(sub="nobody")).json()["event"]
    assert body["lago_subscription_id"] is None and body["lago_customer_id"] is None


@pytest.mark.parametrize(
    ("timestamp", "expected"),
    [
        (1651240791, dt.datetime(2022, 4, 29, 13, 59, 51, tzinfo=UTC)),
        ("1651240791", dt.datetime(2022, 4, 29, 13, 59, 51, tzinfo=UTC)),
        ("1651240791.123", dt.datetime(2022, 4, 29, 13, 59, 51, 123000, tzinfo=UTC)),
        (1651240791.5, dt.datetime(2022, 4, 29, 13, 59, 51, 500000, tzinfo=UTC)),
        ("2024-03-10T10:00:00Z", dt.datetime(2024, 3, 10, 10, tzinfo=UTC)),
        ("2024-03-10T10:00:00.250+02:00", dt.datetime(2024, 3, 10, 8, 0, 0, 250000, tzinfo=UTC)),
        ("2024-03-10T10:00:00", dt.datetime(2024, 3, 10, 10, tzinfo=UTC)),
        ("2024-03-10", dt.datetime(2024, 3, 10, tzinfo=UTC)),
        (None, NOW),
        ("", NOW),
    ],
)
def test_timestamp_formats(timestamp, expected):
    s = scenario(now=NOW)
    assert post(s.api, event(timestamp=timestamp)).status_code == 200
    assert Event.objects.get().timestamp == expected


def test_missing_timestamp_is_the_organizations_clock():
    s = scenario(now=NOW)
    body = post(s.api, event()).json()["event"]
    assert body["timestamp"] == "2024-03-15T12:00:00.000Z"


@pytest.mark.parametrize(
    "timestamp", ["abc", "2024-13-45", "1e9", True, {"a": 1}, [1], "99999999999999999999", -1e20]
)
def test_unparseable_timestamp_is_invalid_format(timestamp):
    s = scenario()
    response = post(s.api, event(timestamp=timestamp))
    assert response.status_code == 422
    assert response.json()["error_details"] == {"timestamp": ["invalid_format"]}
    assert Event.objects.count() == 0


@pytest.mark.parametrize(
    ("fields", "details"),
    [
        ({"transaction_id": None}, {"transaction_id": ["value_is_mandatory"]}),
        ({"transaction_id": ""}, {"transaction_id": ["value_is_mandatory"]}),
        ({"transaction_id": {"a": 1}}, {"transaction_id": ["value_is_invalid"]}),
        ({"transaction_id": "x" * 256}, {"transaction_id": ["value_is_too_long"]}),
        ({"external_subscription_id": None}, {"external_subscription_id": ["value_is_mandatory"]}),
        ({"code": ["x"]}, {"code": ["value_is_invalid"]}),
        ({"properties": ["x"]}, {"properties": ["value_is_invalid"]}),
        ({"properties": "x"}, {"properties": ["value_is_invalid"]}),
        ({"precise_total_amount_cents": "abc"}, {"precise_total_amount_cents": ["value_is_invalid"]}),
        ({"precise_total_amount_cents": {"a": 1}}, {"precise_total_amount_cents": ["value_is_invalid"]}),
        ({"precise_total_amount_cents": "1e30"}, {"precise_total_amount_cents": ["value_is_out_of_range"]}),
        ({"precise_total_amount_cents": "NaN"}, {"precise_total_amount_cents": ["value_is_invalid"]}),
    ],
)
def test_invalid_fields_are_refused_without_storing(fields, details):
    s = scenario()
    response = post(s.api, {**event(), **fields})
    assert response.status_code == 422, response.json()
    assert response.json()["error_details"] == details
    assert Event.objects.count() == 0


@pytest.mark.parametrize("fields", [{"transaction_id": "nul\x00"}, {"properties": {"k": "nul\x00"}}])
def test_nul_characters_are_refused_without_storing(fields):
    s = scenario()
    response = post(s.api, {**event(), **fields})
    assert response.status_code in (400, 422)
    assert Event.objects.count() == 0


def test_nul_characters_never_reach_postgres():
    from metering.ingest import InvalidValue, check_properties, parse_event

    parsed, failures = parse_event({**event(), "transaction_id": "a\x00"}, now=NOW)
    assert parsed is None and failures == {"transaction_id": ["value_is_invalid"]}
    valid, _ = parse_event({**event(), "properties": {"k": "a\x00"}}, now=NOW)
    with pytest.raises(InvalidValue):
        check_properties(valid)


def test_absurd_numbers_in_properties_are_refused_not_crashing():
    s = scenario()
    raw = b'{"event": {"transaction_id": "d", "external_subscription_id": "s", "code": "c", "properties": {"k": [1e5000]}}}'
    response = s.api.post("/api/v1/events", raw, content_type="application/json")
    assert response.status_code == 422
    assert response.json()["error_details"] == {"properties": ["value_is_invalid"]}
    assert Event.objects.count() == 0


def test_integer_identifiers_are_kept_as_text_and_null_properties_become_empty():
    s = scenario()
    assert post(s.api, event(tx=42, sub=7, properties=None)).status_code == 200
    stored = Event.objects.get()
    assert (stored.transaction_id, stored.external_subscription_id, stored.properties) == ("42", "7", {})


def test_decimal_properties_are_stored_exactly():
    s = scenario()
    raw = b'{"event": {"transaction_id": "d", "external_subscription_id": "s", "code": "c", "properties": {"v": 0.1000000000000000055511151231257827, "w": 1.50}}}'
    response = s.api.post("/api/v1/events", raw, content_type="application/json")
    assert response.status_code == 200
    with connection.cursor() as cursor:
        cursor.execute("SELECT properties->>'v', properties->>'w' FROM metering_event")
        assert cursor.fetchone() == ("0.1000000000000000055511151231257827", "1.50")


def test_missing_root_key_is_400():
    s = scenario()
    assert s.api.post("/api/v1/events", {"evt": {}}, format="json").status_code == 400
    assert s.api.post("/api/v1/events/batch", {"event": []}, format="json").status_code == 400
    assert s.api.post("/api/v1/events/batch", b"[1]", content_type="application/json").status_code == 400


def test_example_1_1_deduplication():
    s = scenario()
    assert post(s.api, event(tx="t1", sub="s1")).status_code == 200
    duplicate = post(s.api, event(tx="t1", sub="s1"))
    assert duplicate.status_code == 422
    assert duplicate.json() == {
        "status": 422,
        "error": "Unprocessable Entity",
        "code": "validation_errors",
        "error_details": {"transaction_id": ["value_already_exist"]},
    }
    assert post(s.api, event(tx="t1", sub="s2")).status_code == 200
    inside = batch(s.api, [event(tx="a", sub="s1"), event(tx="a", sub="s1")])
    assert inside.status_code == 422
    assert inside.json()["error_details"] == {"1": {"transaction_id": ["value_already_exist"]}}
    assert Event.objects.count() == 2


def test_same_transaction_id_on_two_subscriptions_in_one_batch_is_accepted():
    s = scenario()
    assert batch(s.api, [event(tx="a", sub="s1"), event(tx="a", sub="s2")]).status_code == 200
    assert Event.objects.count() == 2


def test_same_key_in_another_organization_is_accepted():
    s, other = scenario(), scenario()
    assert post(s.api, event()).status_code == 200
    assert post(other.api, event()).status_code == 200


def test_batch_stores_all_and_answers_in_order():
    s = scenario()
    response = batch(s.api, [event(tx=f"b{i}", sub="sub", properties={"i": i}) for i in range(100)])
    assert response.status_code == 200, response.json()
    body = response.json()["events"]
    assert [e["transaction_id"] for e in body] == [f"b{i}" for i in range(100)]
    assert all(e["lago_subscription_id"] == str(s.subscription.id) for e in body)
    ids = [int(e["lago_id"]) for e in body]
    assert ids == sorted(ids)
    assert Event.objects.count() == 100


def test_batch_conflicting_with_a_stored_event_is_rolled_back_whole():
    s = scenario()
    assert post(s.api, event(tx="old")).status_code == 200
    response = batch(s.api, [event(tx="new1"), event(tx="old"), event(tx="new2"), event(tx="old", sub="s9")])
    assert response.status_code == 422
    assert response.json()["error_details"] == {"1": {"transaction_id": ["value_already_exist"]}}
    assert list(Event.objects.values_list("transaction_id", flat=True)) == ["old"]


def test_batch_of_101_is_refused_whole():
    s = scenario()
    response = batch(s.api, [event(tx=f"t{i}") for i in range(101)])
    assert response.status_code == 422
    assert response.json()["error_details"] == {"events": ["too_many_events"]}
    assert Event.objects.count() == 0


def test_empty_batch_is_no_events():
    s = scenario()
    response = batch(s.api, [])
    assert response.status_code == 422
    assert response.json()["error_details"] == {"events": ["no_events"]}


def test_batch_not_a_list_is_invalid():
    s = scenario()
    response = batch(s.api, {"transaction_id": "x"})
    assert response.status_code == 422
    assert response.json()["error_details"] == {"events": ["value_is_invalid"]}


def test_batch_errors_are_keyed_by_index_and_nothing_is_stored():
    s = scenario()
    response = batch(
        s.api, [event(tx="ok"), event(tx=None), "not an object", event(tx="x", timestamp="nope")]
    )
    assert response.status_code == 422
    assert response.json()["error_details"] == {
        "1": {"transaction_id": ["value_is_mandatory"]},
        "2": {"event": ["value_is_invalid"]},
        "3": {"timestamp": ["invalid_format"]},
    }
    assert Event.objects.count() == 0


def test_example_2_5_expression_is_evaluated_once_at_ingestion():
    s = scenario()
    metric = s.metric(
        code="calls", field_name="duration_s", expression="CEIL(event.properties.duration_ms / 1000)"
    )
    s.charge(metric)
    for ms in (1543, 2000, 10):
        s.send(code="calls", duration_ms=ms)
    stored = sorted(Event.objects.values_list("properties", flat=True), key=lambda p: p["duration_ms"])
    assert [p["duration_s"] for p in stored] == [1, 2, 2]
    assert charge_usage(s.usage(), "calls")["units"] == "5.0"


def test_expression_failure_refuses_the_event():
    s = scenario()
    s.metric(code="calls", field_name="duration_s", expression="event.properties.duration_ms / 1000")
    response = post(s.api, event(code="calls", properties={"other": 1}))
    assert response.status_code == 422
    assert response.json()["error_details"] == {"properties": ["expression_evaluation_failed"]}
    refused = batch(s.api, [event(tx="a", code="calls", properties={"duration_ms": "x"}), event(tx="b")])
    assert refused.json()["error_details"] == {"0": {"properties": ["expression_evaluation_failed"]}}
    assert Event.objects.count() == 0


def test_expression_of_a_deleted_metric_is_not_applied():
    s = scenario()
    s.metric(code="calls", field_name="s", expression="1 / 0", deleted_at=NOW)
    assert post(s.api, event(code="calls")).status_code == 200
    assert Event.objects.get().properties == {}


def test_expression_sees_whole_unix_seconds():
    s = scenario()
    s.metric(code="c", field_name="ts", expression="event.timestamp")
    post(s.api, event(code="c", timestamp="1651240791.987"))
    assert Event.objects.get().properties == {"ts": 1651240791}


def test_a_duplicate_transaction_never_changes_usage():
    s = scenario()
    s.charge(s.metric(), properties={"amount": "1"})
    s.send(tx="once", value="10")
    before = s.usage()
    s.send(tx="once", value="99", expect=422)
    batch(
        s.api,
        [
            event(tx="again", sub="sub", properties={"value": "5"}),
            event(tx="once", sub="sub", properties={"value": "7"}),
        ],
    )
    assert s.usage() == before
    assert charge_usage(before)["amount_cents"] == 1000


def test_unknown_code_and_unknown_subscription_are_stored_but_not_aggregated():
    s = scenario()
    s.charge(s.metric(aggregation_type="count_agg"))
    s.send(code="nope")
    s.send(code="metric", sub="ghost")
    assert Event.objects.count() == 2
    assert charge_usage(s.usage())["units"] == "0.0"


@pytest.mark.django_db(transaction=True)
def test_concurrent_identical_batches_store_exactly_once():
    from tests.billing.factories import sandbox_organization

    organization, secret = sandbox_organization(NOW)
    payload = [event(tx=f"c{i}", sub="s") for i in range(50)]
    statuses, barrier = [], threading.Barrier(4)

    def send():
        client = api_client(secret)
        barrier.wait()
        statuses.append(batch(client, payload).status_code)
        connection.close()

    threads = [threading.Thread(target=send) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [200, 422, 422, 422]
    assert Event.objects.filter(organization=organization).count() == 50
