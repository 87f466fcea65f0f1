"""Shared images (§2): the landing pages of both companies use them, so only an account of
both entities (or a superuser) adds, edits or deletes one; every account reads and copies
them. Each write path is tried by a manager of ZR7 and of MDL, then by the accounts allowed."""

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.test import TestCase
from django.urls import reverse

from media_library.models import MediaAsset
from media_library.services import (
    MediaPermissionError,
    media_asset_delete,
    media_asset_update,
    media_asset_upload,
)
from media_library.tests.samples import files_under, image_bytes, upload
from tests.factories import MediaAssetFactory, MediaTagFactory

pytestmark = pytest.mark.django_db

XHR = {"HTTP_X_REQUESTED_WITH": "XMLHttpRequest"}
# The reason a single-entity account is given, wherever it tries.
REASON = "rattaché aux deux entités"


@pytest.fixture(params=["zr7_staff", "mdl_staff"])
def single(request):
    """A manager of one entity only."""
    return request.getfixturevalue(request.param)


@pytest.fixture(params=["both_staff", "superuser"])
def both(request):
    """An account that covers both entities."""
    return request.getfixturevalue(request.param)


@pytest.fixture
def shared(db):
    return MediaAssetFactory(entity="SHARED", title="Logo commun", alt_text="Logo")


def _unchanged(asset: MediaAsset, media_root) -> None:
    stored = MediaAsset.objects.get(pk=asset.pk)
    assert (stored.title, stored.alt_text, list(stored.tags.all())) == ("Logo commun", "Logo", [])
    assert (media_root / asset.file.name).exists()


# --- Services ----------------------------------------------------------------------------------
def test_a_single_entity_manager_neither_adds_edits_nor_deletes_a_shared_image(single, shared, media_root):
    before = files_under(media_root)

    with pytest.raises(MediaPermissionError, match=REASON):
        media_asset_upload(upload=upload("a.png", image_bytes("PNG")), entity="SHARED", user=single)
    with pytest.raises(MediaPermissionError, match=REASON):
        media_asset_update(asset=shared, user=single, title="Piraté", alt_text="", tags="x")
    with pytest.raises(MediaPermissionError, match=REASON):
        media_asset_delete(asset=shared, user=single)

    assert MediaAsset.objects.count() == 1
    assert files_under(media_root) == before
    _unchanged(shared, media_root)


def test_a_single_entity_manager_still_changes_its_own_entitys_images(single, media_root):
    entity = single.staff_profile.scope

    asset = media_asset_upload(upload=upload("a.png", image_bytes("PNG")), entity=entity, user=single)
    media_asset_update(asset=asset, user=single, title="Toiture", alt_text="Un toit", tags="toit")
    media_asset_delete(asset=asset, user=single)

    assert not MediaAsset.objects.exists()


def test_an_account_of_both_entities_adds_edits_and_deletes_shared_images(both, shared):
    added = media_asset_upload(upload=upload("a.png", image_bytes("PNG")), entity="SHARED", user=both)
    media_asset_update(asset=shared, user=both, title="Logo 2026", alt_text="Logo", tags="logo")
    media_asset_delete(asset=added, user=both)

    assert list(MediaAsset.objects.values_list("title", "entity")) == [("Logo 2026", "SHARED")]


# --- Back-office pages -------------------------------------------------------------------------
def test_a_single_entity_manager_reads_and_copies_a_shared_image_but_is_offered_no_change(client, single, shared):
    client.force_login(single)

    grid = client.get(reverse("media_library:list")).content.decode()
    page = client.get(reverse("media_library:detail", args=[shared.pk]))

    assert "Logo commun" in grid and f'data-url="{shared.public_url}"' in grid
    html = page.content.decode()
    assert page.status_code == 200
    assert "Copier l'URL" in html
    assert 'class="media-edit"' not in html
    assert reverse("media_library:delete", args=[shared.pk]) not in html
    assert REASON in html


