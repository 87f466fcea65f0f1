"""Admin of the media library: scoped (§2), uploads and deletions through the services."""

from collections.abc import Callable
from functools import wraps

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.defaultfilters import filesizeformat
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.views.decorators.csrf import csrf_exempt

from media_library.forms import MediaUploadForm, media_entity_field
from media_library.images import ImageRefused, image_prepare
from media_library.models import MediaAsset
from media_library.selectors import media_tags_visible
from media_library.services import (
    media_asset_create,
    media_asset_delete,
    media_asset_update,
    media_change_refusal,
    tags_parse,
)
from media_library.uploads import upload_length_refusal
from rdz.core.admin_mixins import EntityScopedAdmin
from rdz.core.scoping import can_change


class MediaAssetAdminForm(forms.ModelForm):
    upload = forms.FileField(label="Fichier", required=False, help_text="JPEG, PNG, WebP ou GIF.")
    tags_text = forms.CharField(label="Étiquettes", required=False, help_text="Séparées par des virgules.")

    class Meta:
        model = MediaAsset
        fields = ["entity", "title", "alt_text"]

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.prepared = None
        if self.instance.pk:
            self.fields["tags_text"].initial = ", ".join(t.name for t in self.instance.tags.all())
        if "title" in self.fields and not self.instance.pk:
            # A new image takes its title from the file name; an existing one keeps a title.
            self.fields["title"].required = False

    def clean(self):
        cleaned = super().clean()
        upload = cleaned.get("upload")
        if not self.instance.pk:
            if not upload:
                self.add_error("upload", "Choisissez une image.")
            else:
                try:
                    self.prepared = image_prepare(upload)
                except ImageRefused as exc:
                    self.add_error("upload", str(exc))
        return cleaned


_READONLY_INFO = [
    "entity",
    "format",
    "width",
    "height",
    "weight",
    "original_name",
    "uploaded_by",
    "created_at",
    "legacy_id",
]


class ScopedTagFilter(admin.SimpleListFilter):
    """Only the tags of assets the account sees (tag names are entity data too)."""

    title = "étiquette"
    parameter_name = "tag"

    def lookups(self, request, model_admin):
        return [(tag.name, tag.name) for tag in media_tags_visible(user=request.user)]

    def queryset(self, request, queryset):
        return queryset.filter(tags__name=self.value()).distinct() if self.value() else queryset


