"""A real django-q2 worker killed mid-call: no duplicate side effect, no action left stuck."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from approvals.choices import ActionStatus, ExecutionStatus
from approvals.execution import actions_sweep
from approvals.models import Action
from approvals.services import action_propose
from tests import factories as f
from tests.conftest import drain_tasks, is_postgres
from tests.fakes.webhook import FakeWebhook, Reply

pytestmark = [is_postgres, pytest.mark.django_db(transaction=True)]
ROOT = Path(settings.BASE_DIR)


def _start_worker():
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "cwa_site.test_settings",
        # the worker talks to this test's database
        "DATABASE_URL": "postgres://{USER}@{HOST}:{PORT}/{NAME}".format(**connection.settings_dict),
    }
    return subprocess.Popen(
        [sys.executable, str(ROOT / "manage.py"), "qcluster"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def _kill_worker_mid_call(fake):
    worker = _start_worker()
    try:
        assert fake.arrived.wait(30), "the worker never called the webhook"
    finally:
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(10)


@pytest.mark.parametrize("idempotent", [False, True])
def test_killed_worker_causes_no_duplicate_and_nothing_stays_stuck(idempotent):
    org = f.make_org("acme")
    team = f.make_team(org, "Ops", level="autonomous")
    proposer = f.make_user("dave", org)
    f.add_member(proposer, team, "approver")
    with FakeWebhook(dedupe=True) as fake:
        fake.script(Reply(hang=60))  # the first delivery hangs until the worker is dead
        hook = f.make_action_type(
            org,
            "notify",
            executor="webhook.post",
            config={"url": fake.url},
            timeout_seconds=2,
            idempotent=idempotent,
            max_attempts=3,
        )
        action = action_propose(
            actor=proposer, team=team, action_type=hook, payload={"body": {"n": 1}}
        ).action
        assert action.status == ActionStatus.APPROVED

        _kill_worker_mid_call(fake)
        action.refresh_from_db()
        assert action.status == ActionStatus.EXECUTING
        assert action.executions.get().status == ExecutionStatus.RUNNING

        time.sleep(max(0.0, (action.execution_deadline - action.updated_at).total_seconds()) + 0.5)
        actions_sweep()
        drain_tasks()  # the sweep's retry, and django-q2's redelivery of the killed task
        action.refresh_from_db()
        executions = list(action.executions.order_by("attempt").values_list("status", flat=True))
        if idempotent:
            assert action.status == ActionStatus.SUCCEEDED
            assert executions == [ExecutionStatus.UNKNOWN, ExecutionStatus.SUCCEEDED]
            assert {r.headers["idempotency-key"] for r in fake.requests} == {f"cwa-{action.pk}-r1"}
        else:
            assert action.status == ActionStatus.NEEDS_ATTENTION
            assert executions == [ExecutionStatus.UNKNOWN]
            assert len(fake.requests) == 1  # never a blind retry
        assert len(fake.effects) <= 1  # the receiver applied the side effect at most once
        assert not Action.objects.filter(status=ActionStatus.EXECUTING).exists()
