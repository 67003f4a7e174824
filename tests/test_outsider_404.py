"""Every URL that takes an id, asked for by a user of another team, is a 404 (never a 403)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from generations.models import Preset, Run, RunCell, ShareLink
from generations.sharing import share_link_create
from generations.uploads import pending_upload_create
from providers import media
from tests.factories import JobFactory, make_output, make_png
from wanweb.accounts import vendor_keys
from wanweb.accounts.models import Membership
from wanweb.accounts.services import invite_create


def _id_urls(team, project, membership, invite, job, asset, preset, upload, credential):
    studio = [
        ("post", reverse("generations:upload-create", args=[project.public_id])),
        ("get", reverse("generations:upload-thumb", args=[upload.public_id])),
        ("post", reverse("generations:preset-create", args=[project.public_id])),
        ("post", reverse("generations:preset-delete", args=[preset.public_id])),
        (
            "get",
            reverse("generations:project-detail", args=[project.public_id])
            + f"?use={asset.public_id}&mode=edit",
        ),
    ]
    return studio + [
        ("get", reverse("generations:job-detail", args=[job.public_id])),
        ("post", reverse("generations:job-cancel", args=[job.public_id])),
        ("post", reverse("generations:job-retry", args=[job.public_id])),
        ("post", reverse("generations:job-delete", args=[job.public_id])),
        ("get", reverse("generations:asset-file", args=[asset.public_id])),
        ("get", reverse("generations:asset-thumb", args=[asset.public_id])),
        ("get", reverse("generations:generation-form", args=[project.public_id])),
        ("get", reverse("generations:generation-estimate", args=[project.public_id])),
        ("post", reverse("generations:job-create", args=[project.public_id])),
        ("get", reverse("generations:gallery-page", args=[project.public_id])),
        ("get", reverse("generations:gallery-changes", args=[project.public_id])),
        ("get", reverse("generations:project-detail", args=[project.public_id]) + f"?remix={job.public_id}"),
        ("get", reverse("generations:project-detail", args=[project.public_id])),
        ("get", reverse("generations:project-edit", args=[project.public_id])),
        ("post", reverse("generations:project-edit", args=[project.public_id])),
        ("post", reverse("generations:project-archive", args=[project.public_id])),
        ("post", reverse("accounts:team-switch", args=[team.public_id])),
        ("post", reverse("accounts:member-role", args=[membership.public_id])),
        ("post", reverse("accounts:member-remove", args=[membership.public_id])),
        ("post", reverse("accounts:invite-revoke", args=[invite.public_id])),
        ("post", reverse("accounts:vendor-key-verify", args=[credential.public_id])),
        ("post", reverse("accounts:vendor-key-remove", args=[credential.public_id])),
    ]


def _run_urls(team, project, job, owner):
    run = Run.objects.create(team=team, project=project, mode="t2i")
    RunCell.objects.create(run=run, row=0, col=0, row_label="Simulator", col_label="seed 1", job=job)
    link, _token = share_link_create(actor=owner, run=run)
    return [
        ("get", reverse("generations:run-detail", args=[run.public_id])),
        ("get", reverse("generations:run-changes", args=[run.public_id])),
        ("post", reverse("generations:run-vote", args=[run.public_id]) + "?cell=0-0"),
        ("post", reverse("generations:run-winner", args=[run.public_id]) + "?cell=0-0"),
        ("post", reverse("generations:run-create", args=[project.public_id])),
        ("get", reverse("generations:run-estimate", args=[project.public_id])),
        ("get", reverse("generations:share-list-run", args=[run.public_id])),
        ("post", reverse("generations:share-create-run", args=[run.public_id])),
        ("post", reverse("generations:share-revoke", args=[link.public_id])),
    ]


def test_an_outsider_gets_404_for_every_url_with_another_teams_id(
    client, alice, bob, charlie, acme, acme_project
):
    bob_membership = Membership.objects.get(user=bob, team=acme)
    invite, _ = invite_create(actor=Membership.objects.get(user=alice, team=acme), role="member")
    job = JobFactory(project=acme_project, status="failed")
    asset = make_output(job)
    preset = Preset.objects.create(team=acme, name="Ours", provider="simulator", mode="t2i", model="wan-sim")
    data = make_png()
    upload = pending_upload_create(user=alice, team=acme, filename="a.png", data=data, info=media.probe(data))
    client.force_login(charlie)
    credential = vendor_keys.credential_set(
        membership=Membership.objects.get(user=alice, team=acme),
        vendor="lumenfall",
        api_key="lmnfl_outsider_404",
    )
    urls = _id_urls(acme, acme_project, bob_membership, invite, job, asset, preset, upload, credential)
    urls += _run_urls(acme, acme_project, job, Membership.objects.get(user=alice, team=acme))
    for method, url in urls:
        response = getattr(client, method)(url, {"name": "x", "role": "owner", "archived": "1"})
        assert response.status_code == 404, f"{method.upper()} {url} gave {response.status_code}"
    # Nothing changed behind the 404s.
    acme_project.refresh_from_db()
    bob_membership.refresh_from_db()
    assert acme_project.name == "Spring campaign" and not acme_project.is_archived
    assert bob_membership.role == "member"
    job.refresh_from_db()
    assert job.status == "failed" and job.retries.count() == 0
    assert Preset.objects.filter(pk=preset.pk).exists() and Preset.objects.count() == 1
    credential.refresh_from_db()
    assert credential.revoked_at is None and credential.last_verified_at is None
    assert (
        ShareLink.objects.filter(run__isnull=False, revoked_at=None).count() == 1
    )  # none made, none revoked


@pytest.mark.django_db
def test_a_made_up_id_is_also_404(client, alice):
    client.force_login(alice)
    assert client.get("/projects/00000000-0000-0000-0000-000000000000/").status_code == 404


def test_an_outsider_gets_404_for_the_api_pages_and_the_api_with_another_teams_ids(
    client, settings, alice, charlie, acme, umbrella, acme_project
):
    import json

    from wanweb.api import services as api_services
    from wanweb.api import webhooks
    from wanweb.api.models import ApiToken, WebhookDelivery, WebhookEndpoint

    settings.ALLOW_PRIVATE_URLS = True
    alice_m = Membership.objects.get(user=alice, team=acme)
    token, _raw = api_services.token_create(membership=alice_m, name="alice's")
    endpoint = api_services.endpoint_create(
        membership=alice_m, project=acme_project, url="https://hooks.example.com/x", events=["job.failed"]
    )
    job = JobFactory(project=acme_project, created_by=alice, status="failed")
    asset = make_output(job)
    [delivery] = webhooks.deliveries_create(job)
    run = Run.objects.create(team=acme, project=acme_project, created_by=alice, mode="t2i")
    RunCell.objects.create(run=run, row=0, col=0, row_label="Simulator", col_label="seed 1", job=job)
    p = acme_project.public_id
    pages = [
        ("get", reverse("api-pages:webhook-list", args=[p])),
        ("post", reverse("api-pages:webhook-list", args=[p])),
        ("post", reverse("api-pages:webhook-rotate", args=[p, endpoint.public_id])),
        ("post", reverse("api-pages:webhook-delete", args=[p, endpoint.public_id])),
        ("post", reverse("api-pages:delivery-resend", args=[p, delivery.msg_id])),
        ("post", reverse("api-pages:token-revoke", args=[token.public_id])),
    ]
    client.force_login(charlie)
    for method, url in pages:
        response = getattr(client, method)(
            url, {"url": "https://evil.example.com/", "events": ["job.failed"]}
        )
        assert response.status_code == 404, f"{method.upper()} {url} gave {response.status_code}"
    _t, charlies = api_services.token_create(
        membership=Membership.objects.get(user=charlie, team=umbrella), name="c"
    )
    auth = {"HTTP_AUTHORIZATION": f"Bearer {charlies}"}
    api = [
        ("get", f"/api/v1/projects/{p}", None),
        ("get", f"/api/v1/jobs/{job.public_id}", None),
        ("get", f"/api/v1/jobs?project={p}", None),
        ("post", f"/api/v1/jobs/{job.public_id}/cancel", None),
        ("post", f"/api/v1/jobs/{job.public_id}/retry", None),
        ("delete", f"/api/v1/jobs/{job.public_id}", None),
        ("get", f"/api/v1/files/{asset.public_id}", None),
        ("post", "/api/v1/jobs", {"project": str(p), "provider": "simulator", "mode": "t2i", "prompt": "x"}),
        ("get", f"/api/v1/runs/{run.public_id}", None),
        ("post", "/api/v1/runs", {"project": str(p), "mode": "t2i", "targets": ["simulator:wan-sim"]}),
    ]
    for method, url, body in api:
        kwargs = {"content_type": "application/json"} if body else {}
        response = getattr(client, method)(url, json.dumps(body) if body else None, **kwargs, **auth)
        assert response.status_code == 404, f"{method.upper()} {url} gave {response.status_code}"
    token.refresh_from_db()
    assert token.revoked_at is None and WebhookEndpoint.objects.filter(pk=endpoint.pk).exists()
    assert WebhookDelivery.objects.get().attempts == 0 and ApiToken.objects.count() == 2
    job.refresh_from_db()
    assert job.status == "failed" and job.retries.count() == 0 and acme_project.jobs.count() == 1
    assert Run.objects.count() == 1  # the refused POST /runs made none
