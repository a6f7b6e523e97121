"""The API: /api/v1/ endpoints, the OpenAPI schema and its docs (assets served locally)."""

from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from cwa_site.api import api_not_found

v1 = [
    path("", include("teams.api.urls")),
    path("", include("approvals.api.urls")),
    path("", include("audit.api.urls")),
    path("", include("workitems.api.urls")),
    path("", include("policies.api.urls")),
]

urlpatterns = [
    path("v1/", include(v1)),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    # Last: anything else under /api/ (a malformed id, a typo) is a JSON 404, not an HTML page.
    re_path(r"^.*$", api_not_found),
]
