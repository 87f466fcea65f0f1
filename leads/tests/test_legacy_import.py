"""Legacy backfill (§12): every source format, idempotence, dry-run, broken documents."""

import datetime
import io
import json
from pathlib import Path

import bson
import mongomock
import pytest
from bson import Decimal128, Int64, ObjectId, json_util
from django.core.management import call_command
from django.utils import timezone

from commandes.models import Client, Commande
from leads.legacy.importer import LegacyImporter
from leads.legacy.mapping import departement_from_postal_code
from leads.legacy.readers import DirectorySource, FileSource, MongoSource, read_json_file
from leads.models import DailyRollup, Lead, LeadEvent, LeadForm, OppositionEntry
from providers.models import Provider
from rdz.core.models import AppSettings, AuditLog
from tests.factories import ProductFactory

pytestmark = pytest.mark.django_db

PROVIDER_ID = ObjectId("64b000000000000000000001")
CLIENT_ID = ObjectId("64b000000000000000000002")
FORM_ID = ObjectId("64b000000000000000000003")
LEAD_OK = ObjectId("64b0000000000000000000a1")
LEAD_CORSE = ObjectId("64b0000000000000000000a2")
LEAD_DUP = ObjectId("64b0000000000000000000a3")
CREATED = datetime.datetime(2023, 4, 5, 8, 30, tzinfo=datetime.UTC)


def legacy_collections() -> dict[str, list[dict]]:
    """A small copy of the old database: BSON types, missing fields, wrong types, unicode, duplicates."""
    return {
        "providers": [
            {"_id": PROVIDER_ID, "nom": "Solaire Direct", "entite": "zr7", "actif": True, "__v": Int64(0)},
            {"_id": ObjectId(), "nom": "Sans entité"},  # invalid: no entity
        ],
        "clients": [
            {
                "_id": CLIENT_ID,
                "nom": "Énergie Sud",
                "entite": "MDL",
                "emails": "achat@energie-sud.fr; pas-un-mail",
                "url_api": "https://api.energie-sud.example/leads",
                "actif": "oui",
            }
        ],
        "forms": [
            {
                "_id": FORM_ID,
                "code": "PV Été",
                "nom": "Landing PV été",
                "entite": "MDL",
                "produit": "pv",
                "domaines": "https://solaire.example, https://www.solaire.example/",
                "cle_crm": "crm-key-123",
            }
        ],
        "commandes": [
            {
                "_id": ObjectId("64b000000000000000000c01"),
                "client_id": CLIENT_ID,
                "produit": "PV",
                "departements": "13, 2a, 75001, zz",
                "quota": Int64(50),
                "prix": Decimal128("12.50"),
                "date_debut": datetime.datetime(2023, 1, 2, tzinfo=datetime.UTC),
                "backlog": 1,
            },
            {"_id": ObjectId(), "client_id": ObjectId(), "produit": "PV", "departements": ["13"], "quota": 5},
            {"_id": ObjectId(), "client_id": CLIENT_ID, "produit": "PV", "departements": ["13"], "quota": "beaucoup"},
        ],
        "leads": [
            {
                "_id": LEAD_OK,
                "telephone": "06 12 34 56 78",
                "nom": "  Lefèvre ",
                "prenom": "Zoé",
                "mail": "ZOE@Example.FR",
                "cp": "13001",
                "ville": "Marseille",
                "produit": "pv",
                "statut": "Livré",
                "date_creation": CREATED,
                "date_livraison": CREATED + datetime.timedelta(days=1),
                "provider_id": PROVIDER_ID,
                "surface_toit": Int64(40),
                "consentement": "oui",
                "ip": "203.0.113.9",
                "historique": [{"date": CREATED, "action": "envoyé au client", "message": "lot 12"}],
                "__v": 3,
            },
            {
                "_id": LEAD_CORSE,
                "tel": "+33 7 81 23 45 67",
                "code_postal": "20090",
                "product_type": "PV",
                "company": "mdl",
                "status": "nouveau",
                "date_creation": Int64(int(CREATED.timestamp() * 1000)),
            },
            {"_id": ObjectId(), "phone": "0033 6 11 22 33 44", "zip": 20200, "produit": "PV", "entite": "MDL"},
            {"_id": ObjectId(), "telephone": "0611223345", "cp": 97110, "produit": "PV", "form_id": FORM_ID},
            {
                "_id": ObjectId(),
                "telephone": "611223346",
                "cp": 1000,
                "produit": "PV",
                "entite": "ZR7",
                "nom": "Ødegård 🌞",
            },
            {"_id": ObjectId(), "telephone": "06 11 22 33 47", "dept": "2b", "produit": "PV", "entite": "ZR7"},
            # Invalid documents: reported, never imported.
            {"_id": ObjectId(), "nom": "Sans téléphone", "cp": "13001", "produit": "PV", "entite": "ZR7"},
            {"_id": ObjectId(), "telephone": ["06"], "cp": "13001", "produit": "PV", "entite": "ZR7"},
            {"_id": ObjectId(), "telephone": "0612345679", "ville": "Lyon", "produit": "PV", "entite": "ZR7"},
            {"_id": ObjectId(), "telephone": "0612345680", "cp": "13001", "produit": "XYZ", "entite": "ZR7"},
            {"_id": ObjectId(), "telephone": "0612345681", "cp": "13001", "produit": "PV"},
            # Wrong types that are only reported: the lead is kept.
            {
                "_id": ObjectId(),
                "telephone": Int64(612345682),
                "cp": "13001",
                "produit": "PV",
                "entite": "ZR7",
                "date_creation": "pas une date",
                "mail": "pas-un-mail",
                "consentement": "peut-être",
            },
            # The same legacy id twice: the later version wins, no second row.
            {
                "_id": LEAD_DUP,
                "telephone": "0612345683",
                "cp": "13001",
                "produit": "PV",
                "entite": "ZR7",
                "nom": "Avant",
            },
            {
                "_id": LEAD_DUP,
                "telephone": "0612345683",
                "cp": "13001",
                "produit": "PV",
                "entite": "ZR7",
                "nom": "Après",
            },
        ],
        "settings": [
            {"_id": ObjectId(), "cle": "sources_blacklistees", "valeur": ["spam-source"]},
            {"_id": ObjectId(), "cle": "heure_envoi", "valeur": "08h45"},
            {"_id": ObjectId(), "cle": "couleur_du_logo", "valeur": "vert"},
        ],
    }


