"""Lago pagination: `page` / `per_page` query params and the `meta` block."""

from __future__ import annotations

import math

from django.conf import settings
from rest_framework.pagination import BasePagination

DEFAULT_PER_PAGE = 100


def _positive_int(value, default: int) -> int:
    try:
        number = int(str(value))
    except (TypeError, ValueError):
        return default
    return number if number > 0 else default


def pagination_meta(*, page: int, per_page: int, total_count: int) -> dict:
    if total_count == 0:
        return {"current_page": 0, "next_page": None, "prev_page": None, "total_pages": 0, "total_count": 0}
    total_pages = math.ceil(total_count / per_page)
    return {
        "current_page": page,
        "next_page": page + 1 if page < total_pages else None,
        "prev_page": page - 1 if page > 1 else None,
        "total_pages": total_pages,
        "total_count": total_count,
    }


class LagoPagination(BasePagination):
    def paginate(self, queryset, request) -> tuple[list, dict]:
        page = _positive_int(request.query_params.get("page"), 1)
        per_page = min(
            _positive_int(request.query_params.get("per_page"), DEFAULT_PER_PAGE), settings.LAGO_MAX_PER_PAGE
        )
        total_count = (
            queryset.count()
            if hasattr(queryset, "count") and not isinstance(queryset, list)
            else len(queryset)
        )
        start = (page - 1) * per_page
        items = list(queryset[start : start + per_page])
        return items, pagination_meta(page=page, per_page=per_page, total_count=total_count)

    def get_schema_operation_parameters(self, view):
        return [
            {"name": "page", "required": False, "in": "query", "schema": {"type": "integer"}},
            {"name": "per_page", "required": False, "in": "query", "schema": {"type": "integer"}},
        ]
