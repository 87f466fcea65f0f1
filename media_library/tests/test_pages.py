"""Back-office pages and admin of the media library: scoping (§2) and roles."""

import re

import pytest
from django.urls import reverse

from media_library.models import MediaAsset
from media_library.tests.samples import HTML, files_under, image_bytes, upload
from tests.factories import MediaAssetFactory, MediaTagFactory

pytestmark = pytest.mark.django_db

XHR = {"HTTP_X_REQUESTED_WITH": "XMLHttpRequest"}


@pytest.fixture
def assets(db):
    solar = MediaTagFactory(name="solaire")
    zr7 = MediaAssetFactory(entity="ZR7", title="Toiture ZR7")
    zr7.tags.add(solar)
    return {
        "zr7": zr7,
        "mdl": MediaAssetFactory(entity="MDL", title="Pompe MDL"),
        "shared": MediaAssetFactory(entity="SHARED", title="Logo commun"),
    }


def test_anonymous_visitors_are_sent_to_the_login_page(client, settings):
    response = client.get(reverse("media_library:list"))

    assert response.status_code == 302
    assert response["Location"].startswith(settings.LOGIN_URL)


def test_a_zr7_account_sees_its_images_and_the_shared_ones_never_mdl(client, zr7_viewer, assets):
    client.force_login(zr7_viewer)

    response = client.get(reverse("media_library:list"))

    assert response.status_code == 200
    listed = {asset.title for asset in response.context["page"].object_list}
    assert listed == {"Toiture ZR7", "Logo commun"}
    assert "Pompe MDL" not in response.content.decode()
    assert "Copier l'URL" in response.content.decode()


def test_a_superuser_sees_both_entities(client, superuser, assets):
    client.force_login(superuser)

    response = client.get(reverse("media_library:list"))

    assert {a.title for a in response.context["page"].object_list} == {"Toiture ZR7", "Pompe MDL", "Logo commun"}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"entity": "SHARED"}, {"Logo commun"}),
        ({"entity": "ZR7"}, {"Toiture ZR7"}),
        ({"entity": "MDL"}, {"Toiture ZR7", "Logo commun"}),  # not offered: the filter is ignored
        ({"tag": "solaire"}, {"Toiture ZR7"}),
        ({"q": "logo"}, {"Logo commun"}),
        ({"format": "JPEG"}, set()),
    ],
)
def test_the_grid_filters_by_entity_tag_title_and_format(client, zr7_staff, assets, query, expected):
    client.force_login(zr7_staff)

    response = client.get(reverse("media_library:list"), query)

    assert {a.title for a in response.context["page"].object_list} == expected


def test_the_entity_switcher_narrows_the_grid_but_shared_images_stay(client, superuser, assets):
    from rdz.core.backoffice import SESSION_ENTITY_KEY

    client.force_login(superuser)
    session = client.session
    session[SESSION_ENTITY_KEY] = "MDL"
    session.save()

    response = client.get(reverse("media_library:list"))

    assert {a.title for a in response.context["page"].object_list} == {"Pompe MDL", "Logo commun"}


def test_the_grid_is_paginated(client, zr7_staff, settings):
    MediaAssetFactory.create_batch(26, entity="ZR7")
    client.force_login(zr7_staff)

    first = client.get(reverse("media_library:list"))
    second = client.get(reverse("media_library:list"), {"page": 2})

    assert len(first.context["page"].object_list) == 24
    assert len(second.context["page"].object_list) == 2


def test_a_manager_uploads_one_file_per_request_and_gets_a_french_result(client, zr7_staff, media_root):
    client.force_login(zr7_staff)

    response = client.post(
        reverse("media_library:upload"),
        {"entity": "ZR7", "tags": "logo", "alt_text": "Logo", "files": upload("logo.png", image_bytes("PNG"))},
        **XHR,
    )

    assert response.status_code == 201
    body = response.json()
    assert body["ok"] is True
    assert body["message"].startswith("« logo.png » ajouté")
    asset = MediaAsset.objects.get(pk=body["id"])
    assert asset.entity == "ZR7"
    assert body["url"] == f"https://rdz.example/media/{asset.file.name}"


