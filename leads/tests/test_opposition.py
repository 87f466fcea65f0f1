"""Opposition list (§16): import, add/remove, and an opposed number never leaves RDZ —
never attributed, delivered nor forwarded, whatever format it arrives in."""

import io

import pytest
from django.core.management import call_command

from commandes.delivery import delivery_send_daily
from commandes.models import Attribution, DeliveryBatch
from leads.models import Lead, OppositionEntry
from leads.selectors import phone_is_opposed
from leads.services_opposition import (
    OppositionError,
    opposition_add,
    opposition_import,
    opposition_lines_from_bytes,
    opposition_remove,
)
from rdz.core.models import AuditLog, OutboxItem
from routing.models import CrmAttempt
from tests.factories import CommandeFactory, LeadFormFactory

pytestmark = pytest.mark.django_db

FORMATS = [
    "06 12 34 56 78",
    "0612345678",
    "+33 6 12 34 56 78",
    "0033612345678",
    "33612345678",
    "612345678",
    "06.12.34.56.78",
]


@pytest.fixture(autouse=True)
def _files_and_mail(settings, tmp_path):
    settings.DELIVERY_ROOT = tmp_path / "deliveries"
    locmem = {"EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend"}
    settings.ENTITY_EMAIL = {"ZR7": {**locmem, "FROM": "zr7@rdz.test"}, "MDL": {**locmem, "FROM": "mdl@rdz.test"}}


def test_a_plain_list_in_any_french_format_is_imported_and_bad_lines_are_reported():
    lines = [
        "06 12 34 56 78",
        "+33 7 81 23 45 67",
        "0033 1 42 68 53 00",
        "33612345679",
        "",
        "pas un numéro",
        "0612345678",
        "12",
    ]
    result = opposition_import(lines=lines, source="Bloctel", reason="Export mensuel")
    assert (result.added, result.already, result.invalid_count) == (4, 1, 2)
    assert [line for line, _, _ in result.invalid] == [6, 8]
    assert set(OppositionEntry.objects.values_list("phone", flat=True)) == {
        "+33612345678",
        "+33781234567",
        "+33142685300",
        "+33612345679",
    }
    entry = OppositionEntry.objects.get(phone="+33612345678")
    assert (entry.source, entry.reason) == ("Bloctel", "Export mensuel")
    again = opposition_import(lines=lines, source="Bloctel")
    assert (again.added, again.already) == (0, 5)


def test_a_csv_export_with_a_header_and_windows_encoding_is_imported():
    data = "Nom;Téléphone;Date\r\nLefèvre;06 12 34 56 78;2024-01-02\r\nDurand;invalide;2024-01-03\r\n".encode("cp1252")
    result = opposition_import(lines=opposition_lines_from_bytes(data), source="CSV")
    assert result.added == 1 and result.invalid_count == 1
    assert phone_is_opposed(phone="+33612345678")


def test_a_headerless_csv_takes_the_column_written_as_a_phone_not_a_nine_digit_id_before_it():
    # "123456789" is also a valid French number (+33 1 23 45 67 89): taking that column would
    # oppose strangers and leave the listed people reachable.
    data = b"123456789;06 12 34 56 78;Lefevre\n223456789;+33 7 81 23 45 67;Durand\n"
    result = opposition_import(lines=opposition_lines_from_bytes(data), source="CSV")
    assert set(OppositionEntry.objects.values_list("phone", flat=True)) == {"+33612345678", "+33781234567"}
    assert result.added == 2
    # A list of bare nine-digit numbers is still read.
    opposition_import(lines=opposition_lines_from_bytes(b"x;612345679\n"), source="CSV")
    assert phone_is_opposed(phone="+33612345679")


def test_quoted_values_and_separators_inside_quotes_are_read_as_csv():
    """A one-column export with quoted values had every line refused, and a line whose
    quoted name held another separator was split on it: those people stayed reachable."""
    quoted = b'"Telephone"\r\n"06 12 34 56 78"\r\n"0781234567"\r\n'
    result = opposition_import(lines=opposition_lines_from_bytes(quoted), source="CSV")
    assert (result.added, result.invalid_count) == (2, 0)

    commas = 'nom,téléphone\n"Dupont; Jean",06 12 34 56 79\n"Durand\tLéa",07 81 23 45 68\n'.encode()
    result = opposition_import(lines=opposition_lines_from_bytes(commas), source="CSV")
    assert (result.added, result.invalid_count) == (2, 0)
    assert phone_is_opposed(phone="+33612345679") and phone_is_opposed(phone="+33781234568")

    # A line beyond the CSV reader's field limit (a binary file) is one invalid line.
    result = opposition_import(lines=["x" * 200_000, "Dupont;" + "x" * 200_000, "0781234569"], source="CSV")
    assert (result.added, result.invalid_count) == (1, 2)


def test_the_command_imports_a_file_and_lists_the_invalid_lines(tmp_path):
    path = tmp_path / "bloctel.txt"
    path.write_text("0612345678\nabc\n0612345679\n", encoding="utf-8")
    out, err = io.StringIO(), io.StringIO()
    call_command("opposition_import", str(path), "--source", "Bloctel", stdout=out, stderr=err)
    assert "2 numéros ajoutés" in out.getvalue()
    assert "ligne 2 « abc »" in err.getvalue()


