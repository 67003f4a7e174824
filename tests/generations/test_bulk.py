"""Bulk actions on selected outputs: zip download, move, add to a collection, delete; roles; foreign ids."""

from __future__ import annotations

import io
import json
import os
import uuid
import zipfile

import pytest
from django.http import StreamingHttpResponse
from django.urls import reverse

from generations import gallery
from generations.models import Asset, Collection, CollectionItem, Job
from tests.factories import JobFactory, ProjectFactory, make_output, make_png
from tests.generations.test_gallery import make_gallery_output
from wanweb.accounts.models import Membership

HX = {"HX-Request": "true"}


def _url(name):
    return reverse(f"generations:{name}")


def _ids(*assets):
    return [str(a.public_id) for a in assets]


@pytest.fixture
def autumn(acme, alice):
    return ProjectFactory(team=acme, name="Autumn", slug="autumn", created_by=alice)


# -- the zip ------------------------------------------------------------------------------------


def _zip_of(response) -> zipfile.ZipFile:
    assert isinstance(response, StreamingHttpResponse)
    return zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))


def test_the_zip_streams_every_file_byte_for_byte_with_a_manifest(client, dave, alice, bob, acme_project):
    job = JobFactory(
        project=acme_project,
        created_by=alice,
        prompt="two red foxes",
        params={"size": "1024*1024", "seed": 7},
        seed=7,
        actual_prompt="Two red foxes in the snow, cinematic",
    )
    first = make_output(job, index=0, data=make_png(color=(1, 2, 3)))
    second = make_output(job, index=1, data=make_png(color=(4, 5, 6)))
    other = make_gallery_output(acme_project, user=bob, prompt="a blue boat")
    client.force_login(dave)  # viewers may download
    response = client.post(_url("bulk-download"), {"ids": _ids(first, second, other), "label": "Picks"})
    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    assert response["Content-Disposition"].startswith('attachment; filename="wanweb-picks-')
    archive = _zip_of(response)
    assert archive.testzip() is None
    manifest = json.loads(archive.read("manifest.json"))
    assert manifest["count"] == 3 and manifest["missing"] == []
    entries = {e["asset"]: e for e in manifest["outputs"]}
    for asset in (first, second, other):
        entry = entries[str(asset.public_id)]
        with asset.file.open("rb") as handle:
            assert archive.read(entry["file"]) == handle.read()
        assert entry["file"].startswith("spring-campaign/")
    entry = entries[str(first.public_id)]
    assert entry["job"] == str(job.public_id) and entry["project"] == "Spring campaign"
    assert (entry["mode"], entry["provider"], entry["model"]) == ("t2i", "simulator", "wan-sim")
    assert entry["prompt"] == "two red foxes" and entry["actual_prompt"].startswith("Two red foxes")
    assert entry["params"] == {"size": "1024*1024", "seed": 7} and entry["seed"] == 7
    assert entry["created_at"] == job.created_at.isoformat()
    assert all(info.compress_type == zipfile.ZIP_STORED for info in archive.infolist())


def test_the_zip_is_produced_in_chunks_not_at_once(alice, acme_project, settings):
    job = JobFactory(project=acme_project, created_by=alice)
    # A PNG signature over random bytes: stored (the type is sniffed from the head), incompressible.
    big = b"\x89PNG\r\n\x1a\n" + os.urandom(600_000)
    from generations.assets import asset_save_output

    asset = asset_save_output(job=job, index=0, data=big)
    chunks = list(
        gallery.zip_stream([Asset.objects.select_related("job__project").get(pk=asset.pk)], chunk_size=64_000)
    )
    assert len(chunks) > 5 and max(len(c) for c in chunks) < 200_000
    archive = zipfile.ZipFile(io.BytesIO(b"".join(chunks)))
    assert archive.read(archive.namelist()[0]) == big


def test_a_file_gone_from_storage_is_listed_as_missing(client, alice, acme_project):
    keep = make_gallery_output(acme_project, user=alice)
    gone = make_gallery_output(acme_project, user=alice)
    os.remove(gone.file.path)
    client.force_login(alice)
    archive = _zip_of(client.post(_url("bulk-download"), {"ids": _ids(keep, gone)}))
    manifest = json.loads(archive.read("manifest.json"))
    assert [e["asset"] for e in manifest["outputs"]] == [str(keep.public_id)]
    assert [m["asset"] for m in manifest["missing"]] == [str(gone.public_id)]


