"""`manage.py generate --compare SPEC`: a compare run from the shell, through runs.run_create."""

from __future__ import annotations

import io
import json
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from generations import services
from generations.models import Job, Run
from wanweb.quotas.models import TeamQuota

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _no_broker(monkeypatch):
    monkeypatch.setattr(services, "job_submit_task", type("T", (), {"delay": staticmethod(lambda *a: None)}))


def _generate(acme_project, spec, *extra):
    out, err = io.StringIO(), io.StringIO()
    call_command(
        "generate",
        "--user=alice",
        f"--project={acme_project.slug}",
        "--mode=t2i",
        "--prompt=a fox",
        f"--compare={spec if isinstance(spec, str) else json.dumps(spec)}",
        *extra,
        stdout=out,
        stderr=err,
    )
    return out.getvalue(), err.getvalue()


def test_a_spec_makes_the_run_and_prints_its_cells(alice, acme_project):
    out, _ = _generate(
        acme_project, {"targets": ["simulator:wan-sim"], "seeds": [1, 2], "variants": ["a", "b"]}
    )
    run = Run.objects.get()
    assert out.splitlines()[0] == f"run {run.public_id} {run.detail_url}"
    assert len(out.splitlines()) == 5 and Job.objects.filter(run=run).count() == 4
    assert sorted(j.params["seed"] for j in Job.objects.filter(run=run)) == [1, 1, 2, 2]


def test_a_spec_from_a_file(alice, acme_project, tmp_path):
    path = tmp_path / "spec.json"
    path.write_text(json.dumps({"targets": ["simulator:wan-sim"], "seed_count": 3}))
    _generate(acme_project, f"@{path}")
    assert Job.objects.filter(run__isnull=False).count() == 3


@pytest.mark.parametrize(
    "spec",
    [
        "not json",
        "[1]",
        {"targets": "simulator"},
        {"targets": ["simulator:wan-sim"], "seeds": ["x"]},
        {"nope": 1},
        {"targets": ["simulator:wan-sim"], "seed_count": 99},
        "@/nonexistent/spec.json",
    ],
)
def test_a_bad_spec_exits_2_and_creates_nothing(alice, acme_project, spec):
    with pytest.raises(CommandError) as error:
        _generate(acme_project, spec)
    assert error.value.returncode == 2 and not Job.objects.exists() and not Run.objects.exists()


def test_a_run_over_budget_exits_2_naming_the_limit(alice, acme, acme_project):
    TeamQuota.objects.create(team=acme, budget_usd=Decimal("0.01"))
    with pytest.raises(CommandError) as error:
        _generate(acme_project, {"targets": ["simulator:wan-sim"], "seeds": [1, 2, 3]})
    assert error.value.returncode == 2 and not Job.objects.exists()
