"""A real HTTP server on 127.0.0.1 that plays a webhook receiver.

Scripted responses (status, headers, body, or a hang), every request recorded, and optional
de-duplication on Idempotency-Key the way a careful receiver does it. `effects` counts side
effects actually applied, which is what "no duplicate" means to a user.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    status: int = 200
    body: Any = field(default_factory=lambda: {"ok": True})
    headers: dict[str, str] = field(default_factory=dict)
    hang: float = 0.0  # seconds to wait before answering (or until released)


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class FakeWebhook:
    def __init__(self, *, dedupe: bool = False) -> None:
        self.dedupe = dedupe
        self.requests: list[Received] = []
        self.effects: list[Received] = []
        self.replies: deque[Reply] = deque()
        self.arrived = threading.Event()
        self.release = threading.Event()
        self._seen: set[str] = set()
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                got = Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                with fake._lock:
                    fake.requests.append(got)
                    reply = fake.replies.popleft() if fake.replies else Reply()
                fake.arrived.set()
                if reply.hang:
                    fake.release.wait(reply.hang)
                with fake._lock:
                    key = got.headers.get("idempotency-key", "")
                    if reply.status < 300 and not (fake.dedupe and key in fake._seen):
                        fake.effects.append(got)
                        fake._seen.add(key)
                payload = json.dumps(reply.body).encode()
                try:
                    self.send_response(reply.status)
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Type", "application/json")
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

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/hook"

    def script(self, *replies: Reply) -> None:
        self.replies.extend(replies)

    def __enter__(self) -> FakeWebhook:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
