from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from audit.verify import verify_all


class Command(BaseCommand):
    help = "Verify every organization's audit hash chain; exit non-zero at the first bad event."

    def handle(self, *args: Any, **options: Any) -> None:
        count, problems = verify_all()
        if problems:
            for problem in problems:
                self.stderr.write(f"TAMPERED {problem}")
            raise CommandError(f"Audit chain broken in {len(problems)} organization(s).")
        self.stdout.write(self.style.SUCCESS(f"Audit chain intact: {count} events verified."))
