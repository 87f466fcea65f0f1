"""RGPD (§16): erasure leaves no trace of the person anywhere, counts stay; export; retention."""

import datetime
import io
import json
import os
from collections import Counter

import pytest
from django.apps import apps
from django.core.management import call_command
from django.db import models
from django.db.models import Q
from django.utils import timezone

from commandes.delivery import delivery_send_daily
from commandes.models import Attribution, DeliveryBatch
from leads.models import Lead, LeadEvent, OppositionEntry
from leads.services_rgpd import lead_retention_anonymize, rgpd_erase, rgpd_export
from rdz.core.models import AuditLog, OutboxItem
from rdz.core.services import settings_update
from routing.models import CrmAttempt
from tests.factories import (
    CommandeFactory,
    HttpDeliveryAttemptFactory,
    LeadFactory,
    RejectionFactory,
)

pytestmark = pytest.mark.django_db

PHONE = "+33612345678"
EMAIL = "zoe.lefevre@example.fr"
TRACES = ["+33612345678", "0612345678", "06 12 34 56 78", "06.12.34.56.78", "612345678", EMAIL, "Lefèvre"]


@pytest.fixture(autouse=True)
def _files_and_mail(settings, tmp_path):
    settings.DELIVERY_ROOT = tmp_path / "deliveries"
    settings.MEDIA_ROOT = str(tmp_path / "media")
    locmem = {"EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend"}
    settings.ENTITY_EMAIL = {"ZR7": {**locmem, "FROM": "zr7@rdz.test"}, "MDL": {**locmem, "FROM": "mdl@rdz.test"}}


def post_lead(api_client, provider, **body):
    response = api_client.post(
        "/api/v1/leads/",
        {"product": "PV", "departement": "13", **body},
        format="json",
        HTTP_X_API_KEY=provider.api_key,
        REMOTE_ADDR="198.51.100.23",
    )
    assert response.status_code == 201, response.content
    return Lead.objects.get(pk=response.json()["id"])


def traces_in_database() -> list[str]:
    """Every (model.field) holding one of the person's traces, over every text/JSON column."""
    found = []
    for model in apps.get_models():
        if model._meta.proxy or not model._meta.managed:
            continue
        fields = [
            f
            for f in model._meta.concrete_fields
            if isinstance(f, models.CharField | models.TextField | models.JSONField)
        ]
        for f in fields:
            if model is OppositionEntry and f.name == "phone":
                continue  # the one copy kept on purpose: the opposition list needs the number
            query = Q()
            for trace in TRACES:
                query |= Q(**{f"{f.name}__icontains": trace})
            if model._default_manager.filter(query).exists():
                found.append(f"{model._meta.label}.{f.name}")
    return found


def traces_in_files(*roots) -> list[str]:
    found = []
    for root in roots:
        for folder, _, names in os.walk(root):
            for name in names:
                with open(os.path.join(folder, name), "rb") as handle:
                    data = handle.read()
                found += [f"{name}: {t}" for t in TRACES if t.encode() in data]
    return found


def status_counts() -> Counter:
    return Counter(Lead.objects.values_list("status", flat=True))


