"""Back-office pages of the media library (§13): browse, upload, detail, delete, and the
public file URL. Views parse, call one service or selector, and render."""

from pathlib import Path, PurePosixPath

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.defaultfilters import filesizeformat
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_http_methods
from django.views.static import serve

from media_library.forms import MediaEditForm, MediaFilterForm, MediaUploadForm
from media_library.middleware import LANGUAGE_INDEPENDENT
from media_library.models import LIBRARY_PREFIX, MediaAsset
from media_library.selectors import media_assets_search, media_assets_visible, media_tags_visible
from media_library.services import (
    MediaError,
    MediaPermissionError,
    media_asset_delete,
    media_asset_update,
    media_asset_upload,
    media_change_refusal,
    tags_parse,
)
from media_library.uploads import SizeLimitUploadHandler, upload_length_refusal
from rdz.core.backoffice import selected_entities
from rdz.core.scoping import can_change, user_role

PAGE_SIZE = 24
# A form posted without JavaScript may carry several files at once.
_MAX_FILES_PER_POST = 20
# File names are random and never reused: caches may keep a file forever.
_IMMUTABLE = "public, max-age=31536000, immutable"


def _staff_required(request: HttpRequest) -> None:
    if user_role(request.user) is None:
        raise PermissionDenied("Aucun profil staff : accès refusé.")


def _manager_required(request: HttpRequest) -> None:
    _staff_required(request)
    if not can_change(request.user):
        raise PermissionDenied("Votre rôle (lecteur) ne permet pas de modifier la médiathèque.")


def _asset_or_404(request: HttpRequest, pk: int) -> MediaAsset:
    # Outside the account's entities an asset does not exist (404, not 403).
    return get_object_or_404(media_assets_visible(user=request.user), pk=pk)


def _wants_json(request: HttpRequest) -> bool:
    return request.headers.get("x-requested-with") == "XMLHttpRequest"


@login_required
def media_list(request: HttpRequest) -> HttpResponse:
    _staff_required(request)
    form = MediaFilterForm(request.GET or None, user=request.user)
    filters = form.cleaned_data if form.is_valid() else {}
    assets = media_assets_search(
        user=request.user,
        entities=selected_entities(request),
        entity=filters.get("entity", ""),
        tag=filters.get("tag", ""),
        fmt=filters.get("format", ""),
        query=filters.get("q", ""),
    )
    page = Paginator(assets, PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "media_library/list.html",
        {
            "form": form,
            "page": page,
            "querystring": query.urlencode(),
            "tags": media_tags_visible(user=request.user),
            "can_change": can_change(request.user),
        },
    )


@csrf_exempt
@login_required
def media_upload(request: HttpRequest) -> HttpResponse:
    """The size limit is checked on Content-Length before anything reads the body, and a
    file passing the limit is cut off while streaming; CSRF is then checked normally."""
    _manager_required(request)
    if request.method == "POST":
        if refusal := upload_length_refusal(request, files=1 if _wants_json(request) else _MAX_FILES_PER_POST):
            message, status = refusal
            return _upload_refused(request, message, status=status)
        request.upload_handlers.insert(0, SizeLimitUploadHandler(request))
    return _media_upload(request)


def _upload_refused(request: HttpRequest, message: str, *, status: int) -> HttpResponse:
    if _wants_json(request):
        return JsonResponse({"ok": False, "message": message}, status=status)
    messages.error(request, message)
    return redirect("media_library:upload")


