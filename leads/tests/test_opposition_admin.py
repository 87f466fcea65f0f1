"""Back-office (Django admin) side of the opposition list (§16) and product fields (§3)."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from leads.admin_opposition import ProductFieldForm
from leads.models import OppositionEntry
from rdz.core.models import AuditLog
from tests.factories import OppositionEntryFactory

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/leads/oppositionentry/"


def test_a_manager_adds_a_number_in_any_format_and_it_is_stored_normalized(client, zr7_staff):
    client.force_login(zr7_staff)
    response = client.post(
        f"{CHANGELIST}add/", {"phone": "06 12 34 56 78", "reason": "Appel entrant", "source": "service client"}
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    entry = OppositionEntry.objects.get()
    assert (entry.phone, entry.reason, entry.source) == ("+33612345678", "Appel entrant", "service client")
    assert AuditLog.objects.filter(action="opposition.add", actor=zr7_staff).exists()
    again = client.post(f"{CHANGELIST}add/", {"phone": "+33 6 12 34 56 78", "reason": "", "source": ""})
    assert "déjà sur la liste" in again.content.decode()


def test_a_search_finds_a_number_typed_in_any_format(client, zr7_staff):
    OppositionEntryFactory(phone="+33612345678")
    OppositionEntryFactory(phone="+33612345679")
    client.force_login(zr7_staff)
    page = client.get(CHANGELIST, {"q": "06.12.34.56.78"}).content.decode()
    assert "+33612345678" in page and "+33612345679" not in page


def test_a_viewer_reads_the_list_without_an_import_button_it_could_not_use(client, zr7_viewer):
    client.force_login(zr7_viewer)
    page = client.get(CHANGELIST)
    assert page.status_code == 200
    assert "Importer une liste" not in page.content.decode()
    assert client.get(f"{CHANGELIST}importer/").status_code == 403


def test_a_manager_imports_a_list_from_the_admin(client, zr7_staff):
    client.force_login(zr7_staff)
    assert "Importer une liste" in client.get(CHANGELIST).content.decode()
    upload = SimpleUploadedFile("bloctel.csv", b"telephone\n0612345678\nfaux\n+33612345679\n")
    response = client.post(
        f"{CHANGELIST}importer/", {"file": upload, "source": "Bloctel", "reason": "mars"}, follow=True
    )
    page = response.content.decode()
    assert "2 numéros ajoutés" in page
    assert "Ligne 3" in page
    assert OppositionEntry.objects.filter(source="Bloctel").count() == 2


def test_a_viewer_cannot_import_nor_add(client, zr7_viewer):
    client.force_login(zr7_viewer)
    upload = SimpleUploadedFile("l.txt", b"0612345678\n")
    assert client.post(f"{CHANGELIST}importer/", {"file": upload, "source": "x"}).status_code == 403
    assert client.post(f"{CHANGELIST}add/", {"phone": "0612345678"}).status_code == 403
    assert not OppositionEntry.objects.exists()


def test_removing_from_the_admin_goes_through_the_audited_service(client, zr7_staff):
    from tests.factories import StaffProfileFactory, UserFactory

    entry = OppositionEntryFactory(phone="+33612345678", source="demande RGPD")
    # The list protects both companies: a single-entity manager adds numbers, never removes one.
    client.force_login(zr7_staff)
    assert client.post(f"{CHANGELIST}{entry.pk}/delete/", {"post": "yes"}).status_code == 403
    client.post(CHANGELIST, {"action": "delete_selected", "_selected_action": [entry.pk], "post": "yes"})
    assert OppositionEntry.objects.filter(pk=entry.pk).exists()

    manager = StaffProfileFactory(user=UserFactory(username="both-manager"), scope="BOTH", role="manager").user
    client.force_login(manager)
    response = client.post(f"{CHANGELIST}{entry.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not OppositionEntry.objects.exists()
    assert AuditLog.objects.filter(action="opposition.remove").exists()


@pytest.mark.parametrize(
    ("type_", "choices", "error"),
    [
        ("choice", "", "au moins un choix"),
        ("text", "a\nb", "ne servent qu'au type"),
        ("choice", "Tuiles\ntuiles", "qu'une fois"),
        ("choice", "Tuiles\nArd\x00oise", "Caractère non autorisé (U+0000)."),
    ],
)
def test_the_product_field_form_refuses_inconsistent_choices(product, type_, choices, error):
    form = ProductFieldForm(
        data={"position": 0, "name": "toit", "label": "Toit", "type": type_, "choices": choices, "product": product.pk}
    )
    assert not form.is_valid()
    assert error in " ".join(form.errors["choices"])


def test_the_product_field_form_stores_one_choice_per_line(product):
    form = ProductFieldForm(
        data={"position": 0, "name": "toit", "label": "Toit", "type": "choice", "choices": "Tuiles\n Ardoise \n"}
    )
    assert form.is_valid(), form.errors
    field = form.save(commit=False)
    field.product = product
    field.save()
    assert field.choices == ["Tuiles", "Ardoise"]


def test_the_product_admin_page_shows_the_extra_fields_inline(client, superuser, product):
    client.force_login(superuser)
    page = client.get(f"/admin/leads/product/{product.pk}/change/").content.decode()
    assert "Champs complémentaires demandés" in page


def test_a_single_entity_manager_reads_the_products_but_changes_none(client, zr7_staff, product):
    """A product serves both entities: renaming its code or deactivating it would refuse
    the other entity's leads."""
    client.force_login(zr7_staff)
    url = f"/admin/leads/product/{product.pk}/change/"
    assert client.get(url).status_code == 200
    client.post(url, {"code": "PVX", "label": "Renommé", "active": ""})
    product.refresh_from_db()
    assert (product.code, product.active) == ("PV", True)
    assert client.get("/admin/leads/product/add/").status_code == 403
    assert client.get(f"/admin/leads/product/{product.pk}/delete/").status_code == 403


