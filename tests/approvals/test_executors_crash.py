"""A worker killed with SIGKILL mid-call: no duplicate side effect, ever.

A real worker process (a subprocess running the execution task against the test database) is
killed while the fake service holds its request open. Redelivery of the task and the periodic
sweep then settle the action by the rule in DESIGN.md: a non-idempotent executor (Slack) goes to
needs_attention and the channel shows exactly one message; an idempotent one (a Linear comment
with an id derived from the idempotency key) is retried with the same key and Linear shows
exactly one comment.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from approvals.choices import ActionStatus, ExecutionStatus
from approvals.execution import action_execute, actions_sweep
from approvals.models import Action, Execution, Notification
from approvals.services import action_propose
from audit.models import AuditEvent
from teams.choices import AutonomyLevel, OrgRole, Role
from tests import factories as f
from tests.conftest import drain_tasks
from tests.fakes.connectors import (  # noqa: F401
    linear_connector,
    slack_connector,
)
from tests.fakes.http_server import Reply
from tests.fakes.linear import FakeLinear
from tests.fakes.slack import FakeSlack

ROOT = Path(__file__).resolve().parents[2]
WORKER = (
    "import sys, django\n"
    "django.setup()\n"
    "from approvals.tasks import execute_action\n"
    "execute_action(sys.argv[1])\n"
)


def _database_url() -> str:
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def start_worker(action_id) -> subprocess.Popen:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "cwa_site.test_settings",
        "DATABASE_URL": _database_url(),
        "CWA_ENCRYPTION_KEY": settings.CWA_ENCRYPTION_KEY,
        "PYTHONPATH": str(ROOT),
    }
    return subprocess.Popen(
        [sys.executable, "-c", WORKER, str(action_id)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def kill_mid_call(worker: subprocess.Popen, fake) -> None:
    if not fake.arrived.wait(20):
        worker.kill()
        raise AssertionError(f"the worker never called out: {worker.communicate()[1][-2000:]}")
    worker.send_signal(signal.SIGKILL)
    assert worker.wait(10) == -signal.SIGKILL


def setup_org():
    org = f.make_org("acme")
    team = f.make_team(org, "Support", level=AutonomyLevel.SEMI_AUTONOMOUS)
    dave = f.make_user("dave", org)
    f.add_member(dave, team, Role.APPROVER)
    f.make_user("alice", org, org_role=OrgRole.ADMIN)
    return org, team, dave


def after_deadline() -> datetime:
    return timezone.now() + timedelta(seconds=30)


@pytest.mark.django_db(transaction=True)
def test_killed_worker_mid_slack_call_posts_exactly_one_message():
    org, team, dave = setup_org()
    with FakeSlack() as fake:
        slack_connector(org, fake, channel="C0123OPS45")
        kind = f.make_action_type(
            org, "slack-post", executor="slack.post_message", timeout_seconds=2
        )
        action = action_propose(
            actor=dave, team=team, action_type=kind, payload={"text": "Deploying v2.14.0"}
        ).action
        fake.script("chat.postMessage", Reply(hang=60))  # posted; the answer never comes

        kill_mid_call(start_worker(action.pk), fake)

        action.refresh_from_db()
        assert action.status == ActionStatus.EXECUTING
        assert Execution.objects.get(action=action).status == ExecutionStatus.RUNNING
        # django-q2 redelivers the task: while the attempt may still be in flight, nothing runs.
        assert [result for _, _, result in drain_tasks()] == [None]

        result = actions_sweep(now=after_deadline())

        action.refresh_from_db()
        assert result == {"enqueued": 0, "settled": 1}
        assert action.status == ActionStatus.NEEDS_ATTENTION
        assert "not idempotent" in action.last_error
        assert Execution.objects.get(action=action).status == ExecutionStatus.UNKNOWN
        assert (
            AuditEvent.objects.filter(
                verb__in=["execution.abandoned", "action.needs_attention"], target_id=str(action.pk)
            ).count()
            == 2
        )
        assert Notification.objects.filter(kind="action.needs_attention").exists()
        # Later redeliveries and sweeps leave it to the person.
        assert action_execute(action_id=action.pk) is None
        assert actions_sweep(now=after_deadline()) == {"enqueued": 0, "settled": 0}
        fake.release.set()
        assert len(fake.messages) == 1
        assert len(fake.requests) == 1


@pytest.mark.django_db(transaction=True)
def test_killed_worker_mid_linear_call_retries_with_the_same_key_and_comments_once():
    org, team, dave = setup_org()
    with FakeLinear() as fake:
        linear_connector(org, fake)
        kind = f.make_action_type(
            org, "linear-comment", executor="linear.comment", idempotent=True, timeout_seconds=2
        )
        action = action_propose(
            actor=dave,
            team=team,
            action_type=kind,
            payload={"issue_id": "OPS-42", "body": "Rollout approved."},
        ).action
        fake.script("CommentCreate", Reply(hang=60))

        kill_mid_call(start_worker(action.pk), fake)
        drain_tasks()  # the redelivered task finds the attempt in flight
        assert len(fake.requests) == 1

        result = actions_sweep(now=after_deadline())
        assert result == {"enqueued": 1, "settled": 1}
        drain_tasks()

        action.refresh_from_db()
        assert action.status == ActionStatus.SUCCEEDED
        assert action.result["repeat"] is True
        keys = list(action.executions.order_by("attempt").values_list("idempotency_key", "status"))
        assert keys == [
            (action.idempotency_token, ExecutionStatus.UNKNOWN),
            (action.idempotency_token, ExecutionStatus.SUCCEEDED),
        ]
        assert len(fake.comments) == 1
        creates = [
            r.json()["variables"]["input"]["id"]
            for r in fake.requests
            if r.json()["operationName"] == "CommentCreate"
        ]
        assert len(creates) == 2 and creates[0] == creates[1]
        fake.release.set()
        assert Action.objects.get(pk=action.pk).status == ActionStatus.SUCCEEDED
