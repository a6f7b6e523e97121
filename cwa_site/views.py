"""Site-level views."""

from __future__ import annotations

import json
import logging

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

log = logging.getLogger("cwa.demo")
_seen_keys: dict[str, dict] = {}


@csrf_exempt
@require_POST
def demo_hook(request: HttpRequest, key: str) -> HttpResponse:
    """A stand-in receiver for the demo's webhook action types (DEBUG only, see urls.py).

    It behaves like a well-made receiver: de-duplicates on Idempotency-Key and says so.
    """
    idem = request.headers.get("Idempotency-Key", "")
    if idem in _seen_keys:
        return JsonResponse({**_seen_keys[idem], "replayed": True})
    try:
        body = json.loads(request.body or b"{}")
    except ValueError:
        return JsonResponse({"error": "body is not JSON"}, status=400)
    answer = {"received": key, "idempotency_key": idem, "body": body}
    if idem:
        _seen_keys[idem] = answer
    log.info("demo webhook %s received %s", key, body)
    return JsonResponse(answer)
