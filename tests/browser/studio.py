"""A small, realistic studio for the page-hygiene browser tests (CSP, console, axe, screenshots),
and a watcher that records what a page complains about."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.contrib.auth import get_user_model

from generations.assets import asset_save_output
from generations.models import Run, RunCell
from generations.sharing import share_link_create
from providers.simulator import render_image, render_video
from tests.conftest import PASSWORD
from tests.factories import JobFactory, MembershipFactory, ProjectFactory, TeamFactory
from wanweb.accounts.models import Membership, Role

IMAGE_PROMPT = "A red fox in fresh snow, morning light, telephoto"
VIDEO_PROMPT = "A paper boat sails across a rainy street at dusk, cinematic"


@dataclass
class Studio:
    project: object
    image_job: object
    video_job: object
    failed_job: object
    share_url: str
    run: object = None
    run_share_url: str = ""


def build_studio(live_server_url: str) -> Studio:
    """alice (owner of Acme, and staff for the admin pages), bob a member, one project with an image,
    a video and a failed job, and a public share link to the project."""
    team = TeamFactory(name="Acme", slug="acme")
    user_model = get_user_model()
    alice = user_model.objects.create_user(
        "alice", "alice@example.com", PASSWORD, is_staff=True, is_superuser=True
    )
    MembershipFactory(team=team, user=alice, role=Role.OWNER)
    bob = user_model.objects.create_user("bob", "bob@example.com", PASSWORD)
    MembershipFactory(team=team, user=bob, role=Role.MEMBER)
    project = ProjectFactory(team=team, name="Spring campaign", slug="spring-campaign", created_by=alice)

    def succeeded(mode: str, model: str, prompt: str, seed: int):
        job = JobFactory(project=project, created_by=alice, mode=mode, model=model, prompt=prompt)
        state = {"mode": mode, "model": model, "prompt": prompt, "seed": seed, "params": {"duration": 4}}
        if mode == "t2v":
            data, content_type = render_video(state, 640, 360), "video/mp4"
        else:
            data, content_type = render_image(state, 640, 480), "image/png"
        asset_save_output(job=job, index=0, data=data, content_type=content_type)
        return job

    video_job = succeeded("t2v", "wan2.6-t2v", VIDEO_PROMPT, 3)
    image_job = succeeded("t2i", "wan2.6-t2i", IMAGE_PROMPT, 5)
    failed_job = JobFactory(
        project=project,
        created_by=bob,
        status="failed",
        prompt="a castle made of clouds",
        error_code="content_policy",
        error_message="The prompt was refused by the vendor's content policy.",
    )
    owner = Membership.objects.get(team=team, user=alice)
    _, token = share_link_create(actor=owner, project=project, label="For the client")
    # A compare run of two cells (the video and the failed job) and its public link.
    run = Run.objects.create(team=team, project=project, created_by=alice, mode="t2v", prompt=VIDEO_PROMPT)
    for col, job in enumerate((video_job, failed_job)):
        RunCell.objects.create(
            run=run,
            row=0,
            col=col,
            row_label="Simulator (offline) · wan-sim",
            col_label=f"seed {col + 1}",
            job=job,
        )
    _, run_token = share_link_create(actor=owner, run=run, label="Compare for the client")
    return Studio(
        project=project,
        image_job=image_job,
        video_job=video_job,
        failed_job=failed_job,
        share_url=f"{live_server_url}/s/{token}/",
        run=run,
        run_share_url=f"{live_server_url}/s/{run_token}/",
    )


def log_in(page, base_url: str, username: str = "alice") -> None:
    page.goto(f"{base_url}/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{base_url}/projects/")


@dataclass
class Watch:
    """Everything a page reported: console errors, uncaught exceptions and CSP violations."""

    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    csp_violations: list[dict] = field(default_factory=list)


# Runs in every document before its own scripts (an init script is not subject to the page's CSP).
_CSP_LISTENER = """
document.addEventListener("securitypolicyviolation", (e) => {
  window.__wwCspViolation({
    page: location.pathname, directive: e.violatedDirective, blocked: e.blockedURI,
    sample: e.sample, source: e.sourceFile + ":" + e.lineNumber,
  });
});
"""


def watch(page) -> Watch:
    """Start recording on `page` (and any later navigation of it); call before the first goto."""
    seen = Watch()

    def on_console(message) -> None:
        if message.type == "error":
            seen.console_errors.append(f"{page.url}: {message.text}")

    page.on("console", on_console)
    page.on("pageerror", lambda exc: seen.page_errors.append(f"{page.url}: {exc}"))
    page.expose_binding("__wwCspViolation", lambda source, violation: seen.csp_violations.append(violation))
    page.add_init_script(_CSP_LISTENER)
    return seen
