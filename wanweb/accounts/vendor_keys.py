"""Teams' own vendor keys (issue 12): reads, writes, and which key a job runs with.

Kept apart from services.py/selectors.py because everything here touches plaintext keys: they are
decrypted only in the process that makes the call, remembered in memory for redaction
(`wanweb.redaction.register_secret_source`, see apps.py), and never stored, logged or rendered.

Which key a job uses: the team's active credential for the vendor when there is one, else the
operator's environment key when `Team.operator_keys_allowed`, else the vendor is not offered.
A job remembers its credential (`Job.credential`), so replacing a key never disturbs it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass

from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.http import Http404
from django.utils import timezone

from providers import registry
from providers.base import Client, ErrorCode, ProviderError
from wanweb.accounts import crypto
from wanweb.accounts.models import Membership, Team, VendorCredential, VerifyStatus

logger = logging.getLogger(__name__)

# Every vendor that takes a key (the simulator takes none), in the registry's order.
VENDORS: tuple[str, ...] = tuple(name for name, (_, key_var, _, _) in registry.PROVIDERS.items() if key_var)
MAX_KEY_CHARS = 500
WEBHOOK_SECRET_ENV = "LUMENFALL_WEBHOOK_SECRET"  # noqa: S105 (an env var name)

# Plaintexts this process has decrypted or been given: what redaction must hide (cheap to read).
_plaintexts: set[str] = set()


def _remember(secret: str) -> str:
    if secret:
        _plaintexts.add(secret)
    return secret


def plaintext_secrets() -> list[str]:
    """The redaction source (registered in AccountsConfig.ready)."""
    return list(_plaintexts)


class CredentialUnreadable(ProviderError):
    """A stored key no FIELD_ENCRYPTION_KEYS key opens: permanent, and says what to do."""

    def __init__(self, credential: VendorCredential) -> None:
        label = registry.PROVIDER_LABELS.get(credential.vendor, credential.vendor)
        super().__init__(
            f"The team's {label} key (…{credential.key_hint}) cannot be decrypted. "
            "An owner or admin must enter it again on the Vendor keys page.",
            code=ErrorCode.NOT_CONFIGURED,
            transient=False,
        )


# ---------------------------------------------------------------------------------------------
# Reads
# ---------------------------------------------------------------------------------------------


def _env_key_var(vendor: str) -> str | None:
    return registry.PROVIDERS[vendor][1]


def active_credentials(*, team: Team) -> dict[str, VendorCredential]:
    """{vendor: the team's active credential}."""
    return {c.vendor: c for c in VendorCredential.objects.filter(team=team, revoked_at__isnull=True)}


def credential_for_job(*, team: Team, vendor: str) -> VendorCredential | None:
    """The credential a new job of `team` on `vendor` is submitted with (None: environment/simulator)."""
    if vendor not in VENDORS:
        return None
    return VendorCredential.objects.filter(team=team, vendor=vendor, revoked_at__isnull=True).first()


def provider_for_job(*, team: Team, provider: str) -> tuple[bool, VendorCredential | None]:
    """(may `team` run a job on `provider` now, the credential it would be submitted with).

    One query for a vendor and none for the keyless simulator: job_create asks this on every submit.
    """
    if provider not in registry.PROVIDERS:
        return False, None
    if provider not in VENDORS:
        return True, None  # no key needed
    credential = credential_for_job(team=team, vendor=provider)
    if credential is not None:
        return True, credential
    return team.operator_keys_allowed and provider in registry.available_providers(), None


def available_providers(*, team: Team | None, environ: Mapping[str, str] | None = None) -> list[str]:
    """The providers `team` can run jobs on: the simulator, its own keys, and (when allowed) the operator's.

    Without a team: the operator's configuration alone (what the server itself can call).
    """
    environ = os.environ if environ is None else environ
    if team is None:
        return registry.available_providers(environ=environ)
    team_keys = {c.vendor: str(c.public_id) for c in active_credentials(team=team).values()}
    return registry.available_providers(
        environ=environ if team.operator_keys_allowed else {}, team_keys=team_keys
    )


@dataclass
class VendorRow:
    """One row of the Vendor keys page: never holds a key, only its hint."""

    vendor: str
    label: str
    credential: VendorCredential | None
    operator_key: bool  # the operator's key would be used when the team has none
    can_verify: bool
    unreadable: bool = False

    @property
    def available(self) -> bool:
        return (self.credential is not None and not self.unreadable) or self.operator_key

    @property
    def source(self) -> str:
        if self.credential is not None:
            return "team"
        return "operator" if self.operator_key else ""


def vendor_rows(*, team: Team, environ: Mapping[str, str] | None = None) -> list[VendorRow]:
    environ = os.environ if environ is None else environ
    credentials = active_credentials(team=team)
    rows = []
    for vendor in VENDORS:
        credential = credentials.get(vendor)
        key_var = _env_key_var(vendor)
        unreadable = False
        if credential is not None:
            try:
                crypto.decrypt(credential.key_encrypted)
            except crypto.UndecryptableSecret:
                unreadable = True
        rows.append(
            VendorRow(
                vendor=vendor,
                label=registry.PROVIDER_LABELS[vendor],
                credential=credential,
                operator_key=bool(team.operator_keys_allowed and key_var and environ.get(key_var)),
                can_verify=vendor in registry.VERIFIABLE,
                unreadable=unreadable,
            )
        )
    return rows


def credential_get(*, team: Team, public_id) -> VendorCredential:
    """The team's active credential by public id; Http404 for anyone else's or a removed one."""
    try:
        return VendorCredential.objects.get(team=team, public_id=public_id, revoked_at__isnull=True)
    except (VendorCredential.DoesNotExist, ValueError):
        raise Http404("No such key") from None


# ---------------------------------------------------------------------------------------------
# Plaintext, only where a call is made
# ---------------------------------------------------------------------------------------------


def credential_key(credential: VendorCredential) -> str:
    """The decrypted key; CredentialUnreadable when no configured key opens it."""
    try:
        return _remember(crypto.decrypt(credential.key_encrypted))
    except crypto.UndecryptableSecret:
        raise CredentialUnreadable(credential) from None


def credential_webhook_secret(credential: VendorCredential) -> str:
    if not credential.webhook_secret_encrypted:
        return ""
    try:
        return _remember(crypto.decrypt(credential.webhook_secret_encrypted))
    except crypto.UndecryptableSecret:
        raise CredentialUnreadable(credential) from None


def client_for(provider: str, *, credential: VendorCredential | None = None) -> Client:
    """The vendor client a job uses: its team's credential when it has one, else the environment's key.

    A team-key client sees none of the operator's secrets: the operator's key and webhook secret are
    taken out of its environment, and Lumenfall's webhook secret is the team's own (or, when the
    team stored none, fetched with the team's key).
    """
    if credential is None:
        return registry.get_client(provider)
    key = credential_key(credential)
    environ = dict(os.environ)
    key_var = _env_key_var(provider)
    if key_var:
        environ.pop(key_var, None)
    environ[WEBHOOK_SECRET_ENV] = credential_webhook_secret(credential)
    return registry.get_client(provider, api_key=key, environ=environ)


def mark_used(credential: VendorCredential | None, *, ok: bool | None = None) -> None:
    """After a call with this credential: stamp last use; a vendor's answer verifies it (or refuses it)
    for vendors without a Verify call."""
    if credential is None:
        return
    now = timezone.now()
    changes: dict = {"last_used_at": now}
    if ok is True and credential.verify_status != VerifyStatus.OK:
        changes.update(verify_status=VerifyStatus.OK, last_verified_at=now, verify_message="")
    elif ok is False:
        changes.update(verify_status=VerifyStatus.FAILED, verify_message="The vendor refused this key.")
    VendorCredential.objects.filter(pk=credential.pk).update(**changes)


# ---------------------------------------------------------------------------------------------
# Writes (owners and admins)
# ---------------------------------------------------------------------------------------------


def _require_manage(membership: Membership) -> None:
    if not membership.can_manage_members:
        raise PermissionDenied("Only owners and admins manage the team's vendor keys.")


def _hint(key: str) -> str:
    return key[-4:] if len(key) >= 12 else ""


def credential_set(
    *, membership: Membership, vendor: str, api_key: str, webhook_secret: str = ""
) -> VendorCredential:
    """Add the team's key for `vendor`, or replace it: the old row is revoked, never deleted, so jobs
    submitted with it finish with it."""
    _require_manage(membership)
    if vendor not in VENDORS:
        raise ValueError(f"unknown vendor {vendor!r}")
    api_key = api_key.strip()
    webhook_secret = webhook_secret.strip()
    _remember(api_key)
    _remember(webhook_secret)
    now = timezone.now()
    for _ in range(3):  # a concurrent replace of the same vendor: the unique constraint decides
        try:
            with transaction.atomic():
                VendorCredential.objects.filter(
                    team=membership.team, vendor=vendor, revoked_at__isnull=True
                ).update(revoked_at=now, revoked_by=membership.user)
                credential = VendorCredential.objects.create(
                    team=membership.team,
                    vendor=vendor,
                    key_encrypted=crypto.encrypt(api_key),
                    key_hint=_hint(api_key),
                    webhook_secret_encrypted=crypto.encrypt(webhook_secret) if webhook_secret else "",
                    created_by=membership.user,
                    verify_status=VerifyStatus.UNVERIFIED
                    if vendor in registry.VERIFIABLE
                    else VerifyStatus.FIRST_USE,
                )
        except IntegrityError:
            continue
        logger.info(
            "%s set the %s key of team %s (…%s)",
            membership.user,
            vendor,
            membership.team_id,
            credential.key_hint,
        )
        return credential
    raise IntegrityError("could not store the key: it was changed at the same time")


def credential_remove(*, membership: Membership, credential: VendorCredential) -> None:
    """Stop using the key for new jobs; running jobs keep it (the row stays, revoked)."""
    _require_manage(membership)
    if credential.team_id != membership.team_id:
        raise Http404("No such key")
    VendorCredential.objects.filter(pk=credential.pk, revoked_at__isnull=True).update(
        revoked_at=timezone.now(), revoked_by=membership.user
    )
    logger.info("%s removed the %s key of team %s", membership.user, credential.vendor, membership.team_id)


def credential_verify(*, membership: Membership, credential: VendorCredential) -> VendorCredential:
    """One cheap authenticated call where the vendor documents one; stores the outcome, never raises
    for the vendor's answer. Lumenfall's answer is the webhook secret, which is stored too."""
    _require_manage(membership)
    if credential.vendor not in registry.VERIFIABLE:
        return credential
    now = timezone.now()
    changes: dict = {"last_verified_at": now}
    try:
        client = client_for(credential.vendor, credential=credential)
        answer = client.verify_key()
    except CredentialUnreadable as exc:
        changes.update(verify_status=VerifyStatus.FAILED, verify_message=exc.message[:300])
    except ProviderError as exc:
        from wanweb.redaction import redact_text

        if exc.code == ErrorCode.AUTH:
            message = "The vendor refused this key."
        else:
            message = f"Could not check the key now ({exc.code}): {redact_text(exc.message, limit=200)}"
        changes.update(
            verify_status=VerifyStatus.FAILED if exc.code == ErrorCode.AUTH else VerifyStatus.UNVERIFIED,
            verify_message=message[:300],
        )
    else:
        changes.update(verify_status=VerifyStatus.OK, verify_message="", last_used_at=now)
        if isinstance(answer, str) and answer.startswith("whsec_"):
            changes["webhook_secret_encrypted"] = crypto.encrypt(_remember(answer))
    VendorCredential.objects.filter(pk=credential.pk).update(**changes)
    credential.refresh_from_db()
    return credential


# ---------------------------------------------------------------------------------------------
# Rotation (manage.py rotate_encryption_keys)
# ---------------------------------------------------------------------------------------------


@dataclass
class RotationResult:
    rotated: int = 0
    unchanged: int = 0
    unreadable: list[str] | None = None  # public ids of credentials no key opens


def rotate_all() -> RotationResult:
    """Re-encrypt every stored secret with the newest key; rows already on it are left alone, so a
    second run changes nothing. Credentials no key opens are reported, not changed."""
    result = RotationResult(unreadable=[])
    for credential in VendorCredential.objects.order_by("pk").iterator():
        changes = {}
        try:
            for field in ("key_encrypted", "webhook_secret_encrypted"):
                value = getattr(credential, field)
                if value and not crypto.encrypted_with_newest(value):
                    changes[field] = crypto.rotate(value)
        except crypto.UndecryptableSecret:
            result.unreadable.append(str(credential.public_id))
            continue
        if changes:
            VendorCredential.objects.filter(pk=credential.pk).update(**changes)
            result.rotated += 1
        else:
            result.unchanged += 1
    return result