def test_a_refused_file_gets_its_own_message_and_leaves_nothing(client, zr7_staff, media_root):
    client.force_login(zr7_staff)

    response = client.post(reverse("media_library:upload"), {"entity": "ZR7", "files": upload("page.png", HTML)}, **XHR)

    assert response.status_code == 400
    assert response.json()["message"].startswith("« page.png » refusé : Ce fichier n'est pas une image")
    assert files_under(media_root) == []
    assert not MediaAsset.objects.exists()


def test_without_javascript_several_files_each_get_a_message(client, zr7_staff, media_root):
    client.force_login(zr7_staff)

    response = client.post(
        reverse("media_library:upload"),
        {"entity": "ZR7", "files": [upload("a.png", image_bytes("PNG")), upload("b.png", HTML)]},
        follow=True,
    )

    texts = [str(m) for m in response.context["messages"]]
    assert any(t.startswith("« a.png » ajouté") for t in texts)
    assert any(t.startswith("« b.png » refusé") for t in texts)
    assert MediaAsset.objects.count() == 1


def test_a_request_announcing_too_many_bytes_is_refused_before_its_body_is_read(client, zr7_staff, settings):
    settings.MEDIA_MAX_UPLOAD_BYTES = 1000
    client.force_login(zr7_staff)

    response = client.post(
        reverse("media_library:upload"),
        {"entity": "ZR7", "files": upload("big.png", b"x" * 200_000)},
        **XHR,
    )

    assert response.status_code == 413
    assert "trop volumineux" in response.json()["message"]


def test_a_request_with_a_malformed_length_gets_a_french_refusal(client, zr7_staff, media_root):
    client.force_login(zr7_staff)

    response = client.post(
        reverse("media_library:upload"),
        {"entity": "ZR7", "files": upload("a.png", image_bytes())},
        CONTENT_LENGTH="12abc",
        **XHR,
    )

    assert response.status_code == 400
    assert response.json() == {"ok": False, "message": "Requête invalide : longueur du contenu incorrecte."}
    assert not MediaAsset.objects.exists()


def test_a_file_over_the_limit_is_cut_off_while_streaming(client, zr7_staff, settings, media_root):
    big = image_bytes("PNG", (120, 120), compress_level=0)
    settings.MEDIA_MAX_UPLOAD_BYTES = len(big) - 10
    client.force_login(zr7_staff)

    response = client.post(
        reverse("media_library:upload"),
        {"entity": "ZR7", "files": [upload("small.png", image_bytes("PNG", (4, 4))), upload("big.png", big)]},
        follow=True,
    )

    texts = [str(m) for m in response.context["messages"]]
    assert any(t.startswith("« big.png » refusé : trop volumineux") for t in texts)
    assert list(MediaAsset.objects.values_list("original_name", flat=True)) == ["small.png"]


def test_a_viewer_cannot_upload(client, zr7_viewer, media_root):
    client.force_login(zr7_viewer)

    page = client.get(reverse("media_library:upload"))
    post = client.post(
        reverse("media_library:upload"), {"entity": "ZR7", "files": upload("a.png", image_bytes("PNG"))}, **XHR
    )

    assert page.status_code == 403
    assert post.status_code == 403
    assert files_under(media_root) == []


def test_a_zr7_manager_cannot_upload_for_mdl(client, zr7_staff, media_root):
    client.force_login(zr7_staff)

    response = client.post(
        reverse("media_library:upload"), {"entity": "MDL", "files": upload("a.png", image_bytes("PNG"))}, **XHR
    )

    assert response.status_code == 400
    assert "Entité" in response.json()["message"]
    assert files_under(media_root) == []


def test_a_file_sent_without_its_entity_gets_a_french_field_error(client, zr7_staff, media_root):
    client.force_login(zr7_staff)

    response = client.post(reverse("media_library:upload"), {"files": upload("a.png", image_bytes("PNG"))}, **XHR)
    page = client.post(reverse("media_library:upload"), {"files": upload("a.png", image_bytes("PNG"))})

    assert response.status_code == 400
    assert response.json()["message"] == "Entité : Ce champ est obligatoire."
    assert "Ce champ est obligatoire." in page.content.decode()
    assert files_under(media_root) == []


