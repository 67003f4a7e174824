"""Serving stored files after the caller has checked access.

Local storage: the bytes stream through Django. Object storage (S3 via django-storages, set up
with S3_BUCKET): a redirect to a signed URL that expires in a few minutes, so the bucket stays
private and every fetch still went through an access check first.
"""

from __future__ import annotations

from django.http import FileResponse, Http404, HttpResponse, HttpResponseRedirect


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
