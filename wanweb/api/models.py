"""API tokens, idempotency keys, and outgoing webhooks (endpoints and their delivery log)."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone

WEBHOOK_EVENTS = ("job.succeeded", "job.failed", "job.canceled")


class ApiToken(models.Model):
    """A personal token of one user in one team. Only a SHA-256 is stored; the token is shown once.

    It acts with the owner's *current* role in that team: a demoted owner's token is demoted too,
    and a removed member's token stops working.
    """

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    team = models.ForeignKey("accounts.Team", on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=80)
    token_hash = models.CharField(max_length=64, unique=True)
    prefix = models.CharField(max_length=12)  # the first characters, so people can tell tokens apart
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def state(self) -> str:
        if self.revoked_at:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= timezone.now():
            return "expired"
        return "active"


class IdempotencyKey(models.Model):
    """One `Idempotency-Key` of one user in one team: the body it came with and the job it made.

    The unique constraint is what makes 20 concurrent requests one job: every INSERT but the first
    waits for the first transaction and then fails.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    team = models.ForeignKey("accounts.Team", on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=200)
    body_hash = models.CharField(max_length=64)
    job = models.ForeignKey("generations.Job", on_delete=models.SET_NULL, null=True, related_name="+")
    # Or the compare run a `POST /runs` with this key made (one namespace of keys for both).
    run = models.ForeignKey("generations.Run", on_delete=models.SET_NULL, null=True, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "team", "key"], name="api_idempotency_unique_key")
        ]

    def __str__(self) -> str:
        return f"{self.key} -> {self.job_id}"


class ApiJob(models.Model):
    """What the API adds to a job it made: the token, and the job's own webhook URL."""

    job = models.OneToOneField("generations.Job", on_delete=models.CASCADE, related_name="api")
    token = models.ForeignKey(ApiToken, on_delete=models.SET_NULL, null=True, related_name="+")
    webhook_url = models.URLField(max_length=500, blank=True)
    # Signing secret of webhook_url deliveries: derived from this salt and SECRET_KEY, shown once.
    webhook_salt = models.CharField(max_length=64, blank=True)

    def __str__(self) -> str:
        return f"API job {self.job_id}"


class WebhookEndpoint(models.Model):
    """Where to tell about finished jobs: one project's, or (project empty) the whole team's."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    team = models.ForeignKey("accounts.Team", on_delete=models.CASCADE, related_name="webhook_endpoints")
    project = models.ForeignKey(
        "generations.Project",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="webhook_endpoints",
    )
    url = models.URLField(max_length=500)
    events = models.JSONField(default=list)
    # The signing secret is derived from SECRET_KEY and this salt (wanweb/api/webhooks.py): a
    # database dump alone cannot sign. Rotating draws a new salt.
    secret_salt = models.CharField(max_length=64)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    disabled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.url


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Failed"  # gave up after the last attempt, or refused by the URL guard


class WebhookDelivery(models.Model):
    """One event for one receiver. Its `msg_id` is the `webhook-id` of every attempt."""

    msg_id = models.CharField(max_length=64, unique=True)
    team = models.ForeignKey("accounts.Team", on_delete=models.CASCADE, related_name="+")
    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, null=True, blank=True, related_name="deliveries"
    )
    api_job = models.ForeignKey(ApiJob, on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    job = models.ForeignKey("generations.Job", on_delete=models.SET_NULL, null=True, related_name="+")
    project = models.ForeignKey("generations.Project", on_delete=models.SET_NULL, null=True, related_name="+")
    event = models.CharField(max_length=20)
    url = models.CharField(max_length=500)
    payload = models.JSONField(default=dict)
    status = models.CharField(max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    response_snippet = models.CharField(max_length=300, blank=True)
    error = models.CharField(max_length=300, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["project", "-created_at"], name="api_delivery_project")]

    def __str__(self) -> str:
        return f"{self.event} -> {self.url} ({self.status})"
