"""Event ingestion: validate, compute a metric's expression once, insert a whole batch in one statement.

Exactly-once is the database's job: the unique index on (organization, transaction_id, external_subscription_id)
and `INSERT … SELECT FROM unnest(…) ON CONFLICT DO NOTHING RETURNING` in one round trip. Rows that come back
were stored; a key that does not come back already existed, and the whole request is rolled back (422
`value_already_exist`). Nothing is looked up before inserting.

Validation is hand-written (no serializer per item): a batch of 100 events is validated in well under a
millisecond. Lago's rules (billing-semantics §1):

* `transaction_id`, `external_subscription_id`, `code`: required strings (integers are accepted and kept as
  their decimal text), at most 255 characters.
* `timestamp`: Unix seconds as an integer, a decimal or a numeric string (`"1651240791.123"`), or ISO-8601
  (naive = UTC); missing, null or blank → the organization's clock; anything else → `invalid_format`.
* `properties`: an object (missing/null → `{}`), stored as given. When `code` names a live metric with an
  `expression`, its result is stored in `properties[field_name]`; an evaluation failure rejects the event
  (`{"properties": ["expression_evaluation_failed"]}`).
* `precise_total_amount_cents`: optional decimal (string or number).

The API first tries `ingest_json` (the fast path, at the end of this module): the raw request body validated,
stored and rendered by one SQL statement. It declines — storing nothing — whatever it does not handle exactly
like `ingest_events`, which then answers.
"""

from __future__ import annotations

import json
import re
import uuid
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from functools import cache

import psycopg
from django.apps import apps
from django.db import connection, transaction

from catalog.expressions import EventContext, ExpressionError, parse_expression
from catalog.models import BillableMetric
from config import clock, errors
from customers.models import ApiKey, Organization
from metering.models import Event

MAX_BATCH_SIZE = 100
MAX_IDENTIFIER_LENGTH = 255
# Lago's numeric-value rule (§2.1); the aggregation engine applies the same pattern in SQL.
NUMERIC_VALUE_PATTERN = r"^-?\d+(\.\d+)?$"
_UNIX_SECONDS = re.compile(r"^-?\d+(\.\d+)?$")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = Decimal("0.000001")
# decimal(40, 15): at most 25 digits before the point.
_MAX_PRECISE_AMOUNT = Decimal(10) ** 25
# JSON text that Postgres' jsonb refuses: an (unescaped) NUL character.
_JSON_NUL = re.compile(r"(?<!\\)(?:\\\\)*\\u0000")
_SURROGATE = re.compile("[\ud800-\udfff]")
# Numbers whose exponent is absurd cannot be stored as jsonb numerics.
_MAX_EXPONENT = 1000
# Whole Unix seconds that are datetimes: 0001-01-01 to 9999-12-31.
_MIN_SECONDS, _MAX_SECONDS = -62_135_596_800, 253_402_300_799


@dataclass(slots=True)
class EventInput:
    """One validated event, ready to insert; once stored it carries its `id` and `created_at` (the API renders
    these objects directly: building 100 model instances per batch would cost more than the insert)."""

    transaction_id: str
    external_subscription_id: str
    code: str
    timestamp: datetime
    properties: dict
    precise_total_amount_cents: Decimal | None
    id: int | None = None
    created_at: datetime | None = None
    lago_subscription_id: object = None
    lago_customer_id: object = None


# --------------------------------------------------------------------------------------------------------------
# Field parsing
# --------------------------------------------------------------------------------------------------------------


class InvalidValue(Exception):
    """A field value is refused; `code` is Lago's error code."""

    def __init__(self, code: str):
        self.code = code


