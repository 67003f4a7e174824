"""The live gallery in Chromium: jobs started elsewhere appear, finished jobs are announced, the lightbox."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from generations.models import Job
from tests.conftest import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Lets a test hide and show the tab: headless Chromium is always "visible".
FAKE_VISIBILITY = """
window.__hidden = false;
Object.defineProperty(Document.prototype, "hidden", {configurable: true, get() { return window.__hidden; }});
Object.defineProperty(Document.prototype, "visibilityState",
  {configurable: true, get() { return window.__hidden ? "hidden" : "visible"; }});
window.__setHidden = function (hidden) {
  window.__hidden = hidden;
  document.dispatchEvent(new Event("visibilitychange"));
};
"""


def _log_in(page, live_server, username: str = "alice") -> None:
    page.goto(f"{live_server.url}/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{live_server.url}/projects/")


def _changes_requests(page) -> list[float]:
    seen: list[float] = []
    page.on("request", lambda r: seen.append(time.monotonic()) if "/gallery/changes/" in r.url else None)
    return seen


def test_a_job_made_on_the_command_line_appears_on_an_idle_open_page(
    live_server, page, screenshot, alice, bob, acme_project
):
    _log_in(page, live_server)
    page.goto(f"{live_server.url}/projects/{acme_project.public_id}/")
    assert page.get_attribute("#gallery-poller", "data-polling") == "false"
    assert not page.locator("#running-jobs").is_visible()
    page.evaluate("window.__sameDocument = true")

    # Bob, on the CLI. No worker runs in this test: the job stays queued, which is all we need.
    call_command(
        "generate",
        "--user=bob",
        f"--project={acme_project.slug}",
        "--provider=simulator",
        "--mode=t2i",
        "--prompt=Made on the command line",
    )
    started = time.monotonic()
    card = page.locator(".job-card", has_text="Made on the command line")
    card.wait_for(timeout=30_000)
    assert time.monotonic() - started < 30
    assert page.evaluate("window.__sameDocument") is True
    # The page now polls at the running pace, and the top bar counts the job.
    assert page.get_attribute("#gallery-poller", "data-polling") == "true"
    indicator = page.locator("#running-jobs")
    indicator.wait_for(state="visible")
    assert " ".join(indicator.inner_text().split()) == "1 running"
    assert indicator.locator("a").get_attribute("href") == "/gallery/?status=active"
    screenshot(page, "60-live-cli-job-and-indicator")
    page.set_viewport_size({"width": 390, "height": 844})
    page.screenshot(path=str(_artifacts() / "60b-indicator-phone.png"))

    indicator.locator("a").click()
    page.wait_for_url(f"{live_server.url}/gallery/?status=active")
    assert page.get_by_text("Made on the command line").is_visible()
    assert page.js_errors == []


def test_the_idle_check_pauses_while_the_tab_is_hidden_and_catches_up_when_shown(
    live_server, page, alice, acme_project
):
    page.add_init_script(FAKE_VISIBILITY)
    _log_in(page, live_server)
    page.goto(f"{live_server.url}/projects/{acme_project.public_id}/")
    requests = _changes_requests(page)
    page.evaluate("window.__setHidden(true)")
    Job.objects.create(
        team=acme_project.team, project=acme_project, provider="simulator", model="wan-sim", mode="t2i",
        prompt="Made while nobody looked", status="queued",
    )  # fmt: skip
    page.wait_for_timeout(17_000)  # longer than one idle interval
    assert requests == [], "a hidden tab must not poll while nothing runs"
    assert page.locator(".job-card", has_text="Made while nobody looked").count() == 0

    page.evaluate("window.__setHidden(false)")
    page.locator(".job-card", has_text="Made while nobody looked").wait_for(timeout=3_000)
    assert len(requests) == 1
    assert page.js_errors == []


def _artifacts():
    from tests.browser.conftest import ARTIFACTS

    return ARTIFACTS


# -- the lightbox, multi-output grids and aspect-correct tiles ----------------------------------


def _job_with_outputs(project, user, *, prompt, mode, outputs):
    """A succeeded job with real stored outputs: (kind, width, height) each."""
    from generations.assets import asset_save_output
    from providers import simulator
    from tests.factories import JobFactory

    job = JobFactory(project=project, created_by=user, prompt=prompt, mode=mode, status="succeeded")
    state = {"prompt": prompt, "params": {"duration": 2}, "seed": 1}
    for index, (kind, width, height) in enumerate(outputs):
        if kind == "video":
            data = simulator.render_video(state, width, height)
        else:
            data = simulator.render_image(state, width, height, index=index, count=len(outputs))
        asset_save_output(job=job, index=index, data=data)
    job.refresh_from_db()
    return job


@pytest.fixture
def studio_outputs(alice, acme_project):
    wide = _job_with_outputs(
        acme_project, alice, prompt="A wide harbour at dawn", mode="t2i", outputs=[("image", 768, 432)]
    )
    tall = _job_with_outputs(
        acme_project,
        alice,
        prompt="A tall waterfall, vertical video",
        mode="t2v",
        outputs=[("video", 270, 480)],
    )
    four = _job_with_outputs(
        acme_project, alice, prompt="Four takes of a red kite", mode="t2i", outputs=[("image", 512, 512)] * 4
    )
    return {"wide": wide, "tall": tall, "four": four}


def _box(locator) -> dict:
    return locator.evaluate(
        "el => { const r = el.getBoundingClientRect(); return {w: r.width, h: r.height, x: r.x, y: r.y}; }"
    )


def _focus_in_dialog(page) -> bool:
    return page.evaluate(
        "() => !!document.activeElement && !!document.activeElement.closest('dialog#lightbox')"
    )


def test_tiles_keep_the_outputs_aspect_and_multi_output_jobs_show_a_grid(
    live_server, page, screenshot, alice, studio_outputs
):
    _log_in(page, live_server)
    page.goto(f"{live_server.url}/projects/{studio_outputs['four'].project.public_id}/")
    tall = page.locator(f"#job-{studio_outputs['tall'].public_id} .output-tile").first
    box = _box(tall)
    assert abs(box["h"] / box["w"] - 16 / 9) < 0.05, box  # 9:16, not cropped to 4:3
    wide = _box(page.locator(f"#job-{studio_outputs['wide'].public_id} .output-tile").first)
    assert abs(wide["w"] / wide["h"] - 16 / 9) < 0.05, wide

    tiles = page.locator(f"#job-{studio_outputs['four'].public_id} .output-tile")
    assert tiles.count() == 4
    boxes = [_box(tiles.nth(i)) for i in range(4)]
    assert len({round(b["x"]) for b in boxes}) == 2 and len({round(b["y"]) for b in boxes}) == 2  # 2x2
    screenshot(page, "61-multi-output-and-tall-tiles")
    page.set_viewport_size({"width": 390, "height": 844})
    page.wait_for_timeout(200)
    screenshot(page, "61b-multi-output-and-tall-tiles-phone")
    assert page.js_errors == []


def test_the_lightbox_walks_the_grid_with_the_keyboard_and_gives_focus_back(
    live_server, page, screenshot, alice, studio_outputs
):
    from generations.models import Favourite

    page.set_viewport_size({"width": 1440, "height": 900})
    _log_in(page, live_server)
    page.goto(f"{live_server.url}/projects/{studio_outputs['four'].project.public_id}/")
    first = page.locator(f"#job-{studio_outputs['four'].public_id} .output-tile").first
    first.focus()
    page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog")
    dialog.wait_for()
    assert dialog.get_attribute("aria-modal") == "true"
    assert _focus_in_dialog(page)
    # Newest first: the four takes, then the tall video, then the wide image: six outputs.
    assert dialog.locator("[data-lb=position]").inner_text() == "1"
    assert dialog.locator("[data-lb=count]").inner_text() == "6"
    four = studio_outputs["four"]
    first_asset = four.assets.filter(role="output").order_by("index")[0]
    assert dialog.locator("img").get_attribute("src") == first_asset.file_url
    assert (
        dialog.get_by_role("link", name="Download").get_attribute("href")
        == first_asset.file_url + "?download=1"
    )
    use = dialog.get_by_role("link", name="Use as input")
    assert use.is_visible() and use.get_attribute("href") == first_asset.use_as_input_url
    assert f"?use={first_asset.public_id}&mode=edit" in first_asset.use_as_input_url
    page.screenshot(path=str(_artifacts() / "62-lightbox-image.png"))  # the viewport: the dialog covers it

    # Favourite from the lightbox.
    star = dialog.get_by_role("button", name="Favourite")
    star.click()
    page.wait_for_function(
        "() => document.querySelector('[data-lb=favourite]').getAttribute('aria-pressed') === 'true'"
    )
    assert Favourite.objects.filter(user=alice, asset=first_asset).exists()

    # Tab stays inside the dialog.
    for _ in range(12):
        page.keyboard.press("Tab")
        assert _focus_in_dialog(page)

    page.locator("[data-lb=stage]").focus()
    page.keyboard.press("ArrowRight")
    assert dialog.locator("[data-lb=position]").inner_text() == "2"
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("ArrowLeft")  # wraps round to the last one
    assert dialog.locator("[data-lb=position]").inner_text() == "6"
    page.keyboard.press("ArrowLeft")  # the tall video
    video = dialog.locator("video")
    video.wait_for()
    tall_output = studio_outputs["tall"].assets.get(role="output")
    assert use.get_attribute("href") == tall_output.use_as_input_url  # a video feeds video to video
    assert use.get_attribute("href").endswith("&mode=v2v")
    page.keyboard.press(" ")
    page.wait_for_function(
        "() => { const v = document.querySelector('dialog#lightbox video'); return v && !v.paused; }"
    )
    page.keyboard.press(" ")
    page.wait_for_function("() => document.querySelector('dialog#lightbox video').paused")
    screenshot_path = _artifacts() / "63-lightbox-video.png"
    page.screenshot(path=str(screenshot_path))

    page.keyboard.press("Escape")
    dialog.wait_for(state="hidden")
    # Focus returns to the tile that opened it.
    assert page.evaluate(
        "() => document.activeElement && document.activeElement.classList.contains('output-tile')"
    )
    assert page.evaluate("() => document.activeElement.closest('.job-card').id") == f"job-{four.public_id}"

    page.set_viewport_size({"width": 390, "height": 844})
    first.click()
    dialog.wait_for()
    page.screenshot(path=str(_artifacts() / "62b-lightbox-image-phone.png"))
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("ArrowLeft")
    dialog.locator("video").wait_for()
    page.screenshot(path=str(_artifacts() / "63b-lightbox-video-phone.png"))
    page.keyboard.press("Escape")
    assert page.js_errors == []


def test_use_as_input_from_the_lightbox_opens_the_edit_form_with_the_output_in_its_slot(
    live_server, page, alice, dave, studio_outputs
):
    wide = studio_outputs["wide"]
    output = wide.assets.get(role="output")
    page.set_viewport_size({"width": 1440, "height": 900})
    _log_in(page, live_server)
    page.goto(f"{live_server.url}/projects/{wide.project.public_id}/")
    page.locator(f"#job-{wide.public_id} .output-tile").first.click()
    page.get_by_role("dialog").get_by_role("link", name="Use as input").click()
    page.wait_for_url(f"**?use={output.public_id}&mode=edit")
    form = page.locator("#generation-form")
    assert form.locator("select[name=mode]").input_value() == "edit"
    chip = form.locator(".upload-chip")
    chip.wait_for()
    assert chip.locator("img").count() == 1
    assert page.js_errors == []


def test_a_viewer_gets_no_use_as_input_in_the_lightbox(live_server, page, dave, studio_outputs):
    wide = studio_outputs["wide"]
    _log_in(page, live_server, username="dave")
    page.goto(f"{live_server.url}/projects/{wide.project.public_id}/")
    page.locator(f"#job-{wide.public_id} .output-tile").first.click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_role("link", name="Download").wait_for()
    assert (
        dialog.get_by_role("link", name="Use as input").count() == 0
        or not dialog.get_by_role("link", name="Use as input").is_visible()
    )


def test_the_team_gallery_opens_outputs_in_the_lightbox_and_keeps_stars_in_step(
    live_server, page, alice, studio_outputs
):
    from generations.models import Favourite

    tall_output = studio_outputs["tall"].assets.get(role="output")
    Favourite.objects.create(user=alice, asset=tall_output)
    _log_in(page, live_server)
    page.goto(f"{live_server.url}/gallery/")
    page.locator(f"#output-{tall_output.public_id} [data-lightbox]").click()
    dialog = page.get_by_role("dialog")
    dialog.wait_for()
    star = dialog.locator("[data-lb=favourite]")
    assert star.get_attribute("aria-pressed") == "true"
    star.click()
    page.wait_for_function(
        "() => document.querySelector('[data-lb=favourite]').getAttribute('aria-pressed') === 'false'"
    )
    assert not Favourite.objects.filter(user=alice, asset=tall_output).exists()
    page.keyboard.press("Escape")
    # The card's own star followed.
    assert page.locator(f"#star-{tall_output.public_id}").get_attribute("aria-pressed") == "false"
    assert page.js_errors == []


# -- "tell me when it's done": the tab title, a toast with a link, an opt-in notification -------

FAKE_NOTIFICATIONS = """
window.__notes = [];
window.__asked = 0;
class FakeNotification {
  constructor(title, options) { window.__notes.push({title: title, body: (options || {}).body || ""}); }
  static requestPermission() {
    window.__asked += 1;
    FakeNotification.permission = "granted";
    return Promise.resolve("granted");
  }
}
FakeNotification.permission = "default";
window.Notification = FakeNotification;
"""


def test_finished_jobs_count_in_the_title_toast_with_a_link_and_notify_when_long(
    live_server, page, alice, acme_project
):
    from tests.factories import JobFactory, make_output

    now = timezone.now()
    long_job = JobFactory(
        project=acme_project, created_by=alice, status="running", prompt="A long render of a glacier",
        created_at=now - timedelta(seconds=90), updated_at=now - timedelta(minutes=1), progress=50,
    )  # fmt: skip
    short_job = JobFactory(
        project=acme_project, created_by=alice, status="running", prompt="A quick sketch of a cat",
        created_at=now - timedelta(seconds=3), updated_at=now - timedelta(minutes=1), progress=50,
    )  # fmt: skip
    page.add_init_script(FAKE_VISIBILITY + FAKE_NOTIFICATIONS)
    _log_in(page, live_server)
    page.goto(f"{live_server.url}/projects/{acme_project.public_id}/")
    assert page.title() == "Spring campaign · wanweb"
    page.wait_for_timeout(500)
    assert page.evaluate("window.__asked") == 0, "permission is asked only when the user opts in"

    toggle = page.get_by_role("button", name="Notify me")
    assert toggle.get_attribute("aria-pressed") == "false"
    toggle.click()
    page.wait_for_function(
        "() => document.getElementById('notify-toggle').getAttribute('aria-pressed') === 'true'"
    )
    assert page.evaluate("window.__asked") == 1

    page.evaluate("window.__setHidden(true)")
    make_output(long_job)
    for job in (long_job, short_job):
        Job.objects.filter(pk=job.pk).update(
            status="succeeded", progress=100, finished_at=timezone.now(), updated_at=timezone.now()
        )
    page.wait_for_function("() => document.title === '(2) Spring campaign · wanweb'", timeout=10_000)
    # Only the job that ran over 30 s is worth a system notification.
    notes = page.evaluate("window.__notes")
    assert [n["body"] for n in notes] == ["A long render of a glacier"]

    page.evaluate("window.__setHidden(false)")
    page.wait_for_function("() => document.title === 'Spring campaign · wanweb'")
    toast = page.locator(".toast", has_text="A long render of a glacier")
    toast.wait_for()
    link = toast.get_by_role("link", name="Open")
    assert link.get_attribute("href") == long_job.detail_url
    page.screenshot(path=str(_artifacts() / "64-toast-job-finished.png"))
    page.set_viewport_size({"width": 390, "height": 844})
    page.screenshot(path=str(_artifacts() / "64b-toast-job-finished-phone.png"))
    link.click()
    page.wait_for_url(f"{live_server.url}{long_job.detail_url}")
    assert page.js_errors == []
