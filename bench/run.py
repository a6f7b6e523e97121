"""`make bench`: the policy engine, webhook ingestion and bulk decisions, each against a floor
measured in the same run.

1. Policy evaluation: 10,000 work items × 20 policies. The floor is the same 20 conditions
   written as plain Python lambdas over the same facts (built by the same function) for the
   same loaded rows; the engine is `policies.engine.match` (CEL, checked and memoized). Both
   must find the same matches. Target: the engine within 3× of the floor.
2. Webhook ingestion: signed Linear deliveries (real fixture format, half creating, half
   updating work items) POSTed through Django's full request stack, against the same number
   of POSTs to a no-op view. Deliveries per second, signature check included.

3. Decisions: approving N actions in one bulk request against approving them one by one through
   the same service.

Self-contained: a throwaway SQLite file, or a throwaway test database next to DATABASE_URL
(e.g. `DATABASE_URL=postgres://postgres@127.0.0.1:5432/cwa make bench` for PostgreSQL).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import random
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
TMP = tempfile.mkdtemp(prefix="cwa-bench-")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cwa_site.settings")
os.environ.setdefault("DEBUG", "true")
os.environ.setdefault("CWA_DATA_DIR", TMP)
os.environ.setdefault("LOG_LEVEL", "WARNING")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client, override_settings  # noqa: E402
from django.test.utils import (  # noqa: E402
    setup_databases,
    setup_test_environment,
    teardown_databases,
)
from django.utils import timezone  # noqa: E402

ITEMS = int(os.environ.get("BENCH_ITEMS", "10000"))
DELIVERIES = int(os.environ.get("BENCH_DELIVERIES", "2000"))
TARGET_RATIO = 3.0

# The 20 conditions, as CEL and as the equivalent Python.
CONDITIONS: list[tuple[str, Callable[[dict[str, Any], Any], bool]]] = [
    (
        'item.status == "stalled" && item.days_since_update > 3',
        lambda i, now: i["status"] == "stalled" and i["days_since_update"] > 3,
    ),
    (
        'item.source == "linear" && item.status == "stalled"',
        lambda i, now: i["source"] == "linear" and i["status"] == "stalled",
    ),
    (
        '"incident" in item.labels && item.priority == "urgent"',
        lambda i, now: "incident" in i["labels"] and i["priority"] == "urgent",
    ),
    (
        'item.priority in ["urgent", "high"] && item.assignee == ""',
        lambda i, now: i["priority"] in ("urgent", "high") and i["assignee"] == "",
    ),
    (
        'has(item.due_at) && item.due_at < now && item.status != "done"',
        lambda i, now: i["due_at"] is not None and i["due_at"] < now and i["status"] != "done",
    ),
    ("item.is_overdue", lambda i, now: i["is_overdue"]),
    (
        'item.hours_since_update > 48 && item.status == "in_progress"',
        lambda i, now: i["hours_since_update"] > 48 and i["status"] == "in_progress",
    ),
    (
        'item.title.contains("payments") && item.status != "done"',
        lambda i, now: "payments" in i["title"] and i["status"] != "done",
    ),
    (
        'item.source == "alertmanager" && item.status == "open" && item.hours_since_update > 1',
        lambda i, now: (
            i["source"] == "alertmanager" and i["status"] == "open" and i["hours_since_update"] > 1
        ),
    ),
    (
        'item.team == "Support" && item.status == "blocked"',
        lambda i, now: i["team"] == "Support" and i["status"] == "blocked",
    ),
    (
        'size(item.labels) > 2 && item.priority == "low"',
        lambda i, now: len(i["labels"]) > 2 and i["priority"] == "low",
    ),
    (
        'item.age_days > 20 && item.status == "open"',
        lambda i, now: i["age_days"] > 20 and i["status"] == "open",
    ),
    (
        'item.assignee.startsWith("dev") && item.days_since_update >= 7',
        lambda i, now: i["assignee"].startswith("dev") and i["days_since_update"] >= 7,
    ),
    (
        'item.source in ["jira", "github"] && "bug" in item.labels',
        lambda i, now: i["source"] in ("jira", "github") and "bug" in i["labels"],
    ),
    (
        'item.status == "blocked" && item.days_since_update > 1',
        lambda i, now: i["status"] == "blocked" and i["days_since_update"] > 1,
    ),
    (
        'item.title.startsWith("billing") || item.title.endsWith("prod-eu-1")',
        lambda i, now: i["title"].startswith("billing") or i["title"].endswith("prod-eu-1"),
    ),
    (
        'item.priority == "" && item.source == "email"',
        lambda i, now: i["priority"] == "" and i["source"] == "email",
    ),
    ("item.days_since_update > 14", lambda i, now: i["days_since_update"] > 14),
    (
        'item.team == "Operations" && item.priority == "urgent" && item.status != "done"',
        lambda i, now: (
            i["team"] == "Operations" and i["priority"] == "urgent" and i["status"] != "done"
        ),
    ),
    ('item.external_id.endsWith("-7")', lambda i, now: i["external_id"].endswith("-7")),
]

WORDS = [
    "payments",
    "billing",
    "search",
    "checkout",
    "ledger",
    "api",
    "gateway",
    "worker",
    "queue",
    "cache",
    "latency",
    "errors",
    "timeout",
    "deploy",
    "rollback",
    "cert",
    "disk",
    "memory",
    "cpu",
    "invoice",
    "export",
    "login",
    "signup",
    "webhook",
]


def best_of(runs: int, fn: Callable[[], Any]) -> tuple[float, Any]:
    best, result = float("inf"), None
    for _ in range(runs):
        started = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - started)
    return best, result


def make_work(org: Any, teams: list[Any], n: int) -> None:
    from workitems.models import WorkItem

    rng = random.Random(42)
    now = timezone.now()
    assignees = [f"{p}{i}" for p in ("dev", "ops", "sam", "kim") for i in range(10)] + [""] * 10
    labels = ["bug", "incident", "customer", "infra", "security", "p1", "backend", "frontend"]
    rows = []
    for i in range(n):
        title = " ".join(rng.sample(WORDS, 4))
        if rng.random() < 0.2:
            title += " in prod-eu-1"
        rows.append(
            WorkItem(
                organization=org,
                team=rng.choice(teams),
                source=rng.choice(["linear", "jira", "github", "alertmanager", "email", "slack"]),
                external_id=f"W-{i}",
                title=title,
                status=rng.choice(["open", "open", "in_progress", "blocked", "stalled", "done"]),
                priority=rng.choice(["urgent", "high", "medium", "low", ""]),
                assignee=rng.choice(assignees),
                labels=rng.sample(labels, rng.randint(0, 4)),
                due_at=now + timedelta(days=rng.randint(-10, 20)) if rng.random() < 0.3 else None,
                last_activity_at=now - timedelta(minutes=rng.randint(0, 30 * 24 * 60)),
            )
        )
    WorkItem.objects.bulk_create(rows, batch_size=2000)
    # created_at is auto_now_add: spread it over the last 40 days so age_days varies.
    ages = {row.pk: now - timedelta(days=rng.randint(0, 40)) for row in rows}
    for row in rows:
        row.created_at = ages[row.pk]
    WorkItem.objects.bulk_update(rows, ["created_at"], batch_size=2000)


def bench_policies() -> None:
    from policies import engine
    from policies.conditions import Matcher, evaluate, item_facts
    from policies.models import Policy
    from teams.models import Organization
    from tests import factories as f
    from workitems.models import WorkItem

    org = Organization.objects.create(slug="bench", name="Bench")
    teams = [f.make_team(org, name) for name in ("Support", "Operations", "Sales", "Billing")]
    make_work(org, teams, ITEMS)
    note = f.make_action_type(org, "note")
    for index, (condition, _) in enumerate(CONDITIONS):
        Policy.objects.create(
            organization=org,
            name=f"bench {index}",
            trigger="scheduled",
            condition=condition,
            action_type=note,
            payload_template={"note": "{{ item.title }}"},
        )
    now = timezone.now()
    started = time.perf_counter()
    items = list(
        WorkItem.objects.filter(organization=org).select_related("team").defer("raw", "description")
    )
    load = time.perf_counter() - started
    compiled = engine.compile_policies(engine.enabled_policies(org.pk, "scheduled"))
    lambdas = [fn for _, fn in CONDITIONS]
    assert len(compiled.conditions) == len(lambdas) == 20

    def floor() -> int:
        found = 0
        for item in items:
            facts = item_facts(item, now)
            for fn in lambdas:
                if fn(facts, now):
                    found += 1
        return found

    cel_calls = []

    def cel_engine() -> int:
        matcher = Matcher(compiled.conditions, now)
        matches, failures = engine.match(compiled, items, matcher, engine.Report())
        assert not failures, failures[0].message
        cel_calls.append(matcher.evaluations)
        return len(matches)

    def cel_unmemoized() -> int:
        found = 0
        for item in items:
            facts = item_facts(item, now)
            for condition in compiled.conditions:
                if evaluate(condition, facts, now):
                    found += 1
        return found

    t_floor, n_floor = best_of(3, floor)
    t_engine, n_engine = best_of(3, cel_engine)
    t_plain, n_plain = best_of(1, cel_unmemoized)
    assert n_floor == n_engine == n_plain, (n_floor, n_engine, n_plain)
    ratio = t_engine / t_floor
    pairs = len(items) * len(lambdas)
    us = 1e6 / pairs
    lines = [
        f"policy evaluation: {len(items):,} work items x {len(lambdas)} policies "
        f"({pairs:,} evaluations, {n_engine:,} matches)",
        f"  floor (Python lambdas):         {t_floor * 1000:8.1f} ms  {t_floor * us:5.2f} us each",
        f"  engine (planner + CEL):         {t_engine * 1000:8.1f} ms  {t_engine * us:5.2f} us each"
        f"  ({cel_calls[-1]:,} CEL calls)",
        f"  CEL alone, every pair (info):   {t_plain * 1000:8.1f} ms  {t_plain / t_floor:.1f}x the floor",
        f"  loading the rows (info):        {load * 1000:8.1f} ms",
        f"  engine / floor = {ratio:.2f}x (target <= {TARGET_RATIO:.0f}x): "
        + ("OK" if ratio <= TARGET_RATIO else "OVER TARGET"),
    ]
    print("\n".join(lines))


def bench_ingestion() -> None:
    from policies.models import Policy
    from teams.models import Organization
    from tests import factories as f

    org = Organization.objects.create(slug="ingest", name="Ingest")
    team = f.make_team(org, "Operations")
    connector = f.make_connector(org, "linear", team=team, secret="bench-secret")
    # An enabled `updated` policy: each change queues its evaluation, as in production.
    Policy.objects.create(
        organization=org,
        name="any update",
        trigger="updated",
        condition='item.status == "blocked"',
        action_type=f.make_action_type(org, "note"),
        payload_template={"note": "{{ item.title }}"},
    )
    template = json.loads((ROOT / "tests/fixtures/linear_issue_update.json").read_text())
    half = DELIVERIES // 2
    issue_ids = [str(uuid.uuid4()) for _ in range(half)]

    def delivery(i: int) -> tuple[bytes, dict[str, str]]:
        body = json.loads(json.dumps(template))
        body["data"]["id"] = issue_ids[i % half]
        stamp = timezone.now() + timedelta(seconds=i)  # updates are newer than creates
        body["data"]["updatedAt"] = stamp.isoformat().replace("+00:00", "Z")
        body["webhookTimestamp"] = int(time.time() * 1000)
        raw = json.dumps(body).encode()
        signature = hmac.new(b"bench-secret", raw, hashlib.sha256).hexdigest()
        return raw, {"Linear-Delivery": str(uuid.uuid4()), "Linear-Signature": signature}

    client = Client()

    def run(path: str) -> float:
        started = time.perf_counter()
        for i in range(DELIVERIES):
            raw, headers = delivery(i)
            response = client.post(
                path or connector.webhook_path,
                data=raw,
                content_type="application/json",
                headers=headers,
            )
            assert response.status_code == 200, response.content
        return time.perf_counter() - started

    with override_settings(ROOT_URLCONF="bench.urls"):
        t_noop = run("/bench/noop/")
        t_ingest = run("")
    from workitems.models import Delivery, WorkItem

    assert WorkItem.objects.filter(organization=org).count() == half
    assert Delivery.objects.filter(connector=connector, outcome="applied").count() == DELIVERIES
    print(
        f"webhook ingestion on {connection.vendor}: {DELIVERIES:,} signed Linear deliveries ({half:,} creates, {half:,} updates)"
    )
    print(f"  floor (no-op view, same client):  {DELIVERIES / t_noop:8.0f} requests/s")
    print(f"  ingestion (verify, parse, upsert): {DELIVERIES / t_ingest:8.0f} deliveries/s")
    print(f"  ingestion / floor time = {t_ingest / t_noop:.2f}x")


def bench_decisions() -> None:
    """Bulk decisions against the floor of deciding the same number one by one (same rules)."""
    from approvals.services import action_decide, action_propose, actions_decide
    from teams.choices import Role
    from tests import factories as f

    n = int(os.environ.get("BENCH_DECISIONS", "500"))
    org = f.make_org(f"decide-{uuid.uuid4().hex[:6]}")
    team = f.make_team(org, "Bench", level="supervised")
    proposer, approver = f.make_user(org=org), f.make_user(org=org)
    for user in (proposer, approver):
        f.add_member(user, team, Role.APPROVER)
    kind = f.make_action_type(org, "note", risk="medium")

    def batch() -> list[Any]:
        return [
            action_propose(
                actor=proposer, team=team, action_type=kind, payload={"note": str(i)}
            ).action.pk
            for i in range(n)
        ]

    one_by_one, bulk = batch(), batch()
    started = time.perf_counter()
    for pk in one_by_one:
        action_decide(actor=approver, action_id=pk, decision="approve")
    t_single = time.perf_counter() - started
    started = time.perf_counter()
    outcomes = actions_decide(actor=approver, ids=bulk, decision="approve")
    t_bulk = time.perf_counter() - started
    assert all(o.ok for o in outcomes)
    print(f"decisions on {connection.vendor}: {n:,} approvals")
    print(f"  floor (one by one, same service):  {t_single * 1000 / n:8.2f} ms per action")
    print(f"  bulk decision (one request):       {t_bulk * 1000 / n:8.2f} ms per action")
    print(f"  bulk / one-by-one time = {t_bulk / t_single:.2f}x")


def main() -> None:
    setup_test_environment()
    db = settings.DATABASES["default"]
    if db["ENGINE"].endswith("sqlite3"):
        db["TEST"]["NAME"] = str(Path(TMP) / "bench.sqlite3")
    names = setup_databases(verbosity=0, interactive=False)
    try:
        print(f"database: {connection.vendor}")
        bench_policies()
        bench_ingestion()
        bench_decisions()
    finally:
        teardown_databases(names, verbosity=0)


if __name__ == "__main__":
    main()
