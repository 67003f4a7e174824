"""What a team works on (projects); jobs and assets arrive with the jobs issue."""

from __future__ import annotations

import functools
import uuid

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils import timezone

_PLACEHOLDER = "00000000-0000-0000-0000-000000000000"


@functools.cache
def _url_pattern(name: str) -> str:
    """A reversed URL with `{}` where the id goes: reversing once, not once per card.

    A gallery page renders dozens of cards with several links each; reverse() per link was a
    visible share of the page's render time (bench/gallery.py).
    """
    return reverse(name, args=[_PLACEHOLDER]).replace(_PLACEHOLDER, "{}")


class Project(models.Model):
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    team = models.ForeignKey("accounts.Team", on_delete=models.CASCADE, related_name="projects")
    name = models.CharField(max_length=120)
    slug = models.SlugField(max_length=120)
    description = models.TextField(blank=True, max_length=2000)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    archived_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["team", "slug"], name="project_unique_team_slug")]
        # The project list filters by team and archived state, newest first.
        indexes = [models.Index(fields=["team", "archived_at", "-created_at"], name="project_team_list")]
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.name

    def get_mode_display(self) -> str:
        return Job(mode=self.mode).get_mode_display()

    @property
    def suffix_label(self) -> str:
        """The prompt suffix without its joining punctuation, for the menu."""
        return self.prompt_suffix.strip(" ,;.")

    @property
    def is_archived(self) -> bool:
        return self.archived_at is not None


class JobStatus(models.TextChoices):
    QUEUED = "queued", "Queued"  # waiting for a worker to submit it
    SUBMITTED = "submitted", "Submitted"  # the vendor accepted it; its id is stored
    RUNNING = "running", "Running"  # the vendor says it is working (or we are storing outputs)
    SUCCEEDED = "succeeded", "Succeeded"  # outputs are in our storage
    FAILED = "failed", "Failed"
    CANCELED = "canceled", "Canceled"


ACTIVE_STATUSES = (JobStatus.QUEUED, JobStatus.SUBMITTED, JobStatus.RUNNING)
FINAL_STATUSES = (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELED)


