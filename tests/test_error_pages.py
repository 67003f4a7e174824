"""Done-means (issue 11, item 11): a used invite link, a deleted job, an unknown URL or a refused
action show the app's own page with a next step, never Django's technical page, DEBUG or not."""

from __future__ import annotations

import uuid

import pytest

from tests.factories import JobFactory
from wanweb.accounts.models import Membership, Role
from wanweb.accounts.services import invite_accept, invite_create

pytestmark = pytest.mark.django_db

TECHNICAL = ("Using the URLconf", "Django tried these URL patterns", "Page not found at", "Raised by:")


def _assert_app_page(response, status: int, *texts: str) -> str:
    html = response.content.decode()
    assert response.status_code == status
    assert 'id="error-page"' in html and 'class="navbar' in html, html[:300]
    for text in TECHNICAL:
        assert text not in html
    for text in texts:
        assert text in html, text
    return html


@pytest.fixture(params=[True, False], ids=["debug", "no-debug"])
def debug(request, settings):
    settings.DEBUG = request.param
    return request.param


def test_a_used_invite_link_says_so_and_offers_to_log_in(client, debug, acme, alice, bob):
    invite, token = invite_create(actor=Membership.objects.get(team=acme, user=alice), role=Role.MEMBER)
    invite_accept(invite=invite, user=bob)
    html = _assert_app_page(client.get(f"/invite/{token}/"), 404, "This invite was already used")
    assert '<a class="btn btn-primary" href="/login/">Log in</a>' in html


def test_a_revoked_or_unknown_invite_says_so(client, debug, acme, alice):
    from django.utils import timezone

    invite, token = invite_create(actor=Membership.objects.get(team=acme, user=alice), role=Role.MEMBER)
    invite.revoked_at = timezone.now()
    invite.save()
    _assert_app_page(client.get(f"/invite/{token}/"), 404, "This invite was revoked")
    _assert_app_page(client.get("/invite/not-a-token/"), 404, "This invite link is not valid")


def test_a_deleted_job_says_what_happened_and_links_home(client, debug, alice, acme_project):
    job = JobFactory(project=acme_project, created_by=alice)
    url = f"/jobs/{job.public_id}/"
    job.delete()
    client.force_login(alice)
    html = _assert_app_page(client.get(url), 404, "This job does not exist: it may have been deleted")
    assert 'href="/">Go to your projects</a>' in html


def test_an_unknown_url_is_the_app_404(client, debug, alice):
    client.force_login(alice)
    _assert_app_page(client.get("/no/such/page/"), 404, "This page does not exist")
    # APPEND_SLASH still redirects first.
    assert client.get("/projects").status_code == 301


def test_an_anonymous_visitor_of_a_dead_url_is_offered_to_log_in(client, debug):
    html = _assert_app_page(client.get("/nothing-here/"), 404)
    assert 'href="/login/?next=%2Fnothing-here%2F">Log in</a>' in html


def test_a_refused_action_is_the_app_403_with_its_reason(client, debug, bob, acme_project):
    client.force_login(bob)  # a member: sharing is for owners and admins
    _assert_app_page(
        client.get(f"/projects/{acme_project.public_id}/share-links/"), 403, "You cannot do that"
    )


def test_another_teams_job_is_the_same_404_as_a_missing_one(client, debug, charlie, alice, acme_project):
    job = JobFactory(project=acme_project, created_by=alice)
    client.force_login(charlie)
    _assert_app_page(client.get(f"/jobs/{job.public_id}/"), 404, "This job does not exist")
    _assert_app_page(client.get(f"/jobs/{uuid.uuid4()}/"), 404, "This job does not exist")


def test_an_expired_form_is_the_app_403_not_djangos_csrf_page(debug, alice):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    _assert_app_page(client.post("/teams/", {"name": "Late"}), 403, "This form has expired")


def test_the_share_pages_own_404_is_kept(client, debug):
    response = client.get("/s/unknown-token/")
    assert response.status_code == 404
    html = response.content.decode()
    assert "This link is not available" in html and "Using the URLconf" not in html
