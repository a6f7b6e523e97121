"""A real HTTP server on 127.0.0.1 for fakes of outside APIs (Slack, Linear, Jira).

Subclasses implement `route` (which scripted queue a request draws from) and `respond` (what the
real service does and answers). A test can script replies per route: a fixed error answer, or
`Reply(hang=…)` with no body, which performs the real behaviour at once (the side effect happens
on arrival, like a real service that is slow to answer) and then holds the answer until
`release` is set or the hang elapses. Every request is recorded.
"""

from __future__ import annotations

import json
import threading
from collections import defaultdict, deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    status: int = 200
    body: Any = None  # None: behave like the real service
    headers: dict[str, str] = field(default_factory=dict)
    hang: float = 0.0


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class FakeServer:
    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.scripted: dict[str, deque[Reply]] = defaultdict(deque)
        self.arrived = threading.Event()
        self.release = threading.Event()
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length", "0") or 0)
                body = self.rfile.read(length) if length else b""
                got = Received(
                    self.command,
                    self.path,
                    {k.lower(): v for k, v in self.headers.items()},
                    body,
                )
                with fake.lock:
                    fake.requests.append(got)
                    queue = fake.scripted.get(fake.route(got))
                    reply = queue.popleft() if queue else Reply()
                    if reply.body is None:
                        status, answer, headers = fake.respond(got)
                        reply = Reply(
                            status=reply.status if reply.status != 200 else status,
                            body=answer,
                            headers={**headers, **reply.headers},
                            hang=reply.hang,
                        )
                fake.arrived.set()
                if reply.hang:
                    fake.release.wait(reply.hang)
                payload = (
                    reply.body.encode()
                    if isinstance(reply.body, str)
                    else (b"" if reply.body == b"" else json.dumps(reply.body).encode())
                )
                try:
                    self.send_response(reply.status)
                    headers = {"Content-Type": "application/json; charset=utf-8", **reply.headers}
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    if payload:
                        self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            do_POST = do_GET = do_PUT = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    # --- for subclasses
    def route(self, request: Received) -> str:
        return request.path

    def respond(self, request: Received) -> tuple[int, Any, dict[str, str]]:
        return 404, {"error": "not found"}, {}

    # --- for tests
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}"

    def script(self, route: str, *replies: Reply) -> None:
        with self.lock:
            self.scripted[route].extend(replies)

    def __enter__(self) -> FakeServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