VALID_LEADS = 8  # 9 valid documents, one of them a duplicate id
INVALID_LEADS = 5


def write_jsonl(folder: Path, collections) -> None:
    for name, docs in collections.items():
        lines = [json_util.dumps(d, json_options=json_util.CANONICAL_JSON_OPTIONS) for d in docs]
        (folder / f"{name}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")


def write_json_array(folder: Path, collections) -> None:
    for name, docs in collections.items():
        text = json_util.dumps(docs, json_options=json_util.RELAXED_JSON_OPTIONS, indent=2, ensure_ascii=False)
        (folder / f"{name}.json").write_text(text, encoding="utf-8")


def write_bson(folder: Path, collections) -> None:
    for name, docs in collections.items():
        (folder / f"{name}.bson").write_bytes(b"".join(bson.encode(d) for d in docs))


def mongo_client(collections) -> mongomock.MongoClient:
    client = mongomock.MongoClient()
    for name, docs in collections.items():
        for doc in docs:
            client.legacy[name].replace_one({"_id": doc["_id"]}, doc, upsert=True)
    return client


def run(source, **kwargs):
    return LegacyImporter(source=source, chunk_size=4, **kwargs).run()


@pytest.fixture
def pv(db):
    return ProductFactory(code="PV")


def source_for(fmt: str, tmp_path: Path, collections):
    if fmt == "mongo":
        client = mongo_client(collections)
        return MongoSource("mongodb://legacy.invalid/", "legacy", client_factory=lambda uri, **kw: client)
    {"jsonl": write_jsonl, "json": write_json_array, "bson": write_bson}[fmt](tmp_path, collections)
    return DirectorySource(tmp_path)


@pytest.mark.parametrize("fmt", ["jsonl", "json", "bson", "mongo"])
def test_every_source_format_imports_the_same_rows(fmt, tmp_path, pv):
    collections = legacy_collections()
    if fmt == "mongo":
        # A live collection cannot hold one _id twice: the duplicate is a file-only case.
        collections["leads"] = collections["leads"][:-2] + collections["leads"][-1:]
    report = run(source_for(fmt, tmp_path, collections))

    leads = report.collections["leads"]
    assert leads.created == VALID_LEADS, leads.invalid
    assert len(leads.invalid) == INVALID_LEADS
    assert Lead.objects.count() == VALID_LEADS
    reasons = " | ".join(reason for _, reason in leads.invalid)
    assert "téléphone manquant" in reasons
    assert "produit « XYZ » inconnu" in reasons
    assert "département manquant" in reasons
    assert "entité manquante" in reasons

    lead = Lead.objects.get(legacy_id=str(LEAD_OK))
    assert (lead.phone, lead.email, lead.first_name, lead.last_name) == (
        "+33612345678",
        "zoe@example.fr",
        "Zoé",
        "Lefèvre",
    )
    assert lead.departement == "13"
    assert lead.status == "delivered"
    assert lead.created_at == CREATED
    assert lead.provider.legacy_id == str(PROVIDER_ID)
    assert (lead.entity, lead.entity_locked) == ("ZR7", True)
    assert lead.consent and str(lead.ip) == "203.0.113.9"
    assert lead.extra["ancien_systeme"]["surface_toit"] == 40
    assert "ville" not in lead.extra.get("ancien_systeme", {})
    assert not lead.attributions.exists()  # routing is not replayed
    received = lead.events.get(kind="received")
    assert received.created_at == CREATED
    assert "Importé de l'ancien système" in received.message
    assert lead.events.filter(message__contains="envoyé au client").exists()

    corse = Lead.objects.get(legacy_id=str(LEAD_CORSE))
    assert (corse.departement, corse.entity, corse.status, corse.created_at) == ("2A", "MDL", "no_order", CREATED)
    departements = sorted(Lead.objects.values_list("departement", flat=True))
    assert departements == sorted(["13", "2A", "2B", "971", "01", "2B", "13", "13"])
    assert Lead.objects.get(departement="971").form.code == "pv-ete"
    assert Lead.objects.filter(last_name="Ødegård 🌞").exists()
    if fmt != "mongo":
        assert Lead.objects.get(legacy_id=str(LEAD_DUP)).last_name == "Après"
    weird = Lead.objects.get(phone="+33612345682")
    assert weird.email == "" and weird.consent is False

    warnings = " | ".join(leads.warning_counts)
    assert "ville «…» : valeur non reprise" in warnings
    assert "e-mail «…» invalide" in warnings

    assert Provider.objects.get(legacy_id=str(PROVIDER_ID)).entity == "ZR7"
    assert len(report.collections["providers"].invalid) == 1
    client = Client.objects.get(legacy_id=str(CLIENT_ID))
    assert client.emails == ["achat@energie-sud.fr"] and client.entity == "MDL"
    commande = Commande.objects.get(legacy_id="64b000000000000000000c01")
    assert commande.departements == ["13", "2A", "75"]
    assert (commande.entity, commande.weekly_quota, str(commande.price), commande.accepts_backlog) == (
        "MDL",
        50,
        "12.50",
        True,
    )
    assert len(report.collections["commandes"].invalid) == 2
    form = LeadForm.objects.get(legacy_id=str(FORM_ID))
    assert form.allowed_origins == ["https://solaire.example", "https://www.solaire.example"]
    assert form.crm_api_key == "crm-key-123"
    settings = AppSettings.objects.get()
    assert settings.blacklisted_sources == ["spam-source"]
    assert settings.daily_delivery_time == datetime.time(8, 45)
    assert AuditLog.objects.filter(action="legacy_import").exists()
    # The dashboards' daily rollups include the imported history.
    assert DailyRollup.objects.filter(day=CREATED.date(), status="delivered").exists()