def test_a_single_entity_manager_editing_a_shared_image_is_refused_with_the_reason(client, single, shared, media_root):
    client.force_login(single)

    response = client.post(
        reverse("media_library:detail", args=[shared.pk]), {"title": "Piraté", "alt_text": "", "tags": "x"}
    )

    assert response.status_code == 403
    assert REASON in response.content.decode()
    _unchanged(shared, media_root)


def test_a_single_entity_manager_deleting_a_shared_image_is_refused_with_the_reason(client, single, shared, media_root):
    client.force_login(single)
    url = reverse("media_library:delete", args=[shared.pk])

    confirm = client.get(url)
    with TestCase.captureOnCommitCallbacks(execute=True):
        response = client.post(url)

    assert confirm.status_code == 403
    assert REASON in confirm.content.decode()
    assert "Supprimer définitivement" not in confirm.content.decode()
    assert response.status_code == 403
    assert REASON in response.content.decode()
    _unchanged(shared, media_root)


def test_the_upload_page_offers_shared_only_to_accounts_of_both_entities(client, single, both_staff):
    client.force_login(single)
    single_page = client.get(reverse("media_library:upload")).content.decode()
    client.force_login(both_staff)
    both_page = client.get(reverse("media_library:upload")).content.decode()

    assert 'value="SHARED"' not in single_page
    assert f'value="{single.staff_profile.scope}"' in single_page
    assert REASON in single_page
    assert 'value="SHARED"' in both_page
    assert REASON not in both_page


def test_a_single_entity_manager_uploading_a_shared_image_gets_the_reason(client, single, media_root):
    client.force_login(single)
    data = {"entity": "SHARED"}

    response = client.post(reverse("media_library:upload"), {**data, "files": upload("a.png", image_bytes())}, **XHR)
    page = client.post(reverse("media_library:upload"), {**data, "files": upload("a.png", image_bytes())})

    assert response.status_code == 400
    assert REASON in response.json()["message"]
    assert REASON in page.content.decode()
    assert not MediaAsset.objects.exists()
    assert files_under(media_root) == []


def test_an_account_of_both_entities_uploads_edits_and_deletes_shared_images_from_the_pages(client, both, shared):
    client.force_login(both)

    added = client.post(
        reverse("media_library:upload"), {"entity": "SHARED", "files": upload("a.png", image_bytes())}, **XHR
    )
    page = client.get(reverse("media_library:detail", args=[shared.pk])).content.decode()
    edited = client.post(
        reverse("media_library:detail", args=[shared.pk]), {"title": "Logo 2026", "alt_text": "Logo", "tags": "logo"}
    )
    confirm = client.get(reverse("media_library:delete", args=[added.json()["id"]]))
    deleted = client.post(reverse("media_library:delete", args=[added.json()["id"]]))

    assert added.status_code == 201
    assert 'class="media-edit"' in page and REASON not in page
    assert edited.status_code == 302
    assert confirm.status_code == 200
    assert deleted.status_code == 302
    assert list(MediaAsset.objects.values_list("title", "entity")) == [("Logo 2026", "SHARED")]


# --- The admin ---------------------------------------------------------------------------------
def _admin(view: str, *args) -> str:
    return reverse(f"admin:media_library_mediaasset_{view}", args=args)


def test_the_admin_shows_a_shared_image_read_only_to_a_single_entity_manager(client, single, shared):
    client.force_login(single)

    page = client.get(_admin("change", shared.pk))

    html = page.content.decode()
    assert page.status_code == 200
    assert 'name="_save"' not in html
    assert _admin("delete", shared.pk) not in html
    assert shared.public_url in html
    assert REASON in html


