"""The generation form's loop: idempotent submits, kept uploads, Remix and reuse, honest estimates."""

from __future__ import annotations

import re
from unittest import mock
from urllib.parse import urlencode

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from generations.assets import UploadedInput, asset_save_input
from generations.models import Job
from providers import media
from tests.factories import JobFactory, make_output, make_png

HX = {"HX-Request": "true"}


def _url(name, project, **query):
    url = reverse(f"generations:{name}", args=[project.public_id])
    return url + ("?" + urlencode(query) if query else "")


@pytest.fixture
def no_submit():
    with mock.patch("generations.services.job_submit_task.delay") as delay:
        yield delay


def _i2v_job(project, user, *, seed=1234, png=None):
    """A finished image-to-video job with one stored input, as the form would have made it."""
    job = JobFactory(
        project=project,
        created_by=user,
        mode="i2v",
        prompt="the kite lifts off",
        params={"duration": 3, "resolution": "480p", "sim_delay": 0.5},
        seed=seed,
    )
    data = png or make_png(600, 400)
    asset_save_input(
        job=job,
        upload=UploadedInput(slot="image", data=data, filename="kite.png", info=media.probe(data)),
        index=0,
    )
    return job


# ---- one submit, one job ----------------------------------------------------------------------


def test_a_repeated_post_with_the_same_submit_token_returns_the_first_job(
    client, bob, acme_project, no_submit
):
    client.force_login(bob)
    data = {
        "provider": "simulator",
        "mode": "t2i",
        "model": "wan-sim",
        "prompt": "a red fox",
        "submit_token": "tok-1",
    }
    first = client.post(_url("job-create", acme_project), data, headers=HX)
    second = client.post(_url("job-create", acme_project), data, headers=HX)
    [job] = Job.objects.filter(project=acme_project)
    # One job, one hold: the repeat neither makes a second job nor reserves money again.
    assert Job.objects.filter(hold__isnull=False).count() == 1
    assert str(job.public_id) in first.headers["HX-Trigger"]
    assert str(job.public_id) in second.headers["HX-Trigger"]
    # The repeat does not put the card into the grid a second time.
    assert b'hx-swap-oob="afterbegin:#gallery-grid"' not in second.content
    # A new token (the fresh form's) makes a new job.
    assert b'name="submit_token"' in first.content and b'value="tok-1"' not in first.content
    client.post(_url("job-create", acme_project), {**data, "submit_token": "tok-2"}, headers=HX)
    assert Job.objects.filter(project=acme_project).count() == 2


def test_the_same_token_from_another_user_is_a_separate_job(client, alice, bob, acme_project, no_submit):
    data = {
        "provider": "simulator",
        "mode": "t2i",
        "model": "wan-sim",
        "prompt": "a red fox",
        "submit_token": "same",
    }
    for user in (alice, bob):
        client.force_login(user)
        client.post(_url("job-create", acme_project), data, headers=HX)
    assert Job.objects.filter(project=acme_project).count() == 2


# ---- uploads are never lost -------------------------------------------------------------------


def _post_i2v(client, project, **extra):
    data = {"provider": "simulator", "mode": "i2v", "model": "wan-sim", "prompt": "animate it", **extra}
    return client.post(_url("job-create", project), data, headers=HX)


def test_a_valid_upload_is_kept_when_another_field_fails_and_the_fixed_submit_uses_it(
    client, bob, acme_project, no_submit
):
    client.force_login(bob)
    upload = SimpleUploadedFile("first-frame.png", make_png(640, 480), content_type="image/png")
    refused = _post_i2v(client, acme_project, prompt="", input_image=upload)
    assert not Job.objects.exists()
    form = refused.context["form"]
    [chip] = form.slot_refs("image")
    assert chip.name == "first-frame.png"
    assert b"first-frame.png" in refused.content
    # The fixed submit sends only the reference the chip carries, not the file again.
    _post_i2v(client, acme_project, input_image_ref=chip.ref)
    [job] = Job.objects.all()
    [asset] = job.assets.filter(role="input")
    assert (asset.width, asset.height) == (640, 480)


