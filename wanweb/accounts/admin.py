"""Django admin for operators: teams, members and their quotas, wallets, holds, the ledger, prices.

Money moves only through `wanweb.accounts.quotas`: the admin edits limits, then asks the service
to bring this period's wallets in line (`quota_budget_changed`), and its actions (top up, reset
period, freeze) call the services too. Every action is written to Django's change history
(`LogEntry`), and every movement of money to the read-only ledger.
"""

from __future__ import annotations

from decimal import Decimal

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.models import LogEntry
from django.contrib.admin.options import IS_POPUP_VAR
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Sum
from django.forms.models import BaseInlineFormSet
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, path, reverse
from django.utils.html import format_html

from providers import catalog
from wanweb.accounts import quotas
from wanweb.accounts.models import (
    Hold,
    Invite,
    LedgerEntry,
    MemberQuota,
    Membership,
    Period,
    PriceOverride,
    Team,
    TeamQuota,
    Wallet,
)

ZERO = Decimal("0")

# ---------------------------------------------------------------------------------------------
# Money and usage bars
# ---------------------------------------------------------------------------------------------


def usd(amount: Decimal | None) -> str:
    """`$1.50`, keeping sub-cent digits only when there are any (`$0.0125`)."""
    if amount is None:
        return "—"
    amount = Decimal(amount)
    if amount == amount.quantize(Decimal("0.01")):
        return f"${amount:,.2f}"
    return f"${amount.normalize():,f}"


SPENT_COLOUR = "#2f6fb0"
RESERVED_COLOUR = "#e0a526"
TRACK_COLOUR = "#dde3ea"


def usage_bar(
    *, granted: Decimal | None, spent: Decimal, reserved: Decimal, unlimited: str = "no budget"
) -> str:
    """A small stacked bar (spent, reserved, remaining of the budget) and the numbers under it."""
    spent, reserved = spent or ZERO, reserved or ZERO
    if granted is None:
        return format_html(
            '<span class="usage usage-unlimited" style="font-size:.85em;white-space:nowrap">'
            '{} · <b>{}</b> spent · <span style="color:#9a6b00">{}</span> reserved</span>',
            unlimited,
            usd(spent),
            usd(reserved),
        )
    remaining = max(ZERO, granted - spent - reserved)
    if granted > 0:
        spent_pct = min(Decimal(100), spent * 100 / granted)
        reserved_pct = min(Decimal(100) - spent_pct, reserved * 100 / granted)
    else:
        spent_pct, reserved_pct = (Decimal(100), ZERO) if spent or reserved else (ZERO, ZERO)
    return format_html(
        '<div class="usage" title="{spent} spent, {reserved} reserved, {remaining} left of {granted}">'
        '<div role="img" aria-label="{used_pct}% of the budget used" style="display:flex;width:10em;'
        'height:.55em;border-radius:.3em;overflow:hidden;background:{track};margin:.2em 0">'
        '<span style="width:{spent_pct}%;background:{spent_colour}"></span>'
        '<span style="width:{reserved_pct}%;background:{reserved_colour}"></span></div>'
        '<span style="font-size:.85em;white-space:nowrap"><b>{spent}</b> spent'
        "{reserved_part} · {remaining} left of <b>{granted}</b></span></div>",
        spent=usd(spent),
        reserved=usd(reserved),
        reserved_part=format_html(' · <span style="color:#9a6b00">{} reserved</span>', usd(reserved))
        if reserved
        else "",
        remaining=usd(remaining),
        granted=usd(granted),
        used_pct=f"{spent_pct + reserved_pct:.0f}",
        spent_pct=f"{spent_pct:.2f}",
        reserved_pct=f"{reserved_pct:.2f}",
        track=TRACK_COLOUR,
        spent_colour=SPENT_COLOUR,
        reserved_colour=RESERVED_COLOUR,
    )


def _team_quota_or_none(team: Team) -> TeamQuota | None:
    try:
        return team.quota
    except TeamQuota.DoesNotExist:
        return None


def _period_start(team: Team):
    quota = _team_quota_or_none(team)
    start, _ = quotas.period_bounds(quota.period if quota else Period.MONTHLY, team.time_zone)
    return start


