"""The aggregation engine: a charge's events over a window → units per filter bucket and pricing group.

Everything is computed in PostgreSQL, in **one query for all the charges of a subscription** (`aggregate_charges`;
`aggregate_charge` for one): a single pass over the subscription's events of the charges' codes, each event
assigned to its charge (its code), to its bucket(s) with CASE expressions built from the charge filters (§2.3), to
its pricing group with an array of property values (§3.8); the seven aggregation types (§2.1) are SQL aggregates
over those groups, each restricted with FILTER to the charges that need it:

* `count_agg` — `count(*)`.
* `sum_agg`, `max_agg` — `sum`/`max` of a regex-guarded numeric cast: only values matching
  `^-?\\d+(\\.\\d+)?$` count (`"1e3"`, `"+5"`, `"abc"` are skipped).
* `latest_agg` — the numeric value of the event with the greatest (timestamp, id): `max(ARRAY[epoch, id, v])`,
  constant memory; a negative result counts as 0.
* `unique_count_agg` — the add/remove state machine (§2.1). A value is active when its last event (by timestamp,
  then id) is an `add`: repeats and a first `remove` change nothing, so the final state of each value is the
  type of its last operation. Units = number of active values; events lacking the field are ignored (they still
  count in `events_count`). When per-event values are needed (percentage), they are the state deltas from a
  window function: `is_add − lag(is_add) OVER (PARTITION BY bucket, group, value ORDER BY timestamp, id)`.
* `weighted_sum_agg` (§2.4) — Σ running_i × dur_i telescopes to
  `initial × (end − start) + Σ value_j × (end − ts_j)`, a plain `sum`, divided by the full period's seconds.
  `initial` is the Σ of the deltas before the window (recurring metrics only); the closing total is reported as
  `total_aggregated_units`.
* `custom_agg` — not supported: `UnsupportedAggregation`.

Recurring `sum_agg` / `unique_count_agg` read all events since `history_from` (the first start of the external
subscription id), so units carry over periods (§2.2). `events_count` always counts the window's events only.

§2.5 rounding is applied to each bucket's units after aggregation (`BucketUsage.units`; the raw value is kept
in `aggregated_units`).

Bucket rules (§2.3, Lago's `ChargeFilters::MatchingAndIgnoredService`): only keys declared on the metric are
considered; `__ALL_FILTER_VALUES__` stands for all the metric's values of that key. A filter F ignores (does not
count) the events of every other filter C that has all of F's keys and overlaps F on each: verbatim when C has
more keys, when C's values are a subset of F's, or when C is identical and older; when C has the same keys and
merely overlaps, the ignored pattern is C minus F's values, so both buckets count the shared events (⚠️ Lago).
The default bucket takes the events matching no filter. When two filters may both count an event (checked
statically from their values), the query unnests an array of CASEs instead of one CASE. Two charges on the same
metric are handled the same way (an event then belongs to both).

The aggregation transaction turns JIT off and raises `work_mem` (hash aggregates over many unique values).
One extra query per unique-count charge that needs per-event values (the percentage model): window deltas.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_UP, Context, Decimal

from django.db import connection, transaction

from catalog.charge_models import ChargeUsage, round_units
from metering.ingest import NUMERIC_VALUE_PATTERN
from metering.models import Event

ALL_FILTER_VALUES = "__ALL_FILTER_VALUES__"
ZERO = Decimal(0)
SUPPORTED_AGGREGATIONS = (
    "count_agg",
    "sum_agg",
    "max_agg",
    "latest_agg",
    "unique_count_agg",
    "weighted_sum_agg",
)
EVENTS_TABLE = Event._meta.db_table
# For the aggregation queries (transaction-local): no JIT (compiling costs more than it saves on a few hundred
# thousand rows) and room for hash aggregates (the planner otherwise sorts on disk when unique values are many).
_QUERY_SETTINGS = "SELECT set_config('jit', 'off', true), set_config('work_mem', '32MB', true)"
# Weighted-sum units are a division: 28 significant digits, half-up (far below a cent at any price).
_UNITS_CONTEXT = Context(prec=28, rounding=ROUND_HALF_UP)


class UnsupportedAggregation(ValueError):
    """The metric's aggregation cannot be computed (custom_agg: Lago's deprecated scripted aggregator)."""


# --------------------------------------------------------------------------------------------------------------
# Buckets (§2.3) and groups (§3.8)
# --------------------------------------------------------------------------------------------------------------


def pricing_group_keys(properties: dict | None) -> tuple[str, ...]:
    """`pricing_group_keys`, or the deprecated `grouped_by` when it is absent (§3.8)."""
    properties = properties or {}
    keys = properties.get("pricing_group_keys")
    if not keys:
        keys = properties.get("grouped_by")
    if not isinstance(keys, list | tuple):
        return ()
    return tuple(str(k) for k in keys if isinstance(k, str | int) and str(k) != "")


@dataclass(frozen=True)
class Bucket:
    """A filter of the charge (index ≥ 1) or the default bucket (index 0)."""

    index: int
    charge_filter: object | None
    properties: dict
    group_keys: tuple[str, ...]
    # {key: [values]} with __ALL_FILTER_VALUES__ expanded, metric-declared keys only; None for the default bucket.
    values: dict[str, list[str]] | None = None
    # Patterns whose events this filter does not count (other filters taking precedence).
    ignored: tuple[dict[str, list[str]], ...] = ()


def _live(items: Iterable) -> list:
    return [item for item in items if getattr(item, "deleted_at", None) is None]


def metric_filter_values(metric) -> dict[str, list[str]]:
    return {f.key: [str(v) for v in (f.values or [])] for f in metric.filters.all()}


def _expanded_values(charge_filter, declared: dict[str, list[str]]) -> dict[str, list[str]]:
    expanded: dict[str, list[str]] = {}
    for key, values in (charge_filter.values or {}).items():
        if key not in declared:
            continue  # only keys declared on the metric are considered
        values = values if isinstance(values, list | tuple) else [values]
        if ALL_FILTER_VALUES in values:
            expanded[key] = list(declared[key])
        else:
            expanded[key] = [str(v) for v in values]
    return expanded


def _ignored_patterns(target, others: Sequence) -> tuple[dict, ...]:
    """What `target` must not count (ChargeFilters::MatchingAndIgnoredService, plus "identical: oldest wins")."""
    mine = target.expanded
    ignored = []
    for other in others:
        child = other.expanded
        if not mine or not child:
            continue
        if not all(any(v in child.get(key, ()) for v in values) for key, values in mine.items()):
            continue
        pattern = {k: list(v) for k, v in child.items()}
        if set(pattern) == set(mine):
            identical = all(set(pattern[k]) == set(mine[k]) for k in mine)
            subset = all(set(pattern[k]) <= set(mine[k]) for k in mine)
            if identical:
                if other.age >= target.age:
                    continue  # the oldest identical filter counts the events
            elif not subset:
                for key in pattern:
                    if target.raw_values.get(key) != [ALL_FILTER_VALUES]:
                        pattern[key] = [v for v in pattern[key] if v not in mine[key]]
        ignored.append(pattern)
    return tuple(ignored)


@dataclass
class _FilterView:
    charge_filter: object
    expanded: dict
    raw_values: dict
    age: tuple


def charge_buckets(charge) -> list[Bucket]:
    """The charge's filter buckets (in position order) then the default bucket."""
    metric = charge.billable_metric
    declared = metric_filter_values(metric)
    filters = sorted(_live(charge.filters.all()), key=lambda f: (f.position, f.created_at, str(f.pk)))
    views = [
        _FilterView(
            charge_filter=f,
            expanded=_expanded_values(f, declared),
            raw_values={k: (v if isinstance(v, list) else [v]) for k, v in (f.values or {}).items()},
            age=(f.created_at, f.position, str(f.pk)),
        )
        for f in filters
    ]
    buckets = []
    for index, view in enumerate(views, start=1):
        others = [v for v in views if v is not view]
        properties = view.charge_filter.properties or {}
        buckets.append(
            Bucket(
                index=index,
                charge_filter=view.charge_filter,
                properties=properties,
                group_keys=pricing_group_keys(properties),
                values=view.expanded,
                ignored=_ignored_patterns(view, others),
            )
        )
    properties = charge.properties or {}
    buckets.append(
        Bucket(index=0, charge_filter=None, properties=properties, group_keys=pricing_group_keys(properties))
    )
    return buckets