def test_the_command_reads_windows_and_utf16_files_and_counts_what_it_added(tmp_path):
    """The encoding is known before anything is written: a Windows-1252 list whose first
    accent comes late was half-imported as UTF-8 first (its numbers then counted "already
    present"), a byte Windows-1252 does not define stopped the command, and Excel's
    "Unicode text" (UTF-16) gave only invalid lines."""
    numbers = [f"06 12 {n // 100:02d} {n % 100:02d} 00" for n in range(1500)]
    late = tmp_path / "late.csv"
    late.write_bytes("\r\n".join([*numbers, "Généré le 02/01/2024"]).encode("cp1252"))
    out = io.StringIO()
    call_command("opposition_import", str(late), stdout=out, stderr=io.StringIO())
    assert "1500 numéros ajoutés, 0 déjà présent, 1 ligne invalide" in out.getvalue()
    assert "1500 numéros ajoutés" in AuditLog.objects.get(action="opposition.import").message

    undefined = tmp_path / "undefined.txt"
    undefined.write_bytes(b"0781234567\r\n\x81 0781234568\r\n")
    out, err = io.StringIO(), io.StringIO()
    call_command("opposition_import", str(undefined), stdout=out, stderr=err)
    assert "1 numéro ajouté" in out.getvalue() and "ligne 2" in err.getvalue()

    excel = tmp_path / "excel.txt"
    excel.write_bytes("Téléphone\tNom\r\n07 81 23 45 69\tLefèvre\r\n".encode("utf-16"))
    out = io.StringIO()
    call_command("opposition_import", str(excel), stdout=out, stderr=io.StringIO())
    assert "1 numéro ajouté, 0 déjà présent, 0 ligne invalide" in out.getvalue()
    assert phone_is_opposed(phone="+33781234569")
    upload = "Téléphone\r\n07 81 23 45 70\r\n".encode("utf-16")
    assert opposition_import(lines=opposition_lines_from_bytes(upload), source="Excel").added == 1


def test_add_and_remove_keep_reason_and_source_and_are_audited():
    entry, created = opposition_add(phone="06 12 34 56 78", reason="Appel entrant", source="service client")
    assert created and entry.phone == "+33612345678"
    _, again = opposition_add(phone="+33612345678", reason="autre", source="autre")
    assert not again
    assert OppositionEntry.objects.get().source == "service client"
    assert opposition_remove(phone="0033612345678", reason="erreur de saisie")
    assert not opposition_remove(phone="0612345678")
    actions = list(AuditLog.objects.order_by("id").values_list("action", flat=True))
    assert actions == ["opposition.add", "opposition.remove"]
    assert not AuditLog.objects.filter(message__contains="612345678").exists()
    with pytest.raises(OppositionError):
        opposition_add(phone="12")


@pytest.mark.parametrize("phone", FORMATS)
def test_an_opposed_number_is_never_attributed_whatever_its_format(phone, api_client, zr7_provider, product):
    commande = CommandeFactory(client__entity="ZR7", product=product)
    opposition_add(phone="06 12 34 56 78", source="Bloctel")
    response = api_client.post(
        "/api/v1/leads/",
        {"phone": phone, "product": "PV", "departement": "13"},
        format="json",
        HTTP_X_API_KEY=zr7_provider.api_key,
    )
    assert response.status_code == 201, response.content
    assert response.json()["status"] == "opposed"
    lead = Lead.objects.get()
    assert not commande.attributions.exists()
    assert lead.events.filter(kind="not_routed", message__contains="opposition").exists()


def test_a_number_opposed_after_attribution_is_never_delivered(api_client, zr7_provider, product):
    CommandeFactory(client__entity="ZR7", client__emails=["achats@client.example"], product=product)
    response = api_client.post(
        "/api/v1/leads/",
        {"phone": "0612345678", "product": "PV", "departement": "13"},
        format="json",
        HTTP_X_API_KEY=zr7_provider.api_key,
    )
    assert response.json()["status"] == "routed"
    opposition_add(phone="+33 6 12 34 56 78", source="Bloctel")
    delivery_send_daily()
    assert Attribution.objects.get().status == "cancelled"
    assert not DeliveryBatch.objects.filter(count__gt=0).exists()


def test_an_opposed_number_from_a_form_is_never_forwarded_to_a_crm(api_client, product):
    LeadFormFactory(code="pv-opp", product=product, allowed_origins=["https://pv.exemple.fr"], crm_api_key="k")
    opposition_add(phone="0612345678", source="Bloctel")
    response = api_client.post(
        "/api/v1/forms/pv-opp/submit/",
        {"phone": "06.12.34.56.78", "departement": "13"},
        format="json",
        HTTP_ORIGIN="https://pv.exemple.fr",
    )
    assert response.status_code == 201, response.content
    assert response.json()["status"] == "opposed"
    lead = Lead.objects.get()
    assert not OutboxItem.objects.filter(ref=str(lead.pk)).exists()
    assert not CrmAttempt.objects.exists()
    assert (lead.crm_status, lead.crm_target) == ("", "")
    assert lead.events.filter(message="Non transmis au CRM : numéro sur la liste d'opposition").exists()


def test_the_list_selector_finds_a_number_typed_in_any_format():
    from leads.selectors import opposition_entries, opposition_sources

    opposition_add(phone="0612345678", source="Bloctel", reason="export")
    opposition_add(phone="0612345679", source="demande RGPD", reason="effacement")
    assert [e.phone for e in opposition_entries(search="06 12 34 56 78")] == ["+33612345678"]
    assert [e.phone for e in opposition_entries(search="effacement")] == ["+33612345679"]
    assert opposition_entries(source="Bloctel").count() == 1
    assert opposition_sources() == ["Bloctel", "demande RGPD"]
