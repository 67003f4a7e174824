"""Django admin for quotas, prices and spend: pages, read-only history, actions, validation."""

from __future__ import annotations

from decimal import Decimal
from html.parser import HTMLParser

import pytest
from django.contrib.admin.models import CHANGE, LogEntry
from django.urls import reverse

from tests.factories import JobFactory
from wanweb.accounts.models import Membership
from wanweb.quotas import services as quotas
from wanweb.quotas.models import LedgerEntry, LedgerKind, MemberQuota, PriceOverride, TeamQuota, Wallet

pytestmark = pytest.mark.django_db


# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------


class _FormFields(HTMLParser):
    """The values a browser would submit from the admin's change form (inputs, selects, textareas)."""

    def __init__(self) -> None:
        super().__init__()
        self.data: dict[str, str] = {}
        self._in_form = self._done = False
        self._select: str | None = None
        self._select_first: str | None = None
        self._textarea: str | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if self._done:
            return
        if tag == "form" and (a.get("id") or "").endswith("_form"):
            self._in_form = True
        if not self._in_form:
            return
        name = a.get("name")
        if tag == "input" and name:
            kind = (a.get("type") or "text").lower()
            if kind in ("checkbox", "radio"):
                if "checked" in a:
                    self.data[name] = a.get("value") or "on"
            elif kind not in ("submit", "button", "file"):
                self.data[name] = a.get("value") or ""
        elif tag == "select" and name:
            self._select, self._select_first = name, None
        elif tag == "option" and self._select:
            value = a.get("value") or ""
            if self._select_first is None:
                self._select_first = value
            if "selected" in a:
                self.data[self._select] = value
        elif tag == "textarea" and name:
            self._textarea = name
            self.data[name] = ""

    def handle_endtag(self, tag):
        if tag == "select" and self._select:
            self.data.setdefault(self._select, self._select_first or "")
            self._select = None
        elif tag == "textarea":
            self._textarea = None
        elif tag == "form" and self._in_form:
            self._in_form, self._done = False, True

    def handle_data(self, data):
        if self._textarea:
            self.data[self._textarea] += data.lstrip("\n")


def form_data(response) -> dict[str, str]:
    parser = _FormFields()
    parser.feed(response.content.decode())
    parser.data.pop("_addanother", None)
    parser.data.pop("_continue", None)
    return parser.data


def membership(user, team):
    return Membership.objects.get(user=user, team=team)


def reserve(user, team, project, cost="0.10"):
    job = JobFactory(project=project, created_by=user, status="queued", cost_estimate=Decimal(cost))
    quotas.quota_reserve(membership=membership(user, team), job=job, video_seconds=None)
    return job


def assert_balanced(wallet: Wallet) -> None:
    wallet.refresh_from_db()
    assert wallet.granted == wallet.available + wallet.reserved + wallet.spent


def team_url(team, what="change"):
    return reverse(f"admin:accounts_team_{what}", args=[team.pk] if what == "change" else None)


@pytest.fixture
def spend(acme, alice, bob, acme_project):
    """Acme with a $1 monthly budget, bob with $0.50 of his own; bob spent $0.10 and has $0.20 reserved."""
    TeamQuota.objects.create(team=acme, budget_usd=Decimal("1.00"))
    MemberQuota.objects.create(membership=membership(bob, acme), budget_usd=Decimal("0.50"))
    done = reserve(bob, acme, acme_project, "0.10")
    quotas.quota_settle(job=done)
    reserve(bob, acme, acme_project, "0.20")
    return acme


# ---------------------------------------------------------------------------------------------
# Pages
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "accounts_team_changelist",
        "accounts_team_add",
        "accounts_membership_changelist",
        "quotas_memberquota_changelist",
        "quotas_memberquota_add",
        "quotas_wallet_changelist",
        "quotas_hold_changelist",
        "quotas_ledgerentry_changelist",
        "quotas_priceoverride_changelist",
        "quotas_priceoverride_add",
        "quotas_priceoverride_table",
        "admin_logentry_changelist",
        "generations_job_changelist",
    ],
)
def test_admin_pages_render(admin_client, spend, name):
    response = admin_client.get(reverse(f"admin:{name}"))
    assert response.status_code == 200


