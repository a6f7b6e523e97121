"""Slack Web API: `chat.postMessage` as an executor, and the one call helper that the Slack
approvals (approvals/slack/) reuse for their own posts and updates.

Slack answers most failures with HTTP 200 and `{"ok": false, "error": "<code>"}`; the code
decides the class. `internal_error` and `fatal_error` are documented as "some aspect of the
operation may have succeeded", so they are an unknown outcome, not a retryable failure.
chat.postMessage has no idempotency key: this executor is never repeated after an unknown
outcome, whatever the action type says (at most once comes from the claim + needs_attention).
"""

from __future__ import annotations

from typing import Any

from approvals.executors.base import (
    ExecutionRequest,
    Executor,
    OutcomeUnknown,
    PermanentError,
    TransientError,
)
from approvals.executors.connection import base_url, config_value, connector_for, credentials
from approvals.executors.http import classify_response, parse_retry_after, response_body, send
from workitems.choices import ConnectorKind
from workitems.models import Connector

# Nothing happened and a later try may work.
TRANSIENT_ERRORS = frozenset(
    {"ratelimited", "rate_limited", "service_unavailable", "request_timeout", "team_added_to_org"}
)
# Slack says part of the operation may have happened.
UNKNOWN_ERRORS = frozenset({"internal_error", "fatal_error"})
HINTS = {
    "channel_not_found": "the channel does not exist or the app cannot see it",
    "not_in_channel": "invite the app to the channel first",
    "is_archived": "the channel is archived",
    "msg_too_long": "the message is too long",
    "no_text": "the message has no text",
    "invalid_blocks": "the blocks are not valid Block Kit",
    "invalid_auth": "the connector's bot token is not valid",
    "not_authed": "the connector has no bot token",
    "token_revoked": "the connector's bot token was revoked",
    "account_inactive": "the connector's bot token belongs to a deactivated app",
    "missing_scope": "the app lacks the chat:write scope",
    "message_not_found": "the message to update no longer exists",
    "cant_update_message": "the app may only update its own messages",
}
MAX_TEXT = 40_000
MAX_BLOCKS = 50


def slack_call(
    connector: Connector, method: str, body: dict[str, Any], *, timeout: float
) -> dict[str, Any]:
    """Call one Slack Web API method with the connector's bot token; the parsed body when ok.

    Raises TransientError / PermanentError / OutcomeUnknown like every executor call.
    """
    url = f"{base_url(connector, 'CWA_SLACK_API_URL')}/{method}"
    what = f"Slack {method}"
    response = send(
        "POST",
        url,
        what=what,
        timeout=timeout,
        json=body,
        headers={
            "Authorization": f"Bearer {credentials(connector)}",
            "Content-Type": "application/json; charset=utf-8",
        },
    )
    classify_response(response, what)
    data = response_body(response)
    if not isinstance(data, dict) or "ok" not in data:
        raise OutcomeUnknown(f"{what} answered HTTP {response.status_code} without a Slack body")
    if data["ok"]:
        return data
    code = str(data.get("error") or "unknown_error")
    info = {"status": response.status_code, "body": data}
    message = f"{what} failed: {code}" + (f" ({HINTS[code]})" if code in HINTS else "")
    if code in TRANSIENT_ERRORS:
        raise TransientError(
            message,
            retry_after=parse_retry_after(response.headers.get("retry-after")),
            response=info,
        )
    if code in UNKNOWN_ERRORS:
        raise OutcomeUnknown(message, response=info)
    raise PermanentError(message, response=info)


class SlackPostMessageExecutor(Executor):
    """Posts `text` (and optional Block Kit `blocks`) to a channel with chat.postMessage.

    Payload: `{"text": str, "channel"?: str, "blocks"?: list, "thread_ts"?: str}`; the channel
    falls back to the action type's config, then the connector's config. Link unfurling is off.
    """

    key = "slack.post_message"
    repeatable = False

    def validate_payload(self, payload: dict[str, Any], config: dict[str, Any]) -> dict[str, str]:
        errors: dict[str, str] = {}
        text = payload.get("text")
        if not isinstance(text, str) or not text.strip():
            errors["payload.text"] = "slack.post_message needs a non-empty string `text`."
        elif len(text) > MAX_TEXT:
            errors["payload.text"] = f"`text` is at most {MAX_TEXT:,} characters."
        channel = payload.get("channel", config.get("channel"))
        if channel is not None and (not isinstance(channel, str) or not 0 < len(channel) <= 80):
            errors["payload.channel"] = "`channel` must be a channel id or name (at most 80)."
        blocks = payload.get("blocks")
        if blocks is not None and (
            not isinstance(blocks, list)
            or len(blocks) > MAX_BLOCKS
            or not all(isinstance(block, dict) and block.get("type") for block in blocks)
        ):
            errors["payload.blocks"] = (
                f"`blocks` must be a list of at most {MAX_BLOCKS} Block Kit blocks (each with a type)."
            )
        thread = payload.get("thread_ts")
        if thread is not None and not isinstance(thread, str):
            errors["payload.thread_ts"] = "`thread_ts` must be a string."
        return errors

    def describe(self, payload: dict[str, Any], config: dict[str, Any]) -> str:
        channel = payload.get("channel") or config.get("channel") or "the default channel"
        return f"Slack {channel}: {str(payload.get('text', ''))[:200]}"

    def execute(self, request: ExecutionRequest) -> dict[str, Any]:
        connector = connector_for(kind=ConnectorKind.SLACK, request=request)
        channel = config_value(request, connector, "channel")
        if not channel:
            raise PermanentError(
                "No Slack channel: set `channel` in the payload, the action type's config or the "
                "connector's config.",
                reached=False,
            )
        body: dict[str, Any] = {
            "channel": channel,
            "text": request.payload["text"],
            "unfurl_links": False,
            "unfurl_media": False,
        }
        for optional in ("blocks", "thread_ts"):
            if request.payload.get(optional):
                body[optional] = request.payload[optional]
        data = slack_call(connector, "chat.postMessage", body, timeout=request.timeout)
        return {"channel": data.get("channel"), "ts": data.get("ts")}
