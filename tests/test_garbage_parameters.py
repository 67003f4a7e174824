"""Bad input never gives a 5xx (shared/RELIABILITY.md §10): every URL pattern, filled with real
objects of alice's team, is requested with garbage in every query and form parameter the views read.
"""

from __future__ import annotations

import json
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


# ---------------------------------------------------------------------------------------------
# The newer URLs (compare runs and their share links, the team failover page, the runs API), asked
# by everyone who may ask: nobody, a member of another team, a member and the owner of the team.
# ---------------------------------------------------------------------------------------------

PAGE_GARBAGE = [
    "abc",
    "-1",
    "0",
    "99999999999999999999",
    "1e309",
    "\u00fcn\u00efc\u00f8d\u00e9 \u2713\u202e",
    "A" * 5000,
]
PATH_GARBAGE = [
    "abc",
    "-1",
    "99999999999999999999",
    "\u00fcn\u00efc\u00f8d\u00e9",
    "%ff%c0%80",
    "%00",
    "A" * 2000,
    "00000000-0000-0000-0000-000000000000",
]
SHARE_FIELDS = [f"share-{name}" for name in FORM_FIELDS["ShareLinkForm"]]  # the form's prefix
# Bodies for POST /api/v1/runs: not JSON, JSON of the wrong shape, right shape with wrong values.
RAW_BODIES = [
    "{not json",
    "",
    "null",
    "[]",
    '"a string"',
    "1e999",
    "[" * 100_000,  # deeper than Python's recursion limit
    '{"project": []}',
    '{"project": "not-a-uuid", "mode": "t2i", "targets": ["simulator:wan-sim"]}',
    '{"project": "%(project)s", "mode": "t2i", "targets": ["x"], "seeds": [1e999]}',
    '{"project": "%(project)s", "mode": "t2i", "targets": ["simulator:wan-sim"], "seeds": [99999999999999999999999]}',
    '{"project": "%(project)s", "mode": "t2i", "targets": ["simulator:wan-sim"], "seed_count": "abc"}',
    '{"project": "%(project)s", "mode": "t2i", "targets": [":", "::", "simulator:"], "extra_param": "seed"}',
    '{"project": "%(project)s", "mode": "t2i", "targets": ["simulator:wan-sim"], "params": {"seed": "\\u0000"}}',
    '{"project": "%(project)s", "mode": "t2i", "targets": ["simulator:wan-sim"], "extra_param": "size", "extra_values": [{}]}',
]
CONTENT_TYPES = [
    "text/plain",
    "application/xml",
    "application/x-www-form-urlencoded",
    "application/json; charset=latin-1",
]


@pytest.fixture
def compare_world(alice, acme, acme_project):
    """A run of alice's team with one cell, an output and a share link for it."""
    membership = Membership.objects.get(user=alice, team=acme)
    job = JobFactory(project=acme_project, created_by=alice, model="wan-sim", status="succeeded")
    output = make_output(job)
    run = Run.objects.create(team=acme, project=acme_project, created_by=alice, mode="t2i", prompt="a fox")
    RunCell.objects.create(run=run, row=0, col=0, row_label="Simulator", col_label="seed 1", job=job)
    _link, token = sharing.share_link_create(actor=membership, run=run, allow_downloads=False)
    return {"run": run, "project": acme_project, "output": output, "token": token}


def _newer_pages(world: dict) -> list[tuple[str, str, tuple[str, ...]]]:
    """(method, URL, the parameters it reads directly, which also get garbage on their own)."""
    run, project, token, asset = world["run"], world["project"], world["token"], world["output"]
    return [
        ("get", reverse("share:gallery", args=[token]), ("page",)),
        ("get", reverse("share:output", args=[token, asset.public_id]), ()),
        ("get", reverse("share:file", args=[token, asset.public_id]), ("download",)),
        ("get", reverse("share:thumb", args=[token, asset.public_id]), ("download",)),
        ("get", reverse("generations:run-settings"), ()),
        ("post", reverse("generations:run-settings"), ()),
        ("get", reverse("generations:run-detail", args=[run.public_id]), ("page",)),
        ("get", reverse("generations:run-changes", args=[run.public_id]), ("since", "idle")),
        ("post", reverse("generations:run-vote", args=[run.public_id]), ("cell",)),
        ("post", reverse("generations:run-winner", args=[run.public_id]), ("cell",)),
        ("get", reverse("generations:share-list-run", args=[run.public_id]), ()),
        ("post", reverse("generations:share-create-run", args=[run.public_id]), ()),
        ("post", reverse("generations:run-create", args=[project.public_id]), ()),
        ("get", reverse("generations:run-estimate", args=[project.public_id]), ()),
    ]


def _newer_paths_with_garbage(world: dict) -> list[tuple[str, str]]:
    """The same pages with garbage for the token, the run, the project or the asset."""
    token, asset = world["token"], world["output"].public_id
    urls = []
    for part in PATH_GARBAGE:
        urls += [
            ("get", f"/s/{part}/"),
            ("get", f"/s/{token}/o/{part}/"),
            ("get", f"/s/{token}/files/{part}/"),
            ("get", f"/s/{part}/files/{asset}/thumb/"),
            ("get", f"/runs/{part}/"),
            ("get", f"/runs/{part}/changes/"),
            ("post", f"/runs/{part}/vote/"),
            ("get", f"/runs/{part}/share-links/"),
            ("post", f"/projects/{part}/runs/"),
        ]
    return urls


