"""Provider intake API (§15): `POST /api/v1/leads/`, `GET /api/v1/leads/<id>/`."""

import ipaddress

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.throttling import BaseThrottle
from rest_framework.views import APIView

from leads.models import Lead, LeadStatus
from leads.normalization import normalize_departement, normalize_email, normalize_name, normalize_phone
from leads.selectors import lead_replay_find, product_for_intake
from leads.services import LeadError, LeadInput, LeadReplayConflict, lead_create, product_extra_validate
from providers.auth import IsActiveProvider, ProviderKeyAuthentication, ProviderRateThrottle
from rdz.core.api import BodyValidator, openapi_detail, openapi_field_errors
from rdz.core.entities import Entity
from rdz.core.text import forbidden_message, text_forbidden_char


def _normalizer(func):
    def validate(self, value):
        try:
            return func(value)
        except ValueError as exc:
            raise serializers.ValidationError(str(exc)) from exc

    return validate


@extend_schema_field(OpenApiTypes.STR)
class AnyValueField(serializers.Field):
    """Keeps the raw JSON value so normalization sees its real type (int, str, …)."""

    def to_internal_value(self, data):
        return data

    def to_representation(self, value):
        return value


# DRF has no French translation for these messages (a list or an object where text or a
# boolean is expected): every input field of the public and staff bodies sets them.
TEXT_ERRORS = {"invalid": "Texte attendu."}
BOOLEAN_ERRORS = {"invalid": "Booléen attendu (true ou false)."}


class ConsentField(serializers.BooleanField):
    """DRF's boolean values, plus the French words partners send (« oui », « non », « vrai »,
    « faux ») in any case and with surrounding spaces. Every other value goes to DRF as it
    came, so nothing accepted or refused before changes meaning."""

    FRENCH_WORDS = {"oui": True, "vrai": True, "non": False, "faux": False}
    default_error_messages = {
        "invalid": "Booléen attendu : true ou false, oui ou non, vrai ou faux, yes ou no, 1 ou 0."
    }

    def to_internal_value(self, data):
        if isinstance(data, str):
            value = self.FRENCH_WORDS.get(data.strip().lower())
            if value is not None:
                return value
        return super().to_internal_value(data)


class LeadBodySerializer(serializers.Serializer):
    # The docstring is the body's description on /api/docs/, hence in French. Normalization
    # rules live in leads.normalization.
    """Les données du lead, normalisées à la réception (§4) : téléphone enregistré au format
    E.164 (+33612345678), département en majuscules (2a → 2A, 1 → 01), e-mail en
    minuscules, noms nettoyés. Un corps invalide est refusé en entier (400)."""

    phone = AnyValueField(help_text="Numéro français, tout format (06…, +33…, 0033…).")
    departement = AnyValueField(help_text="01–95 (sans 20), 2A, 2B, 971–976.")
    first_name = AnyValueField(required=False, allow_null=True)
    last_name = AnyValueField(required=False, allow_null=True)
    email = AnyValueField(required=False, allow_null=True)
    source = serializers.CharField(
        required=False, allow_blank=True, allow_null=True, max_length=100, error_messages=TEXT_ERRORS
    )
    external_id = serializers.CharField(
        required=False, allow_blank=True, allow_null=True, max_length=100, error_messages=TEXT_ERRORS
    )
    consent = ConsentField(
        required=False,
        default=False,
        allow_null=True,
        help_text="true ou false ; aussi « oui » ou « non », « vrai » ou « faux » (sans tenir compte de la casse).",
    )
    extra = serializers.DictField(required=False, default=dict, allow_null=True)

    validate_phone = _normalizer(normalize_phone)
    validate_departement = _normalizer(normalize_departement)
    validate_first_name = _normalizer(normalize_name)
    validate_last_name = _normalizer(normalize_name)
    validate_email = _normalizer(normalize_email)


class ProviderLeadSerializer(LeadBodySerializer):
    product = serializers.CharField(
        max_length=20, help_text="Code produit, ex. PV, PAC, ITE.", error_messages=TEXT_ERRORS
    )
    # Consent proof (§16): the page where consent was given and the version of its text.
    consent_page_url = serializers.URLField(
        required=False, allow_blank=True, allow_null=True, max_length=500, default=""
    )
    consent_text_version = serializers.CharField(
        required=False, allow_blank=True, allow_null=True, max_length=50, default="", error_messages=TEXT_ERRORS
    )

    def validate_product(self, value):
        product = product_for_intake(code=value.strip())
        if product is None:
            raise serializers.ValidationError(f"Produit inconnu ou inactif : « {value[:20]} ».")
        return product


provider_lead_validate = BodyValidator(ProviderLeadSerializer)


# Documents `lead_result` on /api/docs/ (responses are built without it).
class LeadResultSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    status = serializers.ChoiceField(choices=LeadStatus.choices, help_text="Statut courant du lead (§4).")
    entity = serializers.ChoiceField(choices=Entity.choices)


# The error answers of §15, as documented on /api/docs/.
FIELD_ERRORS = openapi_field_errors(
    'Corps invalide, rien n\'est enregistré : {"champ": ["message en français", …]} '
    '(JSON mal formé ou qui n\'est pas un objet : "non_field_errors").'
)
RESPONSE_401 = openapi_detail("Clé API absente, inconnue ou révoquée (en-tête X-API-Key).")
RESPONSE_403_PROVIDER = openapi_detail("Provider inactif.")
RESPONSE_413 = openapi_detail("Corps de requête trop volumineux.")
RESPONSE_415 = openapi_field_errors(
    'Corps qui n\'est pas du JSON, ou compressé (Content-Encoding) : {"non_field_errors": […]}.'
)
RESPONSE_429 = openapi_detail("Trop de requêtes : réessayez après le délai de l'en-tête Retry-After.")


