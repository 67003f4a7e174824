"""`manage.py generate --compare SPEC`: one compare run from a JSON spec (generations/runs.py)."""

from __future__ import annotations

import json
import time
from pathlib import Path

from django.core.exceptions import PermissionDenied
from django.core.management.base import CommandError

from generations import runs
from generations.models import FINAL_STATUSES, Job, JobStatus
from providers.base import RequestValidationError

EXIT_FAILED, EXIT_INVALID, EXIT_TIMEOUT = 1, 2, 3
SPEC_KEYS = {"targets", "seeds", "seed_count", "variants", "extra_param", "extra_values", "failover"}


def _load(text: str) -> dict:
    if text.startswith("@"):
        try:
            text = Path(text[1:]).read_text()
        except OSError as exc:
            raise CommandError(f"--compare {text}: {exc.strerror or exc}", returncode=EXIT_INVALID) from None
    try:
        spec = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CommandError(f"--compare is not JSON: {exc}", returncode=EXIT_INVALID) from None
    if not isinstance(spec, dict):
        raise CommandError("--compare must be a JSON object.", returncode=EXIT_INVALID)
    unknown = set(spec) - SPEC_KEYS
    if unknown:
        raise CommandError(f"--compare: unknown keys {', '.join(sorted(unknown))}.", returncode=EXIT_INVALID)
    return spec


def _ints(value, name: str) -> list[int]:
    if not isinstance(value, list) or not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        raise CommandError(f"--compare: {name} must be a list of whole numbers.", returncode=EXIT_INVALID)
    return value


def create_compare_run(command, membership, project, options) -> None:
    spec = _load(options["compare"].strip())
    mode = options["mode"].strip()
    if not mode:
        raise CommandError("--compare needs --mode.", returncode=EXIT_INVALID)
    targets = spec.get("targets") or []
    if not isinstance(targets, list) or not all(isinstance(t, str) for t in targets):
        raise CommandError('--compare: targets is a list of "provider:model".', returncode=EXIT_INVALID)
    seed_count = spec.get("seed_count")
    if seed_count is not None and (not isinstance(seed_count, int) or isinstance(seed_count, bool)):
        raise CommandError("--compare: seed_count must be a whole number.", returncode=EXIT_INVALID)
    variants = spec.get("variants") or []
    if not isinstance(variants, list) or not all(isinstance(v, str) for v in variants):
        raise CommandError("--compare: variants is a list of prompts.", returncode=EXIT_INVALID)
    extra_values = spec.get("extra_values") or []
    if not isinstance(extra_values, list):
        raise CommandError("--compare: extra_values is a list.", returncode=EXIT_INVALID)
    try:
        run = runs.run_create(
            membership=membership,
            project=project,
            mode=mode,
            targets=[runs.Target.parse(t) for t in targets],
            prompt=options["prompt"],
            params=dict(options["params"]),
            seeds=_ints(spec.get("seeds") or [], "seeds"),
            seed_count=seed_count,
            variants=variants,
            extra_param=str(spec.get("extra_param") or ""),
            extra_values=extra_values,
            failover=bool(spec.get("failover")),
        )
    except runs.RunRefused as exc:
        command.stderr.write(f"refused ({exc.limit or 'run'}): {exc.message}")
        raise CommandError("The run was refused; no job was created.", returncode=EXIT_INVALID) from None
    except RequestValidationError as exc:
        for field, messages in exc.errors.items():
            for message in messages:
                command.stderr.write(f"{field}: {message}")
        raise CommandError("The run was refused; no job was created.", returncode=EXIT_INVALID) from None
    except (PermissionDenied, ValueError) as exc:
        raise CommandError(str(exc), returncode=EXIT_INVALID) from None
    command.stdout.write(f"run {run.public_id} {run.detail_url}")
    for cell in run.cells.select_related("job").order_by("row", "col"):
        what = cell.job.public_id if cell.job else "left out"
        command.stdout.write(
            f"{cell.row_label} | {cell.col_label} | {what}{' | ' + cell.note if cell.note else ''}"
        )
    command.stdout.flush()
    if not options["wait"]:
        return
    deadline = time.monotonic() + options["timeout"]
    jobs = Job.objects.filter(run=run)
    while jobs.exclude(status__in=FINAL_STATUSES).exists():
        if time.monotonic() >= deadline:
            raise CommandError(f"Run {run.public_id} is still running.", returncode=EXIT_TIMEOUT)
        time.sleep(0.5)
    failed = jobs.exclude(status=JobStatus.SUCCEEDED).count()
    command.stdout.write(f"{jobs.count() - failed} succeeded, {failed} failed")
    if failed:
        raise CommandError(f"{failed} job(s) of the run did not succeed.", returncode=EXIT_FAILED)
