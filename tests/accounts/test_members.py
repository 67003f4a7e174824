from __future__ import annotations

from django.urls import reverse

from wanweb.accounts.models import Membership, Role
from wanweb.accounts.services import invite_create

HX = {"HX-Request": "true"}


def _membership(user, team):
    return Membership.objects.get(user=user, team=team)


def test_it_lists_the_team_members(client, alice, bob, charlie):
    client.force_login(alice)
    response = client.get(reverse("accounts:member-list"))
    assert response.status_code == 200
    assert b"alice" in response.content and b"bob" in response.content
    assert b"charlie" not in response.content


def test_an_owner_changes_a_role_over_htmx(client, alice, bob, acme):
    client.force_login(alice)
    target = _membership(bob, acme)
    response = client.post(
        reverse("accounts:member-role", args=[target.public_id]), {"role": "admin"}, headers=HX
    )
    assert response.status_code == 200
    assert f'id="member-{target.public_id}"'.encode() in response.content
    assert b"<html" not in response.content
    target.refresh_from_db()
    assert target.role == Role.ADMIN


def test_a_member_cannot_change_roles(client, alice, bob, acme):
    client.force_login(bob)
    target = _membership(alice, acme)
    response = client.post(
        reverse("accounts:member-role", args=[target.public_id]), {"role": "viewer"}, headers=HX
    )
    assert b"Only owners and admins" in response.content
    target.refresh_from_db()
    assert target.role == Role.OWNER


def test_an_admin_cannot_make_an_owner(client, alice, bob, acme):
    admin = _membership(bob, acme)
    admin.role = Role.ADMIN
    admin.save()
    carol = Membership.objects.create(
        team=acme, user=type(bob).objects.create(username="carol"), role=Role.MEMBER
    )
    client.force_login(bob)
    response = client.post(
        reverse("accounts:member-role", args=[carol.public_id]), {"role": "owner"}, headers=HX
    )
    assert b"Only owners can make or unmake owners" in response.content
    carol.refresh_from_db()
    assert carol.role == Role.MEMBER


def test_the_last_owner_cannot_step_down_or_leave(client, alice, acme):
    client.force_login(alice)
    own = _membership(alice, acme)
    response = client.post(reverse("accounts:member-remove", args=[own.public_id]), headers=HX)
    assert b"at least one owner" in response.content
    assert Membership.objects.filter(pk=own.pk).exists()


def test_an_owner_removes_a_member(client, alice, bob, acme):
    client.force_login(alice)
    target = _membership(bob, acme)
    response = client.post(reverse("accounts:member-remove", args=[target.public_id]), headers=HX)
    assert response.status_code == 200 and response.content == b""
    assert not Membership.objects.filter(pk=target.pk).exists()


def test_a_member_leaves_the_team(client, bob, acme):
    client.force_login(bob)
    own = _membership(bob, acme)
    response = client.post(reverse("accounts:member-remove", args=[own.public_id]), headers=HX)
    assert response.status_code == 200
    assert response.headers["HX-Redirect"] == reverse("home")
    assert not Membership.objects.filter(pk=own.pk).exists()


def test_an_invite_link_makes_a_new_account_once(client, alice, acme):
    client.force_login(alice)
    response = client.post(reverse("accounts:invite-create"), {"role": "viewer", "days": 3}, headers=HX)
    assert response.status_code == 200
    url = response.context["new_invite_url"]
    assert url.startswith("http://testserver/invite/")
    client.logout()

    path = url.removeprefix("http://testserver")
    signup = client.post(
        path, {"username": "erin", "password1": "a-long-pass-phrase", "password2": "a-long-pass-phrase"}
    )
    assert signup.status_code == 302
    erin = Membership.objects.get(team=acme, user__username="erin")
    assert erin.role == Role.VIEWER
    # The link works once.
    client.logout()
    assert client.get(path).status_code == 404


def test_an_invite_signup_with_bad_input_creates_nothing(client, alice, acme):
    invite, token = invite_create(actor=_membership(alice, acme), role="member")
    response = client.post(
        reverse("accounts:invite-accept", args=[token]),
        {"username": "alice", "password1": "x", "password2": "y"},
    )
    assert response.status_code == 200
    assert b"That username is taken." in response.content and b"The two passwords differ." in response.content
    invite.refresh_from_db()
    assert invite.used_at is None
    assert Membership.objects.filter(team=acme).count() == 1


def test_a_logged_in_user_joins_with_an_invite(client, alice, charlie, acme):
    _, token = invite_create(actor=_membership(alice, acme), role="member")
    client.force_login(charlie)
    url = reverse("accounts:invite-accept", args=[token])
    assert b"Join Acme" in client.get(url).content
    client.post(url)
    assert _membership(charlie, acme).role == Role.MEMBER


def test_expired_and_revoked_invites_are_404(client, alice, acme):
    from datetime import timedelta

    actor = _membership(alice, acme)
    _, expired = invite_create(actor=actor, role="member", lifetime=timedelta(seconds=-1))
    revoked_invite, revoked = invite_create(actor=actor, role="member")
    client.force_login(alice)
    client.post(reverse("accounts:invite-revoke", args=[revoked_invite.public_id]), headers=HX)
    client.logout()
    assert client.get(reverse("accounts:invite-accept", args=[expired])).status_code == 404
    assert client.get(reverse("accounts:invite-accept", args=[revoked])).status_code == 404
    assert client.get(reverse("accounts:invite-accept", args=["made-up"])).status_code == 404


def test_only_the_hash_of_an_invite_token_is_stored(alice, acme):
    invite, token = invite_create(actor=_membership(alice, acme), role="member")
    assert token not in invite.token_hash and len(invite.token_hash) == 64


def test_members_cannot_make_invites(client, bob):
    client.force_login(bob)
    assert client.post(reverse("accounts:invite-create"), {"role": "member", "days": 3}).status_code == 403