# --------------------------------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BucketUsage:
    """Aggregated usage of one bucket and pricing group over the window."""

    bucket: Bucket
    grouped_by: dict | None
    units: Decimal  # §2.5-rounded
    aggregated_units: Decimal  # before rounding
    total_aggregated_units: Decimal  # weighted sum: the closing running total; else the units
    events_count: int
    event_values: tuple[Decimal, ...] = ()
    precise_total_amount_cents: Decimal = ZERO
    extra: dict = field(default_factory=dict)

    @property
    def charge_filter(self):
        return self.bucket.charge_filter

    def charge_usage(self) -> ChargeUsage:
        return ChargeUsage(
            units=self.units,
            events_count=self.events_count,
            event_values=self.event_values,
            precise_total_amount_cents=self.precise_total_amount_cents,
        )


# --------------------------------------------------------------------------------------------------------------
# SQL building
# --------------------------------------------------------------------------------------------------------------


class _Params(dict):
    """Named query parameters; `add` returns the placeholder."""

    def add(self, value) -> str:
        name = f"p{len(self)}"
        self[name] = value
        return f"%({name})s"


def _match_sql(pattern: dict[str, list[str]], params: _Params, props: str) -> str:
    if not pattern:
        return "FALSE"
    terms = [
        f"coalesce(({props} ->> {params.add(key)}::text) = ANY({params.add(list(values))}::text[]), FALSE)"
        for key, values in pattern.items()
    ]
    return "(" + " AND ".join(terms) + ")"


