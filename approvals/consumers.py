"""The notifications websocket (`/ws/notifications/`): live changes for one signed-in person.

On connect the consumer joins one group per team the user may view, one per organization they
belong to and one for the user, computed from teams.permissions. Every message is checked again
before it is sent (memberships change while a socket is open), so a socket never carries
anything about a team or organization its user cannot see. Messages say *what* changed; the
page fetches the rows through the same permission-filtered views it was rendered with.
"""

from __future__ import annotations

from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from approvals import live
from approvals.models import Notification
from teams.models import OrganizationMember
from teams.permissions import VIEW, team_ids_for

UNAUTHENTICATED = 4401


@database_sync_to_async
def _memberships(user: Any) -> tuple[list[str], list[str], int]:
    teams = [str(pk) for pk in team_ids_for(user, VIEW).values_list("content_object_id", flat=True)]
    orgs = [
        str(pk)
        for pk in OrganizationMember.objects.filter(user_id=user.pk).values_list(
            "organization_id", flat=True
        )
    ]
    unread = Notification.objects.filter(user_id=user.pk, read_at__isnull=True).count()
    return teams, orgs, unread


@database_sync_to_async
def _can_view_team(user: Any, team_id: str) -> bool:
    return team_ids_for(user, VIEW).filter(content_object_id=team_id).exists()


@database_sync_to_async
def _is_member(user: Any, org_id: str) -> bool:
    return OrganizationMember.objects.filter(user_id=user.pk, organization_id=org_id).exists()


class NotificationConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self) -> None:
        self.user = self.scope.get("user")
        self.joined: list[str] = []
        if self.user is None or not self.user.is_authenticated:
            # Accept, then close with a reason the page understands: closing before accept()
            # is an opaque HTTP 403 to the browser, which would keep reconnecting.
            await self.accept()
            await self.close(code=UNAUTHENTICATED)
            return
        teams, orgs, unread = await _memberships(self.user)
        self.joined = (
            [live.team_group(t) for t in teams]
            + [live.org_group(o) for o in orgs]
            + [live.user_group(self.user.pk)]
        )
        for group in self.joined:
            await self.channel_layer.group_add(group, self.channel_name)
        await self.accept()
        await live.ensure_relay(self.channel_layer)
        await self.send_json({"type": "hello", "unread": unread, "teams": len(teams)})

    async def disconnect(self, code: int) -> None:
        for group in self.joined:
            await self.channel_layer.group_discard(group, self.channel_name)

    @classmethod
    async def decode_json(cls, text_data: str) -> Any:
        try:
            return await super().decode_json(text_data)
        except ValueError:
            return None  # the page only sends pings; anything else is ignored

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        if isinstance(content, dict) and content.get("type") == "ping":
            await self.send_json({"type": "pong"})

    # -- group messages from the relay (approvals/live.py)

    async def live_actions(self, event: dict[str, Any]) -> None:
        if not await _can_view_team(self.user, event["team_id"]):
            return
        await self.send_json(
            {
                "type": "actions",
                "team": event["team_id"],
                "ids": event["ids"],
                "proposed": event["proposed"],
            }
        )

    async def live_team(self, event: dict[str, Any]) -> None:
        if not await _can_view_team(self.user, event["team_id"]):
            return
        await self.send_json(
            {
                "type": "team",
                "team": event["team_id"],
                "verb": event["verb"],
                "to": event["to"],
                "actor": event["actor"],
            }
        )

    async def live_org(self, event: dict[str, Any]) -> None:
        if not await _is_member(self.user, event["org_id"]):
            return
        await self.send_json(
            {
                "type": "org",
                "paused": event["paused"],
                "actor": event["actor"],
                "reason": event["reason"],
            }
        )

    async def live_notification(self, event: dict[str, Any]) -> None:
        if event["user_id"] != self.user.pk:
            return
        if event["team_id"] and not await _can_view_team(self.user, event["team_id"]):
            return
        await self.send_json(
            {
                "type": "notification",
                "id": event["id"],
                "kind": event["kind"],
                "level": event["level"],
                "title": event["title"],
                "url": event["url"],
                "toast": event["toast"],
                "unread": event["unread"],
                "more": event["more"],
            }
        )
