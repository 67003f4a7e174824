"""Quotas under real concurrency (shared/RELIABILITY.md section 3): PostgreSQL only.

Twenty threads, each on its own database connection, are released together by a barrier and all
call `generations.services.job_create` (simulator text-to-image, $0.01 each) against a limit that
covers five. Exactly five jobs must exist afterwards, the other fifteen must be refused naming the
limit, and a sampler thread reading the wallets throughout must never see a negative balance or
books that do not add up. Each race is run for several rounds: "passes every time".

SQLite ignores select_for_update and serialises whole-file writes, so it cannot show these races.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal

import pytest
from django.db import connection, connections, transaction

from generations import services
from generations.models import Job, JobStatus
from tests.factories import MembershipFactory, ProjectFactory, TeamFactory, UserFactory
from tests.quotas.test_quotas import assert_books_balance, set_member_quota, set_team_quota
from wanweb.accounts.models import Membership, Role, Team
from wanweb.quotas import services as quotas
from wanweb.quotas.models import Hold, HoldStatus, LedgerEntry, LedgerKind, Wallet
from wanweb.quotas.services import QuotaExceeded

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="needs PostgreSQL: SQLite ignores select_for_update and locks the whole file "
        "(run with DATABASE_URL=postgres://...)",
    ),
]

THREADS = 20
ROUNDS = 5  # the three races the brief names ("passes on PostgreSQL, every time")
MORE_ROUNDS = 3  # the other races
CENT = Decimal("0.01")
JOIN_TIMEOUT = 60.0


@pytest.fixture(autouse=True)
def enqueued(monkeypatch):
    """on_commit fires in these tests: count the submits instead of sending them to Celery."""
    calls: list[int] = []
    lock = threading.Lock()

    def delay(job_id, *args, **kwargs):
        with lock:
            calls.append(job_id)

    monkeypatch.setattr(services.job_submit_task, "delay", delay)
    return calls


@dataclass
class Outcome:
    jobs: list = field(default_factory=list)  # what each call returned (a Job becomes its pk)
    refusals: list[QuotaExceeded] = field(default_factory=list)
    errors: list[BaseException] = field(default_factory=list)
    samples: int = 0
    lowest_available: Decimal | None = None
    sample_errors: list[str] = field(default_factory=list)


def _in_own_connection(target):
    """Run `target` on this thread's own connection and close it afterwards."""

    def run(*args):
        try:
            target(*args)
        finally:
            connections.close_all()

    return run


def _sample_wallets(team_id: int, stop: threading.Event, outcome: Outcome) -> None:
    """Read every wallet of the team again and again while the race runs."""
    while not stop.is_set():
        for wallet in Wallet.objects.filter(team_id=team_id):
            outcome.samples += 1
            if wallet.granted is None:
                continue
            if outcome.lowest_available is None or wallet.available < outcome.lowest_available:
                outcome.lowest_available = wallet.available
            if wallet.available < 0 or wallet.granted != wallet.available + wallet.reserved + wallet.spent:
                outcome.sample_errors.append(
                    f"{wallet.pk}: granted {wallet.granted} available {wallet.available} "
                    f"reserved {wallet.reserved} spent {wallet.spent}"
                )
        time.sleep(0.002)


def race(team: Team, calls, *, threads: int = THREADS) -> Outcome:
    """Release `threads` submits at once; each entry of `calls` is a function run in its own thread."""
    outcome = Outcome()
    lock = threading.Lock()
    barrier = threading.Barrier(threads + 1)
    stop = threading.Event()

    def worker(call):
        barrier.wait(timeout=JOIN_TIMEOUT)
        try:
            job = call()
        except QuotaExceeded as exc:
            with lock:
                outcome.refusals.append(exc)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            with lock:
                outcome.errors.append(exc)
        else:
            with lock:
                outcome.jobs.append(job.pk if isinstance(job, Job) else job)

    sampler = threading.Thread(target=_in_own_connection(_sample_wallets), args=(team.pk, stop, outcome))
    workers = [threading.Thread(target=_in_own_connection(worker), args=(calls[i],)) for i in range(threads)]
    sampler.start()
    for thread in workers:
        thread.start()
    barrier.wait(timeout=JOIN_TIMEOUT)
    for thread in workers:
        thread.join(JOIN_TIMEOUT)
        assert not thread.is_alive(), "a submit hung: a deadlock or a lock never released"
    stop.set()
    sampler.join(JOIN_TIMEOUT)
    return outcome