def current_wallet(team: Team, membership: Membership | None = None) -> Wallet:
    """This period's wallet if it exists, else an unsaved one showing the budget (reading never creates)."""
    start = _period_start(team)
    wallet = Wallet.objects.filter(team=team, membership=membership, period_start=start).first()
    if wallet is not None:
        return wallet
    if membership is None:
        quota = _team_quota_or_none(team)
        granted = quota.budget_usd if quota else None
    else:
        member_q = MemberQuota.objects.filter(membership=membership).first()
        granted = member_q.budget_usd if member_q else None
    return Wallet(team=team, membership=membership, period_start=start, granted=granted)


def wallet_bar(wallet: Wallet) -> str:
    unlimited = "team's budget" if wallet.membership_id else "no budget"
    return usage_bar(
        granted=wallet.granted, spent=wallet.spent, reserved=wallet.reserved, unlimited=unlimited
    )


def apply_budgets(*, team: Team, actor) -> None:
    """Bring this period's wallets of the team in line with the quotas just saved (the service
    covers the team, every member override, and members whose override was just deleted)."""
    quotas.quota_budget_changed(team=team, actor=actor)


def _admin_link(obj, text=None) -> str:
    if obj is None:
        return "—"
    try:
        url = reverse(f"admin:{obj._meta.app_label}_{obj._meta.model_name}_change", args=[obj.pk])
    except NoReverseMatch:
        return str(text or obj)
    return format_html('<a href="{}">{}</a>', url, text or obj)


# ---------------------------------------------------------------------------------------------
# Quota forms: the team's limits, and a member's, which may only be stricter
# ---------------------------------------------------------------------------------------------

LIMIT_FIELDS = ["budget_usd", "max_concurrent_jobs", "max_jobs_per_hour", "max_video_seconds"]
LIST_FIELDS = {"allowed_providers": "providers", "allowed_models": "models"}
QUOTA_FIELDS = [*LIMIT_FIELDS, "soft_budget_usd", *LIST_FIELDS]


def _known(kind: str) -> set[str]:
    specs = catalog.all_models()
    return {s.provider for s in specs} if kind == "providers" else {s.model_id for s in specs}