def test_an_edit_posted_without_fields_gets_a_french_field_error(client, zr7_staff, assets):
    client.force_login(zr7_staff)

    response = client.post(reverse("media_library:detail", args=[assets["zr7"].pk]))

    assert "Ce champ est obligatoire." in response.content.decode()
    assets["zr7"].refresh_from_db()
    assert assets["zr7"].title == "Toiture ZR7"


def test_the_upload_form_checks_the_csrf_token(zr7_staff, media_root):
    from django.test import Client

    csrf_client = Client(enforce_csrf_checks=True)
    csrf_client.force_login(zr7_staff)

    response = csrf_client.post(
        reverse("media_library:upload"), {"entity": "ZR7", "files": upload("a.png", image_bytes("PNG"))}, **XHR
    )

    assert response.status_code == 403
    assert files_under(media_root) == []


def test_the_detail_shows_size_url_and_an_img_snippet(client, zr7_viewer, assets):
    client.force_login(zr7_viewer)
    asset = assets["zr7"]

    response = client.get(reverse("media_library:detail", args=[asset.pk]))

    html = response.content.decode()
    assert response.status_code == 200
    assert f"{asset.size} octets" in html.replace("\xa0", " ")
    assert (
        f"&lt;img src=&quot;https://rdz.example/media/{asset.file.name}&quot; alt=&quot;Une image de test&quot;" in html
    )
    assert "Supprimer" not in html  # viewers read only


def test_detail_of_a_shared_image_is_visible_and_mdl_is_not_found(client, zr7_viewer, assets):
    client.force_login(zr7_viewer)

    assert client.get(reverse("media_library:detail", args=[assets["shared"].pk])).status_code == 200
    assert client.get(reverse("media_library:detail", args=[assets["mdl"].pk])).status_code == 404


def test_a_manager_edits_title_alt_text_and_tags(client, zr7_staff, assets):
    client.force_login(zr7_staff)
    asset = assets["zr7"]

    response = client.post(
        reverse("media_library:detail", args=[asset.pk]),
        {"title": "Toiture neuve", "alt_text": "Une toiture solaire", "tags": "Toiture, solaire"},
    )

    asset.refresh_from_db()
    assert response.status_code == 302
    assert (asset.title, asset.alt_text) == ("Toiture neuve", "Une toiture solaire")
    assert sorted(asset.tags.values_list("name", flat=True)) == ["solaire", "toiture"]


def test_a_viewer_cannot_edit(client, zr7_viewer, assets):
    client.force_login(zr7_viewer)

    response = client.post(reverse("media_library:detail", args=[assets["zr7"].pk]), {"title": "x"})

    assert response.status_code == 403


def test_delete_asks_for_confirmation_then_removes_files(client, zr7_staff, assets, media_root):
    client.force_login(zr7_staff)
    asset = assets["zr7"]
    path = media_root / asset.file.name
    assert path.exists()

    confirm = client.get(reverse("media_library:delete", args=[asset.pk]))
    assert confirm.status_code == 200
    assert "Supprimer définitivement" in confirm.content.decode()
    assert MediaAsset.objects.filter(pk=asset.pk).exists()

    # The test client runs in a transaction: run the after-commit file removal.
    from django.test import TestCase

    with TestCase.captureOnCommitCallbacks(execute=True):
        response = client.post(reverse("media_library:delete", args=[asset.pk]))

    assert response.status_code == 302
    assert not MediaAsset.objects.filter(pk=asset.pk).exists()
    assert not path.exists()


def test_delete_is_forbidden_to_viewers_and_mdl_images_do_not_exist_for_zr7(client, zr7_viewer, zr7_staff, assets):
    client.force_login(zr7_viewer)
    assert client.post(reverse("media_library:delete", args=[assets["zr7"].pk])).status_code == 403
    client.force_login(zr7_staff)
    assert client.post(reverse("media_library:delete", args=[assets["mdl"].pk])).status_code == 404
    assert MediaAsset.objects.count() == 3


def test_the_public_url_serves_the_image_with_long_cache_headers(client, assets):
    asset = assets["zr7"]

    response = client.get(f"/media/{asset.file.name}")

    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert "immutable" in response["Cache-Control"]
    assert response["X-Content-Type-Options"] == "nosniff"
    assert b"".join(response.streaming_content).startswith(b"\x89PNG")