def new_team(*, members: int, period: str = "monthly") -> tuple[Team, list[Membership], int]:
    team = TeamFactory()
    owner = MembershipFactory(team=team, user=UserFactory(), role=Role.OWNER)
    people = [owner] + [
        MembershipFactory(team=team, user=UserFactory(), role=Role.MEMBER) for _ in range(members - 1)
    ]
    project = ProjectFactory(team=team, created_by=owner.user)
    return team, people, project.pk


def submit_as(membership_id: int, project_id: int):
    """A function that submits one $0.01 simulator image as this member, from whatever thread runs it."""

    def call():
        membership = Membership.objects.select_related("team", "user").get(pk=membership_id)
        project = membership.team.projects.get(pk=project_id)
        return services.job_create(
            membership=membership,
            project=project,
            provider="simulator",
            model=None,
            mode="t2i",
            prompt="twenty at once",
            params={"sim_delay": 0},
        )

    return call


def assert_exactly_five(team: Team, outcome: Outcome, *, limit: str, message_start: str) -> None:
    assert not outcome.errors, outcome.errors
    assert len(outcome.jobs) == 5, f"{len(outcome.jobs)} jobs got through"
    assert len(outcome.refusals) == THREADS - 5
    assert {r.limit for r in outcome.refusals} == {limit}
    assert all(r.message.startswith(message_start) for r in outcome.refusals), outcome.refusals[0].message
    jobs = Job.objects.filter(team=team)
    assert sorted(jobs.values_list("pk", flat=True)) == sorted(outcome.jobs)
    assert Hold.objects.filter(job__team=team, status=HoldStatus.HELD).count() == 5
    assert LedgerEntry.objects.filter(team=team, kind=LedgerKind.RESERVE).count() == 5
    assert not outcome.sample_errors, outcome.sample_errors[:3]
    assert outcome.lowest_available is None or outcome.lowest_available >= 0
    assert outcome.samples > 0
    assert_books_balance(team)


def test_twenty_concurrent_submits_against_a_team_budget_for_five_make_exactly_five_jobs(enqueued):
    for round_ in range(ROUNDS):
        enqueued.clear()
        team, people, project_id = new_team(members=4)
        set_team_quota(team, budget_usd=Decimal("0.05"))
        # Nobody has a wallet yet: the race also creates the team's and each member's wallet.
        calls = [submit_as(people[i % len(people)].pk, project_id) for i in range(THREADS)]
        outcome = race(team, calls)

        assert_exactly_five(team, outcome, limit="budget", message_start="The team's budget of $0.05")
        wallet = quotas.wallet_current(team=team, membership=None)
        assert (wallet.available, wallet.reserved, wallet.spent) == (0, Decimal("0.05"), 0), round_
        assert Wallet.objects.filter(team=team, membership=None).count() == 1
        # A refused submit rolls back the member wallet it created; the kept ones hold the five cents.
        members = Wallet.objects.filter(team=team, membership__isnull=False)
        assert members.count() <= len(people)
        assert sum(w.reserved for w in members) == Decimal("0.05")
        assert sorted(enqueued) == sorted(outcome.jobs)  # each kept job enqueued once, refused ones never


def test_twenty_concurrent_submits_against_a_member_budget_for_five_make_exactly_five_jobs():
    for _ in range(ROUNDS):
        team, people, project_id = new_team(members=2)
        set_team_quota(team, budget_usd=Decimal("1.00"))
        member = people[1]
        set_member_quota(member, budget_usd=Decimal("0.05"))
        outcome = race(team, [submit_as(member.pk, project_id)] * THREADS)

        assert_exactly_five(team, outcome, limit="budget", message_start="Your budget of $0.05")
        mine = quotas.wallet_current(team=team, membership=member)
        assert (mine.available, mine.reserved) == (0, Decimal("0.05"))
        whole = quotas.wallet_current(team=team, membership=None)
        assert (whole.available, whole.reserved) == (Decimal("0.95"), Decimal("0.05"))


