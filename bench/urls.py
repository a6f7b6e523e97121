"""The site's URLs plus a no-op endpoint: the request-handling floor the ingestion bench
compares against."""

from django.http import HttpRequest, HttpResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from cwa_site.urls import urlpatterns as site_urlpatterns


@csrf_exempt
def noop(request: HttpRequest) -> HttpResponse:
    request.read()
    return HttpResponse(b'{"ok": true}', content_type="application/json")


urlpatterns = [path("bench/noop/", noop), *site_urlpatterns]
