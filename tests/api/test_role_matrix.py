"""Role x endpoint matrix of the API: a token acts with its owner's role in its team.

owner alice, admin erin, member bob, viewer dave, outsider charlie (his own team's token), and
alice's revoked and expired tokens. Every refused request changes nothing.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from generations.models import Job, Project, Run, RunCell
from tests.api.conftest import bearer, make_token
from tests.factories import JobFactory, MembershipFactory, UserFactory, make_output
from wanweb.accounts.models import Role
from wanweb.api.models import ApiToken
from wanweb.quotas.models import Hold

pytestmark = pytest.mark.django_db
WHO = ["owner", "admin", "member", "viewer", "outsider", "revoked", "expired"]


@pytest.fixture
def world(acme, umbrella, alice, bob, dave, charlie, acme_project):
    erin = UserFactory(username="erin")
    MembershipFactory(team=acme, user=erin, role=Role.ADMIN)
    tokens = {
        "owner": make_token(alice, acme),
        "admin": make_token(erin, acme),
        "member": make_token(bob, acme),
        "viewer": make_token(dave, acme),
        "outsider": make_token(charlie, umbrella),
        "revoked": make_token(alice, acme),
        "expired": make_token(alice, acme),
    }
    ApiToken.objects.filter(prefix=tokens["revoked"][:12]).update(revoked_at=timezone.now())
    ApiToken.objects.filter(prefix=tokens["expired"][:12]).update(
        expires_at=timezone.now() - timedelta(minutes=1)
    )
    active = JobFactory(project=acme_project, created_by=alice, status="running")
    done = JobFactory(project=acme_project, created_by=alice, status="succeeded")
    failed = JobFactory(project=acme_project, created_by=alice, status="failed", error_code="timeout")
    output = make_output(done)
    run = Run.objects.create(team=acme, project=acme_project, created_by=alice, mode="t2i", prompt="x")
    RunCell.objects.create(run=run, row=0, col=0, row_label="Simulator", col_label="seed 1", job=done)
    return {
        "run": run,
        "tokens": tokens,
        "project": acme_project,
        "active": active,
        "done": done,
        "failed": failed,
        "output": output,
    }


def _snapshot():
    return (
        sorted(Job.objects.values_list("public_id", "status")),
        sorted(Project.objects.values_list("public_id", "name")),
        Hold.objects.count(),
        Run.objects.count(),
    )


READ, EDIT, ADMIN = "read", "edit", "admin"
# (name, method, path template, body, who may: READ = every role, EDIT = member and up, ADMIN = admin and up)
CASES = [
    ("models", "get", "/api/v1/models", None, READ),
    ("project", "get", "/api/v1/projects/{project}", None, READ),
    ("project-create", "post", "/api/v1/projects", {"name": "New"}, EDIT),
    ("jobs", "get", "/api/v1/jobs?project={project}", None, READ),
    ("job", "get", "/api/v1/jobs/{done}", None, READ),
    ("file", "get", "/api/v1/files/{output}", None, READ),
    ("usage", "get", "/api/v1/usage", None, READ),
    (
        "job-create",
        "post",
        "/api/v1/jobs",
        {"project": "{project}", "provider": "simulator", "mode": "t2i", "prompt": "x"},
        EDIT,
    ),
    (
        "cancel",
        "post",
        "/api/v1/jobs/{active}/cancel",
        None,
        ADMIN,
    ),  # alice's job: members manage only their own
    ("retry", "post", "/api/v1/jobs/{failed}/retry", None, EDIT),
    ("delete", "delete", "/api/v1/jobs/{done}", None, ADMIN),
    ("run", "get", "/api/v1/runs/{run}", None, READ),
    (
        "run-create",
        "post",
        "/api/v1/runs",
        {
            "project": "{project}",
            "mode": "t2i",
            "prompt": "x",
            "targets": ["simulator:wan-sim"],
            "seeds": [1],
        },
        EDIT,
    ),
]
OK = {"get": 200, "post": 200, "delete": 204}
CREATED = {"project-create", "job-create", "retry", "run-create"}


def _expected(who: str, name: str, method: str, allowed: str) -> int:
    if who in ("revoked", "expired"):
        return 401
    team_wide = name in ("models", "usage", "project-create")  # the outsider acts in his own team
    if who == "outsider":
        if team_wide:
            return 201 if name in CREATED else 200
        return 404
    rank = {"viewer": 0, "member": 1, "admin": 2, "owner": 3}[who]
    need = {READ: 0, EDIT: 1, ADMIN: 2}[allowed]
    if rank < need:
        return 403
    return 201 if name in CREATED else OK[method]


@pytest.mark.parametrize("who", WHO)
@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_role_matrix(client, world, who, case):
    name, method, template, body, allowed = case
    ids = {k: v.public_id for k, v in world.items() if hasattr(v, "public_id")}
    path = template.format(**ids)
    payload = json.loads(json.dumps(body).replace("{project}", str(ids["project"]))) if body else None
    before = _snapshot()
    send = getattr(client, method)
    kwargs = {"content_type": "application/json"} if payload is not None else {}
    response = send(
        path, json.dumps(payload) if payload is not None else None, **kwargs, **bearer(world["tokens"][who])
    )
    expected = _expected(who, name, method, allowed)
    assert response.status_code == expected, (who, name, response.status_code, response.content[:300])
    if expected >= 400:
        assert response["Content-Type"] == "application/problem+json"
        assert _snapshot() == before, "a refused request changed something"