def test_a_rerun_updates_instead_of_duplicating(tmp_path, pv):
    collections = legacy_collections()
    write_jsonl(tmp_path, collections)
    run(DirectorySource(tmp_path))
    ids_before = set(Lead.objects.values_list("id", flat=True))
    events_before = LeadEvent.objects.exclude(lead__legacy_id=str(LEAD_DUP)).count()

    again = run(DirectorySource(tmp_path))
    assert again.collections["leads"].created == 0
    # The id present twice in the source is written twice, in order: the later version wins again.
    assert again.collections["leads"].unchanged == VALID_LEADS - 1
    assert again.collections["leads"].updated == 2
    assert again.collections["providers"].unchanged == 1
    assert again.collections["commandes"].unchanged == 1
    assert set(Lead.objects.values_list("id", flat=True)) == ids_before
    assert LeadEvent.objects.exclude(lead__legacy_id=str(LEAD_DUP)).count() == events_before
    assert Lead.objects.get(legacy_id=str(LEAD_DUP)).last_name == "Après"

    collections["leads"][0]["statut"] = "rejete"
    collections["leads"][0]["prenom"] = "Zoë"
    write_jsonl(tmp_path, collections)
    third = run(DirectorySource(tmp_path), only=["leads"])
    assert third.collections["leads"].updated == 1 + 2  # + the duplicate id, written twice
    lead = Lead.objects.get(legacy_id=str(LEAD_OK))
    assert (lead.status, lead.first_name) == ("rejected", "Zoë")
    assert lead.events.filter(message__startswith="Mis à jour depuis l'ancien système").exists()
    assert Lead.objects.count() == VALID_LEADS


def test_a_rerun_never_moves_a_client_or_a_form_to_the_other_entity(tmp_path, pv):
    collections = legacy_collections()
    write_jsonl(tmp_path, collections)
    run(DirectorySource(tmp_path))
    collections["clients"][0]["entite"] = "ZR7"
    collections["forms"][0]["entite"] = "ZR7"
    write_jsonl(tmp_path, collections)

    again = run(DirectorySource(tmp_path))

    # Its commandes, attributions and leads stay with the entity they were written for (§2).
    assert Client.objects.get(legacy_id=str(CLIENT_ID)).entity == "MDL"
    assert set(Commande.objects.values_list("entity", flat=True)) == {"MDL"}
    assert LeadForm.objects.get(legacy_id=str(FORM_ID)).entity == "MDL"
    for name in ("clients", "forms"):
        assert again.collections[name].warning_counts["entité «…» différente de RDZ, conservée"] == 1


def test_a_rerun_never_renames_a_form_whose_code_is_pasted_in_live_landing_pages(tmp_path, pv, client):
    collections = legacy_collections()
    write_jsonl(tmp_path, collections)
    run(DirectorySource(tmp_path))
    code = LeadForm.objects.get(legacy_id=str(FORM_ID)).code
    collections["forms"][0]["code"] = "pv-ete-2024"
    write_jsonl(tmp_path, collections)

    again = run(DirectorySource(tmp_path))

    # /t/<code>.js and the submit URL of the pages already online keep answering.
    assert LeadForm.objects.get(legacy_id=str(FORM_ID)).code == code
    assert client.get(f"/t/{code}.js").status_code == 200
    assert again.collections["forms"].warning_counts["code «…» différent de RDZ, conservé"] == 1


def test_a_dry_run_writes_nothing(tmp_path, pv):
    write_bson(tmp_path, legacy_collections())
    models = (Lead, LeadEvent, Provider, Client, Commande, LeadForm, AuditLog)
    before = [m.objects.count() for m in models]
    report = run(DirectorySource(tmp_path), dry_run=True)
    assert report.collections["leads"].created == VALID_LEADS
    assert [m.objects.count() for m in models] == before
    assert AppSettings.objects.filter(blacklisted_sources=["spam-source"]).count() == 0
    assert "SIMULATION" in report.as_text()


def test_a_broken_document_is_reported_and_the_import_goes_on(tmp_path, pv):
    good = [
        {"_id": ObjectId(), "telephone": f"06123456{n:02d}", "cp": "75011", "produit": "PV", "entite": "ZR7"}
        for n in range(3)
    ]
    lines = [json_util.dumps(good[0]), '{"_id": {"$oid": "64b0"}, "telephone": ', json_util.dumps(good[1])]
    lines += ['{"_id": {"$oid": "zz"}, "telephone": "0612345699"}', "[1, 2]", json_util.dumps(good[2])]
    (tmp_path / "leads.jsonl").write_text("\n".join(lines), encoding="utf-8")
    report = run(FileSource(tmp_path / "leads.jsonl"))
    leads = report.collections["leads"]
    assert leads.created == 3
    assert [ref for ref, _ in leads.invalid] == ["ligne 2", "ligne 4", "ligne 5"]

    array = "[" + json_util.dumps(good[0]) + ', {"_id": {"$oid": "zz"}}, ' + json_util.dumps(good[1]) + ", {"
    (tmp_path / "leads.json").write_text(array, encoding="utf-8")
    items = list(read_json_file(tmp_path / "leads.json"))
    assert [bool(i.doc) for i in items] == [True, False, True, False]

    (tmp_path / "leads.bson").write_bytes(b"".join(bson.encode(d) for d in good) + b"\x30\x00\x00")
    items = list(FileSource(tmp_path / "leads.bson").documents("leads"))
    assert [bool(i.doc) for i in items] == [True, True, True, False]
    assert "BSON illisible" in items[-1].error