def test_team_pages_show_usage_bars_and_inlines(admin_client, spend, bob):
    listing = admin_client.get(team_url(spend, "changelist")).content.decode()
    assert 'class="usage"' in listing
    assert "$0.10</b> spent" in listing and "$0.20 reserved</span>" in listing
    assert "$1.00 monthly" in listing

    page = admin_client.get(team_url(spend)).content.decode()
    assert 'id="quota-group"' in page  # TeamQuota inline
    assert 'id="memberships-group"' in page  # Membership inline
    assert "budget $0.50" in page  # bob's override summary, linking to his membership page
    assert reverse("admin:accounts_membership_change", args=[membership(bob, spend).pk]) in page


def test_change_pages_render(admin_client, spend, bob):
    bob_m = membership(bob, spend)
    wallet = Wallet.objects.filter(membership=bob_m).first()
    hold = bob_m.wallets.first() and LedgerEntry.objects.first()
    for url in [
        reverse("admin:accounts_membership_change", args=[bob_m.pk]),
        reverse("admin:quotas_memberquota_change", args=[bob_m.quota.pk]),
        reverse("admin:quotas_wallet_change", args=[wallet.pk]),
        reverse("admin:quotas_ledgerentry_change", args=[hold.pk]),
    ]:
        assert admin_client.get(url).status_code == 200, url


def test_ledger_list_filters_and_totals(admin_client, spend):
    url = reverse("admin:quotas_ledgerentry_changelist")
    response = admin_client.get(url)
    filters = [f if isinstance(f, str) else f[0] for f in response.context["cl"].model_admin.list_filter]
    assert filters == ["kind", "team", "user", "provider", "model"]
    assert response.context["cl"].date_hierarchy == "created_at"
    page = response.content.decode()
    assert "Reserve $0.30 (2)" in page
    filtered = admin_client.get(url, {"kind__exact": "settle", "q": "bob"})
    assert "Settle $0.10 (1)" in filtered.content.decode()
    assert [e.kind for e in filtered.context["cl"].result_list] == ["settle"]
    assert admin_client.get(url, {"created_at__year": "2000"}).status_code == 200


# ---------------------------------------------------------------------------------------------
# Read-only history
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("model", ["ledgerentry", "wallet", "hold"])
def test_money_history_is_read_only(admin_client, spend, model):
    from wanweb.quotas.models import Hold

    obj = {"ledgerentry": LedgerEntry, "wallet": Wallet, "hold": Hold}[model].objects.first()
    before = {"ledgerentry": LedgerEntry, "wallet": Wallet, "hold": Hold}[model].objects.count()
    assert admin_client.get(reverse(f"admin:quotas_{model}_add")).status_code == 403
    assert admin_client.post(reverse(f"admin:quotas_{model}_add"), {}).status_code == 403
    change = reverse(f"admin:quotas_{model}_change", args=[obj.pk])
    page = admin_client.get(change)
    assert page.status_code == 200 and 'name="_save"' not in page.content.decode()  # view only
    assert admin_client.post(change, {"amount": "999", "note": "x"}).status_code == 403
    delete = reverse(f"admin:quotas_{model}_delete", args=[obj.pk])
    assert admin_client.post(delete, {"post": "yes"}).status_code == 403
    changelist = reverse(f"admin:quotas_{model}_changelist")
    assert "delete_selected" not in admin_client.get(changelist).content.decode()
    response = admin_client.post(
        changelist, {"action": "delete_selected", "_selected_action": [obj.pk], "post": "yes"}
    )
    assert response.status_code in (200, 302)
    assert {"ledgerentry": LedgerEntry, "wallet": Wallet, "hold": Hold}[model].objects.count() == before


# ---------------------------------------------------------------------------------------------
# Actions
# ---------------------------------------------------------------------------------------------