@pytest.mark.parametrize(
    ("limits", "limit", "message_start"),
    [
        (
            {"max_concurrent_jobs": 5},
            "max_concurrent_jobs",
            "The team can have at most 5 jobs running at once",
        ),
        ({"max_jobs_per_hour": 5}, "max_jobs_per_hour", "The team can have at most 5 jobs per hour"),
    ],
    ids=["concurrent-jobs", "jobs-per-hour"],
)
def test_twenty_concurrent_submits_against_a_count_limit_of_five_make_exactly_five_jobs(
    limits, limit, message_start
):
    for _ in range(ROUNDS):
        team, people, project_id = new_team(members=4)
        set_team_quota(team, **limits)  # and no budget: the wallets have nothing to stop them
        calls = [submit_as(people[i % len(people)].pk, project_id) for i in range(THREADS)]
        outcome = race(team, calls)

        assert_exactly_five(team, outcome, limit=limit, message_start=message_start)
        assert Job.objects.filter(team=team, status=JobStatus.QUEUED).count() == 5
        wallet = quotas.wallet_current(team=team, membership=None)
        assert (wallet.granted, wallet.reserved) == (None, Decimal("0.05"))


def test_twenty_concurrent_failure_events_for_one_job_refund_it_once():
    for _ in range(MORE_ROUNDS):
        team, people, project_id = new_team(members=1)
        set_team_quota(team, budget_usd=Decimal("0.05"))
        job = submit_as(people[0].pk, project_id)()

        def fail(index, job=job, owner=people[0]):
            def call():
                copy = Job.objects.get(pk=job.pk)  # every event handler loads its own row
                if index % 4 == 0:
                    won = services.job_cancel(membership=owner, job=copy)
                elif index % 4 == 1:
                    won = quotas.quota_refund(job=copy, reason="duplicate")
                else:
                    won = services.job_fail(job=copy, code="timeout", message=f"event {index}")
                return ("refund" if index % 4 == 1 else "finish", won)

            return call

        outcome = race(team, [fail(i) for i in range(THREADS)])
        assert not outcome.errors, outcome.errors
        finishes = [won for kind, won in outcome.jobs if kind == "finish"]
        refunds = [won for kind, won in outcome.jobs if kind == "refund"]
        assert finishes.count(True) == 1, "exactly one fail or cancel moves the job to a final status"
        assert refunds.count(True) <= 1
        Job.objects.get(pk=job.pk, status__in=[JobStatus.FAILED, JobStatus.CANCELED])
        assert LedgerEntry.objects.filter(job=job, kind=LedgerKind.REFUND).count() == 1
        wallet = quotas.wallet_current(team=team, membership=None)
        assert (wallet.available, wallet.reserved, wallet.spent) == (Decimal("0.05"), 0, 0)
        assert_books_balance(team)


def test_a_success_racing_a_cancel_moves_the_money_once():
    for _ in range(MORE_ROUNDS):
        team, people, project_id = new_team(members=1)
        set_team_quota(team, budget_usd=Decimal("0.05"))
        job = submit_as(people[0].pk, project_id)()

        def event(index, job=job):
            def call():
                copy = Job.objects.get(pk=job.pk)
                if index % 2:
                    return copy if quotas.quota_settle(job=copy, amount=Decimal("0.03")) else None
                return copy if quotas.quota_refund(job=copy, reason="canceled") else None

            return call

        outcome = race(team, [event(i) for i in range(THREADS)])
        assert not outcome.errors, outcome.errors
        assert len([j for j in outcome.jobs if j is not None]) == 1
        kinds = Counter(
            LedgerEntry.objects.filter(job=job)
            .exclude(kind=LedgerKind.RESERVE)
            .values_list("kind", flat=True)
        )
        assert sum(kinds.values()) == 1, kinds
        wallet = quotas.wallet_current(team=team, membership=None)
        if kinds[LedgerKind.SETTLE]:
            assert (wallet.available, wallet.spent) == (Decimal("0.02"), Decimal("0.03"))
        else:
            assert (wallet.available, wallet.spent) == (Decimal("0.05"), 0)
        assert wallet.reserved == 0
        assert_books_balance(team)


