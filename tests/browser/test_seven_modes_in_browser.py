"""Done-means 1 of the jobs issue: in a browser, a new user submits each of the seven modes on the
simulator; each card updates live without a reload and ends with a real file that opens or plays."""

from __future__ import annotations

import io
import math
import struct
import wave

import pytest

from generations.models import AssetRole, Job, JobStatus
from tests.browser.conftest import pick_mode
from tests.conftest import PASSWORD
from tests.factories import make_png
from tests.fakes.media_files import tiny_mp4
from wanweb.accounts.models import Membership
from wanweb.accounts.services import invite_create

pytestmark = [pytest.mark.browser, pytest.mark.celery, pytest.mark.django_db(transaction=True)]

MODES = ["t2i", "edit", "t2v", "i2v", "v2v", "r2v", "s2v"]


def _wav(seconds: float = 3.0, rate: int = 16000) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        frames = b"".join(
            struct.pack("<h", int(8000 * math.sin(2 * math.pi * 440 * i / rate)))
            for i in range(int(seconds * rate))
        )
        out.writeframes(frames)
    return buffer.getvalue()


def _inputs(tmp_path):
    image = tmp_path / "frame.png"
    image.write_bytes(make_png(320, 240, (30, 120, 200)))
    video = tmp_path / "clip.mp4"
    video.write_bytes(tiny_mp4(frames=24, size=64))
    audio = tmp_path / "voice.wav"
    audio.write_bytes(_wav())
    return {
        "edit": {"image": image},
        "i2v": {"image": image},
        "v2v": {"video": video},
        "r2v": {"video": video},
        "s2v": {"image": image, "audio": audio},
    }, image


def test_a_new_user_runs_all_seven_modes_live(
    live_server, page, screenshot, celery_worker_live, alice, acme, tmp_path
):
    from tests.factories import ProjectFactory

    project = ProjectFactory(team=acme, name="Every mode", created_by=alice)
    _, token = invite_create(actor=Membership.objects.get(user=alice, team=acme), role="member")
    files, _ = _inputs(tmp_path)

    # A brand-new user: joins through an invite link, then generates.
    page.goto(f"{live_server.url}/invite/{token}/")
    page.get_by_label("Username").fill("newbie")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Password again").fill(PASSWORD)
    page.get_by_role("button", name="Create account and join").click()
    page.wait_for_url(f"{live_server.url}/projects/")
    page.goto(f"{live_server.url}/projects/{project.public_id}/")
    page.evaluate("window.__sameDocument = true")

    for mode in MODES:
        pick_mode(page, mode)
        for slot, path in files.get(mode, {}).items():
            page.locator(f"#generation-form input[type=file][name=input_{slot}]").set_input_files(str(path))
        page.get_by_label("Prompt", exact=True).fill(f"{mode}: a lighthouse in a storm")
        # Open (not toggle) the advanced settings: the form may re-render once the chosen file is
        # kept as a chip, and a click on an already open <details> would close it.
        page.locator("details.advanced").evaluate("d => { d.open = true; }")
        page.locator("#id_sim_delay").fill("2")
        before = page.locator(".job-card").count()
        page.get_by_role("button", name="Generate").click()
        page.wait_for_function(
            f"() => document.querySelectorAll('.job-card').length === {before + 1}", timeout=10_000
        )
        errors = page.locator("#generation-form .invalid-feedback").all_inner_texts()
        assert not errors, f"{mode}: {errors}"

    # All seven finish on the page without a reload.
    from tests.conftest import wait_for

    def all_final():
        statuses = list(Job.objects.filter(project=project).values_list("mode", "status", "error_code"))
        return all(s in ("succeeded", "failed", "canceled") for _, s, _ in statuses) and len(statuses) == 7

    try:
        wait_for(all_final, timeout=120)
    except AssertionError:
        raise AssertionError(
            list(Job.objects.filter(project=project).values_list("mode", "status", "error_code"))
        ) from None
    outcome = list(
        Job.objects.filter(project=project).values_list("mode", "status", "error_code", "error_message")
    )
    assert all(status == "succeeded" for _, status, _, _ in outcome), outcome
    try:
        page.wait_for_function(
            "() => document.querySelectorAll(\".job-card[data-status='succeeded']\").length === 7",
            timeout=20_000,
        )
    except Exception:
        screenshot(page, "dbg-seven")
        print("POLLER", page.evaluate("document.getElementById('gallery-poller').outerHTML"))
        print(
            "CARDS",
            page.evaluate(
                "[...document.querySelectorAll('.job-card')].map(c => c.id + ':' + c.dataset.status)"
            ),
        )
        print("JSERR", page.js_errors)
        raise
    assert page.evaluate("window.__sameDocument") is True
    screenshot(page, "20-seven-modes")

    jobs = Job.objects.filter(project=project)
    assert sorted(jobs.values_list("mode", flat=True)) == sorted(MODES)
    for job in jobs:
        assert job.status == JobStatus.SUCCEEDED, (job.mode, job.error_code, job.error_message)
        output = job.assets.get(role=AssetRole.OUTPUT, index=0)
        response = page.request.get(f"{live_server.url}/files/{output.public_id}/")
        assert response.ok
        body = response.body()
        if job.makes_video:
            assert output.content_type == "video/mp4" and body[4:8] == b"ftyp"
        else:
            assert output.content_type == "image/png" and body.startswith(b"\x89PNG")

    # Every video plays in the browser.
    for video in page.locator(".job-card video").all():
        video.hover()
        video.evaluate(
            "v => new Promise(ok => { if (v.currentTime > 0) ok(); else v.addEventListener('timeupdate', ok, {once: true}); })"
        )
    # And every image decodes.
    assert page.evaluate(
        "() => [...document.querySelectorAll('.job-card img')].every(i => i.complete && i.naturalWidth > 0)"
    )
    assert page.js_errors == []