def _bucket_predicate(bucket: Bucket, params: _Params, props: str) -> str:
    matched = _match_sql(bucket.values or {}, params, props)
    if not bucket.ignored:
        return matched
    excluded = " OR ".join(_match_sql(pattern, params, props) for pattern in bucket.ignored)
    return f"({matched} AND NOT ({excluded}))"


def _covers(pattern: dict, values: dict) -> bool:
    """Every event matching `values` matches `pattern`."""
    return all(key in values and set(values[key]) <= set(allowed) for key, allowed in pattern.items())


def _disjoint(a: Bucket, b: Bucket) -> bool:
    """No event can be counted in both filter buckets (checked statically from their values and exclusions)."""
    va, vb = a.values or {}, b.values or {}
    if not va or not vb:
        return True
    if any(key in vb and not set(va[key]) & set(vb[key]) for key in va):
        return True
    return any(_covers(p, vb) for p in a.ignored) or any(_covers(p, va) for p in b.ignored)


def buckets_are_exclusive(buckets: Sequence[Bucket]) -> bool:
    filters = [b for b in buckets if b.index != 0]
    return all(_disjoint(a, b) for i, a in enumerate(filters) for b in filters[i + 1 :])


def _bucket_expr(buckets: Sequence[Bucket], params: _Params, props: str, *, as_array: bool) -> str:
    """The bucket of an event: a scalar CASE when the filters are mutually exclusive (the usual case), else an
    array of every bucket it belongs to (§2.3's overlapping filters), to unnest."""
    filters = [b for b in buckets if b.index != 0]
    if not filters:
        return "ARRAY[0]" if as_array else "0"
    if not as_array:
        whens = " ".join(f"WHEN {_bucket_predicate(b, params, props)} THEN {b.index}" for b in filters)
        return f"CASE {whens} ELSE 0 END"
    members = [f"CASE WHEN {_bucket_predicate(b, params, props)} THEN {b.index} END" for b in filters]
    anything = " OR ".join(_match_sql(b.values or {}, params, props) for b in filters)
    members.append(f"CASE WHEN NOT ({anything}) THEN 0 END")
    return f"ARRAY[{', '.join(members)}]::int[]"


def _group_expr(buckets: Sequence[Bucket], params: _Params, props: str, bucket: str) -> str | None:
    grouped = [b for b in buckets if b.group_keys]
    if not grouped:
        return None
    if len(grouped) == len(buckets) and len({b.group_keys for b in buckets}) == 1:
        keys = grouped[0].group_keys  # the same keys everywhere: no need to look at the bucket
        return "ARRAY[" + ", ".join(f"{props} ->> {params.add(k)}::text" for k in keys) + "]::text[]"
    whens = []
    for b in grouped:
        items = ", ".join(f"{props} ->> {params.add(k)}::text" for k in b.group_keys)
        whens.append(f"WHEN {b.index} THEN ARRAY[{items}]::text[]")
    return f"CASE {bucket} {' '.join(whens)} END"


def _numeric_sql(field_name: str, params: _Params, props: str) -> str:
    key = params.add(field_name)
    pattern = params.add(NUMERIC_VALUE_PATTERN)
    return (
        f"CASE WHEN ({props} ->> {key}::text) ~ {pattern}::text THEN ({props} ->> {key}::text)::numeric END"
    )


