"""`GET /api/v1/media/`: what a landing builder of an entity may use (§2, §13)."""

import base64

import pytest

from tests.factories import MediaAssetFactory, MediaTagFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/media/"


@pytest.fixture
def assets(db):
    zr7 = MediaAssetFactory(entity="ZR7", title="Toiture ZR7", format="PNG")
    zr7.tags.add(MediaTagFactory(name="solaire"))
    return {
        "zr7": zr7,
        "mdl": MediaAssetFactory(entity="MDL", title="Pompe MDL"),
        "shared": MediaAssetFactory(entity="SHARED", title="Logo commun"),
    }


def titles(response) -> set[str]:
    return {item["title"] for item in response.json()["results"]}


def test_an_entity_gets_its_own_images_and_the_shared_ones(api_client, zr7_viewer, assets):
    api_client.force_authenticate(zr7_viewer)

    response = api_client.get(URL, {"entity": "ZR7"})

    assert response.status_code == 200
    assert titles(response) == {"Toiture ZR7", "Logo commun"}
    item = next(i for i in response.json()["results"] if i["title"] == "Toiture ZR7")
    assert item["url"] == f"https://rdz.example/media/{assets['zr7'].file.name}"
    assert item["tags"] == ["solaire"]
    assert item["img_snippet"].startswith('<img src="https://rdz.example/media/')
    assert {"width", "height", "size", "format", "alt_text", "thumbnail_url"} <= item.keys()


def test_a_zr7_account_asking_for_mdl_is_refused(api_client, zr7_staff, assets):
    api_client.force_authenticate(zr7_staff)

    response = api_client.get(URL, {"entity": "MDL"})

    assert response.status_code == 403
    assert response.json()["detail"] == "Vous n'avez pas accès à l'entité MDL."


def test_a_superuser_asking_for_mdl_gets_mdl_and_shared(api_client, superuser, assets):
    api_client.force_authenticate(superuser)

    response = api_client.get(URL, {"entity": "MDL"})

    assert titles(response) == {"Pompe MDL", "Logo commun"}


def test_without_entity_the_account_scope_applies(api_client, mdl_staff, assets):
    api_client.force_authenticate(mdl_staff)

    response = api_client.get(URL)

    assert titles(response) == {"Pompe MDL", "Logo commun"}


def test_unknown_entity_or_format_is_a_french_400(api_client, zr7_staff, assets):
    api_client.force_authenticate(zr7_staff)

    assert api_client.get(URL, {"entity": "XYZ"}).json() == {"entity": ["Entité inconnue : ZR7 ou MDL."]}
    assert api_client.get(URL, {"image_format": "BMP"}).status_code == 400


def test_filters_by_tag_format_and_title(api_client, zr7_staff, assets):
    api_client.force_authenticate(zr7_staff)

    assert titles(api_client.get(URL, {"entity": "ZR7", "tag": "solaire"})) == {"Toiture ZR7"}
    assert titles(api_client.get(URL, {"entity": "ZR7", "q": "logo"})) == {"Logo commun"}
    assert titles(api_client.get(URL, {"entity": "ZR7", "image_format": "GIF"})) == set()


def test_http_basic_authentication_works_for_scripts(api_client, zr7_staff, assets):
    token = base64.b64encode(b"zr7-staff:motdepasse-solide-42").decode()

    response = api_client.get(URL, {"entity": "ZR7"}, HTTP_AUTHORIZATION=f"Basic {token}")

    assert response.status_code == 200
    assert titles(response) == {"Toiture ZR7", "Logo commun"}


def test_anonymous_and_unprofiled_accounts_are_refused(api_client, assets):
    from tests.factories import UserFactory

    assert api_client.get(URL).status_code == 401
    api_client.force_authenticate(UserFactory(username="sans-profil"))
    assert api_client.get(URL).status_code == 403


def test_the_detail_of_an_mdl_image_does_not_exist_for_zr7(api_client, zr7_staff, assets):
    api_client.force_authenticate(zr7_staff)

    assert api_client.get(f"{URL}{assets['shared'].pk}/").status_code == 200
    assert api_client.get(f"{URL}{assets['mdl'].pk}/").status_code == 404


def test_the_endpoint_is_documented_in_the_openapi_schema(api_client, superuser):
    api_client.force_authenticate(superuser)

    response = api_client.get("/api/schema/", HTTP_ACCEPT="application/json")

    assert response.status_code == 200
    assert "/api/v1/media/" in response.content.decode()
