"""The API tokens page: a token is shown once, listed by its prefix, and revoked by its owner or an admin."""

from __future__ import annotations

import re

import pytest

from tests.api.conftest import bearer, make_token
from wanweb.api.models import ApiToken

pytestmark = pytest.mark.django_db


def test_a_new_token_is_shown_once_and_works_until_revoked(client, alice):
    client.force_login(alice)
    page = client.post("/team/api-tokens/", {"name": "batch", "expires_in_days": "7"})
    assert page.status_code == 200 and page["Cache-Control"] == "no-store"
    raw = re.search(r'id="new-api-token" value="([^"]+)"', page.content.decode()).group(1)
    token = ApiToken.objects.get()
    assert token.expires_at is not None and raw.startswith(token.prefix)
    listed = client.get("/team/api-tokens/").content.decode()
    assert raw not in listed and token.prefix in listed
    assert client.get("/api/v1/projects", **bearer(raw)).status_code == 200
    assert client.post(f"/team/api-tokens/{token.public_id}/revoke/").status_code == 302
    assert client.get("/api/v1/projects", **bearer(raw)).status_code == 401


def test_a_member_cannot_see_or_revoke_anothers_token_but_an_admin_can(client, alice, bob, acme):
    alices = make_token(alice, acme)
    token = ApiToken.objects.get(prefix=alices[:12])
    client.force_login(bob)
    assert token.prefix not in client.get("/team/api-tokens/").content.decode()
    assert client.post(f"/team/api-tokens/{token.public_id}/revoke/").status_code == 404
    token.refresh_from_db()
    assert token.revoked_at is None
    bobs = ApiToken.objects.get(prefix=make_token(bob, acme)[:12])
    client.force_login(alice)  # the owner
    assert client.post(f"/team/api-tokens/{bobs.public_id}/revoke/").status_code == 302
    bobs.refresh_from_db()
    assert bobs.revoked_at is not None


def test_a_token_follows_its_owners_current_role(client, bob, acme, acme_project):
    from wanweb.accounts.models import Membership

    raw = make_token(bob, acme)
    body = '{"name": "x"}'
    assert (
        client.post("/api/v1/projects", body, content_type="application/json", **bearer(raw)).status_code
        == 201
    )
    Membership.objects.filter(user=bob, team=acme).update(role="viewer")
    assert (
        client.post("/api/v1/projects", body, content_type="application/json", **bearer(raw)).status_code
        == 403
    )
    Membership.objects.filter(user=bob, team=acme).delete()
    assert client.get("/api/v1/projects", **bearer(raw)).status_code == 401


def test_a_bad_expiry_is_a_form_error(client, alice):
    client.force_login(alice)
    page = client.post("/team/api-tokens/", {"name": "x", "expires_in_days": "9999"})
    assert page.status_code == 200 and not ApiToken.objects.exists()