def _action(client, team, action, **extra):
    return client.post(
        team_url(team, "changelist"), {"action": action, "_selected_action": [team.pk], **extra}
    )


def _logged(team, text):
    return LogEntry.objects.filter(
        object_id=str(team.pk), action_flag=CHANGE, change_message__contains=text
    ).exists()


def test_top_up_asks_for_an_amount_then_adds_it_to_this_period(admin_client, spend):
    ask = _action(admin_client, spend, "top_up")
    assert ask.status_code == 200
    assert b'name="amount"' in ask.content and b"Acme" in ask.content
    assert not LedgerEntry.objects.filter(kind=LedgerKind.TOP_UP).exists()

    invalid = _action(admin_client, spend, "top_up", apply="1", amount="-5")
    assert invalid.status_code == 200 and b"errorlist" in invalid.content

    done = _action(admin_client, spend, "top_up", apply="1", amount="2.50")
    assert done.status_code == 302
    wallet = quotas.wallet_current(team=spend, membership=None)
    assert wallet.granted == Decimal("3.50")
    assert_balanced(wallet)
    entry = LedgerEntry.objects.get(kind=LedgerKind.TOP_UP)
    assert entry.amount == Decimal("2.50") and entry.user.is_superuser
    assert _logged(spend, "Topped up $2.50")


def test_top_up_skips_a_team_without_a_budget(admin_client, acme):
    response = _action(admin_client, acme, "top_up", apply="1", amount="5")
    assert response.status_code == 302
    assert not LedgerEntry.objects.filter(kind=LedgerKind.TOP_UP).exists()
    messages = [str(m) for m in response.wsgi_request._messages]
    assert any("no budget" in m for m in messages)


def test_reset_period_forgives_this_periods_spending(admin_client, spend, bob):
    response = _action(admin_client, spend, "reset_period")
    assert response.status_code == 302
    team_wallet = quotas.wallet_current(team=spend, membership=None)
    bob_wallet = quotas.wallet_current(team=spend, membership=membership(bob, spend))
    assert team_wallet.spent == 0 and bob_wallet.spent == 0
    assert team_wallet.reserved == Decimal("0.20")  # running jobs keep their holds
    assert_balanced(team_wallet)
    assert_balanced(bob_wallet)
    resets = LedgerEntry.objects.filter(kind=LedgerKind.RESET)
    assert resets.count() == 2 and {e.amount for e in resets} == {Decimal("-0.10")}
    assert _logged(spend, "Reset the period")


def test_freeze_and_unfreeze(admin_client, acme, bob, acme_project):
    _action(admin_client, acme, "freeze")
    assert TeamQuota.objects.get(team=acme).frozen
    assert _logged(acme, "Froze the team.")
    with pytest.raises(quotas.QuotaExceeded, match="frozen"):
        reserve(bob, acme, acme_project)
    assert "frozen" in admin_client.get(team_url(acme, "changelist")).content.decode()

    _action(admin_client, acme, "unfreeze")
    assert not TeamQuota.objects.get(team=acme).frozen
    assert _logged(acme, "Unfroze the team.")
    reserve(bob, acme, acme_project)


# ---------------------------------------------------------------------------------------------
# Budgets edited in the admin apply to this period's wallets
# ---------------------------------------------------------------------------------------------


def test_team_budget_edit_applies_to_the_current_wallet(admin_client, spend):
    url = team_url(spend)
    data = form_data(admin_client.get(url))
    assert data["quota-0-budget_usd"] == "1.0000"
    data["quota-0-budget_usd"] = "0.25"
    response = admin_client.post(url, data)
    assert response.status_code == 302, response.content.decode()[:3000]
    wallet = quotas.wallet_current(team=spend, membership=None)
    assert wallet.granted == Decimal("0.30")  # never below what is already spent and reserved
    assert wallet.available == 0
    assert_balanced(wallet)
    adjust = LedgerEntry.objects.get(kind=LedgerKind.ADJUST)
    assert adjust.amount == Decimal("-0.70") and adjust.user.is_superuser
    assert LogEntry.objects.filter(object_id=str(spend.pk), change_message__icontains="budget").exists()


