"""Walk each organization's audit chain and report the first event that does not hold."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from audit.chain import GENESIS, hash_of
from audit.models import AuditEvent
from teams.models import Organization


@dataclass
class ChainProblem:
    organization: str
    seq: int | None
    event_id: int | None
    reason: str

    def __str__(self) -> str:
        where = f"event #{self.seq} (id {self.event_id})" if self.seq is not None else "chain head"
        return f"{self.organization}: {where}: {self.reason}"


def verify_organization(org: Organization) -> ChainProblem | None:
    expected_seq, prev = 1, GENESIS
    events: Iterator[AuditEvent] = (
        AuditEvent.objects.filter(organization=org).order_by("seq", "id").iterator(chunk_size=2000)
    )
    for event in events:
        if event.seq != expected_seq:
            kind = "missing (deleted)" if event.seq > expected_seq else "duplicated or reordered"
            return ChainProblem(
                org.slug,
                event.seq,
                event.id,
                f"expected event #{expected_seq}, found #{event.seq}: events {kind}",
            )
        if event.prev_hash != prev:
            return ChainProblem(
                org.slug,
                event.seq,
                event.id,
                "does not link to the previous event (an event before it was deleted, "
                "reordered or rewritten)",
            )
        if hash_of(event) != event.hash:
            return ChainProblem(
                org.slug, event.seq, event.id, "content altered: its hash does not match"
            )
        prev, expected_seq = event.hash, expected_seq + 1
    if org.audit_seq != expected_seq - 1 or org.audit_head != prev:
        return ChainProblem(
            org.slug,
            org.audit_seq,
            None,
            f"the organization's chain head says #{org.audit_seq} but the last event is "
            f"#{expected_seq - 1}: newest events deleted or head rewritten",
        )
    return None


def verify_all() -> tuple[int, list[ChainProblem]]:
    """Returns (events checked, problems — at most one per organization, the first found)."""
    problems = []
    for org in Organization.objects.order_by("slug"):
        problem = verify_organization(org)
        if problem:
            problems.append(problem)
    return AuditEvent.objects.count(), problems
