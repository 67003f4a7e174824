"""Done-means: a logged-out browser with a share link sees exactly that gallery and nothing else;
after revocation, 404."""

from __future__ import annotations

import re

import pytest

from generations.assets import asset_save_output
from generations.models import ShareLink
from providers.simulator import render_image, render_video
from tests.conftest import PASSWORD
from tests.factories import JobFactory, ProjectFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

VIDEO_PROMPT = "A paper boat sails across a rainy street at dusk, cinematic"
IMAGE_PROMPT = "A red fox in fresh snow, morning light, telephoto"


def _succeeded(project, *, mode: str, model: str, prompt: str, seed: int):
    job = JobFactory(project=project, mode=mode, model=model, prompt=prompt, params={"duration": 4})
    state = {"mode": mode, "model": model, "prompt": prompt, "seed": seed, "params": {"duration": 4}}
    if mode == "t2v":
        data, content_type = render_video(state, 640, 360), "video/mp4"
    else:
        data, content_type = render_image(state, 640, 480), "image/png"
    return asset_save_output(job=job, index=0, data=data, content_type=content_type)


def _log_in(page, base_url: str, username: str) -> None:
    page.goto(f"{base_url}/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{base_url}/projects/")


def test_a_logged_out_browser_sees_the_shared_gallery_until_the_link_is_revoked(
    live_server, browser, page, screenshot, alice, acme, acme_project, umbrella_project
):
    video = _succeeded(acme_project, mode="t2v", model="wan2.6-t2v", prompt=VIDEO_PROMPT, seed=3)
    image = _succeeded(acme_project, mode="t2i", model="wan2.6-t2i", prompt=IMAGE_PROMPT, seed=5)
    # Never on the public page: a failed job, another project of the team, another team.
    JobFactory(project=acme_project, status="failed", prompt="a failed attempt")
    _succeeded(ProjectFactory(team=acme), mode="t2i", model="wan2.6-t2i", prompt="not shared", seed=9)
    _succeeded(umbrella_project, mode="t2i", model="wan2.6-t2i", prompt="umbrella secret", seed=11)

    base = live_server.url
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=base)
    _log_in(page, base, "alice")
    page.goto(f"{base}/projects/{acme_project.public_id}/")
    page.get_by_role("link", name="Share").wait_for()
    screenshot(page, "39-share-button")
    page.get_by_role("link", name="Share").click()
    dialog = page.locator(".share-modal.show")
    dialog.get_by_label("Label").wait_for()
    dialog.get_by_label("Label").fill("For the client")
    dialog.get_by_label("Expires after (days)").fill("30")
    dialog.get_by_label("Allow downloads").check()
    dialog.get_by_role("button", name="Create public link").click()
    url_field = dialog.locator("#new-share-url")
    url_field.wait_for()
    dialog.get_by_role("button", name="Copy").click()
    dialog.get_by_role("button", name="Copied").wait_for()
    share_url = page.evaluate("navigator.clipboard.readText()")
    assert share_url == url_field.input_value()
    assert re.fullmatch(rf"{re.escape(base)}/s/[A-Za-z0-9_-]{{43}}/", share_url)
    assert dialog.locator(".share-link", has_text="For the client").locator(".share-state").inner_text() == (
        "Active"
    )
    screenshot(page, "40-share-panel")
    assert page.js_errors == []

    # A fresh browser context: no cookies, nobody logged in.
    visitor = browser.new_context(viewport={"width": 1280, "height": 860})
    visitor.set_default_timeout(10_000)
    public = visitor.new_page()
    public_errors: list[str] = []
    public.on("pageerror", lambda exc: public_errors.append(str(exc)))
    response = public.goto(share_url)
    assert response.status == 200
    assert response.headers["x-robots-tag"] == "noindex, nofollow"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert public.get_by_role("heading", name="Spring campaign").is_visible()
    cards = public.locator(".share-card")
    assert cards.count() == 2
    assert cards.nth(0).get_attribute("id") == f"output-{image.public_id}"  # newest first
    assert cards.nth(1).get_attribute("id") == f"output-{video.public_id}"
    body = public.locator("body").inner_text()
    for hidden in ("a failed attempt", "not shared", "umbrella secret", "alice", "Acme"):
        assert hidden not in body, hidden
    # Nothing private: no form, no team switcher or app top bar, no link back into the app.
    assert public.locator("form").count() == 0
    assert public.locator("#team-switcher, .app-topbar, #user-menu").count() == 0
    assert public.locator("a[href^='/projects'], a[href^='/team'], a[href^='/login']").count() == 0
    assert public.locator("meta[name=robots]").get_attribute("content") == "noindex, nofollow"
    og_image = public.locator("meta[property='og:image']").get_attribute("content")
    assert og_image.startswith(share_url) and og_image.endswith(f"/files/{image.public_id}/thumb/")
    assert public.locator(".share-download").count() == 2  # this link allows downloads
    # The images have loaded (through the token, without a session).
    public.wait_for_function(
        "() => [...document.querySelectorAll('.share-card img')].every(i => i.complete && i.naturalWidth > 0)"
    )

    player = cards.nth(1).locator("video")
    assert player.get_attribute("preload") == "none" and player.get_attribute("controls") is not None
    assert player.get_attribute("poster")
    player.evaluate("v => { v.muted = true; return v.play(); }")
    public.wait_for_function(
        "() => document.querySelector('.share-card video').currentTime > 0.3", timeout=15_000
    )
    player.evaluate("v => v.pause()")
    screenshot(public, "41-share-public-desktop")

    # The image opens full size on its own page.
    cards.nth(0).locator("img").click()
    public.wait_for_url(re.compile(rf".*/o/{image.public_id}/$"))
    full = public.locator(".share-stage img")
    full.wait_for()
    public.wait_for_function("() => document.querySelector('.share-stage img').naturalWidth === 640")
    assert IMAGE_PROMPT in public.locator(".share-prompt").inner_text()
    screenshot(public, "42-share-public-output")
    public.go_back()

    public.set_viewport_size({"width": 390, "height": 844})
    public.reload()
    public.locator(".share-card").first.wait_for()
    screenshot(public, "43-share-public-phone")
    assert public_errors == []

    # Alice revokes (on her phone); the visitor's next load is a 404, and so are the files.
    page.set_viewport_size({"width": 390, "height": 844})
    page.once("dialog", lambda d: d.accept())
    link_row = dialog.locator(".share-link", has_text="For the client")
    link_row.get_by_role("button", name="Revoke").click()
    dialog.locator(".share-link[data-state='revoked']", has_text="For the client").wait_for()
    assert ShareLink.objects.get().revoked_at is not None
    screenshot(page, "44-share-panel-revoked-phone")

    response = public.reload()
    assert response.status == 404
    assert public.get_by_role("heading", name="This link is not available").is_visible()
    assert public.locator(".share-card").count() == 0
    screenshot(public, "45-share-public-revoked-phone")
    assert public.request.get(og_image).status == 404
    assert public.request.get(f"{share_url}files/{video.public_id}/").status == 404
    visitor.close()
    assert page.js_errors == []


