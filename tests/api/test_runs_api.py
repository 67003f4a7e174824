"""Compare runs through the API: POST /api/v1/runs (the form's Compare section, all or nothing,
idempotent like POST /jobs) and GET /api/v1/runs/{id} (the cells)."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from generations.models import Job, Run, RunCell
from tests.api.conftest import bearer, make_token
from wanweb.api.models import IdempotencyKey
from wanweb.quotas.models import Hold, TeamQuota

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _no_broker(monkeypatch):
    from generations import services

    monkeypatch.setattr(services.job_submit_task, "delay", lambda *a: None)


def _body(project, /, **extra):
    """A valid run body (1 target x 2 variants x 2 seeds), with `extra` replacing any field."""
    return {
        "project": str(project.public_id),
        "mode": "t2i",
        "prompt": "a lighthouse at dawn",
        "targets": ["simulator:wan-sim"],
        "seeds": [7, 8],
        "variants": ["a lighthouse at dawn", "a lighthouse at night"],
    } | extra


def _post(client, token, body, **headers):
    return client.post(
        "/api/v1/runs", json.dumps(body), content_type="application/json", **bearer(token), **headers
    )


def test_a_run_is_made_and_read_back_with_its_cells(client, alice_token, acme_project):
    response = _post(client, alice_token, _body(acme_project))
    assert response.status_code == 201, response.content
    made = response.json()
    run = Run.objects.get()
    assert made["id"] == str(run.public_id) and made["seeds"] == [7, 8]
    assert len(made["cells"]) == 4 and Job.objects.filter(run=run).count() == 4
    assert Hold.objects.count() == 4
    assert Decimal(made["total_cost"]) == Decimal("0.04")  # 4 x $0.01 held
    read = client.get(f"/api/v1/runs/{run.public_id}", **bearer(alice_token)).json()
    assert read == json.loads(json.dumps(made))
    first = read["cells"][0]
    job = RunCell.objects.get(run=run, row=0, col=0).job
    assert first["job"] == str(job.public_id) and first["status"] == "queued"
    assert first["target"] == "simulator:wan-sim" and first["seed"] == 7
    assert Decimal(first["cost"]) == Decimal("0.01")
    assert {c["col_label"] for c in read["cells"]} == {"seed 7", "seed 8"}
    assert client.get(f"/api/v1/jobs/{first['job']}", **bearer(alice_token)).status_code == 200


def test_a_run_over_the_budget_is_a_402_naming_the_limit_and_makes_no_job_and_no_hold(
    client, alice_token, acme, acme_project
):
    TeamQuota.objects.create(team=acme, budget_usd=Decimal("0.03"))
    response = _post(client, alice_token, _body(acme_project), HTTP_IDEMPOTENCY_KEY="budget-1")
    assert response.status_code == 402 and response["Content-Type"] == "application/problem+json"
    problem = response.json()
    assert problem["limit"] == "budget" and problem["fits"] == 3
    assert "3 of them would fit" in problem["detail"]
    assert not Run.objects.exists() and not Job.objects.exists() and not Hold.objects.exists()
    assert not IdempotencyKey.objects.exists()  # the refused run's key is free for a retry


def test_a_run_over_48_jobs_or_of_an_unusable_target_is_a_422(client, alice_token, acme_project):
    big = _post(
        client, alice_token, _body(acme_project, seeds=[1, 2, 3, 4, 5, 6, 7, 8], variants=list("abcdefg"))
    )
    assert big.status_code == 422 and big.json()["limit"] == "max_jobs"
    other = _post(client, alice_token, _body(acme_project, targets=["aimlapi:alibaba/wan2.6-t2i"]))
    assert other.status_code == 422 and "targets" in other.json()["errors"]
    assert not Job.objects.exists() and not Hold.objects.exists()


def test_the_same_idempotency_key_and_body_return_the_first_run(client, alice_token, acme_project):
    first = _post(client, alice_token, _body(acme_project), HTTP_IDEMPOTENCY_KEY="run-1")
    again = _post(client, alice_token, _body(acme_project), HTTP_IDEMPOTENCY_KEY="run-1")
    assert first.status_code == 201 and again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    assert Run.objects.count() == 1 and Job.objects.count() == 4 and Hold.objects.count() == 4
    other = _post(client, alice_token, _body(acme_project, seeds=[9]), HTTP_IDEMPOTENCY_KEY="run-1")
    assert other.status_code == 422 and Run.objects.count() == 1


def test_another_teams_run_and_project_are_404(client, charlie, umbrella, alice_token, acme_project):
    made = _post(client, alice_token, _body(acme_project)).json()
    charlies = make_token(charlie, umbrella)
    assert client.get(f"/api/v1/runs/{made['id']}", **bearer(charlies)).status_code == 404
    assert _post(client, charlies, _body(acme_project)).status_code == 404
    assert Run.objects.count() == 1


def test_viewers_cannot_make_runs_but_can_read_them(client, alice_token, dave, acme, acme_project):
    made = _post(client, alice_token, _body(acme_project)).json()
    daves = make_token(dave, acme)
    assert _post(client, daves, _body(acme_project)).status_code == 403
    assert client.get(f"/api/v1/runs/{made['id']}", **bearer(daves)).status_code == 200
    assert Run.objects.count() == 1


@pytest.mark.parametrize(
    "change",
    [
        {"targets": []},
        {"targets": "simulator:wan-sim"},
        {"seeds": ["x"]},
        {"seed_count": 99},
        {"mode": "nope"},
        {"project": "not-a-uuid"},
        {"prompt": "a\x00b"},
        {"params": {"seed": "\x00"}},
        {"extra_param": "prompt", "extra_values": [1]},
        {"seeds": [-1]},
        {"variants": [["nested"]]},
    ],
)
def test_garbage_is_a_422_problem_never_a_5xx(client, alice_token, acme_project, change):
    response = _post(client, alice_token, _body(acme_project, **change))
    assert response.status_code == 422, (change, response.content)
    assert response["Content-Type"] == "application/problem+json"
    assert not Job.objects.exists()


def test_garbage_run_ids_and_bodies(client, alice_token):
    assert client.get("/api/v1/runs/not-a-uuid", **bearer(alice_token)).status_code == 422
    assert (
        client.get("/api/v1/runs/00000000-0000-0000-0000-000000000000", **bearer(alice_token)).status_code
        == 404
    )
    response = client.post(
        "/api/v1/runs", "{not json", content_type="application/json", **bearer(alice_token)
    )
    assert response.status_code in (400, 422)


def test_the_openapi_document_lists_the_run_paths(client):
    paths = client.get("/api/v1/openapi.json").json()["paths"]
    assert "post" in paths["/api/v1/runs"] and "get" in paths["/api/v1/runs/{run_id}"]
