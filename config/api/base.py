"""The API base: tenant-scoped viewsets, root-key envelopes and Lago input parsing."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from drf_spectacular.utils import inline_serializer
from rest_framework import serializers, viewsets
from rest_framework.request import Request
from rest_framework.response import Response

from config import errors
from config.api.pagination import LagoPagination

_ENVELOPES: dict[str, type[serializers.Serializer]] = {}


class MetaSerializer(serializers.Serializer):
    current_page = serializers.IntegerField()
    next_page = serializers.IntegerField(allow_null=True)
    prev_page = serializers.IntegerField(allow_null=True)
    total_pages = serializers.IntegerField()
    total_count = serializers.IntegerField()


def envelope(
    root: str, serializer: type[serializers.Serializer], *, many: bool = False, paginated: bool = False
):
    """Schema of a Lago root-key envelope: {"customer": {...}} or {"customers": [...], "meta": {...}}."""
    name = f"{serializer.__name__.removesuffix('Serializer')}{'Paginated' if paginated else ''}{'List' if many else ''}Envelope"
    if name not in _ENVELOPES:
        fields: dict[str, Any] = {root: serializer(many=many)}
        if paginated:
            fields["meta"] = MetaSerializer()
        _ENVELOPES[name] = inline_serializer(name=name, fields=fields)
    return _ENVELOPES[name]


def root_payload(request: Request, root: str) -> dict:
    """The object under the request's root key; Lago answers 400 when it is missing."""
    data = request.data
    if not isinstance(data, dict) or root not in data or data[root] in (None, "", {}, []):
        raise errors.BadRequest(f"param is missing or the value is empty: {root}")
    payload = data[root]
    if not isinstance(payload, dict):
        raise errors.BadRequest(f"param is missing or the value is empty: {root}")
    return payload


def validated(serializer_cls: type[serializers.Serializer], payload: dict, **kwargs) -> dict:
    """Run an input serializer; its errors become a 422 in Lago's envelope."""
    serializer = serializer_cls(data=payload, **kwargs)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


class OrganizationViewSet(viewsets.ViewSet):
    """A viewset whose every read and write is scoped to the API key's organization."""

    root: str = ""
    root_plural: str = ""
    output_serializer: type[serializers.Serializer] | None = None
    pagination = LagoPagination()

    @property
    def organization(self):
        return self.request.organization

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        # Identifiers with NUL cannot exist (PostgreSQL refuses them): not found, not a database error.
        for name, value in kwargs.items():
            if "\x00" in str(value):
                raise errors.NotFound(
                    "customer" if name == "external_customer_id" else self.root or "resource"
                )
        for key, values in request.query_params.lists():
            if "\x00" in key or any("\x00" in value for value in values):
                raise errors.BadRequest("null characters are not allowed")

    def payload(self) -> dict:
        return root_payload(self.request, self.root)

    def render_one(self, obj, *, status: int = 200, context: dict | None = None) -> Response:
        data = self.output_serializer(obj, context=context or {}).data
        return Response({self.root: data}, status=status)

    def render_page(
        self, queryset: Iterable, *, context: dict | None = None, transform: Callable | None = None
    ) -> Response:
        items, meta = self.pagination.paginate(queryset, self.request)
        if transform is not None:
            items = transform(items)
        data = self.output_serializer(items, many=True, context=context or {}).data
        return Response({self.root_plural: data, "meta": meta})
