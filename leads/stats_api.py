"""Staff stats API (§15): `GET /api/v1/stats/daily/?from=&to=&entity=`, read from the
daily rollups and scoped to the caller's entities (§2)."""

import datetime

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import permissions, serializers
from rest_framework.authentication import BasicAuthentication, SessionAuthentication, TokenAuthentication
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response
from rest_framework.views import APIView

from leads.models import LeadStatus
from leads.stats import StatsPeriodError, daily_rows, rollup_ensure_today, stats_period
from rdz.core.api import STAFF_401, openapi_detail, openapi_field_errors
from rdz.core.entities import Entity
from rdz.core.scoping import user_entities
from rdz.core.timeutils import DATE_INVALID, DATE_OUT_OF_RANGE, date_in_range, date_range_validators, paris_today


class IsScopedStaff(permissions.BasePermission):
    message = "Ce compte n'a accès à aucune entité."

    def has_permission(self, request, view) -> bool:
        return bool(user_entities(request.user))


class DailyStatsQuerySerializer(serializers.Serializer):
    # `from` is a Python keyword: the field is renamed in to_internal_value.
    to = serializers.DateField(
        required=False,
        validators=date_range_validators(),
        error_messages={"invalid": DATE_INVALID},
        help_text="Dernier jour inclus (AAAA-MM-JJ), défaut : aujourd'hui.",
    )
    entity = serializers.ChoiceField(
        choices=Entity.choices, required=False, help_text="ZR7 ou MDL ; défaut : les vôtres."
    )

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        raw = data.get("from")
        if raw:
            try:
                value["from"] = datetime.date.fromisoformat(raw)
            except ValueError as exc:
                raise serializers.ValidationError({"from": [DATE_INVALID]}) from exc
            if not date_in_range(value["from"]):
                raise serializers.ValidationError({"from": [DATE_OUT_OF_RANGE]})
        return value

    def validate(self, attrs):
        try:
            attrs["from"], attrs["to"] = stats_period(start=attrs.get("from"), end=attrs.get("to"), today=paris_today())
        except StatsPeriodError as exc:
            raise serializers.ValidationError({"from": [str(exc)]}) from exc
        return attrs


class CrmCountsSerializer(serializers.Serializer):
    pending = serializers.IntegerField()
    sent = serializers.IntegerField()
    fallback_sent = serializers.IntegerField()
    failed = serializers.IntegerField()
    stopped = serializers.IntegerField(
        help_text="Non transmis par RDZ : numéro mis sur la liste d'opposition ou données effacées (RGPD)."
    )


class RejectionCountsSerializer(serializers.Serializer):
    approved = serializers.IntegerField(help_text="Acceptés (quota recrédité, lead remis au backlog).")
    pending = serializers.IntegerField(help_text="À approuver (plafond de rejet dépassé).")
    refused = serializers.IntegerField(help_text="Refusés par le staff.")


class DailyRowSerializer(serializers.Serializer):
    day = serializers.DateField()
    entity = serializers.ChoiceField(choices=Entity.choices)
    received = serializers.IntegerField(help_text="Leads reçus ce jour-là.")
    attributed = serializers.IntegerField(help_text="Dont attribués à une commande (attribués, livrés ou rejetés).")
    rejected = serializers.IntegerField(help_text="Dont rejetés par le client depuis (statut actuel).")
    by_status = serializers.DictField(
        child=serializers.IntegerField(), help_text=f"Nombre par statut actuel : {', '.join(LeadStatus.values)}."
    )
    crm = CrmCountsSerializer(help_text="Transmission CRM des leads de formulaires.")
    rejections = RejectionCountsSerializer(
        help_text="Rejets demandés ce jour-là (par le client ou le staff), quel que soit le jour de réception "
        "du lead, selon leur décision."
    )


class DailyStatsSerializer(serializers.Serializer):
    entities = serializers.ListField(child=serializers.CharField())
    results = DailyRowSerializer(many=True)

    def get_fields(self):
        # `from` is a Python keyword: the period's fields are named here, so the response and
        # the OpenAPI schema (which reads the same fields) both say `from` / `to`.
        return {
            "from": serializers.DateField(source="date_from", help_text="Premier jour inclus."),
            "to": serializers.DateField(source="date_to", help_text="Dernier jour inclus."),
            **super().get_fields(),
        }


class DailyStatsView(APIView):
    # Basic first for its 401 challenge, as in the default classes (settings.REST_FRAMEWORK).
    authentication_classes = [BasicAuthentication, SessionAuthentication, TokenAuthentication]
    permission_classes = [permissions.IsAuthenticated, IsScopedStaff]

    @extend_schema(
        operation_id="stats_daily",
        summary="Statistiques journalières",
        description="Une ligne par jour (heure de Paris) et par entité : leads reçus, comptés selon leur statut "
        "actuel, issue de la transmission CRM et rejets. Limité aux entités du compte (session, "
        "jeton `Authorization: Token …` ou authentification basique).",
        parameters=[
            OpenApiParameter(
                "from", datetime.date, description="Premier jour inclus (AAAA-MM-JJ), défaut : il y a 29 jours."
            ),
            OpenApiParameter(
                "to", datetime.date, description="Dernier jour inclus (AAAA-MM-JJ), défaut : aujourd'hui."
            ),
            OpenApiParameter("entity", str, enum=Entity.values, description="Restreindre à une entité."),
        ],
        responses={
            200: DailyStatsSerializer,
            400: openapi_field_errors('Paramètre invalide : {"champ": ["message"]}.'),
            401: STAFF_401,
            403: openapi_detail("Compte sans entité, ou entité hors de votre périmètre."),
        },
        tags=["statistiques"],
    )
    def get(self, request):
        query = DailyStatsQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        allowed = user_entities(request.user)
        entity = query.validated_data.get("entity")
        if entity and entity not in allowed:
            raise PermissionDenied("Cette entité n'est pas dans votre périmètre.")
        entities = sorted([entity] if entity else allowed)
        start, end = query.validated_data["from"], query.validated_data["to"]
        if end >= paris_today():
            rollup_ensure_today()
        rows = sorted(daily_rows(entities=entities, start=start, end=end), key=lambda r: (r["day"], r["entity"]))
        return Response(
            DailyStatsSerializer({"date_from": start, "date_to": end, "entities": entities, "results": rows}).data
        )
