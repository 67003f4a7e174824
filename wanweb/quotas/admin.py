"""Django admin for money: quotas on the team and membership pages, read-only wallets, holds and
ledger, and the price table.

Money moves only through `wanweb.quotas.services`: the admin edits limits, then asks the service
to bring this period's wallets in line (`quota_budget_changed`), and its actions (top up, reset
period, freeze) call the services too. Every action is written to Django's change history
(`LogEntry`), and every movement of money to the read-only ledger. This module holds admin
classes, forms and actions only.
"""

from __future__ import annotations

from decimal import Decimal

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.options import IS_POPUP_VAR
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Sum
from django.forms.models import BaseInlineFormSet
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, path, reverse
from django.utils.html import format_html

from providers import catalog
from wanweb.accounts import admin as accounts_admin
from wanweb.accounts.models import Membership, Team
from wanweb.quotas import selectors, services
from wanweb.quotas.charts import wallet_bar
from wanweb.quotas.models import Hold, LedgerEntry, MemberQuota, PriceOverride, TeamQuota, Wallet
from wanweb.quotas.money import format_usd as usd
from wanweb.quotas.selectors import LIMIT_FIELDS, LIST_FIELDS


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
        if team is None:
            return cleaned
        team_q = selectors.team_quota(team)
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


class MembershipInline(accounts_admin.MembershipInline):
    fields = ["user", "role", "member_quota", "member_usage", "created_at"]
    readonly_fields = ["member_quota", "member_usage", "created_at"]
    verbose_name_plural = "Memberships (a member's own quota can only be stricter than the team's)"

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("quota")

    @admin.display(description="Own quota")
    def member_quota(self, membership):
        if membership.pk is None:
            return "—"
        url = reverse("admin:accounts_membership_change", args=[membership.pk])
        member_q = selectors.member_quota(membership)
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
        return wallet_bar(selectors.wallet_of_current_period(team=membership.team, membership=membership))


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


admin.site.unregister(Team)


@admin.register(Team)
class TeamAdmin(accounts_admin.TeamAdmin):
    list_display = ["name", "slug", "member_count", "budget", "usage", "state"]
    list_filter = [QuotaStateFilter, "quota__period"]
    inlines = [TeamQuotaInline, MembershipInline]
    readonly_fields = ["usage_this_period"]
    fieldsets = [
        (None, {"fields": ["name", "slug", "time_zone"]}),
        ("Vendor keys", {"fields": ["operator_keys_allowed"]}),
        ("Spend", {"fields": ["usage_this_period"]}),
    ]
    actions = ["top_up", "reset_period", "freeze", "unfreeze"]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("quota")

    def get_fieldsets(self, request, obj=None):
        if obj is None:  # nothing has been spent by a team that does not exist yet
            return [(None, {"fields": ["name", "slug", "time_zone", "operator_keys_allowed"]})]
        return super().get_fieldsets(request, obj)

    @admin.display(description="Budget", ordering="quota__budget_usd")
    def budget(self, team):
        quota = selectors.team_quota(team)
        if quota.budget_usd is None:
            return "—"
        return f"{usd(quota.budget_usd)} {quota.get_period_display().lower()}"

    @admin.display(description="This period")
    def usage(self, team):
        return wallet_bar(selectors.wallet_of_current_period(team=team, membership=None))

    @admin.display(description="State")
    def state(self, team):
        if selectors.team_quota(team).frozen:
            return format_html('<strong style="color:#ba2121">{}</strong>', "frozen")
        return "active"

    @admin.display(description="This period")
    def usage_this_period(self, team):
        wallet = selectors.wallet_of_current_period(team=team, membership=None)
        start, end = wallet.period_start, wallet.period_end
        ledger = reverse("admin:quotas_ledgerentry_changelist") + f"?team__id__exact={team.pk}"
        wallets = reverse("admin:quotas_wallet_changelist") + f"?team__id__exact={team.pk}"
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
        services.quota_budget_changed(team=team, actor=request.user)
        looser = selectors.member_quotas_looser_than_team(team)
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
                wallet = selectors.wallet_of_current_period(team=team, membership=None)
                if wallet.granted is None:
                    skipped.append(team.name)
                    continue
                wallet = services.wallet_top_up(team=team, amount=amount, actor=request.user)
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
            "teams": [
                (team, selectors.wallet_of_current_period(team=team, membership=None)) for team in queryset
            ],
            "queryset": queryset,
            "form": form,
            "action": "top_up",
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
            "media": self.media + form.media,
            "is_popup": IS_POPUP_VAR in request.GET,
        }
        return TemplateResponse(request, "admin/quotas/team/top_up.html", context)

    @admin.action(description="Reset the period (spending starts from zero)", permissions=["change"])
    def reset_period(self, request, queryset):
        for team in queryset:
            wallet = selectors.wallet_of_current_period(team=team, membership=None)
            spent = wallet.spent
            services.wallet_reset_period(team=team, actor=request.user)
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
            if not services.team_freeze(team=team, frozen=frozen):
                continue
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
        return selectors.team_limits_summary(membership.team)


