"""Entity scoping in the Django admin (§2): a ZR7 account never sees nor changes MDL data."""

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from commandes.models import Client, Commande
from rdz.core.models import AppSettings, AuditLog, SettingsAudit, StaffProfile
from rdz.core.services import settings_get, settings_update
from tests.factories import (
    ClientFactory,
    CommandeFactory,
    LeadFactory,
    ProviderFactory,
    StaffProfileFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db
User = get_user_model()


@pytest.fixture
def rows(product):
    """One lead, client, commande and provider per entity, with recognizable names."""
    data = {}
    for entity in ("ZR7", "MDL"):
        client = ClientFactory(entity=entity, name=f"Client-{entity}-unique")
        data[entity] = {
            "lead": LeadFactory(entity=entity, product=product, last_name=f"Nom{entity}Unique"),
            "client": client,
            "commande": CommandeFactory(client=client, product=product, name=f"Commande-{entity}-unique"),
            "provider": ProviderFactory(entity=entity, name=f"Provider-{entity}-unique"),
        }
    return data


MODELS = [
    ("lead", "leads_lead"),
    ("client", "commandes_client"),
    ("commande", "commandes_commande"),
    ("provider", "providers_provider"),
]


@pytest.mark.parametrize(("key", "admin_name"), MODELS)
def test_a_zr7_manager_cannot_open_an_mdl_object_even_by_url(client, zr7_staff, rows, key, admin_name):
    client.force_login(zr7_staff)
    mdl_obj = rows["MDL"][key]
    response = client.get(reverse(f"admin:{admin_name}_change", args=[mdl_obj.pk]))
    assert response.status_code in (302, 403, 404)
    if response.status_code == 302:
        assert str(mdl_obj.pk) not in response["Location"]
    own = client.get(reverse(f"admin:{admin_name}_change", args=[rows["ZR7"][key].pk]))
    assert own.status_code == 200


@pytest.mark.parametrize(("key", "admin_name"), MODELS)
def test_a_zr7_manager_cannot_change_an_mdl_object_by_post(client, zr7_staff, rows, key, admin_name):
    client.force_login(zr7_staff)
    mdl_obj = rows["MDL"][key]
    response = client.post(reverse(f"admin:{admin_name}_change", args=[mdl_obj.pk]), {"name": "piraté"})
    assert response.status_code in (302, 403, 404)
    mdl_obj.refresh_from_db()
    assert getattr(mdl_obj, "name", "") != "piraté"


@pytest.mark.parametrize(
    ("admin_name", "text"),
    [
        ("leads_lead", "Nom{}Unique"),
        ("commandes_client", "Client-{}-unique"),
        ("commandes_commande", "Commande-{}-unique"),
        ("providers_provider", "Provider-{}-unique"),
    ],
)
def test_changelists_show_only_the_accounts_entities(client, zr7_staff, mdl_staff, superuser, rows, admin_name, text):
    url = reverse(f"admin:{admin_name}_changelist")
    client.force_login(zr7_staff)
    page = client.get(url).content.decode()
    assert text.format("ZR7") in page and text.format("MDL") not in page
    client.force_login(mdl_staff)
    page = client.get(url).content.decode()
    assert text.format("MDL") in page and text.format("ZR7") not in page
    client.force_login(superuser)
    page = client.get(url).content.decode()
    assert text.format("MDL") in page and text.format("ZR7") in page


def test_a_filter_on_the_other_entity_in_the_url_shows_nothing(client, zr7_staff, rows):
    client.force_login(zr7_staff)
    page = client.get(reverse("admin:leads_lead_changelist") + "?entity__exact=MDL").content.decode()
    assert "NomMDLUnique" not in page


def test_a_viewer_reads_but_cannot_change(client, zr7_viewer, rows):
    client.force_login(zr7_viewer)
    commande = rows["ZR7"]["commande"]
    url = reverse("admin:commandes_commande_change", args=[commande.pk])
    assert client.get(url).status_code == 200
    response = client.post(url, {"weekly_quota": 999})
    assert response.status_code == 403
    commande.refresh_from_db()
    assert commande.weekly_quota != 999
    assert client.get(reverse("admin:commandes_client_add")).status_code == 403


def test_a_viewer_cannot_run_the_commande_actions(client, zr7_viewer, rows):
    client.force_login(zr7_viewer)
    commande = rows["ZR7"]["commande"]
    client.post(
        reverse("admin:commandes_commande_changelist"),
        {"action": "deactivate", "_selected_action": [commande.pk]},
    )
    commande.refresh_from_db()
    assert commande.active is True


def test_entity_choices_are_limited_to_the_accounts_entities(client, zr7_staff, rows):
    client.force_login(zr7_staff)
    page = client.get(reverse("admin:commandes_client_add")).content.decode()
    assert 'value="ZR7"' in page and 'value="MDL"' not in page
    response = client.post(
        reverse("admin:commandes_client_add"),
        {
            "entity": "MDL",
            "name": "Intrus",
            "emails": "[]",
            "api_auth_header": "Authorization",
            "api_timeout_seconds": 10,
        },
    )
    assert response.status_code == 200  # the form comes back with an error
    assert not Client.objects.filter(name="Intrus").exists()


def test_a_delivery_url_typed_without_its_scheme_is_taken_as_https(client, zr7_staff, rows):
    client.force_login(zr7_staff)
    response = client.post(
        reverse("admin:commandes_client_add"),
        {
            "entity": "ZR7",
            "name": "Client HTTP",
            "emails": "[]",
            "api_url": "leads.client-http.fr/rdz",
            "api_auth_header": "Authorization",
            "api_timeout_seconds": 10,
            "created_at_0": "24/11/2026",
            "created_at_1": "10:00:00",
        },
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    assert Client.objects.get(name="Client HTTP").api_url == "https://leads.client-http.fr/rdz"


def test_a_clients_entity_is_fixed_once_created(client, superuser, rows):
    """Its commandes keep the entity they were saved with: moving the client alone would
    send ZR7 leads, even locked ones, to an MDL client."""
    zr7_client = rows["ZR7"]["client"]
    client.force_login(superuser)
    response = client.post(
        reverse("admin:commandes_client_change", args=[zr7_client.pk]),
        {
            "entity": "MDL",
            "name": "Client renommé",
            "emails": '["achats@client.example"]',
            "api_auth_header": "Authorization",
            "api_timeout_seconds": 10,
            "active": "on",
            "created_at_0": "24/11/2026",
            "created_at_1": "10:00:00",
        },
    )
    assert response.status_code == 302
    zr7_client.refresh_from_db()
    assert (zr7_client.name, zr7_client.entity) == ("Client renommé", "ZR7")
    assert Commande.objects.get(client=zr7_client).entity == "ZR7"


def test_foreign_key_choices_are_limited_to_the_accounts_entities(client, zr7_staff, rows):
    client.force_login(zr7_staff)
    page = client.get(reverse("admin:commandes_commande_add")).content.decode()
    assert "Client-ZR7-unique" in page and "Client-MDL-unique" not in page
    response = client.post(
        reverse("admin:commandes_commande_add"),
        {
            "client": rows["MDL"]["client"].pk,
            "product": rows["MDL"]["commande"].product_id,
            "departements": '["*"]',
            "weekly_quota": 5,
            "priority": 0,
        },
    )
    assert response.status_code == 200
    assert Commande.objects.filter(client=rows["MDL"]["client"]).count() == 1


def test_a_manager_activates_and_deactivates_commandes_with_an_audit_row(client, zr7_staff, rows):
    client.force_login(zr7_staff)
    commande = rows["ZR7"]["commande"]
    mdl_commande = rows["MDL"]["commande"]
    url = reverse("admin:commandes_commande_changelist")
    response = client.post(
        url, {"action": "deactivate", "_selected_action": [commande.pk, mdl_commande.pk]}, follow=True
    )
    assert "1 commande désactivée." in response.content.decode()
    commande.refresh_from_db()
    mdl_commande.refresh_from_db()
    assert commande.active is False
    assert mdl_commande.active is True  # outside the account's scope: untouched
    assert AuditLog.objects.filter(action="commande_deactivate").count() == 1
    client.post(url, {"action": "activate", "_selected_action": [commande.pk]})
    commande.refresh_from_db()
    assert commande.active is True


# --- Accounts ---------------------------------------------------------------------------------
@pytest.fixture
def zr7_account_admin(db):
    return StaffProfileFactory(user=UserFactory(username="zr7-admin"), scope="ZR7", role="admin").user


def test_an_account_admin_manages_only_accounts_of_its_entities(client, zr7_account_admin, zr7_staff, mdl_staff):
    client.force_login(zr7_account_admin)
    page = client.get(reverse("admin:auth_user_changelist")).content.decode()
    assert "zr7-staff" in page and "mdl-staff" not in page
    response = client.get(reverse("admin:auth_user_change", args=[mdl_staff.pk]))
    assert response.status_code in (302, 404)
    assert client.get(reverse("admin:auth_user_change", args=[zr7_staff.pk])).status_code == 200


def _account_form(user, **profile) -> dict:
    return {
        "username": user.username,
        "email": "",
        "first_name": "",
        "last_name": "",
        "is_active": "on",
        "is_staff": "on",
        "last_login_0": "",
        "last_login_1": "",
        "date_joined_0": "2026-01-01",
        "date_joined_1": "10:00:00",
        "staff_profile-TOTAL_FORMS": "1",
        "staff_profile-INITIAL_FORMS": "1",
        "staff_profile-MIN_NUM_FORMS": "1",
        "staff_profile-MAX_NUM_FORMS": "1",
        "staff_profile-0-id": user.staff_profile.pk,
        "staff_profile-0-user": user.pk,
        **{f"staff_profile-0-{k}": v for k, v in profile.items()},
    }


@pytest.mark.parametrize("target", ["zr7_staff", "zr7_account_admin"])
def test_an_account_admin_cannot_hand_out_the_other_entity_nor_both(request, client, zr7_account_admin, target):
    account = request.getfixturevalue(target)
    client.force_login(zr7_account_admin)
    url = reverse("admin:auth_user_change", args=[account.pk])
    page = client.get(url).content.decode()
    assert 'value="ZR7"' in page
    assert 'value="MDL"' not in page and 'value="BOTH"' not in page
    for scope in ("BOTH", "MDL"):
        client.post(url, _account_form(account, scope=scope, role="admin"))
        assert StaffProfile.objects.get(user=account).scope == "ZR7"
    # The same form with an allowed scope is accepted: the refusal above was the scope.
    response = client.post(url, _account_form(account, scope="ZR7", role="viewer"))
    assert response.status_code == 302
    # (Its own admin role is not its to drop: see the test below.)
    assert StaffProfile.objects.get(user=account).role == ("admin" if account == zr7_account_admin else "viewer")


def test_an_account_admin_cannot_demote_deactivate_nor_delete_itself_in_the_admin(client, zr7_account_admin):
    client.force_login(zr7_account_admin)
    url = reverse("admin:auth_user_change", args=[zr7_account_admin.pk])
    form = _account_form(zr7_account_admin, scope="ZR7", role="viewer")
    del form["is_active"]  # an unticked box
    assert client.post(url, form).status_code == 302
    zr7_account_admin.refresh_from_db()
    assert zr7_account_admin.is_active
    assert zr7_account_admin.staff_profile.role == "admin"

    assert (
        client.post(reverse("admin:auth_user_delete", args=[zr7_account_admin.pk]), {"post": "yes"}).status_code == 403
    )
    changelist = reverse("admin:auth_user_changelist")
    client.post(changelist, {"action": "delete_selected", "_selected_action": [zr7_account_admin.pk], "post": "yes"})
    assert User.objects.filter(pk=zr7_account_admin.pk, is_active=True).exists()


def test_an_account_admin_still_deactivates_and_deletes_another_account_in_the_admin(
    client, zr7_account_admin, zr7_staff
):
    client.force_login(zr7_account_admin)
    form = _account_form(zr7_staff, scope="ZR7", role="viewer")
    del form["is_active"]
    assert client.post(reverse("admin:auth_user_change", args=[zr7_staff.pk]), form).status_code == 302
    zr7_staff.refresh_from_db()
    assert not zr7_staff.is_active and zr7_staff.staff_profile.role == "viewer"
    client.post(reverse("admin:auth_user_delete", args=[zr7_staff.pk]), {"post": "yes"})
    assert not User.objects.filter(pk=zr7_staff.pk).exists()


def test_an_account_added_in_the_admin_can_open_the_admin_like_one_added_on_the_comptes_page(client, zr7_account_admin):
    client.force_login(zr7_account_admin)
    form = {
        "username": "nouvelle",
        "password1": "Un-mot-de-passe-solide-42",
        "password2": "Un-mot-de-passe-solide-42",
        "usable_password": "true",
        "staff_profile-TOTAL_FORMS": "1",
        "staff_profile-INITIAL_FORMS": "0",
        "staff_profile-MIN_NUM_FORMS": "1",
        "staff_profile-MAX_NUM_FORMS": "1",
        "staff_profile-0-scope": "ZR7",
        "staff_profile-0-role": "manager",
    }
    response = client.post(reverse("admin:auth_user_add"), form)
    assert response.status_code == 302, response.content.decode()[:2000]
    account = User.objects.get(username="nouvelle")
    assert account.is_staff and not account.is_superuser
    assert account.staff_profile.scope == "ZR7"
    client.force_login(account)
    assert client.get(reverse("admin:index")).status_code == 200


def test_a_manager_cannot_open_the_accounts(client, zr7_staff):
    client.force_login(zr7_staff)
    assert client.get(reverse("admin:auth_user_changelist")).status_code == 403


def test_a_superuser_may_give_both_entities(client, superuser, zr7_staff):
    client.force_login(superuser)
    page = client.get(reverse("admin:auth_user_change", args=[zr7_staff.pk])).content.decode()
    assert 'value="BOTH"' in page and 'value="MDL"' in page


def test_every_admin_list_and_change_page_opens_on_the_demo_data(client, superuser, demo_data):
    from django.contrib import admin

    client.force_login(superuser)
    for model in admin.site._registry:
        name = f"admin:{model._meta.app_label}_{model._meta.model_name}"
        # The settings record's list redirects to its single row.
        assert client.get(reverse(f"{name}_changelist"), follow=True).status_code == 200, name
        obj = model.objects.first()
        if obj is not None:
            assert client.get(reverse(f"{name}_change", args=[obj.pk])).status_code == 200, (name, obj.pk)
    page = client.get(reverse("admin:core_settingsaudit_changelist")).content.decode()
    assert "Clé CRM ZR7 de repli" in page  # set by the demo, named as in the form


def test_the_settings_admin_never_shows_a_fallback_crm_key_nor_lets_one_entity_change_the_other(
    client, zr7_account_admin, zr7_viewer, superuser
):
    settings_update(
        user=None, changes={"fallback_crm_key_mdl": "mdl-secret-key", "alert_recipients_mdl": ["alertes@mdl.test"]}
    )
    url = reverse("admin:core_appsettings_change", args=[AppSettings.SINGLETON_ID])
    form = {
        "cross_entity_enabled": "on",
        "cross_entity_zr7_to_mdl": "on",
        "cross_entity_mdl_to_zr7": "on",
        "blacklisted_sources": "[]",
        "daily_delivery_time": "09:30",
        "backlog_age_days": "30",
        "rejection_window_days": "7",
        "rejection_ceiling_percent": "20",
        "alert_recipients_zr7": "[]",
        "alert_recipients_mdl": '["pirate@zr7.test"]',
        "alert_silence_hours": "6",
        "alert_crm_failure_threshold": "5",
        "circuit_failure_threshold": "5",
        "fallback_crm_key_zr7": "",
        "fallback_crm_key_mdl": "zr7-chosen-key",
        "retention_years": "3",
    }
    for user in (zr7_viewer, zr7_account_admin):
        client.force_login(user)
        page = client.get(url)
        assert page.status_code == 200
        assert "mdl-secret-key" not in page.content.decode()
        client.post(url, form)
        current = settings_get()
        assert current.alert_recipients_mdl == ["alertes@mdl.test"]
        assert current.fallback_crm_key_mdl == "mdl-secret-key"
    # An admin of both entities still changes the record here, audited; the keys stay as they are.
    client.force_login(superuser)
    assert client.post(url, form).status_code == 302
    current = settings_get()
    assert current.alert_recipients_mdl == ["pirate@zr7.test"]
    assert current.fallback_crm_key_mdl == "mdl-secret-key"
    assert SettingsAudit.objects.filter(field="alert_recipients_mdl", changed_by=superuser).exists()


def test_scoped_staff_cannot_open_the_admins_that_are_not_scoped_by_entity(client, zr7_staff):
    """Staff API tokens (a token acts as its user), beat schedules: superusers only."""
    client.force_login(zr7_staff)
    for url in (
        reverse("admin:authtoken_tokenproxy_changelist"),
        reverse("admin:django_celery_beat_periodictask_changelist"),
    ):
        assert client.get(url).status_code == 403, url
    index = client.get(reverse("admin:index")).content.decode()
    assert "authtoken" not in index and "django_celery_beat" not in index


def test_the_unused_library_api_key_admin_is_not_offered(client, superuser):
    client.force_login(superuser)
    assert client.get("/admin/rest_framework_api_key/apikey/").status_code == 404
    assert "API key" not in client.get(reverse("admin:index")).content.decode()


@pytest.mark.parametrize("admin_name", ["core_alert", "core_circuitbreaker", "core_outboxitem"])
def test_alerts_breakers_and_outbox_rows_are_never_typed_by_hand(client, zr7_staff, admin_name):
    # A ZR7 manager creating an open breaker or alert under a name the MDL side uses would
    # pause or silence the other company's work; an outbox row could point at any lead.
    client.force_login(zr7_staff)
    assert client.get(reverse(f"admin:{admin_name}_add")).status_code == 403
    assert client.get(reverse(f"admin:{admin_name}_changelist")).status_code == 200


def test_a_manager_closes_a_breaker_of_its_entity_by_the_audited_action(client, zr7_staff, zr7_viewer):
    from rdz.core.models import AuditLog, CircuitBreaker
    from rdz.core.services import circuit_record_failure

    for _ in range(10):
        circuit_record_failure(name="crm:ZR7", entity="ZR7", error="HTTP 500")
        circuit_record_failure(name="crm:MDL", entity="MDL", error="HTTP 500")
    ours, theirs = CircuitBreaker.objects.get(name="crm:ZR7"), CircuitBreaker.objects.get(name="crm:MDL")
    assert ours.state == theirs.state == "open"
    changelist = reverse("admin:core_circuitbreaker_changelist")

    client.force_login(zr7_viewer)
    client.post(changelist, {"action": "resume", "_selected_action": [ours.pk]})
    assert CircuitBreaker.objects.get(pk=ours.pk).state == "open"  # viewers only read

    client.force_login(zr7_staff)
    client.post(changelist, {"action": "resume", "_selected_action": [ours.pk, theirs.pk]})
    assert CircuitBreaker.objects.get(pk=ours.pk).state == "closed"
    assert CircuitBreaker.objects.get(pk=theirs.pk).state == "open"  # not its entity
    assert AuditLog.objects.filter(action="circuit_reset", entity="ZR7").count() == 1


def test_a_viewer_cannot_resume_a_clients_http_endpoint(client, zr7_viewer, zr7_staff):
    from commandes.delivery_http import circuit_name
    from rdz.core.models import AuditLog, CircuitBreaker
    from rdz.core.services import circuit_record_failure

    endpoint = ClientFactory(entity="ZR7", name="Client-HTTP", api_url="https://crm.exemple.fr/leads")
    for _ in range(10):
        circuit_record_failure(name=circuit_name(endpoint), entity="ZR7", error="HTTP 500")
    breaker = CircuitBreaker.objects.get(name=circuit_name(endpoint))
    assert breaker.state == "open"
    changelist = reverse("admin:commandes_client_changelist")

    client.force_login(zr7_viewer)
    assert "resume_endpoint" not in client.get(changelist).content.decode()
    client.post(changelist, {"action": "resume_endpoint", "_selected_action": [endpoint.pk]})
    assert CircuitBreaker.objects.get(pk=breaker.pk).state == "open"  # viewers only read
    assert not AuditLog.objects.filter(action="circuit_reset").exists()

    client.force_login(zr7_staff)
    client.post(changelist, {"action": "resume_endpoint", "_selected_action": [endpoint.pk]})
    assert CircuitBreaker.objects.get(pk=breaker.pk).state == "closed"
    assert AuditLog.objects.filter(action="circuit_reset", entity="ZR7").count() == 1


def test_account_changes_in_the_admin_are_audited_like_on_the_comptes_page(client, zr7_account_admin, zr7_staff):
    client.force_login(zr7_account_admin)
    form = _account_form(zr7_staff, scope="ZR7", role="viewer")
    del form["is_active"]
    assert client.post(reverse("admin:auth_user_change", args=[zr7_staff.pk]), form).status_code == 302
    row = AuditLog.objects.get(action="account_update")
    assert (row.entity, row.actor) == ("ZR7", zr7_account_admin)
    assert "ZR7/manager/actif → ZR7/viewer/inactif" in row.message

    password = "Un-autre-mot-de-passe-2026"
    response = client.post(
        reverse("admin:auth_user_password_change", args=[zr7_staff.pk]),
        {"password1": password, "password2": password, "usable_password": "true"},
    )
    assert response.status_code == 302
    assert AuditLog.objects.filter(action="account_password", entity="ZR7", object_id=str(zr7_staff.pk)).exists()

    client.post(reverse("admin:auth_user_delete", args=[zr7_staff.pk]), {"post": "yes"})
    assert not User.objects.filter(pk=zr7_staff.pk).exists()
    deleted = AuditLog.objects.get(action="account_delete")
    assert deleted.entity == "ZR7" and "zr7-staff" in deleted.message


def test_deactivating_an_account_in_the_admin_ends_its_sessions(client, zr7_account_admin, zr7_staff):
    """As on the Comptes page: reactivated later, the account does not find its old sessions open."""
    from django.test import Client

    browser = Client()
    browser.force_login(zr7_staff)
    client.force_login(zr7_account_admin)
    url = reverse("admin:auth_user_change", args=[zr7_staff.pk])
    form = _account_form(zr7_staff, scope="ZR7", role="manager")
    del form["is_active"]

    assert client.post(url, form).status_code == 302
    assert client.post(url, _account_form(zr7_staff, scope="ZR7", role="manager")).status_code == 302

    zr7_staff.refresh_from_db()
    assert zr7_staff.is_active
    assert browser.get("/").status_code == 302
    assert client.get(reverse("admin:auth_user_changelist")).status_code == 200
