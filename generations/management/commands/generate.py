"""Create a generation job from the shell, optionally wait for it (shared/DESIGN.md "Fixed interfaces").

    python manage.py generate --user U --project P --provider NAME --model ID [--mode MODE]
        --prompt TEXT [--param key=value ...] [--input path ...] [--wait] [--timeout S]

The job goes through `services.job_create`, the same service (validation, quota) and Celery path
as the web form. The command only enqueues: a Celery worker (`make run` starts one) does the work.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.core.management.base import BaseCommand, CommandError, CommandParser

from generations import selectors, services
from generations.assets import UploadedInput
from generations.models import FINAL_STATUSES, AssetRole, Job, JobStatus, Project
from providers import catalog, media
from providers.base import RequestValidationError
from providers.catalog import ModelSpec
from wanweb.accounts.models import Membership
from wanweb.quotas.services import QuotaExceeded

EXIT_FAILED = 1  # the job failed or was canceled
EXIT_INVALID = 2  # bad arguments, unknown user/project, refused by validation: nothing created
EXIT_TIMEOUT = 3  # --wait gave up; the job goes on in the background
POLL_INTERVAL = 0.5  # seconds between looks at the job row while waiting
QUEUED_HINT_AFTER = 30.0  # still queued this long: probably no worker is running

HELP = """Create a generation job (as the web form does) and print its id.

With --wait, wait until the job ends, then print its final status and the paths of the stored
outputs. A Celery worker must be running for the job to progress (`make run` starts one);
without one, --wait only ends at --timeout.

Exit status: 0 the job succeeded (or, without --wait, was queued); 1 the job failed or was
canceled (the error code and message go to stderr); 2 invalid arguments, unknown user or project,
or a request the catalog refuses (one line per field on stderr, nothing created); 3 --wait timed
out (the job goes on).

Examples:
  manage.py generate --user demo --project first-steps --provider simulator --mode t2v \\
      --prompt "waves at dusk" --param duration=5 --param audio=true --wait
  manage.py generate --user demo --project "First steps" --provider dashscope \\
      --model wan2.6-i2v-flash --prompt "the cat blinks" --input cat.png --wait