def test_a_top_up_survives_a_later_budget_edit(admin_client, spend):
    _action(admin_client, spend, "top_up", apply="1", amount="2")
    url = team_url(spend)
    data = form_data(admin_client.get(url))
    data["quota-0-budget_usd"] = "3"
    assert admin_client.post(url, data).status_code == 302
    wallet = quotas.wallet_current(team=spend, membership=None)
    assert wallet.granted == Decimal("5")
    assert_balanced(wallet)


def test_team_budget_on_a_new_team_quota(admin_client, acme, bob, acme_project):
    reserve(bob, acme, acme_project, "0.10")  # wallets exist, without a budget
    url = team_url(acme)
    data = form_data(admin_client.get(url))
    data["quota-0-budget_usd"] = "5"
    assert admin_client.post(url, data).status_code == 302
    wallet = quotas.wallet_current(team=acme, membership=None)
    assert (wallet.granted, wallet.available, wallet.reserved) == (
        Decimal("5"),
        Decimal("4.90"),
        Decimal("0.10"),
    )


def test_member_budget_edit_applies_to_the_members_wallet(admin_client, spend, bob):
    bob_m = membership(bob, spend)
    url = reverse("admin:accounts_membership_change", args=[bob_m.pk])
    data = form_data(admin_client.get(url))
    data["quota-0-budget_usd"] = "0.40"
    response = admin_client.post(url, data)
    assert response.status_code == 302, response.content.decode()[:3000]
    wallet = quotas.wallet_current(team=spend, membership=bob_m)
    assert (wallet.granted, wallet.available) == (Decimal("0.40"), Decimal("0.10"))
    assert_balanced(wallet)

    # Deleting the override: bob falls back to the team's budget only.
    data = form_data(admin_client.get(url))
    data["quota-0-DELETE"] = "on"
    assert admin_client.post(url, data).status_code == 302
    wallet.refresh_from_db()
    assert wallet.granted is None and not MemberQuota.objects.filter(membership=bob_m).exists()


def test_member_quota_admin_add_applies_the_budget(admin_client, spend, alice):
    alice_m = membership(alice, spend)
    response = admin_client.post(
        reverse("admin:quotas_memberquota_add"),
        {"membership": alice_m.pk, "budget_usd": "0.75", "allowed_providers": "[]", "allowed_models": "[]"},
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    assert quotas.wallet_current(team=spend, membership=alice_m).granted == Decimal("0.75")


# ---------------------------------------------------------------------------------------------
# A member's quota can only be stricter than the team's
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("budget_usd", "2.00", "at most $1.00"),
        ("max_concurrent_jobs", "5", "at most 2"),
        ("max_jobs_per_hour", "50", "at most 10"),
        ("max_video_seconds", "20", "at most 8"),
        ("allowed_providers", '["simulator", "fal"]', "Not allowed for the team: fal"),
        ("allowed_models", '["wan-sim", "wan2.6-t2v"]', "Not allowed for the team: wan2.6-t2v"),
    ],
)
def test_member_override_must_be_stricter(admin_client, acme, bob, field, value, message):
    TeamQuota.objects.create(
        team=acme,
        budget_usd=Decimal("1.00"),
        max_concurrent_jobs=2,
        max_jobs_per_hour=10,
        max_video_seconds=8,
        allowed_providers=["simulator"],
        allowed_models=["wan-sim"],
    )
    url = reverse("admin:accounts_membership_change", args=[membership(bob, acme).pk])
    data = form_data(admin_client.get(url))
    data[f"quota-0-{field}"] = value
    response = admin_client.post(url, data)
    assert response.status_code == 200
    errors = response.context["inline_admin_formsets"][0].formset.forms[0].errors
    assert list(errors) == [field]
    assert message in " ".join(errors[field])
    assert not MemberQuota.objects.exists()

    # The same through the MemberQuota admin.
    response = admin_client.post(
        reverse("admin:quotas_memberquota_add"),
        {
            "membership": membership(bob, acme).pk,
            "allowed_providers": "[]",
            "allowed_models": "[]",
            field: value,
        },
    )
    assert response.status_code == 200
    assert message in " ".join(response.context["adminform"].form.errors[field])


