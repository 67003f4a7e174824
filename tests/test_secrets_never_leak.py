"""Canary keys for all five vendors, whose fakes quote the Authorization header back in 401/403/422
bodies: no page, row, log line or admin view may contain them (shared/RELIABILITY.md §9)."""

from __future__ import annotations

import contextlib
import io
import logging
import secrets

import pytest
from django.core.management import call_command
from django.urls import reverse

from generations import services
from generations.models import Job, JobStatus, VendorCall
from tests.factories import UserFactory
from tests.fakes.aimlapi import FakeAimlapi
from tests.fakes.apimart import FakeApimart
from tests.fakes.dashscope import FakeDashScope
from tests.fakes.fal import FakeFal
from tests.fakes.lumenfall import FakeLumenfall
from tests.fakes.server import FakeServer
from wanweb.accounts.models import Membership

# (vendor, model, mode, params): one cheap model each.
CASES = {
    "fal": ("wan/v2.6/text-to-image", None, {}),
    "dashscope": ("wan2.6-t2i", None, {}),
    "aimlapi": ("alibaba/wan-2-6-image", "t2i", {}),
    "apimart": ("wan2.6", "t2v", {"duration": 5, "audio": False}),
    "lumenfall": ("wan-2.6", "t2i", {}),
}
KEY_VARS = {
    "fal": "FAL_KEY",
    "dashscope": "DASHSCOPE_API_KEY",
    "aimlapi": "AIMLAPI_API_KEY",
    "apimart": "APIMART_API_KEY",
    "lumenfall": "LUMENFALL_API_KEY",
}


def canary(vendor: str) -> str:
    # Deliberately not shaped like a token (lower case, short, no known prefix): only the
    # known-secret redaction can catch it, not the pattern backstop.
    return f"canary-{vendor[:4]}-{secrets.token_hex(5)}"


@contextlib.contextmanager
def echoing_fake(vendor: str, *, key: str, status: int):
    """The vendor's fake, refusing `key` with `status` and quoting the Authorization header back."""
    accepted = "not-the-canary" if status == 401 else key
    if vendor == "fal":
        with FakeFal(api_key=accepted) as fake:
            fake.echo_auth = None if status == 401 else status
            yield {**fake.environ, "FAL_KEY": key}
    elif vendor == "dashscope":
        with FakeDashScope(api_key=accepted) as fake:
            fake.echo_auth = None if status == 401 else status
            yield {"DASHSCOPE_API_KEY": key, "DASHSCOPE_BASE_URL": fake.url}
    elif vendor == "aimlapi":
        with FakeAimlapi(api_key=accepted) as fake:
            fake.echo_auth = None if status == 401 else status
            yield {"AIMLAPI_API_KEY": key, "AIMLAPI_BASE_URL": fake.url}
    elif vendor == "apimart":
        with FakeServer() as server:
            FakeApimart(server, api_key=accepted, echo_auth=None if status == 401 else status)
            yield {"APIMART_API_KEY": key, "APIMART_BASE_URL": server.url}
    else:
        with FakeServer() as server:
            FakeLumenfall(server, api_key=accepted, echo_auth=None if status == 401 else status)
            yield {"LUMENFALL_API_KEY": key, "LUMENFALL_BASE_URL": server.url}


@pytest.fixture
def admin_client(client, db):
    operator = UserFactory(username="operator", is_staff=True, is_superuser=True)
    client.force_login(operator)
    return client


@pytest.mark.parametrize("status", [401, 403, 422])
def test_no_page_row_log_or_admin_view_contains_a_vendor_key_it_echoed(
    status, alice, dave, acme_project, monkeypatch, settings, caplog, client
):
    settings.ALLOW_PRIVATE_URLS = True
    caplog.set_level(logging.DEBUG)
    keys = {vendor: canary(vendor) for vendor in CASES}
    for vendor, key in keys.items():
        monkeypatch.setenv(KEY_VARS[vendor], key)
    membership = Membership.objects.get(user=alice, team=acme_project.team)
    jobs = {}
    with contextlib.ExitStack() as stack:
        for vendor, (model, mode, params) in CASES.items():
            environ = stack.enter_context(echoing_fake(vendor, key=keys[vendor], status=status))
            for name, value in environ.items():
                monkeypatch.setenv(name, value)
            job = services.job_create(
                membership=membership,
                project=acme_project,
                provider=vendor,
                model=model,
                mode=mode,
                prompt="a canary in a coal mine",
                params=params,
            )
            services.job_submit(job_id=job.pk)
            # Also what an operator's log line would carry: the raw vendor text, with a traceback.
            try:
                raise RuntimeError(f"vendor said: Authorization: Bearer {keys[vendor]}")
            except RuntimeError:
                logging.getLogger("generations.services").exception("submit of %s failed", job.public_id)
            jobs[vendor] = Job.objects.get(pk=job.pk)

    for vendor, job in jobs.items():
        assert job.status == JobStatus.FAILED, (vendor, job.status)
        assert job.error_code in ("auth_failed", "invalid_request"), (vendor, job.error_code)
        # The vendor's words did reach us (so the checks below are not vacuous), minus the key.
        said = job.error_message + " ".join(job.vendor_calls.values_list("error", flat=True))
        assert "[redacted]" in said, (vendor, said)

    seen: dict[str, str] = {}
    client.force_login(alice)
    for job in jobs.values():
        seen[f"member job {job.public_id}"] = client.get(
            reverse("generations:job-detail", args=[job.public_id])
        )
    project = acme_project.public_id
    seen["gallery"] = client.get(reverse("generations:gallery-page", args=[project]))
    seen["project"] = client.get(reverse("generations:project-detail", args=[project]))
    seen["team gallery"] = client.get(reverse("generations:team-gallery") + "?status=failed")
    client.force_login(dave)  # a viewer
    for job in jobs.values():
        seen[f"viewer job {job.public_id}"] = client.get(
            reverse("generations:job-detail", args=[job.public_id])
        )
    client.force_login(UserFactory(username="operator", is_staff=True, is_superuser=True))
    seen["admin jobs"] = client.get(reverse("admin:generations_job_changelist"))
    seen["admin calls"] = client.get(reverse("admin:generations_vendorcall_changelist"))
    for job in jobs.values():
        seen[f"admin job {job.pk}"] = client.get(reverse("admin:generations_job_change", args=[job.pk]))
    for call in VendorCall.objects.all():
        seen[f"admin call {call.pk}"] = client.get(
            reverse("admin:generations_vendorcall_change", args=[call.pk])
        )

    pages = {name: response.content.decode() for name, response in seen.items()}
    assert all(response.status_code == 200 for response in seen.values()), {
        name: r.status_code for name, r in seen.items() if r.status_code != 200
    }
    dump = io.StringIO()
    call_command("dumpdata", stdout=dump)
    for vendor, key in keys.items():
        for name, html in pages.items():
            assert key not in html, f"{vendor} key on {name}"
        assert key not in dump.getvalue(), f"{vendor} key in the database"
        assert key not in caplog.text, f"{vendor} key in the logs"
    # The failure messages are on the pages (the job page shows them), redacted.
    assert any("[redacted]" in html for name, html in pages.items() if name.startswith("viewer job"))
