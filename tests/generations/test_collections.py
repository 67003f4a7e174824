"""Collections: list, create, detail, rename, delete, remove items; who may do which; outsiders."""

from __future__ import annotations

import pytest
from django.urls import reverse

from generations import gallery
from generations.models import Collection, CollectionItem
from tests.generations.test_gallery import make_gallery_output
from wanweb.accounts.models import Membership

HX = {"HX-Request": "true"}


@pytest.fixture
def picks(acme, alice):
    return Collection.objects.create(
        team=acme, name="Client picks", description="For Friday", created_by=alice
    )


def _url(name, collection=None):
    return reverse(f"generations:{name}", args=[collection.public_id] if collection else [])


def _membership(user, team):
    return Membership.objects.get(user=user, team=team)


def test_the_list_shows_the_teams_collections_with_counts(client, dave, alice, picks, acme_project):
    for _ in range(3):
        CollectionItem.objects.create(collection=picks, asset=make_gallery_output(acme_project, user=alice))
    client.force_login(dave)
    response = client.get(_url("collection-list"))
    assert response.status_code == 200
    assert b"Client picks" in response.content and b"3 outputs" in response.content
    assert b'id="collection-form"' not in response.content  # viewers cannot create


def test_htmx_list_request_gets_the_listing_only(client, alice, picks):
    client.force_login(alice)
    response = client.get(_url("collection-list"), headers=HX)
    assert b"Client picks" in response.content and b"<html" not in response.content


def test_a_member_creates_a_collection_inline(client, bob, acme):
    client.force_login(bob)
    response = client.post(
        _url("collection-create"), {"name": "  Moodboard ", "description": "ideas"}, headers=HX
    )
    assert response.status_code == 200
    collection = Collection.objects.get(team=acme)
    assert collection.name == "Moodboard" and collection.created_by == bob
    assert b'hx-swap-oob="afterbegin:#collection-grid"' in response.content
    assert b'id="collection-form"' in response.content
    assert "collection-created" in response["HX-Trigger"]


def test_an_invalid_collection_rerenders_the_form(client, bob):
    client.force_login(bob)
    response = client.post(_url("collection-create"), {"name": "   "}, headers=HX)
    assert response.status_code == 200 and b"invalid-feedback" in response.content
    assert Collection.objects.count() == 0


def test_without_htmx_create_redirects_to_the_collection(client, bob, acme):
    client.force_login(bob)
    response = client.post(_url("collection-create"), {"name": "Plain"})
    collection = Collection.objects.get(team=acme)
    assert response.status_code == 302 and response["Location"] == _url("collection-detail", collection)


def test_viewers_cannot_create(client, dave):
    client.force_login(dave)
    assert client.post(_url("collection-create"), {"name": "Nope"}).status_code == 403
    assert Collection.objects.count() == 0


def test_the_detail_page_shows_its_outputs_only(client, bob, alice, picks, acme_project):
    inside = make_gallery_output(acme_project, user=alice, prompt="in the collection")
    make_gallery_output(acme_project, user=alice, prompt="not in it")
    CollectionItem.objects.create(collection=picks, asset=inside)
    client.force_login(bob)
    response = client.get(_url("collection-detail", picks))
    body = response.content.decode()
    assert response.status_code == 200 and "<html" in body
    assert "in the collection" in body and "not in it" not in body
    assert "{# share panel #}" not in body  # the marker is a template comment
    assert 'id="bulk-bar"' in body
    fragment = client.get(_url("collection-detail", picks), headers=HX).content.decode()
    assert "<html" not in fragment and "in the collection" in fragment


def test_an_empty_collection_says_so(client, alice, picks, acme_project):
    make_gallery_output(acme_project, user=alice)
    client.force_login(alice)
    assert b"This collection is empty" in client.get(_url("collection-detail", picks)).content


def test_the_share_panel_spot_is_in_the_header_actions():
    from pathlib import Path

    template = Path(__file__).resolve().parents[2] / "templates/generations/collection_detail.html"
    header = (
        template.read_text().split("{% partialdef collection-header %}")[1].split("{% endpartialdef %}")[0]
    )
    assert "{# share panel #}" in header


# -- rename / delete: the creator or an admin ----------------------------------------------------


def test_the_creator_renames_over_htmx(client, bob, acme):
    picks = Collection.objects.create(team=acme, name="Bob's", created_by=bob)
    client.force_login(bob)
    form = client.get(_url("collection-edit", picks), headers=HX)
    assert b'id="collection-header"' in form.content and b"<html" not in form.content
    response = client.post(
        _url("collection-edit", picks), {"name": "Renamed", "description": "new"}, headers=HX
    )
    assert response.status_code == 200 and b"Renamed" in response.content
    picks.refresh_from_db()
    assert (picks.name, picks.description) == ("Renamed", "new")


def test_without_htmx_the_edit_form_is_a_whole_page(client, alice, picks):
    client.force_login(alice)
    response = client.get(_url("collection-edit", picks))
    assert b"<html" in response.content and b'name="description"' in response.content


