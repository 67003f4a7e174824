"""The generation form in Chromium: one submit one job, errors you cannot miss, uploads that stay,
Remix that works untouched, presets; with screenshots at desktop and phone sizes."""

from __future__ import annotations

import re

import pytest

from generations.assets import UploadedInput, asset_save_input
from generations.models import Job
from providers import media
from tests.browser.conftest import pick_mode
from tests.conftest import PASSWORD
from tests.factories import JobFactory, make_png

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

DESKTOP = {"width": 1440, "height": 900}
PHONE = {"width": 390, "height": 844}


@pytest.fixture
def studio(browser, live_server, alice, acme_project):
    """A logged-in page factory: studio(viewport) -> page on the project."""
    contexts = []

    def open_page(viewport=DESKTOP, user="alice"):
        context = browser.new_context(viewport=viewport)
        context.set_default_timeout(10_000)
        contexts.append(context)
        page = context.new_page()
        page.js_errors = []
        page.on("pageerror", lambda exc: page.js_errors.append(str(exc)))
        page.goto(f"{live_server.url}/login/")
        page.get_by_label("Username").fill(user)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url(f"{live_server.url}/projects/")
        page.goto(f"{live_server.url}/projects/{acme_project.public_id}/")
        return page

    yield open_page
    for context in contexts:
        context.close()


def _in_viewport(page, selector: str) -> bool:
    """The element's box is inside the window and inside the scrolling studio panel."""
    return page.evaluate(
        """(sel) => {
          const el = document.querySelector(sel); if (!el) return false;
          const r = el.getBoundingClientRect();
          const panel = el.closest('.studio-panel');
          const p = panel ? panel.getBoundingClientRect() : {top: 0, bottom: innerHeight};
          return r.height > 0 && r.top >= Math.max(0, p.top) - 1 && r.bottom <= Math.min(innerHeight, p.bottom) + 1;
        }""",
        selector,
    )


def test_ctrl_enter_twice_within_half_a_second_makes_one_job(studio, acme_project):
    page = studio()
    prompt = page.get_by_label("Prompt", exact=True)
    prompt.fill("A paper crane on a windowsill")
    with page.expect_response(lambda r: r.request.method == "POST" and "/jobs/" in r.url):
        prompt.press("Control+Enter")
    # The second press of a double tap lands just after the first answer swapped the form in
    # (today's bug: the fresh form took it as a new submit).
    prompt.press("Control+Enter")
    page.locator(".job-card").first.wait_for()
    page.wait_for_timeout(1000)
    assert Job.objects.filter(project=acme_project).count() == 1
    assert page.locator(".job-card").count() == 1
    assert page.js_errors == []


def test_the_keyboard_stays_on_generate_after_a_submit_from_the_button(studio, acme_project):
    """The answer replaces the whole form; a keyboard user who pressed Generate used to land on
    <body>, so the next Tab started again at the top of the page."""
    page = studio()
    page.get_by_label("Prompt", exact=True).fill("A paper crane on a windowsill")
    generate = page.locator("#generation-form button[type=submit]")
    generate.focus()
    with page.expect_response(lambda r: r.request.method == "POST" and "/jobs/" in r.url):
        page.keyboard.press("Enter")
    page.locator(".job-card").first.wait_for()
    page.wait_for_function(
        "() => document.activeElement && document.activeElement.matches('#generation-form button[type=submit]')"
    )
    assert Job.objects.filter(project=acme_project).count() == 1
    assert page.js_errors == []


def test_the_same_form_is_not_sent_twice_while_a_submit_is_in_flight(studio, acme_project):
    page = studio()
    page.get_by_label("Prompt", exact=True).fill("A paper crane on a windowsill")
    # Three sends in one tick: the first is in flight when the others come.
    page.evaluate(
        """() => { const form = document.getElementById('generation-form');
                   form.requestSubmit(); form.requestSubmit();
                   form.querySelector('button[type=submit]').click(); }"""
    )
    page.locator(".job-card").first.wait_for()
    page.wait_for_load_state("networkidle")
    page.wait_for_timeout(800)
    assert Job.objects.filter(project=acme_project).count() == 1
    assert page.locator(".job-card").count() == 1


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_a_refused_submit_brings_the_error_into_view_focuses_it_and_says_so(studio, screenshot, viewport):
    page = studio(viewport)
    pick_mode(page, "t2v")
    page.locator("details.advanced summary").click()
    # Scroll to the Generate button as a user would, past the prompt.
    page.get_by_role("button", name="Generate").scroll_into_view_if_needed()
    page.get_by_role("button", name="Generate").click()
    page.locator("#generation-form .invalid-feedback").first.wait_for()
    page.wait_for_function("() => document.activeElement && document.activeElement.id === 'id_prompt'")
    page.wait_for_timeout(400)  # the smooth scroll lands
    assert _in_viewport(page, "#id_prompt")
    toast = page.locator("#messages .toast").first
    assert "not generated" in toast.inner_text().lower()
    name = "studio-toast-" + ("desktop" if viewport is DESKTOP else "phone")
    page.screenshot(path=_shot_path(name))


