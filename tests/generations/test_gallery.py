"""The team gallery: filters, search, sort, keyset pages, favourites, fragments and outsiders."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from generations import gallery
from generations.models import Asset, Favourite
from tests.factories import JobFactory, ProjectFactory, make_output

HX = {"HX-Request": "true"}
GALLERY = "/gallery/"


def make_gallery_output(project, *, user=None, age_minutes: int = 0, index: int = 0, job=None, **job_fields):
    """A succeeded job with one real PNG output, `age_minutes` old (job and output alike)."""
    when = timezone.now() - timedelta(minutes=age_minutes)
    if job is None:
        job = JobFactory(project=project, created_by=user, created_at=when, **job_fields)
    asset = make_output(job, index=index)
    Asset.objects.filter(pk=asset.pk).update(created_at=when)
    asset.refresh_from_db()
    return asset


def _filters(**kwargs) -> gallery.GalleryFilters:
    return gallery.GalleryFilters(**kwargs)


def _ids(outputs) -> list:
    return [a.public_id for a in outputs]


def test_the_url_is_the_named_one():
    assert reverse("generations:team-gallery") == GALLERY


# -- selectors ----------------------------------------------------------------------------------


def test_it_lists_the_outputs_of_every_project_of_the_team_newest_first(acme, alice, acme_project):
    other = ProjectFactory(team=acme, name="Autumn", slug="autumn")
    old = make_gallery_output(acme_project, user=alice, age_minutes=30)
    new = make_gallery_output(other, user=alice, age_minutes=1)
    outputs = gallery.gallery_outputs(team=acme, user=alice, filters=_filters())
    assert _ids(outputs) == [new.public_id, old.public_id]
    oldest = gallery.gallery_outputs(team=acme, user=alice, filters=_filters(sort="oldest"))
    assert _ids(oldest) == [old.public_id, new.public_id]


def test_it_never_lists_inputs_or_another_teams_outputs(acme, alice, acme_project, umbrella_project):
    mine = make_gallery_output(acme_project, user=alice)
    make_gallery_output(umbrella_project)
    job = mine.job
    Asset.objects.create(
        job=job,
        role="input",
        index=0,
        kind="image",
        file=mine.file.name,
        content_type="image/png",
        size_bytes=1,
    )
    assert _ids(gallery.gallery_outputs(team=acme, user=alice, filters=_filters())) == [mine.public_id]


def test_each_filter_narrows_the_list(acme, alice, bob, acme_project):
    other = ProjectFactory(team=acme, name="Autumn", slug="autumn")
    a = make_gallery_output(acme_project, user=alice, mode="t2i", model="m-image", provider="simulator")
    b = make_gallery_output(
        other, user=bob, mode="t2v", model="m-video", provider="fal", age_minutes=3 * 24 * 60
    )
    c = make_gallery_output(other, user=bob, mode="t2v", model="m-video", provider="fal", status="failed")
    Favourite.objects.create(user=alice, asset=c)
    cases = {
        "project": (_filters(project=acme_project.public_id), [a]),
        "mode": (_filters(mode="t2v"), [c, b]),
        "model": (_filters(model="m-image"), [a]),
        "provider": (_filters(provider="fal"), [c, b]),
        "status": (_filters(status="failed"), [c]),
        "creator": (_filters(creator="alice"), [a]),
        "date_to": (_filters(date_to=(timezone.now() - timedelta(days=2)).date()), [b]),
        "date_from": (_filters(date_from=timezone.now().date()), [c, a]),
        "favourites": (_filters(favourites=True), [c]),
    }
    for name, (filters, expected) in cases.items():
        got = _ids(gallery.gallery_outputs(team=acme, user=alice, filters=filters))
        assert got == _ids(expected), name
    # Favourites are personal: bob has none.
    assert list(gallery.gallery_outputs(team=acme, user=bob, filters=_filters(favourites=True))) == []


def test_search_matches_the_prompt_and_the_rewritten_prompt(acme, alice, acme_project):
    fox = make_gallery_output(acme_project, user=alice, prompt="A red fox jumps over the fence")
    city = make_gallery_output(
        acme_project, user=alice, prompt="a city", actual_prompt="Neon city at night in the rain"
    )
    make_gallery_output(acme_project, user=alice, prompt="a quiet lake")

    def search(text):
        return set(_ids(gallery.gallery_outputs(team=acme, user=alice, filters=_filters(q=text))))

    assert search("fox") == {fox.public_id}
    assert search("neon rain") == {city.public_id}  # every word must match, in either prompt
    assert search("neon fox") == set()
    assert search("NEO") == {city.public_id}  # a prefix matches, whatever the case
    assert search("'&|!():*") == search("")  # tsquery syntax is not passed through


@pytest.mark.skipif(connection.vendor != "postgresql", reason="full-text stemming needs PostgreSQL")
def test_on_postgresql_search_is_full_text_with_stemming(acme, alice, acme_project):
    foxes = make_gallery_output(acme_project, user=alice, prompt="Two foxes running through snow")
    make_gallery_output(acme_project, user=alice, prompt="A foxglove garden")
    got = _ids(gallery.gallery_outputs(team=acme, user=alice, filters=_filters(q="fox running")))
    assert got == [foxes.public_id]  # "fox" matches "foxes", "running" matches "run(ning)"


def test_most_favourited_sorts_by_stars_then_newest(acme, alice, bob, acme_project):
    one = make_gallery_output(acme_project, user=alice, age_minutes=5)
    two = make_gallery_output(acme_project, user=alice, age_minutes=10)
    none = make_gallery_output(acme_project, user=alice, age_minutes=1)
    Favourite.objects.create(user=alice, asset=two)
    Favourite.objects.create(user=bob, asset=two)
    Favourite.objects.create(user=bob, asset=one)
    outputs = list(gallery.gallery_outputs(team=acme, user=alice, filters=_filters(sort="favourited")))
    assert _ids(outputs) == [two.public_id, one.public_id, none.public_id]
    assert [o.favourite_count for o in outputs] == [2, 1, 0]
    assert [o.is_favourite for o in outputs] == [True, False, False]


@pytest.mark.parametrize("sort", ["newest", "oldest", "favourited"])
def test_keyset_pages_cover_every_output_once(acme, alice, bob, acme_project, sort):
    outputs = [make_gallery_output(acme_project, user=alice, age_minutes=i % 4) for i in range(11)]
    for n, asset in enumerate(outputs[:5]):
        Favourite.objects.create(user=alice, asset=asset)
        if n % 2:
            Favourite.objects.create(user=bob, asset=asset)
    seen, after = [], None
    for _ in range(10):
        page, after = gallery.gallery_page(
            team=acme, user=alice, filters=_filters(sort=sort), after=after, size=4
        )
        seen += _ids(page)
        if after is None:
            break
    expected = _ids(gallery.gallery_outputs(team=acme, user=alice, filters=_filters(sort=sort)))
    assert seen == expected and len(set(seen)) == 11


@pytest.mark.parametrize("sort", ["newest", "oldest", "favourited"])
def test_the_keyset_condition_is_a_row_value_comparison_on_postgresql(acme, alice, acme_project, sort):
    from django.test.utils import CaptureQueriesContext

    outputs = [make_gallery_output(acme_project, user=alice, age_minutes=i % 3) for i in range(6)]
    first, after = gallery.gallery_page(team=acme, user=alice, filters=_filters(sort=sort), size=2)
    with CaptureQueriesContext(connection) as captured:
        second, _ = gallery.gallery_page(
            team=acme, user=alice, filters=_filters(sort=sort), after=after, size=2
        )
    page_sql = next(q["sql"] for q in captured.captured_queries if "LIMIT 3" in q["sql"])
    if connection.vendor == "postgresql":
        # The whole sort key in one row value: `(..., "created_at", "id") < (%s, ...)`.
        assert re.search(r'"generations_asset"\."created_at", "generations_asset"\."id"\) [<>] \(', page_sql)
    else:
        assert " OR " in page_sql  # SQLite: Django spells the same condition as ORs of prefixes
    assert len(set(_ids(first)) | set(_ids(second))) == 4 and len(outputs) == 6


def test_the_project_gallery_keyset_is_a_row_value_comparison_on_postgresql(acme_project):
    from django.test.utils import CaptureQueriesContext

    from generations import selectors
    from tests.factories import JobFactory

    for _ in range(5):
        JobFactory(project=acme_project)
    first, cursor = selectors.gallery_page(project=acme_project, size=2)
    with CaptureQueriesContext(connection) as captured:
        second, _ = selectors.gallery_page(project=acme_project, before=cursor, size=2)
    page_sql = next(q["sql"] for q in captured.captured_queries if "LIMIT 3" in q["sql"])
    if connection.vendor == "postgresql":
        assert '("generations_job"."created_at", "generations_job"."id") < (' in page_sql
        assert " OR " not in page_sql
    else:
        assert " OR " in page_sql
    assert not {j.pk for j in first} & {j.pk for j in second} and len(second) == 2


def test_a_foreign_or_bad_cursor_gives_an_empty_page(acme, alice, acme_project, umbrella_project):
    make_gallery_output(acme_project, user=alice)
    foreign = make_gallery_output(umbrella_project)
    assert gallery.gallery_page(team=acme, user=alice, filters=_filters(), after=foreign.public_id) == (
        [],
        None,
    )
    assert gallery.gallery_page(team=acme, user=alice, filters=_filters(), after="nonsense") == ([], None)


def test_the_page_query_count_does_not_grow_with_the_outputs(
    client, alice, acme_project, django_assert_max_num_queries
):
    for i in range(30):
        make_gallery_output(acme_project, user=alice, age_minutes=i)
    client.force_login(alice)
    client.get(GALLERY)  # warm the session
    with django_assert_max_num_queries(14):
        response = client.get(GALLERY)
    assert response.content.count(b'class="card job-card output-card"') == gallery.PAGE_SIZE


# -- the view -----------------------------------------------------------------------------------


def test_the_page_shows_cards_with_thumb_star_and_checkbox(client, bob, alice, acme_project):
    asset = make_gallery_output(acme_project, user=alice, prompt="a lighthouse at night")
    client.force_login(bob)
    response = client.get(GALLERY)
    assert response.status_code == 200
    body = response.content.decode()
    assert "<html" in body and 'id="gallery-filters"' in body
    assert "a lighthouse at night" in body
    assert reverse("generations:asset-thumb", args=[asset.public_id]) in body
    assert reverse("generations:asset-favourite", args=[asset.public_id]) in body
    assert f'name="ids" value="{asset.public_id}"' in body
    assert 'id="bulk-bar"' in body
    assert response["Vary"] and "HX-Request" in response["Vary"]


def test_a_video_card_does_not_preload(client, alice, acme_project):
    job = JobFactory(project=acme_project, created_by=alice, mode="t2v")
    asset = make_gallery_output(acme_project, job=job)
    Asset.objects.filter(pk=asset.pk).update(kind="video")
    client.force_login(alice)
    body = client.get(GALLERY).content.decode()
    assert 'preload="none"' in body and "hover-play" in body


def test_htmx_gets_only_the_results_and_load_more_only_the_cards(client, alice, acme_project):
    for i in range(gallery.PAGE_SIZE + 3):
        make_gallery_output(acme_project, user=alice, age_minutes=i, prompt=f"take {i}")
    client.force_login(alice)
    response = client.get(GALLERY, {"q": "take"}, headers=HX)
    body = response.content.decode()
    assert "<html" not in body and 'id="gallery-results"' in body and 'id="gallery-filters"' not in body
    assert body.count("output-card") >= gallery.PAGE_SIZE
    assert "after=" in body and "q=take" in body  # the next page keeps the filters
    last = Asset.objects.order_by("-created_at", "-id")[gallery.PAGE_SIZE - 1]
    more = client.get(GALLERY, {"q": "take", "after": str(last.public_id)}, headers=HX).content.decode()
    assert 'id="gallery-results"' not in more and more.count('class="card job-card output-card"') == 3
    assert "take 26" in more and "gallery-more" not in more


def test_empty_states_tell_no_outputs_from_nothing_matches(client, alice, acme_project):
    client.force_login(alice)
    assert b"No outputs yet" in client.get(GALLERY).content
    make_gallery_output(acme_project, user=alice, prompt="a boat")
    response = client.get(GALLERY, {"q": "zebra"}, headers=HX)
    assert b"Nothing matches" in response.content and b"No outputs yet" not in response.content


def test_bad_filter_values_are_ignored_not_errors(client, alice, acme_project):
    make_gallery_output(acme_project, user=alice, prompt="still here")
    client.force_login(alice)
    response = client.get(GALLERY, {"project": "nope", "date_from": "yesterday", "sort": "sideways"})
    assert response.status_code == 200 and b"still here" in response.content


def test_charlie_sees_nothing_of_acme(client, charlie, alice, acme_project, umbrella_project):
    make_gallery_output(acme_project, user=alice, prompt="acme secret prompt")
    make_gallery_output(umbrella_project, user=charlie, prompt="umbrella own prompt")
    client.force_login(charlie)
    for params in ({}, {"q": "secret"}, {"project": str(acme_project.public_id)}):
        body = client.get(GALLERY, params).content
        assert b"acme secret prompt" not in body and b"Spring campaign" not in body
    assert b"umbrella own prompt" in client.get(GALLERY).content


def test_anonymous_users_are_sent_to_log_in(client):
    response = client.get(GALLERY)
    assert response.status_code == 302 and "/login/" in response["Location"]


# -- favourites ---------------------------------------------------------------------------------


def _fav_url(asset):
    return reverse("generations:asset-favourite", args=[asset.public_id])


def test_the_star_toggles_and_returns_the_button(client, bob, alice, acme_project):
    asset = make_gallery_output(acme_project, user=alice)
    client.force_login(bob)
    on = client.post(_fav_url(asset), headers=HX)
    assert on.status_code == 200 and b"is-on" in on.content and b"<html" not in on.content
    assert b'aria-pressed="true"' in on.content
    assert Favourite.objects.filter(user=bob, asset=asset).exists()
    off = client.post(_fav_url(asset), headers=HX)
    assert b"is-on" not in off.content and not Favourite.objects.filter(user=bob, asset=asset).exists()


def test_viewers_may_star_favourites_are_personal(client, dave, alice, acme_project):
    asset = make_gallery_output(acme_project, user=alice)
    client.force_login(dave)
    response = client.post(_fav_url(asset), {"next": "/gallery/?favourites=on"})
    assert response.status_code == 302 and response["Location"] == "/gallery/?favourites=on"
    assert Favourite.objects.filter(user=dave, asset=asset).exists()


def test_a_non_htmx_star_never_redirects_off_site(client, alice, acme_project):
    asset = make_gallery_output(acme_project, user=alice)
    client.force_login(alice)
    response = client.post(_fav_url(asset), {"next": "https://evil.example/"})
    assert response["Location"] == GALLERY


def test_favourite_toggle_service_is_idempotent_per_call(alice, acme_project):
    asset = make_gallery_output(acme_project, user=alice)
    assert gallery.favourite_toggle(user=alice, asset=asset) is True
    assert gallery.favourite_toggle(user=alice, asset=asset) is False
    assert Favourite.objects.count() == 0


def test_charlie_gets_404_for_starring_an_acme_output_or_an_input(client, charlie, alice, acme_project):
    asset = make_gallery_output(acme_project, user=alice)
    client.force_login(charlie)
    assert client.post(_fav_url(asset)).status_code == 404
    client.force_login(alice)
    Asset.objects.filter(pk=asset.pk).update(role="input")
    assert client.post(_fav_url(asset)).status_code == 404
    assert Favourite.objects.count() == 0


def test_the_nav_links_to_the_gallery(client, alice):
    client.force_login(alice)
    body = client.get(reverse("generations:project-list")).content.decode()
    assert f'href="{GALLERY}"' in body
