"""Telling people: stored notifications per user. Call `notify` inside the transaction of the
change it reports, so a rolled-back change notifies nobody."""

from __future__ import annotations

from datetime import date, timedelta
from smtplib import SMTPException
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import EmailMultiAlternatives
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.template.loader import render_to_string
from django.utils import timezone

from approvals.models import Notification
from teams.choices import OrgRole, Role
from teams.models import OrganizationMember

AUDIENCE_ROLES = {
    "members": (Role.ADMIN, Role.APPROVER, Role.VIEWER),
    "approvers": (Role.ADMIN, Role.APPROVER),
    "admins": (Role.ADMIN,),
}


def audience_user_ids(*, organization_id: Any, team_id: Any | None, audience: str) -> list[Any]:
    """Users of the team with a role in `audience`, plus the organization's admins; with the
    audience "organization", every member of the organization (e.g. the kill switch)."""
    users = get_user_model().objects.filter(is_active=True)
    if audience == "organization":
        members = OrganizationMember.objects.filter(organization_id=organization_id)
        return list(
            users.filter(pk__in=members.values("user_id"), agent__isnull=True).values_list(
                "pk", flat=True
            )
        )
    org_admins = OrganizationMember.objects.filter(
        organization_id=organization_id, role=OrgRole.ADMIN
    ).values("user_id")
    if team_id is None:
        return list(users.filter(pk__in=org_admins).values_list("pk", flat=True))
    return list(
        users.filter(
            Q(pk__in=org_admins)
            | Q(memberships__team_id=team_id, memberships__role__in=AUDIENCE_ROLES[audience])
        )
        .values_list("pk", flat=True)
        .distinct()
    )


def notify(
    *,
    organization_id: Any,
    team_id: Any | None,
    kind: str,
    title: str,
    body: str = "",
    action_id: Any | None = None,
    audience: str = "approvers",
    level: str = Notification.Level.INFO,
    exclude_user_id: Any | None = None,
) -> list[Notification]:
    """Store one notification per person in the audience (one query to find them, one insert)."""
    ids = [
        pk
        for pk in audience_user_ids(
            organization_id=organization_id, team_id=team_id, audience=audience
        )
        if pk != exclude_user_id
    ]
    return Notification.objects.bulk_create(
        [
            Notification(
                user_id=pk,
                organization_id=organization_id,
                team_id=team_id,
                action_id=action_id,
                kind=kind,
                level=level,
                title=title[:300],
                body=body,
            )
            for pk in ids
        ]
    )


def notify_users(notifications: list[Notification]) -> list[Notification]:
    """Store prepared notifications for known users in one insert (bulk decisions use this)."""
    return Notification.objects.bulk_create(notifications)


def notify_action_pending(action: Any) -> None:
    high = action.risk_level in ("high", "critical")
    notify(
        organization_id=action.organization_id,
        team_id=action.team_id,
        kind="action.pending",
        level=Notification.Level.DANGER if high else Notification.Level.INFO,
        title=f"#{action.number} {action.action_type.name} ({action.risk_level}) waits for "
        f"approval in {action.team.name}",
        body=f"{action.title}\nWhy held: {action.gate_reason}",
        action_id=action.pk,
        exclude_user_id=action.proposed_by_id,
    )


def notify_action_outcome(action: Any, *, failed: bool) -> None:
    notify(
        organization_id=action.organization_id,
        team_id=action.team_id,
        kind="action.failed" if failed else "action.needs_attention",
        level=Notification.Level.DANGER,
        title=(f"#{action.number} failed: " if failed else f"#{action.number} needs attention: ")
        + action.title,
        body=action.last_error,
        action_id=action.pk,
    )


# --------------------------------------------------------------------------- inbox


def notifications_mark_read(
    *,
    user: Any,
    ids: list[int] | None = None,
    action_id: Any | None = None,
    everything: bool = False,
) -> int:
    """Mark the user's own notifications read: some ids, those about one action, or all.
    Read state is the person's own inbox state, not a change to the organization, so it is
    not audited. Returns how many changed."""
    unread = Notification.objects.filter(user_id=user.pk, read_at__isnull=True)
    if not everything:
        if action_id is not None:
            unread = unread.filter(action_id=action_id)
        elif ids:
            unread = unread.filter(pk__in=ids)
        else:
            return 0
    return unread.update(read_at=timezone.now())


def unread_count(user: Any) -> int:
    return Notification.objects.filter(user_id=user.pk, read_at__isnull=True).count()


# --------------------------------------------------------------------------- daily digest


def digest_recipient_ids() -> list[Any]:
    """People who get the digest: active members of an organization with an e-mail address,
    not agents' service accounts, and not opted out in their profile."""
    return list(
        get_user_model()
        .objects.filter(is_active=True, org_memberships__isnull=False)
        .exclude(email="")
        .exclude(agent__isnull=False)
        .exclude(profile__daily_digest=False)
        .values_list("pk", flat=True)
        .distinct()
    )


def digest_context(*, user: Any, now: Any = None) -> dict[str, Any]:
    """What the digest says: what waits for this person, what went wrong in their teams since
    yesterday, what ran by itself, and their unread count. A handful of queries per person."""
    from approvals.choices import ActionStatus
    from approvals.selectors import actions_decidable_by, actions_visible_to

    now = now or timezone.now()
    since = now - timedelta(days=1)
    waiting = actions_decidable_by(user).filter(expires_at__gt=now).order_by("expires_at")
    visible = actions_visible_to(user)
    problems = visible.filter(
        finished_at__gte=since,
        status__in=(ActionStatus.FAILED, ActionStatus.NEEDS_ATTENTION),
    ).order_by("-finished_at")
    waiting_count = waiting.count()
    shown = list(waiting[:10])
    return {
        "user": user,
        "now": now,
        "site_url": settings.SITE_URL,
        "waiting_count": waiting_count,
        "waiting": shown,
        "waiting_more": waiting_count - len(shown),
        "expiring_count": waiting.filter(expires_at__lte=now + timedelta(hours=4)).count(),
        "problem_count": problems.count(),
        "problems": list(problems[:5]),
        "auto_count": visible.filter(created_at__gte=since, auto_approved=True).count(),
        "unread": unread_count(user),
    }


def digest_send(*, user_id: Any, day: date | None = None) -> bool:
    """Send one person's digest for `day`, at most once: the delivery row is claimed (unique per
    person and day) before sending and released if sending fails, so a retry can send it."""
    from approvals.models import DigestDelivery

    user = get_user_model().objects.filter(pk=user_id, is_active=True).first()
    if user is None or not user.email:
        return False
    now = timezone.now()
    day = day or now.date()
    context = digest_context(user=user, now=now)
    if not (context["waiting_count"] or context["problem_count"] or context["unread"]):
        return False  # nothing to say: no e-mail
    try:
        with transaction.atomic():
            delivery = DigestDelivery.objects.create(
                user=user, day=day, pending_count=context["waiting_count"]
            )
    except IntegrityError:
        return False  # already sent today
    subject = f"CWA: {context['waiting_count']} waiting for you"
    if context["problem_count"]:
        subject += f", {context['problem_count']} need attention"
    message = EmailMultiAlternatives(
        subject=subject,
        body=render_to_string("emails/digest.txt", context),
        to=[user.email],
    )
    message.attach_alternative(render_to_string("emails/digest.html", context), "text/html")
    try:
        message.send()
    except (OSError, SMTPException):
        DigestDelivery.objects.filter(pk=delivery.pk).delete()
        raise
    return True