@pytest.fixture
def person_everywhere(api_client, zr7_provider, product, settings):
    """The person's data spread over every place RDZ stores it, next to someone else's."""
    commande = CommandeFactory(client__entity="ZR7", client__emails=["achats@client.example"], product=product)
    lead = post_lead(
        api_client,
        zr7_provider,
        phone="06 12 34 56 78",
        email=EMAIL.upper(),
        first_name="Zoé",
        last_name="Lefèvre",
        extra={"note": "rappeler au 06.12.34.56.78"},
    )
    other = post_lead(api_client, zr7_provider, phone="0698765432", email="autre@example.fr", last_name="Martin")
    assert lead.status == other.status == "routed"
    second = LeadFactory(phone=PHONE, email="", last_name="Lefèvre", status="no_order", product=product)
    LeadEvent.objects.create(lead=second, kind="note", message="Appel de Zoé Lefèvre au 0612345678")
    attribution = Attribution.objects.get(lead=lead)
    HttpDeliveryAttemptFactory(attribution=attribution, response_body=f'{{"accepted": "{PHONE}"}}')
    RejectionFactory(attribution=attribution, comment="Le client dit : 06 12 34 56 78 faux numéro")
    CrmAttempt.objects.create(
        lead=lead,
        crm="ZR7",
        phase="primary",
        attempt=1,
        url="http://127.0.0.1:9/crm",
        request_body={"telephone": "0612345678", "email": EMAIL, "nom": "Lefèvre", "prenom": "Zoé"},
        response_body=f"duplicate {EMAIL}",
        outcome="sent",
    )
    AuditLog.objects.create(action="note", message=f"Appel client au sujet de {PHONE}")
    OutboxItem.objects.create(kind="test", ref="1", entity="ZR7", status="failed", last_error=f"422 {EMAIL} refusé")
    report = delivery_send_daily()
    assert len(report.sent) == 1
    batch = DeliveryBatch.objects.get()
    with batch.file.open("rb") as handle:
        content = handle.read()
    assert b"0612345678" in content or PHONE.encode() in content
    return {"lead": lead, "other": other, "second": second, "batch": batch, "commande": commande}


def test_erasure_leaves_no_trace_in_any_table_or_file_and_keeps_the_counts(person_everywhere, settings):
    assert traces_in_database()  # the scan does see them before
    counts = status_counts()
    attributions = Attribution.objects.count()

    result = rgpd_erase(phone="+33 6 12 34 56 78")

    assert result.leads == 2
    assert traces_in_database() == []
    assert traces_in_files(settings.MEDIA_ROOT, settings.DELIVERY_ROOT) == []
    assert status_counts() == counts
    assert Attribution.objects.count() == attributions
    assert OppositionEntry.objects.filter(phone=PHONE, source="demande RGPD").exists()
    lead = Lead.objects.get(pk=person_everywhere["lead"].pk)
    assert lead.anonymized_at and lead.phone == "" and lead.ip is None and lead.extra == {}
    assert lead.events.filter(message__contains="effacement RGPD").exists()
    # The other person in the same CSV batch and tables is untouched.
    other = Lead.objects.get(pk=person_everywhere["other"].pk)
    assert (other.phone, other.email, other.last_name) == ("+33698765432", "autre@example.fr", "Martin")
    with person_everywhere["batch"].file.open("rb") as handle:
        content = handle.read().decode("utf-8-sig")
    assert "0698765432" in content or "+33698765432" in content
    assert "[anonymisé]" in content
    audit = AuditLog.objects.get(action="rgpd.erase")
    assert "2 leads anonymisés" in audit.message


def test_erasure_redacts_the_legacy_import_reports_that_quote_the_person(person_everywhere, settings, tmp_path):
    settings.VAR_DIR = tmp_path / "var"
    reports = settings.VAR_DIR / "imports"
    reports.mkdir(parents=True)
    (reports / "import-legacy-20261120-101500.txt").write_text(
        "leads : 1 invalide\n  doc 64b0 « 06 12 34 56 78 » (Zoé Lefèvre) : département manquant\n"
        "  doc 64b1 « 0698765432 » : département manquant\n",
        encoding="utf-8",
    )
    (reports / "import-legacy-20261120-101500.json").write_text(
        json.dumps({"invalid": [{"doc": {"telephone": "0612345678", "email": EMAIL}}]}, ensure_ascii=False, indent=1),
        encoding="utf-8",
    )

    result = rgpd_erase(phone=PHONE)

    assert traces_in_files(reports) == []
    text = (reports / "import-legacy-20261120-101500.txt").read_text(encoding="utf-8")
    assert "[anonymisé]" in text and "0698765432" in text  # the other person's line is kept
    json.loads((reports / "import-legacy-20261120-101500.json").read_text(encoding="utf-8"))  # still JSON
    assert result.files >= 2


def test_erasure_by_email_finds_the_phone_and_blocks_it(person_everywhere):
    call_command("rgpd_erase", "--email", EMAIL, stdout=io.StringIO())
    assert traces_in_database() == []
    assert OppositionEntry.objects.filter(phone=PHONE).exists()


