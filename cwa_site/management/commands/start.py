"""Start the whole product in one process group: the ASGI web server and the task workers.

`make run` calls this after migrating and loading the demo data. Ctrl-C stops everything; if
either child dies, the other is stopped too, so nothing half-runs.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = (
        "Run the web server (uvicorn, ASGI: HTTP + websockets) and the django-q2 workers together."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))

    def handle(self, *args: Any, host: str, port: int, **options: Any) -> None:
        manage = os.path.join(settings.BASE_DIR, "manage.py")
        children = {
            "web": subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "uvicorn",
                    "cwa_site.asgi:application",
                    "--host",
                    host,
                    "--port",
                    str(port),
                    "--lifespan",
                    "off",
                    "--log-level",
                    "warning",
                ],
                cwd=settings.BASE_DIR,
            ),
            "workers": subprocess.Popen(
                [sys.executable, manage, "qcluster"], cwd=settings.BASE_DIR
            ),
        }
        url = f"http://{host}:{port}/"
        self.stdout.write(self.style.SUCCESS(f"\nCWA is running at {url}  (Ctrl-C stops it)"))
        self.stdout.write(
            "  Approval queue: /approvals/   Dashboard: /dashboard/   Admin: /admin/   API docs: /api/docs/\n"
            "  Demo logins (password 'demo' unless you seeded another): alice (org admin), bob, dave, erin\n"
            "  (approvers), carol (viewer), mallory (another organization).\n"
        )
        self.stdout.flush()
        stopping: list[int] = []
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda signum, frame: stopping.append(signum))
        failed = None
        try:
            while not stopping and failed is None:
                for name, proc in children.items():
                    if proc.poll() is not None:
                        failed = f"The {name} process exited with code {proc.returncode}; stopping."
                time.sleep(0.3)
            # Ctrl-C reaches the whole process group at once, so a child may exit first: that is
            # a clean stop too, not a crash.
            time.sleep(0.3)
            if stopping or any(p.returncode in (0, -signal.SIGINT) for p in children.values()):
                failed = None
            self.stdout.write(failed or "\nStopping…")
        finally:
            for proc in children.values():
                if proc.poll() is None:
                    proc.send_signal(signal.SIGINT)
            deadline = time.monotonic() + 10
            for proc in children.values():
                try:
                    proc.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    proc.kill()
        if failed:
            raise SystemExit(1)
