"""Comptes (§2): admins create and edit staff accounts within their own entities."""

import pytest
from django.contrib.auth import get_user_model

from rdz.core.models import AuditLog
from tests.factories import StaffProfileFactory, UserFactory

pytestmark = pytest.mark.django_db
User = get_user_model()
PASSWORD = "Un-mot-de-passe-solide-2026"


def _create(client, **changes):
    data = {
        "username": "nouveau",
        "first_name": "Léa",
        "last_name": "Martin",
        "email": "lea@zr7.fr",
        "scope": "ZR7",
        "role": "viewer",
        "password1": PASSWORD,
        "password2": PASSWORD,
    }
    data.update(changes)
    return client.post("/comptes/nouveau/", data)


def test_an_admin_creates_a_viewer_account_that_can_log_in_and_only_read(client, zr7_admin):
    client.force_login(zr7_admin)
    assert _create(client).status_code == 302
    user = User.objects.get(username="nouveau")
    assert user.staff_profile.scope == "ZR7" and user.staff_profile.role == "viewer"
    assert AuditLog.objects.filter(action="account_create", entity="ZR7").exists()
    client.logout()
    response = client.post("/connexion/", {"username": "nouveau", "password": PASSWORD})
    assert response.status_code == 302
    assert client.get("/").status_code == 200
    assert client.post("/parametres/", {}).status_code == 403


def test_an_admin_cannot_give_access_to_an_entity_it_does_not_have(client, zr7_admin):
    client.force_login(zr7_admin)
    response = _create(client, scope="MDL")
    assert response.status_code == 400
    response = _create(client, scope="BOTH")
    assert response.status_code == 400
    assert not User.objects.filter(username="nouveau").exists()


def test_a_weak_or_mismatched_password_is_refused_in_french(client, zr7_admin):
    client.force_login(zr7_admin)
    response = _create(client, password1="1234", password2="1234")
    assert response.status_code == 400
    assert "Ce mot de passe est trop court" in response.content.decode()
    response = _create(client, password2="autre-chose-2026")
    assert "Les deux mots de passe ne correspondent pas." in response.content.decode()


def test_a_taken_username_or_a_weak_password_is_shown_next_to_its_field(client, zr7_admin):
    """Refused by the service, they were shown above the form, unstyled, pushing every field
    aside: the user had to guess which field to correct; what was typed stays."""
    client.force_login(zr7_admin)
    StaffProfileFactory(user=UserFactory(username="deja-la"), scope="ZR7", role="viewer")
    response = _create(client, username="deja-la", first_name="Zoé")
    form = response.context["form"]
    assert form.errors == {"username": ["L'identifiant « deja-la » est déjà pris."]}
    assert form["first_name"].value() == "Zoé"
    response = _create(client, password1="1234", password2="1234")
    form = response.context["form"]
    assert list(form.errors) == ["password1"]
    assert form.errors["password1"][0].startswith("Ce mot de passe est trop court")
    assert not form.non_field_errors()


def test_an_admin_edits_and_resets_only_accounts_of_its_entities(client, zr7_admin):
    zr7_user = StaffProfileFactory(user=UserFactory(username="zr7-agent"), scope="ZR7", role="viewer").user
    mdl_user = StaffProfileFactory(user=UserFactory(username="mdl-agent"), scope="MDL", role="viewer").user
    client.force_login(zr7_admin)
    page = client.get("/comptes/").content.decode()
    assert "zr7-agent" in page and "mdl-agent" not in page
    assert client.get(f"/comptes/{mdl_user.pk}/").status_code == 404
    response = client.post(
        f"/comptes/{zr7_user.pk}/",
        {"username": "zr7-agent", "scope": "ZR7", "role": "manager", "email": "", "is_active": "on"},
    )
    assert response.status_code == 302
    zr7_user.refresh_from_db()
    assert zr7_user.staff_profile.role == "manager"
    response = client.post(f"/comptes/{zr7_user.pk}/", {"password1": PASSWORD, "password2": PASSWORD})
    assert response.status_code == 302
    zr7_user.refresh_from_db()
    assert zr7_user.check_password(PASSWORD)
    assert AuditLog.objects.filter(action="account_password").count() == 1


def test_managers_and_viewers_cannot_open_the_accounts_page(client, zr7_staff, zr7_viewer):
    for user in (zr7_staff, zr7_viewer):
        client.force_login(user)
        assert client.get("/comptes/").status_code == 403
        assert _create(client).status_code == 403


def test_a_new_account_form_starts_with_the_read_only_role(client, zr7_admin):
    client.force_login(zr7_admin)

    page = client.get("/comptes/nouveau/").content.decode()

    assert '<option value="viewer" selected>Lecteur</option>' in page
    assert '<option value="admin" selected>' not in page


@pytest.mark.parametrize("username", ["léa martin", "lea<b>", "lea/zr7"])
def test_a_username_the_django_admin_would_refuse_is_refused_next_to_its_field(client, zr7_admin, username):
    # Created here, such an account could no longer be saved from the Django admin.
    client.force_login(zr7_admin)
    response = _create(client, username=username)
    assert response.status_code == 400
    [error] = response.context["form"].errors["username"]
    assert error.startswith("Saisissez un nom d’utilisateur valide. Il ne peut contenir que des lettres")
    assert not User.objects.filter(username=username).exists()


def test_deactivating_an_account_ends_its_sessions_and_its_api_token(client, zr7_admin, zr7_staff):
    """Refused while the account was inactive, its open sessions (and its API token) used to
    come back to life when it was reactivated: a suspended account reopened on the browser
    or the script that held it, without a new login."""
    from django.test import Client
    from rest_framework.authtoken.models import Token
    from rest_framework.test import APIClient

    browser = Client()
    browser.force_login(zr7_staff)
    token = Token.objects.create(user=zr7_staff)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    other = StaffProfileFactory(user=UserFactory(username="zr7-other"), scope="ZR7", role="viewer").user
    kept = Client()
    kept.force_login(other)
    assert browser.get("/").status_code == 200
    client.force_login(zr7_admin)
    data = {"username": "zr7-staff", "scope": "ZR7", "role": "manager", "email": "", "first_name": "", "last_name": ""}

    assert client.post(f"/comptes/{zr7_staff.pk}/", data).status_code == 302
    assert client.post(f"/comptes/{zr7_staff.pk}/", {**data, "is_active": "on"}).status_code == 302

    assert browser.get("/").status_code == 302
    assert api.get("/api/v1/stats/daily/").status_code == 401
    assert not Token.objects.filter(user=zr7_staff).exists()
    assert kept.get("/").status_code == 200
    assert client.get("/comptes/").status_code == 200
