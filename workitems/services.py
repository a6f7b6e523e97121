"""Writing work items: ingesting a verified delivery, and marking quiet work as stalled.

Work items mirror other tools, so their changes are recorded in the delivery log (the item's
timeline), not in the audit chain: the audit chain records what CWA decides and does. Policy
evaluation is enqueued in the same transaction as the change (django-q2's ORM broker is a
transactional outbox), so an ingested change is never lost to the engine and never evaluated
before it commits.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from policies import dispatch
from policies.choices import Trigger
from workitems.choices import STALLABLE, DeliveryOutcome, WorkItemStatus
from workitems.models import Connector, Delivery, WorkItem
from workitems.sources import SOURCES, NormalizedItem, Parsed
from workitems.sources.base import body_digest

# Columns a snapshot sets; a change in any of them (or newer activity) is an update.
SNAPSHOT_FIELDS = (
    "title",
    "description",
    "source_status",
    "priority",
    "assignee",
    "labels",
    "due_at",
    "url",
)


@dataclass
class IngestResult:
    duplicate: bool
    delivery: Delivery | None = None
    created: list[Any] = field(default_factory=list)
    updated: list[Any] = field(default_factory=list)
    unchanged: list[Any] = field(default_factory=list)


def derived_status(source_status: str, labels: list[str]) -> str:
    """What CWA shows: the source's status, except that a `blocked` label blocks open work."""
    if source_status in STALLABLE and any(label.lower() == "blocked" for label in labels):
        return WorkItemStatus.BLOCKED
    return source_status


def delivery_ingest(
    *, connector: Connector, parsed: Parsed, body: bytes, now: datetime | None = None
) -> IngestResult:
    """Record one verified delivery and upsert the work items it describes.

    A delivery id seen before (a retry, a redelivery) changes nothing. An item snapshot older
    than, or as old as, the one stored changes nothing either, so events may arrive in any order.
    """
    now = now or timezone.now()
    seen = Delivery.objects.filter(connector=connector, delivery_id=parsed.delivery_id)
    if seen.exists():
        return IngestResult(duplicate=True)
    for attempt in (1, 2):
        try:
            return _ingest(connector, parsed, body, now)
        except IntegrityError:
            # The unique (connector, delivery id) row is written last, in the same transaction:
            # a concurrent copy of this delivery committed first and everything here rolled
            # back. Otherwise another delivery created one of these work items a moment ago;
            # once more, and it is an update.
            if seen.exists():
                return IngestResult(duplicate=True)
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def _ingest(connector: Connector, parsed: Parsed, body: bytes, now: datetime) -> IngestResult:
    result = IngestResult(duplicate=False)
    source = SOURCES[connector.kind].SOURCE
    with transaction.atomic():
        touched = []
        for normalized in parsed.items:
            item, change = _upsert(connector, source, normalized, now)
            if item is None:
                continue
            touched.append(item)
            {"created": result.created, "updated": result.updated, None: result.unchanged}[
                change
            ].append(item.pk)
        if result.created or result.updated:
            outcome = DeliveryOutcome.APPLIED
        elif touched:
            outcome = DeliveryOutcome.UNCHANGED
        else:
            outcome = DeliveryOutcome.IGNORED
        detail = parsed.detail
        if not detail and parsed.items:
            detail = (
                f"{len(result.created)} created, {len(result.updated)} updated, "
                f"{len(result.unchanged)} unchanged"
            )
        delivery = Delivery.objects.create(
            organization_id=connector.organization_id,
            connector=connector,
            delivery_id=parsed.delivery_id,
            event=parsed.event[:100],
            outcome=outcome,
            detail=detail[:300],
            body_sha256=body_digest(body),
            body_bytes=len(body),
            received_at=now,
        )
        if touched:
            Delivery.work_items.through.objects.bulk_create(
                [
                    Delivery.work_items.through(delivery_id=delivery.pk, workitem_id=item.pk)
                    for item in {item.pk: item for item in touched}.values()
                ]
            )
        dispatch.enqueue_evaluations(
            organization_id=connector.organization_id,
            changes=[(pk, Trigger.CREATED) for pk in result.created]
            + [(pk, Trigger.UPDATED) for pk in result.updated],
        )
    result.delivery = delivery
    return result