def test_foreign_and_junk_ids_never_reach_the_zip(client, alice, acme_project, umbrella_project):
    mine = make_gallery_output(acme_project, user=alice)
    foreign = make_gallery_output(umbrella_project)
    client.force_login(alice)
    ids = [*_ids(mine, foreign), "junk", str(uuid.uuid4())]
    archive = _zip_of(client.post(_url("bulk-download"), {"ids": ids}))
    manifest = json.loads(archive.read("manifest.json"))
    assert [e["asset"] for e in manifest["outputs"]] == [str(mine.public_id)]
    assert len(archive.namelist()) == 2


def test_more_than_the_cap_is_refused(client, alice, acme_project):
    client.force_login(alice)
    ids = [str(uuid.uuid4()) for _ in range(gallery.BULK_MAX + 1)]
    for name in ("bulk-download", "bulk-move", "bulk-collect", "bulk-delete"):
        response = client.post(_url(name), {"ids": ids})
        assert response.status_code == 400 and b"at most 500" in response.content


def test_bulk_endpoints_only_accept_post(client, alice):
    client.force_login(alice)
    for name in ("bulk-download", "bulk-move", "bulk-collect", "bulk-delete"):
        assert client.get(_url(name)).status_code == 405


# -- move -----------------------------------------------------------------------------------------


def test_moving_moves_whole_jobs_to_the_other_project(client, alice, acme_project, autumn):
    job = JobFactory(project=acme_project, created_by=alice)
    first, _second = make_output(job, index=0), make_output(job, index=1)
    client.force_login(alice)
    response = client.post(
        _url("bulk-move"), {"ids": _ids(first), "project": str(autumn.public_id)}, headers=HX
    )
    assert response.status_code == 200
    assert "Moved 1 job" in response["HX-Trigger"] and "gallery-changed" in response["HX-Trigger"]
    job.refresh_from_db()
    assert job.project == autumn and job.assets.count() == 2


def test_a_member_moves_only_their_own_jobs(client, bob, alice, acme_project, autumn):
    bobs = make_gallery_output(acme_project, user=bob)
    alices = make_gallery_output(acme_project, user=alice)
    client.force_login(bob)
    response = client.post(
        _url("bulk-move"), {"ids": _ids(bobs, alices), "project": str(autumn.public_id)}, headers=HX
    )
    assert "1 skipped" in response["HX-Trigger"]
    assert Job.objects.get(pk=bobs.job_id).project == autumn
    assert Job.objects.get(pk=alices.job_id).project == acme_project


def test_an_admin_moves_anyones_jobs(client, bob, acme, alice, acme_project, autumn):
    Membership.objects.filter(user=bob, team=acme).update(role="admin")
    alices = make_gallery_output(acme_project, user=alice)
    client.force_login(bob)
    client.post(_url("bulk-move"), {"ids": _ids(alices), "project": str(autumn.public_id)})
    assert Job.objects.get(pk=alices.job_id).project == autumn


def test_viewers_cannot_move_delete_or_collect(client, dave, alice, acme, acme_project, autumn):
    asset = make_gallery_output(acme_project, user=alice)
    picks = Collection.objects.create(team=acme, name="Picks", created_by=alice)
    client.force_login(dave)
    data = {"ids": _ids(asset), "project": str(autumn.public_id), "collection": str(picks.public_id)}
    for name in ("bulk-move", "bulk-collect", "bulk-delete"):
        assert client.post(_url(name), data).status_code == 403, name
    assert Job.objects.get(pk=asset.job_id).project == acme_project
    assert CollectionItem.objects.count() == 0


def test_a_target_project_of_another_team_or_archived_is_refused(
    client, alice, acme_project, umbrella_project, autumn
):
    from django.utils import timezone

    asset = make_gallery_output(acme_project, user=alice)
    autumn.archived_at = timezone.now()
    autumn.save()
    client.force_login(alice)
    for target in (umbrella_project, autumn, None):
        data = {"ids": _ids(asset), "project": str(target.public_id) if target else "junk"}
        response = client.post(_url("bulk-move"), data, headers=HX)
        assert response.status_code == 200 and "Choose a project" in response["HX-Trigger"]
    assert Job.objects.get(pk=asset.job_id).project == acme_project


def test_without_htmx_a_bulk_action_redirects_back_with_a_message(client, alice, acme_project, autumn):
    asset = make_gallery_output(acme_project, user=alice)
    client.force_login(alice)
    response = client.post(
        _url("bulk-move"),
        {"ids": _ids(asset), "project": str(autumn.public_id), "next": "/gallery/?q=x"},
        follow=False,
    )
    assert response.status_code == 302 and response["Location"] == "/gallery/?q=x"