class QuotaLimitsForm(forms.ModelForm):
    """Shared checks: lists of known names, soft budget under the budget."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for field in LIST_FIELDS:
            if field in self.fields:
                self.fields[field].widget.attrs.update({"rows": 1, "cols": 60})

    def _clean_names(self, field: str) -> list[str]:
        value = self.cleaned_data.get(field)
        if value in (None, ""):
            return []
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise forms.ValidationError('Enter a JSON list of names, e.g. ["simulator", "fal"].')
        unknown = sorted(set(value) - _known(LIST_FIELDS[field]))
        if unknown:
            raise forms.ValidationError(
                "Not in the catalog: %(names)s.", params={"names": ", ".join(unknown)}, code="unknown"
            )
        return value

    def clean_allowed_providers(self):
        return self._clean_names("allowed_providers")

    def clean_allowed_models(self):
        return self._clean_names("allowed_models")

    def clean(self):
        cleaned = super().clean()
        budget, soft = cleaned.get("budget_usd"), cleaned.get("soft_budget_usd")
        if budget is not None and soft is not None and soft > budget:
            self.add_error("soft_budget_usd", f"The soft budget cannot be above the budget ({usd(budget)}).")
        return cleaned


class TeamQuotaForm(QuotaLimitsForm):
    class Meta:
        model = TeamQuota
        fields = ["team", "period", "frozen", *QUOTA_FIELDS]


class MemberQuotaForm(QuotaLimitsForm):
    """A member's override: each limit at most the team's, each list a subset of the team's."""

    class Meta:
        model = MemberQuota
        fields = ["membership", *QUOTA_FIELDS]

    def __init__(self, *args, parent_membership: Membership | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.parent_membership = parent_membership

    def _team(self) -> Team | None:
        membership = self.cleaned_data.get("membership") or self.parent_membership
        if membership is None and self.instance.membership_id:
            membership = self.instance.membership
        return membership.team if membership is not None and membership.team_id else None

    def clean(self):
        cleaned = super().clean()
        team = self._team()
        team_q = _team_quota_or_none(team) if team is not None else None
        if team_q is None:
            return cleaned
        for field in LIMIT_FIELDS:
            mine, theirs = cleaned.get(field), getattr(team_q, field)
            if mine is not None and theirs is not None and mine > theirs:
                shown = usd(theirs) if field == "budget_usd" else theirs
                self.add_error(
                    field,
                    f"A member's limit can only be stricter than the team's: at most {shown} "
                    f"(the team's {TeamQuota._meta.get_field(field).verbose_name}).",
                )
        for field in LIST_FIELDS:
            mine, theirs = cleaned.get(field) or [], getattr(team_q, field) or []
            extra = sorted(set(mine) - set(theirs)) if theirs else []
            if extra:
                self.add_error(
                    field,
                    f"Not allowed for the team: {', '.join(extra)}. A member may only narrow the team's "
                    f"list ({', '.join(theirs)}).",
                )
        return cleaned


class MemberQuotaFormSet(BaseInlineFormSet):
    def get_form_kwargs(self, index):
        kwargs = super().get_form_kwargs(index)
        kwargs["parent_membership"] = self.instance
        return kwargs


def looser_overrides(team: Team) -> list[str]:
    """Members whose override is no longer stricter than the team's limits (after a team edit)."""
    team_q = _team_quota_or_none(team)
    if team_q is None:
        return []
    found = []
    for member_q in MemberQuota.objects.filter(membership__team=team).select_related("membership__user"):
        for field in LIMIT_FIELDS:
            mine, theirs = getattr(member_q, field), getattr(team_q, field)
            if mine is not None and theirs is not None and mine > theirs:
                found.append(f"{member_q.membership.user} ({TeamQuota._meta.get_field(field).verbose_name})")
        for field in LIST_FIELDS:
            theirs = set(getattr(team_q, field) or [])
            if theirs and set(getattr(member_q, field) or []) - theirs:
                found.append(f"{member_q.membership.user} ({field.replace('_', ' ')})")
    return found


# ---------------------------------------------------------------------------------------------
# Teams
# ---------------------------------------------------------------------------------------------


class TeamQuotaInline(admin.StackedInline):
    model = TeamQuota
    form = TeamQuotaForm
    can_delete = False
    min_num = 1
    max_num = 1
    verbose_name = "quota"
    verbose_name_plural = "Quota: the team's limits, which every member is held to"
    fieldsets = [
        (None, {"fields": [("budget_usd", "period"), "soft_budget_usd", "frozen"]}),
        (
            "Limits",
            {
                "fields": [
                    ("max_concurrent_jobs", "max_jobs_per_hour", "max_video_seconds"),
                    "allowed_providers",
                    "allowed_models",
                ]
            },
        ),
    ]


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]
    fields = ["user", "role", "member_quota", "member_usage", "created_at"]
    readonly_fields = ["member_quota", "member_usage", "created_at"]
    verbose_name_plural = "Memberships (a member's own quota can only be stricter than the team's)"

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("user", "team", "quota")

    @admin.display(description="Own quota")
    def member_quota(self, membership):
        if membership.pk is None:
            return "—"
        url = reverse("admin:accounts_membership_change", args=[membership.pk])
        member_q = MemberQuota.objects.filter(membership=membership).first()
        if member_q is None:
            return format_html('<a href="{}#quota-group">set a quota</a>', url)
        summary = ", ".join(
            part
            for part in [
                f"budget {usd(member_q.budget_usd)}" if member_q.budget_usd is not None else "",
                f"{member_q.max_concurrent_jobs} at once" if member_q.max_concurrent_jobs else "",
                f"{member_q.max_jobs_per_hour}/h" if member_q.max_jobs_per_hour else "",
                f"≤ {member_q.max_video_seconds} s" if member_q.max_video_seconds else "",
                "some providers" if member_q.allowed_providers else "",
                "some models" if member_q.allowed_models else "",
            ]
            if part
        )
        return format_html('<a href="{}#quota-group">{}</a>', url, summary or "edit quota")

    @admin.display(description="This period")
    def member_usage(self, membership):
        if membership.pk is None:
            return "—"
        return wallet_bar(current_wallet(membership.team, membership))