def test_the_newer_pages_never_answer_5xx_to_anyone(client, bob, charlie, compare_world):
    client.raise_request_exception = False
    names = sorted({*ALL_PARAMS, *SHARE_FIELDS, "cell", "since", "idle", "page", "download"})
    everything = [{name: value for name in names} for value in [*PAGE_GARBAGE, *SOLO_GARBAGE]]
    sweep = [
        (method, url, everything + [{name: value} for name in solo for value in PAGE_GARBAGE])
        for method, url, solo in _newer_pages(compare_world)
    ]
    sweep += [(m, url, [{"page": "abc"}]) for m, url in _newer_paths_with_garbage(compare_world)]
    failures, statuses = [], Counter()
    # Alice's side of these pages is in the sweep of every URL above; the public pages are the same
    # for everyone.
    for user in (None, charlie, bob):
        for method, url, requests in sweep:
            with transaction.atomic():  # a vote, a winner or a new link must not change later answers
                client.logout()
                if user is not None:
                    client.force_login(user)
                send = getattr(client, method)
                answers = [(params, send(url, params)) for params in requests]
                # The htmx fragment of the same page, and bodies that are not a form at all.
                answers.append(("htmx", send(url, requests[0], headers={"HX-Request": "true"})))
                if method == "post":
                    for content_type in [
                        *CONTENT_TYPES,
                        "multipart/form-data; boundary=x",
                        "multipart/form-data",
                    ]:
                        answers.append(
                            (content_type, send(url, "{not a form\x00", content_type=content_type))
                        )
                for params, response in answers:
                    statuses[response.status_code] += 1
                    if response.status_code >= 500:
                        if isinstance(params, dict) and len(params) > 1:
                            params = f"all={params['page']!r:.30}"  # every parameter had this value
                        failures.append(
                            f"{user} {method.upper()} {url:.80} {params!r:.40}: {response.status_code}"
                        )
                transaction.set_rollback(True)
    assert not failures, "\n".join(failures)
    # The sweep reached the pages, not only the login redirect and 404s.
    assert statuses[200] > 100 and statuses[404] > 100 and statuses[302] > 100, statuses


def test_the_runs_api_never_answers_5xx_to_garbage_from_anyone(
    client, settings, alice, bob, charlie, acme, umbrella, compare_world
):
    from wanweb.api import services as api_services

    settings.API_RATE_LIMIT_PER_MINUTE = 0  # hundreds of requests per token here
    client.raise_request_exception = False
    project, run = compare_world["project"], compare_world["run"]
    tokens = {"nobody": None, "a made-up token": "wan_" + "x" * 40}
    for user, team in ((charlie, umbrella), (bob, acme), (alice, acme)):
        membership = Membership.objects.get(user=user, team=team)
        tokens[user.username] = api_services.token_create(membership=membership, name="sweep")[1]
    paths = ["/api/v1/runs", f"/api/v1/runs/{run.public_id}"]
    paths += [f"/api/v1/runs/{part}" for part in PATH_GARBAGE] + ["/api/v1/runs/" + "9" * 40 + "/x"]
    failures, statuses = [], Counter()
    for who, raw in tokens.items():
        auth = {"HTTP_AUTHORIZATION": f"Bearer {raw}"} if raw else {}

        def check(response, what: str) -> None:
            statuses[response.status_code] += 1
            if response.status_code >= 500:
                failures.append(f"{who} {what}: {response.status_code}")  # noqa: B023

        for path in paths:
            for value in [*PAGE_GARBAGE, *GARBAGE[:4]]:
                check(
                    client.get(path, {"page": value, "after": value, "limit": value}, **auth),
                    f"GET {path:.60}",
                )
        for template in RAW_BODIES:
            body = template.replace("%(project)s", str(project.public_id))
            check(
                client.post("/api/v1/runs", body, content_type="application/json", **auth), f"POST {body:.60}"
            )
            key = {"HTTP_IDEMPOTENCY_KEY": "\u00fcn\u00efc\u00f8d\u00e9" * 40}
            check(client.post("/api/v1/runs", body, content_type="application/json", **auth, **key), "key")
        good = json.dumps(
            {"project": str(project.public_id), "mode": "t2i", "targets": ["simulator:wan-sim"]}
        )
        for content_type in CONTENT_TYPES:
            check(client.post("/api/v1/runs", good, content_type=content_type, **auth), content_type)
        check(
            client.post("/api/v1/runs", {"project": str(project.public_id), "mode": "t2i"}, **auth),
            "multipart",
        )
        for method in ("put", "patch", "delete"):
            check(getattr(client, method)(f"/api/v1/runs/{run.public_id}", good, **auth), method)
    assert not failures, "\n".join(failures)
    # It reached the handlers: refused tokens, unknown runs and refused bodies all answered.
    assert {401, 404, 405, 422} <= set(statuses), statuses
