"""Who may call the staff API (§15): a call without credentials is told to authenticate (401
and its challenge); a signed-in account without the right is refused (403)."""

import base64

import pytest
from drf_spectacular.generators import SchemaGenerator

from leads.models import LeadForm
from tests.factories import LeadFormFactory, MediaAssetFactory, UserFactory

pytestmark = pytest.mark.django_db

STAFF_API = [
    ("get", "/api/v1/stats/daily/"),
    ("get", "/api/v1/forms/{code}/stats/"),
    ("get", "/api/v1/forms/{code}/"),
    ("patch", "/api/v1/forms/{code}/"),
    ("get", "/api/v1/media/"),
    ("get", "/api/v1/media/{id}/"),
]


@pytest.fixture
def call(api_client, product):
    form = LeadFormFactory(code="pv-sud", entity="ZR7", product=product, name="Formulaire PV")
    asset = MediaAssetFactory(entity="ZR7")

    def call(method: str, path: str, **headers):
        url = path.format(code=form.code, id=asset.pk)
        body = {"name": "Renommé"} if method == "patch" else None
        return getattr(api_client, method)(url, body, format="json", **headers)

    return call


def test_every_staff_endpoint_of_the_schema_is_covered_here():
    schema = SchemaGenerator().get_schema(request=None, public=True)
    staff = {
        (method, path)
        for path, operations in schema["paths"].items()
        for method, operation in operations.items()
        if {"cookieAuth": []} in operation.get("security", [])
    }
    assert staff == set(STAFF_API)


@pytest.mark.parametrize(("method", "path"), STAFF_API)
def test_a_call_without_credentials_is_401_with_a_challenge(call, method, path):
    response = call(method, path)

    assert response.status_code == 401, response.content
    assert response["WWW-Authenticate"].startswith("Basic ")
    assert response.json() == {"detail": "Informations d'authentification non fournies."}
    assert LeadForm.objects.get().name == "Formulaire PV"


@pytest.mark.parametrize(("method", "path"), STAFF_API)
def test_a_wrong_password_is_401(call, zr7_staff, method, path):
    credentials = base64.b64encode(b"zr7-staff:pas-le-bon").decode()

    response = call(method, path, HTTP_AUTHORIZATION=f"Basic {credentials}")

    assert response.status_code == 401, response.content
    assert "WWW-Authenticate" in response


@pytest.mark.parametrize(("method", "path"), STAFF_API)
def test_a_signed_in_account_without_the_right_stays_403(api_client, call, method, path):
    api_client.force_login(UserFactory(username="sans-profil"))

    response = call(method, path)

    assert response.status_code == 403, response.content
    assert "WWW-Authenticate" not in response
    assert LeadForm.objects.get().name == "Formulaire PV"
