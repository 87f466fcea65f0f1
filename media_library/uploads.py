"""Upload handler that stops reading a file as soon as it passes the size limit."""

from django.conf import settings
from django.core.files.uploadhandler import FileUploadHandler, SkipFile


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
