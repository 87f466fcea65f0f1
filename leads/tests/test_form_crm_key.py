"""The CRM key of a landing form is write-once (§11): every path that could clear or change
it refuses; only the audited rotation replaces it."""

import pytest
from django.db import IntegrityError, connection, transaction

from leads.models import CrmKeyWriteOnceError, LeadForm
from leads.services import LeadError
from leads.services_forms import leadform_crm_key_rotate, leadform_crm_key_set, leadform_update
from rdz.core.models import AuditLog
from tests.factories import LeadFormFactory

pytestmark = pytest.mark.django_db

KEY = "crm-key-0001"


@pytest.fixture
def form(product):
    return LeadFormFactory(code="pv-key", entity="ZR7", product=product, crm_api_key=KEY)


def stored_key(form) -> str:
    return LeadForm.objects.values_list("crm_api_key", flat=True).get(pk=form.pk)


def test_model_save_refuses_to_clear_or_change_the_key(form):
    loaded = LeadForm.objects.get(pk=form.pk)
    loaded.crm_api_key = ""
    with pytest.raises(CrmKeyWriteOnceError):
        loaded.save()
    loaded.crm_api_key = "other"
    with pytest.raises(CrmKeyWriteOnceError):
        loaded.save()
    assert stored_key(form) == KEY


def test_a_stale_instance_without_key_does_not_overwrite_a_key_set_meanwhile(product):
    form = LeadFormFactory(code="pv-stale", product=product)
    stale = LeadForm.objects.get(pk=form.pk)
    leadform_crm_key_set(form=form, key=KEY)
    stale.name = "Nouveau nom"
    stale.save()
    assert stored_key(form) == KEY
    assert LeadForm.objects.get(pk=form.pk).name == "Nouveau nom"


def test_queryset_update_and_bulk_update_refuse_the_key(form):
    with pytest.raises(CrmKeyWriteOnceError):
        LeadForm.objects.filter(pk=form.pk).update(crm_api_key="")
    form.crm_api_key = ""
    with pytest.raises(CrmKeyWriteOnceError):
        LeadForm.objects.bulk_update([form], ["crm_api_key"])
    assert stored_key(form) == KEY


@pytest.mark.parametrize("new_value", ["", "raw-change"])
def test_the_database_refuses_a_raw_update_of_the_key(form, new_value):
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE leads_leadform SET crm_api_key = %s WHERE id = %s", [new_value, form.pk])
    assert stored_key(form) == KEY


def test_the_key_can_be_set_once_then_never_again(product):
    form = LeadFormFactory(code="pv-once", product=product)
    leadform_crm_key_set(form=form, key="first")
    with pytest.raises(LeadError):
        leadform_crm_key_set(form=form, key="second")
    assert stored_key(form) == "first"
    assert AuditLog.objects.filter(action="leadform_crm_key_set", object_id=str(form.pk)).count() == 1


def test_rotation_replaces_the_key_and_is_audited(form, superuser):
    leadform_crm_key_rotate(form=form, key="crm-key-0002", user=superuser, reason="fuite")
    assert stored_key(form) == "crm-key-0002"
    audit = AuditLog.objects.get(action="leadform_crm_key_rotate")
    assert audit.actor == superuser
    assert "fuite" in audit.message
    assert "crm-key-0002" not in audit.message  # masked
    with pytest.raises(LeadError):
        leadform_crm_key_rotate(form=form, key="  ", user=superuser)
    assert stored_key(form) == "crm-key-0002"


def test_the_service_update_refuses_a_new_key_once_one_exists(form, zr7_staff):
    with pytest.raises(LeadError) as exc:
        leadform_update(form=form, user=zr7_staff, changes={"crm_api_key": "", "name": "X"})
    assert "crm_api_key" in exc.value.errors
    assert stored_key(form) == KEY


# --- Through the API -----------------------------------------------------------------
def test_the_api_refuses_to_clear_or_change_the_key(api_client, form, zr7_staff):
    api_client.force_login(zr7_staff)
    for value in ("", "new-key"):
        response = api_client.patch(f"/api/v1/forms/{form.code}/", {"crm_api_key": value}, format="json")
        assert response.status_code == 400, response.content
        assert "ne peut être ni effacée ni modifiée" in response.json()["crm_api_key"][0]
    assert stored_key(form) == KEY
    body = api_client.get(f"/api/v1/forms/{form.code}/").json()
    assert body["crm_api_key_set"] is True
    assert KEY not in str(body)