def test_an_erased_lead_is_never_restored_by_a_rerun(tmp_path, pv):
    write_jsonl(tmp_path, {"leads": legacy_collections()["leads"]})
    run(DirectorySource(tmp_path))
    erased = Lead.objects.filter(legacy_id=str(LEAD_CORSE)).update(
        phone="", email="", first_name="", last_name="", anonymized_at=timezone.now()
    )
    assert erased == 1
    report = run(DirectorySource(tmp_path))
    assert report.collections["leads"].skipped == 1
    assert Lead.objects.get(legacy_id=str(LEAD_CORSE)).phone == ""


def test_an_imported_lead_on_the_opposition_list_is_marked_opposed(tmp_path, pv):
    OppositionEntry.objects.create(phone="+33781234567", source="Bloctel")
    write_jsonl(tmp_path, {"leads": legacy_collections()["leads"][1:2]})
    run(DirectorySource(tmp_path))
    lead = Lead.objects.get(legacy_id=str(LEAD_CORSE))
    assert lead.status == "opposed"
    assert lead.events.filter(kind="not_routed", message__contains="liste d'opposition").exists()


def test_the_command_prints_and_writes_the_report(tmp_path, pv):
    write_jsonl(tmp_path, legacy_collections())
    report_path = tmp_path / "out" / "rapport.txt"
    from io import StringIO

    out = StringIO()
    call_command(
        "import_legacy",
        "--dir",
        str(tmp_path),
        "--only",
        "providers,leads",
        "--report",
        str(report_path),
        stdout=out,
        stderr=StringIO(),
    )
    text = report_path.read_text(encoding="utf-8")
    assert "documents invalides" in text and "téléphone manquant" in text
    data = json.loads(report_path.with_suffix(".json").read_text(encoding="utf-8"))
    leads = next(c for c in data["collections"] if c["collection"] == "leads")
    # Forms were not imported (--only): the lead that only names its form has no entity.
    assert (leads["created"], leads["invalid"]) == (VALID_LEADS - 1, INVALID_LEADS + 1)
    assert "Rapport écrit" in out.getvalue()
    assert Client.objects.count() == 0  # --only


def test_the_command_refuses_an_unknown_collection(tmp_path):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match=r"^Collection inconnue : chats\. Possibles : "):
        call_command("import_legacy", "--dir", str(tmp_path), "--only", "leads,chats")
    with pytest.raises(CommandError, match=r"^Collections inconnues : chats, chiens\. Possibles : "):
        call_command("import_legacy", "--dir", str(tmp_path), "--only", "chiens,leads,chats")


@pytest.mark.parametrize(
    ("code", "departement"),
    [
        ("13001", "13"),
        (13001, "13"),
        ("01000", "01"),
        (1000, "01"),
        ("20000", "2A"),
        ("20190", "2A"),
        ("20200", "2B"),
        ("20600", "2B"),
        ("97110", "971"),
        ("97600", "976"),
        ("97800", None),  # Saint-Martin is not a §4 departement
        ("98000", None),  # Monaco
        ("Marseille", None),
        ("1300", "01"),
        (True, None),
    ],
)
def test_a_postal_code_folds_into_its_departement(code, departement):
    assert departement_from_postal_code(code) == departement


def test_old_media_are_checked_and_stored_by_the_media_library(tmp_path, settings):
    import io

    from PIL import Image

    from media_library.models import MediaAsset

    settings.MEDIA_ROOT = str(tmp_path / "media-root")
    files = tmp_path / "fichiers"
    files.mkdir()
    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), (200, 120, 0)).save(buffer, "PNG")
    (files / "toit.png").write_bytes(buffer.getvalue())
    (files / "faux.jpg").write_bytes(b"pas une image")
    docs = [
        {"_id": ObjectId(), "fichier": "toit.png", "titre": "Toit solaire", "entite": "partagé", "tags": "pv, toit"},
        {"_id": ObjectId(), "fichier": "faux.jpg", "titre": "Faux", "entite": "ZR7"},
        {"_id": ObjectId(), "fichier": "../secret.png", "entite": "ZR7"},
        {"_id": ObjectId(), "titre": "Sans fichier", "entite": "MDL"},
    ]
    write_bson(tmp_path, {"media": docs})
    report = LegacyImporter(source=DirectorySource(tmp_path), media_dir=files).run()
    media = report.collections["media"]
    assert media.created == 1
    assert len(media.invalid) == 3
    asset = MediaAsset.objects.get()
    assert (asset.entity, asset.title, asset.width, asset.legacy_id) == (
        "SHARED",
        "Toit solaire",
        40,
        str(docs[0]["_id"]),
    )
    assert sorted(asset.tags.values_list("name", flat=True)) == ["pv", "toit"]
    again = LegacyImporter(source=DirectorySource(tmp_path), media_dir=files).run()
    assert again.collections["media"].unchanged == 1
    assert MediaAsset.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_outside_a_transaction_chunks_are_written_by_a_second_connection_in_order(tmp_path):
    from django.db import connection

    ProductFactory(code="PV")
    same = ObjectId()
    docs = [
        {"_id": ObjectId(), "telephone": f"06 12 34 56 {n:02d}", "cp": "13001", "produit": "PV", "entite": "ZR7"}
        for n in range(7)
    ]
    docs.insert(3, {"_id": ObjectId(), "telephone": "12", "cp": "13001", "produit": "PV", "entite": "ZR7"})
    docs += [{**docs[0], "_id": same, "nom": "Avant"}, {**docs[0], "_id": same, "nom": "Après"}]
    write_jsonl(tmp_path, {"leads": docs})
    importer = LegacyImporter(source=DirectorySource(tmp_path), chunk_size=2)
    assert importer._can_pipeline() == (connection.vendor == "postgresql")
    report = importer.run()
    leads = report.collections["leads"]
    assert (leads.created, leads.updated, len(leads.invalid)) == (8, 1, 1)
    assert Lead.objects.count() == 8
    assert Lead.objects.get(legacy_id=str(same)).last_name == "Après"
    assert LeadEvent.objects.filter(kind="received").count() == 8


