"""`GET /api/v1/media/?entity=ZR7` (§13, §15): the images a landing page of an entity may
use — its own plus the shared ones.

Authentication: a staff account (session, or HTTP Basic for scripts and landing builders).
Scoping (§2): asking for an entity the account does not cover answers 403; without
`entity`, every asset the account sees is listed.
"""

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, serializers
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.pagination import PageNumberPagination
from rest_framework.permissions import BasePermission

from media_library.models import MediaAsset, MediaFormat
from media_library.selectors import media_assets_for_entity, media_assets_search, media_assets_visible
from rdz.core.api import STAFF_401, openapi_detail, openapi_field_errors
from rdz.core.entities import Entity
from rdz.core.scoping import entity_allowed, user_role


class HasStaffProfile(BasePermission):
    message = "Compte sans profil staff : accès refusé."

    def has_permission(self, request, view) -> bool:
        return user_role(request.user) is not None


class MediaAssetSerializer(serializers.ModelSerializer):
    url = serializers.CharField(source="public_url", read_only=True, help_text="URL publique et stable de l'image.")
    thumbnail_url = serializers.CharField(read_only=True, help_text="Miniature WebP (400 px au plus).")
    tags = serializers.SlugRelatedField(many=True, read_only=True, slug_field="name")
    img_snippet = serializers.CharField(read_only=True, help_text="Balise <img> prête à coller.")

    class Meta:
        model = MediaAsset
        fields = [
            "id",
            "title",
            "alt_text",
            "entity",
            "tags",
            "format",
            "width",
            "height",
            "size",
            "url",
            "thumbnail_url",
            "img_snippet",
            "created_at",
        ]
        read_only_fields = fields


class MediaPagination(PageNumberPagination):
    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 500
    # DRF's descriptions of these parameters on /api/docs/ have no French translation.
    page_query_description = "Numéro de la page de résultats (à partir de 1)."
    page_size_query_description = "Nombre de résultats par page (500 au plus)."


@extend_schema(
    tags=["médias"],
    summary="Images utilisables par une entité",
    description=(
        "Liste les images de l'entité demandée et les images partagées, pour les pages d'atterrissage. "
        "Authentification : compte staff (session ou HTTP Basic). Une entité hors du périmètre du compte "
        "répond 403."
    ),
    parameters=[
        OpenApiParameter("entity", str, enum=list(Entity.values), description="ZR7 ou MDL (ses images + partagées)."),
        OpenApiParameter("tag", str, description="Étiquette exacte."),
        OpenApiParameter("image_format", str, enum=list(MediaFormat.values), description="Format du fichier."),
        OpenApiParameter("q", str, description="Recherche dans le titre et le texte alternatif."),
    ],
    responses={
        200: MediaAssetSerializer(many=True),
        400: openapi_field_errors('Paramètre invalide : {"entity": ["message"]} ou {"image_format": ["message"]}.'),
        401: STAFF_401,
        403: openapi_detail("Compte sans profil staff, ou entité hors de votre périmètre."),
        404: openapi_detail("Page de résultats inexistante."),
    },
)
class MediaAssetListView(generics.ListAPIView):
    serializer_class = MediaAssetSerializer
    permission_classes = [HasStaffProfile]
    pagination_class = MediaPagination

    def get_queryset(self):
        params = self.request.query_params
        entity = params.get("entity", "").strip().upper()
        fmt = params.get("image_format", "").strip().upper()
        if fmt and fmt not in MediaFormat.values:
            raise ValidationError({"image_format": ["Format inconnu : JPEG, PNG, WEBP ou GIF."]})
        if entity:
            if entity not in Entity.values:
                raise ValidationError({"entity": ["Entité inconnue : ZR7 ou MDL."]})
            if not entity_allowed(self.request.user, entity):
                raise PermissionDenied(f"Vous n'avez pas accès à l'entité {entity}.")
            qs = media_assets_for_entity(user=self.request.user, entity=entity)
        else:
            qs = media_assets_visible(user=self.request.user).prefetch_related("tags")
        ids = media_assets_search(
            user=self.request.user, tag=params.get("tag", ""), fmt=fmt, query=params.get("q", "")
        ).values("pk")
        return qs.filter(pk__in=ids).order_by("-created_at", "-id")


@extend_schema(
    tags=["médias"],
    summary="Une image",
    responses={
        200: MediaAssetSerializer,
        401: STAFF_401,
        403: openapi_detail("Compte sans profil staff."),
        404: openapi_detail("Image introuvable, ou image d'une entité hors de votre périmètre."),
    },
)
class MediaAssetDetailView(generics.RetrieveAPIView):
    serializer_class = MediaAssetSerializer
    permission_classes = [HasStaffProfile]

    def get_queryset(self):
        return media_assets_visible(user=self.request.user).prefetch_related("tags")
