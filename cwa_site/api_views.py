"""Base classes of every CWA API view.

Kept apart from cwa_site.api because DRF's generic views read DEFAULT_PAGINATION_CLASS (which
lives in cwa_site.api) when they are imported.
"""

from __future__ import annotations

from rest_framework import exceptions, generics, renderers, views
from rest_framework.request import Request
from rest_framework.settings import api_settings

from cwa_site.api import JSONParser, ScopedThrottle

THROTTLE_DESCRIPTIONS = {
    "propose": "proposals",
    "decide": "decisions",
    "token": "token requests",
}


class APIDefaults:
    # Shared by every CWA API view: JSON in, JSON out, and a clear 429. (A comment, not a
    # docstring: drf-spectacular would show an inherited docstring as every operation's text.)

    parser_classes = [JSONParser]
    renderer_classes = [renderers.JSONRenderer]
    throttle_classes = [ScopedThrottle]
    throttle_scope: str | None = None
    # OPTIONS answers 405: the OpenAPI schema is the description of every endpoint.
    metadata_class = None

    def throttled(self, request: Request, wait: float | None) -> None:
        scope = self.throttle_scope or ""
        rate = api_settings.DEFAULT_THROTTLE_RATES.get(scope, "")
        raise exceptions.Throttled(
            wait,
            detail=f"Too many {THROTTLE_DESCRIPTIONS.get(scope, 'requests')}: the limit is "
            f"{rate} per user.",
        )


class APIView(APIDefaults, views.APIView):
    pass


class GenericAPIView(APIDefaults, generics.GenericAPIView):
    pass
