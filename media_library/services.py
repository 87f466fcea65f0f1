"""Everything that writes media assets and their files (§13, scoping §2)."""

import logging
import time
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction

from media_library.images import (
    ACCEPTED_FORMATS,
    ImageRefused,
    PreparedImage,
    image_bytes_prepare,
    image_prepare,
    thumbnail_make,
)
from media_library.models import (
    FORMAT_EXTENSIONS,
    LIBRARY_PREFIX,
    MediaAsset,
    MediaEntity,
    MediaTag,
    random_file_name,
    thumbnail_name_for,
)
from rdz.core.scoping import can_change, entity_writable, user_entities
from rdz.core.services import audit_log

logger = logging.getLogger(__name__)


class MediaError(Exception):
    """A media operation was refused; the message is French and shown to the user."""


class MediaPermissionError(MediaError):
    pass


def media_entities_visible(user) -> list[str]:
    """Entities whose assets a user sees (and may filter on): its own ones, plus shared."""
    allowed = user_entities(user)
    return [value for value in MediaEntity.values if value in allowed or value == MediaEntity.SHARED]


def media_change_refusal(*, user, entity: str) -> str:
    """Why `user` may not add, edit or delete an asset filed under `entity`, in French;
    empty when it may. The one rule of the library's writes (§2): the services, the pages and
    the admin all ask it. Managers and admins change their entities' assets; a shared asset
    only an account of both entities (or a superuser) changes, as the other company's
    landing pages use it too."""
    if not can_change(user):
        return "Votre rôle ne permet pas de modifier la médiathèque."
    if entity_writable(user, MediaAsset, entity):
        return ""
    if entity == MediaEntity.SHARED:
        return (
            "Les médias partagés servent aux pages de ZR7 et de MDL : seul un compte rattaché aux deux "
            "entités peut les ajouter, les modifier ou les supprimer."
        )
    return f"Les médias de l'entité {entity} ne sont pas dans votre périmètre."


def media_entities_writable(user) -> list[str]:
    """Entities a user may file a new asset under."""
    return [value for value in MediaEntity.values if not media_change_refusal(user=user, entity=value)]


def text_normalize(value: str | None) -> str:
    """Composed Unicode (NFC), trimmed: macOS sends file names with decomposed accents
    ("e" + combining accent), which a search typed on a keyboard would never match."""
    return unicodedata.normalize("NFC", value or "").strip()


def tags_parse(raw: str | list[str] | None) -> list[str]:
    """ "Solaire, toiture ,solaire" → ["solaire", "toiture"] (lower case, unique, in order)."""
    items = raw.split(",") if isinstance(raw, str) else list(raw or [])
    tags: list[str] = []
    for item in items:
        name = " ".join(text_normalize(str(item)).split()).lower()[:50]
        if name and name not in tags:
            tags.append(name)
    return tags


def _tags_set(asset: MediaAsset, tags: list[str]) -> None:
    objects = [MediaTag.objects.get_or_create(name=name)[0] for name in tags]
    asset.tags.set(objects)


def _files_delete(*names: str) -> None:
    for name in names:
        if not name:
            continue
        try:
            default_storage.delete(name)
        except OSError:
            # The orphan finder reports what could not be removed.
            logger.warning("media file could not be deleted: %s", name, exc_info=True)


def _permission_check(*, user, entity: str) -> None:
    if user is not None and (reason := media_change_refusal(user=user, entity=entity)):
        raise MediaPermissionError(reason)
    if entity not in MediaEntity.values:
        raise MediaError(f"Entité inconnue : {entity}.")


def media_asset_create(
    *,
    image: PreparedImage,
    entity: str,
    title: str,
    alt_text: str = "",
    tags: list[str] | None = None,
    original_name: str = "",
    user=None,
    legacy_id: str | None = None,
) -> MediaAsset:
    """Store an already checked image under a random name and record it.

    Files are written only now (after validation); if recording fails they are removed,
    so a refused or failed upload leaves nothing behind. `user=None` is the system
    (legacy import) and skips the role check.
    """
    _permission_check(user=user, entity=entity)
    title = text_normalize(title)[:200] or "Image sans titre"
    written: list[str] = []
    try:
        with transaction.atomic():
            name = default_storage.save(random_file_name(FORMAT_EXTENSIONS[image.format]), ContentFile(image.content))
            written.append(name)
            thumb = default_storage.save(thumbnail_name_for(name), ContentFile(image.thumbnail))
            written.append(thumb)
            asset = MediaAsset.objects.create(
                file=name,
                thumbnail=thumb,
                entity=entity,
                title=title,
                # An image without alt text is useless to screen readers: default to the title.
                alt_text=(text_normalize(alt_text) or title)[:300],
                width=image.width,
                height=image.height,
                size=image.size,
                format=image.format,
                original_name=text_normalize(original_name)[:255],
                uploaded_by=user if getattr(user, "pk", None) else None,
                legacy_id=legacy_id or None,
            )
            _tags_set(asset, tags_parse(tags))
            audit_log(
                action="media.upload",
                actor=user,
                entity=entity if entity != MediaEntity.SHARED else "",
                obj=asset,
                message=f"{asset.title} ({asset.format}, {asset.width}×{asset.height}, {asset.size} octets)",
            )
    except BaseException:
        _files_delete(*written)
        raise
    return asset


def media_asset_upload(
    *, upload: UploadedFile, entity: str, user, title: str = "", alt_text: str = "", tags: list[str] | None = None
) -> MediaAsset:
    """Check, re-encode and store one uploaded image (§13). Raises MediaError (French)."""
    _permission_check(user=user, entity=entity)
    original_name = Path(upload.name or "").name
    try:
        image = image_prepare(upload)
    except ImageRefused as exc:
        raise MediaError(str(exc)) from exc
    return media_asset_create(
        image=image,
        entity=entity,
        title=title or Path(original_name).stem.replace("_", " ").replace("-", " ").strip(),
        alt_text=alt_text,
        tags=tags,
        original_name=original_name,
        user=user,
    )