def _upsert(
    connector: Connector, source: str, normalized: NormalizedItem, now: datetime
) -> tuple[WorkItem | None, str | None]:
    lookup = {
        "organization_id": connector.organization_id,
        "source": source,
        "external_id": normalized.external_id[:255],
    }
    item = WorkItem.objects.select_for_update().filter(**lookup).first()
    if item is None:
        if normalized.activity_only and not normalized.create:
            return None, None
        event_at = normalized.event_at or now
        fields = {name: normalized.fields[name] for name in SNAPSHOT_FIELDS}
        new = WorkItem(
            **lookup,
            **fields,
            team_id=connector.team_id,
            connector=connector,
            status=derived_status(fields["source_status"], fields["labels"]),
            last_activity_at=event_at,
            source_updated_at=None if normalized.activity_only else event_at,
            raw=normalized.raw,
        )
        # A concurrent delivery creating the same item makes this raise IntegrityError; the
        # caller retries the delivery, which then finds the row.
        new.save(force_insert=True)
        return new, "created"
    if normalized.activity_only:
        return item, _activity(item, normalized.event_at)
    if (
        normalized.event_at is not None
        and item.source_updated_at is not None
        and normalized.event_at <= item.source_updated_at
    ):
        return item, None  # a redelivery or an older event arriving late
    event_at = normalized.event_at or now
    changed = []
    for name in SNAPSHOT_FIELDS:
        if getattr(item, name) != normalized.fields[name]:
            setattr(item, name, normalized.fields[name])
            changed.append(name)
    status = derived_status(item.source_status, item.labels)
    if status != item.status:
        item.status = status
        changed.append("status")
    if item.last_activity_at is None or event_at > item.last_activity_at:
        item.last_activity_at = event_at
        changed.append("last_activity_at")
    item.source_updated_at = event_at
    item.raw = normalized.raw
    item.save(update_fields=[*changed, "source_updated_at", "raw", "updated_at"])
    return item, "updated" if changed else None


def _activity(item: WorkItem, event_at: datetime | None) -> str | None:
    if event_at is None or (item.last_activity_at and event_at <= item.last_activity_at):
        return None
    item.last_activity_at = event_at
    fields = ["last_activity_at", "updated_at"]
    if item.status == WorkItemStatus.STALLED:
        item.status = derived_status(item.source_status, item.labels)
        fields.append("status")
    item.save(update_fields=fields)
    return "updated"


def work_items_mark_stalled(*, now: datetime | None = None, limit: int = 5000) -> list[Any]:
    """Open work with no activity for CWA_STALLED_AFTER_DAYS becomes `stalled`.

    The next activity from the source puts it back to the status the source reports. Returns
    the ids that changed, so the engine can run `updated` policies on them.
    """
    now = now or timezone.now()
    threshold = now - timedelta(days=settings.CWA_STALLED_AFTER_DAYS)
    with transaction.atomic():
        ids = list(
            WorkItem.objects.select_for_update(skip_locked=True)
            .filter(status__in=STALLABLE, last_activity_at__lt=threshold)
            .order_by("last_activity_at")
            .values_list("pk", flat=True)[:limit]
        )
        if ids:
            # WorkItem keeps no history table, so a set-based update loses nothing.
            # Re-checked in the UPDATE: a delivery may have brought news since the SELECT.
            WorkItem.objects.filter(
                pk__in=ids, status__in=STALLABLE, last_activity_at__lt=threshold
            ).update(status=WorkItemStatus.STALLED, updated_at=now)
            items = WorkItem.objects.filter(pk__in=ids, status=WorkItemStatus.STALLED).values_list(
                "pk", "organization_id"
            )
            by_org: dict[Any, list[Any]] = {}
            for pk, org_id in items:
                by_org.setdefault(org_id, []).append(pk)
            for org_id, pks in by_org.items():
                dispatch.enqueue_evaluations(
                    organization_id=org_id, changes=[(pk, Trigger.UPDATED) for pk in pks]
                )
            ids = [pk for pks in by_org.values() for pk in pks]
    return ids