def _shot_path(name: str) -> str:
    from tests.browser.conftest import ARTIFACTS

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return str(ARTIFACTS / f"{name}.png")


def test_a_budget_refusal_alert_is_in_view_and_focused(studio, acme, bob, settings):
    from decimal import Decimal

    from wanweb.quotas.models import TeamQuota

    TeamQuota.objects.update_or_create(team=acme, defaults={"budget_usd": Decimal("0.01")})
    page = studio()
    pick_mode(page, "t2v")
    page.get_by_label("Prompt", exact=True).fill("A long, expensive video")
    page.get_by_role("button", name="Generate").click()
    page.locator("#generation-form .alert-danger").wait_for()
    page.wait_for_function("() => document.activeElement && document.activeElement.matches('.alert-danger')")
    page.wait_for_timeout(400)
    assert _in_viewport(page, "#generation-form .alert-danger")


def test_an_upload_survives_a_validation_error_and_the_fixed_submit_succeeds(
    studio, acme_project, tmp_path, screenshot
):
    image = tmp_path / "first-frame.png"
    image.write_bytes(make_png(640, 480, (30, 120, 200)))
    page = studio()
    pick_mode(page, "i2v")
    page.locator("#generation-form input[type=file][name=input_image]").set_input_files(str(image))
    page.get_by_label("Prompt", exact=True).fill("The kite lifts off into the wind")
    # A duration the model does not take: refused, but the frame stays as a chip.
    page.locator("#id_duration").fill("99")
    page.get_by_role("button", name="Generate").click()
    page.locator("#generation-form .invalid-feedback").first.wait_for()
    chip = page.locator("#generation-form .upload-chip", has_text="first-frame.png")
    chip.wait_for()
    assert chip.locator("img").count() == 1
    assert Job.objects.count() == 0
    page.locator("#id_duration").fill("3")
    page.get_by_role("button", name="Generate").click()
    page.locator(".job-card").first.wait_for()
    [job] = Job.objects.filter(project=acme_project)
    [asset] = job.assets.filter(role="input")
    assert asset.slot == "image" and (asset.width, asset.height) == (640, 480)
    assert page.js_errors == []


def test_a_chip_follows_a_mode_switch_to_a_mode_with_the_same_slot(studio, tmp_path, screenshot):
    image = tmp_path / "first-frame.png"
    image.write_bytes(make_png(640, 480, (200, 120, 30)))
    for viewport, name in ((DESKTOP, "desktop"), (PHONE, "phone")):
        page = studio(viewport)
        pick_mode(page, "i2v")
        page.locator("#generation-form input[type=file][name=input_image]").set_input_files(str(image))
        page.locator("#generation-form .upload-chip", has_text="first-frame.png").wait_for()
        pick_mode(page, "s2v")
        page.locator("#generation-form .upload-chip", has_text="first-frame.png").wait_for()
        page.locator("#generation-form .upload-chip").first.scroll_into_view_if_needed()
        page.screenshot(path=_shot_path(f"studio-chips-{name}"))
        assert page.js_errors == []


def test_remix_of_an_image_to_video_job_succeeds_without_touching_the_form(
    studio, alice, acme_project, live_server
):
    job = JobFactory(
        project=acme_project,
        created_by=alice,
        mode="i2v",
        prompt="The kite lifts off",
        params={"duration": 2, "resolution": "480p", "sim_delay": 0.5},
        seed=4242,
    )
    data = make_png(600, 400)
    asset_save_input(
        job=job,
        upload=UploadedInput(slot="image", data=data, filename="kite.png", info=media.probe(data)),
        index=0,
    )
    page = studio()
    page.goto(f"{live_server.url}/jobs/{job.public_id}/")
    page.get_by_role("link", name="Remix").click()
    page.wait_for_url(re.compile(r".*\?remix=.*"))
    page.get_by_role("button", name="Generate").click()
    page.locator(".job-card[data-status='queued'], .job-card[data-status='submitted']").first.wait_for()
    new = Job.objects.exclude(pk=job.pk).get()
    assert new.mode == "i2v" and new.params["seed"] == 4242
    assert new.assets.get(role="input").sha256 == job.assets.get(role="input").sha256
    assert page.js_errors == []


