"""Concurrent deciders on PostgreSQL: row locks keep every action decided exactly once."""

import contextlib
import random
import threading
from collections import Counter

import pytest
from django.db import connection
from django_q.models import OrmQ
from django_q.signing import SignedPackage

from approvals.choices import ActionStatus
from approvals.models import Action, Decision
from approvals.services import action_decide, action_propose, actions_decide
from audit.verify import verify_all
from cwa_site.errors import ServiceError
from teams.choices import Role
from tests import factories as f
from tests.conftest import is_postgres

pytestmark = [is_postgres, pytest.mark.django_db(transaction=True)]


def _run_threads(target, n):
    barrier = threading.Barrier(n)
    errors = []

    def wrapped(i):
        try:
            barrier.wait()
            target(i)
        except Exception as exc:  # noqa: BLE001 - surfaced through `errors` below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=wrapped, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors


def _queued_action_ids():
    ids = Counter()
    for row in OrmQ.objects.all():
        task = SignedPackage.loads(row.payload)
        args = task["args"][0]
        for action_id in args if isinstance(args, list) else [args]:
            ids[str(action_id)] += 1
    return ids


def test_twenty_threads_decide_each_action_exactly_once():
    org = f.make_org("acme")
    team = f.make_team(org, "Support", level="supervised")
    proposer = f.make_user("proposer", org)
    f.add_member(proposer, team, Role.APPROVER)
    deciders = []
    for i in range(20):
        user = f.make_user(f"approver{i}", org)
        f.add_member(user, team, Role.APPROVER)
        deciders.append(user)
    medium = f.make_action_type(org, "medium", risk="medium")
    critical = f.make_action_type(org, "critical", risk="critical")
    actions = [
        action_propose(
            actor=proposer,
            team=team,
            action_type=medium if i % 4 else critical,
            payload={"note": str(i)},
        ).action
        for i in range(12)
    ]
    ids = [a.pk for a in actions]

    def decide(i):
        rng = random.Random(i)
        user = deciders[i]
        order = ids[:]
        rng.shuffle(order)
        if i % 3 == 0:
            actions_decide(actor=user, ids=order, decision=rng.choice(["approve", "reject"]))
            return
        for action_id in order:
            # refusals (already decided, quorum met meanwhile) are expected under contention
            with contextlib.suppress(ServiceError):
                action_decide(
                    actor=user,
                    action_id=action_id,
                    decision=rng.choice(["approve", "approve", "reject"]),
                )

    _run_threads(decide, 20)

    queued = _queued_action_ids()
    for action in Action.objects.filter(pk__in=ids):
        decisions = list(Decision.objects.filter(action=action).values_list("decision", flat=True))
        assert action.status in (ActionStatus.APPROVED, ActionStatus.REJECTED), action.status
        if action.risk_level == "critical":
            if action.status == ActionStatus.APPROVED:
                assert decisions == ["approve", "approve"]
            else:
                assert (
                    decisions[-1] == "reject"
                    and decisions.count("reject") == 1
                    and len(decisions) <= 2
                )
        else:
            assert len(decisions) == 1, decisions  # decided exactly once
            assert decisions[0] == (
                "approve" if action.status == ActionStatus.APPROVED else "reject"
            )
        # exactly one execution task for each approved action, none for rejected ones
        assert queued[str(action.pk)] == (1 if action.status == ActionStatus.APPROVED else 0)
    count, problems = verify_all()
    assert not problems and count > 0
