"""Bearer API-key authentication: `Authorization: Bearer <key>` sets `request.organization`."""

from __future__ import annotations

from rest_framework import authentication, exceptions, permissions


class ApiKeyAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1").strip()
        if not header:
            return None
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise exceptions.AuthenticationFailed()
        # Imported late: config sits below customers in the app order.
        from customers.selectors import api_key_by_secret

        api_key = api_key_by_secret(token.strip())
        if api_key is None:
            raise exceptions.AuthenticationFailed()
        request._request.organization = api_key.organization
        request.organization = api_key.organization
        return (None, api_key)

    def authenticate_header(self, request):
        return self.keyword


class HasOrganization(permissions.BasePermission):
    def has_permission(self, request, view):
        if getattr(request, "organization", None) is None:
            raise exceptions.NotAuthenticated()
        return True
