"""Media library (§13, §2): images for the landing pages, owned by one entity or shared."""

import secrets
from pathlib import PurePosixPath

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.html import format_html

# Every library file lives under this prefix of MEDIA_ROOT: only it is served publicly,
# and the orphan finder only looks there (other apps may keep private files in MEDIA_ROOT).
LIBRARY_PREFIX = "library"


class MediaEntity(models.TextChoices):
    ZR7 = "ZR7", "ZR7"
    MDL = "MDL", "MDL"
    SHARED = "SHARED", "Partagé"


class MediaFormat(models.TextChoices):
    JPEG = "JPEG", "JPEG"
    PNG = "PNG", "PNG"
    WEBP = "WEBP", "WebP"
    GIF = "GIF", "GIF"


FORMAT_EXTENSIONS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp", "GIF": "gif"}


def random_file_name(extension: str) -> str:
    """A random, unguessable name; the first two characters fan files out into folders."""
    token = secrets.token_hex(16)
    return f"{LIBRARY_PREFIX}/{token[:2]}/{token}.{extension}"


def thumbnail_name_for(file_name: str) -> str:
    return f"{LIBRARY_PREFIX}/thumbs/{PurePosixPath(file_name).stem}.webp"


def _upload_to(instance: "MediaAsset", filename: str) -> str:
    # Used when a file is assigned directly (fixtures, admin shell); the services pass
    # their own random names. The client's file name never reaches the disk.
    extension = FORMAT_EXTENSIONS.get(instance.format, "bin")
    return random_file_name(extension)


def public_base_url() -> str:
    """MEDIA_PUBLIC_URL, or SITE_URL + MEDIA_URL when it is unset or empty."""
    base = settings.MEDIA_PUBLIC_URL or f"{settings.SITE_URL}{settings.MEDIA_URL}"
    return base.rstrip("/")


class MediaTag(models.Model):
    name = models.CharField("nom", max_length=50, unique=True)

    class Meta:
        verbose_name = "étiquette"
        verbose_name_plural = "étiquettes"
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class MediaAsset(models.Model):
    """One image, re-encoded by the upload service; its file name never changes."""

    ENTITY_FIELD = "entity"
    ENTITY_SHARED_VALUE = MediaEntity.SHARED

    file = models.FileField("fichier", upload_to=_upload_to, max_length=200, unique=True)
    thumbnail = models.FileField("miniature", upload_to=_upload_to, max_length=200, blank=True)
    entity = models.CharField("entité", max_length=6, choices=MediaEntity.choices, db_index=True)
    title = models.CharField("titre", max_length=200)
    alt_text = models.CharField(
        "texte alternatif",
        max_length=300,
        blank=True,
        help_text="Décrit l'image pour les lecteurs d'écran, en français.",
    )
    tags = models.ManyToManyField(MediaTag, blank=True, related_name="assets", verbose_name="étiquettes")
    width = models.PositiveIntegerField("largeur (px)")
    height = models.PositiveIntegerField("hauteur (px)")
    size = models.PositiveIntegerField("taille (octets)")
    format = models.CharField("format", max_length=4, choices=MediaFormat.choices)
    original_name = models.CharField("nom d'origine", max_length=255, blank=True)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name="téléversé par",
    )
    created_at = models.DateTimeField("créé le", default=timezone.now, db_index=True)
    legacy_id = models.CharField("identifiant historique", max_length=64, null=True, blank=True, unique=True)

    class Meta:
        verbose_name = "média"
        verbose_name_plural = "médias"
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=models.Q(entity__in=MediaEntity.values), name="mediaasset_entity_valid"),
            models.CheckConstraint(condition=models.Q(format__in=MediaFormat.values), name="mediaasset_format_valid"),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def public_url(self) -> str:
        """Stable absolute URL to paste in a landing page (MEDIA_PUBLIC_URL + file name)."""
        return f"{public_base_url()}/{self.file.name}"

    @property
    def thumbnail_url(self) -> str:
        if not self.thumbnail:
            return self.public_url
        return f"{public_base_url()}/{self.thumbnail.name}"

    @property
    def img_snippet(self) -> str:
        return format_html(
            '<img src="{}" alt="{}" width="{}" height="{}" loading="lazy">',
            self.public_url,
            self.alt_text,
            self.width,
            self.height,
        )