class Job(models.Model):
    """One generation request and everything that happened to it."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    # team is project.team, kept here so team-wide scoping and the reconciler need no join.
    team = models.ForeignKey("accounts.Team", on_delete=models.CASCADE, related_name="jobs")
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="jobs")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    retry_of = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="retries"
    )
    # The compare run this job is a cell of (generations/runs.py); null for a single job.
    run = models.ForeignKey("Run", on_delete=models.SET_NULL, null=True, blank=True, related_name="jobs")

    provider = models.CharField(max_length=20)
    model = models.CharField(max_length=120)
    mode = models.CharField(max_length=8)
    prompt = models.TextField(blank=True)
    params = models.JSONField(default=dict, blank=True)  # normalised names, validated by the catalog
    # The team's own vendor key the job was submitted with (null: the operator's environment key).
    # Polls, cancels and webhooks use this one even after the team replaced it. RESTRICT: kept
    # while jobs point at it, yet deleting the team deletes both.
    credential = models.ForeignKey(
        "accounts.VendorCredential", on_delete=models.RESTRICT, null=True, blank=True, related_name="jobs"
    )

    status = models.CharField(max_length=10, choices=JobStatus.choices, default=JobStatus.QUEUED)
    progress = models.PositiveSmallIntegerField(null=True, blank=True)
    vendor_job_id = models.CharField(max_length=200, blank=True)
    vendor_state = models.JSONField(default=dict, blank=True)  # what later calls need (fal's URLs, ...)
    vendor_status = models.CharField(max_length=40, blank=True)
    result = models.JSONField(default=list, blank=True)  # output URLs waiting to be copied to storage
    # Held while one worker talks to the vendor: a duplicate delivery or the reconciler cannot
    # submit the same job twice. Longer than the submit task's hard time limit.
    submit_lease_until = models.DateTimeField(null=True, blank=True)
    poll_token = models.CharField(max_length=32, blank=True)  # only the newest poll chain may act
    poll_count = models.PositiveIntegerField(default=0)  # also the sequence number of the next poll
    poll_errors = models.PositiveSmallIntegerField(default=0)  # consecutive transient poll failures
    # When the chain's next poll is due: the reconciler re-drives only chains overdue past it.
    poll_due_at = models.DateTimeField(null=True, blank=True)
    # When the poll dispatcher (generations/dispatch.py) last sent this job's due poll: it sends a
    # due poll once, and again only if no poll has recorded a later due time within its lease.
    poll_dispatched_at = models.DateTimeField(null=True, blank=True)
    # What the poll schedule learns from (generations/schedule.py): the vendor's processing seconds
    # (submit to the poll or webhook that saw the finish) and the job's duration|resolution.
    vendor_seconds = models.FloatField(null=True, blank=True)
    shape = models.CharField(max_length=40, blank=True)

    seed = models.BigIntegerField(null=True, blank=True)
    actual_prompt = models.TextField(blank=True)  # the vendor's rewritten prompt
    cost_estimate = models.DecimalField(max_digits=10, decimal_places=4, default=0)
    cost_final = models.DecimalField(max_digits=10, decimal_places=4, null=True, blank=True)
    error_code = models.CharField(max_length=40, blank=True)
    error_message = models.TextField(blank=True)
    # The form's one-time token: a repeated POST of the same form (a double submit, a retried
    # request) finds this job instead of making and paying for a second one.
    submit_token = models.CharField(max_length=64, blank=True)

    created_at = models.DateTimeField(default=timezone.now)
    submitted_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Every change to the row bumps this: the gallery asks "what changed since T?" and the
    # reconciler asks "who has been silent since T?".
    updated_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "vendor_job_id"],
                condition=~models.Q(vendor_job_id=""),
                name="job_unique_vendor_id",
            ),
            models.UniqueConstraint(
                fields=["created_by", "submit_token"],
                condition=~models.Q(submit_token=""),
                name="job_unique_submit_token",
            ),
        ]
        indexes = [
            # Gallery pages: one project, newest first (keyset pagination on created_at, id).
            models.Index(fields=["project", "-created_at", "-id"], name="job_gallery"),
            # Gallery refresh: what changed in this project since the last look.
            models.Index(fields=["project", "updated_at"], name="job_project_changes"),
            # Reconciler: active jobs silent for too long.
            models.Index(fields=["status", "updated_at"], name="job_status_updated"),
            # "Is anything running in this project?" on every gallery page and refresh.
            models.Index(fields=["project", "status"], name="job_project_status"),
            # The poll dispatcher, several times a second: the active jobs whose next poll is due.
            models.Index(
                fields=["poll_due_at"],
                condition=models.Q(status__in=["submitted", "running"]),
                name="job_poll_due",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_mode_display()} job {self.public_id}"

    def get_mode_display(self) -> str:
        from providers.base import MODE_LABELS, Mode

        try:
            return MODE_LABELS[Mode(self.mode)]
        except ValueError:
            return self.mode

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    @property
    def detail_url(self) -> str:
        return _url_pattern("generations:job-detail").format(self.public_id)

    @property
    def makes_video(self) -> bool:
        return self.mode not in ("t2i", "edit")

    @property
    def is_refunded(self) -> bool:
        """Failed and canceled jobs give their hold back (services.on_job_finished): nothing was paid."""
        return self.status in (JobStatus.FAILED, JobStatus.CANCELED)

    @property
    def provider_label(self) -> str:
        from providers.registry import PROVIDER_LABELS

        return PROVIDER_LABELS.get(self.provider, self.provider)

    @property
    def error_label(self) -> str:
        from generations.display import error_label

        return error_label(self.error_code)

    @property
    def param_rows(self) -> list[tuple[str, str]]:
        from generations.display import param_rows

        return param_rows(self)

    @property
    def card_facts(self) -> list[tuple[str, str]]:
        from generations.display import card_facts

        return card_facts(self)


class AssetRole(models.TextChoices):
    INPUT = "input", "Input"
    OUTPUT = "output", "Output"


def _asset_upload_to(asset: Asset, filename: str) -> str:
    return f"jobs/{asset.job.public_id}/{filename}"


class Asset(models.Model):
    """An input or output file of a job, in our own storage."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="assets")
    role = models.CharField(max_length=6, choices=AssetRole.choices)
    slot = models.CharField(max_length=20, blank=True)  # input slot: image, end_image, video, audio
    index = models.PositiveSmallIntegerField(default=0)
    kind = models.CharField(max_length=5)  # image | video | audio
    file = models.FileField(upload_to=_asset_upload_to, max_length=300)
    thumbnail = models.FileField(upload_to=_asset_upload_to, max_length=300, blank=True)  # WebP / poster
    content_type = models.CharField(max_length=100)
    size_bytes = models.BigIntegerField()
    sha256 = models.CharField(max_length=64)
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    duration = models.FloatField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["role", "index"]
        # A re-delivered store task updates the same row instead of adding a second set of outputs.
        constraints = [
            models.UniqueConstraint(fields=["job", "role", "index"], name="asset_unique_job_role_index")
        ]

    def __str__(self) -> str:
        return f"{self.role} {self.index} of {self.job_id}"

    @property
    def file_url(self) -> str:
        """The access-checked URL of the file (generations:asset-file)."""
        return _url_pattern("generations:asset-file").format(self.public_id)

    @property
    def preview_url(self) -> str:
        """The thumbnail or poster when there is one, else the file itself."""
        if self.thumbnail:
            return _url_pattern("generations:asset-thumb").format(self.public_id)
        return self.file_url

    # The mode an output feeds when a creator picks "Use as input" (the job page offers the others).
    USE_AS_INPUT_MODE = {"image": "edit", "video": "v2v"}

    @property
    def use_as_input_url(self) -> str:
        """The job's project page with this output in the first slot of the next job ('' for audio).

        Reads self.job.project: galleries select it with the job, so this costs no query per card.
        """
        mode = self.USE_AS_INPUT_MODE.get(self.kind)
        if mode is None:
            return ""
        project_url = _url_pattern("generations:project-detail").format(self.job.project.public_id)
        return f"{project_url}?use={self.public_id}&mode={mode}"


