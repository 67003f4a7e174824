"""What a submit and a store cost in SQL, and that the cheaper writes keep their guarantees (issue 13).

The worker's CPU per job is mostly Django compiling statements: these counts fail when a change
adds a statement back to the submit or the store path. Inside a test's transaction every
`atomic()` adds a SAVEPOINT and its RELEASE, which are counted here too.
"""

from __future__ import annotations

import hashlib
from decimal import Decimal

import pytest

from generations import assets, services
from generations.models import Asset, AssetRole, Job, JobEvent, JobStatus, VendorCall
from tests.factories import job_waiting_for_its_store, make_png
from tests.fakes.slow import TrickleServer
from wanweb.quotas.models import HoldStatus, LedgerEntry, LedgerKind, Wallet

PNG = make_png()


@pytest.fixture
def files():
    with TrickleServer() as server:
        yield server


@pytest.fixture
def fake_fal(fake_fal_server):
    return fake_fal_server


def _job(alice, project, *, provider: str = "simulator", model: str | None = None) -> Job:
    return services.job_create(
        membership=alice.memberships.get(team=project.team),
        project=project,
        provider=provider,
        model=model,
        mode="t2i",
        prompt="a lighthouse",
        params={},
    )


@pytest.mark.django_db
def test_storing_a_downloaded_output_takes_eleven_statements_and_settles_the_hold(
    files, settings, alice, acme_project, django_assert_num_queries
):
    settings.ALLOW_PRIVATE_URLS = True
    job = job_waiting_for_its_store(alice, acme_project, files.add("out.png", PNG, "image/png"))
    held = job.hold.amount

    # The job, its stored indexes; the download's call and the asset row (one upsert); then in one
    # transaction (+2 savepoint statements here) the status, its event and the settle: the hold,
    # its claim, both wallets locked in one query and released in one UPDATE, the ledger row.
    with django_assert_num_queries(13):
        services.job_store_outputs(job_id=job.pk)

    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED and job.result == [] and job.cost_final == held
    [output] = job.assets.filter(role=AssetRole.OUTPUT)
    assert output.sha256 == hashlib.sha256(PNG).hexdigest() and output.thumbnail.name.endswith("-thumb.webp")
    assert job.events.filter(status=JobStatus.SUCCEEDED, message="1 output stored").count() == 1
    assert VendorCall.objects.filter(job=job, operation="download", http_status=200).count() == 1
    assert job.hold.status == HoldStatus.SETTLED and job.hold.final_amount == held
    settle = LedgerEntry.objects.get(job=job, kind=LedgerKind.SETTLE)
    assert (settle.amount, settle.user_id) == (held, alice.pk)
    for wallet in Wallet.objects.filter(pk__in=[job.hold.team_wallet_id, job.hold.member_wallet_id]):
        assert (wallet.reserved, wallet.spent) == (Decimal("0"), held)

    # A redelivered task finds the job finished: one query, nothing written.
    with django_assert_num_queries(1):
        services.job_store_outputs(job_id=job.pk)


@pytest.mark.django_db
def test_a_store_killed_after_the_asset_row_ends_with_one_set_of_outputs_when_redelivered(
    files, settings, alice, acme_project, monkeypatch
):
    settings.ALLOW_PRIVATE_URLS = True
    job = job_waiting_for_its_store(alice, acme_project, files.add("out.png", PNG, "image/png"))

    def killed(job):
        raise SystemExit("worker killed")

    with monkeypatch.context() as patch:
        patch.setattr(services, "_finish_success", killed)
        with pytest.raises(SystemExit):
            services.job_store_outputs(job_id=job.pk)
    [first] = Asset.objects.filter(job=job, role=AssetRole.OUTPUT)
    job.refresh_from_db()
    assert job.status == JobStatus.RUNNING and job.hold.status == HoldStatus.HELD

    services.job_store_outputs(job_id=job.pk)

    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED and job.hold.status == HoldStatus.SETTLED
    assert list(Asset.objects.filter(job=job, role=AssetRole.OUTPUT)) == [first]


@pytest.mark.django_db
def test_writing_an_output_again_updates_its_row_and_keeps_its_public_id(alice, acme_project):
    job = _job(alice, acme_project)
    first = assets.asset_save_output(job=job, index=0, data=make_png(16, 16))
    again = assets.asset_save_output(job=job, index=0, data=make_png(32, 24, (0, 200, 0)))

    [row] = Asset.objects.filter(job=job, role=AssetRole.OUTPUT)
    assert again.pk == first.pk == row.pk and again.public_id == first.public_id == row.public_id
    assert again.created_at == first.created_at
    assert (row.width, row.height) == (32, 24) and row.sha256 != first.sha256


@pytest.mark.django_db
def test_a_submit_writes_its_call_status_and_event_in_one_transaction_of_few_statements(
    fake_fal, alice, acme_project, django_assert_num_queries, monkeypatch
):
    job = _job(alice, acme_project, provider="fal", model="wan/v2.6/text-to-image")
    due = []
    # The first poll's due time is the poll engine's (generations/dispatch.py), counted there.
    monkeypatch.setattr(services, "_schedule_poll", lambda job, **kw: due.append((job.pk, job.poll_token)))

    # The lease; the job and its inputs; then one transaction (+2 savepoint statements here):
    # the submit calls counted and logged, the status and its event.
    with django_assert_num_queries(9):
        services.job_submit(job_id=job.pk)

    job.refresh_from_db()
    assert job.status == JobStatus.SUBMITTED and job.vendor_job_id and job.submit_lease_until is None
    assert due == [(job.pk, job.poll_token)]
    assert list(JobEvent.objects.filter(job=job).values_list("status", flat=True)) == [
        JobStatus.QUEUED,
        JobStatus.SUBMITTED,
    ]
    assert VendorCall.objects.filter(job=job, operation="submit", attempt=1).count() == 1