def media_asset_import(
    *, data: bytes, entity: str, legacy_id: str, title: str, alt_text: str = "", tags: list[str] | None = None
) -> MediaAsset:
    """Import one legacy image (same checks as an upload); idempotent on `legacy_id`."""
    existing = MediaAsset.objects.filter(legacy_id=legacy_id).first()
    if existing is not None:
        return existing
    try:
        image = image_bytes_prepare(data)
    except ImageRefused as exc:
        raise MediaError(str(exc)) from exc
    return media_asset_create(
        image=image, entity=entity, title=title, alt_text=alt_text, tags=tags, user=None, legacy_id=legacy_id
    )


@transaction.atomic
def media_asset_update(*, asset: MediaAsset, user, title: str, alt_text: str, tags: list[str] | str) -> MediaAsset:
    """Change the title, alt text and tags; one audit row saying what changed, none when
    nothing did. The stored row is the reference: the admin hands over an edited instance."""
    stored = MediaAsset.objects.select_for_update().filter(pk=asset.pk).first()
    if stored is None:  # deleted by someone else since the page was read
        raise MediaError("Ce média a été supprimé entre-temps : rien n'a été modifié.")
    if reason := media_change_refusal(user=user, entity=stored.entity):
        raise MediaPermissionError(reason)
    old_tags = sorted(stored.tags.values_list("name", flat=True))
    new_tags = tags_parse(tags)
    asset.title = text_normalize(title)[:200] or stored.title
    asset.alt_text = text_normalize(alt_text)[:300]
    changes = [
        f"{label} « {before} » → « {after} »"
        for label, before, after in (
            ("titre", stored.title, asset.title),
            ("texte alternatif", stored.alt_text, asset.alt_text),
            ("étiquettes", ", ".join(old_tags), ", ".join(sorted(new_tags))),
        )
        if before != after
    ]
    if not changes:
        return asset
    asset.save(update_fields=["title", "alt_text"])
    _tags_set(asset, new_tags)
    audit_log(
        action="media.update",
        actor=user,
        entity=_audit_entity(asset),
        obj=asset,
        message=f"{asset.title} : {' ; '.join(changes)}",
    )
    return asset


def _audit_entity(asset: MediaAsset) -> str:
    return "" if asset.entity == MediaEntity.SHARED else asset.entity


@transaction.atomic
def media_asset_delete(*, asset: MediaAsset, user) -> None:
    """Delete the row now and its files once the deletion is committed (a rollback keeps both).

    The row is locked first: of two requests deleting the same image (a double click), the
    second finds it gone and does nothing, rather than writing a second audit row."""
    entity = MediaAsset.objects.select_for_update().filter(pk=asset.pk).values_list("entity", flat=True).first()
    if entity is None:
        return
    if user is not None and (reason := media_change_refusal(user=user, entity=entity)):
        raise MediaPermissionError(reason)
    names = (asset.file.name, asset.thumbnail.name)
    audit_log(
        action="media.delete",
        actor=user,
        entity=_audit_entity(asset),
        obj=asset,
        message=f"{asset.title} ({asset.file.name})",
    )
    asset.delete()
    transaction.on_commit(lambda: _files_delete(*names))


def media_thumbnail_rebuild(*, asset: MediaAsset) -> bool:
    """Re-create the thumbnail from the stored file; False when that file is missing."""
    from PIL import Image

    if not asset.file or not default_storage.exists(asset.file.name):
        return False
    with default_storage.open(asset.file.name, "rb") as fp, Image.open(fp, formats=ACCEPTED_FORMATS) as image:
        image.load()
        content = thumbnail_make(image)
    old = asset.thumbnail.name
    name = thumbnail_name_for(asset.file.name)
    if default_storage.exists(name):
        default_storage.delete(name)
    name = default_storage.save(name, ContentFile(content))
    MediaAsset.objects.filter(pk=asset.pk).update(thumbnail=name)
    if old and old != name:
        _files_delete(old)
    return True


@dataclass
class OrphanReport:
    files_without_row: list[str] = field(default_factory=list)
    rows_without_file: list[int] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)


def _library_files() -> list[str]:
    root = Path(settings.MEDIA_ROOT) / LIBRARY_PREFIX
    if not root.exists():
        return []
    return sorted(f"{LIBRARY_PREFIX}/{path.relative_to(root).as_posix()}" for path in root.rglob("*") if path.is_file())


def media_orphans_find(*, delete: bool = False, min_age_seconds: int = 3600) -> OrphanReport:
    """Files under MEDIA_ROOT/library/ no asset references, and assets whose file is gone.

    Files younger than `min_age_seconds` are ignored: an upload writes its file just
    before its row is committed. With `delete`, orphan files are removed; rows without
    a file are only reported (an operator decides, a landing page may still use them).
    """
    known: set[str] = set()
    report = OrphanReport()
    for pk, name, thumb in MediaAsset.objects.values_list("pk", "file", "thumbnail").iterator():
        known.update(n for n in (name, thumb) if n)
        if not name or not default_storage.exists(name):
            report.rows_without_file.append(pk)
    now = time.time()
    root = Path(settings.MEDIA_ROOT)
    for name in _library_files():
        if name in known:
            continue
        if now - (root / name).stat().st_mtime < min_age_seconds:
            continue
        report.files_without_row.append(name)
        if delete:
            default_storage.delete(name)
            report.deleted.append(name)
    return report
