"""Jira Cloud REST v3: comment on an issue (ADF body), transition an issue.

Neither is safe to repeat: Jira has no idempotency key for comments, and a repeated transition
is refused once the issue has moved. So after an unknown outcome these go to a person.
Credentials: `email:api_token` (sent as Basic auth) or an OAuth token (sent as Bearer).
"""

from __future__ import annotations

import base64
import re
from typing import Any
from urllib.parse import quote

import httpx

from approvals.executors.base import ExecutionRequest, Executor, PermanentError
from approvals.executors.connection import base_url, connector_for, credentials
from approvals.executors.http import classify_response, response_body, send
from workitems.choices import ConnectorKind
from workitems.models import Connector

ISSUE_KEY = re.compile(r"^(?:[A-Z][A-Z0-9_]{0,19}-\d{1,9}|\d{1,12})$")
MAX_TEXT = 32_000


def authorization(token: str) -> str:
    if token.lower().startswith(("bearer ", "basic ")):
        return token
    if ":" in token:
        return "Basic " + base64.b64encode(token.encode()).decode()
    return f"Bearer {token}"


def adf_document(text: str) -> dict[str, Any]:
    """Plain text as an Atlassian Document: paragraphs on blank lines, hard breaks on newlines."""
    paragraphs = []
    for block in re.split(r"\n\s*\n", text.strip()):
        content: list[dict[str, Any]] = []
        for index, line in enumerate(block.split("\n")):
            if index:
                content.append({"type": "hardBreak"})
            if line:
                content.append({"type": "text", "text": line})
        paragraphs.append({"type": "paragraph", "content": content})
    return {"type": "doc", "version": 1, "content": paragraphs}


def _jira_errors(response: httpx.Response) -> str:
    body = response_body(response)
    if isinstance(body, dict):
        messages = list(body.get("errorMessages") or [])
        messages += [f"{k}: {v}" for k, v in (body.get("errors") or {}).items()]
        if messages:
            return "; ".join(str(m) for m in messages)[:500]
    return ""


def _call(
    connector: Connector, method: str, path: str, what: str, *, timeout: float, json: Any
) -> httpx.Response:
    url = base_url(connector, "CWA_JIRA_BASE_URL") + path
    response = send(
        method,
        url,
        what=what,
        timeout=timeout,
        json=json,
        headers={
            "Authorization": authorization(credentials(connector)),
            "Accept": "application/json",
            "Content-Type": "application/json",
        },
    )
    try:
        classify_response(response, what)
    except PermanentError as exc:
        if detail := _jira_errors(response):
            exc.message = f"{exc.message}: {detail}"
            exc.args = (exc.message,)
        raise
    return response


def _issue_problem(value: Any) -> str | None:
    if not isinstance(value, str) or not ISSUE_KEY.match(value):
        return "`issue` must be a Jira issue key (OPS-42) or numeric id."
    return None


def _text_problem(value: Any, name: str, required: bool) -> str | None:
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        return f"`{name}` must be a non-empty string."
    if len(value) > MAX_TEXT:
        return f"`{name}` is at most {MAX_TEXT:,} characters."
    return None


class JiraCommentExecutor(Executor):
    """Adds a comment to a Jira issue. Payload: `{"issue": "OPS-42", "text": str}` (plain text,
    sent as an ADF document)."""

    key = "jira.comment"
    repeatable = False

    def validate_payload(self, payload: dict[str, Any], config: dict[str, Any]) -> dict[str, str]:
        errors = {}
        if problem := _issue_problem(payload.get("issue")):
            errors["payload.issue"] = problem
        if problem := _text_problem(payload.get("text"), "text", required=True):
            errors["payload.text"] = problem
        return errors

    def describe(self, payload: dict[str, Any], config: dict[str, Any]) -> str:
        return f"Comment on Jira {payload.get('issue')}: {str(payload.get('text', ''))[:150]}"

    def execute(self, request: ExecutionRequest) -> dict[str, Any]:
        connector = connector_for(kind=ConnectorKind.JIRA, request=request)
        issue = request.payload["issue"]
        response = _call(
            connector,
            "POST",
            f"/rest/api/3/issue/{quote(issue, safe='')}/comment",
            f"Jira comment on {issue}",
            timeout=request.timeout,
            json={"body": adf_document(request.payload["text"])},
        )
        body = response_body(response)
        body = body if isinstance(body, dict) else {}
        return {"comment_id": body.get("id"), "self": body.get("self")}


class JiraTransitionExecutor(Executor):
    """Moves a Jira issue through a workflow transition. Payload: `{"issue": "OPS-42",
    "transition_id": "31", "comment"?: str}`."""

    key = "jira.transition"
    repeatable = False

    def validate_payload(self, payload: dict[str, Any], config: dict[str, Any]) -> dict[str, str]:
        errors = {}
        if problem := _issue_problem(payload.get("issue")):
            errors["payload.issue"] = problem
        transition = payload.get("transition_id")
        if not isinstance(transition, str | int) or not str(transition).isdigit():
            errors["payload.transition_id"] = "`transition_id` is the transition's numeric id."
        if problem := _text_problem(payload.get("comment"), "comment", required=False):
            errors["payload.comment"] = problem
        return errors

    def describe(self, payload: dict[str, Any], config: dict[str, Any]) -> str:
        return f"Transition Jira {payload.get('issue')} ({payload.get('transition_id')})"

    def execute(self, request: ExecutionRequest) -> dict[str, Any]:
        connector = connector_for(kind=ConnectorKind.JIRA, request=request)
        issue = request.payload["issue"]
        body: dict[str, Any] = {"transition": {"id": str(request.payload["transition_id"])}}
        if request.payload.get("comment"):
            body["update"] = {
                "comment": [{"add": {"body": adf_document(request.payload["comment"])}}]
            }
        response = _call(
            connector,
            "POST",
            f"/rest/api/3/issue/{quote(issue, safe='')}/transitions",
            f"Jira transition of {issue}",
            timeout=request.timeout,
            json=body,
        )
        return {
            "issue": issue,
            "transition_id": body["transition"]["id"],
            "status": response.status_code,
        }