def test_the_command_reads_a_live_database_through_pymongo(monkeypatch, tmp_path, pv):
    import pymongo

    client = mongo_client({"leads": legacy_collections()["leads"][1:3]})
    monkeypatch.setattr(pymongo, "MongoClient", lambda uri, **kwargs: client)
    out = io.StringIO()
    call_command(
        "import_legacy",
        "--uri",
        "mongodb://legacy.invalid/",
        "--db",
        "legacy",
        "--no-progress",
        "--report",
        str(tmp_path / "r.txt"),
        stdout=out,
    )
    assert "base MongoDB legacy" in out.getvalue()
    assert Lead.objects.count() == 2


def test_a_refused_setting_is_reported_and_the_others_applied(tmp_path):
    docs = [
        {"_id": ObjectId(), "conservation_annees": 40, "age_backlog": 45},
        {"_id": ObjectId(), "cle": "heure_envoi", "valeur": "25:00"},
    ]
    write_jsonl(tmp_path, {"settings": docs})
    report = run(DirectorySource(tmp_path))
    settings = report.collections["settings"]
    assert [ref for ref, _ in settings.invalid] == ["retention_years"]
    assert (settings.updated, settings.unchanged) == (1, 0)
    assert AppSettings.objects.get().backlog_age_days == 45
    assert "n'est pas une heure" in " ".join(settings.warning_counts)
    assert settings.notes == ["1 paramètre modifié, visible dans l'historique des paramètres"]


def test_a_client_url_on_an_internal_address_is_not_taken_over_in_production(tmp_path, pv, settings):
    settings.DELIVERY_PRIVATE_HOSTS_ALLOWED = False
    collections = legacy_collections()
    collections["clients"][0]["url_api"] = "http://10.0.0.5/hook"
    write_jsonl(tmp_path, collections)

    report = run(DirectorySource(tmp_path))

    assert Client.objects.get(legacy_id=str(CLIENT_ID)).api_url == ""
    (warning,) = [w for w in report.collections["clients"].warning_counts if "adresse interne" in w]
    assert "10.0.0.5" in warning


def test_a_rerun_never_puts_a_lead_routed_by_rdz_back_in_the_backlog(tmp_path, pv):
    """Once RDZ has attributed an imported lead, its status is RDZ's: a rerun of the same
    source must not turn it back into "no_order", or the backlog would sell it again."""
    from commandes.models import Attribution
    from routing.backlog import backlog_recycle
    from tests.factories import ClientFactory, CommandeFactory

    write_jsonl(tmp_path, {"leads": legacy_collections()["leads"][1:2]})  # "nouveau", MDL, 2A
    first = run(DirectorySource(tmp_path))
    assert (
        f"statistiques quotidiennes recalculées pour 1 jour, le {CREATED:%d/%m/%Y}" in first.collections["leads"].notes
    )
    assert AuditLog.objects.get(action="legacy_import").message.endswith(
        " : 1 créé, 0 mis à jour, 0 inchangé, 0 ignoré, 0 invalide."
    )
    for name in ("Premier", "Second"):
        CommandeFactory(client=ClientFactory(entity="MDL", name=name), product=pv, accepts_backlog=True)
    assert backlog_recycle().recycled == 1
    lead = Lead.objects.get(legacy_id=str(LEAD_CORSE))
    assert lead.status == "routed"

    again = run(DirectorySource(tmp_path))

    lead.refresh_from_db()
    assert lead.status == "routed"
    assert again.collections["leads"].unchanged == 1
    assert backlog_recycle().recycled == 0
    # A later change of the old record does not move it to the other entity either (§2).
    docs = legacy_collections()["leads"][1:2]
    docs[0].update(company="ZR7", nom="Martin")
    write_jsonl(tmp_path, {"leads": docs})
    third = run(DirectorySource(tmp_path))
    lead.refresh_from_db()
    assert (lead.status, lead.entity, lead.last_name) == ("routed", "MDL", "Martin")
    assert third.collections["leads"].updated == 1
    assert "lead attribué par RDZ depuis l'import : valeurs de RDZ conservées (entité, statut)" in (
        third.collections["leads"].warning_counts
    )
    assert backlog_recycle().recycled == 0
    assert Attribution.objects.filter(lead=lead).count() == 1