def test_presets_are_saved_by_an_admin_and_applied_in_one_click(studio, screenshot):
    for viewport, name in ((DESKTOP, "desktop"), (PHONE, "phone")):
        page = studio(viewport)
        pick_mode(page, "t2v")
        page.locator("#id_duration").fill("8")
        page.get_by_role("button", name="Presets").click()
        page.get_by_role("button", name="Save current settings as a preset").click()
        page.locator("#preset-editor.show:not(.collapsing)").wait_for()
        page.get_by_label("Preset name").fill(f"Teal film {name}")
        page.get_by_label("Add to the prompt").fill(", teal and orange grade")
        with page.expect_response(lambda r: "/presets/" in r.url and r.request.method == "POST"):
            page.get_by_role("button", name="Save preset").click()
        page.locator(".toast", has_text="saved").wait_for()
        pick_mode(page, "t2i")
        page.get_by_label("Prompt", exact=True).fill("A harbour at dawn")
        page.get_by_role("button", name="Presets").click()
        page.screenshot(path=_shot_path(f"studio-presets-{name}"))
        with page.expect_response(lambda r: "/form/" in r.url):
            page.get_by_role("button", name=f"Apply preset Teal film {name}").click()
        page.locator("#generation-form[data-mode='t2v']").wait_for()
        assert page.locator("#id_duration").input_value() == "8"
        assert (
            page.get_by_label("Prompt", exact=True).input_value()
            == "A harbour at dawn, teal and orange grade"
        )
        assert page.js_errors == []


def test_the_draft_prompt_and_the_mode_survive_a_reload(studio):
    page = studio()
    pick_mode(page, "t2v")
    page.get_by_label("Prompt", exact=True).fill("Half-written idea about")
    page.wait_for_timeout(600)
    page.reload()
    page.locator("#generation-form[data-mode='t2v']").wait_for()
    page.wait_for_function("() => document.getElementById('id_prompt').value === 'Half-written idea about'")


_MAKE_PNG = """async (name) => {
  const canvas = document.createElement('canvas'); canvas.width = 300; canvas.height = 200;
  const ctx = canvas.getContext('2d'); ctx.fillStyle = '#3a7'; ctx.fillRect(0, 0, 300, 200);
  const blob = await new Promise(resolve => canvas.toBlob(resolve, 'image/png'));
  return new File([blob], name, {type: 'image/png'});
}"""


def test_an_image_dropped_on_the_panel_or_pasted_becomes_a_chip(studio):
    page = studio()
    pick_mode(page, "edit")
    page.evaluate(
        f"""async () => {{
          const file = await ({_MAKE_PNG})('dropped.png');
          const data = new DataTransfer(); data.items.add(file);
          const target = document.querySelector('#id_prompt');
          for (const type of ['dragover', 'drop']) {{
            target.dispatchEvent(new DragEvent(type, {{dataTransfer: data, bubbles: true, cancelable: true}}));
          }}
        }}"""
    )
    page.locator("#generation-form .upload-chip", has_text="dropped.png").wait_for()
    page.get_by_label("Prompt", exact=True).focus()
    page.evaluate(
        f"""async () => {{
          const file = await ({_MAKE_PNG})('');
          const data = new DataTransfer(); data.items.add(file);
          document.activeElement.dispatchEvent(new ClipboardEvent('paste', {{clipboardData: data, bubbles: true, cancelable: true}}));
        }}"""
    )
    # Image edit takes up to three images: the pasted one joins the dropped one.
    page.locator("#generation-form .upload-chip", has_text="pasted").wait_for()
    assert page.locator("#generation-form .upload-chip").count() == 2
    # Remove takes one away; the other stays.
    page.get_by_role("button", name="Remove dropped.png").click()
    assert page.locator("#generation-form .upload-chip").count() == 1
    assert page.js_errors == []


def test_remix_offers_the_same_seed_and_a_new_one(studio, alice, acme_project, live_server):
    job = JobFactory(project=acme_project, created_by=alice, mode="t2i", prompt="A fox", seed=99, params={})
    page = studio()
    page.goto(f"{live_server.url}/projects/{acme_project.public_id}/?remix={job.public_id}")
    seed = page.locator("#generation-form [name=seed]")
    assert seed.input_value() == "99"
    page.get_by_label("Same seed as the original").uncheck()
    assert seed.input_value() == ""
    page.get_by_label("Same seed as the original").check()
    assert seed.input_value() == "99"