def test_submits_racing_refunds_never_overdraw_and_the_books_balance():
    """Ten held jobs fail while twenty new submits arrive: any interleaving, same books."""
    for _ in range(MORE_ROUNDS):
        team, people, project_id = new_team(members=2)
        set_team_quota(team, budget_usd=Decimal("0.10"))
        held = [submit_as(people[i % 2].pk, project_id)() for i in range(10)]
        assert quotas.wallet_current(team=team, membership=None).available == 0

        def fail(job_id):
            def call():
                services.job_fail(job=Job.objects.get(pk=job_id), code="timeout", message="late")

            return call

        calls = [fail(job.pk) for job in held] + [submit_as(people[i % 2].pk, project_id) for i in range(20)]
        outcome = race(team, calls, threads=len(calls))

        assert not outcome.errors, outcome.errors
        new_jobs = [j for j in outcome.jobs if j is not None]
        assert len(new_jobs) + len(outcome.refusals) == 20
        assert 0 <= len(new_jobs) <= 10
        assert {r.limit for r in outcome.refusals} <= {"budget"}
        wallet = quotas.wallet_current(team=team, membership=None)
        assert wallet.reserved == CENT * len(new_jobs)
        assert wallet.available == Decimal("0.10") - wallet.reserved
        assert LedgerEntry.objects.filter(team=team, kind=LedgerKind.REFUND).count() == 10
        assert not outcome.sample_errors, outcome.sample_errors[:3]
        assert_books_balance(team)


def _wait_until_blocked_on_a_lock(timeout: float = 10.0) -> bool:
    """True once some other backend of this database waits for a lock (pg_stat_activity)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
            )
            if cursor.fetchone()[0]:
                return True
        time.sleep(0.02)
    return False


def test_a_submit_creating_its_member_wallet_holds_no_lock_on_the_team_wallet():
    """The interleaving behind a deadlock once seen in the races above, made to happen every time.

    Another submit of the same member has inserted the member's wallet (not committed yet) and
    will next lock the team's wallet. Our submit must wait for that insert without holding the
    team wallet's lock; when it held it, PostgreSQL broke the cycle by failing one of the two.
    """
    team, people, project_id = new_team(members=2)
    set_team_quota(team, budget_usd=Decimal("1.00"))
    member = people[1]
    team_wallet = quotas.wallet_current(team=team, membership=None)  # committed, as after a first submit
    inserted, go_on = threading.Event(), threading.Event()
    errors: list[BaseException] = []
    made: list[Job] = []

    def other_submit():
        try:
            with transaction.atomic():
                quotas.wallet_current(team=team, membership=member)
                inserted.set()
                go_on.wait(JOIN_TIMEOUT)
                Wallet.objects.select_for_update().get(pk=team_wallet.pk)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)

    def our_submit():
        try:
            made.append(submit_as(member.pk, project_id)())
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    other = threading.Thread(target=_in_own_connection(other_submit))
    ours = threading.Thread(target=_in_own_connection(our_submit))
    other.start()
    assert inserted.wait(JOIN_TIMEOUT)
    ours.start()
    assert _wait_until_blocked_on_a_lock(), "our submit never waited for the uncommitted member wallet"
    go_on.set()
    for thread in (other, ours):
        thread.join(JOIN_TIMEOUT)
        assert not thread.is_alive(), "a submit hung"

    assert not errors, errors
    assert len(made) == 1
    assert Wallet.objects.filter(team=team, membership=member).count() == 1
    assert_books_balance(team)