def test_an_erased_person_sending_again_is_opposed_and_never_attributed(person_everywhere, api_client, zr7_provider):
    rgpd_erase(email=EMAIL)
    again = post_lead(api_client, zr7_provider, phone="0033612345678")
    assert again.status == "opposed"
    assert not again.attributions.exists()


def test_erasure_cancels_the_pending_delivery(api_client, zr7_provider, product):
    CommandeFactory(client__entity="ZR7", client__emails=["achats@client.example"], product=product)
    lead = post_lead(api_client, zr7_provider, phone="06 12 34 56 78", email=EMAIL)
    rgpd_erase(phone=PHONE)
    assert Attribution.objects.get(lead=lead).status == "cancelled"
    delivery_send_daily()
    assert not DeliveryBatch.objects.filter(count__gt=0).exists()


def test_erasure_redacts_the_stored_file_of_a_batch_whose_sending_failed(
    api_client, zr7_provider, product, entity_smtp, smtp_server, settings
):
    CommandeFactory(client__entity="ZR7", client__emails=["achats@client.example"], product=product)
    post_lead(api_client, zr7_provider, phone="06 12 34 56 78", email=EMAIL, last_name="Lefèvre")
    smtp_server.refuse = True
    assert len(delivery_send_daily().failed) == 1
    assert traces_in_files(settings.DELIVERY_ROOT)  # the file was built before the mail server refused it
    result = rgpd_erase(phone=PHONE)
    assert traces_in_files(settings.DELIVERY_ROOT) == []
    assert result.files == 1


def test_the_export_gives_everything_held_about_the_person(person_everywhere, tmp_path):
    data = rgpd_export(email=EMAIL)
    assert data["phones"] == [PHONE]
    assert len(data["leads"]) == 2
    first = next(item for item in data["leads"] if item["id"] == str(person_everywhere["lead"].pk))
    assert first["email"] == EMAIL and first["ip"] == "198.51.100.23"
    assert "leads.LeadEvent" in first["linked"] and "routing.CrmAttempt" in first["linked"]
    assert first["linked"]["commandes.Rejection"][0]["comment"].startswith("Le client dit")

    out = tmp_path / "export.json"
    call_command("rgpd_export", "--phone", "06 12 34 56 78", "--output", str(out), stderr=io.StringIO())
    assert json.loads(out.read_text(encoding="utf-8"))["emails"] == [EMAIL]


def test_the_export_includes_the_logs_that_quote_the_person(person_everywhere):
    """The erasure redacts the audit log, alerts and outside-call errors quoting the person:
    what it removes is held, so the access request shows it too."""
    AuditLog.objects.create(action="note", message="Appel au sujet du 0698765432")  # someone else

    data = rgpd_export(phone="06 12 34 56 78")

    assert [row["message"] for row in data["logs"]["core.AuditLog"]] == [f"Appel client au sujet de {PHONE}"]
    assert [row["last_error"] for row in data["logs"]["core.OutboxItem"]] == [f"422 {EMAIL} refusé"]


def test_an_export_is_audited_without_the_person_data(person_everywhere):
    """Handing a person's data out is an action to account for: who, when, how much."""
    call_command("rgpd_export", "--phone", "06 12 34 56 78", stdout=io.StringIO())
    entry = AuditLog.objects.get(action="rgpd.export")
    assert entry.actor_label == "commande rgpd_export"
    assert "2 leads, " in entry.message
    assert not [trace for trace in TRACES if trace.lower() in entry.message.lower()]


def test_the_erasure_and_export_counts_read_in_french(product, tmp_path):
    """« 1 lead(s) anonymisé(s) », « 1 numéro(s) sur la liste d'opposition (1 ajout(s)) »: a form letter."""
    LeadFactory(phone=PHONE, email=EMAIL, product=product)

    out = tmp_path / "export.json"
    stderr = io.StringIO()
    call_command("rgpd_export", "--phone", PHONE, "--output", str(out), stderr=stderr)
    assert stderr.getvalue().startswith("1 lead exporté dans ")
    export = AuditLog.objects.get(action="rgpd.export").message
    assert export.startswith("Export RGPD (droit d'accès) : 1 lead, 0 entrée de la liste d'opposition, ")
    assert "(s)" not in export

    stdout = io.StringIO()
    call_command("rgpd_erase", "--phone", PHONE, stdout=stdout)
    printed = stdout.getvalue()
    assert printed.startswith("1 lead anonymisé, ")
    assert printed.rstrip().endswith("; 1 numéro sur la liste d'opposition (1 ajout).")
    erase = AuditLog.objects.get(action="rgpd.erase").message
    assert erase.startswith("Effacement RGPD : 1 lead anonymisé, ")
    assert erase.endswith(", 1 numéro sur la liste d'opposition.")
    assert "(s)" not in printed + erase


