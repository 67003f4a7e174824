"""Compare runs: one submit makes the cross product of targets x prompt variants x extra values x
seeds, reserved all or nothing; and failover, which re-routes a job that failed for capacity.

A target is a (provider, model) serving the run's mode that the team may use. Parameters use the
catalog's normalised names; each target gets them translated (`translate_params`): a value it
cannot take becomes its nearest supported value with a note on the cell, or the cell is left out
with the reason. Nothing is changed silently.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.utils import timezone

from generations import services
from generations.assets import UploadedInput, files_delete
from generations.models import (
    Asset,
    AssetRole,
    Favourite,
    Job,
    JobStatus,
    Project,
    Run,
    RunCell,
    RunVote,
    TeamRunSettings,
)
from providers import catalog, registry
from providers.base import TRANSIENT_CODES, Mode, RequestValidationError
from wanweb.accounts.models import Membership
from wanweb.quotas import selectors as quota_selectors
from wanweb.quotas.money import format_usd
from wanweb.quotas.services import QuotaExceeded

logger = logging.getLogger(__name__)

MAX_JOBS = 48
MAX_SEEDS = 8
MAX_VARIANTS = 8
MAX_EXTRA_VALUES = 6
SEED_MAX = 2**31 - 1
# Parameters that can be the run's "one more" dimension (normalised names).
EXTRA_PARAMS = ("duration", "resolution", "aspect_ratio", "size", "num_frames", "fps", "guidance_scale")
# A vendor's "your account has no money left" is capacity, not a bad request (apimart, lumenfall).
_CREDIT_WORDS = ("balance", "credit", "quota")


class RunRefused(Exception):
    """A run refused before anything was created: too big, nothing to run, or over a limit."""

    def __init__(self, message: str, *, limit: str = "", fits: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.limit = limit
        self.fits = fits


@dataclass(frozen=True)
class Target:
    provider: str
    model: str

    @property
    def key(self) -> str:
        return f"{self.provider}:{self.model}"

    @property
    def label(self) -> str:
        return f"{registry.PROVIDER_LABELS.get(self.provider, self.provider)} · {self.model}"

    @classmethod
    def parse(cls, text: str) -> Target:
        provider, _, model = str(text).strip().partition(":")
        return cls(provider=provider.strip(), model=model.strip())


@dataclass
class PlannedCell:
    row: int
    col: int
    row_label: str
    col_label: str
    target: Target
    prompt: str
    params: dict[str, Any]
    note: str = ""
    skipped: str = ""  # why the cell is left out
    cost: Decimal = Decimal(0)


@dataclass
class Plan:
    cells: list[PlannedCell] = field(default_factory=list)
    rows: list[str] = field(default_factory=list)
    cols: list[str] = field(default_factory=list)

    @property
    def jobs(self) -> list[PlannedCell]:
        return [c for c in self.cells if not c.skipped]

    @property
    def total(self) -> Decimal:
        return sum((c.cost for c in self.jobs), Decimal(0))


# ---------------------------------------------------------------------------------------------
# Targets and parameter translation
# ---------------------------------------------------------------------------------------------


def targets_for(*, membership: Membership, mode: str) -> list[Target]:
    """Every (provider, model) serving `mode` that is configured and the member's quota allows."""
    limits = quota_selectors.limits_for(membership)
    available = set(services.available_providers(membership.team))
    wanted = Mode(mode)
    return [
        Target(spec.provider, spec.model_id)
        for spec in catalog.all_models()
        if spec.mode == wanted
        and spec.provider in available
        and (limits.providers is None or spec.provider in limits.providers)
        and (limits.models is None or spec.model_id in limits.models)
    ]


def _number(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError, OverflowError):
        return None