"""


def _key_value(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"expected key=value, got {text!r}")
    return name.strip(), value


class Command(BaseCommand):
    help = HELP

    def create_parser(self, prog_name: str, subcommand: str, **kwargs) -> CommandParser:
        # Keep the examples' line breaks in --help.
        return super().create_parser(
            prog_name, subcommand, formatter_class=argparse.RawDescriptionHelpFormatter, **kwargs
        )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--user", required=True, help="Username (or email) of the job's creator.")
        parser.add_argument("--project", required=True, help="The project's name or slug.")
        parser.add_argument(
            "--provider",
            default="",
            help="simulator, fal, dashscope, aimlapi, apimart or lumenfall (vendors need their key set).",
        )
        parser.add_argument(
            "--model",
            default="",
            help="The vendor's model id, e.g. wan2.6-t2v. May be left out for the simulator.",
        )
        parser.add_argument(
            "--mode",
            default="",
            help="t2i, edit, t2v, i2v, v2v, r2v or s2v; needed only where one model id serves several "
            "modes (Lumenfall's wan-2.6), and for the simulator to pick what it makes.",
        )
        parser.add_argument("--prompt", default="", help="What to generate.")
        parser.add_argument(
            "--param",
            dest="params",
            action="extend",
            nargs="+",
            type=_key_value,
            default=[],
            metavar="KEY=VALUE",
            help="A parameter under its normalised name (duration=5, audio=true, size=1280x720, "
            'loras=\'[{"path": "..."}]\'). Repeatable; the last value of a key wins.',
        )
        parser.add_argument(
            "--input",
            dest="inputs",
            action="extend",
            nargs="+",
            default=[],
            metavar="PATH",
            help="Input media files in order: images fill the image slot (then end_image), videos "
            "the video slot, audio the audio slot.",
        )
        parser.add_argument(
            "--compare",
            default="",
            metavar="SPEC",
            help="Make a compare run instead of one job (generations/runs.py): JSON, or @file with "
            'JSON, e.g. \'{"targets": ["simulator:wan-sim", "fal:wan/v2.6/text-to-video"], "seeds": [1, 2], '
            '"variants": [], "extra_param": "duration", "extra_values": [5, 10], "failover": false}\' '
            '("seed_count": N instead of "seeds"). Needs --mode; --provider and --model are not used.',
        )
        parser.add_argument("--wait", action="store_true", help="Wait for the job to end (needs a worker).")
        parser.add_argument(
            "--timeout",
            type=float,
            default=600.0,
            help="With --wait: give up after this many seconds (default 600).",
        )

    def handle(self, *args, **options) -> None:
        membership, project = self._membership(options["user"], options["project"])
        if options["compare"]:
            from generations.management.compare_spec import create_compare_run

            create_compare_run(self, membership, project, options)
            return
        if not options["provider"].strip():
            raise CommandError("--provider is required (or --compare SPEC).", returncode=EXIT_INVALID)
        provider, mode = options["provider"].strip(), options["mode"].strip() or None
        try:
            spec = catalog.get_model(provider, options["model"].strip() or None, mode)
            uploads = _uploads(spec, [Path(p) for p in options["inputs"]])
            job = services.job_create(
                membership=membership,
                project=project,
                provider=provider,
                model=spec.model_id,
                mode=spec.mode.value,
                prompt=options["prompt"],
                params=dict(options["params"]),
                uploads=uploads,
            )
        except RequestValidationError as exc:
            for field, messages in exc.errors.items():
                for message in messages:
                    self.stderr.write(f"{field}: {message}")
            raise CommandError(
                "The request was refused; no job was created.", returncode=EXIT_INVALID
            ) from None
        except QuotaExceeded as exc:
            self.stderr.write(f"quota ({exc.limit}): {exc.message}")
            raise CommandError(
                "The quota refused the job; no job was created.", returncode=EXIT_INVALID
            ) from None
        except PermissionDenied as exc:
            raise CommandError(str(exc), returncode=EXIT_INVALID) from None

        self.stdout.write(str(job.public_id))
        self.stdout.flush()  # a script reading the id sees it now, not after --wait
        if options["wait"]:
            self._wait(job, timeout=options["timeout"], verbosity=options["verbosity"])

    # -- steps ---------------------------------------------------------------------------------

    def _membership(self, username: str, name_or_slug: str) -> tuple[Membership, Project]:
        users = get_user_model().objects.filter(is_active=True)
        user = users.filter(username=username).first() or (
            users.filter(email__iexact=username).first() if "@" in username else None
        )
        if user is None:
            raise CommandError(f"No active user {username!r}.", returncode=EXIT_INVALID)
        try:
            project = selectors.project_find_for_user(user=user, name_or_slug=name_or_slug)
        except (Project.DoesNotExist, Project.MultipleObjectsReturned) as exc:
            raise CommandError(str(exc), returncode=EXIT_INVALID) from None
        membership = Membership.objects.select_related("team", "user").get(team=project.team, user=user)
        if not membership.can_edit:
            raise CommandError(
                f"{user.username} is a {membership.get_role_display().lower()} of {project.team}; "
                "generating needs the member role or above.",
                returncode=EXIT_INVALID,
            )
        return membership, project

    def _wait(self, job: Job, *, timeout: float, verbosity: int) -> None:
        started = time.monotonic()
        deadline = started + timeout
        hinted = False
        last_status = job.status
        while job.status not in FINAL_STATUSES:
            if time.monotonic() >= deadline:
                self.stdout.write(job.status)
                raise CommandError(
                    f"Job {job.public_id} is still {job.status} after {timeout:g} s; it goes on in the "
                    "background.",
                    returncode=EXIT_TIMEOUT,
                )
            if (
                not hinted
                and job.status == JobStatus.QUEUED
                and time.monotonic() - started > QUEUED_HINT_AFTER
            ):
                hinted = True
                self.stderr.write(
                    f"Still queued after {QUEUED_HINT_AFTER:g} s: is a Celery worker running (make run)?"
                )
            time.sleep(POLL_INTERVAL)
            job.refresh_from_db()
            if verbosity >= 2 and job.status != last_status:
                progress = f" {job.progress}%" if job.progress is not None else ""
                self.stderr.write(f"{job.status}{progress}")
                last_status = job.status

        self.stdout.write(job.status)
        if job.status == JobStatus.SUCCEEDED:
            for asset in job.assets.filter(role=AssetRole.OUTPUT).order_by("index"):
                self.stdout.write(_local_path(asset.file))
            return
        if job.status == JobStatus.CANCELED:
            raise CommandError(f"Job {job.public_id} was canceled.", returncode=EXIT_FAILED)
        raise CommandError(f"{job.error_code}: {job.error_message}", returncode=EXIT_FAILED)


def _uploads(spec: ModelSpec, paths: list[Path]) -> list[UploadedInput]:
    """Probe each file and put it in the model's next free slot of its kind (command-line order).

    Images fill `image` up to its count, then `end_image`; a file beyond every slot of its kind
    goes to the last one (or a slot named after its kind), so the catalog reports it by slot name.
    """
    errors: dict[str, list[str]] = {}
    uploads: list[UploadedInput] = []
    used: dict[str, int] = {}
    for path in paths:
        try:
            data = path.read_bytes()
            info = media.probe(data, filename=path.name)
        except OSError as exc:
            errors.setdefault("input", []).append(f"{path}: {exc.strerror or exc}")
            continue
        except media.MediaError as exc:
            errors.setdefault("input", []).append(f"{path}: {exc}")
            continue
        # The slot named after the kind first (`image` before `end_image`), then catalog order.
        slots = sorted((s for s in spec.media if s.kind == info.kind), key=lambda s: s.name != info.kind)
        slot = next((s.name for s in slots if used.get(s.name, 0) < s.max_count), None)
        if slot is None:
            slot = slots[-1].name if slots else info.kind
        used[slot] = used.get(slot, 0) + 1
        uploads.append(UploadedInput(slot=slot, data=data, filename=path.name, info=info))
    if errors:
        raise RequestValidationError(errors)
    return uploads


def _local_path(file) -> str:
    """The stored file's absolute path on disk, or its storage name where storage has no paths."""
    try:
        return file.storage.path(file.name)
    except NotImplementedError:
        return file.name
