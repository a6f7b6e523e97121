from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from django.db.backends.postgresql.operations import DatabaseOperations as PgOps
from django.utils.module_loading import import_string
from django_q.models import OrmQ
from django_q.signing import SignedPackage

from teams.choices import AutonomyLevel, OrgRole, Role
from tests import factories as f

# --- PostgreSQL: the audit table's triggers refuse TRUNCATE, which is how Django empties the
# database after transactional and live-server tests. The test run owns the tables, so it lifts
# the triggers for exactly that statement and puts them back in the same transaction.
_original_sql_flush = PgOps.sql_flush


def _sql_flush(self, style, tables, *, reset_sequences=False, allow_cascade=False):
    sql = _original_sql_flush(
        self, style, tables, reset_sequences=reset_sequences, allow_cascade=allow_cascade
    )
    if "audit_auditevent" in tables and sql:
        return (
            ["ALTER TABLE audit_auditevent DISABLE TRIGGER USER;"]
            + sql
            + ["ALTER TABLE audit_auditevent ENABLE TRIGGER USER;"]
        )
    return sql


PgOps.sql_flush = _sql_flush


def pytest_sessionstart(session: pytest.Session) -> None:
    """CI's second pass sets CWA_REQUIRE_SERVICES: then PostgreSQL-only tests must not be
    skipped and the Redis channel layer must be reachable, or the run fails at once."""
    if not os.environ.get("CWA_REQUIRE_SERVICES"):
        return
    from django.conf import settings

    if connection.vendor != "postgresql":
        pytest.exit("CWA_REQUIRE_SERVICES is set but DATABASE_URL is not PostgreSQL", returncode=2)
    if not settings.REDIS_URL:
        pytest.exit("CWA_REQUIRE_SERVICES is set but REDIS_URL is empty", returncode=2)
    import redis

    try:
        redis.Redis.from_url(settings.REDIS_URL, socket_timeout=5).ping()
    except redis.RedisError as exc:
        pytest.exit(f"Redis at REDIS_URL is not reachable: {exc}", returncode=2)


is_postgres = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="needs PostgreSQL (run in CI's PostgreSQL pass)"
)


def drain_tasks(max_rounds: int = 20) -> list[tuple[str, tuple, Any]]:
    """Run queued django-q2 tasks the way a worker would: dequeue, unsign, call, acknowledge."""
    ran = []
    for _ in range(max_rounds):
        queued = list(OrmQ.objects.order_by("id"))
        if not queued:
            break
        for item in queued:
            task = SignedPackage.loads(item.payload)
            OrmQ.objects.filter(pk=item.pk).delete()
            func = task["func"]
            result = (import_string(func) if isinstance(func, str) else func)(
                *task["args"], **task["kwargs"]
            )
            ran.append((func, task["args"], result))
    return ran


@pytest.fixture
def run_tasks() -> Callable[[], list]:
    return drain_tasks


@pytest.fixture
def org(db):
    return f.make_org("acme")


@pytest.fixture
def other_org(db):
    return f.make_org("globex")


@pytest.fixture
def team(org):
    return f.make_team(org, "Support", level=AutonomyLevel.SEMI_AUTONOMOUS)


@pytest.fixture
def approver(team):
    user = f.make_user("bob", team.organization)
    f.add_member(user, team, Role.APPROVER)
    return user


@pytest.fixture
def approver2(team):
    user = f.make_user("erin", team.organization)
    f.add_member(user, team, Role.APPROVER)
    return user


@pytest.fixture
def viewer(team):
    user = f.make_user("carol", team.organization)
    f.add_member(user, team, Role.VIEWER)
    return user


@pytest.fixture
def org_admin(org):
    return f.make_user("alice", org, org_role=OrgRole.ADMIN)


@pytest.fixture
def proposer(team):
    user = f.make_user("dave", team.organization)
    f.add_member(user, team, Role.APPROVER)
    return user


@pytest.fixture
def note_type(org):
    return f.make_action_type(org, "note", risk="low")


@pytest.fixture
def fake_webhook():
    from tests.fakes.webhook import FakeWebhook

    with FakeWebhook(dedupe=True) as server:
        yield server


@pytest.fixture
def webhook_type(org, fake_webhook):
    return f.make_action_type(
        org,
        "notify",
        risk="low",
        executor="webhook.post",
        config={"url": fake_webhook.url},
        timeout_seconds=2,
        max_attempts=3,
    )
