"""A fake SMTP server on 127.0.0.1 (RFC 5321 dialogue, no TLS, no AUTH).

`refuse` lists recipients answered with 550; `data_reply` replaces the answer to the message
body (e.g. "451 4.3.0 try again later"); `hang_after_data` holds the answer to the body, so
the client times out with the message possibly delivered.
"""

from __future__ import annotations

import socketserver
import threading
from typing import Any


class FakeSMTP:
    def __init__(self) -> None:
        self.refuse: set[str] = set()
        self.data_reply = "250 2.0.0 Ok: queued"
        self.hang_after_data = 0.0
        self.delivered: list[dict[str, Any]] = []
        fake = self

        class Handler(socketserver.StreamRequestHandler):
            def _say(self, line: str) -> None:
                self.wfile.write(line.encode() + b"\r\n")

            def handle(self) -> None:
                self._say("220 fake.smtp ESMTP")
                sender, recipients = "", []
                while True:
                    raw = self.rfile.readline()
                    if not raw:
                        return
                    line = raw.decode(errors="replace").rstrip("\r\n")
                    verb = line[:4].upper()
                    if verb in ("EHLO", "HELO"):
                        self._say(
                            "250-fake.smtp\r\n250 8BITMIME" if verb == "EHLO" else "250 fake.smtp"
                        )
                    elif verb == "MAIL":
                        sender, recipients = line.partition(":")[2].strip(" <>"), []
                        self._say("250 2.1.0 Ok")
                    elif verb == "RCPT":
                        address = line.partition(":")[2].strip(" <>")
                        if address in fake.refuse:
                            self._say(f"550 5.1.1 <{address}>: Recipient address rejected")
                        else:
                            recipients.append(address)
                            self._say("250 2.1.5 Ok")
                    elif verb == "DATA":
                        self._say("354 End data with <CR><LF>.<CR><LF>")
                        lines = []
                        while (chunk := self.rfile.readline()) not in (b".\r\n", b""):
                            lines.append(chunk)
                        if fake.data_reply.startswith("250"):
                            fake.delivered.append(
                                {"from": sender, "to": recipients, "data": b"".join(lines)}
                            )
                        if fake.hang_after_data:
                            threading.Event().wait(fake.hang_after_data)
                            return
                        self._say(fake.data_reply)
                    elif verb == "RSET":
                        sender, recipients = "", []
                        self._say("250 2.0.0 Ok")
                    elif verb == "NOOP":
                        self._say("250 2.0.0 Ok")
                    elif verb == "QUIT":
                        self._say("221 2.0.0 Bye")
                        return
                    else:
                        self._say("502 5.5.2 Error: command not recognized")

        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    def __enter__(self) -> FakeSMTP:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()