class JobEvent(models.Model):
    """The job's timeline: each status transition and notable step, with its time."""

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="events")
    status = models.CharField(max_length=10, choices=JobStatus.choices)
    message = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.status}: {self.message}"


class VendorCall(models.Model):
    """One HTTP call to a vendor on behalf of a job: the log behind the job detail's timeline."""

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="vendor_calls")
    operation = models.CharField(max_length=12)  # submit | poll | cancel | download | webhook
    attempt = models.PositiveIntegerField(default=1)
    method = models.CharField(max_length=8, blank=True)
    url = models.CharField(max_length=500, blank=True)  # no query string: it can carry tokens
    http_status = models.PositiveSmallIntegerField(null=True, blank=True)
    latency_ms = models.PositiveIntegerField(default=0)
    error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.operation} {self.method} {self.url} -> {self.http_status or self.error}"


# ---------------------------------------------------------------------------------------------
# Sharing: favourites, collections, public share links
# ---------------------------------------------------------------------------------------------


class Favourite(models.Model):
    """One user's star on one output."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="favourites")
    asset = models.ForeignKey(Asset, on_delete=models.CASCADE, related_name="favourites")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "asset"], name="favourite_unique_user_asset")]

    def __str__(self) -> str:
        return f"{self.user} ★ {self.asset_id}"


class Collection(models.Model):
    """A named set of outputs from any of the team's projects."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    team = models.ForeignKey("accounts.Team", on_delete=models.CASCADE, related_name="collections")
    name = models.CharField(max_length=120)
    description = models.TextField(blank=True, max_length=2000)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def get_mode_display(self) -> str:
        return Job(mode=self.mode).get_mode_display()

    @property
    def suffix_label(self) -> str:
        """The prompt suffix without its joining punctuation, for the menu."""
        return self.prompt_suffix.strip(" ,;.")


class CollectionItem(models.Model):
    collection = models.ForeignKey(Collection, on_delete=models.CASCADE, related_name="items")
    asset = models.ForeignKey(Asset, on_delete=models.CASCADE, related_name="collection_items")
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    added_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-added_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["collection", "asset"], name="collection_item_unique")]

    def __str__(self) -> str:
        return f"{self.asset_id} in {self.collection_id}"


