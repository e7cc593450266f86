"""Invoicing reads, always scoped by organization (first argument)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Mapping
from typing import Any
from zoneinfo import ZoneInfo

from django.db.models import Prefetch, Q, QuerySet, Sum

from config import errors
from invoicing.models import (
    AppliedTax,
    Credit,
    Fee,
    Invoice,
    InvoiceStatus,
    InvoiceSubscription,
)
from invoicing.services.fee_drafts import fee_adjustment_key

_FALSE_STRINGS = {"false", "0", "f", "off", "no", "n"}


def _uuid(value) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except (TypeError, ValueError, AttributeError):
        return None


def parse_bool(value: Any) -> bool | None:
    """A query-string boolean as Rails casts it: blank → None, false-ish strings → False, anything else → True."""
    if value is None:
        return None
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text == "":
        return None
    return text not in _FALSE_STRINGS


def parse_date(value: Any) -> dt.date | None:
    """An ISO date (Lago ignores an invalid one)."""
    if not isinstance(value, str):
        return None
    try:
        return dt.date.fromisoformat(value.strip()[:10])
    except ValueError:
        return None


# --------------------------------------------------------------------------------------------------------------
# Invoices
# --------------------------------------------------------------------------------------------------------------


def _invoices(organization) -> QuerySet[Invoice]:
    return Invoice.objects.filter(organization=organization).select_related(
        "organization", "customer__organization"
    )


def invoice_list(organization, *, filters: Mapping[str, Any] | None = None) -> QuerySet[Invoice]:
    """Lago's InvoicesQuery: newest issuing date first. Filters (Lago's query names): ``external_customer_id``,
    ``amount_from``/``amount_to`` (on ``total_amount_cents``), ``issuing_date_from``/``issuing_date_to``,
    ``statuses``, ``payment_statuses``, ``payment_overdue``, ``search_term`` (id, number, customer name, first and
    last name, external id, email), ``currency``, ``invoice_type``, ``payment_dispute_lost``, ``self_billed`` and
    ``metadata`` ({key: value}; a blank value means "has no such key")."""
    filters = filters or {}
    qs = _invoices(organization).prefetch_related(
        "customer__metadata",
        "customer__taxes",
        Prefetch("applied_taxes", queryset=AppliedTax.objects.order_by("created_at", "tax_code")),
    )
    if filters.get("external_customer_id"):
        qs = qs.filter(
            customer__external_id=filters["external_customer_id"], customer__deleted_at__isnull=True
        )
    if filters.get("amount_from") is not None:
        qs = qs.filter(total_amount_cents__gte=filters["amount_from"])
    if filters.get("amount_to") is not None:
        qs = qs.filter(total_amount_cents__lte=filters["amount_to"])
    issuing_from = parse_date(filters.get("issuing_date_from"))
    if issuing_from is not None:
        qs = qs.filter(issuing_date__gte=issuing_from)
    issuing_to = parse_date(filters.get("issuing_date_to"))
    if issuing_to is not None:
        qs = qs.filter(issuing_date__lte=issuing_to)
    statuses = list(filters.get("statuses") or []) + list(filters.get("status") or [])
    if statuses:
        qs = qs.filter(status__in=statuses)
    payment_statuses = list(filters.get("payment_statuses") or []) + list(filters.get("payment_status") or [])
    if payment_statuses:
        qs = qs.filter(payment_status__in=payment_statuses)
    overdue = parse_bool(filters.get("payment_overdue"))
    if overdue is not None:
        qs = qs.filter(payment_overdue=overdue)
    if filters.get("currency"):
        qs = qs.filter(currency=filters["currency"])
    if filters.get("invoice_type"):
        qs = qs.filter(invoice_type=filters["invoice_type"])
    # Tollbooth has no payment disputes nor self-billing: "lost"/"self-billed" match nothing.
    if parse_bool(filters.get("payment_dispute_lost")) or parse_bool(filters.get("self_billed")):
        qs = qs.none()
    for key, value in (filters.get("metadata") or {}).items():
        if value in (None, ""):
            qs = qs.exclude(metadata__contains=[{"key": key}])
        else:
            qs = qs.filter(metadata__contains=[{"key": key, "value": value}])
    term = (filters.get("search_term") or "").strip()
    if term:
        qs = qs.filter(
            Q(id__icontains=term)
            | Q(number__icontains=term)
            | Q(customer__name__icontains=term)
            | Q(customer__firstname__icontains=term)
            | Q(customer__lastname__icontains=term)
            | Q(customer__external_id__icontains=term)
            | Q(customer__email__icontains=term)
        )
    return qs.order_by("-issuing_date", "-created_at", "-id")


def invoice_by_id(organization, lago_id, *, status: str | None = None) -> Invoice:
    """One invoice of the organization by its lago_id; 404 ``invoice_not_found`` (also for a malformed id)."""
    pk = _uuid(lago_id)
    if pk is None:
        raise errors.NotFound("invoice")
    qs = _invoices(organization).filter(pk=pk)
    if status is not None:
        qs = qs.filter(status=status)
    invoice = qs.first()
    if invoice is None:
        raise errors.NotFound("invoice")
    return invoice


def invoice_with_details(invoice: Invoice) -> Invoice:
    """The invoice with everything its full payload shows, prefetched."""
    return (
        _invoices(invoice.organization)
        .prefetch_related(
            "customer__metadata",
            "customer__taxes",
            Prefetch("applied_taxes", queryset=AppliedTax.objects.order_by("created_at", "tax_code")),
            Prefetch("fees", queryset=_fee_queryset().order_by("created_at", "id")),
            Prefetch(
                "credits",
                queryset=Credit.objects.select_related("applied_coupon__coupon").order_by("created_at", "id"),
            ),
            Prefetch(
                "invoice_subscriptions",
                queryset=InvoiceSubscription.objects.select_related(
                    "subscription__plan",
                    "subscription__customer__organization",
                    "subscription__previous_subscription__plan",
                ).order_by("created_at", "id"),
            ),
        )
        .get(pk=invoice.pk)
    )


def drafts_due_for_finalization(*, organization=None, now: dt.datetime) -> list[Invoice]:
    """Drafts whose ``expected_finalization_date`` (else issuing date) is today or earlier in the customer's
    timezone. Without ``organization``: every organization on the real clock."""
    qs = Invoice.objects.filter(status=InvoiceStatus.DRAFT)
    if organization is not None:
        qs = qs.filter(organization=organization)
    else:
        qs = qs.filter(Q(organization__is_sandbox=False) | Q(organization__frozen_time__isnull=True))
    latest = now.astimezone(dt.UTC).date() + dt.timedelta(days=1)
    qs = qs.filter(
        Q(expected_finalization_date__lte=latest)
        | Q(expected_finalization_date__isnull=True, issuing_date__lte=latest)
    ).select_related("customer__organization", "organization")
    due = []
    for invoice in qs.order_by("created_at", "id"):
        today = now.astimezone(ZoneInfo(invoice.customer.applicable_timezone)).date()
        if (invoice.expected_finalization_date or invoice.issuing_date) <= today:
            due.append(invoice)
    return due


# --------------------------------------------------------------------------------------------------------------
# Fees
# --------------------------------------------------------------------------------------------------------------


def _fee_queryset() -> QuerySet[Fee]:
    return Fee.objects.select_related(
        "customer",
        "subscription__plan",
        "charge__billable_metric",
        "charge_filter",
        "fixed_charge__add_on",
        "add_on",
        "invoice",
        "true_up_fee",
    ).prefetch_related(
        Prefetch("applied_taxes", queryset=AppliedTax.objects.order_by("created_at", "tax_code"))
    )


def fee_list(organization, *, filters: Mapping[str, Any] | None = None) -> QuerySet[Fee]:
    """Lago's FeesQuery: oldest first. Filters: ``external_customer_id``, ``external_subscription_id``,
    ``currency``, ``fee_type``, ``billable_metric_code``, ``payment_status``, ``event_transaction_id``,
    ``created_at_from/to``, ``succeeded_at_from/to``, ``failed_at_from/to``, ``refunded_at_from/to``."""
    filters = filters or {}
    qs = _fee_queryset().filter(organization=organization, deleted_at__isnull=True)
    if filters.get("external_customer_id"):
        qs = qs.filter(
            customer__external_id=filters["external_customer_id"], customer__deleted_at__isnull=True
        )
    if filters.get("external_subscription_id"):
        qs = qs.filter(subscription__external_id=filters["external_subscription_id"])
    if filters.get("currency"):
        qs = qs.filter(amount_currency=str(filters["currency"]).upper())
    if filters.get("fee_type"):
        qs = qs.filter(fee_type=filters["fee_type"])
    if filters.get("billable_metric_code"):
        qs = qs.filter(charge__billable_metric__code=filters["billable_metric_code"])
    if filters.get("payment_status"):
        qs = qs.filter(payment_status=filters["payment_status"])
    if filters.get("event_transaction_id"):
        qs = qs.filter(event_transaction_id=filters["event_transaction_id"])
    for column in ("created_at", "succeeded_at", "failed_at", "refunded_at"):
        if filters.get(f"{column}_from") is not None:
            qs = qs.filter(**{f"{column}__gte": filters[f"{column}_from"]})
        if filters.get(f"{column}_to") is not None:
            qs = qs.filter(**{f"{column}__lte": filters[f"{column}_to"]})
    return qs.order_by("created_at", "id")


def fee_by_id(organization, lago_id) -> Fee:
    """One fee of the organization; 404 ``fee_not_found`` (also for a malformed id)."""
    pk = _uuid(lago_id)
    if pk is None:
        raise errors.NotFound("fee")
    fee = _fee_queryset().filter(organization=organization, pk=pk, deleted_at__isnull=True).first()
    if fee is None:
        raise errors.NotFound("fee")
    return fee


def draft_fee_adjustments(invoice: Invoice) -> dict[tuple, tuple]:
    """A draft's fee adjustments by `fee_adjustment_key`: (adjusted_units, adjusted_unit_amount_cents). The engine
    prices adjusted units with the charge model; `replace_draft_fees` carries the adjustment over."""
    return {
        fee_adjustment_key(
            fee_type=fee.fee_type,
            subscription_id=fee.subscription_id,
            charge_id=fee.charge_id,
            charge_filter_id=fee.charge_filter_id,
            fixed_charge_id=fee.fixed_charge_id,
            add_on_id=fee.add_on_id,
            grouped_by=fee.grouped_by,
        ): (fee.adjusted_units, fee.adjusted_unit_amount_cents)
        for fee in Fee.objects.filter(invoice=invoice).filter(
            Q(adjusted_units__isnull=False) | Q(adjusted_unit_amount_cents__isnull=False)
        )
    }


# --------------------------------------------------------------------------------------------------------------
# Coupon credits
# --------------------------------------------------------------------------------------------------------------


def coupon_consumed_amounts(applied_coupon_ids: Iterable) -> dict[uuid.UUID, int]:
    """Cents each applied coupon took off invoices that still stand (credits of voided invoices left out)."""
    ids = [pk for pk in (_uuid(value) for value in applied_coupon_ids) if pk is not None]
    if not ids:
        return {}
    rows = (
        Credit.objects.filter(applied_coupon_id__in=ids)
        .exclude(invoice__status=InvoiceStatus.VOIDED)
        .values("applied_coupon_id")
        .annotate(total=Sum("amount_cents"))
    )
    consumed = {pk: 0 for pk in ids}
    consumed.update({row["applied_coupon_id"]: int(row["total"] or 0) for row in rows})
    return consumed


def coupon_credits(organization, applied_coupon_id) -> QuerySet[Credit]:
    """The credits an applied coupon gave on the organization's invoices, oldest first (for its `credits`)."""
    pk = _uuid(applied_coupon_id)
    qs = Credit.objects.filter(organization=organization, applied_coupon_id=pk)
    return qs.select_related("invoice", "applied_coupon__coupon").order_by("created_at", "id")
