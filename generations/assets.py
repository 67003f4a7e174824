"""Writing job files into our storage: inputs (re-encoded, random names) and outputs (deterministic names).

Outputs are named by job and index, so a re-delivered store task overwrites the same file and
updates the same Asset row instead of adding a second set (shared/RELIABILITY.md section 1).
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from dataclasses import dataclass

from django.core.files.base import ContentFile, File
from django.core.files.storage import default_storage

from generations.models import Asset, AssetRole, Job
from providers import media
from providers.base import ErrorCode, MediaInfo, ProviderError

logger = logging.getLogger(__name__)

EXTENSIONS = {
    "image/png": "png",
    "image/jpeg": "jpg",
    "image/webp": "webp",
    "image/bmp": "bmp",
    "image/gif": "gif",
    "video/mp4": "mp4",
    "video/quicktime": "mov",
    "video/webm": "webm",
    "audio/mpeg": "mp3",
    "audio/wav": "wav",
    "audio/x-wav": "wav",
    "audio/mp4": "m4a",
    "audio/ogg": "ogg",
}


@dataclass
class UploadedInput:
    """An input file the form (or the CLI) has already probed: bytes, where it goes, what it is."""

    slot: str
    data: bytes
    filename: str
    info: MediaInfo


def _ext(content_type: str) -> str:
    return EXTENSIONS.get(content_type.split(";")[0].strip(), "bin")


def _write(name: str, data: bytes) -> str:
    """Write bytes at exactly `name`, replacing what is there.

    The storage is configured with allow_overwrite (settings.STORAGES), so two store tasks racing
    on the same output write the same name instead of leaving a renamed orphan behind.
    """
    return default_storage.save(name, ContentFile(data))


def job_dir(job: Job) -> str:
    return f"jobs/{job.public_id}"


def invalid_result(index: int, data: bytes) -> ProviderError:
    found = media.sniff_content_type(data) or "not a media file"
    return ProviderError(
        f"Output {index + 1} is {found}: only images, videos and audio of the accepted types are stored.",
        code=ErrorCode.RESULT_INVALID,
        transient=False,
    )


@dataclass
class StoredInput:
    """An input file already re-encoded and written to storage, waiting for its Asset row."""

    upload: UploadedInput
    name: str
    content_type: str
    size_bytes: int
    sha256: str


def input_store_file(*, job_public_id, upload: UploadedInput, index: int) -> StoredInput:
    """Re-encode an input (images: metadata stripped) and write it under a random name.

    The slow part of storing an input (Pillow), so callers run it before their transaction:
    on SQLite the write lock is then held only for the row inserts.
    """
    data, content_type = upload.data, upload.info.content_type
    if upload.info.kind == "image":
        data, content_type = media.reencode_image(data)
    if media.allowed_content_type(data) is None:
        raise media.MediaError(f"Input {index + 1} is not a file type we store")
    name = _write(f"jobs/{job_public_id}/input-{secrets.token_hex(8)}.{_ext(content_type)}", data)
    return StoredInput(upload, name, content_type, len(data), hashlib.sha256(data).hexdigest())


def asset_create_input(*, job: Job, stored: StoredInput, index: int) -> Asset:
    """The Asset row of an input written by input_store_file."""
    info = stored.upload.info
    return Asset.objects.create(
        job=job,
        role=AssetRole.INPUT,
        slot=stored.upload.slot,
        index=index,
        kind=info.kind,
        file=stored.name,
        content_type=stored.content_type,
        size_bytes=stored.size_bytes,
        sha256=stored.sha256,
        width=info.width,
        height=info.height,
        duration=info.duration,
    )


def asset_save_input(*, job: Job, upload: UploadedInput, index: int) -> Asset:
    """Store one input: input_store_file, then its row."""
    stored = input_store_file(job_public_id=job.public_id, upload=upload, index=index)
    return asset_create_input(job=job, stored=stored, index=index)


def asset_save_output(*, job: Job, index: int, data: bytes, content_type: str = "") -> Asset:
    """Store one output under its deterministic name, with a WebP thumbnail or a poster frame.

    The type comes from the bytes, never from the vendor (`content_type`, the vendor's claim, is
    ignored): anything outside the allow-list raises
    ProviderError(result_invalid) and nothing is written.
    """
    sniffed = media.allowed_content_type(data)
    if sniffed is None:
        raise invalid_result(index, data)
    kind = media.kind_of(sniffed) or ("video" if job.makes_video else "image")
    base = f"{job_dir(job)}/output-{index}"
    name = _write(f"{base}.{_ext(sniffed)}", data)
    _output_row(
        job=job,
        index=index,
        kind=kind,
        file=name,
        content_type=sniffed,
        size_bytes=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        **_preview(job, index, base, kind, image_bytes=lambda: data, video=data),
    )
    # Read back for the caller (tests, the share fixtures): a row written before keeps its public_id.
    return Asset.objects.get(job=job, role=AssetRole.OUTPUT, index=index)


def _preview(job: Job, index: int, base: str, kind: str, *, image_bytes, video) -> dict:
    """Size, duration and a WebP thumbnail (a poster frame for videos) of a stored output.

    `image_bytes` reads the image (None: too large to preview); `video` is its bytes or a file.
    """
    preview = {"width": None, "height": None, "duration": None, "thumbnail": ""}
    try:
        if kind == "image" and image_bytes is not None:
            data = image_bytes()
            info = media.probe(data)
            preview.update(width=info.width, height=info.height)
            preview["thumbnail"] = _write(f"{base}-thumb.webp", media.make_thumbnail(data))
        elif kind == "video":
            poster, duration, width, height = media.video_poster(video)
            preview.update(width=width, height=height, duration=duration)
            preview["thumbnail"] = _write(f"{base}-thumb.webp", media.make_thumbnail(poster))
    except (media.MediaError, ValueError) as exc:
        # A file we cannot preview is still the user's result: keep it, show a generic tile.
        logger.warning("no preview for %s output %s: %s", job.public_id, index, exc)
    return preview


def _output_row(*, job: Job, index: int, **fields) -> None:
    """Write the output's row, keyed by (job, index): a re-delivered store task updates it, never adds one.

    One INSERT ... ON CONFLICT DO UPDATE (asset_unique_job_role_index) instead of update_or_create's
    locking SELECT, savepoint and INSERT: atomic on its own, and a racing twin cannot add a second
    row. On a conflict the row keeps its public_id and created_at (only `fields` are updated).
    """
    Asset.objects.bulk_create(
        [Asset(job=job, role=AssetRole.OUTPUT, index=index, **fields)],
        update_conflicts=True,
        unique_fields=["job", "role", "index"],
        update_fields=list(fields),
    )


# Images at most this large are read into memory for their thumbnail; a larger one is stored
# without a preview (vendors' images are a few MB; videos are previewed from the file).
THUMBNAIL_MAX_IMAGE_BYTES = 64 * 1024 * 1024


def asset_save_output_file(*, job: Job, index: int, downloaded) -> None:
    """`asset_save_output` for a download on disk (providers.download.DownloadedFile).

    The file is copied into storage in chunks and previewed from the file, so a 500 MB video
    never sits in memory. The caller deletes the temporary file (closing `downloaded`). Returns
    nothing: the store task needs no Asset back, so the row is written without reading it again.
    """
    with downloaded.open() as handle:
        sniffed = media.allowed_content_type(handle.read(64))
        if sniffed is None:
            handle.seek(0)
            raise invalid_result(index, handle.read(64))
        kind = media.kind_of(sniffed) or ("video" if job.makes_video else "image")
        base = f"{job_dir(job)}/output-{index}"
        handle.seek(0)
        name = default_storage.save(f"{base}.{_ext(sniffed)}", File(handle))

        def image_bytes() -> bytes:
            handle.seek(0)
            return handle.read()

        fits = downloaded.size <= THUMBNAIL_MAX_IMAGE_BYTES
        preview = _preview(job, index, base, kind, image_bytes=image_bytes if fits else None, video=handle)
    _output_row(
        job=job,
        index=index,
        kind=kind,
        file=name,
        content_type=sniffed,
        size_bytes=downloaded.size,
        sha256=downloaded.sha256,
        **preview,
    )


def files_delete(names: list[str]) -> None:
    for name in names:
        if name:
            try:
                default_storage.delete(name)
            except OSError:
                logger.warning("could not delete %s", name)