def test_an_invalid_rename_keeps_the_form(client, alice, picks):
    client.force_login(alice)
    response = client.post(_url("collection-edit", picks), {"name": ""}, headers=HX)
    assert b"invalid-feedback" in response.content
    picks.refresh_from_db()
    assert picks.name == "Client picks"


@pytest.mark.parametrize("who", ["bob", "dave"])
def test_other_members_and_viewers_cannot_rename_or_delete(client, request, who, picks):
    client.force_login(request.getfixturevalue(who))
    assert client.get(_url("collection-edit", picks)).status_code == 403
    assert client.post(_url("collection-edit", picks), {"name": "Mine now"}).status_code == 403
    assert client.post(_url("collection-delete", picks)).status_code == 403
    picks.refresh_from_db()
    assert picks.name == "Client picks"
    body = client.get(_url("collection-detail", picks)).content
    assert _url("collection-delete", picks).encode() not in body


def test_an_admin_may_rename_and_delete_any_collection(client, bob, acme, picks, acme_project, alice):
    Membership.objects.filter(user=bob, team=acme).update(role="admin")
    asset = make_gallery_output(acme_project, user=alice)
    CollectionItem.objects.create(collection=picks, asset=asset)
    client.force_login(bob)
    assert client.post(_url("collection-edit", picks), {"name": "By admin"}).status_code == 302
    response = client.post(_url("collection-delete", picks), headers=HX)
    assert response.status_code == 200 and response["HX-Redirect"] == _url("collection-list")
    assert not Collection.objects.filter(pk=picks.pk).exists()
    asset.refresh_from_db()  # the output itself stays
    assert CollectionItem.objects.count() == 0


# -- items ---------------------------------------------------------------------------------------


def test_a_member_removes_what_they_added_but_not_what_others_added(client, bob, alice, picks, acme_project):
    bobs = make_gallery_output(acme_project, user=bob)
    alices = make_gallery_output(acme_project, user=alice)
    CollectionItem.objects.create(collection=picks, asset=bobs, added_by=bob)
    CollectionItem.objects.create(collection=picks, asset=alices, added_by=alice)
    client.force_login(bob)
    response = client.post(
        _url("collection-remove", picks), {"ids": [str(bobs.public_id), str(alices.public_id)]}, headers=HX
    )
    assert response.status_code == 200
    assert "bulk-done" in response["HX-Trigger"] and "1 skipped" in response["HX-Trigger"]
    assert list(CollectionItem.objects.values_list("asset", flat=True)) == [alices.pk]


def test_the_creator_removes_any_item_and_the_grid_reloads(client, alice, bob, picks, acme_project):
    asset = make_gallery_output(acme_project, user=bob)
    CollectionItem.objects.create(collection=picks, asset=asset, added_by=bob)
    client.force_login(alice)
    response = client.post(_url("collection-remove", picks), {"ids": str(asset.public_id)}, headers=HX)
    assert "gallery-changed" in response["HX-Trigger"]
    assert CollectionItem.objects.count() == 0


def test_viewers_cannot_remove_items(client, dave, alice, picks, acme_project):
    asset = make_gallery_output(acme_project, user=alice)
    CollectionItem.objects.create(collection=picks, asset=asset, added_by=alice)
    client.force_login(dave)
    assert client.post(_url("collection-remove", picks), {"ids": str(asset.public_id)}).status_code == 403
    assert CollectionItem.objects.count() == 1


def test_adding_twice_keeps_one_item(alice, acme, picks, acme_project):
    asset = make_gallery_output(acme_project, user=alice)
    membership = _membership(alice, acme)
    assert gallery.collection_add(membership=membership, collection=picks, assets=[asset]) == 1
    assert gallery.collection_add(membership=membership, collection=picks, assets=[asset]) == 0
    assert CollectionItem.objects.count() == 1


def test_collection_add_refuses_another_teams_output(alice, acme, picks, umbrella_project):
    foreign = make_gallery_output(umbrella_project)
    gallery.collection_add(membership=_membership(alice, acme), collection=picks, assets=[foreign])
    assert CollectionItem.objects.count() == 0


# -- outsiders -----------------------------------------------------------------------------------


def test_charlie_gets_404_for_every_collection_url(client, charlie, alice, picks, acme_project):
    asset = make_gallery_output(acme_project, user=alice)
    CollectionItem.objects.create(collection=picks, asset=asset, added_by=alice)
    client.force_login(charlie)
    urls = [
        ("get", _url("collection-detail", picks)),
        ("get", _url("collection-detail", picks) + f"?after={asset.public_id}"),
        ("get", _url("collection-edit", picks)),
        ("post", _url("collection-edit", picks)),
        ("post", _url("collection-delete", picks)),
        ("post", _url("collection-remove", picks)),
    ]
    for method, url in urls:
        response = getattr(client, method)(url, {"name": "pwned", "ids": str(asset.public_id)})
        assert response.status_code == 404, f"{method} {url} gave {response.status_code}"
    body = client.get(_url("collection-list")).content
    assert str(picks.public_id).encode() not in body and b"For Friday" not in body
    picks.refresh_from_db()
    assert picks.name == "Client picks" and CollectionItem.objects.count() == 1
