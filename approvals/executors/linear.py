"""Linear's GraphQL API: comment on an issue, update an issue.

Both are safe to repeat, which is why their action types may be marked idempotent:
- a comment is created with an id we derive from the action's idempotency key (Linear's create
  inputs accept a client-chosen UUID), so a repeat cannot create a second comment; when a
  repeat is refused, we look the comment up by that id and report the first attempt's result;
- an issue update sets absolute values, so repeating it converges on the same issue.

Linear reports failures as GraphQL `errors` (often with HTTP 400) whose `extensions.type`
names the class: "ratelimited" and "lock timeout" are worth retrying, "internal error" and
"unknown" may have happened, the rest ("invalid input", "forbidden", "authentication error",
...) will not work on a second try.
"""

from __future__ import annotations

import re
import uuid
from typing import Any, NoReturn

from approvals.executors.base import (
    ExecutionRequest,
    Executor,
    OutcomeUnknown,
    PermanentError,
    TransientError,
)
from approvals.executors.connection import base_url, connector_for, credentials
from approvals.executors.http import parse_retry_after, response_body, send
from workitems.choices import ConnectorKind
from workitems.models import Connector

COMMENT_CREATE = """mutation CommentCreate($input: CommentCreateInput!) {
  commentCreate(input: $input) {
    success
    lastSyncId
    comment {
      id
      body
      url
      createdAt
      user {
        id
        name
      }
      issue {
        id
        identifier
      }
    }
  }
}"""

COMMENT_LOOKUP = """query Comment($id: String!) {
  comment(id: $id) {
    id
    body
    url
    issue {
      id
      identifier
    }
  }
}"""

ISSUE_UPDATE = """mutation IssueUpdate($id: String!, $input: IssueUpdateInput!) {
  issueUpdate(id: $id, input: $input) {
    success
    lastSyncId
    issue {
      id
      identifier
      url
      state {
        id
        name
      }
    }
  }
}"""

TRANSIENT_TYPES = frozenset({"ratelimited", "lock timeout"})
UNKNOWN_TYPES = frozenset({"internal error", "unknown", "network error"})
MAX_BODY = 100_000
# Namespace for comment ids derived from idempotency keys (a fixed, random UUID).
COMMENT_ID_NAMESPACE = uuid.UUID("0b6c3f6e-2f44-4f0e-9a55-2c1b6d8e7a31")
ISSUE_REF = re.compile(r"^(?:[A-Za-z][A-Za-z0-9_]{0,9}-\d{1,9}|[0-9a-fA-F-]{36})$")

# What an issue update may change, and the JSON type each field takes.
UPDATE_FIELDS: dict[str, tuple[type, ...]] = {
    "title": (str,),
    "description": (str,),
    "stateId": (str,),
    "assigneeId": (str, type(None)),
    "priority": (int,),
    "labelIds": (list,),
    "dueDate": (str, type(None)),
    "estimate": (int, type(None)),
}


class LinearError(Exception):
    """GraphQL errors in an answer, with the first error's type."""

    def __init__(self, kind: str, message: str, info: dict[str, Any]) -> None:
        super().__init__(message)
        self.kind, self.message, self.info = kind, message, info


def comment_id_for(idempotency_key: str) -> str:
    return str(uuid.uuid5(COMMENT_ID_NAMESPACE, idempotency_key))


def _graphql(
    connector: Connector,
    query: str,
    variables: dict[str, Any],
    operation: str,
    *,
    timeout: float,
) -> dict[str, Any]:
    """One GraphQL request; the `data` object, or LinearError for GraphQL errors."""
    what = f"Linear {operation}"
    response = send(
        "POST",
        base_url(connector, "CWA_LINEAR_API_URL"),
        what=what,
        timeout=timeout,
        json={"query": query, "variables": variables, "operationName": operation},
        headers={"Authorization": credentials(connector), "Content-Type": "application/json"},
    )
    body = response_body(response)
    info = {"status": response.status_code, "body": body}
    errors = body.get("errors") if isinstance(body, dict) else None
    if errors:
        first = errors[0] if isinstance(errors[0], dict) else {}
        extensions = first.get("extensions") or {}
        kind = str(extensions.get("type") or extensions.get("code") or "unknown").lower()
        message = extensions.get("userPresentableMessage") or first.get("message") or kind
        if kind in TRANSIENT_TYPES:
            raise TransientError(
                f"{what} failed: {message}",
                retry_after=parse_retry_after(response.headers.get("retry-after")),
                response=info,
            )
        raise LinearError(kind, f"{what} failed: {message}", info)
    if response.status_code == 429 or response.status_code >= 500:
        raise TransientError(
            f"{what} answered HTTP {response.status_code}",
            retry_after=parse_retry_after(response.headers.get("retry-after")),
            response=info,
        )
    if not response.is_success:
        raise PermanentError(
            f"{what} refused the request: HTTP {response.status_code}", response=info
        )
    if not isinstance(body, dict) or not isinstance(body.get("data"), dict):
        raise OutcomeUnknown(f"{what} answered without GraphQL data", response=info)
    return body["data"]