def test_a_one_year_retention_reads_one_year(product):
    now = timezone.now()
    LeadFactory(created_at=now - datetime.timedelta(days=400), product=product)
    settings_update(user=None, changes={"retention_years": 1})

    assert lead_retention_anonymize(now=now) == 1

    assert AuditLog.objects.get(action="rgpd.retention").message == "Durée de conservation (1 an) : 1 lead anonymisé."
    lead = Lead.objects.get()
    assert lead.events.filter(message__contains="conservation de 1 an dépassée").exists()


def test_a_bad_request_is_refused_in_french():
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="--phone ou --email"):
        call_command("rgpd_erase")
    with pytest.raises(CommandError, match="Numéro invalide"):
        call_command("rgpd_erase", "--phone", "12")


def test_retention_anonymizes_only_leads_past_the_period_and_can_run_twice(product):
    now = timezone.now()
    old = LeadFactory(phone="+33611111111", created_at=now - datetime.timedelta(days=3 * 366), product=product)
    LeadEvent.objects.create(lead=old, kind="note", message="Validé : +33611111111")
    recent = LeadFactory(phone="+33622222222", created_at=now - datetime.timedelta(days=2 * 365), product=product)
    counts = status_counts()

    assert lead_retention_anonymize(now=now) == 1
    assert lead_retention_anonymize(now=now) == 0
    old.refresh_from_db()
    recent.refresh_from_db()
    assert old.anonymized_at and old.phone == ""
    assert not LeadEvent.objects.filter(message__contains="+33611111111").exists()
    assert recent.anonymized_at is None and recent.phone == "+33622222222"
    assert status_counts() == counts
    assert not OppositionEntry.objects.exists()  # retention is not an objection

    settings_update(user=None, changes={"retention_years": 1})
    assert lead_retention_anonymize(now=now) == 1


def test_a_retention_run_out_of_time_stops_between_chunks_and_audits_what_it_anonymized(product):
    now = timezone.now()
    for _ in range(3):
        LeadFactory(created_at=now - datetime.timedelta(days=4 * 365), product=product)

    # A spent budget: one chunk, then stop, rather than be cut mid-chunk by the task's time limit.
    assert lead_retention_anonymize(now=now, chunk_size=1, budget_seconds=0) == 1

    assert Lead.objects.filter(anonymized_at__isnull=False).count() == 1
    (audit,) = AuditLog.objects.filter(action="rgpd.retention")
    assert "Durée de conservation (3 ans) : 1 lead anonymisé." in audit.message
    assert lead_retention_anonymize(now=now, chunk_size=1) == 2  # the next run carries on


def test_the_nightly_retention_task_carries_on_in_a_new_task_until_no_lead_is_left(product, settings, monkeypatch):
    from leads import services_rgpd, tasks

    settings.CELERY_TASK_SOFT_TIME_LIMIT = 0  # every run spends its budget on its first chunk
    monkeypatch.setattr(services_rgpd, "RETENTION_CHUNK", 2)
    follow_ups: list[int] = []
    monkeypatch.setattr(tasks.lead_retention_run, "apply_async", lambda *a, **kw: follow_ups.append(1))
    for _ in range(3):
        LeadFactory(created_at=timezone.now() - datetime.timedelta(days=4 * 365), product=product)

    assert tasks.lead_retention_run() == 2
    assert follow_ups == [1]  # 1 lead left: a new task is queued
    assert tasks.lead_retention_run() == 1
    assert follow_ups == [1]  # none left: the chain ends
    assert not Lead.objects.filter(anonymized_at__isnull=True).exists()
    assert AuditLog.objects.filter(action="rgpd.retention").count() == 2


