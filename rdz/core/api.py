"""API plumbing shared by every endpoint: French error bodies, 413 for huge bodies, body
validation for the hot endpoints."""

import json
import math
from collections.abc import Mapping

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers, status
from rest_framework.exceptions import ParseError, Throttled, UnsupportedMediaType, ValidationError
from rest_framework.fields import SkipField, get_error_detail
from rest_framework.parsers import JSONParser
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.utils.json import strict_constant as json_strict_constant
from rest_framework.views import exception_handler as drf_exception_handler

from rdz.core.text import forbidden_message, json_forbidden_char, json_may_hold_forbidden_chars, text_forbidden_char


def exception_handler(exc, context):
    if isinstance(exc, RequestDataTooBig):
        return Response(
            {"detail": "Corps de requête trop volumineux."}, status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
        )
    if isinstance(exc, ParseError):
        return Response({"non_field_errors": ["Corps JSON invalide."]}, status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, UnsupportedContentEncoding):
        response = Response(
            {"non_field_errors": [CONTENT_ENCODING_REFUSED]}, status=status.HTTP_415_UNSUPPORTED_MEDIA_TYPE
        )
        response["Accept-Encoding"] = "identity"  # RFC 9110 §12.5.3: the codings the server reads
        return response
    if isinstance(exc, UnsupportedMediaType):
        return Response(
            {"non_field_errors": ["Type de contenu non supporté : envoyez du JSON (application/json)."]},
            status=status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
        )
    response = drf_exception_handler(exc, context)
    if isinstance(exc, Throttled) and response is not None:
        # DRF's French catalogue lacks the "Expected available in N seconds." half.
        response.data = {"detail": throttled_message(exc.wait)}
    return response


def throttled_message(wait: float | None) -> str:
    if wait is None:
        return "Trop de requêtes : réessayez plus tard."
    seconds = max(1, math.ceil(wait))
    return f"Trop de requêtes : réessayez dans {seconds} seconde{'s' if seconds > 1 else ''}."


CONTENT_ENCODING_REFUSED = "Corps compressé non supporté : envoyez le JSON sans Content-Encoding."


class UnsupportedContentEncoding(UnsupportedMediaType):
    """A compressed body (gzip…): it would otherwise be read as broken JSON, a 400 that
    sends the client looking for a mistake its JSON does not have."""


class SizeLimitedJSONParser(JSONParser):
    """JSON parser that enforces DATA_UPLOAD_MAX_MEMORY_SIZE.

    DRF parsers read the request stream directly, so Django's own limit (checked only by
    `request.body` and form parsing) never applies to JSON bodies. A declared or actual
    size above the limit raises RequestDataTooBig, turned into a 413 above.

    A compressed body (Content-Encoding other than identity) is refused with a 415 that says so.
    It also refuses, with a 400, what JSON can carry but no database column can hold: NaN,
    infinities (1e400), nesting deeper than MAX_JSON_DEPTH (which would exhaust Python's
    recursion on the way to the database), and NUL or lone-surrogate characters
    (`rdz.core.text`, named by field). The checks on the raw bytes cost nothing on ordinary
    bodies.
    """

    def parse(self, stream, media_type=None, parser_context=None):
        meta = getattr((parser_context or {}).get("request"), "META", {})
        coding = meta.get("HTTP_CONTENT_ENCODING", "").strip().lower()
        if coding and coding != "identity":
            raise UnsupportedContentEncoding(media_type)
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        if limit is not None:
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
        else:
            data = stream.read()
        encoding = (parser_context or {}).get("encoding") or settings.DEFAULT_CHARSET
        if encoding.lower().replace("-", "").replace("_", "") == "utf8":
            encoding = "utf-8-sig"  # a byte-order mark (some Windows clients send one) is skipped
        try:
            parsed = json.loads(data.decode(encoding), parse_constant=json_strict_constant, parse_float=_finite_float)
        except RecursionError:
            raise ValidationError({api_settings.NON_FIELD_ERRORS_KEY: [TOO_DEEP]}) from None
        except ValueError as exc:  # also invalid UTF-8 and numbers of more than 4 300 digits
            raise ParseError(f"JSON parse error - {exc}") from exc
        if data.count(b"[") + data.count(b"{") > MAX_JSON_DEPTH and _json_depth_exceeds(parsed, MAX_JSON_DEPTH):
            raise ValidationError({api_settings.NON_FIELD_ERRORS_KEY: [TOO_DEEP]})
        if json_may_hold_forbidden_chars(data):
            _forbidden_chars_refuse(parsed)
        return parsed


MAX_JSON_DEPTH = 32
TOO_DEEP = f"JSON trop imbriqué ({MAX_JSON_DEPTH} niveaux au plus)."


def _finite_float(text: str) -> float:
    """A JSON number too large for a float (1e400) would decode to infinity, which no JSON
    column can store: refused like NaN."""
    value = float(text)
    if math.isinf(value):
        raise ValidationError({api_settings.NON_FIELD_ERRORS_KEY: [f"Nombre hors limites : {text[:20]}."]})
    return value