def test_a_collection_is_shared_from_its_page(
    live_server, browser, page, screenshot, alice, acme, acme_project
):
    from generations.models import Collection, CollectionItem

    image = _succeeded(acme_project, mode="t2i", model="wan2.6-t2i", prompt=IMAGE_PROMPT, seed=5)
    _succeeded(acme_project, mode="t2i", model="wan2.6-t2i", prompt="left out of the collection", seed=6)
    collection = Collection.objects.create(team=acme, name="Client picks", created_by=alice)
    CollectionItem.objects.create(collection=collection, asset=image, added_by=alice)

    base = live_server.url
    _log_in(page, base, "alice")
    page.goto(f"{base}/collections/{collection.public_id}/")
    page.get_by_role("link", name="Share").click()
    dialog = page.locator(".share-modal.show")
    dialog.get_by_role("button", name="Create public link").click()
    share_url = dialog.locator("#new-share-url").input_value()
    assert page.js_errors == []

    visitor = browser.new_context(viewport={"width": 1280, "height": 860})
    public = visitor.new_page()
    assert public.goto(share_url).status == 200
    assert public.get_by_role("heading", name="Client picks").is_visible()
    assert public.locator(".share-card").count() == 1
    assert "left out of the collection" not in public.locator("body").inner_text()
    assert public.locator(".share-download").count() == 0  # downloads were left off
    screenshot(public, "46-share-public-collection")
    visitor.close()
