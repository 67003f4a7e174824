"""Public share links: who may make and revoke them, and what a link shows (exactly its gallery)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from generations import sharing
from generations.assets import UploadedInput, asset_save_input
from generations.models import Collection, CollectionItem, ShareLink
from providers import media
from tests.factories import JobFactory, MembershipFactory, UserFactory, make_output, make_png
from wanweb.accounts.models import Membership, Role, hash_token

HX = {"HX-Request": "true"}
URL_RE = re.compile(r'id="new-share-url"[^>]*value="(?P<url>[^"]+)"')


@pytest.fixture
def erin(acme):
    """An admin of Acme."""
    user = UserFactory(username="erin")
    MembershipFactory(team=acme, user=user, role=Role.ADMIN)
    return user


@pytest.fixture
def owner(alice, acme):
    return Membership.objects.get(user=alice, team=acme)


@pytest.fixture
def collection(acme, alice):
    return Collection.objects.create(team=acme, name="Best of spring", created_by=alice)


def _create_url(project) -> str:
    return reverse("generations:share-create-project", args=[project.public_id])


def _token_of(url: str) -> str:
    return url.rstrip("/").rsplit("/", 1)[-1]


def _gallery(token: str, **query) -> str:
    url = reverse("share:gallery", args=[token])
    return url + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")


def _file(token: str, asset, variant: str = "file") -> str:
    return reverse(f"share:{variant}", args=[token, asset.public_id])


def _input_asset(job):
    data = make_png(64, 48, (10, 200, 10))
    upload = UploadedInput(slot="image", data=data, filename="in.png", info=media.probe(data))
    return asset_save_input(job=job, upload=upload, index=0)


# ---------------------------------------------------------------------------------------------
# The team side: create, list, revoke
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["alice", "erin"])
def test_owners_and_admins_create_a_link_and_see_its_url_once(client, request, acme_project, who, erin):
    client.force_login(request.getfixturevalue(who))
    response = client.post(
        _create_url(acme_project),
        {"share-label": "For the client", "share-expires_in_days": "7", "share-allow_downloads": "on"},
        headers=HX,
    )
    assert response.status_code == 200
    assert b"<html" not in response.content  # the panel fragment only
    url = URL_RE.search(response.content.decode())["url"]
    token = _token_of(url)
    assert url.startswith("http://testserver/s/") and len(token) == 43
    link = ShareLink.objects.get()
    assert link.project == acme_project and link.collection is None and link.team == acme_project.team
    assert link.label == "For the client" and link.allow_downloads
    assert timedelta(days=6, hours=23) < link.expires_at - timezone.now() <= timedelta(days=7)
    assert link.token_hash == hash_token(token)

    # Listed afterwards, but the raw URL is never shown again.
    listing = client.get(reverse("generations:share-list-project", args=[acme_project.public_id]), headers=HX)
    assert listing.status_code == 200
    assert b"For the client" in listing.content and token.encode() not in listing.content


def test_only_the_hash_of_the_token_is_stored(owner, acme_project):
    link, token = sharing.share_link_create(actor=owner, project=acme_project)
    row = ShareLink.objects.filter(pk=link.pk).values().get()
    assert all(token not in str(value) for value in row.values())
    assert row["token_hash"] == hash_token(token) != token


def test_without_htmx_the_create_renders_the_page_with_the_url(client, alice, acme_project):
    client.force_login(alice)
    response = client.post(_create_url(acme_project), {"share-label": ""})
    # Not a redirect: the URL can only ever be on this response.
    assert response.status_code == 200 and b"<html" in response.content
    assert URL_RE.search(response.content.decode())
    assert ShareLink.objects.get().expires_at is None


def test_an_invalid_expiry_is_shown_in_the_panel(client, alice, acme_project):
    client.force_login(alice)
    response = client.post(_create_url(acme_project), {"share-expires_in_days": "0"}, headers=HX)
    assert response.status_code == 200
    assert b"invalid-feedback" in response.content and not URL_RE.search(response.content.decode())
    assert not ShareLink.objects.exists()


@pytest.mark.parametrize("who", ["alice", "erin"])
def test_owners_and_admins_revoke(client, request, owner, acme_project, who, erin):
    link, token = sharing.share_link_create(actor=owner, project=acme_project)
    client.force_login(request.getfixturevalue(who))
    response = client.post(reverse("generations:share-revoke", args=[link.public_id]), headers=HX)
    assert response.status_code == 200 and b"Revoked" in response.content
    link.refresh_from_db()
    assert link.revoked_at is not None and link.state == "revoked"
    assert client.get(_gallery(token)).status_code == 404


@pytest.mark.parametrize("who", ["bob", "dave"])
def test_members_and_viewers_can_neither_create_list_nor_revoke(
    client, request, owner, acme_project, collection, who
):
    link, token = sharing.share_link_create(actor=owner, project=acme_project)
    client.force_login(request.getfixturevalue(who))
    for method, url in [
        ("get", reverse("generations:share-list-project", args=[acme_project.public_id])),
        ("post", _create_url(acme_project)),
        ("get", reverse("generations:share-list-collection", args=[collection.public_id])),
        ("post", reverse("generations:share-create-collection", args=[collection.public_id])),
        ("post", reverse("generations:share-revoke", args=[link.public_id])),
    ]:
        response = getattr(client, method)(url, headers=HX)
        assert response.status_code == 403, f"{method.upper()} {url} gave {response.status_code}"
    assert ShareLink.objects.count() == 1
    link.refresh_from_db()
    assert link.revoked_at is None


def test_the_share_button_is_only_for_owners_and_admins(client, alice, bob, acme_project):
    url = reverse("generations:project-detail", args=[acme_project.public_id])
    client.force_login(alice)
    assert b"share-button" in client.get(url).content
    client.force_login(bob)
    assert b"share-button" not in client.get(url).content


def test_the_collection_page_has_the_share_button_for_owners_and_admins(client, alice, bob, collection):
    url = reverse("generations:collection-detail", args=[collection.public_id])
    client.force_login(alice)
    response = client.get(url)
    assert response.status_code == 200
    assert (
        reverse("generations:share-list-collection", args=[collection.public_id]).encode() in response.content
    )
    client.force_login(bob)
    assert b"share-button" not in client.get(url).content


def test_the_full_share_page_works_without_htmx(client, alice, acme_project, collection):
    client.force_login(alice)
    for url in (
        reverse("generations:share-list-project", args=[acme_project.public_id]),
        reverse("generations:share-list-collection", args=[collection.public_id]),
    ):
        response = client.get(url)
        assert response.status_code == 200 and b"<html" in response.content
        assert b"Create public link" in response.content


def test_an_outsider_gets_404_on_every_share_url_with_an_id(client, owner, charlie, acme_project, collection):
    link, token = sharing.share_link_create(actor=owner, project=acme_project)
    client.force_login(charlie)
    for method, url in [
        ("get", reverse("generations:share-list-project", args=[acme_project.public_id])),
        ("post", _create_url(acme_project)),
        ("get", reverse("generations:share-list-collection", args=[collection.public_id])),
        ("post", reverse("generations:share-create-collection", args=[collection.public_id])),
        ("post", reverse("generations:share-revoke", args=[link.public_id])),
    ]:
        response = getattr(client, method)(url, {"share-label": "x"})
        assert response.status_code == 404, f"{method.upper()} {url} gave {response.status_code}"
    assert ShareLink.objects.count() == 1
    link.refresh_from_db()
    assert link.revoked_at is None


def test_the_service_refuses_another_teams_target(owner, umbrella_project):
    from django.core.exceptions import PermissionDenied

    with pytest.raises(PermissionDenied):
        sharing.share_link_create(actor=owner, project=umbrella_project)


def test_a_collection_link_is_made_from_the_collection(client, alice, collection):
    client.force_login(alice)
    response = client.post(
        reverse("generations:share-create-collection", args=[collection.public_id]), headers=HX
    )
    assert response.status_code == 200
    link = ShareLink.objects.get()
    assert link.collection == collection and link.project is None


# ---------------------------------------------------------------------------------------------
# The public side
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def shared(owner, acme, acme_project, umbrella_project):
    """A project link, and every kind of asset that it must not show."""
    job = JobFactory(project=acme_project, mode="t2i", model="wan2.6-t2i", prompt="a lighthouse at dawn")
    first, second = make_output(job, index=0), make_output(job, index=1)
    failed_job = JobFactory(project=acme_project, status="failed", prompt="a failed attempt")
    other_project = JobFactory(
        project=JobFactory(project__team=acme).project, prompt="another project of the team"
    )
    other_team = JobFactory(project=umbrella_project, prompt="umbrella secret")
    link, token = sharing.share_link_create(actor=owner, project=acme_project)
    return {
        "link": link,
        "token": token,
        "shown": [first, second],
        "input": _input_asset(job),
        "failed": make_output(failed_job),
        "other_project": make_output(other_project),
        "other_team": make_output(other_team),
    }


def test_a_logged_out_visitor_sees_exactly_the_shared_outputs(client, shared):
    response = client.get(_gallery(shared["token"]))
    assert response.status_code == 200
    html = response.content.decode()
    assert "Spring campaign" in html and "a lighthouse at dawn" in html and "wan2.6-t2i" in html
    for asset in shared["shown"]:
        assert str(asset.public_id) in html
    for name in ("input", "failed", "other_project", "other_team"):
        assert str(shared[name].public_id) not in html, name
    assert "a failed attempt" not in html and "umbrella secret" not in html
    assert "another project of the team" not in html
    # Nothing private: no form, no team bar, no links into the app.
    assert "<form" not in html and "team-switcher" not in html and "/projects/" not in html
    assert "csrf" not in html.lower()


def test_shared_files_are_served_without_login_with_their_sniffed_type(client, shared):
    asset = shared["shown"][0]
    response = client.get(_file(shared["token"], asset))
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert b"".join(response.streaming_content).startswith(b"\x89PNG")
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "no-referrer"
    assert response["Cache-Control"] == "private, max-age=300"
    assert "attachment" not in response.get("Content-Disposition", "")
    thumb = client.get(_file(shared["token"], asset, "thumb"))
    assert thumb.status_code == 200 and thumb["Content-Type"] == "image/webp"


@pytest.mark.parametrize("name", ["input", "failed", "other_project", "other_team"])
def test_any_asset_the_link_does_not_share_is_404(client, shared, name):
    for variant in ("file", "thumb"):
        response = client.get(_file(shared["token"], shared[name], variant))
        assert response.status_code == 404, variant
    response = client.get(reverse("share:output", args=[shared["token"], shared[name].public_id]))
    assert response.status_code == 404


def test_a_project_links_token_does_not_open_a_collections_asset(client, owner, shared, collection, acme):
    elsewhere = make_output(JobFactory(project=JobFactory(project__team=acme).project))
    CollectionItem.objects.create(collection=collection, asset=elsewhere)
    _, collection_token = sharing.share_link_create(actor=owner, collection=collection)
    assert client.get(_file(collection_token, elsewhere)).status_code == 200
    assert client.get(_file(shared["token"], elsewhere)).status_code == 404
    # ...and the other way round: the collection's token does not open the project's outputs.
    assert client.get(_file(collection_token, shared["shown"][0])).status_code == 404


def test_a_collection_link_shows_its_items_only(client, owner, shared, collection):
    chosen = shared["shown"][1]
    CollectionItem.objects.create(collection=collection, asset=chosen)
    # An input slipped into a collection is still never public.
    CollectionItem.objects.create(collection=collection, asset=shared["input"])
    _, token = sharing.share_link_create(actor=owner, collection=collection)
    html = client.get(_gallery(token)).content.decode()
    assert "Best of spring" in html and str(chosen.public_id) in html
    assert str(shared["shown"][0].public_id) not in html
    assert str(shared["input"].public_id) not in html
    assert client.get(_file(token, shared["input"])).status_code == 404


@pytest.mark.parametrize("change", ["revoked", "expired"])
def test_a_revoked_or_expired_link_is_404_for_the_page_and_every_file(client, shared, change):
    link, token = shared["link"], shared["token"]
    asset = shared["shown"][0]
    assert client.get(_gallery(token)).status_code == 200
    if change == "revoked":
        ShareLink.objects.filter(pk=link.pk).update(revoked_at=timezone.now())
    else:
        ShareLink.objects.filter(pk=link.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    page = client.get(_gallery(token))
    assert page.status_code == 404
    assert b"This link is not available" in page.content and b"noindex" in page.content
    assert page["Referrer-Policy"] == "no-referrer"
    for url in (
        _file(token, asset),
        _file(token, asset, "thumb"),
        reverse("share:output", args=[token, asset.public_id]),
    ):
        assert client.get(url).status_code == 404, url


@pytest.mark.parametrize("token", ["x" * 43, "short", "has.a.dot" * 5])
def test_an_unknown_or_malformed_token_is_404(client, shared, token):
    assert client.get(_gallery(token)).status_code == 404
    assert client.get(_file(token, shared["shown"][0])).status_code == 404


def test_the_page_is_kept_out_of_search_engines_and_referrers(client, shared):
    response = client.get(_gallery(shared["token"]))
    assert response["X-Robots-Tag"] == "noindex, nofollow"
    assert response["Referrer-Policy"] == "no-referrer"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "no-store" in response["Cache-Control"]
    assert b'<meta name="robots" content="noindex, nofollow">' in response.content
    # No session cookie or CSRF cookie for a visitor who only looks.
    assert not response.cookies


def test_downloads_only_when_the_link_allows_them(client, shared):
    token, asset = shared["token"], shared["shown"][0]
    assert b"?download=1" not in client.get(_gallery(token)).content
    assert client.get(_file(token, asset) + "?download=1").status_code == 404

    ShareLink.objects.filter(pk=shared["link"].pk).update(allow_downloads=True)
    assert b"?download=1" in client.get(_gallery(token)).content
    response = client.get(_file(token, asset) + "?download=1")
    assert response.status_code == 200
    assert response["Content-Disposition"] == f'attachment; filename="wanweb-{asset.public_id}.png"'


def test_each_view_is_counted(client, shared):
    link = shared["link"]
    assert link.view_count == 0 and link.last_viewed_at is None
    client.get(_gallery(shared["token"]))
    client.get(_gallery(shared["token"]))
    client.get(_file(shared["token"], shared["shown"][0]))  # files are not page views
    link.refresh_from_db()
    assert link.view_count == 2 and link.last_viewed_at is not None


def test_the_og_image_is_a_thumbnail_that_works_without_login(client, shared):
    html = client.get(_gallery(shared["token"])).content.decode()
    og_image = re.search(r'<meta property="og:image" content="([^"]+)"', html)[1]
    assert re.search(r'<meta property="og:title" content="Spring campaign"', html)
    assert re.search(r'<meta property="og:description" content="[^"]+"', html)
    # Absolute (crawlers need that), the newest output's thumbnail, through the link's own token.
    assert og_image == "http://testserver" + _file(shared["token"], shared["shown"][0], "thumb")
    response = client.get(og_image)
    assert response.status_code == 200 and response["Content-Type"] == "image/webp"


def test_the_output_page_shows_the_full_file_and_its_details(client, shared):
    asset = shared["shown"][1]
    response = client.get(reverse("share:output", args=[shared["token"], asset.public_id]))
    assert response.status_code == 200
    assert _file(shared["token"], asset).encode() in response.content
    assert b"a lighthouse at dawn" in response.content and b"wan2.6-t2i" in response.content
    assert response["X-Robots-Tag"] == "noindex, nofollow"


def test_the_gallery_is_paginated(client, owner, acme_project, monkeypatch):
    monkeypatch.setattr(sharing, "SHARE_PAGE_SIZE", 2)
    assets = [make_output(JobFactory(project=acme_project)) for _ in range(3)]
    _, token = sharing.share_link_create(actor=owner, project=acme_project)
    first = client.get(_gallery(token)).content.decode()
    second = client.get(_gallery(token, page=2)).content.decode()
    # Newest first: the last one made leads page 1.
    assert str(assets[2].public_id) in first and str(assets[1].public_id) in first
    assert str(assets[0].public_id) in second and str(assets[2].public_id) not in second
    assert 'href="?page=2"' in first
