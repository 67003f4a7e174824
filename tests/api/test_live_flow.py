"""The whole API flow against a live server with plain httpx, a real Celery worker and the simulator.

Create a token on its page, add a webhook on the project's page, POST /jobs with an image upload,
receive the signed webhook on a loopback receiver, verify it with standardwebhooks' own
Webhook.verify, and fetch the output's bytes with the token.
"""

from __future__ import annotations

import json
import re

import httpx
import pytest
from standardwebhooks import Webhook

from generations.models import Asset
from tests.conftest import wait_for
from tests.factories import make_png
from tests.fakes.server import FakeServer

pytestmark = [pytest.mark.celery, pytest.mark.django_db(transaction=True)]


def _shown_once(html: str, element_id: str) -> str:
    match = re.search(rf'id="{element_id}" value="([^"]+)"', html)
    assert match, f"no {element_id} on the page"
    return match.group(1)


def test_token_job_with_upload_signed_webhook_and_output_bytes(
    settings, live_server, celery_worker_live, client, alice, acme_project
):
    settings.ALLOW_PRIVATE_URLS = True  # the receiver is on loopback
    settings.PUBLIC_BASE_URL = live_server.url
    client.force_login(alice)
    page = client.post("/team/api-tokens/", {"name": "live test", "expires_in_days": "30"})
    token = _shown_once(page.content.decode(), "new-api-token")

    with FakeServer() as receiver:
        receiver.route("POST", "/hook", lambda req: (204, b""))
        page = client.post(
            f"/projects/{acme_project.public_id}/webhooks/",
            {"url": receiver.url + "/hook", "events": ["job.succeeded", "job.failed"]},
        )
        secret = _shown_once(page.content.decode(), "webhook-secret")

        api = httpx.Client(base_url=live_server.url + "/api/v1", headers={"Authorization": f"Bearer {token}"})
        created = api.post(
            "/jobs",
            data={
                "project": str(acme_project.public_id),
                "provider": "simulator",
                "mode": "edit",
                "prompt": "make it sepia",
                "params": json.dumps({"sim_delay": 0.5, "seed": 5}),
            },
            files={"image": ("in.png", make_png(320, 240), "image/png")},
            headers={"Idempotency-Key": "live-1"},
        )
        assert created.status_code == 201, created.text
        job_id = created.json()["id"]

        [hook] = wait_for(lambda: receiver.requests_to("POST", "/hook"), timeout=60)
        event = Webhook(secret).verify(hook.body, hook.headers)
        assert event["type"] == "job.succeeded" and event["data"]["id"] == job_id
        [output] = event["data"]["outputs"]

    detail = api.get(f"/jobs/{job_id}").json()
    assert detail["status"] == "succeeded" and detail["cost_final"] is not None
    downloaded = api.get(output["url"].removeprefix(live_server.url + "/api/v1"))
    assert downloaded.status_code == 200
    stored = Asset.objects.get(public_id=output["id"])
    with stored.file.open("rb") as handle:
        assert downloaded.content == handle.read()
    assert downloaded.content[:8] == b"\x89PNG\r\n\x1a\n"
    # The same key and body again: the first job, not a second one.
    again = api.post(
        "/jobs",
        data={
            "project": str(acme_project.public_id),
            "provider": "simulator",
            "mode": "edit",
            "prompt": "make it sepia",
            "params": json.dumps({"sim_delay": 0.5, "seed": 5}),
        },
        files={"image": ("in.png", make_png(320, 240), "image/png")},
        headers={"Idempotency-Key": "live-1"},
    )
    assert again.status_code == 200 and again.json()["id"] == job_id
    api.close()