def test_a_single_entity_manager_changes_and_deletes_no_shared_image_through_the_admin(
    client, single, shared, media_root
):
    client.force_login(single)
    selected = {"action": "delete_selected", ACTION_CHECKBOX_NAME: [shared.pk], "post": "yes", "index": 0}

    with TestCase.captureOnCommitCallbacks(execute=True):
        change = client.post(_admin("change", shared.pk), {"title": "Piraté", "alt_text": "", "tags_text": "x"})
        delete_page = client.get(_admin("delete", shared.pk))
        delete = client.post(_admin("delete", shared.pk), {"post": "yes"})
        bulk = client.post(_admin("changelist"), selected)

    assert (change.status_code, delete_page.status_code, delete.status_code, bulk.status_code) == (403,) * 4
    _unchanged(shared, media_root)


def test_the_admin_add_form_offers_shared_only_to_accounts_of_both_entities(client, single, media_root):
    client.force_login(single)

    page = client.get(_admin("add")).content.decode()
    response = client.post(
        _admin("add"),
        {"entity": "SHARED", "title": "Bandeau", "alt_text": "", "upload": upload("b.gif", image_bytes("GIF"))},
    )

    assert 'value="SHARED"' not in page
    assert REASON in page
    assert response.status_code == 200
    assert REASON in response.content.decode()
    assert not MediaAsset.objects.exists()
    assert files_under(media_root) == []


def test_an_account_of_both_entities_adds_edits_and_deletes_shared_images_in_the_admin(client, both, shared):
    client.force_login(both)

    page = client.get(_admin("change", shared.pk)).content.decode()
    added = client.post(
        _admin("add"),
        {"entity": "SHARED", "title": "Bandeau", "alt_text": "", "upload": upload("b.gif", image_bytes("GIF"))},
    )
    edited = client.post(_admin("change", shared.pk), {"title": "Logo 2026", "alt_text": "Logo", "tags_text": "logo"})
    banner = MediaAsset.objects.get(title="Bandeau")
    deleted = client.post(_admin("delete", banner.pk), {"post": "yes"})

    assert 'name="_save"' in page and REASON not in page
    assert (added.status_code, edited.status_code, deleted.status_code) == (302, 302, 302)
    assert list(MediaAsset.objects.values_list("title", "entity")) == [("Logo 2026", "SHARED")]


def test_an_account_of_both_entities_deletes_shared_images_with_the_admin_action(client, both, shared):
    client.force_login(both)
    selected = {"action": "delete_selected", ACTION_CHECKBOX_NAME: [shared.pk], "post": "yes", "index": 0}

    response = client.post(_admin("changelist"), selected)

    assert response.status_code == 302
    assert not MediaAsset.objects.exists()


# --- The API -----------------------------------------------------------------------------------
@pytest.mark.parametrize("who", ["zr7_staff", "mdl_staff", "both_staff", "superuser"])
def test_the_media_api_lists_shared_images_to_every_account_and_changes_none(request, api_client, shared, who):
    api_client.force_authenticate(request.getfixturevalue(who))
    detail = reverse("api-media-detail", args=[shared.pk])

    listed = api_client.get(reverse("api-media-list"))
    read = api_client.get(detail)
    writes = [
        api_client.post(reverse("api-media-list"), {"entity": "SHARED", "title": "Piraté"}, format="json"),
        api_client.put(detail, {"title": "Piraté"}, format="json"),
        api_client.patch(detail, {"title": "Piraté"}, format="json"),
        api_client.delete(detail),
    ]

    assert [item["title"] for item in listed.json()["results"]] == ["Logo commun"]
    assert read.json()["url"] == shared.public_url
    assert [response.status_code for response in writes] == [405] * 4
    assert MediaAsset.objects.get().title == "Logo commun"


@pytest.mark.parametrize("who", ["zr7_staff", "zr7_viewer"])
def test_the_read_only_admin_page_of_an_image_names_its_tags_and_url_in_french(request, client, shared, who):
    shared.tags.add(MediaTagFactory(name="logo"), MediaTagFactory(name="marque"))
    client.force_login(request.getfixturevalue(who))

    html = client.get(_admin("change", shared.pk)).content.decode()

    assert "URL publique" in html
    assert "logo, marque" in html
    assert "Tags text" not in html and "Public url" not in html