def _json_depth_exceeds(value, limit: int) -> bool:
    if limit < 0:
        return True
    if isinstance(value, dict):
        return any(_json_depth_exceeds(v, limit - 1) for v in value.values())
    if isinstance(value, list):
        return any(_json_depth_exceeds(v, limit - 1) for v in value)
    return False


def _forbidden_chars_refuse(parsed) -> None:
    """400 naming each top-level field whose value (at any depth) holds a character no
    database column can store (`rdz.core.text`), before any view or service sees it."""
    if not isinstance(parsed, Mapping):
        char = json_forbidden_char(parsed)
        if char:
            raise ValidationError({api_settings.NON_FIELD_ERRORS_KEY: [forbidden_message(char)]})
        return
    errors = {}
    for key, value in parsed.items():
        char = text_forbidden_char(key) if isinstance(key, str) else None
        if char:
            errors.setdefault(api_settings.NON_FIELD_ERRORS_KEY, []).append(forbidden_message(char))
            continue
        char = json_forbidden_char(value)
        if char:
            errors[key] = [forbidden_message(char)]
    if errors:
        raise ValidationError(errors)


NOT_AN_OBJECT = "Un objet JSON est attendu."


def field_errors_flat(errors: Mapping) -> dict[str, list[str]]:
    """A serializer's errors as §15's {"field": ["message", …]}.

    DRF nests the errors of a list's items under their index ({"variants": {"0": ["…"]}});
    they become one message per item, numbered from 1 (« Élément 1 : … »).
    """

    def messages(detail, prefix: str = ""):
        if isinstance(detail, Mapping):
            for key, sub in detail.items():
                label = f"Élément {int(key) + 1}" if str(key).isdigit() else str(key)
                yield from messages(sub, f"{prefix}{label} : ")
        elif isinstance(detail, list | tuple):
            for item in detail:
                yield from messages(item, prefix)
        else:
            yield f"{prefix}{detail}"

    return {field: list(messages(detail)) for field, detail in errors.items()}


class BodyValidator:
    """Validates request bodies with a serializer's fields, built once per process.

    A DRF serializer deep-copies its declared fields every time it is instantiated, which on
    the intake endpoints cost more than the validation itself. This runs the very same field
    objects (same rules, same French messages) and the serializer's `validate_<field>`
    methods, in DRF's order, and returns what `validated_data` and `errors` would hold (a body
    that is not a JSON object gets the track endpoint's message instead of DRF's, which
    names a Python type, or says "No data provided" in English for `null`). The
    serializer class stays the documented schema (OpenAPI). Only field-level validation is
    supported: a serializer with a `validate()` method or validators of its own is refused.
    The fields are shared by the threads of a process: DRF fields keep no per-call state.
    """

    def __init__(self, serializer_class: type[serializers.Serializer]):
        prototype = serializer_class()
        if serializer_class.validate is not serializers.Serializer.validate or prototype.validators:
            raise TypeError(f"{serializer_class.__name__}: serializer-level validation is not supported")
        self._fields = []
        for field in prototype._writable_fields:
            if len(field.source_attrs) != 1:
                raise TypeError(f"{serializer_class.__name__}.{field.field_name}: nested sources are not supported")
            field.validators  # noqa: B018 (built now rather than lazily by concurrent requests)
            self._fields.append((field, getattr(prototype, f"validate_{field.field_name}", None)))

    def __call__(self, data) -> tuple[dict, dict]:
        """(validated values, errors); errors maps a field (or non_field_errors) to messages."""
        if not isinstance(data, Mapping):
            return {}, {api_settings.NON_FIELD_ERRORS_KEY: [NOT_AN_OBJECT]}
        values: dict = {}
        errors: dict = {}
        for field, validate in self._fields:
            try:
                value = field.run_validation(field.get_value(data))
                if validate is not None:
                    value = validate(value)
            except ValidationError as exc:
                errors[field.field_name] = exc.detail
            except DjangoValidationError as exc:
                errors[field.field_name] = get_error_detail(exc)
            except SkipField:
                pass
            else:
                values[field.source_attrs[0]] = value
        return values, errors


# --- OpenAPI descriptions of the error answers (drf-spectacular) --------------------------
class ErrorDetailSerializer(serializers.Serializer):
    detail = serializers.CharField(help_text="Message en français.")


# §15: every 400 names the faulty fields, each with its messages in French.
FIELD_ERRORS_SCHEMA = {"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}}}


def openapi_detail(description: str) -> OpenApiResponse:
    """A documented `{"detail": "…"}` answer (401, 403, 404, 413, 429)."""
    return OpenApiResponse(ErrorDetailSerializer, description=description)


def openapi_field_errors(description: str) -> OpenApiResponse:
    """A documented `{"champ": ["message", …]}` answer (400, 415)."""
    return OpenApiResponse(FIELD_ERRORS_SCHEMA, description=description)


STAFF_401 = openapi_detail(
    "Non authentifié : ni session ni identifiants, ou identifiants invalides "
    "(l'en-tête WWW-Authenticate de la réponse indique comment s'authentifier)."
)
