"""Outgoing webhooks: signed with Standard Webhooks, retried with the same webhook-id, SSRF-guarded."""

from __future__ import annotations

import json

import pytest
from django.utils import timezone
from standardwebhooks import Webhook

from generations import services as generation_services
from generations.models import JobStatus
from providers.base import RequestValidationError
from tests.api.conftest import bearer
from tests.factories import JobFactory
from tests.fakes.server import FakeServer
from wanweb.accounts.models import Membership
from wanweb.api import services, webhooks
from wanweb.api.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint

pytestmark = pytest.mark.django_db


@pytest.fixture
def receiver():
    with FakeServer() as server:
        yield server


def _endpoint(alice, project, url, events=("job.succeeded", "job.failed", "job.canceled")):
    membership = Membership.objects.get(user=alice, team=project.team)
    endpoint = services.endpoint_create(membership=membership, project=project, url=url, events=list(events))
    return endpoint, webhooks.secret_for_salt(endpoint.secret_salt)


def _fail(job):
    generation_services.job_fail(job=job, code="vendor_failed", message="nope")


def test_a_finished_job_is_delivered_signed_and_verifies_with_the_reference_library(
    settings, receiver, alice, acme_project, django_capture_on_commit_callbacks
):
    settings.ALLOW_PRIVATE_URLS = True
    receiver.route("POST", "/hook", lambda req: (200, {"ok": True}))
    _endpoint_row, secret = _endpoint(alice, acme_project, receiver.url + "/hook")
    job = JobFactory(project=acme_project, created_by=alice, status=JobStatus.RUNNING)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        _fail(job)
    [delivery] = webhooks.deliveries_create(job)  # what the on-commit callback makes
    assert callbacks  # the signal queued it
    assert webhooks.deliver(delivery.pk) is None
    [request] = receiver.requests_to("POST", "/hook")
    payload = Webhook(secret).verify(request.body, request.headers)
    assert payload["type"] == "job.failed" and payload["data"]["id"] == str(job.public_id)
    assert payload["data"]["error"] == {"code": "vendor_failed", "message": "nope"}
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.DELIVERED and delivery.response_status == 200
    with pytest.raises(Exception):  # noqa: B017 -- another secret does not verify
        Webhook(webhooks.secret_for_salt("other")).verify(request.body, request.headers)


def test_a_second_finish_signal_makes_no_second_delivery(settings, receiver, alice, acme_project):
    settings.ALLOW_PRIVATE_URLS = True
    _endpoint(alice, acme_project, receiver.url + "/hook")
    job = JobFactory(project=acme_project, created_by=alice, status=JobStatus.FAILED)
    assert len(webhooks.deliveries_create(job)) == 1
    assert webhooks.deliveries_create(job) == []
    assert WebhookDelivery.objects.count() == 1


def test_a_receiver_down_three_times_gets_the_fourth_attempt_with_the_same_webhook_id(
    settings, receiver, alice, acme_project
):
    settings.ALLOW_PRIVATE_URLS = True
    answers = iter([503, 500, 502, 200])
    receiver.route("POST", "/hook", lambda req: (next(answers), "down"))
    _, secret = _endpoint(alice, acme_project, receiver.url + "/hook")
    job = JobFactory(project=acme_project, created_by=alice, status=JobStatus.SUCCEEDED)
    [delivery] = webhooks.deliveries_create(job)
    waits = [webhooks.deliver(delivery.pk) for _ in range(4)]
    assert waits[:3] == [float(s) for s in webhooks.BACKOFF[:3]] and waits[3] is None
    requests = receiver.requests_to("POST", "/hook")
    assert len(requests) == 4
    assert len({r.headers["webhook-id"] for r in requests}) == 1
    for r in requests:
        Webhook(secret).verify(r.body, r.headers)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.response_status) == (
        DeliveryStatus.DELIVERED,
        4,
        200,
    )