class ShareLink(models.Model):
    """A read-only public link to one project, one collection or one compare run (shared/RELIABILITY.md
    section 6).

    Only a SHA-256 of the token is stored; the token itself is shown once, when the link is made.
    """

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    team = models.ForeignKey("accounts.Team", on_delete=models.CASCADE, related_name="share_links")
    project = models.ForeignKey(
        Project, on_delete=models.CASCADE, null=True, blank=True, related_name="share_links"
    )
    collection = models.ForeignKey(
        Collection, on_delete=models.CASCADE, null=True, blank=True, related_name="share_links"
    )
    run = models.ForeignKey(
        "Run", on_delete=models.CASCADE, null=True, blank=True, related_name="share_links"
    )
    token_hash = models.CharField(max_length=64, unique=True)
    label = models.CharField(max_length=120, blank=True)
    allow_downloads = models.BooleanField(default=False)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    view_count = models.PositiveIntegerField(default=0)
    last_viewed_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # Exactly one target: a project, a collection or a run.
            models.CheckConstraint(
                condition=(
                    models.Q(project__isnull=False)
                    & models.Q(collection__isnull=True)
                    & models.Q(run__isnull=True)
                )
                | (
                    models.Q(project__isnull=True)
                    & models.Q(collection__isnull=False)
                    & models.Q(run__isnull=True)
                )
                | (
                    models.Q(project__isnull=True)
                    & models.Q(collection__isnull=True)
                    & models.Q(run__isnull=False)
                ),
                name="share_link_one_target",
            )
        ]

    def __str__(self) -> str:
        return f"Share link to {self.target}"

    @property
    def target(self):
        """What the link shares: its project, collection or run."""
        return self.project or self.collection or self.run

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > timezone.now())

    @property
    def state(self) -> str:
        if self.revoked_at:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= timezone.now():
            return "expired"
        return "active"


# ---------------------------------------------------------------------------------------------
# The studio form: uploads waiting for a submit, team presets
# ---------------------------------------------------------------------------------------------


def _pending_upload_to(upload: PendingUpload, filename: str) -> str:
    return f"pending/{upload.public_id}/{filename}"


class PendingUpload(models.Model):
    """A file the form accepted but no job has used yet, so that a refused submit, a mode switch
    or a reload does not make the user choose it again.

    Owned by one user in one team (nobody else may use or see it), short-lived, and deleted when a
    job takes it (the job keeps its own re-encoded copy) or by the periodic cleanup.
    """

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    team = models.ForeignKey("accounts.Team", on_delete=models.CASCADE, related_name="+")
    filename = models.CharField(max_length=200)  # what the user called it, shown on the chip only
    kind = models.CharField(max_length=5)  # image | video | audio
    file = models.FileField(upload_to=_pending_upload_to, max_length=300)
    thumbnail = models.FileField(upload_to=_pending_upload_to, max_length=300, blank=True)
    content_type = models.CharField(max_length=100)
    size_bytes = models.BigIntegerField()
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    duration = models.FloatField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(db_index=True)  # the cleanup's only filter

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"pending {self.filename} of {self.user_id}"


