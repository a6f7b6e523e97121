"""Fake Linear GraphQL API: CommentCreate, Comment (lookup by id) and IssueUpdate.

Requests and answers follow tests/fixtures/linear_comment_create_*; errors carry Linear's
`extensions.type` ("authentication error", "invalid input", "ratelimited", ...). A comment id
chosen by the client is unique, like in Linear: creating it twice is refused.
"""

from __future__ import annotations

import uuid
from typing import Any

from tests.fakes.http_server import FakeServer, Received, Reply
from tests.fakes.slack import fixture


def graphql_error(kind: str, message: str, status: int = 400) -> Reply:
    return Reply(
        status=status,
        body={
            "errors": [
                {
                    "message": message,
                    "extensions": {
                        "type": kind,
                        "code": kind.upper().replace(" ", "_"),
                        "userPresentableMessage": message,
                    },
                }
            ]
        },
    )


class FakeLinear(FakeServer):
    def __init__(self, *, api_key: str = "lin_api_testkey") -> None:
        super().__init__()
        self.api_key = api_key
        self.issues: dict[str, dict[str, Any]] = {
            "OPS-42": {
                "id": "9a7c1e44-2b3d-4f5e-8a6b-7c8d9e0f1a2b",
                "identifier": "OPS-42",
                "title": "payments-api p99 latency above SLO in prod-eu-1",
                "stateId": "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d",
                "priority": 2,
            }
        }
        self.comments: dict[str, dict[str, Any]] = {}
        self.sync_id = 2185324820

    @property
    def api_url(self) -> str:
        return f"{self.url}/graphql"

    def route(self, request: Received) -> str:
        try:
            return str(request.json().get("operationName"))
        except ValueError:
            return ""

    def _issue(self, ref: str) -> dict[str, Any] | None:
        return self.issues.get(ref) or next(
            (issue for issue in self.issues.values() if issue["id"] == ref), None
        )

    def respond(self, request: Received) -> tuple[int, Any, dict[str, str]]:
        if request.path != "/graphql":
            return 404, {"error": "not found"}, {}
        if request.headers.get("authorization") != self.api_key:
            reply = graphql_error(
                "authentication error", "Authentication required, not authenticated"
            )
            return reply.status, reply.body, {}
        body = request.json()
        variables = body.get("variables") or {}
        operation = body.get("operationName")
        if operation == "CommentCreate":
            return self._comment_create(variables.get("input") or {})
        if operation == "Comment":
            comment = self.comments.get(variables.get("id", ""))
            if comment is None:
                reply = graphql_error("invalid input", "Entity not found: Comment", status=200)
                return reply.status, reply.body, {}
            return 200, {"data": {"comment": comment}}, {}
        if operation == "IssueUpdate":
            return self._issue_update(variables.get("id", ""), variables.get("input") or {})
        reply = graphql_error("graphql error", f"Unknown operation {operation}")
        return reply.status, reply.body, {}

    def _comment_create(self, data: dict[str, Any]) -> tuple[int, Any, dict[str, str]]:
        issue = self._issue(data.get("issueId", ""))
        if issue is None:
            reply = graphql_error("invalid input", "Could not find referenced Issue.")
            return reply.status, reply.body, {}
        comment_id = data.get("id") or str(uuid.uuid4())
        if comment_id in self.comments:
            reply = graphql_error("invalid input", "A record with this id already exists.")
            return reply.status, reply.body, {}
        answer = fixture("linear_comment_create_response.json")
        comment = answer["data"]["commentCreate"]["comment"]
        comment.update(
            id=comment_id,
            body=data.get("body", ""),
            url=f"https://linear.app/acme/issue/{issue['identifier']}#comment-{comment_id}",
            issue={"id": issue["id"], "identifier": issue["identifier"]},
        )
        self.sync_id += 1
        answer["data"]["commentCreate"]["lastSyncId"] = self.sync_id
        self.comments[comment_id] = comment
        return 200, answer, {}

    def _issue_update(self, ref: str, data: dict[str, Any]) -> tuple[int, Any, dict[str, str]]:
        issue = self._issue(ref)
        if issue is None:
            reply = graphql_error("invalid input", "Entity not found: Issue")
            return reply.status, reply.body, {}
        issue.update(data)
        self.sync_id += 1
        return (
            200,
            {
                "data": {
                    "issueUpdate": {
                        "success": True,
                        "lastSyncId": self.sync_id,
                        "issue": {
                            "id": issue["id"],
                            "identifier": issue["identifier"],
                            "url": f"https://linear.app/acme/issue/{issue['identifier']}",
                            "state": {"id": issue.get("stateId"), "name": "In Progress"},
                        },
                    }
                }
            },
            {},
        )