def test_the_retention_job_is_scheduled_in_beat():
    from django_celery_beat.models import PeriodicTask

    task = PeriodicTask.objects.get(task="leads.tasks.lead_retention_run")
    assert task.enabled and task.crontab.timezone.key == "Europe/Paris"
    assert "conservation" in task.description


WRITTEN = [
    "+33612345678",
    "0612345678",
    "06 12 34 56 78",
    "06.12.34.56.78",
    "0033612345678",
    "+33 6 12 34 56 78",
    "0033 6 12 34 56 78",
    "+33 6.12.34.56.78",
    "+33 (0)6 12 34 56 78",
    "+33 612 345 678",
    "06 12 34 5678",
    "06\u00a012\u00a034\u00a056\u00a078",
    "33 6 12 34 56 78",
]


def test_erasure_finds_the_phone_however_it_was_written_in_free_text(product):
    """Only a fixed list of spellings was redacted: a note, an old system's history or an
    endpoint's error quoting "0033 6 12…", "+33 (0)6…" or "06 12 34 5678" kept the number."""
    lead = LeadFactory(phone=PHONE, product=product, status="no_order")
    for text in WRITTEN:
        LeadEvent.objects.create(lead=lead, kind="note", message=f"Rappel au {text}, puis au 0698765432.")
        AuditLog.objects.create(action="note", message=f"Appel du {text}")

    rgpd_erase(phone="06 12 34 56 78")

    notes = list(lead.events.filter(message__startswith="Rappel").values_list("message", flat=True))
    assert notes == ["Rappel au [anonymisé], puis au 0698765432."] * len(WRITTEN)
    assert list(AuditLog.objects.filter(action="note").values_list("message", flat=True)) == [
        "Appel du [anonymisé]"
    ] * len(WRITTEN)


def test_the_export_includes_the_landing_visits_of_a_form_lead(product):
    from leads.models import TrackingEvent
    from tests.factories import LeadFormFactory

    form = LeadFormFactory(product=product)
    LeadFactory(phone=PHONE, form=form, visitor_id="visitor-42", product=product)
    TrackingEvent.objects.create(form=form, event="visit", visitor_id="visitor-42")
    TrackingEvent.objects.create(form=form, event="visit", visitor_id="someone-else")
    data = rgpd_export(phone=PHONE)
    visits = data["leads"][0]["linked"]["leads.TrackingEvent"]
    assert [v["visitor_id"] for v in visits] == ["visitor-42"]


@pytest.mark.parametrize("email", [" ", "jean.dupont@exemple,fr", "pas-une-adresse"])
def test_an_erasure_or_export_with_a_blank_or_malformed_email_is_refused_and_touches_nobody(email, product):
    from django.core.management.base import CommandError

    without_email = LeadFactory(email="", product=product)
    with pytest.raises(CommandError, match="Adresse e-mail invalide"):
        call_command("rgpd_erase", "--email", email, stdout=io.StringIO())
    with pytest.raises(CommandError, match="Adresse e-mail invalide"):
        call_command("rgpd_export", "--email", email, stdout=io.StringIO())

    without_email.refresh_from_db()
    assert without_email.anonymized_at is None
    assert without_email.phone
    assert not OppositionEntry.objects.exists()


def test_an_export_to_a_folder_that_does_not_exist_is_refused_clearly_and_not_audited(person_everywhere, tmp_path):
    from django.core.management.base import CommandError

    target = tmp_path / "absent" / "export.json"
    with pytest.raises(CommandError, match="Impossible d'écrire"):
        call_command("rgpd_export", "--phone", "06 12 34 56 78", "--output", str(target), stderr=io.StringIO())
    assert not AuditLog.objects.filter(action="rgpd.export").exists()


