"""Landing form API (§11, §15).

Public (CORS limited to each form's allowed origins, throttled per IP, no cookies):
`POST /api/v1/forms/<code>/submit/` and `POST /api/v1/track/`.
Staff (session): `GET /api/v1/forms/<code>/stats/` and `GET`/`PATCH /api/v1/forms/<code>/`.
"""

import datetime
import re
import uuid

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny, BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from leads.api import (
    BOOLEAN_ERRORS,
    FIELD_ERRORS,
    RESPONSE_413,
    RESPONSE_415,
    RESPONSE_429,
    TEXT_ERRORS,
    LeadBodySerializer,
    LeadResultSerializer,
    client_ip,
    lead_result,
)
from leads.models import LeadForm
from leads.selectors import form_stats
from leads.services import LeadError, LeadInput, product_extra_validate
from leads.services_forms import (
    HONEYPOT_FIELD,
    form_lead_submit,
    leadform_origin_allowed,
    leadform_public_get,
    leadform_update,
    leadform_variant_names,
    tracking_event_record,
)
from leads.stats import StatsPeriodError, stats_period
from leads.throttles import FormIpThrottle, TrackIpThrottle
from rdz.core.api import (
    NOT_AN_OBJECT,
    STAFF_401,
    BodyValidator,
    ErrorDetailSerializer,
    field_errors_flat,
    openapi_detail,
    openapi_field_errors,
)
from rdz.core.scoping import can_change, scope_queryset, user_entities
from rdz.core.timeutils import DATE_INVALID, date_range_validators, paris_today

SUBMIT_PATH = re.compile(r"^/api/v1/forms/(?P<code>[-a-zA-Z0-9_]+)/submit/\Z")
TRACK_PATH = "/api/v1/track/"


# --- CORS (corsheaders' check_request_enabled signal) ------------------------------------
def _request_form(request, code: str) -> LeadForm | None:
    """The form `code`, active or not, looked up once per request (CORS check, then the view)."""
    cache = getattr(request, "_rdz_forms", None)
    if cache is None:
        cache = request._rdz_forms = {}
    if code not in cache:
        cache[code] = leadform_public_get(code)
    return cache[code]


def cors_allow_form_origin(sender, request, **kwargs) -> bool:
    """Allow the Origin only for the public endpoints of a form that lists it.

    The track endpoint names its form in the query string (`?form=<code>`) because a
    preflight request has no body.
    """
    origin = request.headers.get("Origin")
    if not origin:
        return False
    path = request.path_info
    match = SUBMIT_PATH.match(path)
    if match:
        code = match["code"]
    elif path == TRACK_PATH:
        code = request.GET.get("form", "")
    else:
        return False
    form = _request_form(request, code) if code else None
    return form is not None and leadform_origin_allowed(form=form, origin=origin)


def _origin_refused(request, form: LeadForm) -> bool:
    """A browser always sends Origin on these cross-origin POSTs: refuse one not allowed
    for the form (defence in depth: the CORS preflight already stops real browsers)."""
    origin = request.headers.get("Origin")
    return bool(origin) and not leadform_origin_allowed(form=form, origin=origin)


NOT_FOUND = {"detail": "Formulaire introuvable."}
ORIGIN_REFUSED = {"detail": "Origine non autorisée pour ce formulaire."}
PUBLIC_ERRORS = {
    400: FIELD_ERRORS,
    403: OpenApiResponse(ErrorDetailSerializer, description="Origine non autorisée pour ce formulaire."),
    404: OpenApiResponse(
        ErrorDetailSerializer, description="Formulaire introuvable (ou inactif, pour le suivi des visites)."
    ),
    413: RESPONSE_413,
    415: RESPONSE_415,
    429: RESPONSE_429,
}


# --- Public: submit ----------------------------------------------------------------------
class FormSubmitSerializer(LeadBodySerializer):
    visitor_id = serializers.RegexField(
        r"^[A-Za-z0-9_-]{0,64}$",
        required=False,
        allow_blank=True,
        default="",
        error_messages={"invalid": "Identifiant de visiteur invalide."},
    )
    variant = serializers.CharField(
        required=False, allow_blank=True, max_length=50, default="", error_messages=TEXT_ERRORS
    )
    consent_page_url = serializers.CharField(
        required=False, allow_blank=True, max_length=2000, default="", error_messages=TEXT_ERRORS
    )
    consent_text_version = serializers.CharField(
        required=False, allow_blank=True, max_length=50, default="", error_messages=TEXT_ERRORS
    )
    rdz_hp = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        help_text="Piège à robots : doit rester vide.",
        error_messages=TEXT_ERRORS,
    )


