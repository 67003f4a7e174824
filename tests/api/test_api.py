"""The public API through Django's test client: auth, problem details, the catalog, projects, jobs."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from generations.models import Job, JobStatus
from tests.api.conftest import bearer, make_token
from tests.factories import JobFactory, make_output, make_png
from wanweb.api.models import ApiToken, IdempotencyKey
from wanweb.quotas.models import Hold

pytestmark = pytest.mark.django_db


def _post_job(client, token, body, **headers):
    return client.post(
        "/api/v1/jobs", json.dumps(body), content_type="application/json", **bearer(token), **headers
    )


def test_no_token_or_a_wrong_one_is_a_401_problem(client, alice_token):
    for headers in ({}, bearer("wan_nope"), {"HTTP_AUTHORIZATION": "Basic abc"}):
        response = client.get("/api/v1/projects", **headers)
        assert response.status_code == 401
        assert response["Content-Type"] == "application/problem+json"
        assert response.json()["status"] == 401 and response["WWW-Authenticate"] == "Bearer"


def test_a_session_cookie_is_not_enough(client, alice):
    client.force_login(alice)
    assert client.get("/api/v1/projects").status_code == 401


def test_revoked_and_expired_tokens_are_refused(client, alice, acme):
    revoked = make_token(alice, acme)
    ApiToken.objects.filter(prefix=revoked[:12]).update(revoked_at=timezone.now())
    expired = make_token(alice, acme)
    ApiToken.objects.filter(prefix=expired[:12]).update(expires_at=timezone.now() - timedelta(seconds=1))
    for raw in (revoked, expired):
        assert client.get("/api/v1/projects", **bearer(raw)).status_code == 401


def test_the_token_is_stored_as_a_hash_and_last_use_is_recorded(client, alice_token):
    token = ApiToken.objects.get()
    assert alice_token not in token.token_hash and len(token.token_hash) == 64
    assert token.last_used_at is None
    assert client.get("/api/v1/projects", **bearer(alice_token)).status_code == 200
    token.refresh_from_db()
    assert token.last_used_at is not None


def test_projects_list_create_and_get(client, alice_token, acme_project, umbrella_project):
    listed = client.get("/api/v1/projects", **bearer(alice_token)).json()
    assert [p["id"] for p in listed] == [str(acme_project.public_id)]
    made = client.post(
        "/api/v1/projects",
        {"name": "Nightly", "description": "batch"},
        content_type="application/json",
        **bearer(alice_token),
    )
    assert made.status_code == 201 and made.json()["slug"] == "nightly"
    assert client.get(f"/api/v1/projects/{made.json()['id']}", **bearer(alice_token)).status_code == 200
    other = client.get(f"/api/v1/projects/{umbrella_project.public_id}", **bearer(alice_token))
    assert other.status_code == 404 and other["Content-Type"] == "application/problem+json"


def test_models_lists_what_the_form_offers(client, alice_token):
    providers = client.get("/api/v1/models", **bearer(alice_token)).json()
    sim = next(p for p in providers if p["provider"] == "simulator")
    edit = next(m for m in sim["models"] if m["mode"] == "edit")
    assert [s["name"] for s in edit["media"]] == ["image"]
    size = next(f for f in edit["fields"] if f["name"] == "size")
    assert size["type"] and "default" in size and "choices" in size
    assert edit["price"]["rates_usd"]


def test_a_json_job_is_created_with_its_estimate_and_a_hold(client, alice_token, acme_project):
    response = _post_job(
        client,
        alice_token,
        {
            "project": str(acme_project.public_id),
            "provider": "simulator",
            "mode": "t2i",
            "prompt": "a fox",
            "params": {"seed": 3},
        },
    )
    assert response.status_code == 201, response.content
    body = response.json()
    job = Job.objects.get(public_id=body["id"])
    assert body["status"] == "queued" and body["cost_estimate"] == str(job.cost_estimate)
    assert job.params["seed"] == 3 and Hold.objects.filter(job=job).count() == 1


def test_every_field_error_comes_at_once_in_the_forms_words(client, alice_token, acme_project):
    response = _post_job(
        client,
        alice_token,
        {
            "project": str(acme_project.public_id),
            "provider": "simulator",
            "mode": "t2i",
            "prompt": "",
            "params": {"seed": "x", "num_outputs": 99},
        },
    )
    assert response.status_code == 422
    problem = response.json()
    assert problem["status"] == 422 and {"prompt", "seed", "num_outputs"} <= set(problem["errors"])
    assert Job.objects.count() == 0


def test_a_multipart_upload_goes_to_its_slot(client, alice_token, acme_project):
    from django.core.files.uploadedfile import SimpleUploadedFile

    response = client.post(
        "/api/v1/jobs",
        {
            "project": str(acme_project.public_id),
            "provider": "simulator",
            "mode": "edit",
            "prompt": "sepia",
            "params": json.dumps({"seed": 1}),
            "image": SimpleUploadedFile("in.png", make_png(320, 240), content_type="image/png"),
        },
        **bearer(alice_token),
    )
    assert response.status_code == 201, response.content
    job = Job.objects.get(public_id=response.json()["id"])
    assert job.assets.filter(role="input", slot="image").count() == 1


def test_a_file_that_is_not_an_image_is_refused_on_its_slot(client, alice_token, acme_project):
    from django.core.files.uploadedfile import SimpleUploadedFile

    response = client.post(
        "/api/v1/jobs",
        {
            "project": str(acme_project.public_id),
            "provider": "simulator",
            "mode": "edit",
            "prompt": "x",
            "image": SimpleUploadedFile("in.png", b"not an image at all", content_type="image/png"),
        },
        **bearer(alice_token),
    )
    assert response.status_code == 422 and "image" in response.json()["errors"]
    assert Job.objects.count() == 0


def test_a_private_url_input_is_refused_by_the_ssrf_guard(client, alice_token, acme_project):
    response = _post_job(
        client,
        alice_token,
        {
            "project": str(acme_project.public_id),
            "provider": "simulator",
            "mode": "edit",
            "prompt": "x",
            "inputs": {"image": "https://169.254.169.254/latest/meta-data"},
        },
    )
    assert response.status_code == 422 and "image" in response.json()["errors"]
    assert Job.objects.count() == 0


def test_idempotency_same_body_returns_the_first_job_another_body_is_a_422(client, alice_token, acme_project):
    body = {"project": str(acme_project.public_id), "provider": "simulator", "mode": "t2i", "prompt": "a fox"}
    first = _post_job(client, alice_token, body, HTTP_IDEMPOTENCY_KEY="k-1")
    again = _post_job(client, alice_token, body, HTTP_IDEMPOTENCY_KEY="k-1")
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"]
    other = _post_job(client, alice_token, {**body, "prompt": "a wolf"}, HTTP_IDEMPOTENCY_KEY="k-1")
    assert other.status_code == 422 and "Idempotency-Key" in other.json()["errors"]
    assert Job.objects.count() == 1 and Hold.objects.count() == 1


def test_an_idempotency_key_older_than_a_day_makes_a_new_job(client, alice_token, acme_project):
    body = {"project": str(acme_project.public_id), "provider": "simulator", "mode": "t2i", "prompt": "a fox"}
    _post_job(client, alice_token, body, HTTP_IDEMPOTENCY_KEY="k-2")
    IdempotencyKey.objects.update(created_at=timezone.now() - timedelta(hours=25))
    assert _post_job(client, alice_token, body, HTTP_IDEMPOTENCY_KEY="k-2").status_code == 201
    assert Job.objects.count() == 2


def test_jobs_list_is_keyset_paginated_and_filtered(client, alice, alice_token, acme_project):
    now = timezone.now()
    jobs = [
        JobFactory(
            project=acme_project,
            created_by=alice,
            created_at=now - timedelta(minutes=i),
            status=JobStatus.SUCCEEDED if i % 2 else JobStatus.FAILED,
        )
        for i in range(5)
    ]
    page = client.get("/api/v1/jobs?limit=2", **bearer(alice_token)).json()
    assert [j["id"] for j in page["items"]] == [str(jobs[0].public_id), str(jobs[1].public_id)]
    page2 = client.get(f"/api/v1/jobs?limit=2&after={page['next_cursor']}", **bearer(alice_token)).json()
    assert [j["id"] for j in page2["items"]] == [str(jobs[2].public_id), str(jobs[3].public_id)]
    failed = client.get("/api/v1/jobs?status=failed", **bearer(alice_token)).json()
    assert {j["id"] for j in failed["items"]} == {
        str(jobs[0].public_id),
        str(jobs[2].public_id),
        str(jobs[4].public_id),
    }
    bad = client.get("/api/v1/jobs?status=nope&created_after=2024-13-45", **bearer(alice_token))
    assert bad.status_code == 422 and {"status", "created_after"} <= set(bad.json()["errors"])


def test_job_detail_has_outputs_with_download_urls(client, alice, alice_token, acme_project):
    job = JobFactory(project=acme_project, created_by=alice, status=JobStatus.SUCCEEDED)
    output = make_output(job)
    body = client.get(f"/api/v1/jobs/{job.public_id}", **bearer(alice_token)).json()
    [out] = body["outputs"]
    path = out["url"].split("://", 1)[1].split("/", 1)[1]
    response = client.get("/" + path, **bearer(alice_token))
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == output.file.open("rb").read()


def test_cancel_retry_delete(client, alice, alice_token, acme_project):
    body = {"project": str(acme_project.public_id), "provider": "simulator", "mode": "t2i", "prompt": "a fox"}
    job_id = _post_job(client, alice_token, body).json()["id"]
    canceled = client.post(f"/api/v1/jobs/{job_id}/cancel", **bearer(alice_token))
    assert canceled.status_code == 200 and canceled.json()["status"] == "canceled"
    retried = client.post(f"/api/v1/jobs/{job_id}/retry", **bearer(alice_token))
    assert retried.status_code == 201 and retried.json()["retry_of"] == job_id
    assert client.delete(f"/api/v1/jobs/{job_id}", **bearer(alice_token)).status_code == 204
    assert not Job.objects.filter(public_id=job_id).exists()


def test_usage_reports_the_callers_and_the_teams_figures(client, alice_token, acme_project):
    _post_job(
        client,
        alice_token,
        {"project": str(acme_project.public_id), "provider": "simulator", "mode": "t2i", "prompt": "x"},
    )
    usage = client.get("/api/v1/usage", **bearer(alice_token)).json()
    assert usage["team"] is not None and float(usage["me"]["reserved"]) >= 0


def test_an_unknown_api_path_is_a_json_404(client, alice_token):
    response = client.get("/api/v1/nope", **bearer(alice_token))
    assert response.status_code == 404 and response["Content-Type"] == "application/problem+json"


def test_the_openapi_document_validates(client):
    from openapi_spec_validator import validate

    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    document = response.json()
    validate(document)
    assert "/api/v1/jobs" in document["paths"] and "multipart/form-data" in json.dumps(
        document["paths"]["/api/v1/jobs"]
    )


def test_the_docs_page_loads_swagger_from_our_static_files_under_the_csp(client):
    response = client.get("/api/v1/docs")
    assert response.status_code == 200
    html = response.content.decode()
    assert "/static/ninja/swagger-ui-bundle.js" in html and "cdn" not in html.lower()
    csp = response["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp.split("script-src", 1)[1].split(";")[0]


def test_past_the_request_cap_a_token_gets_429_with_retry_after(client, settings, alice_token):
    settings.API_RATE_LIMIT_PER_MINUTE = 3
    statuses = [client.get("/api/v1/projects", **bearer(alice_token)).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    refused = client.get("/api/v1/projects", **bearer(alice_token))
    assert refused["Content-Type"] == "application/problem+json"
    assert 1 <= int(refused["Retry-After"]) <= 60


def test_the_quotas_jobs_per_hour_is_a_429_with_retry_after(client, alice_token, acme, acme_project):
    from wanweb.quotas.models import TeamQuota

    TeamQuota.objects.update_or_create(team=acme, defaults={"max_jobs_per_hour": 1})
    body = {"project": str(acme_project.public_id), "provider": "simulator", "mode": "t2i", "prompt": "x"}
    assert _post_job(client, alice_token, body).status_code == 201
    refused = _post_job(client, alice_token, body)
    assert refused.status_code == 429 and int(refused["Retry-After"]) > 0
    assert Job.objects.count() == 1


def test_a_jobs_own_webhook_url_gets_a_secret_once_and_a_signed_delivery(
    client, settings, alice, alice_token, acme_project
):
    from standardwebhooks import Webhook

    from generations import services as generation_services
    from tests.fakes.server import FakeServer
    from wanweb.api import webhooks

    settings.ALLOW_PRIVATE_URLS = True
    with FakeServer() as receiver:
        receiver.route("POST", "/mine", lambda req: (200, "ok"))
        body = {
            "project": str(acme_project.public_id),
            "provider": "simulator",
            "mode": "t2i",
            "prompt": "x",
            "webhook_url": receiver.url + "/mine",
        }
        created = _post_job(client, alice_token, body).json()
        secret = created["webhook_secret"]
        assert secret.startswith("whsec_")
        assert (
            "webhook_secret" not in client.get(f"/api/v1/jobs/{created['id']}", **bearer(alice_token)).json()
        )
        job = Job.objects.get(public_id=created["id"])
        generation_services.job_fail(job=job, code="vendor_failed", message="no")
        [delivery] = webhooks.deliveries_create(job)
        webhooks.deliver(delivery.pk)
        [request] = receiver.requests_to("POST", "/mine")
        assert Webhook(secret).verify(request.body, request.headers)["type"] == "job.failed"


API_PARAMS = [
    "project",
    "status",
    "mode",
    "provider",
    "created_after",
    "created_before",
    "after",
    "limit",
    "archived",
]


def test_garbage_in_every_api_parameter_is_a_4xx_never_a_5xx(client, alice, alice_token, acme_project):
    from tests.test_garbage_parameters import GARBAGE

    client.raise_request_exception = False
    job = JobFactory(project=acme_project, created_by=alice, status=JobStatus.FAILED)
    paths = [
        "/api/v1/models",
        "/api/v1/projects",
        "/api/v1/jobs",
        "/api/v1/usage",
        f"/api/v1/jobs/{job.public_id}",
    ]
    failures = []
    for path in paths:
        for value in GARBAGE:
            for params in ({name: value for name in API_PARAMS}, *({name: value} for name in API_PARAMS)):
                response = client.get(path, params, **bearer(alice_token))
                if response.status_code >= 500:
                    failures.append(f"GET {path} {params!r:.60}: {response.status_code}")
    for value in GARBAGE:
        for body in (
            {"project": value, "provider": value, "mode": value, "params": value, "inputs": value},
            {
                "project": str(acme_project.public_id),
                "provider": "simulator",
                "model": value,
                "params": {"seed": value},
                "inputs": {value: value},
                "webhook_url": value,
            },
        ):
            response = _post_job(client, alice_token, body, HTTP_IDEMPOTENCY_KEY=value[:50])
            if response.status_code >= 500:
                failures.append(f"POST /jobs {body!r:.60}: {response.status_code}")
        response = client.post("/api/v1/jobs", value, content_type="application/json", **bearer(alice_token))
        if response.status_code >= 500:
            failures.append(f"POST /jobs raw {value!r:.30}: {response.status_code}")
    assert not failures, "\n".join(failures)
    assert Job.objects.count() == 1


def test_more_files_than_a_request_may_carry_are_refused_unread(client, settings, alice_token, acme_project):
    from django.core.files.uploadedfile import SimpleUploadedFile

    settings.UPLOAD_MAX_FILES = 1
    files = {
        f"image{i}": SimpleUploadedFile(f"{i}.png", make_png(), content_type="image/png") for i in range(2)
    }
    response = client.post(
        "/api/v1/jobs",
        {
            "project": str(acme_project.public_id),
            "provider": "simulator",
            "mode": "edit",
            "prompt": "x",
            **files,
        },
        **bearer(alice_token),
    )
    assert response.status_code == 422 and "Too many files" in json.dumps(response.json()["errors"])
    assert Job.objects.count() == 0


def test_a_spent_budget_is_a_402_and_a_disallowed_provider_a_403(client, alice_token, acme, acme_project):
    from decimal import Decimal

    from wanweb.quotas.models import TeamQuota

    body = {"project": str(acme_project.public_id), "provider": "simulator", "mode": "t2i", "prompt": "x"}
    TeamQuota.objects.update_or_create(team=acme, defaults={"budget_usd": Decimal("0.0001")})
    assert _post_job(client, alice_token, body).status_code == 402
    TeamQuota.objects.filter(team=acme).update(budget_usd=None, allowed_providers=["fal"])
    refused = _post_job(client, alice_token, body)
    assert refused.status_code == 403 and refused.json()["errors"]["__all__"]
    assert Job.objects.count() == 0


def _job_list_queries(client, token) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        response = client.get("/api/v1/jobs", **bearer(token))
    assert response.status_code == 200
    return len(captured)


def test_the_job_list_costs_the_same_queries_with_more_retried_jobs(client, alice_token, acme_project, alice):
    first = JobFactory(project=acme_project, created_by=alice)
    JobFactory(project=acme_project, created_by=alice, retry_of=first)
    _job_list_queries(client, alice_token)  # the first use of a token also records its last use
    few = _job_list_queries(client, alice_token)
    for _ in range(5):
        JobFactory(project=acme_project, created_by=alice, retry_of=first)
    assert _job_list_queries(client, alice_token) == few