def test_old_dates_are_read_as_paris_dates_and_times(tmp_path, pv):
    """The old application stored a commande's first and last day as midnight in Paris
    (ISODate in UTC: the evening before), and wrote its text dates in Paris time."""
    client_id = ObjectId()
    docs = {
        "clients": [{"_id": client_id, "nom": "Soleil", "entite": "ZR7"}],
        "commandes": [
            {
                "_id": ObjectId(),
                "client_id": client_id,
                "produit": "PV",
                "departements": ["13"],
                "quota": 10,
                "date_debut": datetime.datetime(2024, 3, 31, 22, 0, tzinfo=datetime.UTC),  # 1 Apr, summer time
                "date_fin": datetime.datetime(2024, 12, 31, 23, 0, tzinfo=datetime.UTC),  # 1 Jan, winter time
            }
        ],
        "leads": [
            {
                "_id": ObjectId(),
                "telephone": "0612345678",
                "cp": "13001",
                "produit": "PV",
                "entite": "ZR7",
                "date_creation": "2024-07-01 10:00:00",
                "date_livraison": "2024-01-15T10:00:00",
            }
        ],
    }
    write_jsonl(tmp_path, docs)
    run(DirectorySource(tmp_path))

    commande = Commande.objects.get()
    assert (commande.starts_on, commande.ends_on) == (datetime.date(2024, 4, 1), datetime.date(2025, 1, 1))
    lead = Lead.objects.get()
    assert lead.created_at == datetime.datetime(2024, 7, 1, 8, 0, tzinfo=datetime.UTC)
    delivered = lead.events.get(message="Livré par l'ancien système")
    assert delivered.created_at == datetime.datetime(2024, 1, 15, 9, 0, tzinfo=datetime.UTC)


def test_a_never_date_is_reported_and_the_import_goes_on(tmp_path, pv):
    """Old data marks "never" with 9999-12-31: in Paris time that moment overflows the
    calendar, which stopped the whole import."""
    never = datetime.datetime(9999, 12, 31, 23, 30, tzinfo=datetime.UTC)
    docs = [
        {"_id": ObjectId(), "telephone": f"06123456{n}0", "cp": "13001", "produit": "PV", "entite": "ZR7"}
        for n in range(3)
    ]
    docs[0]["date_creation"] = never
    docs[1]["date_livraison"] = never
    write_bson(tmp_path, {"leads": docs})

    report = run(DirectorySource(tmp_path))

    leads = report.collections["leads"]
    assert (leads.created, leads.invalid) == (3, [])
    assert "date de création «…» hors limites (1900–2999), non reprise" in leads.warning_counts
    assert not LeadEvent.objects.filter(created_at__year=9999).exists()
    assert not Lead.objects.filter(created_at__year=9999).exists()


def test_a_dump_document_with_text_that_is_not_utf8_does_not_end_the_file(tmp_path, pv):
    """Old drivers could store invalid UTF-8; mongodump copies it as is. That document used
    to end the reading of the dump: every lead after it was lost."""
    docs = [
        {"_id": ObjectId(), "telephone": f"06123456{n}0", "cp": "13001", "produit": "PV", "entite": "ZR7", "nom": "Zoé"}
        for n in range(3)
    ]
    raw = [bytearray(bson.encode(d)) for d in docs]
    accent = raw[1].index("é".encode())
    raw[1][accent : accent + 2] = b"\xe9\x20"  # Latin-1 "é", same length
    broken_type = bytearray(bson.encode({"_id": ObjectId(), "x": 1}))
    broken_type[4] = 0x7A  # unknown BSON type: this document alone is unreadable
    (tmp_path / "leads.bson").write_bytes(bytes(raw[0]) + bytes(broken_type) + bytes(raw[1]) + bytes(raw[2]))

    report = run(DirectorySource(tmp_path))

    leads = report.collections["leads"]
    assert leads.created == 3
    assert [ref for ref, _ in leads.invalid] == ["document 2"]
    assert "texte non UTF-8 : caractères illisibles remplacés" in leads.warning_counts
    assert sorted(Lead.objects.values_list("last_name", flat=True)) == sorted(["Zo\ufffd", "Zoé", "Zoé"])


def test_a_form_lead_takes_its_form_entity_as_at_intake(tmp_path, pv):
    """A form's leads belong to the form's entity (§2, §11); a different entity on the old
    record (the company that bought it through the fallback) must not hand the lead and
    its form's name to the other company."""
    collections = legacy_collections()
    lead = {"_id": ObjectId(), "telephone": "0611223345", "cp": "13001", "produit": "PV", "form_id": FORM_ID}
    write_jsonl(tmp_path, {"forms": collections["forms"], "leads": [{**lead, "entite": "ZR7"}]})

    report = run(DirectorySource(tmp_path))

    imported = Lead.objects.get()
    assert (imported.form.entity, imported.entity, imported.entity_locked) == ("MDL", "MDL", False)
    assert "entité ZR7 remplacée par celle du formulaire (MDL)" in " ".join(
        text for _, text in report.collections["leads"].warning_examples
    )


def test_an_import_after_an_erasure_never_brings_the_person_back(tmp_path, pv):
    """The person asked for erasure before their old leads were imported (a first import,
    or one collection at a time): those leads are kept for the counts, without their data."""
    from leads.services_rgpd import rgpd_erase

    rgpd_erase(phone="07 81 23 45 67")
    corse = {
        **legacy_collections()["leads"][1],
        "nom": "Lefèvre",
        "mail": "zoe@example.fr",
        "historique": [{"date": CREATED, "action": "appel", "message": "Zoé Lefèvre rappelée au 0781234567"}],
    }
    write_jsonl(tmp_path, {"leads": [corse]})

    report = run(DirectorySource(tmp_path))

    lead = Lead.objects.get(legacy_id=str(LEAD_CORSE))
    assert lead.anonymized_at is not None and lead.status == "opposed"
    assert (lead.phone, lead.email, lead.last_name, lead.extra) == ("", "", "", {})
    texts = " ".join(f"{e.message} {json.dumps(e.data)}" for e in lead.events.all())
    assert "Lefèvre" not in texts and "0781234567" not in texts
    assert "numéro effacé à la demande de la personne" in " ".join(report.collections["leads"].warning_counts)
    assert run(DirectorySource(tmp_path)).collections["leads"].skipped == 1


