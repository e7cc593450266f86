"""URL map: /api/v1 (Lago's REST API), /admin (the back office), /health."""

from django.contrib import admin
from django.http import JsonResponse
from django.urls import include, path
from drf_spectacular.views import SpectacularJSONAPIView, SpectacularSwaggerView

from config.api.errors import error_body
from config.health import health

api_v1 = [
    path("", include("customers.api.urls")),
    path("", include("catalog.api.urls")),
    path("", include("metering.api.urls")),
    path("", include("billing.api.urls")),
    path("", include("invoicing.api.urls")),
    path(
        "openapi.json",
        SpectacularJSONAPIView.as_view(authentication_classes=[], permission_classes=[]),
        name="openapi",
    ),
    path(
        "docs/",
        SpectacularSwaggerView.as_view(url_name="openapi", authentication_classes=[], permission_classes=[]),
        name="api-docs",
    ),
]

urlpatterns = [
    path("health", health, name="health"),
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_v1)),
    path("documents/", include("invoicing.urls_documents")),
]


def handler404(request, exception=None):
    return JsonResponse(error_body(404, "Not Found", "route_not_found"), status=404)


def handler500(request):
    return JsonResponse(error_body(500, "Internal Server Error", "internal_error"), status=500)