class TopUpForm(forms.Form):
    amount = forms.DecimalField(
        label="Amount (USD)",
        min_value=Decimal("0.01"),
        max_value=Decimal("99999999"),
        max_digits=12,
        decimal_places=4,
        help_text="Added to this period's budget of each selected team (on top of its budget).",
    )


class QuotaStateFilter(admin.SimpleListFilter):
    title = "quota"
    parameter_name = "quota"

    def lookups(self, request, model_admin):
        return [("frozen", "Frozen"), ("budget", "With a budget"), ("none", "No budget")]

    def queryset(self, request, queryset):
        if self.value() == "frozen":
            return queryset.filter(quota__frozen=True)
        if self.value() == "budget":
            return queryset.filter(quota__budget_usd__isnull=False)
        if self.value() == "none":
            return queryset.filter(quota__budget_usd__isnull=True)
        return queryset


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "member_count", "budget", "usage", "state"]
    list_filter = [QuotaStateFilter, "quota__period"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [TeamQuotaInline, MembershipInline]
    readonly_fields = ["usage_this_period"]
    fieldsets = [
        (None, {"fields": ["name", "slug", "time_zone"]}),
        ("Spend", {"fields": ["usage_this_period"]}),
    ]
    actions = ["top_up", "reset_period", "freeze", "unfreeze"]

    def get_queryset(self, request):
        return (
            super().get_queryset(request).select_related("quota").annotate(_member_count=Count("memberships"))
        )

    def get_fieldsets(self, request, obj=None):
        if obj is None:  # nothing has been spent by a team that does not exist yet
            return [(None, {"fields": ["name", "slug", "time_zone"]})]
        return super().get_fieldsets(request, obj)

    @admin.display(description="Members", ordering="_member_count")
    def member_count(self, team):
        return team._member_count

    @admin.display(description="Budget", ordering="quota__budget_usd")
    def budget(self, team):
        quota = _team_quota_or_none(team)
        if quota is None or quota.budget_usd is None:
            return "—"
        return f"{usd(quota.budget_usd)} {quota.get_period_display().lower()}"

    @admin.display(description="This period")
    def usage(self, team):
        return wallet_bar(current_wallet(team))

    @admin.display(description="State")
    def state(self, team):
        quota = _team_quota_or_none(team)
        if quota is not None and quota.frozen:
            return format_html('<strong style="color:#ba2121">{}</strong>', "frozen")
        return "active"

    @admin.display(description="This period")
    def usage_this_period(self, team):
        wallet = current_wallet(team)
        start = wallet.period_start
        end = (
            wallet.period_end
            or quotas.period_bounds(
                getattr(_team_quota_or_none(team), "period", Period.MONTHLY), team.time_zone
            )[1]
        )
        ledger = reverse("admin:accounts_ledgerentry_changelist") + f"?team__id__exact={team.pk}"
        wallets = reverse("admin:accounts_wallet_changelist") + f"?team__id__exact={team.pk}"
        period = (
            f"{start:%Y-%m-%d} to {end:%Y-%m-%d %H:%M} ({team.time_zone})" if end else "one period, no reset"
        )
        return format_html(
            '{}<div style="margin-top:.4em">{} · <a href="{}">ledger</a> · <a href="{}">wallets</a></div>',
            wallet_bar(wallet),
            period,
            ledger,
            wallets,
        )

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        team = form.instance
        apply_budgets(team=team, actor=request.user)
        looser = looser_overrides(team)
        if looser:
            self.message_user(
                request,
                "These member quotas are now looser than the team's and the team's limit applies: "
                + "; ".join(looser)
                + ". Edit them to make the intent clear.",
                messages.WARNING,
            )

    # -- actions -------------------------------------------------------------------------------

    @admin.action(description="Top up this period's budget…", permissions=["change"])
    def top_up(self, request, queryset):
        form = TopUpForm(request.POST if "apply" in request.POST else None)
        if "apply" in request.POST and form.is_valid():
            amount = form.cleaned_data["amount"]
            done, skipped = [], []
            for team in queryset:
                wallet = current_wallet(team)
                if wallet.granted is None:
                    skipped.append(team.name)
                    continue
                wallet = quotas.wallet_top_up(team=team, amount=amount, actor=request.user)
                self.log_change(
                    request,
                    team,
                    f"Topped up {usd(amount)} for the period from {wallet.period_start:%Y-%m-%d} "
                    f"(budget now {usd(wallet.granted)}).",
                )
                done.append(team.name)
            if done:
                self.message_user(request, f"Topped up {usd(amount)}: {', '.join(done)}.", messages.SUCCESS)
            if skipped:
                self.message_user(
                    request,
                    f"Not topped up (no budget, so nothing to add to): {', '.join(skipped)}.",
                    messages.WARNING,
                )
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": "Top up the budget",
            "opts": self.model._meta,
            "teams": [(team, current_wallet(team)) for team in queryset],
            "queryset": queryset,
            "form": form,
            "action": "top_up",
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
            "media": self.media + form.media,
            "is_popup": IS_POPUP_VAR in request.GET,
        }
        return TemplateResponse(request, "admin/accounts/team/top_up.html", context)

    @admin.action(description="Reset the period (spending starts from zero)", permissions=["change"])
    def reset_period(self, request, queryset):
        for team in queryset:
            wallet = current_wallet(team)
            spent = wallet.spent
            quotas.wallet_reset_period(team=team, actor=request.user)
            self.log_change(
                request,
                team,
                f"Reset the period from {wallet.period_start:%Y-%m-%d}: {usd(spent)} spent forgiven.",
            )
        self.message_user(
            request, f"Period reset for {', '.join(t.name for t in queryset)}.", messages.SUCCESS
        )

    @admin.action(description="Freeze (no new jobs can start)", permissions=["change"])
    def freeze(self, request, queryset):
        self._set_frozen(request, queryset, True)

    @admin.action(description="Unfreeze", permissions=["change"])
    def unfreeze(self, request, queryset):
        self._set_frozen(request, queryset, False)

    def _set_frozen(self, request, queryset, frozen: bool) -> None:
        changed = []
        for team in queryset:
            quota = quotas.team_quota(team)
            if quota.frozen == frozen:
                continue
            TeamQuota.objects.filter(pk=quota.pk).update(frozen=frozen)
            self.log_change(request, team, "Froze the team." if frozen else "Unfroze the team.")
            changed.append(team.name)
        verb = "Frozen" if frozen else "Unfrozen"
        if changed:
            self.message_user(request, f"{verb}: {', '.join(changed)}.", messages.SUCCESS)
        else:
            self.message_user(request, f"Nothing to do: already {verb.lower()}.", messages.INFO)


