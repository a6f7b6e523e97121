"""A real HTTP server on 127.0.0.1 that plays the Anthropic Messages API.

It checks what the real API checks (path, credentials, `anthropic-version`, the request body's
required fields) and answers in the real wire format: the message shape of the shared fixture
`anthropic_messages_response.json`, and the error bodies and headers of
`anthropic_error_rate_limit` (429) and `anthropic_error_overloaded` (529). Point the SDK at it
with `base_url`. Replies are scripted; without a script every call succeeds.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def _fixture(name: str) -> tuple[dict[str, Any], dict[str, str]]:
    body = json.loads((FIXTURES / f"{name}.json").read_text())
    headers = json.loads((FIXTURES / f"{name}.headers.json").read_text())
    return body, headers


@dataclass
class Reply:
    status: int = 200
    body: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    hang: float = 0.0


def ok(text: str, *, input_tokens: int = 96, output_tokens: int = 58, model: str = "") -> Reply:
    body, headers = _fixture("anthropic_messages_response")
    body["content"] = [{"type": "text", "text": text}]
    body["usage"] = {"input_tokens": input_tokens, "output_tokens": output_tokens}
    if model:
        body["model"] = model
    return Reply(200, body, headers)


def rate_limited(retry_after: str | None = None) -> Reply:
    body, headers = _fixture("anthropic_error_rate_limit")
    if retry_after is not None:
        headers["retry-after"] = retry_after
    return Reply(429, body, headers)


def overloaded() -> Reply:
    body, headers = _fixture("anthropic_error_overloaded")
    return Reply(529, body, headers)


def _error(status: int, kind: str, message: str) -> Reply:
    return Reply(
        status,
        {"type": "error", "error": {"type": kind, "message": message}, "request_id": "req_fake"},
        {"content-type": "application/json", "request-id": "req_fake"},
    )


class FakeAnthropic:
    def __init__(self, *, api_key: str = "sk-ant-test") -> None:
        self.api_key = api_key
        self.requests: list[dict[str, Any]] = []
        self.replies: deque[Reply] = deque()
        self.default = ok("Drafted by the fake model.")
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                raw = self.rfile.read(length)
                headers = {k.lower(): v for k, v in self.headers.items()}
                reply = fake._answer(self.path, headers, raw)
                if reply.hang:
                    threading.Event().wait(reply.hang)
                payload = json.dumps(reply.body).encode()
                try:
                    self.send_response(reply.status)
                    for name, value in reply.headers.items():
                        if name.lower() != "content-length":
                            self.send_header(name, value)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def _answer(self, path: str, headers: dict[str, str], raw: bytes) -> Reply:
        if path.split("?")[0] != "/v1/messages":
            return _error(404, "not_found_error", f"Not found: {path}")
        credential = headers.get("x-api-key") or headers.get("authorization", "").removeprefix(
            "Bearer "
        )
        if credential != self.api_key:
            return _error(401, "authentication_error", "invalid x-api-key")
        if not headers.get("anthropic-version"):
            return _error(400, "invalid_request_error", "anthropic-version header is required")
        try:
            body = json.loads(raw)
        except ValueError:
            return _error(400, "invalid_request_error", "The request body is not valid JSON.")
        problems = []
        if not isinstance(body.get("model"), str):
            problems.append("model: Field required")
        if not isinstance(body.get("max_tokens"), int) or body["max_tokens"] < 1:
            problems.append("max_tokens: Field required")
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            problems.append("messages: at least one message is required")
        elif any(m.get("role") not in ("user", "assistant") for m in messages):
            problems.append("messages: roles must be user or assistant")
        if problems:
            return _error(400, "invalid_request_error", "; ".join(problems))
        with self._lock:
            self.requests.append({"headers": headers, "body": body})
            return self.replies.popleft() if self.replies else self.default

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}"

    def script(self, *replies: Reply) -> None:
        self.replies.extend(replies)

    def __enter__(self) -> FakeAnthropic:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()
