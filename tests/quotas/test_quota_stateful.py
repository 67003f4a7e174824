"""The quota books under any sequence of operations: a hypothesis state machine.

One team (budget), its owner alice and its member bob (each with a MemberQuota row) go through
random submits (through `job_create` or `quota_reserve`), settles (at, below and above the
estimate), refunds, duplicate failure events, admin budget edits (team or member, up, down or
removed), top-ups and period resets. A plain-Python model of the three wallets predicts every
outcome; after every step the database must match the model exactly and:

- granted == available + reserved + spent for each wallet with a budget, available >= 0;
- reserved == the sum of the amounts of that wallet's holds still held;
- one ledger reserve per hold, one settle per settled hold, one refund per refunded hold.

Each example runs in its own savepoint, rolled back at the end.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import pytest
from django.db import transaction
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from generations import services
from generations.models import Job, JobStatus
from tests.factories import JobFactory, MembershipFactory, ProjectFactory, TeamFactory, UserFactory
from wanweb.accounts.models import Role
from wanweb.quotas import services as quotas
from wanweb.quotas.models import Hold, HoldStatus, LedgerEntry, LedgerKind, MemberQuota, TeamQuota, Wallet
from wanweb.quotas.services import QuotaExceeded

ZERO = Decimal(0)
UNIT = Decimal("0.0001")
CENT = Decimal("0.01")

money = st.integers(min_value=0, max_value=400).map(lambda n: Decimal(n) * UNIT)  # $0 .. $0.04
budgets = st.one_of(st.none(), st.integers(min_value=0, max_value=1500).map(lambda n: Decimal(n) * UNIT))
factors = st.sampled_from([None, "0", "0.37", "1", "1.5", "4"])  # None: the estimate itself


@dataclass
class Books:
    """What one wallet should hold."""

    granted: Decimal | None
    available: Decimal
    reserved: Decimal = ZERO
    spent: Decimal = ZERO
    topped_up: Decimal = ZERO

    @classmethod
    def new(cls, budget: Decimal | None) -> Books:
        return cls(granted=budget, available=budget if budget is not None else ZERO)

    def can_take(self, cost: Decimal) -> bool:
        return self.granted is None or self.available >= cost

    def take(self, cost: Decimal) -> None:
        if self.granted is not None:
            self.available -= cost
        self.reserved += cost

    def can_cover(self, held: Decimal, final: Decimal) -> Decimal:
        """How much of a vendor's `final` this wallet can pay for a hold of `held`."""
        if self.granted is not None and final > held:
            return min(final, held + self.available)
        return final

    def release(self, held: Decimal, charged: Decimal) -> None:
        self.reserved -= held
        self.spent += charged
        if self.granted is not None:
            self.available += held - charged

    def set_budget(self, budget: Decimal | None) -> None:
        """This period's top-ups stay on top of whatever the budget becomes."""
        target = None if budget is None else budget + self.topped_up
        if target == self.granted:
            return
        if budget is None:
            self.granted, self.available = None, ZERO
        else:
            self.available = max(ZERO, target - self.reserved - self.spent)
            self.granted = self.available + self.reserved + self.spent

    def top_up(self, amount: Decimal) -> None:
        if self.granted is not None:
            self.granted += amount
            self.available += amount
            self.topped_up += amount

    def reset(self) -> None:
        if self.granted is not None:
            self.available += self.spent
        self.spent = ZERO

    def as_tuple(self):
        return (self.granted, self.available, self.reserved, self.spent, self.topped_up)