# -- add to a collection ------------------------------------------------------------------------


def test_adding_to_an_existing_collection_reports_repeats(client, bob, alice, acme, acme_project):
    picks = Collection.objects.create(team=acme, name="Picks", created_by=alice)
    a, b = make_gallery_output(acme_project, user=alice), make_gallery_output(acme_project, user=alice)
    CollectionItem.objects.create(collection=picks, asset=a)
    client.force_login(bob)  # members may add to any collection of the team
    response = client.post(
        _url("bulk-collect"), {"ids": _ids(a, b), "collection": str(picks.public_id)}, headers=HX
    )
    assert "Added 1 output" in response["HX-Trigger"] and "1 already there" in response["HX-Trigger"]
    assert set(picks.items.values_list("asset", flat=True)) == {a.pk, b.pk}
    assert picks.items.get(asset=b).added_by == bob


def test_adding_to_a_new_collection_creates_it(client, bob, acme, alice, acme_project):
    a = make_gallery_output(acme_project, user=alice)
    client.force_login(bob)
    client.post(
        _url("bulk-collect"), {"ids": _ids(a), "collection": "", "new_collection": "Fresh"}, headers=HX
    )
    fresh = Collection.objects.get(team=acme, name="Fresh")
    assert fresh.created_by == bob and list(fresh.items.values_list("asset", flat=True)) == [a.pk]


def test_another_teams_collection_is_not_found(client, alice, charlie, umbrella, acme_project):
    theirs = Collection.objects.create(team=umbrella, name="Theirs", created_by=charlie)
    a = make_gallery_output(acme_project, user=alice)
    client.force_login(alice)
    response = client.post(
        _url("bulk-collect"), {"ids": _ids(a), "collection": str(theirs.public_id)}, headers=HX
    )
    assert "Choose a collection" in response["HX-Trigger"]
    assert CollectionItem.objects.count() == 0


# -- delete ---------------------------------------------------------------------------------------


def test_delete_goes_through_job_delete_and_removes_files(
    client, alice, acme_project, django_capture_on_commit_callbacks
):
    asset = make_gallery_output(acme_project, user=alice)
    path = asset.file.path
    client.force_login(alice)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(_url("bulk-delete"), {"ids": _ids(asset)}, headers=HX)
    assert "Deleted 1 job" in response["HX-Trigger"]
    assert not Job.objects.filter(pk=asset.job_id).exists() and not os.path.exists(path)


def test_a_member_deletes_only_their_own_finished_jobs(client, bob, alice, acme_project):
    bobs = make_gallery_output(acme_project, user=bob)
    alices = make_gallery_output(acme_project, user=alice)
    running = make_gallery_output(acme_project, user=bob, status="running")
    client.force_login(bob)
    response = client.post(_url("bulk-delete"), {"ids": _ids(bobs, alices, running)}, headers=HX)
    trigger = response["HX-Trigger"]
    assert "Deleted 1 job" in trigger and "2 skipped" in trigger and "canceled first" in trigger
    assert set(Job.objects.values_list("pk", flat=True)) == {alices.job_id, running.job_id}


# -- outsiders ------------------------------------------------------------------------------------


def test_charlie_gets_404_for_every_bulk_action_on_acme_ids(client, charlie, alice, acme, acme_project):
    asset = make_gallery_output(acme_project, user=alice)
    picks = Collection.objects.create(team=acme, name="Picks", created_by=alice)
    target = ProjectFactory(team=acme)
    client.force_login(charlie)
    data = {"ids": _ids(asset), "project": str(target.public_id), "collection": str(picks.public_id)}
    for name in ("bulk-download", "bulk-move", "bulk-collect", "bulk-delete"):
        assert client.post(_url(name), data).status_code == 404, name
    assert Job.objects.get(pk=asset.job_id).project == acme_project
    assert CollectionItem.objects.count() == 0


def test_charlies_own_ids_mixed_with_acmes_only_touch_his(
    client, charlie, alice, acme_project, umbrella_project
):
    acmes = make_gallery_output(acme_project, user=alice)
    his = make_gallery_output(umbrella_project, user=charlie)
    client.force_login(charlie)
    client.post(_url("bulk-delete"), {"ids": _ids(acmes, his)})
    assert Job.objects.filter(pk=acmes.job_id).exists() and not Job.objects.filter(pk=his.job_id).exists()
