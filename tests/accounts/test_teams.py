from __future__ import annotations

import pytest
from django.urls import reverse

from wanweb.accounts.middleware import SESSION_KEY
from wanweb.accounts.models import Membership, Role, Team


def test_a_user_switches_between_their_teams(client, alice, umbrella, acme):
    Membership.objects.create(team=umbrella, user=alice, role=Role.VIEWER)
    client.force_login(alice)
    response = client.post(reverse("accounts:team-switch", args=[umbrella.public_id]))
    assert response.status_code == 302
    assert client.session[SESSION_KEY] == umbrella.pk
    page = client.get(reverse("generations:project-list"))
    assert b"Umbrella" in page.content


def test_it_creates_a_team_with_the_creator_as_owner(client, charlie):
    client.force_login(charlie)
    response = client.post(reverse("accounts:team-list"), {"name": "Skunkworks"})
    assert response.status_code == 302
    team = Team.objects.get(name="Skunkworks")
    assert Membership.objects.get(team=team, user=charlie).role == Role.OWNER
    assert client.session[SESSION_KEY] == team.pk


@pytest.mark.django_db
def test_a_user_without_a_team_is_sent_to_make_one(client):
    from tests.factories import UserFactory

    client.force_login(UserFactory(username="loner"))
    response = client.get(reverse("generations:project-list"))
    assert response.status_code == 302 and response.url == reverse("accounts:team-list")


@pytest.mark.django_db
def test_the_demo_command_is_idempotent_and_prints_the_login():
    from io import StringIO

    from django.core.management import call_command

    for _ in range(2):
        out = StringIO()
        call_command("demo", stdout=out)
    assert out.getvalue().splitlines() == ["username: demo", "password: wanweb-demo", "project: First steps"]
    assert Team.objects.filter(slug="demo-studio").count() == 1
    assert Membership.objects.filter(team__slug="demo-studio").count() == 1


@pytest.mark.django_db
def test_the_demo_command_never_resets_a_password_an_operator_changed():
    from io import StringIO

    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    call_command("demo", stdout=StringIO())
    user = get_user_model().objects.get(username="demo")
    user.set_password("an operator's own passphrase")
    user.is_superuser = False  # and demoted it
    user.save()

    out = StringIO()
    call_command("demo", stdout=out)  # what `make run` does at every start
    user.refresh_from_db()
    assert user.check_password("an operator's own passphrase")
    assert not user.check_password("wanweb-demo") and not user.is_superuser
    assert "wanweb-demo" not in out.getvalue() and "--reset-password" in out.getvalue()

    call_command("demo", "--reset-password", stdout=StringIO())
    user.refresh_from_db()
    assert user.check_password("wanweb-demo")


def test_the_login_page_logs_a_user_in(client, alice):
    response = client.post(
        reverse("login"), {"username": "alice", "password": "correct horse battery staple"}
    )
    assert response.status_code == 302
    assert client.get(reverse("generations:project-list")).status_code == 200


def test_an_htmx_post_without_the_csrf_token_is_refused(alice):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    strict.force_login(alice)
    response = strict.post(
        reverse("generations:project-create"), {"name": "x"}, headers={"HX-Request": "true"}
    )
    assert response.status_code == 403