def test_a_phone_departement_or_postal_code_stored_as_a_double_is_read_as_its_number(tmp_path, pv):
    """The old shell and drivers store numbers as doubles (a phone beyond 32 bits always):
    33612345678.0 was refused as a phone, and 13001.0 as a postal code, so the lead was lost."""
    docs = [
        {"_id": ObjectId(), "telephone": 33612345678.0, "cp": 13001.0, "produit": "PV", "entite": "ZR7"},
        {"_id": ObjectId(), "telephone": 612345679.0, "dept": 13.0, "produit": "PV", "entite": "ZR7"},
        {"_id": ObjectId(), "telephone": Decimal128("781234567"), "departement": 2.0, "produit": "PV", "entite": "ZR7"},
        {"_id": ObjectId(), "telephone": 612345670.5, "cp": "13001", "produit": "PV", "entite": "ZR7"},
    ]
    write_bson(tmp_path, {"leads": docs})

    report = run(DirectorySource(tmp_path))

    leads = report.collections["leads"]
    assert leads.created == 3
    assert [reason for _, reason in leads.invalid] == [
        "téléphone « 612345670.5 » : Numéro de téléphone français invalide."
    ]
    assert sorted(Lead.objects.values_list("phone", "departement")) == [
        ("+33612345678", "13"),
        ("+33612345679", "13"),
        ("+33781234567", "02"),
    ]
    assert not [w for w in leads.warning_counts if "département" in w or "cp" in w]