class Preset(models.Model):
    """A team's saved starting point: mode, model and parameters, plus text to add to prompts."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    team = models.ForeignKey("accounts.Team", on_delete=models.CASCADE, related_name="presets")
    name = models.CharField(max_length=80)
    provider = models.CharField(max_length=20)
    mode = models.CharField(max_length=8)
    model = models.CharField(max_length=120)
    params = models.JSONField(default=dict, blank=True)  # normalised names, cleaned by the catalog
    prompt_suffix = models.CharField(max_length=500, blank=True)
    negative_prompt = models.CharField(max_length=500, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["team", "name"], name="preset_unique_team_name")]

    def __str__(self) -> str:
        return self.name

    def get_mode_display(self) -> str:
        return Job(mode=self.mode).get_mode_display()

    @property
    def suffix_label(self) -> str:
        """The prompt suffix without its joining punctuation, for the menu."""
        return self.prompt_suffix.strip(" ,;.")


# ---------------------------------------------------------------------------------------------
# Compare runs: one submit, many jobs side by side (generations/runs.py)
# ---------------------------------------------------------------------------------------------


class Run(models.Model):
    """The jobs made by one compare submit: targets x prompt variants x extra values x seeds.

    `spec` keeps what was asked (targets, seeds, variants, the extra parameter) so the page can
    label rows and columns and the CLI can repeat it.
    """

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    team = models.ForeignKey("accounts.Team", on_delete=models.CASCADE, related_name="runs")
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="runs")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    mode = models.CharField(max_length=8)
    prompt = models.TextField(blank=True)
    spec = models.JSONField(default=dict, blank=True)
    failover = models.BooleanField(default=False)  # this run may re-route (if the team allows it)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Compare run {self.public_id}"

    def get_mode_display(self) -> str:
        return Job(mode=self.mode).get_mode_display()

    @property
    def name(self) -> str:
        """A title for share panels and the public page: the mode and the start of the prompt."""
        prompt = self.prompt.strip()
        short = prompt[:60] + ("…" if len(prompt) > 60 else "")
        return f"Compare {self.get_mode_display()}" + (f": {short}" if short else "")

    @property
    def detail_url(self) -> str:
        return _url_pattern("generations:run-detail").format(self.public_id)

    @property
    def makes_video(self) -> bool:
        return Job(mode=self.mode).makes_video


class RunCell(models.Model):
    """One cell of a run's grid. `job` is the cell's current job (the re-routed one after a
    failover); null when the cell was left out, with the reason in `note`."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="cells")
    row = models.PositiveSmallIntegerField()
    col = models.PositiveSmallIntegerField()
    row_label = models.CharField(max_length=300)
    col_label = models.CharField(max_length=60)
    job = models.ForeignKey(Job, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    note = models.CharField(max_length=500, blank=True)  # a translated parameter, or why it is left out
    winner = models.BooleanField(default=False)
    # Bumped by a vote, a winner change or a failover (runs.py), so the page's poller sends the cell
    # to everyone else looking at the run; a change of the cell's job shows through job.updated_at.
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["row", "col"]
        constraints = [models.UniqueConstraint(fields=["run", "row", "col"], name="run_cell_unique_position")]
        # The poller's "which cells changed since T" (run_selectors.run_cells with since).
        indexes = [models.Index(fields=["run", "updated_at"], name="run_cell_run_updated")]

    def __str__(self) -> str:
        return f"cell {self.row},{self.col} of {self.run_id}"

    @property
    def seed(self):
        """The seed the vendor reported, else the one the job asked for."""
        job = self.job
        if job is None:
            return None
        return job.seed if job.seed is not None else (job.params or {}).get("seed")

    @property
    def vendor_seconds(self) -> float | None:
        """How long the vendor worked on it: from its accepting the job to the result."""
        job = self.job
        start = job and (job.submitted_at or job.started_at)
        if not start or not job.finished_at:
            return None
        return max(0.0, (job.finished_at - start).total_seconds())

    @property
    def cost(self):
        """What the cell cost: the final cost, nothing for a refunded job, else the hold."""
        job = self.job
        if job is None or job.is_refunded:
            return 0
        return job.cost_final if job.cost_final is not None else job.cost_estimate


class RunVote(models.Model):
    """One member's vote for one cell."""

    cell = models.ForeignKey(RunCell, on_delete=models.CASCADE, related_name="votes")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["cell", "user"], name="run_vote_unique_user")]

    def __str__(self) -> str:
        return f"{self.user_id} votes {self.cell_id}"


class TeamRunSettings(models.Model):
    """A team's failover policy: off by default; the order in which providers are tried."""

    team = models.OneToOneField("accounts.Team", on_delete=models.CASCADE, related_name="run_settings")
    failover_enabled = models.BooleanField(default=False)
    provider_order = models.JSONField(default=list, blank=True, help_text='e.g. ["fal", "dashscope"]')

    class Meta:
        verbose_name_plural = "team run settings"

    def __str__(self) -> str:
        return f"Run settings of {self.team}"
