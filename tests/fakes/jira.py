"""Fake Jira Cloud REST v3: add a comment (ADF body) and transition an issue.

Answers follow tests/fixtures/jira_add_comment_*: 201 with the comment for a comment, 204 for a
transition, and Jira's `{"errorMessages": [...], "errors": {...}}` for refusals.
"""

from __future__ import annotations

import base64
import re
from typing import Any

from tests.fakes.http_server import FakeServer, Received
from tests.fakes.slack import fixture

PATH = re.compile(r"^/rest/api/3/issue/(?P<key>[^/]+)/(?P<what>comment|transitions)$")


class FakeJira(FakeServer):
    def __init__(self, *, email: str = "cwa@acme.example", api_token: str = "jira-token") -> None:
        super().__init__()
        self.authorization = "Basic " + base64.b64encode(f"{email}:{api_token}".encode()).decode()
        self.issues: dict[str, dict[str, Any]] = {
            "OPS-42": {"id": "10042", "status": "In Progress", "transitions": {"31": "Done"}}
        }
        self.comments: list[dict[str, Any]] = []
        self.transitions: list[dict[str, Any]] = []

    def route(self, request: Received) -> str:
        match = PATH.match(request.path)
        return match["what"] if match else request.path

    def respond(self, request: Received) -> tuple[int, Any, dict[str, str]]:
        if request.headers.get("authorization") != self.authorization:
            return 401, {"errorMessages": ["You are not authenticated."], "errors": {}}, {}
        match = PATH.match(request.path)
        if request.method != "POST" or match is None:
            return 404, {"errorMessages": ["Not found"], "errors": {}}, {}
        issue = self.issues.get(match["key"])
        if issue is None:
            return (
                404,
                {
                    "errorMessages": [
                        "Issue does not exist or you do not have permission to see it."
                    ],
                    "errors": {},
                },
                {},
            )
        body = request.json()
        if match["what"] == "comment":
            document = body.get("body") or {}
            if document.get("type") != "doc" or document.get("version") != 1:
                return (
                    400,
                    {"errorMessages": [], "errors": {"comment": "Comment body is not valid!"}},
                    {},
                )
            answer = fixture("jira_add_comment_response.json")
            answer["id"] = str(10183 + len(self.comments))
            answer["body"] = document
            self.comments.append({"issue": match["key"], **answer})
            return 201, answer, {}
        transition = str((body.get("transition") or {}).get("id", ""))
        if transition not in issue["transitions"]:
            return (
                400,
                {
                    "errorMessages": [f"Transition id '{transition}' is not valid for this issue."],
                    "errors": {},
                },
                {},
            )
        issue["status"] = issue["transitions"][transition]
        issue["transitions"] = {}
        self.transitions.append({"issue": match["key"], **body})
        return 204, b"", {}
