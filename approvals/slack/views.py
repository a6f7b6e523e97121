"""Slack's two entry points: button clicks (interactivity) and the `/cwa` slash command.

Both verify Slack's signature on the raw body (and its 5-minute replay window) before parsing
anything, answer within Slack's 3-second limit, and leave the deciding to a django-q2 task
enqueued in the request (ORM broker: the task row is committed before the answer leaves).
Only signed POSTs do anything: a GET (a link preview, a curious browser) decides nothing.
"""

from __future__ import annotations

import json
import logging
from typing import Any
from urllib.parse import parse_qs

from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django_q.tasks import async_task

from approvals.slack import handlers, messages
from approvals.slack.identity import (
    UNKNOWN_USER,
    WRONG_WORKSPACE,
    user_for_slack_id,
    workspace_matches,
)
from workitems.models import Connector
from workitems.signatures import verify_slack

log = logging.getLogger(__name__)
MAX_BODY_BYTES = 256 * 1024
CLICK_TASK = "approvals.slack.tasks.handle_click"
COMMAND_TASK = "approvals.slack.tasks.handle_command"


def _text(status: int, text: str) -> HttpResponse:
    return HttpResponse(text, status=status, content_type="text/plain; charset=utf-8")


def _ephemeral(text: str) -> JsonResponse:
    return JsonResponse({"response_type": "ephemeral", "text": text})


def _verified_form(
    request: HttpRequest, connector_id: Any
) -> tuple[Connector, dict[str, str]] | HttpResponse:
    """The connector and the form fields of a signed Slack POST, or the refusal to send."""
    if request.method != "POST":
        return _text(405, "Slack sends signed POST requests here; nothing happens on a GET.")
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return _text(400, "Bad Content-Length.")
    if length > MAX_BODY_BYTES:
        return _text(413, "Request body too large.")
    connector = messages.connector_or_none(connector_id)
    if connector is None:
        return _text(404, "No such Slack connector.")
    body = request.body
    if len(body) > MAX_BODY_BYTES:
        return _text(413, "Request body too large.")
    try:
        secret = connector.secret
    except ImproperlyConfigured:
        log.exception("the signing secret of Slack connector %s cannot be read", connector.pk)
        return _text(503, "This connector's signing secret cannot be read; tell an admin.")
    reason = verify_slack(secret, request.headers, body) if secret else "no signing secret set"
    if reason:
        log.warning("Slack request to connector %s refused: %s", connector.pk, reason)
        return _text(401, f"Signature check failed: {reason}.")
    try:
        fields = {key: values[-1] for key, values in parse_qs(body.decode("utf-8")).items()}
    except UnicodeDecodeError:
        return _text(400, "The body is not form-encoded UTF-8.")
    return connector, fields


@csrf_exempt
def interactivity(request: HttpRequest, connector_id: Any) -> HttpResponse:
    """Block Kit button clicks. Acknowledged at once with an empty 200; decided in a task."""
    verified = _verified_form(request, connector_id)
    if isinstance(verified, HttpResponse):
        return verified
    connector, fields = verified
    try:
        payload = json.loads(fields.get("payload", ""))
    except ValueError:
        return _text(400, "The `payload` field is not JSON.")
    if not isinstance(payload, dict) or payload.get("type") != "block_actions":
        return HttpResponse(status=200)  # other interaction types are not ours to handle
    pressed = next(
        (
            item
            for item in payload.get("actions") or []
            if isinstance(item, dict) and item.get("action_id", "").startswith("cwa_")
        ),
        None,
    )
    if pressed is None:
        return HttpResponse(status=200)
    container = payload.get("container") or {}
    click = {
        "action_id": pressed.get("action_id"),
        "value": str(pressed.get("value", ""))[:200],
        "user_id": str((payload.get("user") or {}).get("id", "")),
        "team_id": str((payload.get("team") or {}).get("id", "")),
        "channel_id": container.get("channel_id") or (payload.get("channel") or {}).get("id"),
        "message_ts": container.get("message_ts"),
        "response_url": payload.get("response_url"),
    }
    async_task(CLICK_TASK, str(connector.pk), click, task_name=f"slack click {click['value']}")
    return HttpResponse(status=200)


@csrf_exempt
def command(request: HttpRequest, connector_id: Any) -> HttpResponse:
    """The `/cwa` slash command: `pending` answers at once; `approve` / `reject` are acknowledged
    at once and decided in a task that answers on the command's response_url."""
    verified = _verified_form(request, connector_id)
    if isinstance(verified, HttpResponse):
        return verified
    connector, fields = verified
    if not workspace_matches(connector, fields.get("team_id")):
        return _ephemeral(WRONG_WORKSPACE)
    slack_user_id = fields.get("user_id", "")
    words = fields.get("text", "").strip().split(maxsplit=2)
    verb = words[0].lower() if words else "help"
    if verb not in ("pending", "approve", "reject"):
        return _ephemeral(handlers.USAGE)
    if user_for_slack_id(connector, slack_user_id) is None:
        return _ephemeral(UNKNOWN_USER.format(slack_id=slack_user_id))
    if verb == "pending":
        return _ephemeral(handlers.pending_text(connector, slack_user_id))
    number = words[1].lstrip("#") if len(words) > 1 else ""
    if not number.isdigit() or len(number) > 9:
        return _ephemeral(f"Which action? {handlers.USAGE}")
    notes = words[2][:2000] if len(words) > 2 else ""
    async_task(
        COMMAND_TASK,
        str(connector.pk),
        slack_user_id,
        fields.get("team_id", ""),
        verb,
        int(number),
        notes,
        fields.get("response_url", ""),
        task_name=f"slack /cwa {verb} {number}",
    )
    doing = "Approving" if verb == "approve" else "Rejecting"
    return _ephemeral(f"{doing} #{number}…")