admin.site.unregister(Membership)


@admin.register(Membership)
class MembershipAdmin(accounts_admin.MembershipAdmin):
    list_display = ["user", "team", "role", "own_budget", "usage", "created_at"]
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
        return wallet_bar(selectors.wallet_of_current_period(team=membership.team, membership=membership))

    @admin.display(description="This period")
    def usage_this_period(self, membership):
        return format_html(
            "{}<div>Team: {}</div>",
            wallet_bar(selectors.wallet_of_current_period(team=membership.team, membership=membership)),
            selectors.team_limits_summary(membership.team),
        )

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        services.quota_budget_changed(team=form.instance.team, actor=request.user)


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
        return wallet_bar(
            selectors.wallet_of_current_period(team=member_q.membership.team, membership=member_q.membership)
        )

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        services.quota_budget_changed(team=obj.membership.team, actor=request.user)

    def delete_model(self, request, obj):
        team = obj.membership.team
        super().delete_model(request, obj)
        services.quota_budget_changed(team=team, actor=request.user)

    def delete_queryset(self, request, queryset):
        teams = {q.membership.team for q in queryset.select_related("membership__team")}
        super().delete_queryset(request, queryset)
        for team in teams:
            services.quota_budget_changed(team=team, actor=request.user)


# ---------------------------------------------------------------------------------------------
# Read-only money: wallets, holds, the ledger
# ---------------------------------------------------------------------------------------------


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
class WalletAdmin(accounts_admin.ReadOnlyAdmin):
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
class HoldAdmin(accounts_admin.ReadOnlyAdmin):
    list_display = ["job", "team", "status", "amount", "final_amount", "created_at", "closed_at"]
    list_filter = ["status", "team_wallet__team"]
    search_fields = ["job__prompt", "team_wallet__team__name"]
    list_select_related = ["job", "team_wallet__team"]
    date_hierarchy = "created_at"

    @admin.display(description="Team", ordering="team_wallet__team__name")
    def team(self, hold):
        return hold.team_wallet.team


@admin.register(LedgerEntry)
class LedgerEntryAdmin(accounts_admin.ReadOnlyAdmin):
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
                name="quotas_priceoverride_table",
            )
        ] + super().get_urls()

    def price_table_view(self, request):
        if not self.has_view_permission(request):
            raise PermissionDenied
        overrides = {o.key: o for o in PriceOverride.objects.all()}
        add_url = reverse("admin:quotas_priceoverride_add")
        rows = []
        for key, default in catalog.default_prices().items():
            override = overrides.pop(key, None)
            rows.append(
                {
                    "key": key,
                    "default": usd(default),
                    "override": usd(override.usd) if override else "",
                    "url": reverse("admin:quotas_priceoverride_change", args=[override.pk])
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
        return TemplateResponse(request, "admin/quotas/priceoverride/table.html", context)