def test_erasure_redacts_the_mails_kept_by_the_file_backend_of_the_embedded_default(
    api_client, zr7_provider, product, settings, tmp_path
):
    """Without an SMTP account, the daily CSV e-mails are written to EMAIL_FILE_PATH, the
    attached CSV in clear: the person's line stayed there after the erasure."""
    filemail = {"EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend"}
    settings.ENTITY_EMAIL = {"ZR7": {**filemail, "FROM": "zr7@rdz.test"}, "MDL": {**filemail, "FROM": "mdl@rdz.test"}}
    settings.EMAIL_FILE_PATH = str(tmp_path / "mails")
    CommandeFactory(client__entity="ZR7", client__emails=["achats@client.example"], product=product)
    post_lead(api_client, zr7_provider, phone="06 12 34 56 78", email=EMAIL, first_name="Zoé", last_name="Lefèvre")
    post_lead(api_client, zr7_provider, phone="0698765432", email="autre@example.fr", last_name="Martin")
    assert len(delivery_send_daily().sent) == 1
    assert traces_in_files(settings.EMAIL_FILE_PATH)

    result = rgpd_erase(phone=PHONE)

    assert traces_in_files(settings.EMAIL_FILE_PATH) == []
    (mail,) = (tmp_path / "mails").iterdir()
    text = mail.read_text(encoding="utf-8")
    assert "[anonymisé]" in text and "+33698765432" in text and "Martin" in text
    assert result.files == 2  # the stored batch and the mail


def test_the_export_includes_the_stored_file_lines_that_the_erasure_redacts(person_everywhere, settings, tmp_path):
    """The erasure redacts the person's lines in the stored CSV batches, the import reports
    and the kept e-mails: what it removes is held, so the access request shows it too."""
    settings.VAR_DIR = tmp_path / "var"
    (settings.VAR_DIR / "imports").mkdir(parents=True)
    (settings.VAR_DIR / "imports" / "import-legacy-20261120-101500.txt").write_text(
        "  doc 64b0 « 06 12 34 56 78 » : département manquant\n  doc 64b1 « 0698765432 » : idem\n", encoding="utf-8"
    )

    data = rgpd_export(phone=PHONE)

    lines = [line for file_lines in data["files"].values() for line in file_lines]
    assert any(PHONE in line and "Lefèvre" in line for line in lines)  # the CSV batch row
    assert "  doc 64b0 « 06 12 34 56 78 » : département manquant" in lines
    assert not any("0698765432" in line for line in lines)  # someone else's


@pytest.mark.parametrize(
    ("now", "created", "past"),
    [
        # Summer time began on 26 March 2023 but on 29 March 2026: in UTC the cutoff moved an hour.
        ("2026-03-28 02:30", "2023-03-28 03:00", False),
        ("2026-03-28 02:30", "2023-03-28 02:00", True),
        # 29 February: three years earlier the period ends with 28 February, not on 1 March.
        ("2028-02-29 00:30", "2025-03-01 00:15", False),
        ("2028-02-29 00:30", "2025-02-28 23:50", True),
    ],
)
def test_the_retention_period_is_counted_in_paris_time(now, created, past, product):
    def paris(text: str) -> datetime.datetime:
        return datetime.datetime.strptime(text, "%Y-%m-%d %H:%M").replace(tzinfo=timezone.get_default_timezone())

    lead = LeadFactory(created_at=paris(created), product=product)

    lead_retention_anonymize(now=paris(now).astimezone(datetime.UTC))  # the worker's clock is UTC

    lead.refresh_from_db()
    assert (lead.anonymized_at is not None) is past


def test_an_erasure_and_an_export_span_both_entities(product):
    """A person is one person for the two companies (§2 separates staff, not data subjects)."""
    zr7 = LeadFactory(entity="ZR7", phone=PHONE, email=EMAIL, product=product)
    mdl = LeadFactory(entity="MDL", phone=PHONE, email="", product=product)

    assert {lead["entity"] for lead in rgpd_export(email=EMAIL)["leads"]} == {"ZR7", "MDL"}
    assert rgpd_erase(email=EMAIL).leads == 2
    assert Lead.objects.get(pk=zr7.pk).anonymized_at and Lead.objects.get(pk=mdl.pk).anonymized_at


def test_the_commands_say_they_work_across_both_entities():
    from django.core.management import load_command_class

    for name in ("rgpd_erase", "rgpd_export"):
        help_text = load_command_class("leads", name).create_parser("manage.py", name).format_help()
        assert "ZR7 et MDL" in " ".join(help_text.split())