def parse_timestamp(value, *, now: datetime) -> datetime:
    """An event timestamp as an aware UTC datetime (microsecond precision). Raises `InvalidValue`."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return now
    if isinstance(value, bool):
        raise InvalidValue("invalid_format")
    if isinstance(value, int | Decimal):
        return _from_unix_seconds(Decimal(value))
    if isinstance(value, str):
        text = value.strip()
        if _UNIX_SECONDS.match(text):
            return _from_unix_seconds(Decimal(text))
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            raise InvalidValue("invalid_format")
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        try:
            return parsed.astimezone(UTC)
        except (OverflowError, ValueError):
            raise InvalidValue("invalid_format")
    raise InvalidValue("invalid_format")


def _from_unix_seconds(seconds: Decimal) -> datetime:
    if not seconds.is_finite() or abs(seconds) > 253_402_300_799:  # beyond 9999-12-31
        raise InvalidValue("invalid_format")
    micros = int(seconds.quantize(_MICROSECOND) * 1_000_000)
    try:
        return _EPOCH + timedelta(microseconds=micros)
    except OverflowError:
        raise InvalidValue("invalid_format")


def _identifier(value) -> str:
    if value is None or value == "":
        raise InvalidValue("value_is_mandatory")
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise InvalidValue("value_is_invalid")
    text = value if isinstance(value, str) else str(value)
    if not text.strip():
        raise InvalidValue("value_is_mandatory")
    if "\x00" in text or not _encodable(text):
        raise InvalidValue("value_is_invalid")
    if len(text) > MAX_IDENTIFIER_LENGTH:
        raise InvalidValue("value_is_too_long")
    return text


def _precise_amount(value) -> Decimal | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        raise InvalidValue("value_is_invalid")
    try:
        amount = Decimal(value.strip()) if isinstance(value, str) else Decimal(value)
    except (InvalidOperation, ValueError):
        raise InvalidValue("value_is_invalid")
    if not amount.is_finite():
        raise InvalidValue("value_is_invalid")
    if abs(amount) >= _MAX_PRECISE_AMOUNT:
        raise InvalidValue("value_is_out_of_range")
    return amount


def dump_json(value) -> str:
    """JSON text of an event's properties; decimals are written as JSON numbers, exactly as received. Raises
    ValueError for what JSON cannot carry (NaN, infinities) and `InvalidValue` for what jsonb refuses."""
    try:
        text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except TypeError:
        text = _encode(value)
    _check_encodable(text)
    return text


def _check_encodable(text: str) -> None:
    """Lone surrogates (`"\\ud800"` is valid JSON for Python) have no UTF-8 form: jsonb refuses them."""
    if not text.isascii():
        try:
            text.encode()
        except UnicodeEncodeError:
            raise InvalidValue("value_is_invalid")


def _encode(value) -> str:
    if isinstance(value, Decimal):
        if not value.is_finite() or abs(value.adjusted()) > _MAX_EXPONENT:
            raise InvalidValue("value_is_invalid")
        return str(value)
    if isinstance(value, Mapping):
        return "{" + ",".join(f"{_dumps(str(k))}:{_encode(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(_encode(v) for v in value) + "]"
    if isinstance(value, float):
        raise InvalidValue("value_is_invalid")
    return _dumps(value)


def _dumps(value) -> str:
    return json.dumps(value, ensure_ascii=False)


def _properties(value) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidValue("value_is_invalid")
    return value


def _plain_identifier(value) -> bool:
    return (
        type(value) is str
        and 0 < len(value) <= MAX_IDENTIFIER_LENGTH
        and "\x00" not in value
        and not value.isspace()
        and _encodable(value)
    )


def _encodable(text: str) -> bool:
    """Whether a string has a UTF-8 form (no lone surrogate, which Python's JSON parser lets through)."""
    return text.isascii() or _SURROGATE.search(text) is None


def parse_event(raw, *, now: datetime) -> tuple[EventInput | None, dict]:
    """Validate one event payload: (event, {}) or (None, {field: [error_code]}).

    The common shape (three plain strings, an object or nothing for properties, no amount, an integer or no
    timestamp) takes a straight path; anything else goes through the field-by-field checks."""
    if type(raw) is dict:
        transaction_id, subscription, code = (
            raw.get("transaction_id"),
            raw.get("external_subscription_id"),
            raw.get("code"),
        )
        properties, timestamp = raw.get("properties"), raw.get("timestamp")
        if (
            _plain_identifier(transaction_id)
            and _plain_identifier(subscription)
            and _plain_identifier(code)
            and (properties is None or type(properties) is dict)
            and raw.get("precise_total_amount_cents") is None
            and (timestamp is None or (type(timestamp) is int and _MIN_SECONDS <= timestamp <= _MAX_SECONDS))
        ):
            return EventInput(
                transaction_id,
                subscription,
                code,
                now if timestamp is None else _EPOCH + timedelta(seconds=timestamp),
                {} if properties is None else properties,
                None,
            ), {}
    return _parse_event_fields(raw, now=now)


def _parse_event_fields(raw, *, now: datetime) -> tuple[EventInput | None, dict]:
    if not isinstance(raw, dict):
        return None, {"event": ["value_is_invalid"]}
    failures: dict[str, list[str]] = {}
    values = {}
    for name, reader in (
        ("transaction_id", _identifier),
        ("external_subscription_id", _identifier),
        ("code", _identifier),
        ("properties", _properties),
        ("precise_total_amount_cents", _precise_amount),
    ):
        try:
            values[name] = reader(raw.get(name))
        except InvalidValue as invalid:
            failures[name] = [invalid.code]
    try:
        values["timestamp"] = parse_timestamp(raw.get("timestamp"), now=now)
    except InvalidValue as invalid:
        failures["timestamp"] = [invalid.code]
    if failures:
        return None, failures
    return EventInput(**values), {}


# --------------------------------------------------------------------------------------------------------------
# Expressions (§2.6): evaluated once, here
# --------------------------------------------------------------------------------------------------------------


def metric_expressions(organization, codes) -> dict[str, tuple[str, str]]:
    """code → (field_name, expression) of the organization's live metrics that have an expression."""
    with connection.cursor() as cursor:
        cursor.execute(_EXPRESSIONS_SQL, [organization.pk, sorted(set(codes))])
        rows = cursor.fetchall()
    return {code: (field_name, expression) for code, field_name, expression in rows if field_name}


# Raw SQL on the hot path: the ORM would spend longer building this query than Postgres answering it.
_EXPRESSIONS_SQL = f"""
SELECT code, field_name, expression FROM {BillableMetric._meta.db_table}
WHERE organization_id = %s AND deleted_at IS NULL AND code = ANY(%s::text[])
  AND expression IS NOT NULL AND expression <> ''
"""  # noqa: S608


def apply_expression(event: EventInput, field_name: str, expression: str) -> None:
    """Store the expression's value in `properties[field_name]` (a new dict: the payload is not mutated).
    The expression sees `event.timestamp` as whole Unix seconds, as Lago does. Raises `InvalidValue`."""
    seconds = int((event.timestamp - _EPOCH) // timedelta(seconds=1))
    try:
        value = parse_expression(expression).evaluate(
            EventContext(code=event.code, timestamp=seconds, properties=event.properties)
        )
    except (ExpressionError, RecursionError):
        raise InvalidValue("expression_evaluation_failed")
    event.properties = {**event.properties, field_name: value}


def check_properties(event: EventInput) -> None:
    """Raise `InvalidValue` unless the event's properties encode to JSON that jsonb accepts."""
    try:
        text = dump_json(event.properties)
    except (RecursionError, ValueError):
        raise InvalidValue("value_is_invalid")
    if "\\u0000" in text and _JSON_NUL.search(text):
        raise InvalidValue("value_is_invalid")


# --------------------------------------------------------------------------------------------------------------
# The service
# --------------------------------------------------------------------------------------------------------------

# One statement per batch: the rows travel as one JSON array parameter (built with the C JSON encoder and
# parsed by Postgres in C), are inserted in payload order, and the conflicting keys are simply not returned.
# (billing sits to the right of metering: its table is named through the app registry, never imported.)
_INSERT_SQL = f"""
WITH inserted AS (
    INSERT INTO {Event._meta.db_table}
        (organization_id, transaction_id, external_subscription_id, code, "timestamp", properties,
         precise_total_amount_cents, created_at)
    SELECT %(organization)s, t.t, t.s, t.c, t.ts, t.p, t.a, %(created_at)s
    FROM json_to_recordset(%(rows)s::json) AS t(i int, t text, s text, c text, ts timestamptz, p jsonb, a numeric)
    ORDER BY t.i
    ON CONFLICT (organization_id, transaction_id, external_subscription_id) DO NOTHING
    RETURNING id, transaction_id, external_subscription_id, "timestamp"
)
-- the subscription each stored event is attributed to (for the response), in the same round trip
SELECT i.id, i.transaction_id, i.external_subscription_id, s.id, s.customer_id
FROM inserted i
LEFT JOIN LATERAL (
    SELECT s.id, s.customer_id FROM {{subscriptions}} s
    WHERE s.organization_id = %(organization)s AND s.external_id = i.external_subscription_id
      AND s.started_at IS NOT NULL AND s.started_at <= i."timestamp"
      AND (s.terminated_at IS NULL OR i."timestamp" <= s.terminated_at)
    ORDER BY s.started_at DESC LIMIT 1
) s ON TRUE
"""  # noqa: S608


_DECIMAL_MARK = "\x01" + uuid.uuid4().hex + ":"
_DECIMAL_MARKED = re.compile('"' + re.escape(json.dumps(_DECIMAL_MARK)[1:-1]) + r'([-+0-9.Ee]+)"')


def _mark_decimal(value):
    """json.dumps `default`: a decimal becomes a marked string, turned back into a bare number afterwards."""
    if isinstance(value, Decimal):
        if not value.is_finite() or abs(value.adjusted()) > _MAX_EXPONENT:
            raise InvalidValue("value_is_invalid")
        return f"{_DECIMAL_MARK}{value}"
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _rows_json(events: list[EventInput]) -> str:
    """The batch as one JSON array for `json_to_recordset`, encoded by the C encoder in one call. Decimals in
    properties (JSON numbers with a fraction) are written back as the exact numbers that were received."""
    rows = [
        {
            "i": i,
            "t": e.transaction_id,
            "s": e.external_subscription_id,
            "c": e.code,
            "ts": e.timestamp.isoformat(),
            "p": e.properties,
            "a": None if e.precise_total_amount_cents is None else str(e.precise_total_amount_cents),
        }
        for i, e in enumerate(events)
    ]
    try:
        text = json.dumps(
            rows, separators=(",", ":"), default=_mark_decimal, ensure_ascii=False, allow_nan=False
        )
    except (RecursionError, ValueError):
        raise InvalidValue("value_is_invalid")
    _check_encodable(text)
    if "\\u0001" in text:
        text = _DECIMAL_MARKED.sub(r"\1", text)
    return text


def _encode_batch(events: list[EventInput], failures: dict[int, dict]) -> str | None:
    """The batch's JSON, if every event's properties encode to JSON that jsonb accepts (no NUL character, sane
    numbers); else None, with the culprits found event by event in `failures`."""
    try:
        text = _rows_json(events)
    except InvalidValue:
        text = None
    if text is not None and not ("\\u0000" in text and _JSON_NUL.search(text)):
        return text
    for index, event in enumerate(events):
        try:
            check_properties(event)
        except InvalidValue as invalid:
            failures[index] = {"properties": [invalid.code]}
    return None


def ingest_events(*, organization, payloads: Sequence, batch: bool) -> list[EventInput]:
    """Validate and store events, all or nothing; returns the stored events (with `id` and `created_at`) in
    payload order.

    Errors (422): a single event reports `{field: [code]}`; a batch reports `{"<index>": {field: [code]}}`,
    including `transaction_id: value_already_exist` for a key already stored or repeated inside the batch.
    """
    now = clock.now(organization)
    events: list[EventInput | None] = []
    failures: dict[int, dict] = {}
    for index, raw in enumerate(payloads):
        event, event_failures = parse_event(raw, now=now)
        events.append(event)
        if event_failures:
            failures[index] = event_failures

    valid = [(i, e) for i, e in enumerate(events) if e is not None]
    expressions = metric_expressions(organization, {e.code for _, e in valid}) if valid else {}
    seen: set[tuple[str, str]] = set()
    for index, event in valid:
        if event.code in expressions:
            try:
                apply_expression(event, *expressions[event.code])
            except InvalidValue as invalid:
                failures[index] = {"properties": [invalid.code]}
                continue
        key = (event.transaction_id, event.external_subscription_id)
        if key in seen:
            failures[index] = {"transaction_id": ["value_already_exist"]}
        seen.add(key)
    rows = None if failures else _encode_batch(events, failures)
    if failures or rows is None:
        _refuse(failures, batch)
    return _insert(organization, events, rows, created_at=clock.utc_now(), batch=batch)


def _refuse(failures: dict[int, dict], batch: bool):
    if batch:
        raise errors.ValidationFailed({str(i): failures[i] for i in sorted(failures)})
    raise errors.ValidationFailed(failures[0])


@transaction.atomic
def _insert(
    organization, events: list[EventInput], rows: str, *, created_at: datetime, batch: bool
) -> list[EventInput]:
    sql = _INSERT_SQL.replace("{subscriptions}", apps.get_model("billing", "Subscription")._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(sql, {"organization": organization.pk, "created_at": created_at, "rows": rows})
        stored = {
            (tx, sub): (pk, sub_id, customer_id) for pk, tx, sub, sub_id, customer_id in cursor.fetchall()
        }
    if len(stored) < len(events):
        conflicts = {
            i: {"transaction_id": ["value_already_exist"]}
            for i, e in enumerate(events)
            if (e.transaction_id, e.external_subscription_id) not in stored
        }
        _refuse(conflicts, batch)  # raising inside the atomic block rolls the whole batch back
    for event in events:
        event.id, event.lago_subscription_id, event.lago_customer_id = stored[
            (event.transaction_id, event.external_subscription_id)
        ]
        event.created_at = created_at
    return events


# --------------------------------------------------------------------------------------------------------------
# The fast path: the request body, authenticated, validated, stored and rendered by one statement
# --------------------------------------------------------------------------------------------------------------
#
# The common request — string identifiers, whole Unix seconds or no timestamp, an object or no properties, no
# amount or a plain decimal one, codes whose metric has no expression — never needs Python to look at an event:
# the raw body travels as one jsonb parameter with the API key's digest, and one prepared statement finds the
# key's organization, checks every item, inserts the batch in payload order, attributes each event to its
# subscription and renders Lago's Event objects. Anything else makes the statement store nothing and
# `ingest_events` above — the reference behaviour, with Lago's exact 422s — answers instead: so the fast path
# only ever accepts what the exact path accepts, and stores the same values.
#
# * All or nothing without a transaction block: one statement in autocommit is atomic, and a refusal is an
#   error that aborts it. A key already stored, or repeated in the batch, raises the unique violation (no
#   ON CONFLICT here); an item the fast path does not take, or an unknown/revoked API key, gets a NULL in a
#   NOT NULL column; JSON that jsonb refuses (NUL characters, lone surrogates) fails the cast.
# * Numbers are never parsed by Python: jsonb keeps them as exact numerics (and renders them as received).
# * Costs (2-core machine, 100 events): ≈ 0.3 ms of Python and ≈ 2.4 ms of PostgreSQL per request, of which
#   the insert itself is ≈ 1.4 ms (a COPY of the same rows ≈ 1.2 ms). See docs/events-storage.md.

FAST_PATH_MAX_BODY = 1 << 20


@dataclass(slots=True)
class StoredEvent:
    """An event stored by the fast path that was attributed to a subscription (what instant fees need)."""

    id: int
    transaction_id: str
    external_subscription_id: str
    code: str
    timestamp: datetime
    lago_subscription_id: object
    lago_customer_id: object


@dataclass(slots=True)
class StoredBatch:
    json: str  # Lago's Event object (single) or the array of them (batch), ready to send
    organization_id: uuid.UUID
    attributed: list[StoredEvent]  # the stored events attributed to a subscription


_FAST_SQL = """
WITH body AS (SELECT %(body)s::jsonb AS b),
-- the live API key's organization and its clock (`config.clock.now`: a sandbox's frozen time, else now)
organization AS (
    SELECT o.id, CASE WHEN o.is_sandbox AND o.frozen_time IS NOT NULL THEN o.frozen_time
                      ELSE %(utc_now)s::timestamptz END AS now
    FROM {api_keys} k JOIN {organizations} o ON o.id = k.organization_id
    WHERE k.digest = %(api_key_digest)s AND k.revoked_at IS NULL
),
items AS (
    SELECT e.ord AS i, e.v FROM body, jsonb_array_elements(CASE
        WHEN %(many)s AND jsonb_typeof(b -> 'events') = 'array' THEN b -> 'events'
        WHEN NOT %(many)s AND jsonb_typeof(b -> 'event') = 'object' THEN jsonb_build_array(b -> 'event')
        ELSE '[]' END) WITH ORDINALITY AS e(v, ord)
),
fields AS (
    SELECT i, v -> 'transaction_id' AS t, v -> 'external_subscription_id' AS s, v -> 'code' AS c,
        v -> 'timestamp' AS ts, v -> 'properties' AS p, v -> 'precise_total_amount_cents' AS a
    FROM items
),
parsed AS (
    SELECT i, t #>> '{}' AS t, s #>> '{}' AS s, c #>> '{}' AS c,
        jsonb_typeof(t) = 'string' AND jsonb_typeof(s) = 'string' AND jsonb_typeof(c) = 'string' AS strings,
        CASE WHEN ts IS NULL OR ts = 'null' THEN (SELECT now FROM organization)
             -- whole Unix seconds (fractions, strings and ISO-8601 take the exact path)
             WHEN jsonb_typeof(ts) = 'number' AND scale(ts::numeric) = 0
                  AND ts::numeric BETWEEN %(min_seconds)s AND %(max_seconds)s
             THEN to_timestamp(ts::numeric::float8) END AS ts,
        CASE WHEN jsonb_typeof(p) = 'object' THEN p WHEN p IS NULL OR p = 'null' THEN '{}' END AS p,
        a IS NULL OR a = 'null' AS no_amount,
        CASE WHEN jsonb_typeof(a) IN ('string', 'number') AND (a #>> '{}') ~ '^-?[0-9]{1,25}(\\.[0-9]{1,15})?$'
             THEN (a #>> '{}')::numeric END AS a
    FROM fields
),
inserted AS (
    INSERT INTO {events}
        (organization_id, transaction_id, external_subscription_id, code, "timestamp", properties,
         precise_total_amount_cents, created_at)
    SELECT (SELECT id FROM organization),
        -- an item the fast path does not take gets a NULL transaction id (or timestamp, or properties; an
        -- unknown key a NULL organization): a NOT NULL constraint then aborts the statement, storing nothing
        CASE WHEN strings AND (no_amount OR a IS NOT NULL) AND i <= %(max_batch)s
              AND char_length(t) <= 255 AND char_length(s) <= 255 AND char_length(c) <= 255
              -- not blank for anyone's definition of blank: at least one printable ASCII character
              AND t ~ '[!-~]' AND s ~ '[!-~]' AND c ~ '[!-~]'
              -- codes whose metric has an expression are evaluated in Python
              AND c <> ALL ((
                  SELECT coalesce(array_agg(m.code), '{}') FROM {metrics} m
                  WHERE m.organization_id = (SELECT id FROM organization) AND m.deleted_at IS NULL
                    AND m.expression <> '' AND m.field_name <> ''
              )::text[])
              -- numbers the exact path refuses (`_MAX_EXPONENT`: |exponent| > 1000), and nesting deeper than
              -- Python's parser may go (it gives up near 1000 levels; the fast path stops at 64)
              AND (SELECT NOT jsonb_path_exists(b, 'lax $.*[*].properties.** ? (@.type() == "number"
                   && (@ >= 1e1001 || @ <= -1e1001 || (@ != 0 && @ < 1e-1000 && @ > -1e-1000)))')
                      AND NOT jsonb_path_exists(b, 'lax $.**{64 to last}') FROM body)
             THEN t END,
        s, c, ts, p, a, %(created_at)s
    FROM parsed
    ORDER BY i
    RETURNING id, transaction_id, external_subscription_id, code, "timestamp", properties,
        precise_total_amount_cents
),
-- the subscription each event is attributed to (§1): same rule as the exact path
subscriptions AS MATERIALIZED (
    SELECT id, customer_id, external_id, started_at, terminated_at FROM {subscriptions}
    WHERE organization_id = (SELECT id FROM organization) AND started_at IS NOT NULL
      AND external_id IN (SELECT external_subscription_id FROM inserted)
),
attributed AS (
    SELECT e.*, s.id AS subscription_id, s.customer_id
    FROM inserted e
    LEFT JOIN LATERAL (
        SELECT s.id, s.customer_id FROM subscriptions s
        WHERE s.external_id = e.external_subscription_id AND s.started_at <= e."timestamp"
          AND (s.terminated_at IS NULL OR e."timestamp" <= s.terminated_at)
        ORDER BY s.started_at DESC LIMIT 1
    ) s ON TRUE
)
-- Lago's Event objects (keys: the column names), in payload order (ids are assigned in that order)
SELECT
    (SELECT json_agg(r ORDER BY r.lago_id::bigint) FROM (
        SELECT id::text AS lago_id, transaction_id, customer_id AS lago_customer_id,
            subscription_id AS lago_subscription_id, external_subscription_id, code,
            to_char("timestamp" AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS "timestamp",
            trim_scale(precise_total_amount_cents)::text AS precise_total_amount_cents, properties,
            %(created_text)s::text AS created_at
        FROM attributed
    ) r)::text,
    (SELECT count(*) FROM attributed),
    (SELECT id FROM organization),
    (SELECT array_agg(ARRAY[id::text, transaction_id, external_subscription_id, code, subscription_id::text,
                            customer_id::text] ORDER BY id)
     FROM attributed WHERE subscription_id IS NOT NULL),
    (SELECT array_agg("timestamp" ORDER BY id) FROM attributed WHERE subscription_id IS NOT NULL)
"""


def ingest_json(*, api_key_digest: str, body: bytes, many: bool) -> StoredBatch | None:
    """Store the events of a raw `{"events": [...]}` (many) or `{"event": {...}}` body in one statement, for
    the organization of the live API key with this digest (`customers.selectors.api_key_digest`).

    Returns the stored batch, or None when the request needs the exact path (`ingest_events`) — an unknown or
    revoked key included — in which case nothing was stored."""
    if not 0 < len(body) <= FAST_PATH_MAX_BODY:
        return None
    try:
        text = body.decode()
    except UnicodeDecodeError:
        return None
    created_at = clock.utc_now()
    params = {
        "body": text,
        "many": many,
        "api_key_digest": api_key_digest,
        "utc_now": created_at,
        "created_at": created_at,
        "created_text": created_at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "min_seconds": _MIN_SECONDS,
        "max_seconds": _MAX_SECONDS,
        "max_batch": MAX_BATCH_SIZE if many else 1,
    }
    try:
        if connection.in_atomic_block:
            # Inside a transaction (tests, a caller's atomic block): a savepoint keeps a refusal contained.
            with transaction.atomic():
                row = _execute_fast(params)
        else:
            row = _execute_fast(params)
    except psycopg.Error:
        # A key already stored or repeated (unique violation), an item or key the fast path does not take (not
        # null violation), JSON that jsonb refuses, a number it cannot hold…: nothing was stored; the exact
        # path decides and answers.
        return None
    rendered, count, organization_id, attributed, timestamps = row
    if not count:
        return None
    events = [
        StoredEvent(int(pk), tx, sub, code, ts, uuid.UUID(subscription_id), uuid.UUID(customer_id))
        for (pk, tx, sub, code, subscription_id, customer_id), ts in zip(
            attributed or (), timestamps or (), strict=True
        )
    ]
    return StoredBatch(rendered if many else rendered[1:-1], organization_id, events)


# One psycopg cursor per database connection, kept: setting up a cursor's adapters costs as much as a query.
_cursors: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _execute_fast(params: dict):
    connection.ensure_connection()
    # psycopg's own cursor: server-side parameters (the body is not escaped into the SQL text) and a prepared
    # statement (planned once per connection). Django's cursor would do neither.
    raw = connection.connection
    cursor = _cursors.get(raw)
    if cursor is None or cursor.closed:
        cursor = _cursors[raw] = psycopg.Cursor(raw)
    # Django turns psycopg's prepared statements off for the whole connection (`prepare_threshold=None`); they
    # are allowed for this one statement, whose planning costs more than its execution.
    threshold = raw.prepare_threshold
    raw.prepare_threshold = 0
    try:
        cursor.execute(_fast_sql(), params, prepare=True)
        return cursor.fetchone()
    finally:
        raw.prepare_threshold = threshold


@cache
def _fast_sql() -> str:
    sql = (
        _FAST_SQL.replace("{metrics}", BillableMetric._meta.db_table)
        .replace("{events}", Event._meta.db_table)
        .replace("{subscriptions}", apps.get_model("billing", "Subscription")._meta.db_table)
        .replace("{api_keys}", ApiKey._meta.db_table)
        .replace("{organizations}", Organization._meta.db_table)
    )
    # Without comments and indentation the text stays under psycopg's 4 kB limit for caching the parsed query
    # (no string literal in it contains "--").
    sql = "\n".join(line.split("--")[0].strip() for line in sql.splitlines())
    return " ".join(sql.split())
