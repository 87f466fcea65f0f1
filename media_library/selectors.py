"""Reads of the media library, always through entity scoping (§2)."""

import unicodedata

from django.db.models import Q, QuerySet

from media_library.models import MediaAsset, MediaEntity, MediaTag
from rdz.core.scoping import scope_queryset


def media_assets_visible(*, user, entities: frozenset[str] | None = None) -> QuerySet[MediaAsset]:
    """The account's assets (narrowed to `entities`, e.g. the entity switcher) and the shared ones."""
    return scope_queryset(MediaAsset.objects.all(), user, entities=entities)


def media_assets_search(
    *,
    user,
    entities: frozenset[str] | None = None,
    entity: str = "",
    tag: str = "",
    fmt: str = "",
    query: str = "",
) -> QuerySet[MediaAsset]:
    """Browse filters: `entity` is ZR7, MDL or SHARED (exactly that one), tag and format
    match exactly, `query` searches the title (and the alt text)."""
    qs = media_assets_visible(user=user, entities=entities)
    if entity:
        qs = qs.filter(entity=entity)
    if tag:
        qs = qs.filter(tags__name=tag.strip().lower())
    if fmt:
        qs = qs.filter(format=fmt)
    query = unicodedata.normalize("NFC", query or "").strip()
    if query:
        qs = qs.filter(Q(title__icontains=query) | Q(alt_text__icontains=query))
    return qs.select_related("uploaded_by").prefetch_related("tags").distinct()


def media_assets_for_entity(*, user, entity: str) -> QuerySet[MediaAsset]:
    """What a landing page of `entity` may use: its own assets plus the shared ones."""
    qs = media_assets_visible(user=user).filter(entity__in=[entity, MediaEntity.SHARED])
    return qs.prefetch_related("tags")


def media_tags_visible(*, user) -> QuerySet[MediaTag]:
    return MediaTag.objects.filter(assets__in=media_assets_visible(user=user)).distinct().order_by("name")