def _raise(error: LinearError) -> NoReturn:
    if error.kind in UNKNOWN_TYPES:
        raise OutcomeUnknown(error.message, response=error.info)
    raise PermanentError(error.message, response=error.info)


def _issue_problem(value: Any) -> str | None:
    if not isinstance(value, str) or not ISSUE_REF.match(value):
        return "`issue_id` must be an issue identifier (OPS-42) or the issue's UUID."
    return None


class LinearCommentExecutor(Executor):
    """Adds a markdown comment to a Linear issue. Payload: `{"issue_id": "OPS-42", "body": str}`."""

    key = "linear.comment"
    repeatable = True

    def validate_payload(self, payload: dict[str, Any], config: dict[str, Any]) -> dict[str, str]:
        errors: dict[str, str] = {}
        if problem := _issue_problem(payload.get("issue_id")):
            errors["payload.issue_id"] = problem
        body = payload.get("body")
        if not isinstance(body, str) or not body.strip():
            errors["payload.body"] = "linear.comment needs a non-empty markdown `body`."
        elif len(body) > MAX_BODY:
            errors["payload.body"] = f"`body` is at most {MAX_BODY:,} characters."
        return errors

    def describe(self, payload: dict[str, Any], config: dict[str, Any]) -> str:
        return f"Comment on Linear {payload.get('issue_id')}: {str(payload.get('body', ''))[:150]}"

    def execute(self, request: ExecutionRequest) -> dict[str, Any]:
        connector = connector_for(kind=ConnectorKind.LINEAR, request=request)
        comment_id = comment_id_for(request.idempotency_key)
        variables = {
            "input": {
                "id": comment_id,
                "issueId": request.payload["issue_id"],
                "body": request.payload["body"],
            }
        }
        try:
            data = _graphql(
                connector, COMMENT_CREATE, variables, "CommentCreate", timeout=request.timeout
            )
        except LinearError as error:
            # A repeat of an attempt that landed is refused (the id exists): that is success.
            existing = self._existing(connector, comment_id, request.timeout)
            if existing is None:
                _raise(error)
            return {"comment_id": existing["id"], "url": existing.get("url"), "repeat": True}
        payload = data.get("commentCreate") or {}
        if not payload.get("success"):
            raise PermanentError("Linear CommentCreate answered success: false", response=data)
        comment = payload.get("comment") or {}
        return {"comment_id": comment.get("id"), "url": comment.get("url")}

    def _existing(self, connector: Connector, comment_id: str, timeout: float) -> dict | None:
        try:
            data = _graphql(
                connector, COMMENT_LOOKUP, {"id": comment_id}, "Comment", timeout=timeout
            )
        except LinearError:
            return None
        return data.get("comment") or None


class LinearIssueUpdateExecutor(Executor):
    """Sets fields of a Linear issue. Payload: `{"issue_id": "OPS-42", "update": {"stateId": ...}}`
    with the fields of UPDATE_FIELDS (Linear's IssueUpdateInput names)."""

    key = "linear.issue_update"
    repeatable = True

    def validate_payload(self, payload: dict[str, Any], config: dict[str, Any]) -> dict[str, str]:
        errors: dict[str, str] = {}
        if problem := _issue_problem(payload.get("issue_id")):
            errors["payload.issue_id"] = problem
        update = payload.get("update")
        if not isinstance(update, dict) or not update:
            errors["payload.update"] = "linear.issue_update needs a non-empty object `update`."
            return errors
        for name, value in update.items():
            types = UPDATE_FIELDS.get(name)
            if types is None:
                errors[f"payload.update.{name}"] = (
                    f"{name!r} cannot be changed; allowed: {', '.join(sorted(UPDATE_FIELDS))}."
                )
            elif not isinstance(value, types) or isinstance(value, bool):
                errors[f"payload.update.{name}"] = f"{name!r} has the wrong type."
            elif name == "priority" and not 0 <= value <= 4:
                errors["payload.update.priority"] = "priority is 0 (none) to 4 (low)."
            elif name == "labelIds" and not all(isinstance(item, str) for item in value):
                errors["payload.update.labelIds"] = "labelIds is a list of label ids."
        return errors

    def describe(self, payload: dict[str, Any], config: dict[str, Any]) -> str:
        fields = ", ".join(sorted((payload.get("update") or {}).keys()))
        return f"Update Linear {payload.get('issue_id')}: {fields}"

    def execute(self, request: ExecutionRequest) -> dict[str, Any]:
        connector = connector_for(kind=ConnectorKind.LINEAR, request=request)
        variables = {"id": request.payload["issue_id"], "input": request.payload["update"]}
        try:
            data = _graphql(
                connector, ISSUE_UPDATE, variables, "IssueUpdate", timeout=request.timeout
            )
        except LinearError as error:
            _raise(error)
        payload = data.get("issueUpdate") or {}
        if not payload.get("success"):
            raise PermanentError("Linear IssueUpdate answered success: false", response=data)
        issue = payload.get("issue") or {}
        return {"issue_id": issue.get("id"), "identifier": issue.get("identifier")}
