"""Bad input never gives a 5xx (shared/RELIABILITY.md §10): every URL pattern, filled with real
objects of alice's team, is requested with garbage in every query and form parameter the views read.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest
from django.db import transaction
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from generations import files, sharing
from generations.assets import UploadedInput, asset_save_input
from generations.models import Collection, Run, RunCell
from providers import catalog, media
from tests.factories import JobFactory, make_output, make_png
from wanweb.accounts import services as account_services
from wanweb.accounts import vendor_keys
from wanweb.accounts.models import Membership

ROOT = Path(__file__).resolve().parent.parent

# Every name a view reads from request.GET / request.POST directly (checked against the code below).
DIRECT_PARAMS = {
    "GET": {
        "idle",
        "next",
        "after",
        "archived",
        "remix",
        "before",
        "since",
        "download",
        "page",
        "period",
        "mode",
        "use",
    },
    "POST": {
        "next",
        "ids",
        "label",
        "project",
        "new_collection",
        "collection",
        "archived",
        "apply",
        "provider",
        "mode",
        "model",
        "slot",
        "preset_name",
        "preset_negative",
        "preset_suffix",
        "cell",  # compare run: "row-col" of a cell to vote for or pick
    },
}
# Forms bound to request data: their fields are parameters too.
FORM_FIELDS = {
    "GalleryFilterForm": ["q", "project", "mode", "model", "provider", "status", "creator"]
    + ["date_from", "date_to", "favourites", "sort"],
    "GenerationForm": ["provider", "mode", "model", "prompt"],  # plus every catalog field, below
    "ProjectForm": ["name", "description"],
    "CollectionForm": ["name", "description"],
    "ShareLinkForm": ["label", "expires_in_days", "allow_downloads"],
    "CompareForm": ["compare_target", "compare_seeds", "compare_seed_list", "compare_variants"]
    + ["compare_extra", "compare_values", "compare_failover"],
    "RunSettingsForm": ["failover_enabled"] + [f"order_{n}" for n in range(1, 7)],  # /team/failover/
    "TeamForm": ["name"],
    "InviteForm": ["role", "days"],
    "RoleForm": ["role"],
    "InviteSignupForm": ["username", "password1", "password2"],
    "TopUpForm": ["amount", "note"],  # the usage admin's top-up
    "VendorKeyForm": ["api_key", "webhook_secret"],
    "TokenForm": ["name", "expires_in_days"],  # the API tokens page
    "WebhookForm": ["url", "events", "team_wide"],  # a project's webhooks page
}
CATALOG_FIELDS = sorted({f.name for spec in catalog.all_models() for f in spec.fields})
PARAMS = sorted(
    DIRECT_PARAMS["GET"] | DIRECT_PARAMS["POST"] | {n for names in FORM_FIELDS.values() for n in names}
)
ALL_PARAMS = sorted(set(PARAMS) | set(CATALOG_FIELDS))

GARBAGE = [
    "not-a-uuid",
    "2024-13-45T25:61:00",
    "",
    "-1",
    "9" * 40,
    "1e309",
    "\x00",
    "' OR 1=1 --",
    "../../etc/passwd",
    "%ff\u202e\u0301",
    "[]",
    "A" * 5000,
]
# The values each parameter also gets on its own (so an early 404 on one cannot hide another).
SOLO_GARBAGE = ["not-a-uuid", "2024-13-45T25:61:00", "\x00", "9" * 40]

_READ = re.compile(r"request\.(GET|POST)\.(?:get|getlist|setdefault|pop)\(\s*\"(\w+)\"")
_IN = re.compile(r"\"(\w+)\" in request\.(GET|POST)")
_BOUND = re.compile(r"(\w+Form|_form)\(\s*request\.(GET|POST)")


def _sources() -> list[Path]:
    paths = [*ROOT.glob("generations/**/*.py"), *ROOT.glob("wanweb/**/*.py")]
    return [p for p in paths if "migrations" not in p.parts]


def test_the_parameter_list_covers_every_parameter_the_views_read():
    found = {"GET": set(), "POST": set()}
    forms = set()
    for path in _sources():
        text = path.read_text()
        for method, name in _READ.findall(text):
            found[method].add(name)
        for name, method in _IN.findall(text):
            found[method].add(name)
        forms.update(name for name, _ in _BOUND.findall(text))
    assert found["GET"] <= DIRECT_PARAMS["GET"], found["GET"] - DIRECT_PARAMS["GET"]
    assert found["POST"] <= DIRECT_PARAMS["POST"], found["POST"] - DIRECT_PARAMS["POST"]
    forms = {"ShareLinkForm" if name == "_form" else name for name in forms}
    assert forms <= set(FORM_FIELDS), forms - set(FORM_FIELDS)


def _patterns(resolvers=None, prefix=""):
    """(route text, pattern) for every URL pattern, nested includes flattened."""
    for entry in (resolvers or get_resolver()).url_patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            yield from _patterns(entry, route)
        elif isinstance(entry, URLPattern):
            yield route, entry


@pytest.fixture
def world(alice, acme, acme_project):
    membership = Membership.objects.get(user=alice, team=acme)
    job = JobFactory(project=acme_project, created_by=alice, model="wan2.6-t2i")
    output = make_output(job)
    data = make_png(64, 48)
    source = asset_save_input(
        job=job, upload=UploadedInput("image", data, "a.png", media.probe(data)), index=0
    )
    collection = Collection.objects.create(team=acme, name="Picks", created_by=alice)
    link, token = sharing.share_link_create(actor=membership, project=acme_project)
    invite, invite_token = account_services.invite_create(actor=membership, role="member")
    credential = vendor_keys.credential_set(
        membership=membership, vendor="fal", api_key="fal-garbage-sweep-key"
    )
    run = Run.objects.create(team=acme, project=acme_project, created_by=alice, mode="t2i")
    RunCell.objects.create(run=run, row=0, col=0, row_label="Simulator", col_label="seed 1", job=job)
    return {
        "run_id": run.public_id,
        "project_id": acme_project.public_id,
        "job_id": job.public_id,
        "asset_id": output.public_id,
        "collection_id": collection.public_id,
        "link_id": link.public_id,
        "member_id": membership.public_id,
        "invite_id": invite.public_id,
        "team_id": acme.public_id,
        "provider": "fal",
        "vendor": "fal",
        "credential_id": credential.public_id,
        "share_token": token,
        "invite_token": invite_token,
        "input_token": files.input_url_token(source),
    }


def _fill(route: str, world: dict) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(2)
        if name == "token":
            if route.startswith("s/"):
                return world["share_token"]
            if route.startswith("invite/"):
                return world["invite_token"]
            return world["input_token"]
        if name in world:
            return str(world[name])
        return "garbage"  # admin's object ids, app labels and such

    path = re.sub(r"<(?:(\w+):)?(\w+)>", value, route)
    # Regex routes (admin's app_list): a plain segment stands in for the group.
    path = re.sub(r"\(\?P<\w+>[^)]*\)", "generations", path).lstrip("^").rstrip("$")
    return "/" + path.replace("\\", "")


@pytest.fixture
def a_worker_heartbeat():
    """/readyz answers 503 without a worker; the sweep is about parameters, so one worker "runs"."""
    from wanweb.ops import heartbeat

    heartbeat.beat(hostname="sweep@test", queues=[])
    yield
    heartbeat.forget(hostname="sweep@test")


def test_no_url_answers_5xx_to_garbage_parameters(client, alice, world, a_worker_heartbeat):
    client.raise_request_exception = False
    client.force_login(alice)
    failures, statuses, reached, routes = [], Counter(), set(), set()
    login = reverse("login")
    for route, _pattern in _patterns():
        url = _fill(route, world)
        assert "<" not in url, route
        routes.add(route)
        requests = [{name: value for name in ALL_PARAMS} for value in GARBAGE]
        if not route.startswith("admin/"):  # Django's own views get the bulk garbage only
            direct = DIRECT_PARAMS["GET"] | DIRECT_PARAMS["POST"]
            requests += [{name: value} for name in sorted(direct) for value in SOLO_GARBAGE]
        # Each URL in a transaction rolled back after it: a delete, a revoke or alice leaving
        # her team must not turn every later URL into a quiet 404.
        with transaction.atomic():
            client.force_login(alice)  # again: the logout URL (swept too) ends the session
            for method in ("get", "post"):
                send = getattr(client, method)
                responses = [(params, send(url, params)) for params in requests[:1]]
                if responses[0][1].status_code == 405:
                    continue
                raw = "&".join(f"{name}=%ff%c0%80" for name in sorted(DIRECT_PARAMS["GET"]))
                responses.append(({"raw": raw}, send(url, QUERY_STRING=raw)))
                responses += [(params, send(url, params)) for params in requests[1:]]
                for params, response in responses:
                    statuses[response.status_code] += 1
                    if not response.get("Location", "").startswith(login):
                        reached.add(route)
                    if response.status_code >= 500:
                        name, value = (
                            next(iter(params.items())) if len(params) == 1 else ("all", params["since"])
                        )
                        failures.append(
                            f"{method.upper()} {url} {name}={value!r:.30}: {response.status_code}"
                        )
            transaction.set_rollback(True)
    assert not failures, "\n".join(failures)
    # The sweep reached the views as alice, not just the login page.
    assert routes - reached <= {"logout/"}, routes - reached
    assert statuses[200] > 500 and sum(statuses.values()) > 2000, statuses