def translate_params(spec: catalog.ModelSpec, params: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The run's normalised params as this model takes them, and a note for every change.

    A parameter the model does not have is dropped with a note; a number outside its choices or
    bounds becomes the nearest value it takes, with a note. What the catalog itself maps (size,
    aspect ratio) is noted too. Raises RequestValidationError when the params still do not fit.
    """
    notes: list[str] = []
    dropped: list[str] = []
    kept: dict[str, Any] = {}
    for name, value in params.items():
        if value in (None, ""):
            continue
        fs = spec.field(name)
        if fs is None:
            if name == "seed":
                notes.append("this model takes no seed")
            elif not name.startswith("sim_"):  # the simulator's own knobs mean nothing elsewhere
                dropped.append(name)
            continue
        number = _number(value) if fs.type in ("int", "float") else None
        if fs.choices and number is not None and value not in fs.choices:
            numeric = [c for c in fs.choices if _number(c) is not None]
            if numeric and not any(_number(c) == number for c in numeric):
                nearest = min(numeric, key=lambda c: (abs(_number(c) - number), _number(c)))
                notes.append(
                    f"{fs.label.lower()} {_show(value, fs)} → {_show(nearest, fs)} (nearest it takes)"
                )
                value = nearest
        elif number is not None and not fs.choices:
            low = fs.min if fs.min is not None else number
            high = fs.max if fs.max is not None else number
            clamped = min(max(number, low), high)
            if clamped != number:
                clamped = int(clamped) if fs.type == "int" else clamped
                notes.append(
                    f"{fs.label.lower()} {_show(value, fs)} → {_show(clamped, fs)} (nearest it takes)"
                )
                value = clamped
        elif fs.choices and fs.type in ("str", "enum") and isinstance(value, str):
            # 720P / 720p: the catalog compares case-insensitively only for some fields.
            match = next((c for c in fs.choices if str(c).lower() == value.lower()), None)
            if match is None and name == "resolution":
                pixels = {c: _number(str(c).rstrip("pP")) for c in fs.choices}
                wanted = _number(value.rstrip("pP"))
                candidates = [c for c, p in pixels.items() if p is not None]
                if wanted is not None and candidates:
                    match = min(candidates, key=lambda c: (abs(pixels[c] - wanted), pixels[c]))
                    notes.append(f"resolution {value} → {match} (nearest it takes)")
            if match is not None:
                value = match
        kept[name] = value
    if dropped:
        notes.insert(0, f"left out (this model has no such setting): {', '.join(dropped)}")
    cleaned = catalog.clean_params(spec, kept)
    for name, value in kept.items():
        if (
            name in cleaned
            and str(cleaned[name]).lower() != str(value).lower()
            and name in ("size", "aspect_ratio")
        ):
            notes.append(f"{name} {value} → {cleaned[name]} (nearest it takes)")
    return cleaned, notes


def _show(value: Any, fs: catalog.FieldSpec) -> str:
    return f"{value}{' ' + fs.unit if fs.unit else ''}"


# ---------------------------------------------------------------------------------------------
# Planning: the cross product, its notes and its estimate
# ---------------------------------------------------------------------------------------------


def parse_seeds(*, count: int | None = None, seeds: Sequence[int] = ()) -> list[int]:
    """Explicit seeds (1-8, kept in order, duplicates dropped) or `count` random ones."""
    explicit = list(dict.fromkeys(int(s) for s in seeds))
    if explicit:
        if len(explicit) > MAX_SEEDS:
            raise RunRefused(f"At most {MAX_SEEDS} seeds per run; {len(explicit)} were given.", limit="seeds")
        if any(s < 0 or s > SEED_MAX for s in explicit):
            raise RunRefused(f"Seeds are whole numbers from 0 to {SEED_MAX}.", limit="seeds")
        return explicit
    count = 1 if count is None else int(count)
    if not 1 <= count <= MAX_SEEDS:
        raise RunRefused(f"Choose 1 to {MAX_SEEDS} seeds.", limit="seeds")
    rng = random.SystemRandom()
    return [rng.randint(0, SEED_MAX) for _ in range(count)]


def plan_run(
    *,
    membership: Membership,
    mode: str,
    targets: Sequence[Target],
    prompt: str,
    params: dict[str, Any],
    seeds: Sequence[int],
    variants: Sequence[str] = (),
    extra_param: str = "",
    extra_values: Sequence[Any] = (),
) -> Plan:
    """The grid a run would make, with each cell's translated params, note and estimate.

    Rows are target x prompt variant x extra value, columns are seeds. Raises RunRefused for an
    empty or too big run, or a target the team may not use.
    """
    allowed = {t.key for t in targets_for(membership=membership, mode=mode)}
    targets = list(dict.fromkeys(targets))
    if not targets:
        raise RunRefused("Choose at least one target (a provider and a model).", limit="targets")
    for target in targets:
        if target.key not in allowed:
            raise RunRefused(f"{target.label} cannot run {mode} for this team.", limit="targets")
    variants = [v.strip() for v in variants if v and v.strip()][:MAX_VARIANTS] or [prompt]
    if extra_param and extra_param not in EXTRA_PARAMS:
        raise RunRefused(f"{extra_param} cannot be compared; choose one of {', '.join(EXTRA_PARAMS)}.")
    extra_values = list(dict.fromkeys(extra_values))[:MAX_EXTRA_VALUES] if extra_param else []
    extras: list[Any] = extra_values or [None]
    count = len(targets) * len(variants) * len(extras) * len(seeds)
    if count > MAX_JOBS:
        raise RunRefused(
            f"This run would make {count} jobs; a run makes at most {MAX_JOBS}. "
            "Choose fewer targets, seeds, variants or values.",
            limit="max_jobs",
            fits=MAX_JOBS,
        )
    overrides = quota_selectors.price_overrides()
    plan = Plan(cols=[f"seed {s}" for s in seeds])
    for target in targets:
        spec = catalog.get_model(target.provider, target.model, mode)
        for variant in variants:
            for extra in extras:
                label = target.label
                if len(variants) > 1:
                    label += f" · “{variant[:60]}”"
                if extra is not None:
                    label += f" · {extra_param} {extra}"
                row = len(plan.rows)
                plan.rows.append(label)
                for col, seed in enumerate(seeds):
                    wanted = dict(params) | {"seed": seed}
                    if extra is not None:
                        wanted[extra_param] = extra
                    cell = PlannedCell(
                        row=row,
                        col=col,
                        row_label=label,
                        col_label=f"seed {seed}",
                        target=target,
                        prompt=variant,
                        params=wanted,
                    )
                    try:
                        cell.params, notes = translate_params(spec, wanted)
                        cell.note = "; ".join(notes)
                        cell.cost = catalog.estimate_cost(spec, cell.params, overrides=overrides)
                    except RequestValidationError as exc:
                        cell.skipped = "Left out: " + " ".join(m for ms in exc.errors.values() for m in ms)
                    plan.cells.append(cell)
    if not plan.jobs:
        reasons = {c.skipped for c in plan.cells}
        raise RunRefused("No cell of this run can be made. " + " ".join(sorted(reasons)), limit="targets")
    return plan


# ---------------------------------------------------------------------------------------------
# Creating a run
# ---------------------------------------------------------------------------------------------


def run_create(
    *,
    membership: Membership,
    project: Project,
    mode: str,
    targets: Sequence[Target],
    prompt: str,
    params: dict[str, Any],
    seed_count: int | None = None,
    seeds: Sequence[int] = (),
    variants: Sequence[str] = (),
    extra_param: str = "",
    extra_values: Sequence[Any] = (),
    uploads: Sequence[UploadedInput] = (),
    failover: bool = False,
) -> Run:
    """Plan the run, then create and reserve every job in ONE transaction: all or nothing.

    Each job is made by services.job_create (the same validation, hold and enqueue as a single
    job); the jobs' submits are enqueued when the transaction commits. A limit that refuses any
    job refuses the run (RunRefused naming the limit and how many jobs would fit): no job, no hold.
    """
    if not membership.can_edit:
        raise PermissionDenied("Viewers can browse but not generate.")
    if project.team_id != membership.team_id:
        raise PermissionDenied("That project belongs to another team.")
    plan = plan_run(
        membership=membership,
        mode=mode,
        targets=targets,
        prompt=prompt,
        params=params,
        seeds=parse_seeds(count=seed_count, seeds=seeds),
        variants=variants,
        extra_param=extra_param,
        extra_values=extra_values,
    )
    made: list[Job] = []
    saved: list[str] = []  # input copies written by job_create, outside the transaction
    try:
        with transaction.atomic():
            run = Run.objects.create(
                team=project.team,
                project=project,
                created_by=membership.user,
                mode=str(Mode(mode)),
                prompt=prompt,
                failover=failover,
                spec={
                    "targets": [t.key for t in dict.fromkeys(targets)],
                    "seeds": [int(c.split()[1]) for c in plan.cols],
                    "variants": [v for v in variants if v and v.strip()],
                    "extra_param": extra_param,
                    "extra_values": list(extra_values),
                    "params": params,
                    "rows": plan.rows,
                },
            )
            for cell in plan.cells:
                job = None
                if not cell.skipped:
                    try:
                        job = services.job_create(
                            membership=membership,
                            project=project,
                            provider=cell.target.provider,
                            model=cell.target.model,
                            mode=mode,
                            prompt=cell.prompt,
                            params=cell.params,
                            uploads=uploads,
                            run=run,
                        )
                    except QuotaExceeded as exc:
                        raise RunRefused(
                            f"{exc.message} This run needs {format_usd(plan.total)} for {len(plan.jobs)} "
                            f"jobs; {len(made)} of them would fit.",
                            limit=exc.limit,
                            fits=len(made),
                        ) from exc
                    made.append(job)
                    if uploads:
                        saved.extend(job.assets.values_list("file", flat=True))
                    if cell.note:
                        services.job_event(job, JobStatus.QUEUED, f"Compare: {cell.note}")
                RunCell.objects.create(
                    run=run,
                    row=cell.row,
                    col=cell.col,
                    row_label=cell.row_label[:300],
                    col_label=cell.col_label,
                    job=job,
                    note=(cell.skipped or cell.note)[:500],
                )
    except BaseException:
        files_delete(saved)  # the rows rolled back; the files were written outside the transaction
        raise
    return run


# ---------------------------------------------------------------------------------------------
# Winners and votes
# ---------------------------------------------------------------------------------------------


def _require_member(membership: Membership, run: Run) -> None:
    if run.team_id != membership.team_id:
        raise PermissionDenied("That run belongs to another team.")
    if not membership.can_edit:
        raise PermissionDenied("Viewers can look but not vote or pick winners.")


def run_pick_winner(*, membership: Membership, run: Run, cell: RunCell) -> bool:
    """Make `cell` its row's winner (a second pick of the same cell unpicks it); returns whether it
    is the winner now. The winner's outputs become the picker's favourites, so the gallery shows them."""
    _require_member(membership, run)
    now = timezone.now()  # every cell whose mark changes is stamped: other viewers' pollers send it
    with transaction.atomic():
        if cell.winner:
            RunCell.objects.filter(pk=cell.pk).update(winner=False, updated_at=now)
            return False
        RunCell.objects.filter(run=run, row=cell.row, winner=True).exclude(pk=cell.pk).update(
            winner=False, updated_at=now
        )
        RunCell.objects.filter(pk=cell.pk).update(winner=True, updated_at=now)
        if cell.job_id is not None:
            for asset in Asset.objects.filter(job_id=cell.job_id, role=AssetRole.OUTPUT):
                Favourite.objects.get_or_create(user=membership.user, asset=asset)
    return True


def run_vote_toggle(*, membership: Membership, run: Run, cell: RunCell) -> bool:
    """One vote per member per cell: a second vote takes it back. Returns whether the vote stands."""
    _require_member(membership, run)
    deleted, _ = RunVote.objects.filter(cell=cell, user=membership.user).delete()
    if not deleted:
        try:
            with transaction.atomic():
                RunVote.objects.create(cell=cell, user=membership.user)
        except IntegrityError:
            pass  # a double click racing itself: the vote stands
    # The count changed: stamp the cell so other viewers' pollers send it with its new count.
    RunCell.objects.filter(pk=cell.pk).update(updated_at=timezone.now())
    return not deleted


# ---------------------------------------------------------------------------------------------
# Failover
# ---------------------------------------------------------------------------------------------


def is_capacity_error(code: str, message: str) -> bool:
    """Transient or capacity failures (429, 5xx, timeouts, unreachable, "insufficient balance").

    Validation and content moderation are permanent and never fail over.
    """
    if code in TRANSIENT_CODES:
        return True
    text = (message or "").lower()
    return "insufficient" in text and any(word in text for word in _CREDIT_WORDS)


def team_settings(team) -> TeamRunSettings:
    return TeamRunSettings.objects.filter(team=team).first() or TeamRunSettings(team=team)


def team_usable_providers(team) -> list[str]:
    """The providers the team may use at all (configured for it and allowed by its quota), in the
    catalog's order: what its failover preference list may name."""
    allowed = quota_selectors.limits_from(quota_selectors.team_quota(team), None).providers
    available = set(services.available_providers(team))
    return [p for p in catalog.PROVIDER_ORDER if p in available and (allowed is None or p in allowed)]


def team_settings_update(
    *, membership: Membership, failover_enabled: bool, provider_order: Sequence[str]
) -> TeamRunSettings:
    """Owners and admins set the team's failover switch and preference order (providers it may use,
    each once). PermissionDenied below admin; ValueError for a provider the team cannot use."""
    if not membership.can_manage_members:
        raise PermissionDenied("Only owners and admins change the team's failover settings.")
    usable = set(team_usable_providers(membership.team))
    order = list(dict.fromkeys(provider_order))
    unknown = [p for p in order if p not in usable]
    if unknown:
        raise ValueError(f"This team cannot use {', '.join(unknown)}.")
    settings, _ = TeamRunSettings.objects.update_or_create(
        team=membership.team, defaults={"failover_enabled": failover_enabled, "provider_order": order}
    )
    return settings


def provider_order(team) -> list[str]:
    """The team's preference order, then every other provider in the catalog's order."""
    preferred = [p for p in team_settings(team).provider_order if isinstance(p, str)]
    return list(dict.fromkeys(preferred + list(catalog.PROVIDER_ORDER)))


def job_failover(*, job: Job) -> Job | None:
    """Re-route a failed run job if it may (`_job_failover`); a bug here never undoes the failure."""
    try:
        return _job_failover(job)
    except Exception:
        logger.exception("failover of job %s failed", job.public_id)
        return None


def _job_failover(job: Job) -> Job | None:
    """After a run's job failed for capacity: re-route it once to the next provider serving its mode.

    The failed job's hold was refunded by job_fail; the new job reserves its own estimate through
    job_create (and may be refused by a limit, which the old job's timeline then says). Returns
    the new job, or None when the job may not or cannot fail over.
    """
    if job.run_id is None or job.status != JobStatus.FAILED:
        return None
    if not is_capacity_error(job.error_code, job.error_message):
        return None
    run = Run.objects.select_related("team").filter(pk=job.run_id).first()
    if run is None or not run.failover or not team_settings(run.team).failover_enabled:
        return None
    if job.retry_of_id is not None and Job.objects.filter(pk=job.retry_of_id, run_id=run.pk).exists():
        return None  # re-routed once already
    cell = RunCell.objects.filter(run=run, job=job).first()
    membership = (
        Membership.objects.select_related("team", "user").filter(team=run.team, user=job.created_by).first()
    )
    if cell is None or membership is None or not membership.can_edit:
        return None
    order = provider_order(run.team)
    allowed = {t.provider: t for t in reversed(targets_for(membership=membership, mode=job.mode))}
    after = order[order.index(job.provider) + 1 :] if job.provider in order else order
    candidates = [p for p in after + order if p != job.provider and p in allowed]
    old = registry.PROVIDER_LABELS.get(job.provider, job.provider)
    for provider in dict.fromkeys(candidates):
        spec = catalog.default_model(provider, job.mode)
        try:
            params, notes = translate_params(spec, dict(job.params))
            new_label = registry.PROVIDER_LABELS.get(provider, provider)
            reason = f"{job.error_code}: {job.error_message}"
            with transaction.atomic():
                new_job = services.job_create(
                    membership=membership,
                    project=job.project,
                    provider=provider,
                    model=spec.model_id,
                    mode=job.mode,
                    prompt=job.prompt,
                    params=params,
                    uploads=services.job_inputs(job),
                    retry_of=job,
                    run=run,
                )
                message = f"Re-routed from {old} to {new_label}: {reason}"
                services.job_event(
                    new_job, JobStatus.QUEUED, message + (f" ({'; '.join(notes)})" if notes else "")
                )
                services.job_event(job, JobStatus.FAILED, message)
                RunCell.objects.filter(pk=cell.pk, job=job).update(job=new_job, updated_at=timezone.now())
            return new_job
        except RequestValidationError:
            continue
        except QuotaExceeded as exc:
            services.job_event(job, JobStatus.FAILED, f"Could not re-route: {exc.message}")
            return None
    services.job_event(job, JobStatus.FAILED, "Could not re-route: no other provider serves this mode")
    return None