class QuotaBooks(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self._atomic = transaction.atomic()
        self._atomic.__enter__()
        self.team = TeamFactory()
        self.alice = MembershipFactory(team=self.team, user=UserFactory(), role=Role.OWNER)
        self.bob = MembershipFactory(team=self.team, user=UserFactory(), role=Role.MEMBER)
        self.project = ProjectFactory(team=self.team, created_by=self.alice.user)
        self.team_quota = TeamQuota.objects.create(team=self.team, budget_usd=Decimal("0.10"))
        self.member_quotas = {
            "alice": MemberQuota.objects.create(membership=self.alice, budget_usd=None),
            "bob": MemberQuota.objects.create(membership=self.bob, budget_usd=Decimal("0.05")),
        }
        self.people = {"alice": self.alice, "bob": self.bob}
        self.model = {
            "team": Books.new(Decimal("0.10")),
            "alice": Books.new(None),
            "bob": Books.new(Decimal("0.05")),
        }
        self.wallet_pks = {name: self._wallet(name).pk for name in self.model}
        self.held: list[tuple[int, str, Decimal]] = []  # (job pk, who, amount)
        self.closed: list[int] = []
        self.settled = 0
        self.refunded = 0
        self.settle_amounts: list[Decimal] = []

    def teardown(self) -> None:
        transaction.set_rollback(True)
        self._atomic.__exit__(None, None, None)

    # -- helpers --------------------------------------------------------------------------------

    def _wallet(self, name: str):
        membership = None if name == "team" else self.people[name]
        return quotas.wallet_current(team=self.team, membership=membership)

    def _pick(self, items: list, index: int):
        return items.pop(index % len(items))

    def _expect_reserve(self, who: str, cost: Decimal) -> bool:
        return self.model["team"].can_take(cost) and self.model[who].can_take(cost)

    def _reserved(self, job_pk: int, who: str, cost: Decimal) -> None:
        self.model["team"].take(cost)
        self.model[who].take(cost)
        self.held.append((job_pk, who, cost))

    def _release(self, who: str, held: Decimal, final: Decimal) -> Decimal:
        """Both wallets are charged the same: as much of `final` as both can cover."""
        wallets = (self.model["team"], self.model[who])
        charged = min(books.can_cover(held, final) for books in wallets)
        for books in wallets:
            books.release(held, charged)
        return charged

    # -- rules ----------------------------------------------------------------------------------

    @rule(who=st.sampled_from(["alice", "bob"]), outputs=st.integers(min_value=1, max_value=4))
    def submit_through_job_create(self, who, outputs):
        cost = CENT * outputs
        expected = self._expect_reserve(who, cost)
        try:
            job = services.job_create(
                membership=self.people[who],
                project=self.project,
                provider="simulator",
                model=None,
                mode="t2i",
                prompt="stateful",
                params={"sim_delay": 0, "num_outputs": outputs},
            )
        except QuotaExceeded as exc:
            assert exc.limit == "budget"
            assert not expected, f"refused although the model has room for ${cost}"
            return
        assert expected, f"accepted although the model has no room for ${cost}"
        assert job.cost_estimate == cost
        self._reserved(job.pk, who, cost)

    @rule(who=st.sampled_from(["alice", "bob"]), cost=money)
    def submit_through_quota_reserve(self, who, cost):
        expected = self._expect_reserve(who, cost)
        membership = self.people[who]
        try:
            with transaction.atomic():  # as job_create does: a refusal takes the job row with it
                job = JobFactory(
                    project=self.project,
                    team=self.team,
                    created_by=membership.user,
                    status=JobStatus.QUEUED,
                    cost_estimate=cost,
                )
                job.refresh_from_db()
                quotas.quota_reserve(membership=membership, job=job, video_seconds=None)
        except QuotaExceeded:
            assert not expected, f"refused although the model has room for ${cost}"
            return
        assert expected, f"accepted although the model has no room for ${cost}"
        self._reserved(job.pk, who, cost)

    @precondition(lambda self: self.held)
    @rule(index=st.integers(min_value=0), factor=factors, via_service=st.booleans())
    def settle(self, index, factor, via_service):
        job_pk, who, amount = self._pick(self.held, index)
        final = amount if factor is None else (amount * Decimal(factor)).quantize(UNIT)
        job = Job.objects.get(pk=job_pk)
        if via_service:
            Job.objects.filter(pk=job_pk).update(
                status=JobStatus.SUCCEEDED, cost_final=None if factor is None else final
            )
            job.refresh_from_db()
            services.on_job_finished(job)
        else:
            assert quotas.quota_settle(job=job, amount=None if factor is None else final)
        self.settle_amounts.append(self._release(who, amount, final))
        self.closed.append(job_pk)
        self.settled += 1

    @precondition(lambda self: self.held)
    @rule(index=st.integers(min_value=0), how=st.sampled_from(["job_fail", "job_cancel", "quota_refund"]))
    def refund(self, index, how):
        job_pk, who, amount = self._pick(self.held, index)
        job = Job.objects.get(pk=job_pk)
        if how == "job_fail":
            assert services.job_fail(job=job, code="timeout", message="the vendor gave up")
        elif how == "job_cancel":
            assert services.job_cancel(membership=self.alice, job=job)
        else:
            assert quotas.quota_refund(job=job, reason="stateful")
        self._release(who, amount, ZERO)
        self.closed.append(job_pk)
        self.refunded += 1

    @precondition(lambda self: self.closed)
    @rule(
        index=st.integers(min_value=0),
        how=st.sampled_from(["job_fail", "job_cancel", "quota_refund", "quota_settle", "on_job_finished"]),
    )
    def duplicate_event(self, index, how):
        """A second failure (or success) event for a job whose hold is closed moves no money."""
        job = Job.objects.get(pk=self.closed[index % len(self.closed)])
        if how == "job_fail":
            services.job_fail(job=job, code="timeout", message="again")
        elif how == "job_cancel":
            services.job_cancel(membership=self.alice, job=job)
        elif how == "quota_refund":
            assert not quotas.quota_refund(job=job, reason="again")
        elif how == "quota_settle":
            assert not quotas.quota_settle(job=job, amount=Decimal("0.0300"))
        else:
            services.on_job_finished(job)

    @rule(whose=st.sampled_from(["team", "alice", "bob"]), budget=budgets)
    def admin_edits_a_budget(self, whose, budget):
        quota = self.team_quota if whose == "team" else self.member_quotas[whose]
        quota.budget_usd = budget
        quota.save(update_fields=["budget_usd"])
        quotas.quota_budget_changed(team=self.team)
        # quota_budget_changed brings every wallet in line with its configured budget.
        self.model["team"].set_budget(self.team_quota.budget_usd)
        for name, member_quota in self.member_quotas.items():
            self.model[name].set_budget(member_quota.budget_usd)

    @rule(amount=money)
    def admin_tops_up(self, amount):
        quotas.wallet_top_up(team=self.team, amount=amount)
        self.model["team"].top_up(amount)

    @rule()
    def admin_resets_the_period(self):
        quotas.wallet_reset_period(team=self.team)
        for books in self.model.values():
            books.reset()

    # -- invariants -----------------------------------------------------------------------------

    @invariant()
    def the_database_matches_the_model_and_the_books_balance(self):
        # Three queries per step (wallets, holds, ledger), so that many steps fit in the time.
        wallets = {w.pk: w for w in Wallet.objects.filter(team=self.team)}
        assert set(wallets) == set(self.wallet_pks.values()), "every operation stays in this period"
        holds = list(
            Hold.objects.filter(job__team=self.team).values_list(
                "team_wallet_id", "member_wallet_id", "amount", "status"
            )
        )
        held_in = dict.fromkeys(wallets, ZERO)
        for team_wallet_id, member_wallet_id, amount, status in holds:
            if status == HoldStatus.HELD:
                held_in[team_wallet_id] += amount
                held_in[member_wallet_id] += amount
        for name, books in self.model.items():
            wallet = wallets[self.wallet_pks[name]]
            got = (wallet.granted, wallet.available, wallet.reserved, wallet.spent, wallet.topped_up)
            assert got == books.as_tuple(), f"{name}: database {got} != model {books.as_tuple()}"
            if wallet.granted is not None:
                assert wallet.available >= 0, name
                assert wallet.granted == wallet.available + wallet.reserved + wallet.spent, name
            assert wallet.reserved == held_in[wallet.pk], f"{name}: reserved != what its holds hold"

        statuses = [status for *_, status in holds]
        assert statuses.count(HoldStatus.HELD) == len(self.held)
        assert statuses.count(HoldStatus.SETTLED) == self.settled
        assert statuses.count(HoldStatus.REFUNDED) == self.refunded
        entries = list(LedgerEntry.objects.filter(team=self.team).values_list("kind", "amount"))
        kinds = [kind for kind, _ in entries]
        assert kinds.count(LedgerKind.RESERVE) == len(holds), "one reserve entry per hold"
        assert kinds.count(LedgerKind.REFUND) == self.refunded, "one refund entry per refunded hold"
        settles = sorted(amount for kind, amount in entries if kind == LedgerKind.SETTLE)
        assert settles == sorted(self.settle_amounts), "one settle entry per settled hold, at the charge"


@pytest.fixture(autouse=True)
def _no_enqueue(monkeypatch):
    monkeypatch.setattr(services.job_submit_task, "delay", lambda *args, **kwargs: None)


@pytest.mark.django_db
def test_any_sequence_of_quota_operations_keeps_the_books_balanced():
    run_state_machine_as_test(
        QuotaBooks,
        settings=settings(
            max_examples=30,
            stateful_step_count=20,
            deadline=None,
            derandomize=True,  # the same sequences every run: no flaky CI, no example database
            database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
