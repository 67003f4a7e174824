from __future__ import annotations

import pytest
from django.urls import reverse

from generations.models import Project
from tests.factories import ProjectFactory

HX = {"HX-Request": "true"}


@pytest.mark.django_db
def test_it_sends_anonymous_visitors_to_login(client, acme_project):
    for url in [
        reverse("generations:project-list"),
        reverse("generations:project-detail", args=[acme_project.public_id]),
        reverse("generations:project-edit", args=[acme_project.public_id]),
    ]:
        response = client.get(url)
        assert response.status_code == 302
        assert response.url.startswith(reverse("login"))


def test_it_lists_only_the_current_teams_projects(client, alice, acme_project, umbrella_project):
    client.force_login(alice)
    response = client.get(reverse("generations:project-list"))
    assert response.status_code == 200
    assert b"Spring campaign" in response.content
    assert b"Secret plans" not in response.content
    assert b"<html" in response.content


def test_it_returns_only_the_listing_for_htmx(client, alice, acme_project):
    client.force_login(alice)
    response = client.get(reverse("generations:project-list"), headers=HX)
    assert response.status_code == 200
    assert b'id="project-listing"' in response.content
    assert b"<html" not in response.content


def test_it_shows_archived_projects_on_their_own_tab(client, alice, acme, acme_project):
    ProjectFactory(team=acme, name="Old thing", archived_at="2026-01-01T00:00:00Z")
    client.force_login(alice)
    active = client.get(reverse("generations:project-list")).content
    archived = client.get(reverse("generations:project-list") + "?archived=1").content
    assert b"Old thing" not in active and b"Spring campaign" in active
    assert b"Old thing" in archived and b"Spring campaign" not in archived


def test_it_creates_a_project_over_htmx_and_returns_the_new_card(client, bob, acme):
    client.force_login(bob)
    response = client.post(
        reverse("generations:project-create"), {"name": "Launch film", "description": "Q3"}, headers=HX
    )
    assert response.status_code == 200
    project = Project.objects.get(team=acme, name="Launch film")
    assert project.slug == "launch-film" and project.created_by == bob
    # The fresh form replaces the old one; the card goes to the top of the grid out of band.
    assert b'id="project-form"' in response.content
    assert b'hx-swap-oob="afterbegin:#project-grid"' in response.content
    assert str(project.public_id).encode() in response.content
    assert "project-created" in response.headers["HX-Trigger"]


def test_it_rerenders_the_form_with_errors_and_creates_nothing(client, bob, acme):
    client.force_login(bob)
    response = client.post(reverse("generations:project-create"), {"name": "   "}, headers=HX)
    assert response.status_code == 200
    assert b"is-invalid" in response.content
    assert b"This field is required." in response.content or b"Give the project a name." in response.content
    assert not Project.objects.filter(team=acme).exists()


def test_it_gives_same_named_projects_distinct_slugs(client, bob, acme):
    client.force_login(bob)
    for _ in range(2):
        client.post(reverse("generations:project-create"), {"name": "Ideas"}, headers=HX)
    assert sorted(Project.objects.filter(team=acme).values_list("slug", flat=True)) == ["ideas", "ideas-2"]


def test_it_forbids_viewers_to_create_projects(client, dave, acme):
    client.force_login(dave)
    response = client.post(reverse("generations:project-create"), {"name": "Nope"}, headers=HX)
    assert response.status_code == 403
    assert not Project.objects.filter(team=acme).exists()


def test_it_hides_the_create_form_from_viewers(client, dave, acme_project):
    client.force_login(dave)
    response = client.get(reverse("generations:project-list"))
    assert b"Spring campaign" in response.content
    assert b'id="project-form"' not in response.content


def test_it_shows_a_project_to_its_team(client, bob, acme_project):
    client.force_login(bob)
    response = client.get(reverse("generations:project-detail", args=[acme_project.public_id]))
    assert response.status_code == 200
    assert b"Spring campaign" in response.content


def test_it_renames_a_project_over_htmx(client, bob, acme_project):
    client.force_login(bob)
    url = reverse("generations:project-edit", args=[acme_project.public_id])
    form = client.get(url, headers=HX)
    assert b'name="name"' in form.content and b"<html" not in form.content
    response = client.post(url, {"name": "Summer campaign", "description": "Moved"}, headers=HX)
    assert response.status_code == 200
    assert b'id="project-header"' in response.content and b"Summer campaign" in response.content
    acme_project.refresh_from_db()
    assert (acme_project.name, acme_project.slug, acme_project.description) == (
        "Summer campaign",
        "summer-campaign",
        "Moved",
    )


def test_it_keeps_the_name_when_a_rename_is_invalid(client, bob, acme_project):
    client.force_login(bob)
    url = reverse("generations:project-edit", args=[acme_project.public_id])
    response = client.post(url, {"name": ""}, headers=HX)
    assert response.status_code == 200 and b"is-invalid" in response.content
    acme_project.refresh_from_db()
    assert acme_project.name == "Spring campaign"


def test_it_forbids_viewers_to_rename(client, dave, acme_project):
    client.force_login(dave)
    url = reverse("generations:project-edit", args=[acme_project.public_id])
    assert client.get(url).status_code == 403
    assert client.post(url, {"name": "Hijacked"}).status_code == 403
    acme_project.refresh_from_db()
    assert acme_project.name == "Spring campaign"


def test_it_archives_and_restores_a_project(client, bob, acme_project):
    client.force_login(bob)
    url = reverse("generations:project-archive", args=[acme_project.public_id])
    client.post(url, {"archived": "1"})
    acme_project.refresh_from_db()
    assert acme_project.is_archived
    client.post(url, {"archived": "0"})
    acme_project.refresh_from_db()
    assert not acme_project.is_archived


def test_it_forbids_viewers_to_archive(client, dave, acme_project):
    client.force_login(dave)
    response = client.post(
        reverse("generations:project-archive", args=[acme_project.public_id]), {"archived": "1"}
    )
    assert response.status_code == 403
    acme_project.refresh_from_db()
    assert not acme_project.is_archived


def test_it_redirects_a_plain_post_after_create(client, bob, acme):
    client.force_login(bob)
    response = client.post(reverse("generations:project-create"), {"name": "No JS"})
    project = Project.objects.get(team=acme, name="No JS")
    assert response.status_code == 302
    assert response.url == reverse("generations:project-detail", args=[project.public_id])