# ---------------------------------------------------------------------------------------------
# Memberships and member quotas
# ---------------------------------------------------------------------------------------------


class MemberQuotaInline(admin.StackedInline):
    model = MemberQuota
    form = MemberQuotaForm
    formset = MemberQuotaFormSet
    max_num = 1
    extra = 1
    verbose_name = "own quota"
    verbose_name_plural = "Own quota: only stricter than the team's (empty fields: the team's)"
    fieldsets = [
        (None, {"fields": ["team_limits", ("budget_usd", "soft_budget_usd")]}),
        (
            "Limits",
            {
                "fields": [
                    ("max_concurrent_jobs", "max_jobs_per_hour", "max_video_seconds"),
                    "allowed_providers",
                    "allowed_models",
                ]
            },
        ),
    ]
    readonly_fields = ["team_limits"]

    @admin.display(description="The team's limits")
    def team_limits(self, member_q):
        membership = member_q.membership if member_q and member_q.membership_id else None
        if membership is None:
            return "—"
        return team_limits_summary(membership.team)


def team_limits_summary(team: Team) -> str:
    team_q = _team_quota_or_none(team)
    if team_q is None:
        return "no limits"
    parts = [
        f"budget {usd(team_q.budget_usd)} {team_q.get_period_display().lower()}"
        if team_q.budget_usd is not None
        else "no budget",
        f"{team_q.max_concurrent_jobs} jobs at once" if team_q.max_concurrent_jobs else "",
        f"{team_q.max_jobs_per_hour} jobs/h" if team_q.max_jobs_per_hour else "",
        f"videos ≤ {team_q.max_video_seconds} s" if team_q.max_video_seconds else "",
        f"providers {', '.join(team_q.allowed_providers)}" if team_q.allowed_providers else "",
        f"models {', '.join(team_q.allowed_models)}" if team_q.allowed_models else "",
        "FROZEN" if team_q.frozen else "",
    ]
    return "; ".join(p for p in parts if p)


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "team", "role", "own_budget", "usage", "created_at"]
    list_filter = ["role", "team"]
    search_fields = ["user__username", "team__name"]
    autocomplete_fields = ["user", "team"]
    list_select_related = ["user", "team", "team__quota", "quota"]
    readonly_fields = ["usage_this_period"]
    inlines = [MemberQuotaInline]

    def get_fields(self, request, obj=None):
        return ["team", "user", "role"] + (["usage_this_period"] if obj else [])

    @admin.display(description="Own budget", ordering="quota__budget_usd")
    def own_budget(self, membership):
        try:
            budget = membership.quota.budget_usd
        except MemberQuota.DoesNotExist:
            return "team's"
        return usd(budget) if budget is not None else "team's"

    @admin.display(description="This period")
    def usage(self, membership):
        return wallet_bar(current_wallet(membership.team, membership))

    @admin.display(description="This period")
    def usage_this_period(self, membership):
        return format_html(
            "{}<div>Team: {}</div>",
            wallet_bar(current_wallet(membership.team, membership)),
            team_limits_summary(membership.team),
        )

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        apply_budgets(team=form.instance.team, actor=request.user)