def test_the_api_sets_a_missing_key_once(api_client, product, zr7_staff):
    form = LeadFormFactory(code="pv-api", entity="ZR7", product=product)
    api_client.force_login(zr7_staff)
    response = api_client.patch(f"/api/v1/forms/{form.code}/", {"crm_api_key": "api-key-1"}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["crm_api_key_hint"] == "••••ey-1"
    assert api_client.patch(f"/api/v1/forms/{form.code}/", {"crm_api_key": "x"}, format="json").status_code == 400
    assert stored_key(form) == "api-key-1"


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("name", ["x"], "Texte attendu."),
        ("consent_text_version", {"v": 2}, "Texte attendu."),
        ("crm_api_key", ["k"], "Texte attendu."),
        ("active", "peut-être", "Booléen attendu (true ou false)."),
    ],
)
def test_the_api_refuses_wrong_types_in_french(api_client, form, zr7_staff, field, value, message):
    api_client.force_login(zr7_staff)
    response = api_client.patch(f"/api/v1/forms/{form.code}/", {field: value}, format="json")
    assert response.status_code == 400
    assert response.json() == {field: [message]}


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        ({"allowed_origins": [{}, "https://ok.example"]}, {"allowed_origins": ["Élément 1 : Texte attendu."]}),
        (
            {"variants": ["A", {"name": "B", "weight": 50}, 5]},
            {
                "variants": [
                    "Élément 1 : Attendait un dictionnaire d'éléments mais a reçu «\xa0str\xa0».",
                    "Élément 3 : Attendait un dictionnaire d'éléments mais a reçu «\xa0int\xa0».",
                ]
            },
        ),
        ([{"name": "x"}], {"non_field_errors": ["Un objet JSON est attendu."]}),
        ("x", {"non_field_errors": ["Un objet JSON est attendu."]}),
    ],
)
def test_the_api_answers_every_refused_change_as_field_messages(api_client, form, zr7_staff, body, errors):
    """§15: a 400 is {"field": ["message", …]}, also for the items of a list and a body that
    is not an object; nothing is changed."""
    before = LeadForm.objects.values().get(pk=form.pk)
    api_client.force_login(zr7_staff)
    response = api_client.patch(f"/api/v1/forms/{form.code}/", body, format="json")
    assert response.status_code == 400
    assert response.json() == errors
    assert LeadForm.objects.values().get(pk=form.pk) == before


def test_a_viewer_cannot_change_a_form_through_the_api(api_client, form, zr7_viewer):
    api_client.force_login(zr7_viewer)
    response = api_client.patch(f"/api/v1/forms/{form.code}/", {"name": "x"}, format="json")
    assert response.status_code == 403
    # A viewer is staff: « Accès réservé au staff. » sent them looking for the wrong cause.
    assert response.json() == {"detail": "Votre compte est en lecture seule."}
    assert api_client.get(f"/api/v1/forms/{form.code}/").status_code == 200


# --- Through the admin -----------------------------------------------------------------
def _admin_post_data(form, **overrides) -> dict:
    data = {
        "name": form.name,
        "product": form.product_id,
        "target_crm": form.target_crm,
        "consent_text_version": "",
        "active": "on",
        "allowed_origins": "https://www.exemple.fr",
        "variants": "A=50\nB=50",
    }
    data.update(overrides)
    return data


def test_the_admin_form_cannot_clear_or_change_the_key(client, form, superuser):
    client.force_login(superuser)
    url = f"/admin/leads/leadform/{form.pk}/change/"
    page = client.get(url)
    assert page.status_code == 200
    assert "new_crm_api_key" not in page.content.decode()
    assert "••••0001" in page.content.decode()
    assert KEY not in page.content.decode()
    forged = _admin_post_data(form, new_crm_api_key="forged", crm_api_key="")
    response = client.post(url, forged)
    assert response.status_code == 302, response.content.decode()[:2000]
    form.refresh_from_db()
    assert stored_key(form) == KEY
    assert form.variants == [{"name": "A", "weight": 50}, {"name": "B", "weight": 50}]
    assert form.allowed_origins == ["https://www.exemple.fr"]