def test_an_upload_is_stored_right_away_and_kept_across_a_mode_switch(client, bob, acme_project):
    client.force_login(bob)
    response = client.post(
        _url("upload-create", acme_project),
        {
            "provider": "simulator",
            "mode": "i2v",
            "model": "wan-sim",
            "slot": "image",
            "file": SimpleUploadedFile("first-frame.png", make_png(300, 200), content_type="image/png"),
        },
        headers=HX,
    )
    assert response.status_code == 200
    assert b"first-frame.png" in response.content and b"upload-chip" in response.content
    ref = re.search(rb'name="input_image_ref" value="(u:[0-9a-f-]+)"', response.content)[1].decode()
    # Speech to video also has an image slot: the chip follows; text to image has none.
    s2v = client.get(
        _url("generation-form", acme_project, provider="simulator", mode="s2v", input_image_ref=ref),
        headers=HX,
    )
    assert ref.encode() in s2v.content
    t2i = client.get(
        _url("generation-form", acme_project, provider="simulator", mode="t2i", input_image_ref=ref),
        headers=HX,
    )
    assert ref.encode() not in t2i.content


def test_a_bad_upload_to_the_upload_endpoint_is_a_field_error_and_stores_nothing(
    client, bob, acme_project, settings
):
    client.force_login(bob)
    response = client.post(
        _url("upload-create", acme_project),
        {
            "provider": "simulator",
            "mode": "i2v",
            "model": "wan-sim",
            "slot": "image",
            "file": SimpleUploadedFile("fake.png", b"<html>no</html>", content_type="image/png"),
        },
        headers=HX,
    )
    assert response.status_code == 200
    assert b"fake.png" in response.content and b"invalid-feedback" in response.content
    media_root = settings.MEDIA_ROOT
    assert not media_root.exists() or not any(media_root.rglob("*.*"))


@pytest.mark.parametrize("who", ["alice", "charlie"])
def test_someone_elses_upload_id_is_refused_and_never_used(
    client, request, bob, acme_project, umbrella_project, no_submit, who
):
    from generations.uploads import pending_upload_create

    owner = request.getfixturevalue(who)
    data = make_png(320, 240)
    team = acme_project.team if who == "alice" else umbrella_project.team
    pending = pending_upload_create(
        user=owner, team=team, filename="secret.png", data=data, info=media.probe(data)
    )
    client.force_login(bob)
    response = _post_i2v(client, acme_project, input_image_ref=f"u:{pending.public_id}")
    assert not Job.objects.exists()
    assert b"invalid-feedback" in response.content and b"secret.png" not in response.content
    # Nor is its thumbnail served.
    assert client.get(reverse("generations:upload-thumb", args=[pending.public_id])).status_code == 404


def test_another_teams_asset_cannot_be_used_as_input(
    client, bob, charlie, acme_project, umbrella_project, no_submit
):
    theirs = make_output(JobFactory(project=umbrella_project, created_by=charlie))
    client.force_login(bob)
    response = _post_i2v(client, acme_project, input_image_ref=f"a:{theirs.public_id}")
    assert not Job.objects.filter(project=acme_project).exists()
    assert b"invalid-feedback" in response.content
    page = client.get(_url("project-detail", acme_project, use=str(theirs.public_id), mode="i2v"))
    assert page.status_code == 404


def test_expired_uploads_and_their_files_are_cleaned_up(
    bob, acme, settings, django_capture_on_commit_callbacks
):
    from generations.models import PendingUpload
    from generations.uploads import pending_upload_cleanup, pending_upload_create

    data = make_png(100, 100)
    old = pending_upload_create(user=bob, team=acme, filename="old.png", data=data, info=media.probe(data))
    fresh = pending_upload_create(user=bob, team=acme, filename="new.png", data=data, info=media.probe(data))
    PendingUpload.objects.filter(pk=old.pk).update(expires_at=timezone.now())
    old_names = [old.file.name, old.thumbnail.name]
    with django_capture_on_commit_callbacks(execute=True):
        assert pending_upload_cleanup() == 1
    assert list(PendingUpload.objects.values_list("pk", flat=True)) == [fresh.pk]
    for name in old_names:
        assert not (settings.MEDIA_ROOT / name).exists()
    assert (settings.MEDIA_ROOT / fresh.file.name).exists()


def test_a_used_upload_is_deleted_with_its_files(
    client, bob, acme_project, no_submit, settings, django_capture_on_commit_callbacks
):
    from generations.models import PendingUpload
    from generations.uploads import pending_upload_create

    data = make_png(320, 240)
    pending = pending_upload_create(
        user=bob, team=acme_project.team, filename="a.png", data=data, info=media.probe(data)
    )
    client.force_login(bob)
    with django_capture_on_commit_callbacks(execute=True):
        _post_i2v(client, acme_project, input_image_ref=f"u:{pending.public_id}")
    assert Job.objects.count() == 1
    assert not PendingUpload.objects.exists()
    assert not (settings.MEDIA_ROOT / pending.file.name).exists()


