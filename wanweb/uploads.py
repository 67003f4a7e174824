"""Upload limits enforced while the request body is parsed, not after (shared/RELIABILITY.md §5).

`LimitedUploadHandler` runs first in FILE_UPLOAD_HANDLERS. It refuses a body whose
Content-Length is over `UPLOAD_MAX_REQUEST_BYTES` before reading a byte of it, and stops the
parse at the first file past `UPLOAD_MAX_FILES` or the first byte past `UPLOAD_MAX_TOTAL_BYTES`;
the rest of the body is then drained, never stored, so memory stays flat. The reason is left on
the request (`upload_refusal(request)`) for the view to show as a form error.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.core.files.uploadhandler import FileUploadHandler, StopUpload
from django.http import QueryDict
from django.utils.datastructures import MultiValueDict


@dataclass(frozen=True)
class UploadRefusal:
    message: str
    field_name: str | None = None  # the file input that broke the limit, when known


def _mb(size: int) -> str:
    mb = size / (1024 * 1024)
    return f"{mb:.0f} MB" if mb >= 10 else f"{mb:.1f} MB"


def upload_refusal(request) -> UploadRefusal | None:
    """Why the handler refused this request's files, or None. Parses the body if not done yet."""
    request.POST  # noqa: B018 (parsing the body is what runs the handler)
    return getattr(request, "_upload_refusal", None)


class LimitedUploadHandler(FileUploadHandler):
    def handle_raw_input(self, input_data, META, content_length, boundary, encoding=None):
        self.files = 0
        self.received = 0
        limit = settings.UPLOAD_MAX_REQUEST_BYTES
        if content_length and content_length > limit:
            # Refused before reading anything: the body is never received (the server drops it).
            self._refuse(f"The upload is {_mb(content_length)}; a request may carry at most {_mb(limit)}.")
            return QueryDict(encoding=encoding), MultiValueDict()
        return None

    def new_file(self, field_name, *args, **kwargs):
        self.files += 1
        if self.files > settings.UPLOAD_MAX_FILES:
            self._refuse(
                f"Too many files: at most {settings.UPLOAD_MAX_FILES} can be sent at once.",
                field_name=field_name,
            )
            raise StopUpload(connection_reset=False)  # drain the rest, store none of it
        self.field_name = field_name

    def receive_data_chunk(self, raw_data, start):
        self.received += len(raw_data)
        if self.received > settings.UPLOAD_MAX_TOTAL_BYTES:
            self._refuse(
                f"The files add up to more than {_mb(settings.UPLOAD_MAX_TOTAL_BYTES)}, the most one request may carry.",
                field_name=getattr(self, "field_name", None),
            )
            raise StopUpload(connection_reset=False)
        return raw_data  # the next handler (memory, then temporary file) stores it

    def file_complete(self, file_size):
        return None  # not ours to keep: the next handler returns the file

    def _refuse(self, message: str, *, field_name: str | None = None) -> None:
        if self.request is not None and getattr(self.request, "_upload_refusal", None) is None:
            self.request._upload_refusal = UploadRefusal(message, field_name)