def _by_charge(plans, make, default="NULL", *, ch="ch") -> str:
    """CASE over the charge index `ch` of the row: `make(plan)` gives the charge's expression (or None)."""
    whens = [(p.key, make(p)) for p in plans]
    whens = [(key, sql) for key, sql in whens if sql is not None]
    if not whens:
        return default
    if len(plans) == 1:
        return whens[0][1]
    return f"CASE {ch} " + " ".join(f"WHEN {i} THEN {sql}" for i, sql in whens) + f" ELSE {default} END"


def _in(plans, predicate, *, ch="ch") -> str:
    """SQL condition: the row's charge is one of those satisfying `predicate`."""
    keys = [p.key for p in plans if predicate(p)]
    if not keys:
        return "FALSE"
    if len(keys) == len(plans):
        return "TRUE"
    return f"{ch} IN ({', '.join(keys)})"


@dataclass(frozen=True)
class Window:
    """Which events: one external subscription id, timestamps in [from_datetime, until) (until exclusive).

    `history_from` (recurring metrics): the lower bound of the carried-over history, usually the first
    `started_at` of the external id; `None` means no history (metered)."""

    external_subscription_id: str
    from_datetime: datetime
    until: datetime
    history_from: datetime | None = None
    full_period_days: int | None = None


@dataclass
class _Plan:
    """One charge in the combined query."""

    index: int
    charge: object
    buckets: list
    aggregation: str
    field_name: str
    with_history: bool
    with_values: bool
    with_amounts: bool
    exclusive: bool = True
    # How the query names the charge: its metric code (a placeholder) when each charge has its own metric, else
    # its index; `result_key` is that value as it comes back in the rows.
    key: str = ""
    result_key: object = None

    @property
    def code(self) -> str:
        return self.charge.billable_metric.code


def _plan(index, charge, buckets, window, with_event_values) -> _Plan:
    metric = charge.billable_metric
    aggregation = metric.aggregation_type
    if aggregation not in SUPPORTED_AGGREGATIONS:
        raise UnsupportedAggregation(f"aggregation {aggregation!r} is not supported")
    if aggregation == "weighted_sum_agg" and not window.full_period_days:
        raise ValueError("weighted_sum_agg needs the full period's length in days")
    if with_event_values is None:
        with_event_values = charge.charge_model == "percentage"
    return _Plan(
        index=index,
        charge=charge,
        buckets=list(buckets if buckets is not None else charge_buckets(charge)),
        aggregation=aggregation,
        field_name=metric.field_name or "",
        with_history=bool(metric.recurring and window.history_from is not None)
        and aggregation in ("sum_agg", "unique_count_agg", "weighted_sum_agg"),
        with_values=bool(with_event_values),
        with_amounts=charge.charge_model == "dynamic",
        exclusive=True,
    )


def _rows_sql(plans: Sequence[_Plan], window: Window, params: _Params, *, organization_id) -> str:
    """The charges' events, one row per (event, charge, bucket): columns id, ts, p (properties), amount,
    ch (charge index), bucket."""
    codes = sorted({p.code for p in plans})
    lower = window.from_datetime
    if any(p.with_history for p in plans):
        lower = min(lower, window.history_from)
    where = (
        f"e.organization_id = {params.add(organization_id)}"
        f" AND e.external_subscription_id = {params.add(window.external_subscription_id)}"
        f" AND e.code = ANY({params.add(codes)}::text[])"
        f' AND e."timestamp" >= {params.add(lower)} AND e."timestamp" < {params.add(window.until)}'
    )
    # The charge of each event is its code when each charge has its own metric (the usual case: comparisons
    # on the raw column are the cheapest); several charges on one metric get an unnested array of indexes.
    if len(codes) == len(plans):
        charge = "e.code"
        for plan in plans:
            plan.key, plan.result_key = params.add(plan.code) + "::text", plan.code
    else:
        members = ", ".join(f"CASE WHEN e.code = {params.add(p.code)} THEN {p.index} END" for p in plans)
        charge = f"unnest(ARRAY[{members}])"
        for plan in plans:
            plan.key, plan.result_key = str(plan.index), plan.index
    base = (
        f'SELECT e.id, e."timestamp" AS ts, e.properties AS p, e.precise_total_amount_cents AS amount,'  # noqa: S608
        f" {charge} AS ch FROM {EVENTS_TABLE} e WHERE {where}"
    )
    conditions = ["r.ch IS NOT NULL"]
    history = [p for p in plans if p.with_history]
    if history and len(history) < len(plans):
        # events before the window only for the charges that carry history over (recurring metrics)
        conditions.append(
            f"(r.ts >= {params.add(window.from_datetime)} OR {_in(plans, lambda p: p.with_history, ch='r.ch')})"
        )
    where_rows = " AND ".join(conditions)
    for plan in plans:
        plan.exclusive = buckets_are_exclusive(plan.buckets)
    if all(p.exclusive for p in plans):
        bucket = _by_charge(
            plans, lambda p: _bucket_expr(p.buckets, params, "r.p", as_array=False), "0", ch="r.ch"
        )
        return f"SELECT r.*, {bucket} AS bucket FROM ({base}) r WHERE {where_rows}"  # noqa: S608
    arrays = _by_charge(
        plans, lambda p: _bucket_expr(p.buckets, params, "r.p", as_array=True), "ARRAY[]::int[]", ch="r.ch"
    )
    expanded = f"SELECT r.*, unnest({arrays}) AS bucket FROM ({base}) r WHERE {where_rows}"  # noqa: S608
    return f"SELECT x.* FROM ({expanded}) x WHERE x.bucket IS NOT NULL"  # noqa: S608


