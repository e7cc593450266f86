"""Metering writes: ingesting events (single and batch). Events are append-only: nothing updates them."""

from __future__ import annotations

from collections.abc import Sequence

from config import errors
from metering.ingest import MAX_BATCH_SIZE, EventInput, ingest_events


def create_event(*, organization, payload: dict) -> EventInput:
    """POST /events: one event, 422 `{field: [code]}` when invalid or already stored."""
    return ingest_events(organization=organization, payloads=[payload], batch=False)[0]


def create_events_batch(*, organization, payloads: Sequence) -> list[EventInput]:
    """POST /events/batch: 1–100 events, all or nothing; errors keyed by array index."""
    if not isinstance(payloads, list):
        raise errors.ValidationFailed({"events": ["value_is_invalid"]})
    if not payloads:
        raise errors.ValidationFailed({"events": ["no_events"]})
    if len(payloads) > MAX_BATCH_SIZE:
        raise errors.ValidationFailed({"events": ["too_many_events"]})
    return ingest_events(organization=organization, payloads=payloads, batch=True)