# ---- Remix and reuse -------------------------------------------------------------------------


def test_remix_of_an_image_to_video_job_carries_the_seed_and_the_input(client, bob, acme_project, no_submit):
    job = _i2v_job(acme_project, bob, seed=1234)
    client.force_login(bob)
    page = client.get(_url("project-detail", acme_project, remix=str(job.public_id)))
    form = page.context["form"]
    assert form.initial["seed"] == 1234
    [chip] = form.slot_refs("image")
    # Submitting the remixed form untouched makes a new job with the same input and seed.
    fields = {
        "provider": "simulator",
        "mode": "i2v",
        "model": "wan-sim",
        "prompt": form.initial["prompt"],
        "seed": form.initial["seed"],
        "duration": 3,
        "resolution": "480p",
        "input_image_ref": chip.ref,
    }
    _post_i2v(client, acme_project, **fields)
    new = Job.objects.exclude(pk=job.pk).get()
    assert new.params["seed"] == 1234
    [copy] = new.assets.filter(role="input")
    assert copy.sha256 == job.assets.get(role="input").sha256


def test_use_as_input_opens_the_chosen_mode_with_the_output_in_its_slot(client, bob, acme_project):
    output = make_output(JobFactory(project=acme_project, created_by=bob), data=make_png(600, 400))
    client.force_login(bob)
    page = client.get(_url("project-detail", acme_project, use=str(output.public_id), mode="edit"))
    form = page.context["form"]
    assert form.spec.mode == "edit"
    [chip] = form.slot_refs("image")
    assert chip.ref == f"a:{output.public_id}"


def test_the_job_page_offers_use_as_input_and_copy_seed(client, bob, acme_project):
    job = JobFactory(project=acme_project, created_by=bob, seed=777)
    output = make_output(job)
    client.force_login(bob)
    content = client.get(reverse("generations:job-detail", args=[job.public_id])).content.decode()
    assert f"?use={output.public_id}&amp;mode=edit" in content
    assert f"?use={output.public_id}&amp;mode=i2v" in content
    assert 'data-copy-seed="777"' in content


# ---- honest form -----------------------------------------------------------------------------


def test_an_edit_without_a_size_matches_the_inputs_aspect(client, bob, acme_project, no_submit):
    client.force_login(bob)
    client.post(
        _url("job-create", acme_project),
        {
            "provider": "simulator",
            "mode": "edit",
            "model": "wan-sim",
            "prompt": "make it autumn",
            "input_image": SimpleUploadedFile("wide.png", make_png(600, 400), content_type="image/png"),
        },
        headers=HX,
    )
    width, height = map(int, Job.objects.get().params["size"].split("x"))
    assert abs(width / height - 1.5) < 0.02


def test_the_edit_form_does_not_prefill_a_square_size(client, bob, acme_project):
    client.force_login(bob)
    form = client.get(_url("generation-form", acme_project, provider="simulator", mode="edit"), headers=HX)
    assert b'value="1024x1024"' not in form.content


def test_the_estimate_shows_the_field_error_instead_of_a_price_for_an_invalid_duration(
    client, bob, acme_project
):
    client.force_login(bob)
    response = client.get(
        _url("generation-estimate", acme_project), {"provider": "simulator", "mode": "t2v", "duration": 99}
    )
    assert b"$" not in response.content
    assert b"Duration" in response.content and b"15" in response.content


def test_an_archived_project_shows_a_restore_banner_instead_of_a_form(client, bob, acme_project):
    acme_project.archived_at = timezone.now()
    acme_project.save()
    client.force_login(bob)
    response = client.get(_url("project-detail", acme_project))
    assert b'id="generation-form"' not in response.content
    assert b"Restore to generate" in response.content


def test_the_speech_to_video_form_does_not_promise_a_silent_video(client, bob, acme_project):
    client.force_login(bob)
    response = client.get(_url("generation-form", acme_project, provider="simulator", mode="s2v"), headers=HX)
    assert b"Speech" in response.content
    assert b"silent video" not in response.content


# ---- prompt history, presets, remembered mode ------------------------------------------------


def test_recent_prompts_of_the_project_are_offered(client, bob, acme_project, umbrella_project):
    JobFactory(project=acme_project, prompt="a lighthouse at dusk")
    JobFactory(project=acme_project, prompt="a lighthouse at dusk")
    JobFactory(project=umbrella_project, prompt="umbrella secret")
    client.force_login(bob)
    content = client.get(_url("project-detail", acme_project)).content.decode()
    assert content.count('data-prompt="a lighthouse at dusk"') == 1
    assert "umbrella secret" not in content


