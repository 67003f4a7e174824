"""Serving stored files after the caller has checked access.

Local storage: the bytes stream through Django. Object storage (S3 via django-storages, set up
with S3_BUCKET): a redirect to a signed URL that expires in a few minutes, so the bucket stays
private and every fetch still went through an access check first.
"""

from __future__ import annotations

import posixpath
import re

from django.core import signing
from django.http import FileResponse, Http404, HttpResponse, HttpResponseRedirect
from django.urls import reverse

from providers.media import ALLOWED_CONTENT_TYPES

# A file response is never a document: no scripts, no plugins, no same-origin powers, even if a
# browser were talked into rendering it (shared/RELIABILITY.md §9).
FILE_CSP = "default-src 'none'; img-src 'self'; media-src 'self'; style-src 'unsafe-inline'; sandbox"


def safe_filename(name: str, *, fallback: str = "file") -> str:
    """A filename safe inside a quoted Content-Disposition: ASCII letters, digits, `._-` only."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", posixpath.basename(name or "")).strip("._")[:100]
    return cleaned or fallback


def _is_local(storage) -> bool:
    try:
        storage.path("probe")
    except NotImplementedError:
        return False
    return True


def stored_file_response(
    field,
    *,
    content_type: str,
    download_name: str | None = None,
    cache_control: str = "private, max-age=3600",
) -> HttpResponse:
    """The response for one FieldFile; Http404 when its file is missing.

    Served inline only when `content_type` (sniffed when the file was stored) is on the allow-list;
    anything else (a row from before the allow-list) goes out as an octet-stream attachment.
    """
    if content_type not in ALLOWED_CONTENT_TYPES:
        content_type = "application/octet-stream"
        download_name = download_name or posixpath.basename(field.name)
    disposition = "attachment" if download_name else "inline"
    filename = safe_filename(download_name or field.name)
    content_disposition = f'{disposition}; filename="{filename}"'
    if not _is_local(field.storage):
        parameters = {"ResponseContentType": content_type, "ResponseContentDisposition": content_disposition}
        try:
            url = field.storage.url(field.name, parameters=parameters)
        except TypeError:  # a storage whose url() takes no parameters
            url = field.storage.url(field.name)
        response = HttpResponseRedirect(url)
        response["Cache-Control"] = "private, no-store"  # the signed URL must not outlive its check
        response["Referrer-Policy"] = "no-referrer"
        return response
    try:
        handle = field.open("rb")
    except FileNotFoundError:
        raise Http404("The file is gone") from None
    response = FileResponse(handle, content_type=content_type)
    response["Content-Disposition"] = content_disposition
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = FILE_CSP
    response["Cache-Control"] = cache_control
    return response


# ---------------------------------------------------------------------------------------------
# Input files for vendors: some fields take only a URL (DashScope references, Lumenfall's source
# video, APIMart's custom audio). The vendor fetches the file from a signed, expiring URL; the
# signature is the access check, so no login is needed and nothing else is reachable.
# ---------------------------------------------------------------------------------------------

INPUT_URL_SALT = "wanweb.generations.input-url"
INPUT_URL_MAX_AGE = 24 * 3600  # vendors queue jobs for a while before they fetch inputs


def input_url_token(asset) -> str:
    return signing.TimestampSigner(salt=INPUT_URL_SALT).sign(str(asset.public_id))


def input_url(asset, *, base_url: str) -> str:
    """The absolute signed URL of an input file, valid for INPUT_URL_MAX_AGE."""
    return base_url.rstrip("/") + reverse("generations:input-file", args=[input_url_token(asset)])


def input_asset_public_id(token: str) -> str:
    """The asset id a token was signed for; Http404 when it was tampered with or has expired."""
    try:
        return signing.TimestampSigner(salt=INPUT_URL_SALT).unsign(token, max_age=INPUT_URL_MAX_AGE)
    except signing.BadSignature:  # SignatureExpired is a BadSignature
        raise Http404("This link is not valid") from None
