"""Inputs the generation form refers to: pending uploads and the team's own stored files.

The form carries each input as an opaque reference in a hidden field, so a refused submit, a
mode switch, Remix or "use as input" never asks for the file again:

- `u:<uuid>` a PendingUpload: a file the form already accepted, owned by one user in one team,
  kept for PENDING_UPLOAD_TTL and deleted when a job takes it (the job stores its own copy).
- `a:<uuid>` an Asset (an input or output of a job) of the same team.

A reference the asking user may not use resolves to None, exactly like one that never existed.
"""

from __future__ import annotations

import logging
import os
import re
import uuid
from dataclasses import dataclass
from datetime import timedelta

from django.db import transaction
from django.db.models.fields.files import FieldFile
from django.urls import reverse
from django.utils import timezone

from generations.assets import _ext, _write, files_delete
from generations.models import Asset, PendingUpload
from providers import media
from providers.base import MediaInfo

logger = logging.getLogger(__name__)

PENDING_UPLOAD_TTL = timedelta(hours=6)
MAX_PENDING_PER_USER = 40  # older ones are dropped first: bounds what one user can park here


@dataclass(frozen=True)
class InputRef:
    """One input the form refers to, with what its chip shows."""

    ref: str
    name: str
    kind: str
    preview_url: str | None
    file: FieldFile
    width: int | None = None
    height: int | None = None
    duration: float | None = None
    pending: PendingUpload | None = None

    def read(self) -> bytes:
        with self.file.open("rb") as handle:
            return handle.read()


def _clean_filename(name: str) -> str:
    base = os.path.basename((name or "").replace("\\", "/"))
    base = re.sub(r"[\x00-\x1f\x7f]", "", base).strip()
    return (base or "upload")[-120:]


def pending_upload_create(*, user, team, filename: str, data: bytes, info: MediaInfo) -> PendingUpload:
    """Keep a probed file for the user's next submit; thumbnails for images and videos."""
    public_id = uuid.uuid4()
    written: list[str] = []
    try:
        name = _write(f"pending/{public_id}.{_ext(info.content_type)}", data)
        written.append(name)
        thumbnail = ""
        try:
            if info.kind == "image":
                thumbnail = _write(f"pending/{public_id}-thumb.webp", media.make_thumbnail(data, 160))
            elif info.kind == "video":
                poster, *_ = media.video_poster(data)
                thumbnail = _write(f"pending/{public_id}-thumb.webp", media.make_thumbnail(poster, 160))
        except (media.MediaError, ValueError) as exc:
            logger.info("no preview for pending upload %s: %s", public_id, exc)
        if thumbnail:
            written.append(thumbnail)
        upload = PendingUpload.objects.create(
            public_id=public_id,
            user=user,
            team=team,
            filename=_clean_filename(filename),
            kind=info.kind,
            file=name,
            thumbnail=thumbnail,
            content_type=info.content_type,
            size_bytes=len(data),
            width=info.width,
            height=info.height,
            duration=info.duration,
            expires_at=timezone.now() + PENDING_UPLOAD_TTL,
        )
    except BaseException:
        files_delete(written)
        raise
    stale = PendingUpload.objects.filter(user=user).order_by("-created_at", "-id")[MAX_PENDING_PER_USER:]
    pending_uploads_delete(list(stale))
    return upload


def _names(uploads) -> list[str]:
    return [n for u in uploads for n in (u.file.name, u.thumbnail.name) if n]


def pending_uploads_delete(uploads: list[PendingUpload]) -> None:
    """Delete the rows now and their files once the transaction commits."""
    if not uploads:
        return
    names = _names(uploads)
    PendingUpload.objects.filter(pk__in=[u.pk for u in uploads]).delete()
    transaction.on_commit(lambda: files_delete(names))


def pending_upload_cleanup(*, now=None) -> int:
    """The beat's sweep: delete expired pending uploads and their files; returns how many."""
    now = now or timezone.now()
    expired = list(PendingUpload.objects.filter(expires_at__lte=now)[:1000])
    pending_uploads_delete(expired)
    return len(expired)


def pending_upload_get_for_user(*, user, public_id) -> PendingUpload | None:
    """The user's own, unexpired pending upload (in any of their teams), else None."""
    try:
        return PendingUpload.objects.filter(
            public_id=public_id, user=user, expires_at__gt=timezone.now()
        ).first()
    except (ValueError, TypeError):
        return None


def _pending_ref(upload: PendingUpload) -> InputRef:
    preview = reverse("generations:upload-thumb", args=[upload.public_id]) if upload.thumbnail else None
    return InputRef(
        ref=f"u:{upload.public_id}",
        name=upload.filename,
        kind=upload.kind,
        preview_url=preview,
        file=upload.file,
        width=upload.width,
        height=upload.height,
        duration=upload.duration,
        pending=upload,
    )


def input_ref_for_upload(upload: PendingUpload) -> InputRef:
    return _pending_ref(upload)


def input_ref_for_asset(asset: Asset) -> InputRef:
    ext = asset.file.name.rsplit(".", 1)[-1] if "." in asset.file.name else asset.kind
    return InputRef(
        ref=f"a:{asset.public_id}",
        name=f"{asset.role}-{asset.index + 1}.{ext}",
        kind=asset.kind,
        preview_url=asset.preview_url if asset.kind in ("image", "video") else None,
        file=asset.file,
        width=asset.width,
        height=asset.height,
        duration=asset.duration,
    )


def input_ref_resolve(*, user, team, ref: str) -> InputRef | None:
    """What a form reference points at, if this user may use it in this team; None otherwise."""
    kind, _, raw = (ref or "").partition(":")
    try:
        public_id = uuid.UUID(raw)
    except ValueError:
        return None
    if kind == "u":
        upload = PendingUpload.objects.filter(
            public_id=public_id, user=user, team=team, expires_at__gt=timezone.now()
        ).first()
        return _pending_ref(upload) if upload else None
    if kind == "a":
        asset = (
            Asset.objects.filter(public_id=public_id, job__team=team, job__team__memberships__user=user)
            .select_related("job")
            .first()
        )
        return input_ref_for_asset(asset) if asset else None
    return None
