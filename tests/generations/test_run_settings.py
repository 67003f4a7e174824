"""The team's failover page (/team/failover/): owners and admins switch failover and order the
providers; members and viewers see it read-only; bad input re-renders the form with the error."""

from __future__ import annotations

import pytest
from django.urls import reverse

from generations.models import TeamRunSettings
from tests.factories import MembershipFactory, UserFactory
from wanweb.accounts.models import Role
from wanweb.quotas.models import TeamQuota

pytestmark = pytest.mark.django_db
URL = "/team/failover/"


@pytest.fixture(autouse=True)
def _two_vendors(monkeypatch):
    monkeypatch.setenv("FAL_KEY", "test-fal-key")
    monkeypatch.setenv("DASHSCOPE_API_KEY", "test-dashscope-key")


@pytest.fixture
def erin(acme):
    user = UserFactory(username="erin")
    MembershipFactory(team=acme, user=user, role=Role.ADMIN)
    return user


def test_the_url_is_the_named_one():
    assert reverse("generations:run-settings") == URL


def test_failover_is_off_by_default_and_the_page_offers_only_usable_providers(client, alice, acme):
    client.force_login(alice)
    html = client.get(URL).content.decode()
    assert (
        'name="failover_enabled"' in html and "checked" not in html.split('name="failover_enabled"')[1][:40]
    )
    assert 'value="fal"' in html and 'value="dashscope"' in html and 'value="simulator"' in html
    assert 'value="aimlapi"' not in html  # no key for it in this environment
    assert not TeamRunSettings.objects.exists()  # reading creates nothing


@pytest.mark.parametrize("who", ["alice", "erin"])
def test_owners_and_admins_turn_it_on_and_order_the_providers(client, request, acme, erin, who):
    client.force_login(request.getfixturevalue(who))
    response = client.post(
        URL, {"failover_enabled": "on", "order_1": "dashscope", "order_2": "", "order_3": "fal"}
    )
    assert response.status_code == 302 and response["Location"] == URL
    settings = TeamRunSettings.objects.get(team=acme)
    assert settings.failover_enabled is True and settings.provider_order == ["dashscope", "fal"]
    html = client.get(URL).content.decode()
    assert "Failover settings saved." in html
    assert '<option value="dashscope" selected>' in html.split('id="id_order_1"')[1].split("</select>")[0]
    client.post(URL, {"order_1": "fal"})  # the box unticked: off again
    settings.refresh_from_db()
    assert settings.failover_enabled is False and settings.provider_order == ["fal"]


@pytest.mark.parametrize("who", ["bob", "dave"])
def test_members_and_viewers_see_it_read_only_and_cannot_change_it(client, request, acme, who):
    TeamRunSettings.objects.create(team=acme, failover_enabled=True, provider_order=["fal", "dashscope"])
    client.force_login(request.getfixturevalue(who))
    html = client.get(URL).content.decode()
    assert 'id="run-settings-readonly"' in html and "<select" not in html
    assert "fal.ai" in html and "On" in html
    assert client.post(URL, {"order_1": "dashscope"}).status_code == 403
    assert TeamRunSettings.objects.get(team=acme).provider_order == ["fal", "dashscope"]


def test_a_provider_chosen_twice_re_renders_the_form_with_the_error(client, alice, acme):
    client.force_login(alice)
    response = client.post(URL, {"failover_enabled": "on", "order_1": "fal", "order_2": "fal"})
    assert response.status_code == 400
    html = response.content.decode()
    assert "fal.ai is chosen twice" in html and 'role="alert"' in html
    assert not TeamRunSettings.objects.exists()


@pytest.mark.parametrize(
    "data",
    [
        {"order_1": "aimlapi"},  # not configured for this team
        {"order_1": "nonsense"},
        {"order_1": "\x00"},
        {"order_1": "A" * 5000},
        {"order_99": "fal", "failover_enabled": "[]"},
    ],
)
def test_garbage_is_a_form_error_never_a_5xx(client, alice, acme, data):
    client.force_login(alice)
    response = client.post(URL, data)
    assert response.status_code in (302, 400)
    settings = TeamRunSettings.objects.filter(team=acme).first()
    assert settings is None or all(p in ("simulator", "fal", "dashscope") for p in settings.provider_order)
    if "order_99" not in data:
        assert response.status_code == 400


def test_a_provider_the_quota_forbids_is_not_offered(client, alice, acme):
    TeamQuota.objects.create(team=acme, allowed_providers=["simulator", "fal"])
    client.force_login(alice)
    assert 'value="dashscope"' not in client.get(URL).content.decode()
    assert client.post(URL, {"order_1": "dashscope"}).status_code == 400


def test_the_team_settings_nav_on_the_vendor_keys_page_links_to_it(client, bob):
    client.force_login(bob)
    html = client.get(reverse("accounts:vendor-keys")).content.decode()
    nav = html.split('aria-label="Team settings"')[1].split("</nav>")[0]
    assert f'href="{URL}"' in nav and 'aria-current="page" href="/team/vendor-keys/"' in nav
    nav = client.get(URL).content.decode().split('aria-label="Team settings"')[1].split("</nav>")[0]
    assert f'aria-current="page" href="{URL}"' in nav


def test_anonymous_visitors_are_sent_to_log_in(client):
    response = client.get(URL)
    assert response.status_code == 302 and "/login/" in response["Location"]