def lead_result(lead: Lead) -> dict:
    return {"id": str(lead.id), "status": lead.status, "entity": lead.entity}


def client_ip(request) -> str | None:
    """The client's address, stored with the lead as consent proof (§16).

    The peer's address, or — behind NUM_PROXIES trusted proxies — the X-Forwarded-For entry
    those proxies appended (DRF's rule, the one the throttles use). Anything that is not an IP
    address falls back to the peer's, and no address (a UNIX socket, a server that leaves
    REMOTE_ADDR out) gives None.
    """
    for candidate in (BaseThrottle().get_ident(request), request.META.get("REMOTE_ADDR")):
        try:
            return str(ipaddress.ip_address((candidate or "").strip()))
        except ValueError:
            continue
    return None


class ProviderLeadCreateView(APIView):
    authentication_classes = [ProviderKeyAuthentication]
    permission_classes = [IsActiveProvider]
    throttle_classes = [ProviderRateThrottle]

    @extend_schema(
        request=ProviderLeadSerializer,
        responses={
            201: OpenApiResponse(LeadResultSerializer, description="Lead créé (et routé dans la requête)."),
            200: OpenApiResponse(
                LeadResultSerializer,
                description="Rejeu du même Idempotency-Key ou du même external_id : le même lead, aucun second.",
            ),
            400: FIELD_ERRORS,
            401: RESPONSE_401,
            403: RESPONSE_403_PROVIDER,
            413: RESPONSE_413,
            415: RESPONSE_415,
            422: openapi_field_errors(
                "Idempotency-Key ou external_id déjà utilisé par ce provider pour un autre lead (autre "
                'téléphone, produit ou département) : rien n\'est enregistré, {"Idempotency-Key": […]} '
                'ou {"external_id": […]}.'
            ),
            429: RESPONSE_429,
        },
        parameters=[
            OpenApiParameter("X-API-Key", str, OpenApiParameter.HEADER, required=True),
            OpenApiParameter("Idempotency-Key", str, OpenApiParameter.HEADER, required=False),
        ],
        summary="Déposer un lead (provider)",
    )
    def post(self, request):
        provider = request.auth
        idempotency_key = request.headers.get("Idempotency-Key", "").strip()
        if len(idempotency_key) > 100:
            return Response({"Idempotency-Key": ["100 caractères au maximum."]}, status=status.HTTP_400_BAD_REQUEST)
        if char := text_forbidden_char(idempotency_key):
            return Response({"Idempotency-Key": [forbidden_message(char)]}, status=status.HTTP_400_BAD_REQUEST)
        v, errors = provider_lead_validate(request.data)
        if errors:
            return _replay_or_refusal(request, provider, idempotency_key, errors)
        try:
            extra = product_extra_validate(
                product=v["product"], extra=v.get("extra"), fields=v["product"].declared_fields
            )
            data = LeadInput(
                phone=v["phone"],
                product=v["product"],
                departement=v["departement"],
                first_name=v.get("first_name") or "",
                last_name=v.get("last_name") or "",
                email=v.get("email") or "",
                source=(v.get("source") or "").strip(),
                external_id=(v.get("external_id") or "").strip(),
                consent=bool(v.get("consent")),
                extra=extra,
                ip=client_ip(request),
                user_agent=request.headers.get("User-Agent", ""),
                consent_page_url=v.get("consent_page_url") or "",
                consent_text_version=(v.get("consent_text_version") or "").strip(),
            )
            lead, created = lead_create(data=data, provider=provider, idempotency_key=idempotency_key)
        except LeadReplayConflict as exc:
            return Response(exc.errors, status=status.HTTP_422_UNPROCESSABLE_ENTITY)
        except LeadError as exc:
            return _replay_or_refusal(request, provider, idempotency_key, exc.errors)
        return Response(lead_result(lead), status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


def _replay_or_refusal(request, provider, idempotency_key: str, errors) -> Response:
    """A body refused now may be the retry of a lead accepted before the rules changed (its
    product deactivated, a field made required since): the provider must read that its lead
    was taken (200, §15 replay), not that it was refused. Only on the refusal path."""
    external_id = request.data.get("external_id") if isinstance(request.data, dict) else None
    external_id = external_id.strip() if isinstance(external_id, str) and len(external_id) <= 100 else ""
    if not text_forbidden_char(external_id):
        lead = lead_replay_find(provider=provider, idempotency_key=idempotency_key, external_id=external_id)
        if lead is not None:
            return Response(lead_result(lead), status=status.HTTP_200_OK)
    return Response(errors, status=status.HTTP_400_BAD_REQUEST)


class ProviderLeadDetailView(APIView):
    authentication_classes = [ProviderKeyAuthentication]
    permission_classes = [IsActiveProvider]
    throttle_classes = [ProviderRateThrottle]

    @extend_schema(
        responses={
            200: OpenApiResponse(LeadResultSerializer, description="Le lead du provider et son statut courant."),
            401: RESPONSE_401,
            403: RESPONSE_403_PROVIDER,
            404: openapi_detail("Lead introuvable, ou lead d'un autre provider."),
            429: RESPONSE_429,
        },
        parameters=[OpenApiParameter("X-API-Key", str, OpenApiParameter.HEADER, required=True)],
        summary="Statut d'un lead du provider",
    )
    def get(self, request, lead_id):
        lead = Lead.objects.filter(pk=lead_id, provider=request.auth).only("id", "status", "entity").first()
        if lead is None:
            return Response({"detail": "Lead introuvable."}, status=status.HTTP_404_NOT_FOUND)
        return Response(lead_result(lead))
