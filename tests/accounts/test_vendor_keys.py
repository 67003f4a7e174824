"""Teams' own vendor keys (issue 12): encrypted at rest, rotated, used per team, never shown again.

Jobs run in this process against loopback fakes (tests/fakes/) that record every request's
Authorization header; the Celery hops are replaced by direct calls of the same services.
"""

from __future__ import annotations

import csv
import io
import logging
import secrets

import pytest
from cryptography.fernet import Fernet
from django.core.checks import run_checks
from django.core.management import CommandError, call_command
from django.urls import reverse

from generations import services
from generations.models import Job, JobStatus, VendorCall
from tests.factories import MembershipFactory, ProjectFactory, TeamFactory, UserFactory
from tests.fakes.fal import FakeFal
from tests.fakes.lumenfall import FakeLumenfall
from tests.fakes.server import FakeServer
from tests.polls import next_poll
from wanweb.accounts import crypto, vendor_keys
from wanweb.accounts.models import Membership, Role, Team, VendorCredential, VerifyStatus
from wanweb.quotas.models import LedgerEntry
from wanweb.redaction import known_secrets
from wanweb.settings import _local_field_encryption_key

pytestmark = pytest.mark.django_db

FAL_MODEL = "wan/v2.6/text-to-image"


def _membership(user, team=None) -> Membership:
    return Membership.objects.select_related("team", "user").get(
        user=user, **({"team": team} if team else {})
    )


def _canary() -> str:
    return f"fal-CANARY-{secrets.token_hex(8)}"


