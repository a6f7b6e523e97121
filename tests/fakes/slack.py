"""Fake Slack: the Web API methods CWA calls (chat.postMessage, chat.update) and response_url.

It answers like Slack does (see tests/fixtures/slack_chat_postMessage_*): HTTP 200 with
`"ok": false` and an error code for refusals, the bot token checked on every call, channels
that must exist. `messages` is what a person in the workspace would see.
"""

from __future__ import annotations

import copy
import json
import time
from pathlib import Path
from typing import Any

from tests.fakes.http_server import FakeServer, Received, Reply

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def ratelimited(retry_after: int = 30) -> Reply:
    """Slack's rate-limit answer, exactly as in the fixture (HTTP 429, Retry-After)."""
    headers = fixture("slack_chat_postMessage_response_ratelimited.headers.json")
    headers["Retry-After"] = str(retry_after)
    return Reply(
        status=429,
        body=fixture("slack_chat_postMessage_response_ratelimited.json"),
        headers=headers,
    )


def error(code: str) -> Reply:
    """Slack's refusal: HTTP 200 with ok=false (slack_chat_postMessage_response_error.json)."""
    body = fixture("slack_chat_postMessage_response_error.json")
    body["error"] = code
    return Reply(status=200, body=body)


class FakeSlack(FakeServer):
    def __init__(self, *, token: str = "xoxb-test-token", channels: dict[str, str] | None = None):
        super().__init__()
        self.token = token
        # name or id → id
        self.channels = channels or {"C0123OPS45": "C0123OPS45", "ops-approvals": "C0123OPS45"}
        self.messages: list[dict[str, Any]] = []
        self.updates: list[dict[str, Any]] = []
        self.responses: list[dict[str, Any]] = []
        self._ts = int(time.time())
        self._seq = 0

    @property
    def api_url(self) -> str:
        return f"{self.url}/api"

    def response_url(self, name: str = "T061EG9R6/1/abc") -> str:
        return f"{self.url}/actions/{name}"

    def route(self, request: Received) -> str:
        return request.path.removeprefix("/api/")

    def respond(self, request: Received) -> tuple[int, Any, dict[str, str]]:
        if request.path.startswith(("/actions/", "/commands/")):
            self.responses.append({"path": request.path, **request.json()})
            return 200, {"ok": True}, {}
        if not request.path.startswith("/api/"):
            return 404, "not found", {"Content-Type": "text/plain"}
        auth = request.headers.get("authorization", "")
        if not auth:
            return 200, {"ok": False, "error": "not_authed"}, {}
        if auth != f"Bearer {self.token}":
            return 200, {"ok": False, "error": "invalid_auth"}, {}
        try:
            args = request.json()
        except ValueError:
            return 200, {"ok": False, "error": "invalid_json"}, {}
        method = self.route(request)
        if method == "chat.postMessage":
            return self._post(args)
        if method == "chat.update":
            return self._update(args)
        return 200, {"ok": False, "error": "unknown_method"}, {}

    def _post(self, args: dict[str, Any]) -> tuple[int, Any, dict[str, str]]:
        channel = self.channels.get(args.get("channel", ""))
        if channel is None:
            return 200, {"ok": False, "error": "channel_not_found"}, {}
        if not args.get("text") and not args.get("blocks"):
            return 200, {"ok": False, "error": "no_text"}, {}
        self._seq += 1
        ts = f"{self._ts}.{self._seq:06d}"
        message = copy.deepcopy(fixture("slack_chat_postMessage_response_ok.json")["message"])
        message.update(ts=ts, text=args.get("text", ""), blocks=args.get("blocks", []))
        self.messages.append({"channel": channel, **message, "request": args})
        return 200, {"ok": True, "channel": channel, "ts": ts, "message": message}, {}

    def _update(self, args: dict[str, Any]) -> tuple[int, Any, dict[str, str]]:
        channel = self.channels.get(args.get("channel", ""))
        found = next(
            (m for m in self.messages if m["channel"] == channel and m["ts"] == args.get("ts")),
            None,
        )
        if found is None:
            return 200, {"ok": False, "error": "message_not_found"}, {}
        found.update(text=args.get("text", found["text"]), blocks=args.get("blocks", []))
        self.updates.append(args)
        return (
            200,
            {"ok": True, "channel": channel, "ts": found["ts"], "text": found["text"]},
            {},
        )

    def message(self, ts: str) -> dict[str, Any]:
        return next(m for m in self.messages if m["ts"] == ts)
