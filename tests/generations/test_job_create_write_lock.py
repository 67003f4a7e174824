"""Input images are re-encoded before job_create's transaction: on SQLite, other users' writes
must not wait for Pillow (issue 10 measured a 6.3 s wait)."""

from __future__ import annotations

import threading
import time
from unittest import mock

import pytest
from django.db import connection, connections

from generations import services
from generations.assets import UploadedInput
from generations.models import Job, Project
from providers import media
from tests.factories import make_png
from wanweb.accounts.models import Membership

pytestmark = pytest.mark.django_db(transaction=True)


def test_reencoding_runs_outside_the_transaction_and_other_writes_do_not_wait(alice, bob, acme_project):
    membership = Membership.objects.get(user=alice, team=acme_project.team)
    other = Membership.objects.get(user=bob, team=acme_project.team)
    data = make_png(320, 240)
    upload = UploadedInput(slot="image", data=data, filename="a.png", info=media.probe(data))
    real = media.reencode_image
    seen_atomic = []
    waits = []

    def slow_reencode(raw):
        seen_atomic.append(connection.in_atomic_block)

        # Meanwhile another user writes, from another connection (another request).
        def write():
            started = time.monotonic()
            services.project_create(membership=other, name="bob writes meanwhile")
            waits.append(time.monotonic() - started)
            connections.close_all()

        thread = threading.Thread(target=write)
        thread.start()
        time.sleep(1.5)  # Pillow on a big image
        thread.join(10)
        return real(raw)

    with (
        mock.patch.object(media, "reencode_image", slow_reencode),
        mock.patch.object(services.job_submit_task, "delay"),
    ):
        job = services.job_create(
            membership=membership,
            project=acme_project,
            provider="simulator",
            model="wan-sim",
            mode="i2v",
            prompt="animate it",
            params={},
            uploads=[upload],
        )

    assert seen_atomic == [False]
    assert waits and waits[0] < 1.0, waits  # not held behind the 1.5 s re-encode
    assert Project.objects.filter(name="bob writes meanwhile").exists()
    [asset] = Job.objects.get(pk=job.pk).assets.all()
    assert asset.file.name.startswith(f"jobs/{job.public_id}/input-")
