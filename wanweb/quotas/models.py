"""Money: the limits of a team and its members, wallets per period, holds per job, the ledger, prices."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from wanweb.accounts.models import Membership, Team


class Period(models.TextChoices):
    MONTHLY = "monthly", "Monthly"
    WEEKLY = "weekly", "Weekly"
    DAILY = "daily", "Daily"
    NONE = "none", "No reset"


class QuotaLimits(models.Model):
    """Limits shared by a team's quota and a member's override. Empty means no limit."""

    budget_usd = models.DecimalField(
        "budget (USD)",
        max_digits=12,
        decimal_places=4,
        null=True,
        blank=True,
        help_text="Per period. Empty: no budget.",
    )
    soft_budget_usd = models.DecimalField(
        "soft budget (USD)",
        max_digits=12,
        decimal_places=4,
        null=True,
        blank=True,
        help_text="Warn above this.",
    )
    max_concurrent_jobs = models.PositiveIntegerField(null=True, blank=True)
    max_jobs_per_hour = models.PositiveIntegerField(null=True, blank=True)
    allowed_providers = models.JSONField(
        default=list, blank=True, help_text='Empty: all. e.g. ["simulator", "fal"]'
    )
    allowed_models = models.JSONField(
        default=list, blank=True, help_text='Empty: all. e.g. ["wan/v2.6/text-to-video"]'
    )
    max_video_seconds = models.PositiveIntegerField(null=True, blank=True, help_text="Per job.")

    class Meta:
        abstract = True


class TeamQuota(QuotaLimits):
    """The team's limits; they also apply to every member unless an override is stricter."""

    team = models.OneToOneField(Team, on_delete=models.CASCADE, related_name="quota")
    period = models.CharField(max_length=8, choices=Period.choices, default=Period.MONTHLY)
    frozen = models.BooleanField(default=False, help_text="A frozen team cannot start new jobs.")

    def __str__(self) -> str:
        return f"Quota of {self.team}"


class MemberQuota(QuotaLimits):
    """A member's own limits within a team: each can only make the team's stricter."""

    membership = models.OneToOneField(Membership, on_delete=models.CASCADE, related_name="quota")

    def __str__(self) -> str:
        return f"Quota of {self.membership.user} in {self.membership.team}"


class Wallet(models.Model):
    """Money for one period of a team (member is null) or of one member within a team.

    Invariant, per wallet with a budget: granted == available + reserved + spent. Without a
    budget (`granted` is null) `available` is unused and reserved/spent still add up.
    """

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="wallets")
    membership = models.ForeignKey(
        Membership, on_delete=models.CASCADE, null=True, blank=True, related_name="wallets"
    )
    period_start = models.DateTimeField()
    period_end = models.DateTimeField(null=True, blank=True)
    granted = models.DecimalField(max_digits=12, decimal_places=4, null=True, blank=True)
    available = models.DecimalField(max_digits=12, decimal_places=4, default=0)
    reserved = models.DecimalField(max_digits=12, decimal_places=4, default=0)
    spent = models.DecimalField(max_digits=12, decimal_places=4, default=0)
    # Top-ups on top of the budget this period: kept apart so a later budget edit keeps them.
    topped_up = models.DecimalField(max_digits=12, decimal_places=4, default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["team", "membership", "period_start"],
                name="wallet_unique_period",
                nulls_distinct=False,
            ),
            # Belt and braces: the reserve's conditional update already never overdraws.
            models.CheckConstraint(
                condition=models.Q(granted__isnull=True) | models.Q(available__gte=0),
                name="wallet_available_not_negative",
            ),
            models.CheckConstraint(condition=models.Q(reserved__gte=0), name="wallet_reserved_not_negative"),
        ]
        ordering = ["-period_start"]

    def __str__(self) -> str:
        who = self.membership.user.username if self.membership_id else "team"
        return f"{self.team} / {who} from {self.period_start:%Y-%m-%d}"


class HoldStatus(models.TextChoices):
    HELD = "held", "Held"
    SETTLED = "settled", "Settled"
    REFUNDED = "refunded", "Refunded"


class Hold(models.Model):
    """The money reserved for one job: settled once on success, refunded once on failure or cancel."""

    job = models.OneToOneField("generations.Job", on_delete=models.CASCADE, related_name="hold")
    team_wallet = models.ForeignKey(Wallet, on_delete=models.PROTECT, related_name="+")
    member_wallet = models.ForeignKey(Wallet, on_delete=models.PROTECT, related_name="+")
    amount = models.DecimalField(max_digits=12, decimal_places=4)
    final_amount = models.DecimalField(max_digits=12, decimal_places=4, null=True, blank=True)
    status = models.CharField(max_length=8, choices=HoldStatus.choices, default=HoldStatus.HELD)
    created_at = models.DateTimeField(default=timezone.now)
    closed_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.status} ${self.amount} for job {self.job_id}"


class LedgerKind(models.TextChoices):
    RESERVE = "reserve", "Reserve"
    SETTLE = "settle", "Settle"
    REFUND = "refund", "Refund"
    TOP_UP = "top_up", "Top up"
    ADJUST = "adjust", "Budget change"
    RESET = "reset", "Period reset"


class BilledTo(models.TextChoices):
    TEAM = "team", "Team's own key"
    OPERATOR = "operator", "Operator's key"


class LedgerEntry(models.Model):
    """One movement of money. Read-only history: never updated, never deleted by the app."""

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="ledger")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    job = models.ForeignKey(
        "generations.Job", on_delete=models.SET_NULL, null=True, blank=True, related_name="ledger"
    )
    project = models.ForeignKey(
        "generations.Project", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    provider = models.CharField(max_length=20, blank=True)
    model = models.CharField(max_length=120, blank=True)
    # Whose vendor account paid: the team's own key or the operator's (blank: no vendor, e.g. top-ups).
    billed_to = models.CharField(max_length=8, choices=BilledTo.choices, blank=True)
    kind = models.CharField(max_length=8, choices=LedgerKind.choices)
    amount = models.DecimalField(max_digits=12, decimal_places=4)
    note = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "ledger entries"
        indexes = [models.Index(fields=["team", "created_at"], name="ledger_team_time")]

    def __str__(self) -> str:
        return f"{self.kind} ${self.amount} ({self.team})"


class PriceOverride(models.Model):
    """An admin's price for one catalog price key (see providers.catalog.default_prices)."""

    key = models.CharField(
        max_length=200,
        unique=True,
        help_text="provider:model:mode:unit, as listed in the catalog (e.g. fal:wan/v2.6/text-to-video:t2v:second:720p)",
    )
    usd = models.DecimalField("price (USD)", max_digits=10, decimal_places=4)
    note = models.CharField(max_length=200, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["key"]

    def __str__(self) -> str:
        return f"{self.key} = ${self.usd}"
