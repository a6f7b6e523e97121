"""HTMX requests never get a login page swapped into a row."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlencode, urlsplit

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import resolve_url
from django_htmx.http import HttpResponseClientRedirect


class HtmxLoginRedirectMiddleware:
    """When a session expires, `login_required` answers an HTMX request with a 302 to the login
    page, which the browser would follow and swap into the target (a row, the results). Turn it
    into a full-page redirect to the login page that comes back to the page the person was on."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.login_path = urlsplit(resolve_url(settings.LOGIN_URL)).path

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        htmx = getattr(request, "htmx", None)
        if (
            htmx
            and response.status_code == 302
            and urlsplit(response.get("Location", "")).path == self.login_path
        ):
            back = urlsplit(htmx.current_url or "")
            page = back.path + (f"?{back.query}" if back.query else "") or "/"
            return HttpResponseClientRedirect(f"{self.login_path}?{urlencode({'next': page})}")
        return response