def test_an_account_of_both_entities_changes_a_product(client, product):
    from tests.factories import StaffProfileFactory, UserFactory

    manager = StaffProfileFactory(user=UserFactory(username="both-manager"), scope="BOTH", role="manager").user
    client.force_login(manager)
    inline = {"fields-TOTAL_FORMS": "0", "fields-INITIAL_FORMS": "0"}
    response = client.post(
        f"/admin/leads/product/{product.pk}/change/",
        {"code": "PV", "label": "Photovoltaïque", "active": "on", **inline},
    )
    assert response.status_code == 302
    product.refresh_from_db()
    assert product.label == "Photovoltaïque"


def test_an_account_of_both_entities_manages_a_products_extra_fields(client, product):
    """The extra fields intake requires (§3) were shown and edited to superusers only: the
    accounts of both entities who may change a product did not even see them."""
    from leads.models import ProductField
    from tests.factories import ProductFieldFactory, StaffProfileFactory, UserFactory

    field = ProductFieldFactory(product=product, name="surface_toit", label="Surface du toit")
    manager = StaffProfileFactory(user=UserFactory(username="both-manager"), scope="BOTH", role="manager").user
    client.force_login(manager)
    url = f"/admin/leads/product/{product.pk}/change/"
    assert "surface_toit" in client.get(url).content.decode()
    row = {"position": "0", "type": "text", "choices": ""}
    response = client.post(
        url,
        {
            "code": "PV",
            "label": "Panneaux",
            "active": "on",
            "fields-TOTAL_FORMS": "2",
            "fields-INITIAL_FORMS": "1",
            "fields-0-id": field.pk,
            "fields-0-product": product.pk,
            "fields-0-name": "surface_toit",
            "fields-0-label": "Surface du toit (m²)",
            "fields-0-required": "on",
            **{f"fields-0-{k}": v for k, v in row.items()},
            "fields-1-product": product.pk,
            "fields-1-name": "orientation",
            "fields-1-label": "Orientation",
            **{f"fields-1-{k}": v for k, v in row.items()},
        },
    )
    assert response.status_code == 302, response.context["inline_admin_formsets"][0].formset.errors
    assert list(ProductField.objects.order_by("name").values_list("name", "label", "required")) == [
        ("orientation", "Orientation", False),
        ("surface_toit", "Surface du toit (m²)", True),
    ]


def test_a_single_entity_account_reads_a_products_extra_fields_without_changing_them(
    client, zr7_staff, zr7_viewer, product
):
    from leads.models import ProductField
    from tests.factories import ProductFieldFactory

    field = ProductFieldFactory(product=product, name="surface_toit", label="Surface du toit")
    url = f"/admin/leads/product/{product.pk}/change/"
    for user in (zr7_staff, zr7_viewer):
        client.force_login(user)
        assert "Surface du toit" in client.get(url).content.decode()
        client.post(
            url,
            {
                "code": "PV",
                "label": "Renommé",
                "active": "on",
                "fields-TOTAL_FORMS": "1",
                "fields-INITIAL_FORMS": "1",
                "fields-0-id": field.pk,
                "fields-0-product": product.pk,
                "fields-0-name": "surface_toit",
                "fields-0-label": "Piraté",
                "fields-0-type": "text",
                "fields-0-position": "0",
                "fields-0-DELETE": "on",
            },
        )
    assert ProductField.objects.get(pk=field.pk).label == "Surface du toit"


def test_a_product_code_differing_only_by_case_is_refused(client, superuser, product):
    """Intake and the legacy import find a product by its code in any case: a second
    « pv » next to « PV » would never receive a lead, nor would its commandes."""
    from django.db import IntegrityError, transaction

    from leads.models import Product

    client.force_login(superuser)
    inline = {"fields-TOTAL_FORMS": "0", "fields-INITIAL_FORMS": "0"}
    response = client.post("/admin/leads/product/add/", {"code": "pv", "label": "Doublon", "active": "on", **inline})
    assert response.status_code == 200
    assert "existe déjà" in response.content.decode()
    assert list(Product.objects.values_list("code", flat=True)) == [product.code]
    with pytest.raises(IntegrityError), transaction.atomic():
        Product.objects.create(code=product.code.lower(), label="Doublon")