@admin.register(MediaAsset)
class MediaAssetAdmin(EntityScopedAdmin):
    audit_admin_changes = False  # media_asset_create / _update / _delete audit each change
    form = MediaAssetAdminForm
    change_list_template = "admin/media_library/mediaasset/change_list.html"
    list_display = ["preview", "title", "entity", "format", "dimensions", "weight", "created_at"]
    list_display_links = ["preview", "title"]
    list_filter = ["entity", "format", ScopedTagFilter]
    search_fields = ["title", "alt_text", "original_name"]
    date_hierarchy = "created_at"

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["upload", "entity", "title", "alt_text", "tags_text"]
        # The tags' text box exists only in an editable form: a read-only page lists the tags.
        tags = "tags_text" if self.has_change_permission(request, obj) else "tags_list"
        return ["preview_large", "public_url", "title", "alt_text", tags, *_READONLY_INFO]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        return ["preview_large", "public_url", "tags_list", *_READONLY_INFO]

    def formfield_for_choice_field(self, db_field, request, **kwargs):
        if db_field.name == "entity":
            return media_entity_field(user=request.user, label=db_field.verbose_name.capitalize())
        return super().formfield_for_choice_field(db_field, request, **kwargs)

    def has_change_permission(self, request, obj=None):
        if obj is not None and media_change_refusal(user=request.user, entity=obj.entity):
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        if obj is not None and media_change_refusal(user=request.user, entity=obj.entity):
            return False
        return super().has_delete_permission(request, obj)

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        # The admin then shows the image read-only, without its buttons: say why.
        if obj is not None and (reason := media_change_refusal(user=request.user, entity=obj.entity)):
            self.message_user(request, reason, messages.INFO)
        return super().render_change_form(request, context, add=add, change=change, form_url=form_url, obj=obj)

    @admin.display(description="aperçu")
    def preview(self, obj: MediaAsset):
        return format_html('<img src="{}" alt="" style="max-height:60px;max-width:90px">', obj.thumbnail_url)

    @admin.display(description="aperçu")
    def preview_large(self, obj: MediaAsset):
        return format_html('<img src="{}" alt="" style="max-height:300px;max-width:400px">', obj.thumbnail_url)

    @admin.display(description="URL publique")
    def public_url(self, obj: MediaAsset) -> str:
        return obj.public_url

    @admin.display(description="étiquettes")
    def tags_list(self, obj: MediaAsset) -> str:
        return ", ".join(tag.name for tag in obj.tags.all()) or self.get_empty_value_display()

    @admin.display(description="dimensions")
    def dimensions(self, obj: MediaAsset) -> str:
        return f"{obj.width} × {obj.height}"

    @admin.display(description="taille", ordering="size")
    def weight(self, obj: MediaAsset) -> str:
        return filesizeformat(obj.size)

    def save_model(self, request, obj, form, change):
        if change:
            media_asset_update(
                asset=obj,
                user=request.user,
                title=form.cleaned_data.get("title") or obj.title,
                alt_text=form.cleaned_data.get("alt_text", ""),
                tags=tags_parse(form.cleaned_data.get("tags_text", "")),
            )
            return
        upload = form.cleaned_data["upload"]
        created = media_asset_create(
            image=form.prepared,
            entity=form.cleaned_data["entity"],
            title=form.cleaned_data.get("title") or upload.name.rsplit(".", 1)[0],
            alt_text=form.cleaned_data.get("alt_text", ""),
            tags=tags_parse(form.cleaned_data.get("tags_text", "")),
            original_name=upload.name,
            user=request.user,
        )
        # The admin goes on with `obj` (messages, redirect): make it the created row.
        for model_field in MediaAsset._meta.concrete_fields:
            setattr(obj, model_field.attname, getattr(created, model_field.attname))
        obj._state.adding = False

    def save_related(self, request, form, formsets, change):
        # Tags are written by the services.
        return None

    def delete_model(self, request, obj):
        media_asset_delete(asset=obj, user=request.user)

    def delete_queryset(self, request, queryset):
        for asset in queryset:
            media_asset_delete(asset=asset, user=request.user)

    def get_urls(self):
        extra = [
            path(
                "televerser/",
                self.admin_site.admin_view(self.bulk_upload_view),
                name="media_library_mediaasset_bulk_upload",
            )
        ]
        add_name = f"{self.opts.app_label}_{self.opts.model_name}_add"
        urls = [
            path("add/", self._length_checked(url.callback), name=add_name) if url.name == add_name else url
            for url in super().get_urls()
        ]
        return extra + urls

    def _length_checked(self, view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        """The add form's POST judged on its announced length first, as on the back-office
        upload page. Exempt from the CSRF middleware, which would read the whole body before
        any view runs; `view` (wrapped by the admin site) still checks the token."""

        @csrf_exempt
        @wraps(view)
        def checked(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            if request.method == "POST" and (refusal := upload_length_refusal(request)):
                messages.error(request, refusal[0])
                return redirect(request.path)
            return view(request, *args, **kwargs)

        return checked

    def bulk_upload_view(self, request):
        """Several files at once with progress: the back-office upload form, in the admin."""
        if not can_change(request.user):
            raise PermissionDenied
        context = {
            **self.admin_site.each_context(request),
            "title": "Téléverser des images",
            "opts": self.model._meta,
            "form": MediaUploadForm(user=request.user),
            "upload_url": reverse("media_library:upload"),
            "max_bytes": settings.MEDIA_MAX_UPLOAD_BYTES,
        }
        return TemplateResponse(request, "admin/media_library/mediaasset/bulk_upload.html", context)