def build_aggregation_sql(plans: Sequence[_Plan], window: Window, *, organization_id) -> tuple[str, dict]:
    """One query for all the charges. Rows: (ch, bucket, grp, events_count, units, event_values, amount,
    closing_total). Two levels: per (charge, bucket, group, unique value) then per (charge, bucket, group); the
    unique value is NULL except for unique-count charges, so the inner level is the final group for the others."""
    params = _Params()
    rows = _rows_sql(plans, window, params, organization_id=organization_id)
    in_window = f"ts >= {params.add(window.from_datetime)}"
    group = _by_charge(plans, lambda p: _group_expr(p.buckets, params, "p", "bucket"), "NULL::text[]")
    unique = _by_charge(
        plans,
        lambda p: (
            f"(p ->> {params.add(p.field_name)}::text)" if p.aggregation == "unique_count_agg" else None
        ),
    )
    value = _by_charge(
        plans,
        lambda p: (
            None
            if p.aggregation in ("count_agg", "unique_count_agg")
            else _numeric_sql(p.field_name, params, "p")
        ),
        "NULL::numeric",
    )

    def only(*aggregations):
        return _in(plans, lambda p: p.aggregation in aggregations)

    def needed(*aggregations):
        return any(p.aggregation in aggregations for p in plans)

    history = any(p.with_history for p in plans)
    columns = [f"count(*) FILTER (WHERE {in_window}) AS n" if history else "count(*) AS n"]
    columns.append(
        f"sum({value}) FILTER (WHERE {only('sum_agg', 'weighted_sum_agg')}) AS total"
        if needed("sum_agg", "weighted_sum_agg")
        else "NULL::numeric AS total"
    )
    columns.append(
        f"max({value}) FILTER (WHERE {only('max_agg')}) AS maximum"
        if needed("max_agg")
        else "NULL::numeric AS maximum"
    )
    columns.append(
        f"max(ARRAY[extract(epoch FROM ts), id::numeric, {value}]) FILTER (WHERE {only('latest_agg')} AND {value} IS NOT NULL) AS latest"
        if needed("latest_agg")
        else "NULL::numeric[] AS latest"
    )
    is_add = "CASE WHEN p ->> 'operation_type' = 'remove' THEN 0 ELSE 1 END"
    columns.append(
        f"(max(ARRAY[extract(epoch FROM ts), id::numeric, {is_add}]) FILTER (WHERE {only('unique_count_agg')}))[3] AS state"
        if needed("unique_count_agg")
        else "NULL::numeric AS state"
    )
    if needed("weighted_sum_agg"):
        until = params.add(window.until)
        columns.append(
            f"sum({value}) FILTER (WHERE {only('weighted_sum_agg')} AND NOT {in_window}) AS initial"
        )
        columns.append(
            f"sum({value} * extract(epoch FROM ({until}::timestamptz - ts))) FILTER (WHERE {only('weighted_sum_agg')} AND {in_window}) AS weighted"
        )
    else:
        columns += ["NULL::numeric AS initial", "NULL::numeric AS weighted"]
    if any(p.with_amounts for p in plans):
        columns.append(
            f"sum(amount) FILTER (WHERE {_in(plans, lambda p: p.with_amounts)} AND {in_window}) AS amount"
        )
    else:
        columns.append("NULL::numeric AS amount")
    if any(p.with_values for p in plans):
        columns.append(
            f"array_agg({value} ORDER BY ts, id) FILTER (WHERE {_in(plans, lambda p: p.with_values)} AND {value} IS NOT NULL AND {in_window}) AS vals"
        )
    else:
        columns.append("NULL::numeric[] AS vals")
    inner = (
        f"SELECT ch, bucket, {group} AS grp, {unique} AS uv, {', '.join(columns)}"  # noqa: S608
        f" FROM ({rows}) rows GROUP BY 1, 2, 3, 4"
    )
    outer = (
        "SELECT ch, bucket, grp, sum(n)::bigint, sum(total), max(maximum), max(latest),"  # noqa: S608
        " count(*) FILTER (WHERE uv IS NOT NULL AND state = 1), sum(initial), sum(weighted), sum(amount), min(vals)"
        f" FROM ({inner}) g GROUP BY 1, 2, 3"
    )
    return outer, params


