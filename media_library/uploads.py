"""Upload size limits: a request refused on its announced length before its body is read,
and an upload handler that stops reading a file as soon as it passes the size limit."""

from django.conf import settings
from django.core.files.uploadhandler import FileUploadHandler, SkipFile
from django.http import HttpRequest
from django.template.defaultfilters import filesizeformat

# Room for the multipart boundaries and the small text fields next to one file.
MULTIPART_OVERHEAD = 64 * 1024


def upload_length_refusal(request: HttpRequest, *, files: int = 1) -> tuple[str, int] | None:
    """Why a POST carrying at most `files` files is refused on its Content-Length alone (a
    French message and the HTTP status), or None. Asked before anything reads the body, the
    CSRF check included: a body over the cap would otherwise be written to disk whole first."""
    raw_length = request.META.get("CONTENT_LENGTH") or "0"
    if not (raw_length.isascii() and raw_length.isdigit()):
        return "Requête invalide : longueur du contenu incorrecte.", 400
    limit = settings.MEDIA_MAX_UPLOAD_BYTES
    cap = limit + MULTIPART_OVERHEAD if files == 1 else limit * files
    if int(raw_length) > cap:
        return f"Fichier trop volumineux : la limite est de {filesizeformat(limit)} par fichier.", 413
    return None


class SizeLimitUploadHandler(FileUploadHandler):
    """Placed first: a file over MEDIA_MAX_UPLOAD_BYTES is skipped (its temporary file
    closed and removed) and its name remembered so the view can say why."""

    def __init__(self, request=None) -> None:
        super().__init__(request)
        self.too_big: list[str] = []
        self._received = 0

    def new_file(self, *args, **kwargs) -> None:
        super().new_file(*args, **kwargs)
        self._received = 0

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes:
        self._received += len(raw_data)
        if self._received > settings.MEDIA_MAX_UPLOAD_BYTES:
            self.too_big.append(self.file_name or "")
            raise SkipFile()
        return raw_data

    def file_complete(self, file_size: int) -> None:
        return None
