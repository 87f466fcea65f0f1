"""API plumbing shared by every endpoint: French error bodies, 413 for huge bodies."""

import io

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from rest_framework import status
from rest_framework.exceptions import ParseError, UnsupportedMediaType
from rest_framework.parsers import JSONParser
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler


def exception_handler(exc, context):
    if isinstance(exc, RequestDataTooBig):
        return Response(
            {"detail": "Corps de requête trop volumineux."}, status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
        )
    if isinstance(exc, ParseError):
        return Response({"non_field_errors": ["Corps JSON invalide."]}, status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, UnsupportedMediaType):
        return Response(
            {"non_field_errors": ["Type de contenu non supporté : envoyez du JSON (application/json)."]},
            status=status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
        )
    return drf_exception_handler(exc, context)


class SizeLimitedJSONParser(JSONParser):
    """JSON parser that enforces DATA_UPLOAD_MAX_MEMORY_SIZE.

    DRF parsers read the request stream directly, so Django's own limit (checked only by
    `request.body` and form parsing) never applies to JSON bodies. A declared or actual
    size above the limit raises RequestDataTooBig, turned into a 413 above.
    """

    def parse(self, stream, media_type=None, parser_context=None):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        if limit is not None:
            request = (parser_context or {}).get("request")
            meta = getattr(request, "META", {})
            try:
                declared = int(meta.get("CONTENT_LENGTH") or 0)
            except ValueError:
                declared = 0
            if declared > limit:
                raise RequestDataTooBig("Corps de requête trop volumineux.")
            # Chunked bodies have no length: read one byte past the limit to detect them.
            data = stream.read(limit + 1)
            if len(data) > limit:
                raise RequestDataTooBig("Corps de requête trop volumineux.")
            stream = io.BytesIO(data)
        return super().parse(stream, media_type, parser_context)