def _unique_deltas_sql(plan: _Plan, window: Window, params: _Params, *, organization_id) -> str:
    """Unique count with per-event values (percentage): the state deltas from a window function."""
    rows = _rows_sql([plan], window, params, organization_id=organization_id)
    in_window = f"ts >= {params.add(window.from_datetime)}"
    group = _group_expr(plan.buckets, params, "p", "bucket") or "NULL::text[]"
    value = f"(p ->> {params.add(plan.field_name)}::text)"
    is_add = "CASE WHEN p ->> 'operation_type' = 'remove' THEN 0 ELSE 1 END"
    amount = "sum(amount) FILTER (WHERE in_window)" if plan.with_amounts else "NULL::numeric"
    return f"""
        SELECT min(ch), bucket, grp, count(*) FILTER (WHERE in_window),
               coalesce(sum(delta) FILTER (WHERE value IS NOT NULL), 0)::numeric, NULL, NULL, NULL, NULL,
               NULL, {amount},
               array_agg(delta::numeric ORDER BY ts, id) FILTER (WHERE value IS NOT NULL AND in_window)
        FROM (
            SELECT ch, bucket, {group} AS grp, {value} AS value, ts, id, amount, {in_window} AS in_window,
                   {is_add} - coalesce(lag({is_add}) OVER (
                       PARTITION BY bucket, {group}, {value} ORDER BY ts, id), 0) AS delta
            FROM ({rows}) rows
        ) s GROUP BY 2, 3"""  # noqa: S608


# --------------------------------------------------------------------------------------------------------------
# Entry points
# --------------------------------------------------------------------------------------------------------------


def aggregate_charges(
    charges: Sequence,
    *,
    window: Window,
    apply_rounding: bool = True,
    buckets: dict | None = None,
    with_event_values: bool | None = None,
) -> dict:
    """Units of several charges of one subscription, per bucket and pricing group, over `window`: one query for
    all of them (a single pass over the subscription's events), plus one per unique-count charge that needs
    per-event values. Returns {charge.pk: [BucketUsage, ...]}.

    Every bucket appears at least once: a bucket without events yields one zero row (grouped by `{key: None}`
    when it has pricing group keys). Per-event values (time order) are fetched for the percentage model unless
    `with_event_values` says otherwise. The metric's rounding (§2.5) is applied unless `apply_rounding` is False.
    """
    plans = [
        _plan(i, charge, (buckets or {}).get(charge.pk), window, with_event_values)
        for i, charge in enumerate(charges, start=1)
    ]
    if not plans:
        return {}
    organization_id = plans[0].charge.organization_id
    windowed = [p for p in plans if p.aggregation == "unique_count_agg" and p.with_values]
    combined = [p for p in plans if p not in windowed]
    rows = []
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(_QUERY_SETTINGS)
        if combined:
            sql, params = build_aggregation_sql(combined, window, organization_id=organization_id)
            cursor.execute(sql, params)
            rows += cursor.fetchall()
        for plan in windowed:
            params = _Params()
            cursor.execute(_unique_deltas_sql(plan, window, params, organization_id=organization_id), params)
            rows += cursor.fetchall()
    return _results(plans, rows, window, apply_rounding)


def aggregate_charge(
    *,
    charge,
    window: Window,
    with_event_values: bool | None = None,
    apply_rounding: bool = True,
    buckets: Sequence[Bucket] | None = None,
) -> list[BucketUsage]:
    """`aggregate_charges` for one charge: a list of BucketUsage, buckets in order (filters, then default)."""
    return aggregate_charges(
        [charge],
        window=window,
        apply_rounding=apply_rounding,
        buckets={charge.pk: buckets} if buckets is not None else None,
        with_event_values=with_event_values,
    )[charge.pk]


