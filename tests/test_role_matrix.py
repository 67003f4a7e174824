"""Role x action matrix over every view that acts on a team's data (issue: sharing and roles).

owner (alice): everything. admin (erin): members, share links, everyone's jobs.
member (bob): generate, manage his own jobs, collections. viewer (dave): browse and download only.
outsider (charlie, owner of another team): every URL carrying one of Acme's ids is a 404.

Each case runs on fresh data; "ok" means a 2xx or 3xx answer, and for every refused request the
test also checks that nothing changed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from django.urls import reverse

from generations.models import (
    Collection,
    CollectionItem,
    Job,
    Run,
    RunCell,
    RunVote,
    ShareLink,
    TeamRunSettings,
)
from generations.sharing import share_link_create
from tests.factories import JobFactory, MembershipFactory, UserFactory, make_output
from wanweb.accounts import vendor_keys
from wanweb.accounts.models import Invite, Membership, Role, VendorCredential
from wanweb.accounts.services import invite_create

HX = {"HX-Request": "true"}
OK, FORBIDDEN, NOT_FOUND = "ok", 403, 404
ROLES = ["owner", "admin", "member", "viewer", "outsider"]


@dataclass
class World:
    project: Any
    alices_job: Any
    bobs_job: Any
    alices_output: Any
    bobs_output: Any
    collection: Any
    invite: Any
    share_link: Any
    dave: Any
    credential: Any = None
    run: Any = None


@pytest.fixture
def world(acme, alice, bob, dave, charlie, acme_project):
    erin = UserFactory(username="erin")
    MembershipFactory(team=acme, user=erin, role=Role.ADMIN)
    alices_job = JobFactory(project=acme_project, created_by=alice, status="succeeded")
    bobs_job = JobFactory(project=acme_project, created_by=bob, status="failed", error_code="timeout")
    alices_output = make_output(alices_job)
    bobs_output = make_output(bobs_job)
    collection = Collection.objects.create(team=acme, name="Picks", created_by=alice)
    CollectionItem.objects.create(collection=collection, asset=alices_output, added_by=alice)
    invite, _ = invite_create(actor=Membership.objects.get(user=alice, team=acme), role="member")
    link, _token = share_link_create(
        actor=Membership.objects.get(user=alice, team=acme), project=acme_project, label="client"
    )
    credential = vendor_keys.credential_set(
        membership=Membership.objects.get(user=alice, team=acme), vendor="fal", api_key="fal-role-matrix-key"
    )
    run = Run.objects.create(team=acme, project=acme_project, created_by=alice, mode="t2i", prompt="matrix")
    RunCell.objects.create(run=run, row=0, col=0, row_label="Simulator", col_label="seed 1", job=alices_job)
    return World(
        acme_project,
        alices_job,
        bobs_job,
        alices_output,
        bobs_output,
        collection,
        invite,
        link,
        dave,
        credential,
        run,
    )


def _users(alice, bob, dave, charlie):
    from django.contrib.auth import get_user_model

    return {
        "owner": alice,
        "admin": get_user_model().objects.get(username="erin"),
        "member": bob,
        "viewer": dave,
        "outsider": charlie,
    }


def _expect(owner, admin, member, viewer, outsider=NOT_FOUND):
    return dict(zip(ROLES, [owner, admin, member, viewer, outsider], strict=True))


def _p(w: World):
    return w.project.public_id


# (name, method, url, data, expectations, what must not change when refused)
CASES = [
    (
        "project page",
        "get",
        lambda w: reverse("generations:project-detail", args=[_p(w)]),
        None,
        _expect(OK, OK, OK, OK),
    ),
    (
        "rename project",
        "post",
        lambda w: reverse("generations:project-edit", args=[_p(w)]),
        {"name": "Renamed"},
        _expect(OK, OK, OK, FORBIDDEN),
    ),
    (
        "archive project",
        "post",
        lambda w: reverse("generations:project-archive", args=[_p(w)]),
        {"archived": "1"},
        _expect(OK, OK, OK, FORBIDDEN),
    ),
    (
        "generation form",
        "get",
        lambda w: reverse("generations:generation-form", args=[_p(w)]),
        None,
        _expect(OK, OK, OK, FORBIDDEN),
    ),
    (
        "submit a job",
        "post",
        lambda w: reverse("generations:job-create", args=[_p(w)]),
        {"provider": "simulator", "mode": "t2i", "model": "wan-sim", "prompt": "matrix"},
        _expect(OK, OK, OK, FORBIDDEN),
    ),
    (
        "gallery page",
        "get",
        lambda w: reverse("generations:gallery-page", args=[_p(w)]),
        None,
        _expect(OK, OK, OK, OK),
    ),
    (
        "job detail",
        "get",
        lambda w: reverse("generations:job-detail", args=[w.alices_job.public_id]),
        None,
        _expect(OK, OK, OK, OK),
    ),
    (
        "delete someone else's job",
        "post",
        lambda w: reverse("generations:job-delete", args=[w.alices_job.public_id]),
        None,
        _expect(OK, OK, FORBIDDEN, FORBIDDEN),
    ),
    (
        "delete own job",
        "post",
        lambda w: reverse("generations:job-delete", args=[w.bobs_job.public_id]),
        None,
        _expect(OK, OK, OK, FORBIDDEN),
    ),
    (
        "retry a failed job",
        "post",
        lambda w: reverse("generations:job-retry", args=[w.bobs_job.public_id]),
        None,
        _expect(OK, OK, OK, FORBIDDEN),
    ),
    (
        "download an output",
        "get",
        lambda w: reverse("generations:asset-file", args=[w.alices_output.public_id]),
        None,
        _expect(OK, OK, OK, OK),
    ),
    (
        "star an output",
        "post",
        lambda w: reverse("generations:asset-favourite", args=[w.alices_output.public_id]),
        None,
        _expect(OK, OK, OK, OK),
    ),
    (
        "share links of a project",
        "get",
        lambda w: reverse("generations:share-list-project", args=[_p(w)]),
        None,
        _expect(OK, OK, FORBIDDEN, FORBIDDEN),
    ),
    (
        "create a share link",
        "post",
        lambda w: reverse("generations:share-create-project", args=[_p(w)]),
        {"label": "x", "expires_in_days": "", "allow_downloads": ""},
        _expect(OK, OK, FORBIDDEN, FORBIDDEN),
    ),
    (
        "revoke a share link",
        "post",
        lambda w: reverse("generations:share-revoke", args=[w.share_link.public_id]),
        None,
        _expect(OK, OK, FORBIDDEN, FORBIDDEN),
    ),
    (
        "compare run page",
        "get",
        lambda w: reverse("generations:run-detail", args=[w.run.public_id]),
        None,
        _expect(OK, OK, OK, OK),
    ),
    (
        "vote in a compare run",
        "post",
        lambda w: reverse("generations:run-vote", args=[w.run.public_id]),
        {"cell": "0-0"},
        _expect(OK, OK, OK, FORBIDDEN),
    ),
    (
        "pick a compare run's winner",
        "post",
        lambda w: reverse("generations:run-winner", args=[w.run.public_id]),
        {"cell": "0-0"},
        _expect(OK, OK, OK, FORBIDDEN),
    ),
    (
        "share links of a compare run",
        "get",
        lambda w: reverse("generations:share-list-run", args=[w.run.public_id]),
        None,
        _expect(OK, OK, FORBIDDEN, FORBIDDEN),
    ),
    (
        "create a share link to a compare run",
        "post",
        lambda w: reverse("generations:share-create-run", args=[w.run.public_id]),
        {"label": "x", "expires_in_days": "", "allow_downloads": ""},
        _expect(OK, OK, FORBIDDEN, FORBIDDEN),
    ),
    (
        "collection page",
        "get",
        lambda w: reverse("generations:collection-detail", args=[w.collection.public_id]),
        None,
        _expect(OK, OK, OK, OK),
    ),
    (
        "rename someone else's collection",
        "post",
        lambda w: reverse("generations:collection-edit", args=[w.collection.public_id]),
        {"name": "Mine now"},
        _expect(OK, OK, FORBIDDEN, FORBIDDEN),
    ),
    (
        "delete someone else's collection",
        "post",
        lambda w: reverse("generations:collection-delete", args=[w.collection.public_id]),
        None,
        _expect(OK, OK, FORBIDDEN, FORBIDDEN),
    ),
    (
        "bulk zip",
        "post",
        lambda w: reverse("generations:bulk-download"),
        lambda w: {"ids": [str(w.alices_output.public_id)]},
        _expect(OK, OK, OK, OK),
    ),
    (
        "bulk collect",
        "post",
        lambda w: reverse("generations:bulk-collect"),
        lambda w: {"ids": [str(w.bobs_output.public_id)], "collection": str(w.collection.public_id)},
        _expect(OK, OK, OK, FORBIDDEN),
    ),
    (
        "bulk delete",
        "post",
        lambda w: reverse("generations:bulk-delete"),
        lambda w: {"ids": [str(w.alices_output.public_id)]},
        _expect(OK, OK, OK, FORBIDDEN),
    ),
    (
        "invite someone",
        "post",
        lambda w: reverse("accounts:invite-create"),
        {"role": "member", "days": 3},
        _expect(OK, OK, FORBIDDEN, FORBIDDEN, OK),
    ),
    (
        "revoke an invite",
        "post",
        lambda w: reverse("accounts:invite-revoke", args=[w.invite.public_id]),
        None,
        _expect(OK, OK, FORBIDDEN, FORBIDDEN),
    ),
    ("usage page", "get", lambda w: reverse("quotas:usage"), None, _expect(OK, OK, OK, OK, OK)),
    # Every member sees which vendors the team can use; only owners and admins see or change keys.
    ("vendor keys page", "get", lambda w: reverse("accounts:vendor-keys"), None, _expect(OK, OK, OK, OK, OK)),
    (
        "set a vendor key",
        "post",
        lambda w: reverse("accounts:vendor-key-set", args=["dashscope"]),
        {"api_key": "sk-role-matrix-dashscope"},
        _expect(OK, OK, FORBIDDEN, FORBIDDEN, OK),  # the outsider sets his own team's key
    ),
    (
        "verify a vendor key",
        "post",
        lambda w: reverse("accounts:vendor-key-verify", args=[w.credential.public_id]),
        None,
        _expect(OK, OK, FORBIDDEN, FORBIDDEN),
    ),
    (
        "remove a vendor key",
        "post",
        lambda w: reverse("accounts:vendor-key-remove", args=[w.credential.public_id]),
        None,
        _expect(OK, OK, FORBIDDEN, FORBIDDEN),
    ),
    # Like vendor keys: everyone sees the team's failover settings, owners and admins change them.
    (
        "failover settings page",
        "get",
        lambda w: reverse("generations:run-settings"),
        None,
        _expect(OK, OK, OK, OK, OK),
    ),
    (
        "change the failover settings",
        "post",
        lambda w: reverse("generations:run-settings"),
        {"failover_enabled": "on", "order_1": "simulator"},
        _expect(OK, OK, FORBIDDEN, FORBIDDEN, OK),  # the outsider changes his own team's
    ),
    (
        "ledger CSV",
        "get",
        lambda w: reverse("quotas:usage-csv"),
        None,
        _expect(OK, OK, FORBIDDEN, FORBIDDEN, OK),
    ),
]


def _snapshot(w: World) -> tuple:
    w.project.refresh_from_db()
    return (
        w.project.name,
        w.project.archived_at,
        Job.objects.count(),
        Collection.objects.filter(pk=w.collection.pk).values_list("name", flat=True).first(),
        CollectionItem.objects.count(),
        ShareLink.objects.filter(revoked_at__isnull=True).count(),
        ShareLink.objects.count(),
        RunVote.objects.count(),
        RunCell.objects.filter(winner=True).count(),
        list(
            TeamRunSettings.objects.filter(team=w.project.team).values_list(
                "failover_enabled", "provider_order"
            )
        ),
        Invite.objects.filter(revoked_at__isnull=True).count(),
        VendorCredential.objects.filter(team=w.project.team, revoked_at__isnull=True).count(),
        VendorCredential.objects.filter(team=w.project.team).count(),
    )


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("name", "method", "url", "data", "expected"), CASES, ids=[c[0] for c in CASES])
def test_the_role_matrix_holds(
    client, world, alice, bob, dave, charlie, role, name, method, url, data, expected, monkeypatch
):
    from generations import services

    monkeypatch.setattr(services.job_submit_task, "delay", lambda *args: None)
    client.force_login(_users(alice, bob, dave, charlie)[role])
    payload = data(world) if callable(data) else data
    before = _snapshot(world)
    response = getattr(client, method)(url(world), payload or {}, headers=HX)
    want = expected[role]
    if want == OK:
        assert response.status_code < 400, f"{role} {name}: {response.status_code}"
    else:
        assert response.status_code == want, f"{role} {name}: {response.status_code}, wanted {want}"
        assert _snapshot(world) == before, f"{role} {name} was refused but changed something"


@pytest.mark.parametrize(
    ("role", "allowed"), [("owner", True), ("admin", True), ("member", False), ("viewer", False)]
)
def test_only_owners_and_admins_change_roles(client, world, alice, bob, dave, charlie, role, allowed):
    client.force_login(_users(alice, bob, dave, charlie)[role])
    target = Membership.objects.get(user=world.dave)
    client.post(reverse("accounts:member-role", args=[target.public_id]), {"role": "member"}, headers=HX)
    target.refresh_from_db()
    assert (target.role == "member") is allowed