@csrf_protect
def _media_upload(request: HttpRequest) -> HttpResponse:
    # Bound on every POST: one carrying only files has an empty (falsy) request.POST, and an
    # unbound form would refuse it without saying why.
    form = MediaUploadForm(request.POST if request.method == "POST" else None, user=request.user)
    if request.method != "POST":
        return render(
            request,
            "media_library/upload.html",
            {"form": form, "max_bytes": settings.MEDIA_MAX_UPLOAD_BYTES},
        )
    if not form.is_valid():
        if _wants_json(request):
            errors = "; ".join(f"{form.fields[f].label} : {' '.join(e)}" for f, e in form.errors.items())
            return JsonResponse({"ok": False, "message": errors}, status=400)
        return render(
            request, "media_library/upload.html", {"form": form, "max_bytes": settings.MEDIA_MAX_UPLOAD_BYTES}
        )
    results = []
    limiter = next((h for h in request.upload_handlers if isinstance(h, SizeLimitUploadHandler)), None)
    for name in limiter.too_big if limiter else []:
        results.append(
            _result(
                name,
                status=413,
                message=f"trop volumineux (limite : {filesizeformat(settings.MEDIA_MAX_UPLOAD_BYTES)}).",
            )
        )
    uploads = request.FILES.getlist("files")
    if not uploads and not results:
        results.append(_result("", status=400, message="aucun fichier reçu."))
    for upload in uploads:
        try:
            asset = media_asset_upload(
                upload=upload,
                entity=form.cleaned_data["entity"],
                user=request.user,
                alt_text=form.cleaned_data["alt_text"],
                tags=tags_parse(form.cleaned_data["tags"]),
            )
        except MediaPermissionError as exc:
            results.append(_result(upload.name, status=403, message=str(exc)))
        except MediaError as exc:
            results.append(_result(upload.name, status=400, message=str(exc)))
        else:
            results.append(
                _result(
                    upload.name,
                    status=201,
                    message=f"ajouté ({asset.width} × {asset.height} px, {filesizeformat(asset.size)}).",
                    asset=asset,
                )
            )
    if _wants_json(request):
        # The page sends one file per request, so one result per response.
        result = results[0]
        return JsonResponse(result, status=result.pop("status"))
    for result in results:
        (messages.success if result["ok"] else messages.error)(request, result["message"])
    return redirect("media_library:list")


def _result(name: str, *, status: int, message: str, asset: MediaAsset | None = None) -> dict:
    label = f"« {Path(name).name} » " if name else ""
    data = {"ok": asset is not None, "status": status, "message": f"{label}{message}".strip()}
    if not data["ok"] and name:
        data["message"] = f"{label}refusé : {message}"
    if asset is not None:
        data.update(
            id=asset.pk,
            url=asset.public_url,
            thumbnail_url=asset.thumbnail_url,
            detail_url=reverse("media_library:detail", args=[asset.pk]),
        )
    return data


@login_required
@require_http_methods(["GET", "POST"])
def media_detail(request: HttpRequest, pk: int) -> HttpResponse:
    _staff_required(request)
    asset = _asset_or_404(request, pk)
    refusal = media_change_refusal(user=request.user, entity=asset.entity)
    initial = {"title": asset.title, "alt_text": asset.alt_text, "tags": ", ".join(t.name for t in asset.tags.all())}
    form = MediaEditForm(request.POST if request.method == "POST" else None, initial=initial)
    if request.method == "POST":
        if refusal:
            raise PermissionDenied(refusal)
        if form.is_valid():
            try:
                media_asset_update(asset=asset, user=request.user, **form.cleaned_data)
            except MediaPermissionError as exc:  # the role or the image changed since the page was read
                raise PermissionDenied(str(exc)) from exc
            except MediaError as exc:
                messages.error(request, str(exc))
                return redirect("media_library:list")
            messages.success(request, "Média mis à jour.")
            return redirect("media_library:detail", pk=asset.pk)
    return render(request, "media_library/detail.html", {"asset": asset, "form": form, "refusal": refusal})


@login_required
@require_http_methods(["GET", "POST"])
def media_delete(request: HttpRequest, pk: int) -> HttpResponse:
    _manager_required(request)
    asset = _asset_or_404(request, pk)
    if refusal := media_change_refusal(user=request.user, entity=asset.entity):
        # Refused before the confirmation page: it would offer a deletion that cannot happen.
        raise PermissionDenied(refusal)
    if request.method == "POST":
        try:
            media_asset_delete(asset=asset, user=request.user)
        except MediaPermissionError as exc:
            raise PermissionDenied(str(exc)) from exc
        messages.success(request, f"« {asset.title} » a été supprimé.")
        return redirect("media_library:list")
    return render(request, "media_library/confirm_delete.html", {"asset": asset})


def media_file(request: HttpRequest, path: str) -> HttpResponse:
    """Public file URL of an asset when no web server serves MEDIA_ROOT/library/ itself.

    Only the library folder is exposed; every file there was re-encoded by Pillow, and is
    sent with its image type, `nosniff` and a one-year immutable cache."""
    if request.method not in ("GET", "HEAD") or ".." in PurePosixPath(path).parts:
        raise Http404
    response = serve(request, path, document_root=Path(settings.MEDIA_ROOT) / LIBRARY_PREFIX)
    response["Cache-Control"] = _IMMUTABLE
    response["X-Content-Type-Options"] = "nosniff"
    response["Cross-Origin-Resource-Policy"] = "cross-origin"
    setattr(response, LANGUAGE_INDEPENDENT, True)
    return response
