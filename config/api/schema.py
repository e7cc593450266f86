"""drf-spectacular extensions: the bearer API key as Lago's `bearerAuth` scheme."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "config.api.auth.ApiKeyAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer"}


# Operations we serve that Lago's published spec does not have, each documented in the README.
TOLLBOOTH_EXTENSIONS: set[tuple[str, str]] = {
    ("/organizations", "get"),  # read back what PUT /organizations set
    ("/test_clock", "get"),  # a sandbox organization's frozen time
    ("/test_clock/advance", "post"),  # move it forward, running everything that fell due
}