def _results(plans, rows, window, apply_rounding) -> dict:
    by_key = {p.result_key: p for p in plans}
    found: dict[tuple[int, int], list[BucketUsage]] = {}
    for (
        ch,
        bucket_index,
        group_values,
        n,
        total,
        maximum,
        latest,
        active,
        initial,
        weighted,
        amount,
        values,
    ) in rows:
        plan = by_key[ch]
        metric = plan.charge.billable_metric
        bucket = next(b for b in plan.buckets if b.index == bucket_index)
        closing = None
        aggregation = plan.aggregation
        if plan in [p for p in plans if p.aggregation == "unique_count_agg" and p.with_values]:
            units = Decimal(total or 0)
        elif aggregation == "count_agg":
            units = Decimal(n or 0)
        elif aggregation == "sum_agg":
            units = Decimal(total or 0)
        elif aggregation == "max_agg":
            units = Decimal(maximum or 0)
        elif aggregation == "latest_agg":
            units = max(Decimal(latest[2]) if latest else ZERO, ZERO)
        elif aggregation == "unique_count_agg":
            units = Decimal(active or 0)
        else:  # weighted_sum_agg: Σ running_i × dur_i over the full period's seconds
            span = Decimal((window.until - window.from_datetime).total_seconds())
            numerator = Decimal(initial or 0) * span + Decimal(weighted or 0)
            units = _UNITS_CONTEXT.divide(numerator, Decimal(window.full_period_days * 86400))
            closing = Decimal(total or 0)
        if aggregation == "count_agg" and plan.with_values:
            event_values = (Decimal(1),) * int(n or 0)
        else:
            event_values = tuple(Decimal(v) for v in (values or ()))
        found.setdefault((plan.index, bucket_index), []).append(
            _usage(
                metric,
                bucket,
                grouped_by=dict(zip(bucket.group_keys, group_values, strict=True))
                if bucket.group_keys
                else None,
                units=units,
                events_count=int(n or 0),
                event_values=event_values,
                amount=Decimal(amount or 0),
                closing=closing,
                apply_rounding=apply_rounding,
            )
        )
    results = {}
    for plan in plans:
        metric = plan.charge.billable_metric
        ordered = []
        for bucket in plan.buckets:
            usages = found.get((plan.index, bucket.index))
            if not usages:
                usages = [
                    _usage(
                        metric,
                        bucket,
                        grouped_by={k: None for k in bucket.group_keys} if bucket.group_keys else None,
                        units=ZERO,
                        events_count=0,
                        event_values=(),
                        amount=ZERO,
                        closing=ZERO if plan.aggregation == "weighted_sum_agg" else None,
                        apply_rounding=apply_rounding,
                    )
                ]
            ordered.extend(sorted(usages, key=_group_sort_key))
        results[plan.charge.pk] = ordered
    return results


def _group_sort_key(usage: BucketUsage):
    if not usage.grouped_by:
        return ()
    return tuple((value is None, value or "") for value in usage.grouped_by.values())


def _usage(metric, bucket, *, grouped_by, units, events_count, event_values, amount, closing, apply_rounding):
    rounded = (
        round_units(units, metric.rounding_function, metric.rounding_precision) if apply_rounding else units
    )
    return BucketUsage(
        bucket=bucket,
        grouped_by=grouped_by,
        units=rounded,
        aggregated_units=units,
        total_aggregated_units=closing if closing is not None else rounded,
        events_count=events_count,
        event_values=event_values,
        precise_total_amount_cents=amount,
    )


# --------------------------------------------------------------------------------------------------------------
# Pay-in-advance state (§3.10): what a bucket and group hold before one more event
# --------------------------------------------------------------------------------------------------------------


def matching_bucket(buckets: Sequence[Bucket], properties: dict) -> Bucket:
    """The bucket a pay-in-advance event is billed on (Lago's EventMatchingService): among the filters it
    matches, the one with the most keys, the first on ties; else the default bucket."""
    best = None
    for bucket in buckets:
        if bucket.index == 0 or not bucket.values:
            continue
        matches = all(
            key in properties and _as_text(properties[key]) in values for key, values in bucket.values.items()
        )
        if matches and (best is None or len(bucket.values) > len(best.values)):
            best = bucket
    return best or next(b for b in buckets if b.index == 0)