def test_stricter_override_is_accepted_and_unset_team_limits_allow_anything(admin_client, acme, bob):
    TeamQuota.objects.create(team=acme, budget_usd=Decimal("1.00"))
    url = reverse("admin:accounts_membership_change", args=[membership(bob, acme).pk])
    data = form_data(admin_client.get(url))
    data.update({"quota-0-budget_usd": "0.05", "quota-0-max_concurrent_jobs": "9"})
    data["quota-0-allowed_providers"] = '["simulator"]'
    assert admin_client.post(url, data).status_code == 302
    quota = MemberQuota.objects.get()
    assert (quota.budget_usd, quota.max_concurrent_jobs, quota.allowed_providers) == (
        Decimal("0.05"),
        9,
        ["simulator"],
    )


def test_quota_lists_must_name_catalog_entries(admin_client, acme):
    url = team_url(acme)
    data = form_data(admin_client.get(url))
    data["quota-0-allowed_providers"] = '["simulator", "nope"]'
    data["quota-0-soft_budget_usd"] = "3"
    data["quota-0-budget_usd"] = "2"
    response = admin_client.post(url, data)
    assert response.status_code == 200
    errors = response.context["inline_admin_formsets"][0].formset.forms[0].errors
    assert "Not in the catalog: nope." in errors["allowed_providers"]
    assert "soft_budget_usd" in errors


# ---------------------------------------------------------------------------------------------
# Prices
# ---------------------------------------------------------------------------------------------


def test_price_override_key_must_be_in_the_catalog(admin_client):
    url = reverse("admin:quotas_priceoverride_add")
    response = admin_client.post(url, {"key": "simulator:nope:t2v:second:*", "usd": "0.02"})
    assert response.status_code == 200
    assert "key" in response.context["adminform"].form.errors
    assert not PriceOverride.objects.exists()

    key = "simulator:wan-sim:t2v:second:*"
    assert admin_client.post(url, {"key": key, "usd": "0.02", "note": "test"}).status_code == 302
    override = PriceOverride.objects.get()
    assert override.usd == Decimal("0.02")
    assert LogEntry.objects.filter(object_id=str(override.pk), action_flag=1).exists()

    listing = admin_client.get(reverse("admin:quotas_priceoverride_changelist")).content.decode()
    assert "$0.01" in listing and "+100%" in listing  # the catalog default next to the override
    change = admin_client.get(reverse("admin:quotas_priceoverride_change", args=[override.pk]))
    assert "Catalog default" in change.content.decode()


def test_price_table_lists_every_catalog_key(admin_client):
    from providers import catalog

    PriceOverride.objects.create(key="simulator:wan-sim:t2i:image", usd=Decimal("0.05"))
    page = admin_client.get(reverse("admin:quotas_priceoverride_table")).content.decode()
    for key in catalog.default_prices():
        assert f"<code>{key}</code>" in page
    assert "<strong>$0.05</strong>" in page
    # The add page takes a key from the table's link.
    add = admin_client.get(reverse("admin:quotas_priceoverride_add"), {"key": "simulator:wan-sim:t2v:image"})
    assert 'value="simulator:wan-sim:t2v:image" selected' in add.content.decode()


def test_an_override_changes_the_estimate_of_new_jobs(admin_client, acme, bob, acme_project):
    from generations import services

    key = "simulator:wan-sim:t2v:second:*"
    admin_client.post(reverse("admin:quotas_priceoverride_add"), {"key": key, "usd": "0.05"})
    job = services.job_create(
        membership=membership(bob, acme),
        project=acme_project,
        provider="simulator",
        model="wan-sim",
        mode="t2v",
        prompt="a boat",
        params={"duration": 2, "sim_delay": 0.1},
    )
    assert job.cost_estimate == Decimal("0.10")