@admin.register(MemberQuota)
class MemberQuotaAdmin(admin.ModelAdmin):
    """Every member override in one list (also editable from the membership page)."""

    form = MemberQuotaForm
    list_display = ["membership", "team", "budget_usd", "max_concurrent_jobs", "max_jobs_per_hour", "usage"]
    list_filter = ["membership__team"]
    search_fields = ["membership__user__username", "membership__team__name"]
    autocomplete_fields = ["membership"]
    list_select_related = ["membership__user", "membership__team", "membership__team__quota"]

    @admin.display(description="Team", ordering="membership__team__name")
    def team(self, member_q):
        return member_q.membership.team

    @admin.display(description="This period")
    def usage(self, member_q):
        return wallet_bar(current_wallet(member_q.membership.team, member_q.membership))

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        apply_budgets(team=obj.membership.team, actor=request.user)

    def delete_model(self, request, obj):
        team = obj.membership.team
        super().delete_model(request, obj)
        apply_budgets(team=team, actor=request.user)

    def delete_queryset(self, request, queryset):
        teams = {q.membership.team for q in queryset.select_related("membership__team")}
        super().delete_queryset(request, queryset)
        for team in teams:
            apply_budgets(team=team, actor=request.user)


@admin.register(Invite)
class InviteAdmin(admin.ModelAdmin):
    list_display = ["team", "role", "created_by", "created_at", "expires_at", "state"]
    list_filter = ["role", "team"]
    # The token itself is never stored; its hash is useless to an admin.
    exclude = ["token_hash"]
    readonly_fields = [
        "team",
        "role",
        "created_by",
        "created_at",
        "expires_at",
        "used_at",
        "used_by",
        "revoked_at",
    ]

    def has_add_permission(self, request):
        return False  # invites are made on the members page, where the link is shown once


# ---------------------------------------------------------------------------------------------
# Read-only money: wallets, holds, the ledger
# ---------------------------------------------------------------------------------------------