def _as_text(value) -> str | None:
    """A property value as Postgres' `->>` renders it (strings as is, numbers as JSON text)."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return str(value)
    return json.dumps(value)


def group_values(bucket: Bucket, properties: dict) -> dict | None:
    if not bucket.group_keys:
        return None
    return {key: _as_text(properties.get(key)) for key in bucket.group_keys}


@dataclass(frozen=True)
class AdvanceState:
    """A bucket/group's aggregate before an event (events up to its timestamp, ties in ingestion order).

    `total` is the running units (recurring: since the start of the history), `max_total` the running maximum
    over the window (starting at the carried-over total, never below 0), `value_active` whether the event's
    unique-count value is active."""

    total: Decimal
    max_total: Decimal
    events_count: int
    event_values: tuple[Decimal, ...]
    precise_total_amount_cents: Decimal
    value_active: bool


def advance_state(
    *,
    charge,
    buckets: Sequence[Bucket],
    bucket: Bucket,
    grouped_by: dict | None,
    window: Window,
    unique_value: str | None = None,
    before_event: tuple[datetime, int] | None = None,
) -> AdvanceState:
    """One query: the state of `bucket` / `grouped_by` for events in `window` (until exclusive).

    `before_event` (timestamp, id) of a stored event: only the events before it in (timestamp, id) order
    (same-second ties in ingestion order), for the instant fee of an event that is already stored."""
    aggregation = charge.billable_metric.aggregation_type
    if aggregation not in ("count_agg", "sum_agg", "unique_count_agg"):
        raise UnsupportedAggregation(f"{aggregation!r} cannot be billed in advance")
    plan = _plan(1, charge, buckets, window, False)
    params = _Params()
    rows = _rows_sql([plan], window, params, organization_id=charge.organization_id)
    where = f"bucket = {params.add(bucket.index)}"
    group = _group_expr(plan.buckets, params, "p", "bucket")
    if group is not None and bucket.group_keys:
        wanted = [grouped_by.get(k) for k in bucket.group_keys]
        where += f" AND ({group}) IS NOT DISTINCT FROM {params.add(wanted)}::text[]"
    if before_event is not None:
        at, event_id = params.add(before_event[0]), params.add(before_event[1])
        where += f" AND (ts, id) < ({at}::timestamptz, {event_id}::bigint)"
    in_window = f"ts >= {params.add(window.from_datetime)}"
    field_name = plan.field_name
    if aggregation == "count_agg":
        value, delta, unique = "1::numeric", "1", "NULL::text"
    elif aggregation == "sum_agg":
        value = _numeric_sql(field_name, params, "p")
        delta, unique = f"coalesce({value}, 0)", "NULL::text"
    else:
        unique = f"(p ->> {params.add(field_name)}::text)"
        is_add = "CASE WHEN p ->> 'operation_type' = 'remove' THEN 0 ELSE 1 END"
        delta = (
            f"CASE WHEN {unique} IS NULL THEN 0 ELSE {is_add} - coalesce(lag({is_add}) OVER ("
            f"PARTITION BY {unique} ORDER BY ts, id), 0) END"
        )
        value = delta
    wanted_value = params.add(unique_value)
    sql = f"""
        SELECT coalesce(sum(d), 0),
               greatest(0, coalesce(sum(d) FILTER (WHERE NOT in_window), 0),
                        coalesce(max(running) FILTER (WHERE in_window), 0)),
               count(*) FILTER (WHERE in_window),
               array_agg(v ORDER BY ts, id) FILTER (WHERE in_window AND v IS NOT NULL),
               coalesce(sum(amount) FILTER (WHERE in_window), 0),
               (max(ARRAY[extract(epoch FROM ts), id::numeric, add_state])
                    FILTER (WHERE unique_value = {wanted_value}::text))[3]
        FROM (
            SELECT s.*, sum(d) OVER (ORDER BY ts, id) AS running
            FROM (
                SELECT id, ts, {in_window} AS in_window, ({value})::numeric AS v, ({delta})::numeric AS d,
                       amount, {unique} AS unique_value,
                       CASE WHEN p ->> 'operation_type' = 'remove' THEN 0 ELSE 1 END AS add_state
                FROM ({rows}) rows WHERE {where}
            ) s
        ) r"""  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        total, max_total, events_count, values, amount, state = cursor.fetchone()
    return AdvanceState(
        total=Decimal(total),
        max_total=Decimal(max_total),
        events_count=int(events_count or 0),
        event_values=tuple(Decimal(v) for v in (values or ())),
        precise_total_amount_cents=Decimal(amount or 0),
        value_active=state is not None and int(state) == 1,
    )
