"""Done-means (issue 11, item 12): axe-core (vendored from npm, tests/browser/vendor) finds no serious
or critical violation on the main pages; every page has a skip link and a visible focus ring."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.browser.studio import build_studio, log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

AXE = (Path(__file__).parent / "vendor" / "axe.min.js").read_text()


def axe_violations(page) -> list[dict]:
    """Serious and critical violations on the current page. Evaluated through the DevTools protocol,
    which the page's CSP does not govern (a <script> tag would be refused, rightly)."""
    if not page.evaluate("() => !!window.axe"):
        page.evaluate(AXE)
    results = page.evaluate("async () => (await axe.run(document, {resultTypes: ['violations']})).violations")
    return [
        {
            "rule": v["id"],
            "impact": v["impact"],
            "help": v["help"],
            "nodes": [(n["target"], n.get("failureSummary", "")[:300]) for n in v["nodes"][:10]],
        }
        for v in results
        if v["impact"] in ("serious", "critical")
    ]


def _main_pages(base: str, studio) -> list[str]:
    return [
        f"{base}/projects/{studio.project.public_id}/",
        f"{base}/gallery/",
        f"{base}/jobs/{studio.image_job.public_id}/",
        f"{base}/jobs/{studio.video_job.public_id}/",
        f"{base}/jobs/{studio.failed_job.public_id}/",
        f"{base}/team/usage/",
        f"{base}/team/members/",
        f"{base}/team/vendor-keys/",
        f"{base}/team/failover/",
        f"{base}/runs/{studio.run.public_id}/",
        f"{base}/team/api-tokens/",
        f"{base}/projects/{studio.project.public_id}/webhooks/",
        f"{base}/projects/",
        f"{base}/jobs/00000000-0000-0000-0000-000000000000/",  # the 404 page
    ]


def test_axe_finds_no_serious_violation_on_the_main_pages(live_server, browser, page):
    base = live_server.url
    studio = build_studio(base)
    found: dict[str, list[dict]] = {}

    # Logged out first: the login page and the public share page.
    for url in (f"{base}/login/", studio.share_url, studio.run_share_url):
        page.goto(url)
        page.wait_for_load_state("networkidle")
        found[url] = axe_violations(page)

    log_in(page, base)
    for url in _main_pages(base, studio):
        page.goto(url)
        page.wait_for_load_state("networkidle")
        found[url] = axe_violations(page)

    failing = {url.removeprefix(base): v for url, v in found.items() if v}
    assert failing == {}, json.dumps(failing, indent=1)


def test_the_checker_itself_reports_a_contrast_failure(live_server, page):
    """Not a check that cannot fail: the same call flags grey-on-white text."""
    page.goto(f"{live_server.url}/login/")
    page.evaluate(
        "document.querySelector('main').insertAdjacentHTML('beforeend', "
        "'<p class=\"bad-contrast\">faint text</p>');"
        "Object.assign(document.querySelector('.bad-contrast').style, {color: '#bbb', background: '#fff'});"
    )
    assert [v["rule"] for v in axe_violations(page)] == ["color-contrast"]


def test_a_skip_link_is_the_first_stop_and_lands_on_the_content(live_server, page):
    base = live_server.url
    studio = build_studio(base)
    log_in(page, base)
    page.goto(f"{base}/projects/{studio.project.public_id}/")
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to content")
    assert skip.evaluate("el => el === document.activeElement")
    assert skip.is_visible()  # shown when focused (visually hidden otherwise)
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "content"
    page.keyboard.press("Tab")
    # The next stop is inside the main content, not back in the top bar.
    assert page.evaluate("!!document.activeElement.closest('#content')")


def _focus_ring(page, selector: str) -> dict:
    """The focused element's outline (or box-shadow ring) as computed."""
    return page.evaluate(
        """(sel) => { const el = document.querySelector(sel); el.focus({focusVisible: true});
            const s = getComputedStyle(el);
            return {outline: s.outlineStyle, width: parseFloat(s.outlineWidth), color: s.outlineColor,
                    shadow: s.boxShadow, focused: document.activeElement === el}; }""",
        selector,
    )


def test_focus_is_clearly_visible_on_the_dark_top_bar_and_on_the_page(live_server, page):
    base = live_server.url
    studio = build_studio(base)
    log_in(page, base)
    page.goto(f"{base}/projects/{studio.project.public_id}/")
    # Keyboard focus (a Tab first, so the browser applies :focus-visible to scripted focus too).
    page.keyboard.press("Tab")
    for selector in (
        ".app-topbar .navbar-brand",
        ".app-topbar .nav-link",
        ".app-topbar .team-switcher",
        "#user-menu button",
        "#generation-form button[type=submit]",
        "#id_prompt",
        ".job-card a",
        ".app-footer a",
    ):
        ring = _focus_ring(page, selector)
        assert ring["focused"], selector
        assert ring["outline"] != "none" and ring["width"] >= 2, (selector, ring)
    # A picture link draws its ring inside the tile (an outline would be clipped by the tile).
    ring = page.evaluate(
        """() => { const a = document.querySelector('.job-media a'); a.focus();
            const s = getComputedStyle(a, '::after');
            return {border: parseFloat(s.borderTopWidth), color: s.borderTopColor, shadow: s.boxShadow}; }"""
    )
    assert ring["border"] >= 3 and ring["color"] == "rgb(255, 255, 255)" and "inset" in ring["shadow"], ring
    # On the dark bar the ring is light; on the light page it is dark.
    assert _focus_ring(page, ".app-topbar .nav-link")["color"] == "rgb(255, 255, 255)"
    assert _focus_ring(page, "#generation-form button[type=submit]")["color"] != "rgb(255, 255, 255)"
