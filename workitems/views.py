"""Inbound webhook endpoints: /hooks/<kind>/<connector id>/.

The order matters: find the connector, refuse oversized bodies before reading them, verify the
signature on the exact bytes received, and only then parse. Refusals store nothing. Nothing
here answers 500: an unexpected failure is logged and answered 503 so the source retries.
"""

from __future__ import annotations

import logging
import uuid

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from workitems.models import Connector
from workitems.services import delivery_ingest
from workitems.sources import SOURCES, Malformed

log = logging.getLogger(__name__)


def _answer(status: int, detail: str, kind: str = "", **extra: object) -> JsonResponse:
    response = JsonResponse({"detail": detail, **extra}, status=status)
    if kind == "slack" and 400 <= status < 500:
        # Slack retries failed deliveries; a refusal will not get better by retrying.
        response["X-Slack-No-Retry"] = "1"
    return response


@csrf_exempt
def webhook(request: HttpRequest, kind: str, connector_id: uuid.UUID) -> JsonResponse:
    if request.method != "POST":
        response = _answer(405, "Use POST.")
        response["Allow"] = "POST"
        return response
    source = SOURCES.get(kind)
    connector = (
        Connector.objects.filter(pk=connector_id, kind=kind, enabled=True).first()
        if source is not None
        else None
    )
    if connector is None:
        return _answer(404, "No such connector.")
    limit = settings.CWA_WEBHOOK_MAX_BYTES
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > limit:
        return _answer(413, f"The body is larger than {limit} bytes.", kind)
    try:
        body = request.read(limit + 1)
        if len(body) > limit:
            return _answer(413, f"The body is larger than {limit} bytes.", kind)
        secret = connector.secret
        if not secret:
            return _answer(401, "This connector has no secret configured.", kind)
        problem = source.verify(secret, request.headers, body)
        if problem:
            return _answer(401, f"Delivery refused: {problem}.", kind)
        try:
            parsed = source.parse(request.headers, body, connector.config or {})
        except Malformed as exc:
            return _answer(400, exc.message, kind)
        if parsed.reply is not None:
            return JsonResponse(parsed.reply)
        result = delivery_ingest(connector=connector, parsed=parsed, body=body)
    except ImproperlyConfigured:
        log.exception("connector %s: secret cannot be decrypted", connector.pk)
        return _answer(503, "The connector is misconfigured; try again later.")
    except Exception:
        # The boundary: whatever went wrong (a database outage, a bug) is logged with its
        # traceback, and the source is told to retry later rather than given a 500.
        log.exception("webhook %s/%s failed", kind, connector.pk)
        return _answer(503, "The delivery could not be processed; try again later.")
    if result.duplicate:
        return JsonResponse({"ok": True, "duplicate": True})
    delivery = result.delivery
    return JsonResponse(
        {
            "ok": True,
            "duplicate": False,
            "delivery": str(delivery.pk),
            "outcome": delivery.outcome,
            "created": len(result.created),
            "updated": len(result.updated),
            "unchanged": len(result.unchanged),
        }
    )
