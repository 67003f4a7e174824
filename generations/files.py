"""Serving stored files after the caller has checked access.

Local storage: the bytes stream through Django. Object storage (S3 via django-storages, set up
with S3_BUCKET): a redirect to a signed URL that expires in a few minutes, so the bucket stays
private and every fetch still went through an access check first.
"""

from __future__ import annotations

from django.core import signing
from django.http import FileResponse, Http404, HttpResponse, HttpResponseRedirect
from django.urls import reverse


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
    """The response for one FieldFile; Http404 when its file is missing."""
    if not _is_local(field.storage):
        parameters = {"ResponseContentType": content_type}
        if download_name:
            parameters["ResponseContentDisposition"] = f'attachment; filename="{download_name}"'
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
    if download_name:
        response["Content-Disposition"] = f'attachment; filename="{download_name}"'
    response["X-Content-Type-Options"] = "nosniff"
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
