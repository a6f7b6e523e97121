"""Demo data: two organizations, the demo users, agents, action types and actions in every status.

Idempotent: everything is looked up by natural key first, actions by their idempotency key, so a
second run changes nothing (and writes no audit events).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone
from rest_framework.authtoken.models import Token

from approvals import services
from approvals.choices import ActionStatus, ExecutionStatus
from approvals.execution import action_execute
from approvals.models import Action, Execution
from audit.services import audit_record
from policies.models import ActionType, Policy
from teams.choices import AutonomyLevel, OrgRole, Role
from teams.models import Agent, Membership, Organization, OrganizationMember, Team
from workitems.models import Connector, WorkItem

ORG_ADMIN_PERMISSIONS = {
    "teams": ["organization", "organizationmember", "team", "membership", "agent", "userprofile"],
    "policies": ["actiontype", "policy"],
    "approvals": ["autonomyoverride", "slackroute"],
    "workitems": ["workitem", "connector"],
}
ORG_ADMIN_VIEW_ONLY = {
    "approvals": [
        "action",
        "decision",
        "execution",
        "actionrevision",
        "circuitbreaker",
        "slackmessage",
    ],
    "policies": ["policyevaluation"],
    "workitems": ["delivery"],
    "audit": ["auditevent"],
    "auth": ["user"],
}

TEAMS = [  # name, department, autonomy
    ("Sales", "Commercial", AutonomyLevel.SUPERVISED),
    ("Marketing", "Commercial", AutonomyLevel.SEMI_AUTONOMOUS),
    ("Support", "Customer", AutonomyLevel.SEMI_AUTONOMOUS),
    ("Operations", "Operations", AutonomyLevel.AUTONOMOUS),
]
USERS = {  # username: (first name, org role, {team: role})
    "alice": ("Alice", OrgRole.ADMIN, {}),
    "bob": ("Bob", OrgRole.MEMBER, {"Support": Role.APPROVER, "Operations": Role.APPROVER}),
    "carol": ("Carol", OrgRole.MEMBER, {"Sales": Role.VIEWER, "Support": Role.VIEWER}),
    "dave": ("Dave", OrgRole.MEMBER, {"Sales": Role.APPROVER, "Marketing": Role.APPROVER}),
    "erin": ("Erin", OrgRole.MEMBER, {"Operations": Role.APPROVER}),
}
ACTION_TYPES = [  # key, name, risk, executor, idempotent, description
    (
        "status-note",
        "Post a status note",
        "low",
        "internal.note",
        True,
        "Records a note on the work item.",
    ),
    (
        "escalation-note",
        "Escalation note",
        "medium",
        "internal.note",
        True,
        "Flags a work item for a lead.",
    ),
    (
        "notify-webhook",
        "Notify the on-call webhook",
        "high",
        "webhook.post",
        True,
        "POSTs to the team's incident webhook (receiver de-duplicates on Idempotency-Key).",
    ),
    (
        "customer-credit",
        "Issue a customer credit",
        "critical",
        "webhook.post",
        False,
        "Calls the billing webhook to credit a customer account.",
    ),
]

DEMO_CONNECTORS = [  # name, kind, team, secret (the signing secret or bearer token to configure)
    ("Linear (Support)", "linear", "Support", "demo-linear-signing-secret"),
    ("Alertmanager (Operations)", "alertmanager", "Operations", "demo-alertmanager-token"),
]


class Command(BaseCommand):
    help = "Load the demo organizations, users, agents and actions (idempotent)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--password", default="demo", help="Password for new demo users (default: demo)."
        )

    def handle(self, *args: Any, password: str, **options: Any) -> None:
        with transaction.atomic():
            group = self._org_admin_group()
            acme = self._org("acme", "Acme Corp")
            teams = {name: self._team(acme, name, dept, level) for name, dept, level in TEAMS}
            users = {}
            for username, (first, org_role, memberships) in USERS.items():
                user = self._user(username, first, password, staff=org_role == OrgRole.ADMIN)
                if org_role == OrgRole.ADMIN:
                    user.groups.add(group)
                OrganizationMember.objects.get_or_create(
                    organization=acme, user=user, defaults={"role": org_role}
                )
                for team_name, role in memberships.items():
                    Membership.objects.get_or_create(
                        team=teams[team_name], user=user, defaults={"role": role}
                    )
                users[username] = user
            types = {key: self._action_type(acme, key, *rest) for key, *rest in ACTION_TYPES}
            triage = self._agent(
                acme,
                "triage-bot",
                "Routes support tickets and posts status notes.",
                [types["status-note"], types["escalation-note"], types["notify-webhook"]],
            )
            billing = self._agent(
                acme, "billing-agent", "Proposes customer credits.", [types["customer-credit"]]
            )

            globex = self._org("globex", "Globex Inc")
            globex_team = self._team(globex, "Globex Ops", "Operations", AutonomyLevel.SUPERVISED)
            mallory = self._user("mallory", "Mallory", password, staff=False)
            OrganizationMember.objects.get_or_create(organization=globex, user=mallory)
            Membership.objects.get_or_create(
                team=globex_team, user=mallory, defaults={"role": Role.APPROVER}
            )
            globex_note = self._action_type(
                globex,
                "status-note",
                "Post a status note",
                "low",
                "internal.note",
                True,
                "Records a note.",
            )
            globex_bot = self._agent(globex, "globex-bot", "Globex's agent.", [globex_note])

        with transaction.atomic():
            connectors = self._ingestion(acme, teams, types)
        created = self._actions(teams, types, users, triage, billing)
        if not Action.objects.filter(idempotency_key="demo-globex-1").exists():
            services.action_propose(
                actor=globex_bot.user,
                team=globex_team,
                action_type=globex_note,
                payload={"note": "Globex quarterly review scheduled"},
                idempotency_key="demo-globex-1",
                risk_level="medium",
            )
            created += 1

        tokens = {
            agent.name: Token.objects.get_or_create(user=agent.user)[0].key
            for agent in (triage, billing)
        }
        self.stdout.write(self.style.SUCCESS(f"Demo data ready ({created} new demo actions)."))
        self.stdout.write(
            f"Log in as alice (org admin), bob, carol (viewer), dave, erin (approvers) or mallory "
            f"(another organization) with password {password!r}."
        )
        for name, key in tokens.items():
            self.stdout.write(f"API token for agent {name}: {key}")
        for connector in connectors:
            self.stdout.write(f"Webhook for {connector.name}: {connector.webhook_url}")

    # -- building blocks -----------------------------------------------------------------

    def _org_admin_group(self) -> Group:
        group, _ = Group.objects.get_or_create(name="Org admins")
        perms = []
        for app, models in ORG_ADMIN_PERMISSIONS.items():
            perms += Permission.objects.filter(
                content_type__app_label=app, content_type__model__in=models
            )
        for app, models in ORG_ADMIN_VIEW_ONLY.items():
            perms += Permission.objects.filter(
                content_type__app_label=app,
                content_type__model__in=models,
                codename__startswith="view_",
            )
        perms += Permission.objects.filter(
            content_type__app_label="approvals",
            codename__in=["change_action", "change_circuitbreaker"],
        )
        group.permissions.add(*perms)
        return group

    def _org(self, slug: str, name: str) -> Organization:
        return Organization.objects.get_or_create(slug=slug, defaults={"name": name})[0]

    def _team(self, org: Organization, name: str, department: str, level: str) -> Team:
        return Team.objects.get_or_create(
            organization=org,
            name=name,
            defaults={"department": department, "autonomy_level": level},
        )[0]

    def _user(self, username: str, first: str, password: str, *, staff: bool) -> Any:
        user, created = get_user_model().objects.get_or_create(
            username=username,
            defaults={"first_name": first, "email": f"{username}@example.com", "is_staff": staff},
        )
        if created:
            user.set_password(password)
            user.save(update_fields=["password"])
        return user

    def _action_type(
        self,
        org: Organization,
        key: str,
        name: str,
        risk: str,
        executor: str,
        idempotent: bool,
        description: str,
    ) -> ActionType:
        config = (
            {"url": f"{settings.SITE_URL}/demo/hooks/{key}/"} if executor == "webhook.post" else {}
        )
        return ActionType.objects.get_or_create(
            organization=org,
            key=key,
            defaults={
                "name": name,
                "default_risk": risk,
                "executor": executor,
                "idempotent": idempotent,
                "description": description,
                "config": config,
                "rollback_note": "Post a correction note."
                if executor == "internal.note"
                else "Reverse the call in the receiving system.",
            },
        )[0]

    def _agent(
        self, org: Organization, name: str, description: str, allowed: list[ActionType]
    ) -> Agent:
        account, new = get_user_model().objects.get_or_create(
            username=f"agent-{name}", defaults={"first_name": name}
        )
        if new:
            account.set_unusable_password()
            account.save(update_fields=["password"])
        OrganizationMember.objects.get_or_create(organization=org, user=account)
        agent, _ = Agent.objects.get_or_create(
            organization=org, name=name, defaults={"description": description, "user": account}
        )
        missing = set(allowed) - set(agent.allowed_action_types.all())
        if missing:  # add() records history even when nothing changes
            agent.allowed_action_types.add(*missing)
        return agent

    def _ingestion(
        self, org: Organization, teams: dict[str, Team], types: dict[str, ActionType]
    ) -> list[Connector]:
        """Inbound connectors and two policies: nudge stalled Linear issues (drafted when
        ANTHROPIC_API_KEY is set) and escalate critical alerts."""
        connectors = []
        for name, kind, team, secret in DEMO_CONNECTORS:
            connector = Connector.objects.filter(organization=org, name=name).first()
            if connector is None:
                connector = Connector(organization=org, name=name, kind=kind, team=teams[team])
                connector.secret = secret
                connector.save()
            connectors.append(connector)
        nudge, _ = ActionType.objects.get_or_create(
            organization=org,
            key="nudge",
            defaults={
                "name": "Nudge the assignee",
                "default_risk": "low",
                "executor": "internal.note",
                "idempotent": True,
                "description": "A friendly reminder on quiet work.",
                "rollback_note": "Post a correction note.",
                "draft_field": "note",
                "draft_instructions": "Write a short, friendly nudge (two sentences at most) to "
                "the assignee asking for a status update. Mention the issue and how long it "
                "has been quiet.",
            },
        )
        for name, trigger, condition, action_type, template in [
            (
                "Nudge stalled Linear issues",
                "scheduled",
                'item.source == "linear" && item.status == "stalled"',
                nudge,
                {
                    "note": "{{ item.assignee|default:'Hi' }}, {{ item.external_id }} "
                    "({{ item.title }}) has been quiet for {{ item.days_since_update }} days: "
                    "any news?"
                },
            ),
            (
                "Escalate critical alerts",
                "created",
                'item.source == "alertmanager" && item.priority == "urgent"',
                types["escalation-note"],
                {"note": "Critical alert: {{ item.title }} {{ item.url }}"},
            ),
        ]:
            if not Policy.objects.filter(organization=org, name=name).exists():
                policy = Policy(
                    organization=org,
                    name=name,
                    trigger=trigger,
                    condition=condition,
                    action_type=action_type,
                    payload_template=template,
                )
                policy.full_clean()
                policy.save()
        return connectors

    def _work_item(self, team: Team, external_id: str, title: str, status: str) -> WorkItem:
        return WorkItem.objects.get_or_create(
            organization=team.organization,
            source="linear",
            external_id=external_id,
            defaults={
                "title": title,
                "team": team,
                "status": status,
                "source_status": "open" if status == "stalled" else status,
                "priority": "high",
                "url": f"https://linear.app/acme/issue/{external_id}",
                "last_activity_at": timezone.now() - timedelta(days=4),
            },
        )[0]

    def _actions(
        self,
        teams: dict[str, Team],
        types: dict[str, ActionType],
        users: dict[str, Any],
        triage: Agent,
        billing: Agent,
    ) -> int:
        """One or more actions in every status, made through the services where a demo can."""
        created = 0

        def propose(
            key: str,
            team: str,
            type_key: str,
            payload: dict,
            agent: Agent | None = triage,
            actor: Any = None,
            **kw: Any,
        ) -> tuple[Action, bool]:
            nonlocal created
            existing = Action.objects.filter(
                organization=teams[team].organization, idempotency_key=key
            ).first()
            if existing:
                return existing, False
            proposal = services.action_propose(
                actor=actor or (agent.user if agent else None),
                team=teams[team],
                action_type=types[type_key],
                payload=payload,
                idempotency_key=key,
                agent=agent,
                **kw,
            )
            created += 1
            return proposal.action, True

        wi = self._work_item(
            teams["Support"], "SUP-101", "Customer cannot export invoices", "stalled"
        )
        wi2 = self._work_item(teams["Sales"], "SAL-7", "Renewal quote for Initech", "in_progress")
        # pending, in several teams and risks
        for i, (team, type_key, payload) in enumerate(
            [
                (
                    "Support",
                    "escalation-note",
                    {"note": "SUP-101 stalled 4 days; escalate to the lead."},
                ),
                (
                    "Support",
                    "notify-webhook",
                    {"body": {"text": "P1: invoice export failing for 12 customers"}},
                ),
                (
                    "Sales",
                    "status-note",
                    {"note": "Renewal quote sent to Initech; awaiting signature."},
                ),
                (
                    "Marketing",
                    "escalation-note",
                    {"note": "Campaign budget at 92%: review before Friday."},
                ),
                (
                    "Marketing",
                    "notify-webhook",
                    {"body": {"text": "Launch email scheduled for 09:00"}},
                ),
            ],
            start=1,
        ):
            propose(
                f"demo-pending-{i}",
                team,
                type_key,
                payload,
                work_item=wi if team == "Support" else wi2 if team == "Sales" else None,
            )
        # critical with one approval of two
        crit, new = propose(
            "demo-critical-1",
            "Support",
            "customer-credit",
            {"body": {"customer": "C-4411", "amount_eur": 250}},
            agent=billing,
        )
        if new:
            services.action_decide(
                actor=users["bob"],
                action_id=crit.pk,
                decision="approve",
                notes="Checked the ticket: refund is due.",
            )
        # rejected
        rej, new = propose(
            "demo-rejected-1", "Sales", "escalation-note", {"note": "Discount 40% for ACME-2"}
        )
        if new:
            services.action_decide(
                actor=users["dave"],
                action_id=rej.pk,
                decision="reject",
                notes="Discount too deep; talk to finance.",
            )
        # cancelled
        can, new = propose(
            "demo-cancelled-1", "Support", "escalation-note", {"note": "Duplicate escalation"}
        )
        if new:
            services.action_cancel(actor=users["bob"], action_id=can.pk, reason="Duplicate of #1")
        # expired: proposed with a short expiry, then expired by the same service the sweep runs
        exp, new = propose(
            "demo-expired-1",
            "Marketing",
            "escalation-note",
            {"note": "Old campaign check"},
            expires_at=timezone.now() + timedelta(seconds=1),
        )
        if new:
            services.actions_expire_due(now=timezone.now() + timedelta(seconds=2))
        # succeeded: runs by itself in Operations, executed here like a worker would
        ok, new = propose(
            "demo-succeeded-1", "Operations", "status-note", {"note": "Nightly backup verified"}
        )
        if new:
            action_execute(action_id=ok.pk)
        # approved, waiting for a retry after a transient failure
        self._demo_state(
            "demo-approved-1",
            propose,
            teams,
            "Operations",
            "notify-webhook",
            {"body": {"text": "Deploy 2026.11.3 finished"}},
            ActionStatus.APPROVED,
            "webhook answered HTTP 503",
            transient=True,
        )
        self._demo_state(
            "demo-executing-1",
            propose,
            teams,
            "Operations",
            "status-note",
            {"note": "Rotating on-call schedule"},
            ActionStatus.EXECUTING,
            "",
        )
        self._demo_state(
            "demo-failed-1",
            propose,
            teams,
            "Operations",
            "notify-webhook",
            {"body": {"text": "Cert renewal"}},
            ActionStatus.FAILED,
            "webhook refused the request: HTTP 400",
            transient=False,
        )
        self._demo_state(
            "demo-attention-1",
            propose,
            teams,
            "Operations",
            "notify-webhook",
            {"body": {"text": "Failover db-1 → db-2"}},
            ActionStatus.NEEDS_ATTENTION,
            "webhook did not answer within 10 s",
            transient=None,
        )
        return created

    def _demo_state(
        self,
        key: str,
        propose: Any,
        teams: dict[str, Team],
        team: str,
        type_key: str,
        payload: dict,
        status: str,
        error: str,
        transient: bool | None = None,
    ) -> None:
        """States that need a real outside system to reach: written directly, and audited as such."""
        action, new = propose(key, team, type_key, payload, risk_level="high")
        if not new:
            return
        now = timezone.now()
        with transaction.atomic():
            action = Action.objects.select_for_update().get(pk=action.pk)
            action.attempts = 1
            action.status = status
            execution_status = {
                ActionStatus.APPROVED: ExecutionStatus.FAILED,
                ActionStatus.EXECUTING: ExecutionStatus.RUNNING,
                ActionStatus.FAILED: ExecutionStatus.FAILED,
                ActionStatus.NEEDS_ATTENTION: ExecutionStatus.UNKNOWN,
            }[status]
            Execution.objects.create(
                action=action,
                attempt=1,
                status=execution_status,
                idempotency_key=action.idempotency_token,
                started_at=now - timedelta(seconds=3),
                finished_at=None if status == ActionStatus.EXECUTING else now,
                transient=transient,
                error=error,
                worker="demo-seed",
            )
            if status == ActionStatus.APPROVED:
                action.next_attempt_at = now + timedelta(minutes=10)
            elif status == ActionStatus.EXECUTING:
                action.execution_deadline = now + timedelta(minutes=10)
            else:
                action.finished_at = now
                action.last_error = error
            action.save()
            audit_record(
                organization=action.organization_id,
                verb=f"demo.{status}",
                actor_label="seed_demo",
                target=action,
                team=action.team_id,
                success=status != ActionStatus.FAILED,
                error=error,
                data={"note": "demo state written by seed_demo"},
                was_automatic=True,
            )
