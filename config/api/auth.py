"""Bearer API-key authentication: `Authorization: Bearer <key>` sets `request.organization`."""

from __future__ import annotations

from rest_framework import authentication, exceptions, permissions


def bearer_token(header: str) -> str | None:
    """The key of an `Authorization: Bearer <key>` header value; None when absent or of another scheme."""
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def api_key_for(header: str):
    """The live API key (its organization loaded) named by an Authorization header value, or None."""
    token = bearer_token(header)
    if token is None:
        return None
    # Imported late: config sits below customers in the app order.
    from customers.selectors import api_key_by_secret

    return api_key_by_secret(token)


class ApiKeyAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1").strip()
        if not header:
            return None
        api_key = api_key_for(header)
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