def test_the_public_url_does_not_vary_with_the_visitors_language(client, assets):
    # An image is the same for every visitor: a cache in front (CDN, proxy) must keep one
    # copy, not one per Accept-Language header, and some caches store nothing that varies.
    asset = assets["zr7"]

    response = client.get(f"/media/{asset.file.name}", HTTP_ACCEPT_LANGUAGE="fr-FR,fr;q=0.9,en;q=0.8")

    assert response.status_code == 200
    assert "accept-language" not in response.get("Vary", "").lower()
    assert "Content-Language" not in response


def test_only_the_library_folder_is_public(client, media_root):
    (media_root / "private.csv").write_text("secret")

    assert client.get("/media/library/../private.csv").status_code == 404
    assert client.get("/media/library/%2e%2e/private.csv").status_code == 404


def test_the_admin_list_is_scoped_and_offers_the_multi_upload(client, zr7_staff, assets):
    client.force_login(zr7_staff)

    response = client.get(reverse("admin:media_library_mediaasset_changelist"))
    upload_page = client.get(reverse("admin:media_library_mediaasset_bulk_upload"))

    html = response.content.decode()
    assert "Toiture ZR7" in html and "Logo commun" in html
    assert "Pompe MDL" not in html
    assert upload_page.status_code == 200
    assert 'class="dropzone"' in upload_page.content.decode()


def test_the_admin_add_form_uses_the_same_checks(client, zr7_staff, media_root):
    client.force_login(zr7_staff)
    url = reverse("admin:media_library_mediaasset_add")

    refused = client.post(url, {"entity": "ZR7", "title": "", "alt_text": "", "upload": upload("x.png", HTML)})
    accepted = client.post(
        url, {"entity": "ZR7", "title": "Bandeau", "alt_text": "", "upload": upload("b.gif", image_bytes("GIF"))}
    )

    assert refused.status_code == 200
    assert "pas une image acceptée" in refused.content.decode()
    assert accepted.status_code == 302
    asset = MediaAsset.objects.get()
    assert (asset.title, asset.entity, asset.format) == ("Bandeau", "ZR7", "GIF")


def test_the_admin_add_form_refuses_a_file_over_the_limit_before_reading_it(client, zr7_staff, settings, media_root):
    """As the back-office upload page: the announced length is judged before anything (the
    CSRF check first) reads the body, so a huge file never fills the server's disk."""
    settings.MEDIA_MAX_UPLOAD_BYTES = 1000
    client.force_login(zr7_staff)
    url = reverse("admin:media_library_mediaasset_add")
    data = {"entity": "ZR7", "title": "", "alt_text": "", "upload": upload("big.png", image_bytes())}

    # Announces far more than it sends: reading the body would fail the request.
    response = client.post(url, data, CONTENT_LENGTH=str(50 * 1024 * 1024), follow=True)

    assert response.redirect_chain == [(url, 302)]
    texts = [str(m) for m in response.context["messages"]]
    assert "Fichier trop volumineux : la limite est de 1000\xa0octets par fichier." in texts
    assert not MediaAsset.objects.exists()


def test_the_admin_add_form_still_checks_the_csrf_token(zr7_staff, media_root):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(zr7_staff)
    url = reverse("admin:media_library_mediaasset_add")

    response = client.post(url, {"entity": "ZR7", "title": "B", "upload": upload("b.gif", image_bytes("GIF"))})

    assert response.status_code == 403
    assert not MediaAsset.objects.exists()


def test_the_admin_never_shows_an_mdl_image_to_zr7(client, zr7_staff, assets):
    client.force_login(zr7_staff)

    response = client.get(reverse("admin:media_library_mediaasset_change", args=[assets["mdl"].pk]))

    assert response.status_code == 302  # the admin redirects unknown objects to its index
    assert MediaAsset.objects.filter(pk=assets["mdl"].pk).exists()


def test_the_admin_edits_an_image_through_the_service(client, zr7_staff, assets):
    client.force_login(zr7_staff)
    asset = assets["zr7"]
    url = reverse("admin:media_library_mediaasset_change", args=[asset.pk])

    page = client.get(url)
    response = client.post(url, {"title": "Logo 2026", "alt_text": "Logo RDZ", "tags_text": "logo, marque"})

    assert page.status_code == 200
    assert response.status_code == 302
    asset.refresh_from_db()
    assert (asset.title, asset.alt_text) == ("Logo 2026", "Logo RDZ")
    assert sorted(asset.tags.values_list("name", flat=True)) == ["logo", "marque"]