def test_the_backoff_spans_a_day_at_most_and_then_gives_up(settings, receiver, alice, acme_project):
    settings.ALLOW_PRIVATE_URLS = True
    receiver.route("POST", "/hook", lambda req: (500, "down"))
    _endpoint(alice, acme_project, receiver.url + "/hook")
    job = JobFactory(project=acme_project, created_by=alice, status=JobStatus.SUCCEEDED)
    [delivery] = webhooks.deliveries_create(job)
    assert 12 * 3600 < sum(webhooks.BACKOFF) <= 24 * 3600
    for _ in range(len(webhooks.BACKOFF)):
        assert webhooks.deliver(delivery.pk) is not None
    assert webhooks.deliver(delivery.pk) is None
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.FAILED and delivery.attempts == len(webhooks.BACKOFF) + 1
    assert webhooks.deliver(delivery.pk) is None and len(receiver.requests) == len(webhooks.BACKOFF) + 1


def test_a_loopback_receiver_is_refused_without_allow_private_urls(settings, receiver, alice, acme_project):
    settings.ALLOW_PRIVATE_URLS = False
    with pytest.raises(RequestValidationError) as refused:
        _endpoint(alice, acme_project, "https://127.0.0.1:9/hook")
    assert "url" in refused.value.errors
    with pytest.raises(RequestValidationError):
        _endpoint(alice, acme_project, "http://example.com/hook")  # https only


def test_a_delivery_to_a_loopback_url_is_refused_at_send_time_too(settings, receiver, alice, acme_project):
    settings.ALLOW_PRIVATE_URLS = True
    receiver.route("POST", "/hook", lambda req: (200, "ok"))
    _endpoint(alice, acme_project, receiver.url + "/hook")
    job = JobFactory(project=acme_project, created_by=alice, status=JobStatus.SUCCEEDED)
    [delivery] = webhooks.deliveries_create(job)
    settings.ALLOW_PRIVATE_URLS = False
    assert webhooks.deliver(delivery.pk) is None  # permanent: no retry
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.FAILED and receiver.requests == []


def test_a_jobs_own_webhook_url_on_loopback_is_refused_by_the_api(
    settings, client, alice_token, acme_project
):
    settings.ALLOW_PRIVATE_URLS = False
    body = {
        "project": str(acme_project.public_id),
        "provider": "simulator",
        "mode": "t2i",
        "prompt": "x",
        "webhook_url": "https://127.0.0.1:8443/hook",
    }
    response = client.post(
        "/api/v1/jobs", json.dumps(body), content_type="application/json", **bearer(alice_token)
    )
    assert response.status_code == 422 and "webhook_url" in response.json()["errors"]


def test_send_again_restarts_with_the_same_webhook_id(settings, receiver, client, alice, acme_project):
    settings.ALLOW_PRIVATE_URLS = True
    receiver.route("POST", "/hook", lambda req: (200, "ok"))
    _endpoint(alice, acme_project, receiver.url + "/hook")
    job = JobFactory(project=acme_project, created_by=alice, status=JobStatus.SUCCEEDED)
    [delivery] = webhooks.deliveries_create(job)
    webhooks.deliver(delivery.pk)
    client.force_login(alice)
    page = client.get(f"/projects/{acme_project.public_id}/webhooks/")
    assert page.status_code == 200 and delivery.msg_id.encode() in page.content
    response = client.post(
        f"/projects/{acme_project.public_id}/webhooks/deliveries/{delivery.msg_id}/resend/"
    )
    assert response.status_code == 302
    webhooks.deliver(delivery.pk)
    ids = [r.headers["webhook-id"] for r in receiver.requests_to("POST", "/hook")]
    assert ids == [delivery.msg_id, delivery.msg_id]


def test_the_sweep_makes_deliveries_for_a_finish_that_sent_no_signal(settings, alice, acme_project):
    settings.ALLOW_PRIVATE_URLS = True
    _endpoint(alice, acme_project, "https://hooks.example.com/x")
    from django.utils import timezone

    job = JobFactory(
        project=acme_project, created_by=alice, status=JobStatus.CANCELED, finished_at=timezone.now()
    )
    assert webhooks.sweep() >= 1
    assert WebhookDelivery.objects.filter(job=job, event="job.canceled").count() == 1
    webhooks.sweep()
    assert WebhookDelivery.objects.filter(job=job).count() == 1


