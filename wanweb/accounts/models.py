"""Teams, who belongs to them in which role, one-time invite links, and teams' own vendor keys."""

from __future__ import annotations

import hashlib
import uuid
import zoneinfo

from django.conf import settings
from django.db import models
from django.utils import timezone


class Role(models.TextChoices):
    OWNER = "owner", "Owner"
    ADMIN = "admin", "Admin"
    MEMBER = "member", "Member"
    VIEWER = "viewer", "Viewer"


# Higher ranks may do everything lower ones may.
ROLE_RANK = {Role.VIEWER: 0, Role.MEMBER: 1, Role.ADMIN: 2, Role.OWNER: 3}


def zone_or_utc(name: str | None) -> zoneinfo.ZoneInfo:
    """The named time zone, UTC when the name is empty or unknown (a stored name may go stale)."""
    try:
        return zoneinfo.ZoneInfo(name or "UTC")
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo("UTC")


class Team(models.Model):
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=80)
    slug = models.SlugField(max_length=80, unique=True)
    time_zone = models.CharField(
        max_length=64, default="UTC", help_text="Quota periods reset in this time zone."
    )
    created_at = models.DateTimeField(default=timezone.now)
    operator_keys_allowed = models.BooleanField(
        "may use the operator's vendor keys",
        default=True,
        help_text="When off, this team can use only vendors it has its own key for (and the simulator).",
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def zoneinfo(self) -> zoneinfo.ZoneInfo:
        """The team's time zone (quota periods reset at its midnight)."""
        return zone_or_utc(self.time_zone)


class Membership(models.Model):
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.MEMBER)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["team", "user"], name="membership_unique_team_user")]
        ordering = ["team__name", "user__username"]

    def __str__(self) -> str:
        return f"{self.user} in {self.team} ({self.role})"

    def has_role(self, minimum: str) -> bool:
        return ROLE_RANK[Role(self.role)] >= ROLE_RANK[Role(minimum)]

    @property
    def can_edit(self) -> bool:
        """Create and change projects and jobs (members and up; viewers only browse)."""
        return self.has_role(Role.MEMBER)

    @property
    def can_manage_members(self) -> bool:
        return self.has_role(Role.ADMIN)

    @property
    def is_owner(self) -> bool:
        return self.role == Role.OWNER


def hash_token(token: str) -> str:
    """Invite and share tokens are stored only as this hash: a database dump cannot be replayed."""
    return hashlib.sha256(token.encode()).hexdigest()


class Invite(models.Model):
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="invites")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.MEMBER)
    token_hash = models.CharField(max_length=64, unique=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    used_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Invite to {self.team} as {self.role}"

    @property
    def is_usable(self) -> bool:
        return self.used_at is None and self.revoked_at is None and self.expires_at > timezone.now()

    @property
    def state(self) -> str:
        if self.used_at:
            return "used"
        if self.revoked_at:
            return "revoked"
        if self.expires_at <= timezone.now():
            return "expired"
        return "open"


class VerifyStatus(models.TextChoices):
    UNVERIFIED = "unverified", "Not verified yet"
    OK = "ok", "Verified"
    FAILED = "failed", "Refused"
    FIRST_USE = "first_use", "Verified on first use"


class VendorCredential(models.Model):
    """A team's own API key for one vendor, encrypted (wanweb/accounts/crypto.py); never shown again.

    One active row per (team, vendor); replacing or removing one sets `revoked_at` and keeps the row,
    so jobs submitted with it keep polling with it and the audit trail stays.
    """

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="vendor_credentials")
    vendor = models.CharField(max_length=20)
    key_encrypted = models.TextField()
    key_hint = models.CharField(max_length=8, help_text="The key's last 4 characters.")
    # Lumenfall's whsec_ webhook secret (Standard Webhooks), encrypted the same way; may be empty.
    webhook_secret_encrypted = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    last_verified_at = models.DateTimeField(null=True, blank=True)
    verify_status = models.CharField(
        max_length=12, choices=VerifyStatus.choices, default=VerifyStatus.UNVERIFIED
    )
    verify_message = models.CharField(max_length=300, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["team__name", "vendor", "-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["team", "vendor"],
                condition=models.Q(revoked_at__isnull=True),
                name="vendorcredential_one_active_per_team_vendor",
            )
        ]

    def __str__(self) -> str:
        return f"{self.vendor} key …{self.key_hint} of team {self.team_id}"

    def __repr__(self) -> str:
        return f"<VendorCredential {self.public_id} {self.vendor} …{self.key_hint}>"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None