def test_the_admin_refuses_to_clear_the_title_of_an_image(client, zr7_staff, assets):
    client.force_login(zr7_staff)
    asset = assets["zr7"]
    url = reverse("admin:media_library_mediaasset_change", args=[asset.pk])

    response = client.post(url, {"title": " ", "alt_text": "Toiture", "tags_text": ""})

    assert response.status_code == 200
    assert "Ce champ est obligatoire." in response.content.decode()
    asset.refresh_from_db()
    assert asset.title == "Toiture ZR7"


def test_an_edit_is_audited_once_with_what_changed_and_a_save_without_change_is_not(client, zr7_staff, assets):
    from rdz.core.models import AuditLog

    client.force_login(zr7_staff)
    asset = assets["zr7"]
    admin_url = reverse("admin:media_library_mediaasset_change", args=[asset.pk])

    client.post(admin_url, {"title": "Toiture neuve", "alt_text": "Une image de test", "tags_text": "solaire, toit"})
    client.post(admin_url, {"title": "Toiture neuve", "alt_text": "Une image de test", "tags_text": "solaire, toit"})
    client.post(
        reverse("media_library:detail", args=[asset.pk]),
        {"title": "Toiture neuve", "alt_text": "Un toit", "tags": "toit, solaire"},
    )

    messages = list(AuditLog.objects.filter(action="media.update").order_by("id").values_list("message", flat=True))
    assert messages == [
        "Toiture neuve : titre « Toiture ZR7 » → « Toiture neuve » ; étiquettes « solaire » → « solaire, toit »",
        "Toiture neuve : texte alternatif « Une image de test » → « Un toit »",
    ]


def test_admin_viewers_read_but_neither_add_nor_bulk_upload(client, zr7_viewer, assets):
    client.force_login(zr7_viewer)

    assert client.get(reverse("admin:media_library_mediaasset_changelist")).status_code == 200
    assert client.get(reverse("admin:media_library_mediaasset_add")).status_code == 403
    assert client.get(reverse("admin:media_library_mediaasset_bulk_upload")).status_code == 403


def test_an_empty_public_base_falls_back_to_the_site_url(settings, assets):
    settings.MEDIA_PUBLIC_URL = ""
    settings.SITE_URL = "https://crm.example.fr"

    assert assets["zr7"].public_url == f"https://crm.example.fr/media/{assets['zr7'].file.name}"


def test_editing_an_image_deleted_meanwhile_says_so_instead_of_a_server_error(client, zr7_staff, monkeypatch):
    """The page read the image, then another account deleted it before the edit was saved."""
    from media_library import views

    asset = MediaAssetFactory(entity="ZR7", title="Toit")
    read = views._asset_or_404

    def read_then_deleted_elsewhere(request, pk):
        found = read(request, pk)
        MediaAsset.objects.filter(pk=pk).delete()
        return found

    monkeypatch.setattr(views, "_asset_or_404", read_then_deleted_elsewhere)
    client.force_login(zr7_staff)
    response = client.post(
        reverse("media_library:detail", args=[asset.pk]), {"title": "Toit 2", "alt_text": "", "tags": ""}, follow=True
    )
    assert response.status_code == 200
    assert "supprimé entre-temps" in response.content.decode()
    assert not MediaAsset.objects.exists()


@pytest.mark.parametrize(
    ("size", "shown"), [(76, r"<td>76 octets</td>"), (2048, r"<td>2,0 K\S* \(2\D?048 octets\)</td>")]
)
def test_the_detail_page_gives_the_size_in_bytes_only_when_it_adds_something(client, zr7_staff, size, shown):
    asset = MediaAssetFactory(entity="ZR7")
    MediaAsset.objects.filter(pk=asset.pk).update(size=size)
    client.force_login(zr7_staff)
    page = client.get(reverse("media_library:detail", args=[asset.pk])).content.decode()
    assert re.search(shown, page.replace("\xa0", " ")), shown