def test_the_webhooks_page_shows_a_new_secret_once(settings, client, alice, acme_project):
    client.force_login(alice)
    response = client.post(
        f"/projects/{acme_project.public_id}/webhooks/",
        {"url": "https://hooks.example.com/x", "events": ["job.succeeded"]},
    )
    assert response.status_code == 200 and b"whsec_" in response.content
    again = client.get(f"/projects/{acme_project.public_id}/webhooks/")
    assert b"whsec_" not in again.content and b"hooks.example.com" in again.content


def test_a_viewer_sees_the_webhooks_page_but_changes_nothing(client, alice, dave, acme_project):
    endpoint, _secret = _endpoint(alice, acme_project, "https://hooks.example.com/x")
    job = JobFactory(project=acme_project, created_by=alice, status=JobStatus.FAILED)
    [delivery] = webhooks.deliveries_create(job)
    salt = endpoint.secret_salt
    client.force_login(dave)
    base = f"/projects/{acme_project.public_id}/webhooks/"
    assert client.get(base).status_code == 200
    for url in (
        base,
        f"{base}{endpoint.public_id}/rotate/",
        f"{base}{endpoint.public_id}/delete/",
        f"{base}deliveries/{delivery.msg_id}/resend/",
    ):
        response = client.post(url, {"url": "https://evil.example.com/", "events": ["job.failed"]})
        assert response.status_code == 403, url
    endpoint.refresh_from_db()
    assert endpoint.secret_salt == salt and WebhookEndpoint.objects.count() == 1
    delivery.refresh_from_db()
    assert delivery.attempts == 0


@pytest.fixture
def sent(monkeypatch):
    """The first attempts the finish signal enqueues (delivery ids), instead of Celery messages."""
    from wanweb.api import tasks

    ids = []
    monkeypatch.setattr(tasks.webhook_deliver_task, "delay", ids.append)
    return ids


def _listening(team, project, user, **fields) -> WebhookEndpoint:
    """An endpoint row as endpoint_create makes it (without its URL check, which resolves names)."""
    return WebhookEndpoint.objects.create(
        team=team,
        project=project,
        url="https://hooks.example.com/h",
        events=["job.succeeded", "job.failed", "job.canceled"],
        secret_salt="salt",
        created_by=user,
        **fields,
    )


def test_the_finish_of_a_job_nobody_listens_to_costs_two_queries_after_commit(
    alice,
    charlie,
    acme_project,
    umbrella_project,
    sent,
    django_capture_on_commit_callbacks,
    django_assert_num_queries,
):
    # Receivers elsewhere do not count: another team's endpoint, a disabled one of this team.
    _listening(umbrella_project.team, umbrella_project, charlie)
    _listening(acme_project.team, acme_project, alice, disabled_at=timezone.now())
    job = JobFactory(project=acme_project, created_by=alice, status=JobStatus.RUNNING)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        _fail(job)

    with django_assert_num_queries(2):  # no endpoint of the team/project, no API webhook_url
        for callback in callbacks:
            callback()
    assert sent == [] and not WebhookDelivery.objects.exists()


@pytest.mark.parametrize("scope", ["project", "team"])
def test_the_finish_signal_makes_and_sends_the_delivery_of_a_listening_endpoint(
    scope, alice, acme_project, sent, django_capture_on_commit_callbacks
):
    _listening(acme_project.team, acme_project if scope == "project" else None, alice)
    job = JobFactory(project=acme_project, created_by=alice, status=JobStatus.RUNNING)

    with django_capture_on_commit_callbacks(execute=True):
        _fail(job)

    [delivery] = WebhookDelivery.objects.all()
    assert sent == [delivery.pk] and delivery.job_id == job.pk and delivery.event == "job.failed"


def test_the_finish_signal_sends_to_the_jobs_own_webhook_url(
    alice, acme_project, sent, django_capture_on_commit_callbacks
):
    from wanweb.api.models import ApiJob

    job = JobFactory(project=acme_project, created_by=alice, status=JobStatus.RUNNING)
    ApiJob.objects.create(job=job, webhook_url="https://x.test/mine", webhook_salt="s")

    with django_capture_on_commit_callbacks(execute=True):
        _fail(job)

    [delivery] = WebhookDelivery.objects.all()
    assert sent == [delivery.pk] and delivery.url == "https://x.test/mine" and delivery.endpoint_id is None