@pytest.fixture
def no_operator_keys(monkeypatch):
    for name in ("FAL_KEY", "DASHSCOPE_API_KEY", "AIMLAPI_API_KEY", "APIMART_API_KEY", "LUMENFALL_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("LUMENFALL_WEBHOOK_SECRET", raising=False)


@pytest.fixture
def fal(monkeypatch, settings, no_operator_keys):
    """A fake fal for the URLs; the operator's own key is *not* in the environment."""
    settings.ALLOW_PRIVATE_URLS = True  # the fake's result files are on loopback
    with FakeFal(api_key="operator-fal-key-unused") as fake:
        for name, value in fake.environ.items():
            if name != "FAL_KEY":
                monkeypatch.setenv(name, value)
        yield fake


def _drive(job: Job, monkeypatch, capture, *, polls_before_stop: int | None = None) -> list[dict]:
    """Submit and poll `job` through the services, as the Celery tasks and the poll dispatcher
    would; returns the pending poll when stopped early (`polls_before_stop`)."""
    monkeypatch.setattr(
        services.job_store_outputs_task, "delay", lambda job_id: services.job_store_outputs(job_id=job_id)
    )
    with capture(execute=True):
        services.job_submit(job_id=job.pk)
    done = 0
    while (poll := next_poll(job.pk)) is not None:
        if polls_before_stop is not None and done >= polls_before_stop:
            return [poll]
        with capture(execute=True):
            services.job_poll(**poll)
        done += 1
    return []


def _continue(pending: list[dict], monkeypatch, capture) -> None:
    for poll in pending:
        with capture(execute=True):
            services.job_poll(**poll)
        while (following := next_poll(poll["job_id"])) is not None:
            with capture(execute=True):
                services.job_poll(**following)


def _fal_job(membership, project) -> Job:
    return services.job_create(
        membership=membership,
        project=project,
        provider="fal",
        model=FAL_MODEL,
        mode=None,
        prompt="a kiln",
        params={},
    )


def _auth_headers_for(fake: FakeFal, job: Job) -> set[str]:
    """Authorization headers of every status and result call the fake saw about this job (not the
    download of its output file, which carries no key)."""
    job.refresh_from_db()
    return {
        r.headers.get("authorization", "")
        for r in fake.server.requests
        if job.vendor_job_id in r.path and not r.path.startswith("/files/")
    }


def _submit_headers(fake: FakeFal) -> list[str]:
    return [r.headers.get("authorization", "") for r in fake.server.requests if r.path == f"/{FAL_MODEL}"]


# ---------------------------------------------------------------------------------------------
# Encryption, rotation, tampering, the system check
# ---------------------------------------------------------------------------------------------


def test_a_key_is_stored_encrypted_with_only_its_last_four_characters_in_clear(alice, acme):
    key = _canary()
    credential = vendor_keys.credential_set(membership=_membership(alice), vendor="fal", api_key=key)
    credential.refresh_from_db()
    assert credential.key_hint == key[-4:]
    assert key not in credential.key_encrypted and crypto.decrypt(credential.key_encrypted) == key
    assert key not in repr(credential) and key not in str(credential)
    dump = io.StringIO()
    call_command("dumpdata", "accounts", stdout=dump)
    assert key not in dump.getvalue() and credential.key_encrypted in dump.getvalue()


def test_rotation_with_keys_a_then_b_a_then_b_keeps_every_secret_readable(settings, alice, acme):
    key_a, key_b = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [key_a]
    membership = _membership(alice)
    fal_key, lumen_key, whsec = _canary(), "lmnfl_" + secrets.token_hex(8), "whsec_" + secrets.token_hex(8)
    vendor_keys.credential_set(membership=membership, vendor="fal", api_key=fal_key)
    vendor_keys.credential_set(
        membership=membership, vendor="lumenfall", api_key=lumen_key, webhook_secret=whsec
    )

    settings.FIELD_ENCRYPTION_KEYS = [key_b, key_a]  # B added in front
    out = io.StringIO()
    call_command("rotate_encryption_keys", stdout=out)
    assert "2 re-encrypted" in out.getvalue()
    out = io.StringIO()
    call_command("rotate_encryption_keys", stdout=out)  # safe to run twice: nothing left to do
    assert "0 re-encrypted with the newest key, 2 already were" in out.getvalue()

    settings.FIELD_ENCRYPTION_KEYS = [key_b]  # A dropped
    by_vendor = {c.vendor: c for c in VendorCredential.objects.all()}
    assert vendor_keys.credential_key(by_vendor["fal"]) == fal_key
    assert vendor_keys.credential_key(by_vendor["lumenfall"]) == lumen_key
    assert vendor_keys.credential_webhook_secret(by_vendor["lumenfall"]) == whsec


def test_dropping_a_key_before_rotating_is_reported_by_the_command_not_crashed(settings, alice, acme):
    key_a, key_b = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [key_a]
    credential = vendor_keys.credential_set(membership=_membership(alice), vendor="fal", api_key=_canary())
    settings.FIELD_ENCRYPTION_KEYS = [key_b]
    with pytest.raises(CommandError, match="cannot be decrypted with any configured key") as caught:
        call_command("rotate_encryption_keys", stdout=io.StringIO())
    assert str(credential.public_id) in str(caught.value)
    assert credential.key_encrypted not in str(caught.value)


def test_a_tampered_ciphertext_is_a_clear_message_on_the_page_and_in_the_job(
    client, alice, acme, acme_project, fal, monkeypatch
):
    credential = vendor_keys.credential_set(membership=_membership(alice), vendor="fal", api_key=_canary())
    token = credential.key_encrypted
    flipped = token[:40] + ("A" if token[40] != "A" else "B") + token[41:]
    VendorCredential.objects.filter(pk=credential.pk).update(key_encrypted=flipped)

    client.force_login(alice)
    page = client.get(reverse("accounts:vendor-keys"))
    assert page.status_code == 200
    assert "cannot be decrypted: enter it again" in page.content.decode()

    job = _fal_job(_membership(alice), acme_project)
    assert job.credential_id == credential.pk
    services.job_submit(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED and job.error_code == "not_configured"
    assert "cannot be decrypted" in job.error_message and "Vendor keys page" in job.error_message
    assert client.get(reverse("generations:job-detail", args=[job.public_id])).status_code == 200


def test_production_refuses_to_start_without_encryption_keys(settings):
    settings.FIELD_ENCRYPTION_KEYS = []
    settings.DEBUG = False
    assert "accounts.E001" in [e.id for e in run_checks()]
    settings.DEBUG = True  # `make run`: settings made a local key; nothing to report
    assert "accounts.E001" not in [e.id for e in run_checks()]
    settings.FIELD_ENCRYPTION_KEYS = ["not-a-fernet-key"]
    assert "accounts.E002" in [e.id for e in run_checks()]


def test_the_demo_key_file_is_made_once_and_then_reused(tmp_path):
    path = tmp_path / "var" / "field_encryption_key"
    first = _local_field_encryption_key(path)
    Fernet(first.encode())  # a real Fernet key
    assert _local_field_encryption_key(path) == first
    assert oct(path.stat().st_mode & 0o777) == "0o600"


# ---------------------------------------------------------------------------------------------
# Which vendors a team is offered
# ---------------------------------------------------------------------------------------------


def test_a_team_is_offered_its_own_keys_and_the_operators_only_when_allowed(monkeypatch, alice, acme):
    monkeypatch.setenv("DASHSCOPE_API_KEY", "sk-operator-key")
    for name in ("FAL_KEY", "AIMLAPI_API_KEY", "APIMART_API_KEY", "LUMENFALL_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    assert services.available_providers(acme) == ["simulator", "dashscope"]
    vendor_keys.credential_set(membership=_membership(alice), vendor="fal", api_key=_canary())
    assert services.available_providers(acme) == ["simulator", "fal", "dashscope"]
    Team.objects.filter(pk=acme.pk).update(operator_keys_allowed=False)
    acme.refresh_from_db()
    assert services.available_providers(acme) == ["simulator", "fal"]


def test_a_team_without_operator_keys_cannot_submit_to_the_operators_vendor(
    monkeypatch, alice, acme, acme_project
):
    monkeypatch.setenv("DASHSCOPE_API_KEY", "sk-operator-key")
    Team.objects.filter(pk=acme.pk).update(operator_keys_allowed=False)
    acme_project.team.refresh_from_db()
    with pytest.raises(services.RequestValidationError) as caught:
        services.job_create(
            membership=_membership(alice),
            project=acme_project,
            provider="dashscope",
            model="wan2.6-t2i",
            mode=None,
            prompt="x",
            params={},
        )
    assert "not configured" in str(caught.value.errors["provider"])
    err = io.StringIO()
    with pytest.raises(CommandError):
        call_command(
            "generate",
            "--user=alice",
            f"--project={acme_project.slug}",
            "--provider=dashscope",
            "--model=wan2.6-t2i",
            "--prompt=x",
            stdout=io.StringIO(),
            stderr=err,
        )
    assert "not configured" in err.getvalue()
    assert Job.objects.count() == 0


def test_the_studio_form_lists_exactly_the_teams_vendors(client, monkeypatch, alice, acme, acme_project):
    for name in ("FAL_KEY", "DASHSCOPE_API_KEY", "AIMLAPI_API_KEY", "APIMART_API_KEY", "LUMENFALL_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    client.force_login(alice)
    url = reverse("generations:generation-form", args=[acme_project.public_id])
    assert 'value="lumenfall"' not in client.get(url).content.decode()
    vendor_keys.credential_set(membership=_membership(alice), vendor="lumenfall", api_key="lmnfl_" + "x" * 20)
    html = client.get(url).content.decode()
    assert 'value="lumenfall"' in html and 'value="fal"' not in html


# ---------------------------------------------------------------------------------------------
# The page: roles, and the canary
# ---------------------------------------------------------------------------------------------


def test_members_see_which_vendors_are_available_but_no_key_hint(client, alice, bob, acme, no_operator_keys):
    key = _canary()
    vendor_keys.credential_set(membership=_membership(alice), vendor="fal", api_key=key)
    client.force_login(bob)
    html = client.get(reverse("accounts:vendor-keys")).content.decode()
    assert "fal.ai" in html and "team's own key" in html
    assert key[-4:] not in html and "Add key" not in html and "Replace key" not in html
    response = client.post(
        reverse("accounts:vendor-key-set", args=["dashscope"]), {"api_key": "sk-" + "b" * 20}
    )
    assert response.status_code == 403 and not VendorCredential.objects.filter(vendor="dashscope").exists()


def test_replacing_keeps_the_old_row_revoked_and_one_active(client, alice, acme, no_operator_keys):
    client.force_login(alice)
    url = reverse("accounts:vendor-key-set", args=["fal"])
    client.post(url, {"api_key": _canary()})
    client.post(url, {"api_key": _canary()})
    rows = VendorCredential.objects.filter(team=acme, vendor="fal").order_by("created_at")
    assert [r.revoked_at is None for r in rows] == [False, True]
    assert rows[0].revoked_by == alice
    remove = reverse("accounts:vendor-key-remove", args=[rows[1].public_id])
    assert client.post(remove).status_code == 302
    assert not VendorCredential.objects.filter(team=acme, revoked_at__isnull=True).exists()
    assert client.post(remove).status_code == 404  # removed keys are gone from the page


def test_a_canary_key_set_through_the_page_appears_nowhere(
    client, alice, dave, acme, acme_project, fal, monkeypatch, caplog, django_capture_on_commit_callbacks
):
    caplog.set_level(logging.DEBUG)
    key = _canary()
    seen: dict[str, str] = {}
    client.force_login(alice)
    # A refused form (bad webhook field does not apply to fal: a key with a space) re-renders empty.
    refused = client.post(reverse("accounts:vendor-key-set", args=["fal"]), {"api_key": key + " x"})
    assert refused.status_code == 400
    seen["refused form"] = refused.content.decode()
    saved = client.post(reverse("accounts:vendor-key-set", args=["fal"]), {"api_key": key}, follow=True)
    seen["saved page"] = saved.content.decode()
    assert f"…{key[-4:]}" in seen["saved page"]  # the hint is shown, so the checks below are not vacuous
    assert key in known_secrets()  # and redaction knows it

    # The vendor refuses it and quotes the Authorization header back (403 with the key in the body).
    fal.other_keys.add(key)
    fal.echo_auth = 403
    job = _fal_job(_membership(alice), acme_project)
    _drive(job, monkeypatch, django_capture_on_commit_callbacks)
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED and job.error_code == "auth_failed"
    assert any(r.headers.get("authorization") == f"Key {key}" for r in fal.server.requests)  # it was used
    assert "[redacted]" in job.error_message + " ".join(job.vendor_calls.values_list("error", flat=True))
    try:
        raise RuntimeError(f"vendor said: Authorization: Key {key}")
    except RuntimeError:
        logging.getLogger("generations.services").exception("submit of %s failed", job.public_id)

    seen["job"] = client.get(reverse("generations:job-detail", args=[job.public_id])).content.decode()
    seen["keys page"] = client.get(reverse("accounts:vendor-keys")).content.decode()
    client.force_login(dave)
    seen["viewer job"] = client.get(reverse("generations:job-detail", args=[job.public_id])).content.decode()
    client.force_login(UserFactory(username="operator", is_staff=True, is_superuser=True))
    credential = VendorCredential.objects.get(team=acme)
    for name, url in {
        "admin keys": reverse("admin:accounts_vendorcredential_changelist"),
        "admin key": reverse("admin:accounts_vendorcredential_change", args=[credential.pk]),
        "admin team": reverse("admin:accounts_team_change", args=[acme.pk]),
        "admin job": reverse("admin:generations_job_change", args=[job.pk]),
        "admin calls": reverse("admin:generations_vendorcall_changelist"),
    }.items():
        response = client.get(url)
        assert response.status_code == 200, name
        seen[name] = response.content.decode()
    assert "…" + key[-4:] in seen["admin key"] and credential.key_encrypted not in seen["admin key"]

    dump = io.StringIO()
    call_command("dumpdata", stdout=dump)
    rows = " ".join(f"{c.url} {c.error}" for c in VendorCall.objects.all())
    job.refresh_from_db()
    for name, text in {
        **seen,
        "vendor calls": rows,
        "job row": f"{job.error_message} {job.vendor_state} {job.events.values_list('message', flat=True)}",
        "database": dump.getvalue(),
        "logs": caplog.text,
    }.items():
        assert key not in text, f"the key is in {name}"


def test_the_webhook_field_is_offered_for_lumenfall_only(client, alice, acme):
    client.force_login(alice)
    html = client.get(reverse("accounts:vendor-keys")).content.decode()
    assert html.count('name="webhook_secret"') == 1 and 'id="id_lumenfall_webhook_secret"' in html
    response = client.post(
        reverse("accounts:vendor-key-set", args=["lumenfall"]),
        {"api_key": "lmnfl_" + "k" * 20, "webhook_secret": "nope"},
    )
    assert response.status_code == 400 and "starts with whsec_" in response.content.decode()
    assert (
        client.post(reverse("accounts:vendor-key-set", args=["nobody"]), {"api_key": "x" * 20}).status_code
        == 404
    )


# ---------------------------------------------------------------------------------------------
# Verify
# ---------------------------------------------------------------------------------------------


def test_verify_calls_lumenfall_and_stores_the_webhook_secret_it_answers(client, monkeypatch, alice, acme):
    with FakeServer() as server:
        fake = FakeLumenfall(server, api_key="lmnfl_team_" + "a" * 16)
        monkeypatch.setenv("LUMENFALL_BASE_URL", server.url)
        client.force_login(alice)
        membership = _membership(alice)
        good = vendor_keys.credential_set(membership=membership, vendor="lumenfall", api_key=fake.api_key)
        response = client.post(reverse("accounts:vendor-key-verify", args=[good.public_id]), follow=True)
        assert "Lumenfall accepted the key." in response.content.decode()
        good.refresh_from_db()
        assert good.verify_status == VerifyStatus.OK and good.last_verified_at is not None
        assert vendor_keys.credential_webhook_secret(good) == fake.secret
        assert fake.secret not in response.content.decode()

        bad = vendor_keys.credential_set(
            membership=membership, vendor="lumenfall", api_key="lmnfl_wrong_" + "b" * 16
        )
        response = client.post(reverse("accounts:vendor-key-verify", args=[bad.public_id]), follow=True)
        bad.refresh_from_db()
        assert bad.verify_status == VerifyStatus.FAILED and "refused this key" in response.content.decode()
        assert [r.path for r in server.requests] == ["/v1/webhooks/secret", "/v1/webhooks/secret"]


def test_vendors_without_a_check_call_say_so_and_are_verified_by_their_first_job(
    client, alice, acme, acme_project, fal, monkeypatch, django_capture_on_commit_callbacks
):
    key = _canary()
    fal.other_keys.add(key)
    credential = vendor_keys.credential_set(membership=_membership(alice), vendor="fal", api_key=key)
    client.force_login(alice)
    html = client.get(reverse("accounts:vendor-keys")).content.decode()
    assert "verified on first use" in html
    client.post(reverse("accounts:vendor-key-verify", args=[credential.public_id]))
    assert not fal.server.requests  # no call for fal's "verify"
    job = _fal_job(_membership(alice), acme_project)
    _drive(job, monkeypatch, django_capture_on_commit_callbacks)
    job.refresh_from_db()
    credential.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED, job.error_message
    assert credential.verify_status == VerifyStatus.OK and credential.last_used_at is not None


# ---------------------------------------------------------------------------------------------
# End to end: two teams, one vendor, their own keys; a key replaced mid-job
# ---------------------------------------------------------------------------------------------


def test_two_teams_reach_the_vendor_with_their_own_keys_and_are_billed_to_them(
    alice, acme, acme_project, fal, monkeypatch, django_capture_on_commit_callbacks
):
    other = TeamFactory(name="Initech", slug="initech")
    peter = UserFactory(username="peter")
    MembershipFactory(team=other, user=peter, role=Role.OWNER)
    other_project = ProjectFactory(team=other, created_by=peter)
    key_acme, key_other = _canary(), _canary()
    fal.other_keys |= {key_acme, key_other}
    vendor_keys.credential_set(membership=_membership(alice), vendor="fal", api_key=key_acme)
    vendor_keys.credential_set(membership=_membership(peter), vendor="fal", api_key=key_other)

    job_acme = _fal_job(_membership(alice), acme_project)
    job_other = _fal_job(_membership(peter), other_project)
    for job in (job_acme, job_other):
        _drive(job, monkeypatch, django_capture_on_commit_callbacks)
        job.refresh_from_db()
        assert job.status == JobStatus.SUCCEEDED, job.error_message

    assert _auth_headers_for(fal, job_acme) == {f"Key {key_acme}"}
    assert _auth_headers_for(fal, job_other) == {f"Key {key_other}"}
    assert _submit_headers(fal) == [f"Key {key_acme}", f"Key {key_other}"]
    assert set(LedgerEntry.objects.filter(job=job_acme).values_list("billed_to", flat=True)) == {"team"}


def test_a_key_replaced_while_a_job_runs_finishes_that_job_and_the_next_uses_the_new_one(
    client, alice, acme, acme_project, fal, monkeypatch, django_capture_on_commit_callbacks
):
    old, new = _canary(), _canary()
    fal.other_keys |= {old, new}
    membership = _membership(alice)
    vendor_keys.credential_set(membership=membership, vendor="fal", api_key=old)
    first = _fal_job(membership, acme_project)
    pending = _drive(first, monkeypatch, django_capture_on_commit_callbacks, polls_before_stop=1)
    first.refresh_from_db()
    assert first.status in (JobStatus.SUBMITTED, JobStatus.RUNNING) and pending

    client.force_login(alice)
    client.post(reverse("accounts:vendor-key-set", args=["fal"]), {"api_key": new})
    _continue(pending, monkeypatch, django_capture_on_commit_callbacks)
    first.refresh_from_db()
    assert first.status == JobStatus.SUCCEEDED, first.error_message
    assert _auth_headers_for(fal, first) == {f"Key {old}"}

    second = _fal_job(membership, acme_project)
    _drive(second, monkeypatch, django_capture_on_commit_callbacks)
    assert _auth_headers_for(fal, second) == {f"Key {new}"}
    assert _submit_headers(fal) == [f"Key {old}", f"Key {new}"]
    assert first.credential_id != second.credential_id


def test_operator_key_jobs_are_billed_to_the_operator_and_the_usage_page_splits_them(
    client, alice, acme, acme_project, fal, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setenv("FAL_KEY", fal.api_key)
    by_operator = _fal_job(_membership(alice), acme_project)
    _drive(by_operator, monkeypatch, django_capture_on_commit_callbacks)
    key = _canary()
    fal.other_keys.add(key)
    vendor_keys.credential_set(membership=_membership(alice), vendor="fal", api_key=key)
    by_team = _fal_job(_membership(alice), acme_project)
    _drive(by_team, monkeypatch, django_capture_on_commit_callbacks)
    assert by_operator.credential_id is None and by_team.credential_id is not None
    assert _auth_headers_for(fal, by_operator) == {f"Key {fal.api_key}"}
    assert set(LedgerEntry.objects.filter(job=by_operator).values_list("billed_to", flat=True)) == {
        "operator"
    }
    client.force_login(alice)
    html = client.get(reverse("quotas:usage")).content.decode()
    assert "Whose vendor key paid" in html and "Team&#x27;s own key" in html and "Operator&#x27;s key" in html
    response = client.get(reverse("quotas:usage-csv"))
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert {(r["job id"], r["billed to"]) for r in rows if r["kind"] == "settle"} == {
        (str(by_operator.public_id), "operator"),
        (str(by_team.public_id), "team"),
    }


# ---------------------------------------------------------------------------------------------
# Webhooks of team-key jobs: verified with that team's secret
# ---------------------------------------------------------------------------------------------


def _lumenfall_job(team, project, user, credential, video_id) -> Job:
    return Job.objects.create(
        team=team,
        project=project,
        created_by=user,
        provider="lumenfall",
        model="wan-2.6",
        mode="t2v",
        prompt="tide",
        status=JobStatus.RUNNING,
        vendor_job_id=video_id,
        vendor_state={"kind": "video", "video_id": video_id},
        poll_token="current",
        credential=credential,
    )


def test_a_team_key_jobs_webhook_is_verified_with_that_teams_secret(
    client, monkeypatch, alice, acme, acme_project, no_operator_keys
):
    with FakeServer() as server:
        team_fake = FakeLumenfall(server, api_key="lmnfl_team_" + "c" * 16)
        monkeypatch.setenv("LUMENFALL_BASE_URL", server.url)
        credential = vendor_keys.credential_set(
            membership=_membership(alice),
            vendor="lumenfall",
            api_key=team_fake.api_key,
            webhook_secret=team_fake.secret,
        )
        job = _lumenfall_job(acme, acme_project, alice, credential, "video_team_1")
        team_url = reverse("generations:webhook-team", args=["lumenfall", credential.public_id])

        # Signed with another account's secret (the operator's): refused, nothing changes.
        operator = FakeLumenfall(
            server, api_key="lmnfl_op", secret="whsec_" + "b3BlcmF0b3Itc2VjcmV0LTMyLWJ5dGVzLWxvbmchIQ=="
        )
        headers, body = operator.signed_event("video_team_1")
        refused = client.post(team_url, data=body, content_type="application/json", headers=headers)
        assert refused.status_code == 401
        job.refresh_from_db()
        assert job.status == JobStatus.RUNNING and not job.result

        # The operator's URL does not serve team-key jobs (and here, no operator key: 404).
        headers, body = team_fake.signed_event("video_team_1")
        assert (
            client.post(
                reverse("generations:webhook", args=["lumenfall"]),
                data=body,
                content_type="application/json",
                headers=headers,
            ).status_code
            == 404
        )
        accepted = client.post(team_url, data=body, content_type="application/json", headers=headers)
        assert accepted.status_code == 200 and accepted.json() == {"ok": True, "known": True}
        job.refresh_from_db()
        assert job.progress == 100 and job.result


def test_the_submitted_webhook_url_names_the_credential(settings, alice, acme, acme_project):
    settings.WEBHOOKS_ENABLED = True
    settings.PUBLIC_BASE_URL = "https://studio.example"
    credential = vendor_keys.credential_set(
        membership=_membership(alice), vendor="lumenfall", api_key="lmnfl_" + "d" * 20
    )
    job = _lumenfall_job(acme, acme_project, alice, credential, "video_x")
    assert services._request_for(job).webhook_url == (
        f"https://studio.example/webhooks/lumenfall/{credential.public_id}/"
    )


def test_deleting_a_team_deletes_its_keys_and_the_jobs_that_used_them(alice, acme, acme_project):
    credential = vendor_keys.credential_set(
        membership=_membership(alice), vendor="lumenfall", api_key="lmnfl_" + "e" * 20
    )
    _lumenfall_job(acme, acme_project, alice, credential, "video_y")
    acme.delete()
    assert not VendorCredential.objects.exists() and not Job.objects.exists()


def test_outside_debug_the_check_refuses_without_keys_and_accepts_make_runs_key_file(tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "FIELD_ENCRYPTION"))}
    env.update(
        DJANGO_SETTINGS_MODULE="wanweb.settings",
        DEBUG="false",
        SECRET_KEY="a-real-" + "s3cr3t-" * 8,
        WANWEB_FIELD_ENCRYPTION_KEY_PATH=str(tmp_path / "field_encryption_key"),
    )

    def check():
        return subprocess.run(
            [sys.executable, "manage.py", "check"], cwd=root, env=env, capture_output=True, text=True
        )

    refused = check()
    assert refused.returncode != 0 and "accounts.E001" in refused.stderr
    assert not (tmp_path / "field_encryption_key").exists()  # production never makes one itself
    (tmp_path / "field_encryption_key").write_text(Fernet.generate_key().decode() + "\n")
    assert check().returncode == 0