def test_a_rerun_after_an_interrupted_import_rebuilds_the_daily_statistics(tmp_path, pv, monkeypatch):
    """The chunks written before an interruption stay; the rerun finds their leads unchanged
    and used to leave their days out of the dashboards' rollups for good."""
    import leads.stats

    docs = [
        {"_id": ObjectId(), "telephone": f"06123456{n:02d}", "cp": "13001", "produit": "PV", "entite": "ZR7"}
        for n in range(10)
    ]
    for doc in docs:
        doc["date_creation"] = CREATED
    write_bson(tmp_path, {"leads": docs})

    def interrupted(**kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(leads.stats, "rollup_refresh_day", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run(DirectorySource(tmp_path))
    monkeypatch.undo()
    assert Lead.objects.count() == 10 and not DailyRollup.objects.exists()

    report = run(DirectorySource(tmp_path))

    assert report.collections["leads"].unchanged == 10
    assert sum(DailyRollup.objects.filter(day=CREATED.date()).values_list("count", flat=True)) == 10


def test_a_syntax_error_in_a_json_array_is_reported_at_once_with_the_rest_of_the_file_ignored():
    """Past a syntax error the array's next element cannot be found: the reader kept reading
    (and re-copying) the whole rest of the file in memory before saying so, without saying
    that every later document was left out."""
    from leads.legacy import readers

    good = json_util.dumps({"_id": ObjectId(), "telephone": "0612345678", "cp": "13001", "produit": "PV"})
    text = "[" + good + ', {"_id": 1, "nom": "Dupont" "x"}, ' + ", ".join([good] * 20_000) + "]"

    class Counting(io.StringIO):
        consumed = 0

        def read(self, size=-1):
            chunk = super().read(size)
            Counting.consumed += len(chunk)
            return chunk

    items = list(readers._read_json_array(Counting(text[1:])))

    assert [bool(i.doc) for i in items] == [True, False]
    assert items[1].error.startswith("JSON illisible, fin du fichier ignorée :")
    assert Counting.consumed < len(text) / 10

    # A bad Extended JSON value in an element that goes on in the next chunk stopped the import.
    long = '{"_id": {"$oid": "zz"}, "note": "' + "x" * 100_000 + '"}'
    items = list(readers._read_json_array(io.StringIO(long + ", " + good + "]")))
    assert [bool(i.doc) for i in items] == [False, True]
    assert items[0].error.startswith("valeur illisible")


def test_a_form_origin_that_no_browser_sends_is_reported_and_the_others_kept_as_browsers_send_them(tmp_path, pv):
    """A bare domain or a page address never matches the Origin a browser sends: kept as
    written, the imported form silently refused every submission from its landing page."""
    form = {
        **legacy_collections()["forms"][0],
        "domaines": ["www.solaire.example", "HTTPS://Solaire.example:443/", "https://promo.example/landing"],
    }
    write_jsonl(tmp_path, {"forms": [form]})

    report = run(DirectorySource(tmp_path))

    assert LeadForm.objects.get().allowed_origins == ["https://solaire.example"]
    warnings = report.collections["forms"].warning_counts
    assert warnings["origine «…» non reprise : une origine s'écrit https://www.exemple.fr"] == 2


def test_a_rerun_keeps_what_staff_changed_in_rdz_and_reports_it_when_the_old_system_changed_it_too(tmp_path, pv):
    """Staff raise a quota, add a client's address or a form's site in RDZ while the old
    system still runs: a rerun must not put the old values back. What the old system changed
    and RDZ did not is still taken over."""
    collections = legacy_collections()
    write_jsonl(tmp_path, collections)
    run(DirectorySource(tmp_path))
    Client.objects.filter(legacy_id=str(CLIENT_ID)).update(emails=["achat@energie-sud.fr", "direction@energie-sud.fr"])
    Commande.objects.filter(legacy_id="64b000000000000000000c01").update(weekly_quota=80)
    origins = ["https://solaire.example", "https://www.solaire.example", "https://promo.solaire.example"]
    LeadForm.objects.filter(legacy_id=str(FORM_ID)).update(allowed_origins=origins)
    Provider.objects.filter(legacy_id=str(PROVIDER_ID)).update(name="Solaire Direct (RDZ)")

    # The old system left them as they were: RDZ's values stay, nothing to report.
    same = run(DirectorySource(tmp_path))

    assert Commande.objects.get(legacy_id="64b000000000000000000c01").weekly_quota == 80
    assert Provider.objects.get(legacy_id=str(PROVIDER_ID)).name == "Solaire Direct (RDZ)"
    for name in ("providers", "clients", "forms", "commandes"):
        assert same.collections[name].updated == 0, name
        assert "modifié dans RDZ" not in " ".join(same.collections[name].warning_counts), name

    # The old system changes the same fields, and others staff did not touch.
    collections["clients"][0].update(emails="compta@energie-sud.fr", nom="Énergie Sud SARL")
    collections["commandes"][0].update(quota=Int64(60), prix=Decimal128("13.00"))
    collections["forms"][0].update(domaines="https://solaire-2024.example", nom="Landing PV 2024")
    collections["providers"][0].update(actif=False, nom="Solaire Direct SAS")
    write_jsonl(tmp_path, collections)

    again = run(DirectorySource(tmp_path))

    client = Client.objects.get(legacy_id=str(CLIENT_ID))
    assert client.emails == ["achat@energie-sud.fr", "direction@energie-sud.fr"]
    assert client.name == "Énergie Sud SARL"
    commande = Commande.objects.get(legacy_id="64b000000000000000000c01")
    assert (commande.weekly_quota, str(commande.price)) == (80, "13.00")
    form = LeadForm.objects.get(legacy_id=str(FORM_ID))
    assert (form.allowed_origins, form.name) == (origins, "Landing PV 2024")
    provider = Provider.objects.get(legacy_id=str(PROVIDER_ID))
    assert (provider.active, provider.name) == (False, "Solaire Direct (RDZ)")
    kept = "modifié dans RDZ depuis le dernier import : valeur de RDZ conservée, l'ancien système indique «…»"
    for name, label in (
        ("clients", "e-mails de livraison"),
        ("commandes", "quota hebdomadaire"),
        ("forms", "origines autorisées"),
        ("providers", "nom"),
    ):
        assert again.collections[name].updated == 1, name
        assert again.collections[name].warning_counts[f"{label} {kept}"] == 1, name


def test_a_rerun_that_points_a_form_at_the_other_crm_sends_its_waiting_leads_there_as_primary(tmp_path, pv):
    """As when staff change the target in the admin: left aimed at the old CRM, the leads
    still waiting would be taken for fallbacks by the forwarding."""
    from tests.factories import LeadFactory

    collections = legacy_collections()
    write_jsonl(tmp_path, {"forms": collections["forms"]})
    run(DirectorySource(tmp_path))
    form = LeadForm.objects.get(legacy_id=str(FORM_ID))
    assert form.target_crm == "MDL"
    waiting = LeadFactory(entity="MDL", product=pv, form=form, crm_status="pending", crm_target="MDL")
    collections["forms"][0]["crm"] = "ZR7"
    write_jsonl(tmp_path, {"forms": collections["forms"]})

    run(DirectorySource(tmp_path))

    waiting.refresh_from_db()
    assert LeadForm.objects.get(pk=form.pk).target_crm == "ZR7"
    assert waiting.crm_target == "ZR7"
    assert waiting.events.filter(message__contains="CRM cible du formulaire changé (MDL → ZR7)").exists()


@pytest.mark.parametrize("fmt", ["jsonl", "json", "bson", "mongo"])
def test_a_date_beyond_the_calendar_is_reported_and_its_document_still_imported(fmt, tmp_path, pv):
    """A number of milliseconds past year 9999 (a sentinel, microseconds taken for
    milliseconds) is valid BSON and Extended JSON, but no Python date: it cost the whole
    document, and from a live database it stopped the import."""
    import pymongo

    doc = {
        "_id": LEAD_OK,
        "telephone": "0612345690",
        "cp": "13001",
        "produit": "PV",
        "entite": "ZR7",
        "date_creation": CREATED,
        "date_livraison": bson.DatetimeMS(253402300800000),
    }
    if fmt == "mongo":

        class Live:
            def __init__(self, uri, **options):
                real = pymongo.MongoClient(uri, connect=False, **options)
                self.options = real.codec_options  # decoded as pymongo decodes with these options
                real.close()

            def __getitem__(self, name):
                return self

            def list_collection_names(self):
                return ["leads"]

            def estimated_document_count(self):
                return 1

            def find(self, *args):
                return self

            def sort(self, *args):
                return self

            def batch_size(self, size):
                return self

            def __iter__(self):
                return iter([bson.decode(bson.encode(doc), codec_options=self.options)])

            def close(self):
                pass

        source = MongoSource("mongodb://legacy.invalid/", "legacy", client_factory=Live)
    else:
        source = source_for(fmt, tmp_path, {"leads": [doc]})

    report = run(source)

    leads = report.collections["leads"]
    assert leads.invalid == [] and leads.created == 1
    assert Lead.objects.get(legacy_id=str(LEAD_OK)).created_at == CREATED
    assert any("date de livraison" in w for w in leads.warning_counts)


def test_a_provider_slug_changed_in_the_old_system_is_kept_in_rdz_and_reported(tmp_path, pv):
    """The slug is the provider's source label and what the blacklist compares: RDZ's stays,
    but the operator is told the two systems now differ."""
    collections = legacy_collections()
    collections["providers"][0]["slug"] = "solaire-direct"
    write_jsonl(tmp_path, {"providers": collections["providers"]})
    run(DirectorySource(tmp_path))
    collections["providers"][0]["slug"] = "solaire-direct-2024"
    write_jsonl(tmp_path, {"providers": collections["providers"]})

    again = run(DirectorySource(tmp_path))

    assert Provider.objects.get(legacy_id=str(PROVIDER_ID)).slug == "solaire-direct"
    assert again.collections["providers"].warning_counts["identifiant «…» différent de RDZ («…»), conservé"] == 1