def test_the_form_remembers_the_last_mode(client, bob, acme_project):
    client.force_login(bob)
    client.get(_url("generation-form", acme_project, provider="simulator", mode="v2v"), headers=HX)
    page = client.get(_url("project-detail", acme_project))
    assert page.context["form"].spec.mode == "v2v"


def test_admins_save_presets_members_apply_them_and_cannot_delete(client, alice, bob, acme_project):
    from generations.models import Preset

    client.force_login(bob)
    refused = client.post(
        _url("preset-create", acme_project),
        {
            "preset_name": "Teal film",
            "provider": "simulator",
            "mode": "t2v",
            "model": "wan-sim",
            "duration": 8,
        },
        headers=HX,
    )
    assert refused.status_code == 403 and not Preset.objects.exists()

    client.force_login(alice)
    client.post(
        _url("preset-create", acme_project),
        {
            "preset_name": "Teal film",
            "provider": "simulator",
            "mode": "t2v",
            "model": "wan-sim",
            "duration": "8",
            "resolution": "480p",
            "prompt": "ignored",
            "preset_suffix": ", teal and orange grade",
            "preset_negative": "blurry",
        },
        headers=HX,
    )
    preset = Preset.objects.get()
    assert preset.mode == "t2v" and preset.params["duration"] == 8 and "prompt" not in preset.params
    assert preset.team == acme_project.team and preset.prompt_suffix == ", teal and orange grade"

    client.force_login(bob)
    applied = client.get(
        _url(
            "generation-form",
            acme_project,
            provider="simulator",
            mode="t2i",
            prompt="a harbour",
            preset=preset.public_id,
        ),
        headers=HX,
    )
    form = applied.context["form"]
    assert form.spec.mode == "t2v"
    assert form.initial["duration"] == 8 and form.initial["negative_prompt"] == "blurry"
    assert form.initial["prompt"] == "a harbour, teal and orange grade"
    delete = reverse("generations:preset-delete", args=[preset.public_id])
    assert client.post(delete, headers=HX).status_code == 403
    client.force_login(alice)
    client.post(delete, headers=HX)
    assert not Preset.objects.exists()


def test_another_teams_preset_is_a_404(client, charlie, acme_project, umbrella_project, alice):
    from generations.models import Preset

    preset = Preset.objects.create(
        team=acme_project.team, name="Ours", provider="simulator", mode="t2i", model="wan-sim"
    )
    client.force_login(charlie)
    form = client.get(_url("generation-form", umbrella_project, preset=preset.public_id), headers=HX)
    assert form.status_code == 404
    assert client.post(reverse("generations:preset-delete", args=[preset.public_id])).status_code == 404


def test_the_cleanup_task_is_on_the_beat_and_calls_the_sweep(
    settings, bob, acme, django_capture_on_commit_callbacks
):
    import wanweb.settings as base  # the test settings empty the beat
    from generations.models import PendingUpload
    from generations.tasks import pending_upload_cleanup_task
    from generations.uploads import pending_upload_create

    assert any(
        entry["task"] == "generations.tasks.pending_upload_cleanup_task"
        for entry in base.CELERY_BEAT_SCHEDULE.values()
    )
    data = make_png(64, 64)
    old = pending_upload_create(user=bob, team=acme, filename="x.png", data=data, info=media.probe(data))
    PendingUpload.objects.filter(pk=old.pk).update(expires_at=timezone.now())
    with django_capture_on_commit_callbacks(execute=True):
        assert pending_upload_cleanup_task() == 1
    assert not PendingUpload.objects.exists()


def test_viewers_can_neither_upload_nor_save_presets(client, dave, acme_project):
    from generations.models import PendingUpload, Preset

    client.force_login(dave)
    upload = client.post(
        _url("upload-create", acme_project),
        {
            "provider": "simulator",
            "mode": "i2v",
            "slot": "image",
            "file": SimpleUploadedFile("a.png", make_png(), content_type="image/png"),
        },
    )
    preset = client.post(_url("preset-create", acme_project), {"preset_name": "x", "mode": "t2i"})
    assert upload.status_code == 403 and preset.status_code == 403
    assert not PendingUpload.objects.exists() and not Preset.objects.exists()
    # Nor do they see the form's pieces.
    page = client.get(_url("project-detail", acme_project)).content
    assert b"Presets" not in page and b"Recent prompts" not in page