class ReadOnlyAdmin(admin.ModelAdmin):
    """History is never edited here: view only, for every user, superusers included."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class WalletOfFilter(admin.SimpleListFilter):
    title = "wallet of"
    parameter_name = "of"

    def lookups(self, request, model_admin):
        return [("team", "The team"), ("member", "A member")]

    def queryset(self, request, queryset):
        if self.value() == "team":
            return queryset.filter(membership__isnull=True)
        if self.value() == "member":
            return queryset.filter(membership__isnull=False)
        return queryset


@admin.register(Wallet)
class WalletAdmin(ReadOnlyAdmin):
    list_display = ["team", "member", "period_start", "period_end", "usage", "granted", "balanced"]
    list_filter = ["team", WalletOfFilter, "period_start"]
    search_fields = ["team__name", "membership__user__username"]
    list_select_related = ["team", "membership__user"]
    date_hierarchy = "period_start"

    @admin.display(description="Member", ordering="membership__user__username")
    def member(self, wallet):
        return wallet.membership.user if wallet.membership_id else "(team)"

    @admin.display(description="Usage")
    def usage(self, wallet):
        return wallet_bar(wallet)

    @admin.display(description="Balanced", boolean=True)
    def balanced(self, wallet):
        """granted == available + reserved + spent (only meaningful with a budget)."""
        if wallet.granted is None:
            return None
        return wallet.granted == wallet.available + wallet.reserved + wallet.spent


@admin.register(Hold)
class HoldAdmin(ReadOnlyAdmin):
    list_display = ["job", "team", "status", "amount", "final_amount", "created_at", "closed_at"]
    list_filter = ["status", "team_wallet__team"]
    search_fields = ["job__prompt", "team_wallet__team__name"]
    list_select_related = ["job", "team_wallet__team"]
    date_hierarchy = "created_at"

    @admin.display(description="Team", ordering="team_wallet__team__name")
    def team(self, hold):
        return hold.team_wallet.team


@admin.register(LedgerEntry)
class LedgerEntryAdmin(ReadOnlyAdmin):
    list_display = ["when", "team", "user", "kind", "signed_amount", "job_link", "note"]
    list_display_links = ["when"]
    list_filter = [
        "kind",
        "team",
        ("user", admin.RelatedOnlyFieldListFilter),
        "provider",
        "model",
    ]
    date_hierarchy = "created_at"
    search_fields = ["note", "user__username", "team__name", "provider", "model", "job__prompt"]
    list_select_related = ["team", "user", "job"]
    list_per_page = 100

    @admin.display(description="When", ordering="created_at")
    def when(self, entry):
        return format_html('<span style="white-space:nowrap">{}</span>', f"{entry.created_at:%Y-%m-%d %H:%M}")

    @admin.display(description="Amount", ordering="amount")
    def signed_amount(self, entry):
        colour = "#ba2121" if entry.amount < 0 else "inherit"
        return format_html(
            '<span style="font-variant-numeric:tabular-nums;color:{}">{}</span>', colour, usd(entry.amount)
        )

    @admin.display(description="Job · provider · model", ordering="model")
    def job_link(self, entry):
        if entry.job_id is None:
            return "—"
        return format_html(
            '{}<div style="font-size:.85em;white-space:nowrap">{} · {}</div>',
            _admin_link(entry.job, str(entry.job.public_id)[:8]),
            entry.provider,
            entry.model,
        )

    def changelist_view(self, request, extra_context=None):
        response = super().changelist_view(request, extra_context)
        try:
            queryset = response.context_data["cl"].queryset
        except (AttributeError, KeyError):
            return response
        totals = queryset.order_by().values("kind").annotate(n=Count("id")).order_by("kind")
        sums = {row["kind"]: row for row in totals}
        amounts = dict(queryset.order_by().values_list("kind").annotate(total=Sum("amount")))
        response.context_data["ledger_totals"] = [
            (label, sums[kind]["n"], usd(amounts.get(kind)))
            for kind, label in LedgerEntry._meta.get_field("kind").choices
            if kind in sums
        ]
        return response


# ---------------------------------------------------------------------------------------------
# Prices
# ---------------------------------------------------------------------------------------------


def _price_choices(current: str | None = None):
    defaults = catalog.default_prices()
    groups: dict[str, list[tuple[str, str]]] = {}
    for key, price in defaults.items():
        groups.setdefault(key.split(":", 1)[0], []).append((key, f"{key}  (default {usd(price)})"))
    choices = [("", "---------")] + [(provider, items) for provider, items in groups.items()]
    if current and current not in defaults:
        choices.append(("Not in the catalog any more", [(current, f"{current}  (no catalog default)")]))
    return choices


class PriceOverrideForm(forms.ModelForm):
    key = forms.ChoiceField(
        label="Price key",
        help_text="provider:model:mode:unit, one of the catalog's prices; its default is shown next to it.",
    )

    class Meta:
        model = PriceOverride
        fields = ["key", "usd", "note"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        current = self.instance.key if self.instance.pk else self.initial.get("key")
        self.fields["key"].choices = _price_choices(current)

    def clean_key(self):
        key = self.cleaned_data["key"]
        if key not in catalog.default_prices():
            raise forms.ValidationError(
                "%(key)s is not a price in the catalog; pick one of the listed keys.", params={"key": key}
            )
        return key

    def clean_usd(self):
        value = self.cleaned_data["usd"]
        if value is not None and value < 0:
            raise forms.ValidationError("A price cannot be negative.")
        return value


@admin.register(PriceOverride)
class PriceOverrideAdmin(admin.ModelAdmin):
    form = PriceOverrideForm
    list_display = ["key", "usd", "catalog_default", "change", "note", "updated_at"]
    search_fields = ["key", "note"]
    readonly_fields = ["catalog_default", "updated_at"]

    def get_fields(self, request, obj=None):
        # Adding: the default is in the key's label; once saved it gets its own line.
        return ["key", "catalog_default", "usd", "note", "updated_at"] if obj else ["key", "usd", "note"]

    @admin.display(description="Catalog default")
    def catalog_default(self, override):
        default = catalog.default_prices().get(override.key) if override and override.key else None
        return usd(default) if default is not None else "— (not in the catalog)"

    @admin.display(description="vs default")
    def change(self, override):
        default = catalog.default_prices().get(override.key)
        if default is None or override.usd is None:
            return "—"
        if default == 0:
            return "—"
        pct = (override.usd - default) * 100 / default
        return f"{pct:+.0f}%"

    def get_urls(self):
        return [
            path(
                "table/",
                self.admin_site.admin_view(self.price_table_view),
                name="accounts_priceoverride_table",
            )
        ] + super().get_urls()

    def price_table_view(self, request):
        if not self.has_view_permission(request):
            raise PermissionDenied
        overrides = {o.key: o for o in PriceOverride.objects.all()}
        add_url = reverse("admin:accounts_priceoverride_add")
        rows = []
        for key, default in catalog.default_prices().items():
            override = overrides.pop(key, None)
            rows.append(
                {
                    "key": key,
                    "default": usd(default),
                    "override": usd(override.usd) if override else "",
                    "url": reverse("admin:accounts_priceoverride_change", args=[override.pk])
                    if override
                    else f"{add_url}?key={key}",
                    "overridden": override is not None,
                }
            )
        context = {
            **self.admin_site.each_context(request),
            "title": "Price table",
            "opts": self.model._meta,
            "rows": rows,
            "stale": list(overrides.values()),
            "can_change": self.has_change_permission(request) and self.has_add_permission(request),
        }
        return TemplateResponse(request, "admin/accounts/priceoverride/table.html", context)


# ---------------------------------------------------------------------------------------------
# The admin's own change history
# ---------------------------------------------------------------------------------------------


@admin.register(LogEntry)
class LogEntryAdmin(ReadOnlyAdmin):
    list_display = ["action_time", "user", "content_type", "object_link", "action", "message"]
    list_filter = ["action_flag", "content_type", ("user", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["object_repr", "change_message", "user__username"]
    date_hierarchy = "action_time"
    list_select_related = ["user", "content_type"]

    @admin.display(description="Object", ordering="object_repr")
    def object_link(self, entry):
        if entry.is_deletion():
            return entry.object_repr
        url = entry.get_admin_url()
        return format_html('<a href="{}">{}</a>', url, entry.object_repr) if url else entry.object_repr

    @admin.display(description="Action", ordering="action_flag")
    def action(self, entry):
        return {1: "added", 2: "changed", 3: "deleted"}.get(entry.action_flag, "?")

    @admin.display(description="Change")
    def message(self, entry):
        return entry.get_change_message()