form_submit_validate = BodyValidator(FormSubmitSerializer)


class FormSubmitView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes = [FormIpThrottle]

    @extend_schema(
        request=FormSubmitSerializer,
        responses={
            201: OpenApiResponse(LeadResultSerializer, description="Lead créé."),
            200: OpenApiResponse(LeadResultSerializer, description="Double envoi : le même lead, aucun second."),
            **PUBLIC_ERRORS,
        },
        summary="Déposer un lead depuis un formulaire (public, CORS)",
        description="Même corps que l'API provider sans `product` (celui du formulaire), plus `visitor_id` et "
        "`variant`. Un double envoi (même visiteur et même téléphone en quelques minutes) renvoie le même lead (200).",
    )
    def post(self, request, code: str):
        form = _request_form(request._request, code)
        if form is None:
            return Response(NOT_FOUND, status=status.HTTP_404_NOT_FOUND)
        if _origin_refused(request, form):
            return Response(ORIGIN_REFUSED, status=status.HTTP_403_FORBIDDEN)
        v, errors = form_submit_validate(request.data)
        if errors:
            return Response(errors, status=status.HTTP_400_BAD_REQUEST)
        if v.get(HONEYPOT_FIELD):
            # A robot filled the hidden field: answer like a success, store nothing.
            return Response(
                {"id": str(uuid.uuid4()), "status": "no_order", "entity": form.entity}, status=status.HTTP_201_CREATED
            )
        variant = v["variant"] if v["variant"] in leadform_variant_names(form) else ""
        try:
            extra = product_extra_validate(product=form.product, extra=v.get("extra"), fields=form.product_fields)
            data = LeadInput(
                phone=v["phone"],
                product=form.product,
                departement=v["departement"],
                first_name=v.get("first_name") or "",
                last_name=v.get("last_name") or "",
                email=v.get("email") or "",
                source=(v.get("source") or "").strip(),
                consent=bool(v.get("consent")),
                extra=extra,
                ip=client_ip(request),
                user_agent=request.headers.get("User-Agent", ""),
                visitor_id=v["visitor_id"],
                variant=variant,
                consent_page_url=v["consent_page_url"][:500],
                consent_text_version=v["consent_text_version"] or form.consent_text_version,
            )
            lead, created = form_lead_submit(form=form, data=data)
        except LeadError as exc:
            return Response(exc.errors, status=status.HTTP_400_BAD_REQUEST)
        return Response(lead_result(lead), status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


# --- Public: track -----------------------------------------------------------------------
class TrackSerializer(serializers.Serializer):
    form = serializers.SlugField(max_length=50)
    event = serializers.ChoiceField(choices=["visit", "start"])
    visitor_id = serializers.RegexField(r"^[A-Za-z0-9_-]{8,64}$")
    variant = serializers.CharField(required=False, allow_blank=True, max_length=50, default="")


TRACK_FORM_RE = re.compile(r"^[-a-zA-Z0-9_]{1,50}\Z")
TRACK_VISITOR_RE = re.compile(r"^[A-Za-z0-9_-]{8,64}\Z")


def _track_body(data) -> tuple[dict, dict]:
    if not isinstance(data, dict):
        return {}, {"non_field_errors": [NOT_AN_OBJECT]}
    form, event = data.get("form"), data.get("event")
    visitor, variant = data.get("visitor_id"), data.get("variant")
    if variant is None:  # absent or null: no variant; {} or false are wrong types, not blanks
        variant = ""
    errors: dict[str, list[str]] = {}
    if not isinstance(form, str) or not TRACK_FORM_RE.match(form):
        errors["form"] = ["Code de formulaire invalide."]
    if event not in ("visit", "start"):
        errors["event"] = ["« visit » ou « start » attendu."]
    if not isinstance(visitor, str) or not TRACK_VISITOR_RE.match(visitor):
        errors["visitor_id"] = ["Identifiant de visiteur invalide."]
    if not isinstance(variant, str):
        errors["variant"] = ["Texte attendu."]
    elif len(variant) > 50:
        errors["variant"] = ["50 caractères au maximum."]
    return {"form": form, "event": event, "visitor_id": visitor, "variant": variant}, errors


class TrackView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes = [TrackIpThrottle]

    @extend_schema(
        request=TrackSerializer,
        responses={204: OpenApiResponse(description="Évènement enregistré."), **PUBLIC_ERRORS},
        parameters=[OpenApiParameter("form", str, OpenApiParameter.QUERY, description="Code du formulaire (CORS)")],
        summary="Enregistrer une visite ou un démarrage de formulaire (public, CORS)",
    )
    def post(self, request):
        # Hand-checked (same rules as TrackSerializer, which documents the body): this is
        # the hottest endpoint and a serializer costs more than the INSERT.
        v, errors = _track_body(request.data)
        if errors:
            return Response(errors, status=status.HTTP_400_BAD_REQUEST)
        query_form = request.query_params.get("form")
        if query_form and query_form != v["form"]:
            return Response({"form": ["Le formulaire ne correspond pas à l'adresse."]}, status=400)
        form = _request_form(request._request, v["form"])
        if form is None or not form.active:
            return Response(NOT_FOUND, status=status.HTTP_404_NOT_FOUND)
        if _origin_refused(request, form):
            return Response(ORIGIN_REFUSED, status=status.HTTP_403_FORBIDDEN)
        try:
            tracking_event_record(form=form, event=v["event"], visitor_id=v["visitor_id"], variant=v["variant"])
        except LeadError as exc:
            return Response(exc.errors, status=status.HTTP_400_BAD_REQUEST)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- Staff: form detail and stats ------------------------------------------------------
class IsStaffWithScope(BasePermission):
    message = "Accès réservé au staff."

    def has_permission(self, request, view):
        if not user_entities(request.user):
            return False
        if request.method in ("GET", "HEAD", "OPTIONS") or can_change(request.user):
            return True
        self.message = "Votre compte est en lecture seule."  # one instance per request (DRF)
        return False


STAFF_403 = openapi_detail("Compte sans entité, ou compte en lecture seule pour une modification.")
STAFF_404 = openapi_detail("Formulaire introuvable, ou formulaire d'une autre entité.")


def _staff_form(request, code: str) -> LeadForm | None:
    return scope_queryset(LeadForm.objects.select_related("product"), request.user).filter(code=code).first()


class FunnelSerializer(serializers.Serializer):
    visits = serializers.IntegerField()
    visitors = serializers.IntegerField(help_text="Visiteurs distincts")
    starts = serializers.IntegerField()
    termine = serializers.IntegerField(help_text="Tous les leads créés par le formulaire, quel que soit leur statut")
    start_rate = serializers.FloatField(allow_null=True, help_text="Démarrages / visites (%)")
    conversion_rate = serializers.FloatField(allow_null=True, help_text="Terminé / visites (%)")
    completion_rate = serializers.FloatField(allow_null=True, help_text="Terminé / démarrages (%)")


class VariantStatsSerializer(FunnelSerializer):
    variant = serializers.CharField()


class DayStatsSerializer(serializers.Serializer):
    day = serializers.DateField()
    visits = serializers.IntegerField()
    starts = serializers.IntegerField()
    termine = serializers.IntegerField()


class FormStatsSerializer(serializers.Serializer):
    form = serializers.CharField()
    date_from = serializers.DateField()
    date_to = serializers.DateField()
    totals = FunnelSerializer()
    statuses = serializers.DictField(child=serializers.IntegerField(), help_text="Leads par statut")
    variants = VariantStatsSerializer(many=True)
    days = DayStatsSerializer(many=True)


class StatsQuerySerializer(serializers.Serializer):
    date_from = serializers.DateField(
        required=False, validators=date_range_validators(), error_messages={"invalid": DATE_INVALID}
    )
    date_to = serializers.DateField(
        required=False, validators=date_range_validators(), error_messages={"invalid": DATE_INVALID}
    )

    def validate(self, attrs):
        try:
            date_from, date_to = stats_period(
                start=attrs.get("date_from"), end=attrs.get("date_to"), today=paris_today()
            )
        except StatsPeriodError as exc:
            raise serializers.ValidationError({"from": [str(exc)]}) from exc
        return {"date_from": date_from, "date_to": date_to}


class FormStatsView(APIView):
    permission_classes = [IsStaffWithScope]

    @extend_schema(
        parameters=[
            OpenApiParameter("from", datetime.date, OpenApiParameter.QUERY, description="Premier jour (Paris)"),
            OpenApiParameter("to", datetime.date, OpenApiParameter.QUERY, description="Dernier jour (Paris)"),
        ],
        responses={
            200: FormStatsSerializer,
            400: openapi_field_errors('Période invalide : {"from": ["message"]} ou {"to": ["message"]}.'),
            401: STAFF_401,
            403: STAFF_403,
            404: STAFF_404,
        },
        summary="Statistiques d'un formulaire : visites, démarrages, Terminé, par variante et par jour",
    )
    def get(self, request, code: str):
        form = _staff_form(request, code)
        if form is None:
            return Response(NOT_FOUND, status=status.HTTP_404_NOT_FOUND)
        query = StatsQuerySerializer(
            data={k: v for k, v in (("date_from", request.GET.get("from")), ("date_to", request.GET.get("to"))) if v}
        )
        if not query.is_valid():
            errors = {
                ("from" if k == "date_from" else "to" if k == "date_to" else k): v for k, v in query.errors.items()
            }
            return Response(errors, status=status.HTTP_400_BAD_REQUEST)
        stats = form_stats(form=form, **query.validated_data)
        return Response(FormStatsSerializer(stats).data)


class FormDetailSerializer(serializers.Serializer):
    code = serializers.CharField(read_only=True)
    name = serializers.CharField(max_length=120, required=False, error_messages=TEXT_ERRORS)
    entity = serializers.CharField(read_only=True)
    product = serializers.CharField(source="product.code", read_only=True)
    target_crm = serializers.CharField(read_only=True)
    allowed_origins = serializers.ListField(child=serializers.CharField(error_messages=TEXT_ERRORS), required=False)
    variants = serializers.ListField(child=serializers.DictField(), required=False)
    consent_text_version = serializers.CharField(
        max_length=50, required=False, allow_blank=True, error_messages=TEXT_ERRORS
    )
    active = serializers.BooleanField(required=False, error_messages=BOOLEAN_ERRORS)
    crm_api_key = serializers.CharField(
        write_only=True,
        required=False,
        allow_blank=True,
        help_text="Une seule fois : ensuite seule la rotation.",
        error_messages=TEXT_ERRORS,
    )
    crm_api_key_set = serializers.SerializerMethodField()
    crm_api_key_hint = serializers.CharField(read_only=True)

    def get_crm_api_key_set(self, form) -> bool:
        return bool(form.crm_api_key)


class FormDetailView(APIView):
    permission_classes = [IsStaffWithScope]

    @extend_schema(
        responses={200: FormDetailSerializer, 401: STAFF_401, 403: STAFF_403, 404: STAFF_404},
        summary="Paramètres d'un formulaire (staff)",
    )
    def get(self, request, code: str):
        form = _staff_form(request, code)
        if form is None:
            return Response(NOT_FOUND, status=status.HTTP_404_NOT_FOUND)
        return Response(FormDetailSerializer(form).data)

    @extend_schema(
        request=FormDetailSerializer,
        responses={
            200: FormDetailSerializer,
            400: openapi_field_errors('Modification refusée, rien n\'est enregistré : {"champ": ["message"]}.'),
            401: STAFF_401,
            403: STAFF_403,
            404: STAFF_404,
        },
        summary="Modifier un formulaire (staff) ; la clé API CRM ne se définit qu'une fois",
    )
    def patch(self, request, code: str):
        form = _staff_form(request, code)
        if form is None:
            return Response(NOT_FOUND, status=status.HTTP_404_NOT_FOUND)
        if not isinstance(request.data, dict):
            return Response({"non_field_errors": [NOT_AN_OBJECT]}, status=status.HTTP_400_BAD_REQUEST)
        serializer = FormDetailSerializer(data=request.data, partial=True)
        if not serializer.is_valid():
            return Response(field_errors_flat(serializer.errors), status=status.HTTP_400_BAD_REQUEST)
        try:
            leadform_update(form=form, user=request.user, changes=dict(serializer.validated_data))
        except LeadError as exc:
            return Response(exc.errors, status=status.HTTP_400_BAD_REQUEST)
        form = _staff_form(request, code)
        return Response(FormDetailSerializer(form).data)