def test_the_admin_sets_the_key_at_creation_and_rotates_it_with_an_audit(client, product, superuser):
    client.force_login(superuser)
    response = client.post(
        "/admin/leads/leadform/add/",
        {
            "code": "pv-admin",
            "name": "PV admin",
            "entity": "ZR7",
            "product": product.pk,
            "target_crm": "ZR7",
            "active": "on",
            "allowed_origins": "https://landing.exemple.fr/",
            "variants": "",
            "new_crm_api_key": "admin-key-1",
        },
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    form = LeadForm.objects.get(code="pv-admin")
    assert form.crm_api_key == "admin-key-1"
    assert form.allowed_origins == ["https://landing.exemple.fr"]

    rotate = f"/admin/leads/leadform/{form.pk}/rotation-cle-crm/"
    assert client.get(rotate).status_code == 200
    bad = client.post(rotate, {"new_key": "k2", "new_key_again": "k3", "reason": "test"})
    assert bad.status_code == 200
    assert stored_key(form) == "admin-key-1"
    ok = client.post(rotate, {"new_key": "admin-key-2", "new_key_again": "admin-key-2", "reason": "rotation annuelle"})
    assert ok.status_code == 302
    assert stored_key(form) == "admin-key-2"
    assert AuditLog.objects.filter(action="leadform_crm_key_rotate", actor=superuser).exists()


def test_the_admin_refuses_invalid_origins_and_variants_in_french(client, form, superuser):
    client.force_login(superuser)
    response = client.post(
        f"/admin/leads/leadform/{form.pk}/change/",
        _admin_post_data(form, allowed_origins="pas une origine", variants="A=1001"),
    )
    assert response.status_code == 200
    content = response.content.decode()
    assert "n&#x27;est pas une origine valide" in content or "n'est pas une origine valide" in content
    assert "le poids doit être un entier entre 0 et 1000" in content


def test_a_variant_can_be_paused_with_weight_zero_but_not_every_variant(client, form, superuser):
    client.force_login(superuser)
    url = f"/admin/leads/leadform/{form.pk}/change/"
    refused = client.post(url, _admin_post_data(form, variants="A=0\nB=0"))
    assert refused.status_code == 200
    assert "Au moins une variante doit avoir un poids supérieur à 0" in refused.content.decode()

    paused = client.post(url, _admin_post_data(form, variants="A=50\nB=0"))
    assert paused.status_code == 302
    form.refresh_from_db()
    assert form.variants == [{"name": "A", "weight": 50}, {"name": "B", "weight": 0}]
    # The script still knows B (its visitors keep it) but never draws it for a new one.
    script = client.get(f"/t/{form.code}.js").content.decode()
    assert '"name": "B", "weight": 0' in script


def test_a_zr7_account_cannot_rotate_an_mdl_form_key(client, product, zr7_staff):
    form = LeadFormFactory(code="mdl-form", entity="MDL", target_crm="MDL", product=product, crm_api_key=KEY)
    client.force_login(zr7_staff)
    response = client.post(
        f"/admin/leads/leadform/{form.pk}/rotation-cle-crm/",
        {"new_key": "x1", "new_key_again": "x1", "reason": "r"},
    )
    assert response.status_code == 404
    assert stored_key(form) == KEY


def test_the_admin_pages_of_forms_render_for_managers_and_viewers(client, form, zr7_staff, zr7_viewer):
    client.force_login(zr7_staff)
    add = client.get("/admin/leads/leadform/add/")
    assert add.status_code == 200
    assert "new_crm_api_key" in add.content.decode()
    assert client.get("/admin/leads/leadform/").status_code == 200
    client.force_login(zr7_viewer)
    page = client.get(f"/admin/leads/leadform/{form.pk}/change/")
    assert page.status_code == 200
    content = page.content.decode()
    assert "data-rdz-form=&quot;pv-key&quot;" in content  # the snippet to paste
    assert form.crm_api_key_hint in content and "Rotation de la clé CRM" not in content  # no link it may not follow
    assert KEY not in content
    assert client.get(f"/admin/leads/leadform/{form.pk}/rotation-cle-crm/").status_code == 403
    listing = client.get("/admin/leads/leadform/").content.decode()
    assert form.crm_api_key_hint in listing and "Rotation de la clé CRM" not in listing
    client.force_login(zr7_staff)
    assert "Rotation de la clé CRM" in client.get(f"/admin/leads/leadform/{form.pk}/change/").content.decode()


@pytest.mark.parametrize("lookup", ["crm_api_key__startswith", "crm_api_key", "crm_api_key__regex", "crm_api_key__gt"])
def test_the_form_list_is_no_oracle_that_spells_out_the_key(client, form, zr7_viewer, lookup):
    """A list filtered on the key (« ?crm_api_key__startswith=c ») answered « 1 form » or
    « 0 » for each guess: anyone who may read the list rebuilt the key one character at a
    time, though it is never shown in full."""
    client.force_login(zr7_viewer)
    value = {"crm_api_key": KEY, "crm_api_key__regex": "^c", "crm_api_key__gt": "a"}.get(lookup, KEY[:1])

    response = client.get(f"/admin/leads/leadform/?{lookup}={value}")

    assert response.status_code == 400
    assert "pv-key" not in response.content.decode()
    assert client.get("/admin/leads/leadform/?code=pv-key").status_code == 200  # other fields still filter


@pytest.mark.parametrize(
    "origin",
    [
        "http://exemple.fr:abc",
        "https://exemple.fr:99999",
        "https://moi@exemple.fr",
        "https://exemple.fr/#x",
        "https://" + "a" * 300 + ".fr",
        "ftp://exemple.fr",
        "https://exemple.fr/page",
    ],
)
def test_an_origin_a_browser_never_sends_is_refused(origin):
    from leads.services import LeadError
    from leads.services_forms import leadform_origins_clean

    with pytest.raises(LeadError) as exc:
        leadform_origins_clean([origin])
    assert "n'est pas une origine valide" in exc.value.errors["allowed_origins"][0]
    assert leadform_origins_clean(["HTTPS://Exemple.fr:8443/"]) == ["https://exemple.fr:8443"]
