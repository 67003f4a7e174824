"""What cards and job pages say about a job: labelled parameters, human errors, what was paid."""

from __future__ import annotations

from decimal import Decimal

from django.urls import reverse

from tests.factories import JobFactory


def _project_page(client, project) -> str:
    return client.get(reverse("generations:project-detail", args=[project.public_id])).content.decode()


def _job_page(client, job) -> str:
    return client.get(reverse("generations:job-detail", args=[job.public_id])).content.decode()


def _card(body: str, job) -> str:
    start = body.index(f'id="job-{job.public_id}"')
    return body[start : body.index("</article>", start)]


def test_a_failed_card_says_what_happened_in_words_and_keeps_the_code_in_small_print(
    client, bob, acme_project
):
    job = JobFactory(
        project=acme_project, status="failed", error_code="content_policy", error_message="Flagged."
    )
    client.force_login(bob)
    card = _card(_project_page(client, acme_project), job)
    assert "Blocked by the content filter" in card
    assert '<small class="error-code">content_policy</small>' in card


def test_an_unknown_error_code_still_reads_as_a_failure(client, bob, acme_project):
    job = JobFactory(project=acme_project, status="failed", error_code="something_new")
    client.force_login(bob)
    card = _card(_project_page(client, acme_project), job)
    assert "Failed" in card and '<small class="error-code">something_new</small>' in card


def test_failed_and_canceled_cards_show_nothing_was_paid(client, bob, acme_project):
    failed = JobFactory(project=acme_project, status="failed", cost_estimate=Decimal("0.25"))
    canceled = JobFactory(project=acme_project, status="canceled", cost_estimate=Decimal("0.25"))
    done = JobFactory(project=acme_project, status="succeeded", cost_final=Decimal("0.25"))
    client.force_login(bob)
    body = _project_page(client, acme_project)
    for job in (failed, canceled):
        card = _card(body, job)
        assert "$0 (refunded)" in card and "0.250" not in card
    assert "$0.250" in _card(body, done)


def test_the_job_page_shows_the_refund_and_the_error_label(client, bob, acme_project):
    job = JobFactory(
        project=acme_project,
        status="failed",
        error_code="content_policy",
        error_message="The vendor flagged the prompt.",
        cost_estimate=Decimal("0.25"),
    )
    client.force_login(bob)
    body = _job_page(client, job)
    assert "Blocked by the content filter" in body and "The vendor flagged the prompt." in body
    assert "$0 (refunded)" in body and "0.2500" not in body
    assert '<small class="error-code">content_policy</small>' in body


def test_the_job_page_labels_parameters_instead_of_showing_their_keys(client, bob, acme_project):
    job = JobFactory(
        project=acme_project,
        provider="simulator",
        model="wan-sim",
        mode="t2i",
        params={"num_outputs": 2, "prompt_expansion": False, "size": "1024x1024", "sim_delay": 3},
    )
    client.force_login(bob)
    body = _job_page(client, job)
    assert "<th>Number of images</th><td>2</td>" in body
    assert "<th>Prompt expansion</th><td>Off</td>" in body
    assert "<th>Size</th><td>1024×1024</td>" in body
    # A simulator job shows its simulator knobs, labelled, with their unit.
    assert "<th>Simulated time</th><td>3 s</td>" in body
    assert "num_outputs" not in body and "prompt_expansion" not in body


def test_simulator_only_keys_are_hidden_on_vendor_jobs(client, bob, acme_project):
    job = JobFactory(
        project=acme_project,
        provider="fal",
        model="fal-ai/wan/v2.2-a14b/text-to-video",
        mode="t2v",
        params={"duration": 5, "resolution": "720p", "sim_delay": 3, "sim_fault": "timeout"},
    )
    client.force_login(bob)
    body = _job_page(client, job)
    assert "<th>Resolution</th><td>720p</td>" in body and "<th>Provider</th><td>fal.ai</td>" in body
    assert "sim_delay" not in body and "Simulated" not in body and "sim_fault" not in body


def test_a_job_of_a_model_no_longer_in_the_catalog_still_gets_readable_labels(client, bob, acme_project):
    job = JobFactory(
        project=acme_project, provider="fal", model="gone/model", mode="t2v", params={"num_outputs": 1}
    )
    client.force_login(bob)
    body = _job_page(client, job)
    assert "<th>Number of outputs</th><td>1</td>" in body
