"""Daily CSV e-mail (§10) against a real SMTP server (aiosmtpd)."""

import codecs
import csv
import io

import pytest
from django.urls import reverse
from django.utils import timezone

from commandes.delivery import delivery_batch_process, delivery_send_daily
from commandes.models import Attribution, BatchStatus, DeliveryBatch
from leads.models import LeadEvent
from rdz.core.models import Alert, AlertState, AuditLog
from rdz.core.services import outbox_due
from tests.factories import (
    AttributionFactory,
    CommandeFactory,
    LeadFactory,
    OppositionEntryFactory,
    ProductFieldFactory,
)

pytestmark = [pytest.mark.django_db, pytest.mark.integration]


def _pending(commande, **lead_kwargs) -> Attribution:
    lead = LeadFactory(entity=commande.entity, product=commande.product, status="routed", **lead_kwargs)
    return AttributionFactory(lead=lead, commande=commande)


def _csv_rows(message) -> tuple[bytes, list[list[str]]]:
    (name, content), *_ = [a for a in message.iter_attachments() for a in [(a.get_filename(), a.get_content())]]
    assert name.endswith(".csv")
    raw = content if isinstance(content, bytes) else content.encode("utf-8")
    return raw, list(csv.reader(io.StringIO(raw.decode("utf-8-sig")), delimiter=";"))


def _message_to(smtp, address):
    matches = [m for m in smtp.messages if address in m["To"]]
    assert len(matches) == 1, [m["To"] for m in smtp.messages]
    return matches[0]


def test_each_client_gets_one_email_from_its_entitys_sender_with_exactly_its_pending_leads(entity_smtp, product):
    ProductFieldFactory(product=product, name="surface", label="Surface (m²)", type="integer")
    zr7 = CommandeFactory(client__entity="ZR7", client__emails=["achats@soleil.example"], product=product)
    mdl = CommandeFactory(client__entity="MDL", client__emails=["leads@maison.example"], product=product)
    pending = [_pending(zr7, first_name="Zoé", extra={"surface": 120}) for _ in range(3)]
    backlog = _pending(zr7, first_name="Hélène")
    Attribution.objects.filter(pk=backlog.pk).update(is_backlog=True)
    other_entity = _pending(mdl)
    already = AttributionFactory(commande=zr7, status="delivered")

    report = delivery_send_daily()

    assert len(report.sent) == 2 and not report.failed
    message = _message_to(entity_smtp, "achats@soleil.example")
    assert message["From"] == "livraison@zr7.test"
    assert _message_to(entity_smtp, "leads@maison.example")["From"] == "livraison@mdl.test"
    raw, rows = _csv_rows(message)
    assert raw.startswith(codecs.BOM_UTF8)
    header, body = rows[0], rows[1:]
    assert header[:4] == ["Référence lead", "Date d'attribution", "Prénom", "Nom"]
    assert "Surface (m²)" in header and header[-1] == "Lien de rejet"
    by_lead = {row[0]: dict(zip(header, row, strict=True)) for row in body}
    assert set(by_lead) == {str(a.lead_id) for a in [*pending, backlog]}
    assert str(already.lead_id) not in by_lead and str(other_entity.lead_id) not in by_lead
    assert by_lead[str(backlog.lead_id)]["Lead Backlog"] == "oui"
    assert by_lead[str(pending[0].lead_id)]["Lead Backlog"] == "non"
    assert by_lead[str(pending[0].lead_id)]["Prénom"] == "Zoé"
    assert by_lead[str(pending[0].lead_id)]["Surface (m²)"] == "120"
    assert by_lead[str(pending[0].lead_id)]["Lien de rejet"].startswith("http")
    for attribution in [*pending, backlog]:
        attribution.refresh_from_db()
        assert attribution.status == "delivered" and attribution.delivered_at is not None
        assert attribution.lead.status == "delivered"
        assert attribution.lead.events.filter(kind=LeadEvent.Kind.DELIVERED).count() == 1
    batch = DeliveryBatch.objects.get(client=zr7.client)
    assert batch.status == BatchStatus.SENT and batch.count == 4 and batch.file


def test_the_clients_csv_neutralizes_formulas_typed_into_a_lead(entity_smtp, product):
    """A landing form is public: « =HYPERLINK(…) » typed as a name must reach the client's
    spreadsheet as text, not as a formula (CSV injection)."""
    ProductFieldFactory(product=product, name="note", label="Note", type="text")
    ProductFieldFactory(product=product, name="ecart", label="Écart", type="integer")
    commande = CommandeFactory(client__emails=["achats@soleil.example"], product=product, name="@Sud")
    attribution = _pending(
        commande,
        first_name='=HYPERLINK("http://pirate.example";"Cliquez")',
        last_name="+1+1",
        email="-2@exemple.fr",
        extra={"note": "@SUM(A1)", "ecart": -5},
    )

    delivery_send_daily()

    _, rows = _csv_rows(_message_to(entity_smtp, "achats@soleil.example"))
    row = dict(zip(rows[0], rows[1], strict=True))
    assert row["Prénom"] == '\'=HYPERLINK("http://pirate.example";"Cliquez")'
    assert (row["Nom"], row["E-mail"], row["Note"]) == ("'+1+1", "'-2@exemple.fr", "'@SUM(A1)")
    assert row["Écart"] == "-5"  # a number stays a number
    assert row["Téléphone"] == attribution.lead.phone  # E.164, formatted by RDZ


def test_the_clients_csv_neutralizes_formulas_in_product_codes_and_field_labels(entity_smtp):
    """Product codes and extra-field labels are typed by staff, not by visitors, but they reach
    the client's spreadsheet all the same."""
    from tests.factories import ProductFactory

    product = ProductFactory(code="=PV")
    ProductFieldFactory(product=product, name="surface", label="=Surface", type="text")
    commande = CommandeFactory(client__emails=["achats@soleil.example"], product=product)
    _pending(commande, extra={"surface": "40"})

    delivery_send_daily()

    _, rows = _csv_rows(_message_to(entity_smtp, "achats@soleil.example"))
    row = dict(zip(rows[0], rows[1], strict=True))
    assert row["Produit"] == "'=PV" and row["'=Surface"] == "40"


def test_running_the_daily_delivery_twice_the_same_day_sends_nothing_twice(entity_smtp, product):
    commande = CommandeFactory(product=product)
    _pending(commande)
    delivery_send_daily()
    _pending(commande)  # arrives after the morning e-mail: it waits for tomorrow

    report = delivery_send_daily()

    assert len(entity_smtp.messages) == 1
    assert report.skipped and not report.sent
    assert DeliveryBatch.objects.count() == 1
    assert Attribution.objects.filter(status="pending").count() == 1


def test_an_opposed_number_is_never_delivered_and_its_timeline_says_why(entity_smtp, product):
    commande = CommandeFactory(product=product)
    kept = _pending(commande)
    opposed = _pending(commande)
    OppositionEntryFactory(phone=opposed.lead.phone)

    delivery_send_daily()

    _, rows = _csv_rows(entity_smtp.messages[0])
    assert [row[0] for row in rows[1:]] == [str(kept.lead_id)]
    opposed.refresh_from_db()
    assert opposed.status == "cancelled"
    assert opposed.lead.status == "opposed"  # not sold after all: no longer counted as routed
    assert opposed.lead.events.filter(message__contains="liste d'opposition").exists()


def test_a_second_send_now_while_the_first_is_on_the_wire_says_the_batch_is_being_sent(
    entity_smtp, product, monkeypatch
):
    """Two operators run the command at once: the second one read « 0 lot(s) envoyé(s) … 0
    déjà envoyé(s) » and ran it again, not knowing the e-mail was leaving at that moment."""
    from commandes import delivery

    commande = CommandeFactory(product=product)
    _pending(commande)
    send = delivery.send_entity_mail
    second = []

    def another_operator_runs_it_meanwhile(**kwargs):
        second.append(delivery_send_daily())
        return send(**kwargs)

    monkeypatch.setattr(delivery, "send_entity_mail", another_operator_runs_it_meanwhile)

    first = delivery_send_daily()

    assert len(entity_smtp.messages) == 1 and first.sent
    (report,) = second
    assert not report.sent and "1 en cours d'envoi" in report.summary()


def test_a_lead_anonymized_past_its_retention_while_it_waits_is_never_delivered(entity_smtp, product):
    """A lead recycled from the backlog near the end of its retention period can be
    anonymized by the nightly job before its e-mail leaves (a failed batch, a client without
    an address): the client got an empty row and was charged for a lead RDZ no longer holds."""
    import datetime

    from leads.models import Lead
    from leads.services_rgpd import lead_retention_anonymize

    commande = CommandeFactory(product=product)
    kept = _pending(commande)
    old = _pending(commande)
    Lead.objects.filter(pk=old.lead_id).update(created_at=timezone.now() - datetime.timedelta(days=4 * 366))
    assert lead_retention_anonymize() == 1

    delivery_send_daily()

    _, rows = _csv_rows(_message_to(entity_smtp, commande.client.emails[0]))
    assert [row[0] for row in rows[1:]] == [str(kept.lead_id)]
    old.refresh_from_db()
    assert old.status == "cancelled" and not old.counts_for_quota and old.delivered_at is None
    assert old.lead.status == "no_order"  # not sold after all, and not opposed either
    assert old.lead.events.filter(message__contains="données personnelles anonymisées").exists()
    assert DeliveryBatch.objects.get().count == 1


def test_a_batch_left_with_no_lead_to_send_does_not_read_as_sent(entity_smtp, product):
    """Every lead of the batch was put on the opposition list before the morning e-mail: no
    e-mail left, yet the batch read « Envoyé » at 09:30 with an empty CSV to download, and
    the command said « 1 lot(s) envoyé(s) » (a client asking where its e-mail went)."""
    commande = CommandeFactory(product=product)
    opposed = _pending(commande)
    OppositionEntryFactory(phone=opposed.lead.phone)

    report = delivery_send_daily()

    assert entity_smtp.messages == []
    assert not report.sent and "0 lot envoyé" in report.summary()
    assert "1 sans lead à envoyer" in report.summary()
    batch = DeliveryBatch.objects.get()
    assert batch.status == BatchStatus.EMPTY and batch.get_status_display().startswith("Rien à envoyer")
    assert batch.sent_at is None and batch.count == 0 and not batch.file and batch.recipients == []

    # Leads attributed later that day are still sent by a new run (nothing went that day).
    late = _pending(commande)
    report = delivery_send_daily()

    assert report.sent and len(entity_smtp.messages) == 1
    late.refresh_from_db()
    assert late.status == "delivered" and late.batch_id == batch.pk


@pytest.mark.parametrize("failure", ["refuses", "is_down"])
def test_an_smtp_failure_leaves_the_leads_pending_raises_an_alert_and_the_retry_delivers(
    failure, entity_smtp, product, settings
):
    settings.DELIVERY_BATCH_BACKOFF_SECONDS = 0  # the retry is due at once
    commande = CommandeFactory(product=product)
    attributions = [_pending(commande) for _ in range(2)]
    if failure == "refuses":
        entity_smtp.refuse = True
    else:
        entity_smtp.stop()

    report = delivery_send_daily()

    assert report.failed and not report.sent
    assert Attribution.objects.filter(pk__in=[a.pk for a in attributions], status="pending").count() == 2
    batch = DeliveryBatch.objects.get()
    assert batch.status == BatchStatus.FAILED and batch.error
    alert = Alert.objects.get(kind="livraison_echec", state=AlertState.OPEN)
    assert commande.client.name in alert.message

    entity_smtp.refuse = False
    if failure == "is_down":
        entity_smtp.start()
    for item in outbox_due(kinds=["delivery_batch"]):  # what the sweeper hands to a worker
        delivery_batch_process(item_id=item.pk)

    assert len(entity_smtp.messages) == 1
    assert Attribution.objects.filter(pk__in=[a.pk for a in attributions], status="delivered").count() == 2
    batch.refresh_from_db()
    assert batch.status == BatchStatus.SENT and batch.attempts == 2
    alert.refresh_from_db()
    assert alert.state == AlertState.CLEARED


def test_a_failed_batch_alert_closes_when_the_retry_finds_nothing_left_to_send(entity_smtp, product, settings):
    """Its only lead was put on the opposition list before the retry: the batch goes out
    empty (nothing to e-mail), and the alert saying leads wait for delivery must close."""
    settings.DELIVERY_BATCH_BACKOFF_SECONDS = 0
    commande = CommandeFactory(product=product)
    attribution = _pending(commande)
    entity_smtp.stop()
    delivery_send_daily()
    alert = Alert.objects.get(kind="livraison_echec", state=AlertState.OPEN)

    OppositionEntryFactory(phone=attribution.lead.phone)
    entity_smtp.start()
    for item in outbox_due(kinds=["delivery_batch"]):
        delivery_batch_process(item_id=item.pk)

    assert DeliveryBatch.objects.get().status == BatchStatus.EMPTY  # no e-mail left
    alert.refresh_from_db()
    assert alert.state == AlertState.CLEARED


def test_a_failed_batch_alert_says_when_the_retries_are_spent_without_a_second_email(
    entity_smtp, product, settings, django_capture_on_commit_callbacks
):
    """The first failure's alert promised a retry in a minute; once every attempt failed the
    Alertes page still said so, and staff waited for a retry that would never come."""
    from commandes.delivery import BATCH_MAX_ATTEMPTS
    from rdz.core.models import AppSettings

    settings.DELIVERY_BATCH_BACKOFF_SECONDS = 0
    AppSettings.objects.update_or_create(pk=1, defaults={"alert_recipients_zr7": ["ops@zr7.test"]})
    commande = CommandeFactory(client__entity="ZR7", client__emails=[], product=product)
    _pending(commande)
    with django_capture_on_commit_callbacks(execute=True):
        delivery_send_daily()
        for _ in range(BATCH_MAX_ATTEMPTS):
            for item in outbox_due(kinds=["delivery_batch"]):
                delivery_batch_process(item_id=item.pk)

    assert DeliveryBatch.objects.get().attempts == BATCH_MAX_ATTEMPTS
    alert = Alert.objects.get(kind="livraison_echec", state=AlertState.OPEN)
    assert "Plus de nouvel essai automatique" in alert.message
    assert "nouvel essai dans" not in alert.message
    assert len(entity_smtp.messages) == 1  # the alert e-mail, once
    # The batch's own status stops promising a retry too, on the pages and in the admin.
    batch = DeliveryBatch.objects.get()
    assert batch.status_text.startswith("Échec (plus d'essai automatique")
    from django.contrib.auth import get_user_model
    from django.test import Client as Browser

    browser = Browser()
    browser.force_login(get_user_model().objects.create_superuser("chef", "chef@rdz.test", "x"))
    for url in ("/livraisons/", "/admin/commandes/deliverybatch/"):
        page = browser.get(url).content.decode()
        assert "plus d&#x27;essai automatique" in page or "plus d'essai automatique" in page, url


def test_an_address_the_mail_server_refuses_while_it_takes_the_others_is_recorded_and_told_to_staff(
    entity_smtp, product
):
    """A server takes the message for the addresses it knows and refuses the others (550):
    the batch said it went to every address and nobody heard of the one that never got it."""
    commande = CommandeFactory(
        product=product, client__name="Soleil", client__emails=["achats@soleil.example", "ancien@soleil.example"]
    )
    attribution = _pending(commande)
    entity_smtp.unknown = {"ancien@soleil.example"}

    report = delivery_send_daily()

    assert report.sent and entity_smtp.envelopes == [("livraison@zr7.test", ["achats@soleil.example"])]
    attribution.refresh_from_db()
    assert attribution.status == "delivered"  # the client got its leads, at its other address
    batch = DeliveryBatch.objects.get()
    assert batch.status == BatchStatus.SENT and batch.recipients == ["achats@soleil.example"]
    assert "ancien@soleil.example (550 5.1.1 Destinataire inconnu)" in batch.error
    event = attribution.lead.events.get(kind=LeadEvent.Kind.DELIVERED)
    assert "achats@soleil.example" in event.message and "ancien@" not in event.message
    alert = Alert.objects.get(kind="livraison_echec", state=AlertState.OPEN)
    assert "Soleil" in alert.message and "ancien@soleil.example" in alert.message

    # Once the address is fixed, the next day's e-mail reaches every address and the alert clears.
    import datetime

    from commandes.models import Client
    from rdz.core.timeutils import paris_today

    Client.objects.filter(pk=commande.client_id).update(emails=["achats@soleil.example"])
    _pending(commande)
    delivery_send_daily(day=paris_today() + datetime.timedelta(days=1))

    alert.refresh_from_db()
    assert alert.state == AlertState.CLEARED
    assert DeliveryBatch.objects.order_by("-date").first().error == ""


def test_a_resending_that_an_address_refuses_says_so_to_staff_and_in_the_audit(entity_smtp, product, zr7_staff, client):
    commande = CommandeFactory(product=product, client__emails=["achats@soleil.example", "ancien@soleil.example"])
    _pending(commande)
    delivery_send_daily()
    batch = DeliveryBatch.objects.get()
    entity_smtp.unknown = {"ancien@soleil.example"}
    client.force_login(zr7_staff)

    page = client.post("/livraisons/", {"batch": batch.pk}, follow=True).content.decode()

    assert "ancien@soleil.example (550 5.1.1 Destinataire inconnu)" in page
    log = AuditLog.objects.get(action="delivery_batch_resend")
    assert "renvoyé à achats@soleil.example" in log.message and "ancien@soleil.example (550" in log.message


def test_a_failed_daily_email_is_told_on_the_timeline_of_each_lead_it_held(entity_smtp, product, settings):
    # §16: a lead still waiting after the morning's e-mail says why on its page.
    settings.DELIVERY_BATCH_BACKOFF_SECONDS = 0
    commande = CommandeFactory(product=product)
    attributions = [_pending(commande) for _ in range(2)]
    entity_smtp.refuse = True

    delivery_send_daily()

    batch = DeliveryBatch.objects.get()
    for attribution in attributions:
        (event,) = attribution.lead.events.filter(kind=LeadEvent.Kind.DELIVERY_FAILED)
        assert event.message.startswith(f"Envoi du CSV du {batch.date:%d/%m/%Y} (lot n° {batch.pk}) à ")
        assert "refusé par le serveur d'e-mail" in event.message and "nouvel essai dans" in event.message
        assert event.data == {"batch": batch.pk, "attribution": attribution.pk}
    entity_smtp.refuse = False
    for item in outbox_due(kinds=["delivery_batch"]):
        delivery_batch_process(item_id=item.pk)
    for attribution in attributions:
        kinds = list(attribution.lead.events.order_by("created_at", "id").values_list("kind", flat=True))
        assert kinds == [LeadEvent.Kind.DELIVERY_FAILED, LeadEvent.Kind.DELIVERED]


def test_leads_left_by_a_failed_batch_leave_with_the_next_days_email(entity_smtp, product):
    import datetime

    from rdz.core.timeutils import paris_today

    commande = CommandeFactory(product=product)
    first = _pending(commande)
    yesterday = paris_today() - datetime.timedelta(days=1)
    Attribution.objects.filter(pk=first.pk).update(day=yesterday)
    entity_smtp.refuse = True
    delivery_send_daily(day=yesterday)
    entity_smtp.refuse = False
    second = _pending(commande)

    delivery_send_daily()

    _, rows = _csv_rows(entity_smtp.messages[0])
    assert {row[0] for row in rows[1:]} == {str(first.lead_id), str(second.lead_id)}
    assert DeliveryBatch.objects.get(date=yesterday).status == BatchStatus.SUPERSEDED


def test_a_sent_batch_can_be_resent_and_downloaded_from_the_admin(entity_smtp, product, superuser, client):
    commande = CommandeFactory(product=product)
    _pending(commande)
    delivery_send_daily()
    batch = DeliveryBatch.objects.get()
    client.force_login(superuser)

    download = client.get(f"/admin/commandes/deliverybatch/{batch.pk}/telecharger/")
    resend = client.post(
        "/admin/commandes/deliverybatch/",
        {"action": "resend", "_selected_action": [batch.pk]},
        follow=True,
    )

    assert download.status_code == 200
    assert client.get(f"/admin/commandes/deliverybatch/{batch.pk}/change/").status_code == 200
    assert b"".join(download.streaming_content).startswith(codecs.BOM_UTF8)
    assert resend.status_code == 200
    assert len(entity_smtp.messages) == 2
    assert "[ZR7] Renvoi" in entity_smtp.messages[1]["Subject"]
    batch.refresh_from_db()
    assert batch.resent_count == 1


def test_the_download_of_another_entitys_batch_is_not_found(entity_smtp, product, mdl_staff, client):
    commande = CommandeFactory(client__entity="ZR7", product=product)
    _pending(commande)
    delivery_send_daily()
    client.force_login(mdl_staff)

    response = client.get(f"/admin/commandes/deliverybatch/{DeliveryBatch.objects.get().pk}/telecharger/")

    assert response.status_code == 404


def test_the_management_command_sends_for_one_client_and_date(entity_smtp, product):
    from django.core.management import call_command

    one = CommandeFactory(product=product)
    two = CommandeFactory(product=product)
    _pending(one)
    _pending(two)
    out = io.StringIO()

    from rdz.core.timeutils import paris_today

    call_command("delivery_send_daily", "--client", str(one.client_id), "--date", paris_today().isoformat(), stdout=out)

    assert "1 lot envoyé" in out.getvalue()
    assert len(entity_smtp.messages) == 1 and one.client.emails[0] in entity_smtp.messages[0]["To"]


def test_a_failed_batch_alert_is_emailed_to_the_entitys_alert_recipients(
    entity_smtp, product, django_capture_on_commit_callbacks
):
    from rdz.core.models import AppSettings

    AppSettings.objects.update_or_create(pk=1, defaults={"alert_recipients_mdl": ["ops@mdl.test"]})
    commande = CommandeFactory(client__entity="MDL", client__emails=[], product=product)
    attribution = _pending(commande)

    with django_capture_on_commit_callbacks(execute=True):
        report = delivery_send_daily()

    assert report.failed
    (alert_mail,) = entity_smtp.messages
    assert alert_mail["From"] == "livraison@mdl.test" and "ops@mdl.test" in alert_mail["To"]
    assert "Aucune adresse de livraison" in alert_mail.get_content()
    attribution.refresh_from_db()
    assert attribution.status == "pending"


def test_the_commands_resend_a_batch_and_refuse_a_bad_date_in_french(entity_smtp, product):
    import datetime

    from django.core.management import CommandError, call_command

    from rdz.core.timeutils import paris_today

    commande = CommandeFactory(product=product)
    _pending(commande)
    delivery_send_daily()
    batch = DeliveryBatch.objects.get()

    call_command("delivery_resend", str(batch.pk), stdout=io.StringIO())

    assert len(entity_smtp.messages) == 2
    with pytest.raises(CommandError, match="Date invalide"):
        call_command("delivery_send_daily", "--date", "24/11/2026")
    with pytest.raises(CommandError, match="Date hors limites"):
        call_command("delivery_send_daily", "--date", "0001-01-01")
    # Tomorrow's batch sent today would make tomorrow's scheduled e-mail skip the client.
    tomorrow = (paris_today() + datetime.timedelta(days=1)).isoformat()
    with pytest.raises(CommandError, match="dans le futur"):
        call_command("delivery_send_daily", "--date", tomorrow)
    assert DeliveryBatch.objects.count() == 1
    with pytest.raises(CommandError, match="introuvable"):
        call_command("delivery_resend", "999999")


def test_a_resent_batch_leaves_out_numbers_opposed_or_erased_since_the_first_sending(entity_smtp, product):
    """§16: an opposed number is never delivered, a re-sending included."""
    from django.core.management import CommandError, call_command

    from leads.models import Lead

    commande = CommandeFactory(product=product)
    kept = _pending(commande)
    opposed = _pending(commande)
    erased = _pending(commande)
    delivery_send_daily()
    batch = DeliveryBatch.objects.get()
    OppositionEntryFactory(phone=opposed.lead.phone, source="Bloctel")
    Lead.objects.filter(pk=erased.lead_id).update(anonymized_at=timezone.now())

    call_command("delivery_resend", str(batch.pk), stdout=io.StringIO())

    raw, rows = _csv_rows(entity_smtp.messages[1])
    assert raw.startswith(codecs.BOM_UTF8)
    assert rows[0][0] == "Référence lead"
    assert [row[0] for row in rows[1:]] == [str(kept.lead_id)]
    assert entity_smtp.messages[1]["Subject"].endswith("— 1 lead")
    log = AuditLog.objects.get(action="delivery_batch_resend")
    assert "; 2 leads retirés (" in log.message

    # Nothing left to deliver: refused, in French, and nothing sent.
    OppositionEntryFactory(phone=kept.lead.phone)
    DeliveryBatch.objects.filter(pk=batch.pk).update(last_resent_at=None)
    with pytest.raises(CommandError, match="Aucun lead de ce lot ne peut plus être livré"):
        call_command("delivery_resend", str(batch.pk), stdout=io.StringIO())
    assert len(entity_smtp.messages) == 2


def test_a_resent_batch_leaves_out_the_leads_the_client_rejected_since(entity_smtp, product):
    """A rejected lead was credited back and is in the Lead Backlog again (§10), maybe sold
    to another client since: re-sending the batch must not hand it back to the first one."""
    from django.core.management import call_command

    from commandes.rejections import rejection_create

    commande = CommandeFactory(product=product)
    kept = _pending(commande)
    rejected = _pending(commande)
    delivery_send_daily()
    batch = DeliveryBatch.objects.get()
    rejection_create(attribution=Attribution.objects.get(pk=rejected.pk), reason="wrong_number")

    call_command("delivery_resend", str(batch.pk), stdout=io.StringIO())

    _, rows = _csv_rows(entity_smtp.messages[1])
    assert [row[0] for row in rows[1:]] == [str(kept.lead_id)]
    assert "; 1 lead retiré (liste d'opposition, effacement RGPD ou rejet)" in (
        AuditLog.objects.get(action="delivery_batch_resend").message
    )


def test_a_double_click_on_resend_sends_one_email(entity_smtp, product, zr7_staff, client):
    commande = CommandeFactory(product=product)
    _pending(commande)
    delivery_send_daily()
    batch = DeliveryBatch.objects.get()
    client.force_login(zr7_staff)

    first = client.post("/livraisons/", {"batch": batch.pk}, follow=True)
    second = client.post("/livraisons/", {"batch": batch.pk}, follow=True)

    assert "renvoyé" in first.content.decode()
    assert "vient d&#x27;être renvoyé" in second.content.decode()
    assert len(entity_smtp.messages) == 2  # the daily e-mail and one re-sending
    batch.refresh_from_db()
    assert batch.resent_count == 1


def test_a_batch_being_sent_keeps_its_leads_from_another_days_batch_sent_meanwhile(entity_smtp, product, monkeypatch):
    """Yesterday's batch is sent again by hand (`--date`) while today's e-mail goes out:
    the leads already in the message being sent must not leave a second time."""
    import datetime

    from commandes import delivery
    from rdz.core.timeutils import paris_today

    commande = CommandeFactory(product=product)
    yesterday = paris_today() - datetime.timedelta(days=1)
    first = _pending(commande)
    Attribution.objects.filter(pk=first.pk).update(day=yesterday)
    send = delivery.send_entity_mail
    calls = []

    def today_runs_while_yesterday_is_on_the_wire(**kwargs):
        calls.append(kwargs)
        if len(calls) == 1:
            delivery_send_daily()  # today's job, at the same time
        return send(**kwargs)

    monkeypatch.setattr(delivery, "send_entity_mail", today_runs_while_yesterday_is_on_the_wire)

    delivery_send_daily(day=yesterday)

    sent = [{row[0] for row in _csv_rows(m)[1][1:]} for m in entity_smtp.messages]
    assert sent == [{str(first.lead_id)}]  # today's run found nothing left to send
    first.refresh_from_db()
    assert first.status == "delivered" and first.batch.date == yesterday
    assert DeliveryBatch.objects.get(date=yesterday).count == 1


def test_a_worker_dying_while_recording_the_last_failure_leaves_the_batch_to_the_sweeper(
    entity_smtp, product, settings, monkeypatch
):
    """A batch is "sending" only while a worker holds it: its outbox row must not end
    failed while the batch still says so (another day's batch would leave its leads)."""
    import datetime

    from django.db import DatabaseError
    from django.utils import timezone

    from commandes import delivery
    from rdz.core.models import OutboxItem
    from rdz.core.timeutils import paris_today

    settings.DELIVERY_BATCH_BACKOFF_SECONDS = 0
    commande = CommandeFactory(product=product)
    attribution = _pending(commande)
    entity_smtp.refuse = True
    delivery_send_daily()
    OutboxItem.objects.filter(kind="delivery_batch").update(attempts=7)  # the next failure is the last
    batch_failed = delivery._batch_failed

    def dies(**kwargs):
        raise DatabaseError("server closed the connection unexpectedly")

    monkeypatch.setattr(delivery, "_batch_failed", dies)
    (item,) = outbox_due(kinds=["delivery_batch"])
    with pytest.raises(DatabaseError):
        delivery_batch_process(item_id=item.pk)
    monkeypatch.setattr(delivery, "_batch_failed", batch_failed)

    assert OutboxItem.objects.get(pk=item.pk).status == "running"
    entity_smtp.refuse = False
    OutboxItem.objects.filter(pk=item.pk).update(claimed_until=timezone.now() - datetime.timedelta(seconds=1))
    for due in outbox_due(kinds=["delivery_batch"]):  # the lease ran out: the sweeper hands it out again
        # Its last attempt was spent by the run that died: the batch ends failed, not "sending".
        assert delivery_batch_process(item_id=due.pk) == "failed"
    assert OutboxItem.objects.get(pk=item.pk).status == "failed"
    assert DeliveryBatch.objects.get(client=commande.client).status == "failed"
    assert entity_smtp.messages == []
    attribution.refresh_from_db()
    assert attribution.status == "pending"  # nothing lost: the next day's batch takes it

    delivery_send_daily(day=paris_today() + datetime.timedelta(days=1))

    attribution.refresh_from_db()
    assert attribution.status == "delivered" and len(entity_smtp.messages) == 1


def test_the_livraisons_page_downloads_a_batch_csv_of_the_accounts_entity_only(entity_smtp, product, client, zr7_staff):
    zr7 = CommandeFactory(product=product, client__entity="ZR7")
    mdl = CommandeFactory(product=product, client__entity="MDL")
    _pending(zr7)
    _pending(mdl)
    delivery_send_daily()
    zr7_batch = DeliveryBatch.objects.get(entity="ZR7")
    mdl_batch = DeliveryBatch.objects.get(entity="MDL")
    client.force_login(zr7_staff)

    assert f'href="/livraisons/{zr7_batch.pk}/csv/"' in client.get("/livraisons/").content.decode()
    response = client.get(f"/livraisons/{zr7_batch.pk}/csv/")
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment;")
    assert b"".join(response.streaming_content).startswith(codecs.BOM_UTF8)
    assert client.get(f"/livraisons/{mdl_batch.pk}/csv/").status_code == 404


def test_a_viewer_cannot_download_a_sent_csv_whose_signed_links_reject_leads_as_the_client(
    entity_smtp, product, client, zr7_viewer
):
    """The CSV as sent carries the client's signed rejection links: whoever holds it can reject
    the batch's leads, which a read-only account must not be able to do. Viewers still read
    the batch's leads in the admin."""
    _pending(CommandeFactory(product=product, client__entity="ZR7"))
    delivery_send_daily()
    batch = DeliveryBatch.objects.get()
    client.force_login(zr7_viewer)

    assert f'href="/livraisons/{batch.pk}/csv/"' not in client.get("/livraisons/").content.decode()
    page = client.get(f"/livraisons/{batch.pk}/csv/", follow=True)
    assert "lecture seule" in page.content.decode()
    assert not page.has_header("Content-Disposition")
    admin_url = reverse("admin:commandes_deliverybatch_download", args=[batch.pk])
    assert client.get(admin_url).status_code == 403
    assert "Télécharger" not in client.get(reverse("admin:commandes_deliverybatch_changelist")).content.decode()


def test_resending_a_batch_to_a_client_left_without_an_address_says_so_and_records_nothing(
    entity_smtp, product, zr7_staff, client
):
    """A client moved to HTTP delivery often loses its e-mail addresses: re-sending one of its
    old batches used to send nothing and still say « renvoyé », count it and audit it."""
    from commandes.models import Client

    commande = CommandeFactory(product=product)
    _pending(commande)
    delivery_send_daily()
    batch = DeliveryBatch.objects.get()
    Client.objects.filter(pk=commande.client_id).update(emails=[])
    client.force_login(zr7_staff)

    response = client.post("/livraisons/", {"batch": batch.pk}, follow=True)

    assert "Aucune adresse de livraison" in response.content.decode()
    assert len(entity_smtp.messages) == 1  # the daily e-mail only
    batch.refresh_from_db()
    assert batch.resent_count == 0 and batch.last_resent_at is None
    assert not AuditLog.objects.filter(action="delivery_batch_resend").exists()


def test_a_batch_whose_stored_csv_is_missing_says_so_on_download_and_resend(entity_smtp, product, zr7_staff, client):
    """The file lives under DELIVERY_ROOT, written by the worker that sent it: a server that
    does not see that folder (another container, a lost disk) answered the download with a
    500 and the re-sending with « serveur d'e-mail injoignable »."""
    commande = CommandeFactory(product=product)
    _pending(commande)
    delivery_send_daily()
    batch = DeliveryBatch.objects.get()
    batch.file.storage.delete(batch.file.name)
    client.force_login(zr7_staff)

    download = client.get(f"/livraisons/{batch.pk}/csv/", follow=True)
    admin_download = client.get(f"/admin/commandes/deliverybatch/{batch.pk}/telecharger/")
    resend = client.post("/livraisons/", {"batch": batch.pk}, follow=True)

    assert download.status_code == 200 and download.redirect_chain[-1][0] == "/livraisons/"
    assert "fichier CSV de ce lot est introuvable" in download.content.decode()
    assert admin_download.status_code == 404
    assert "fichier CSV de ce lot est introuvable" in resend.content.decode()
    assert len(entity_smtp.messages) == 1  # the daily e-mail only
    batch.refresh_from_db()
    assert batch.resent_count == 0


@pytest.mark.parametrize(
    ("failure", "expected"),
    [
        ("refuses", "message refusé par le serveur d'e-mail (451 4.3.0 Service temporairement indisponible)"),
        ("is_down", "serveur d'e-mail injoignable (ConnectionRefusedError"),
        ("no_address", "Aucune adresse de livraison pour le client Soleil."),
    ],
)
def test_a_failed_daily_email_tells_staff_in_french_what_went_wrong(failure, expected, entity_smtp, product):
    """The Livraisons page and the alert showed Python's own words: « SMTPDataError: (451,
    b'4.3.0 …') », « ConnectionRefusedError: [Errno 111] … », « CommandeError: Aucune … »."""
    commande = CommandeFactory(product=product, client__name="Soleil")
    _pending(commande)
    if failure == "refuses":
        entity_smtp.refuse = True
    elif failure == "is_down":
        entity_smtp.stop()
    else:
        commande.client.emails = []
        commande.client.save()

    delivery_send_daily()

    batch = DeliveryBatch.objects.get()
    assert batch.status == BatchStatus.FAILED and batch.error.startswith(expected)
    assert f"a échoué : {expected}" in Alert.objects.get(kind="livraison_echec").message


def test_a_resending_that_fails_tells_staff_in_french_why(entity_smtp, product, zr7_staff, client):
    commande = CommandeFactory(product=product)
    _pending(commande)
    delivery_send_daily()
    batch = DeliveryBatch.objects.get()
    entity_smtp.refuse = True
    client.force_login(zr7_staff)

    response = client.post("/livraisons/", {"batch": batch.pk}, follow=True)

    assert "Le renvoi a échoué : message refusé par le serveur d&#x27;e-mail (451" in response.content.decode()
    batch.refresh_from_db()
    assert batch.resent_count == 0


@pytest.mark.django_db(transaction=True)
def test_a_failed_batch_sent_again_while_todays_batch_takes_its_leads_sends_each_lead_once(entity_smtp, product):
    """Today's batch takes the leads a failed batch left (§10) while that batch is sent again
    (by hand or its retry): each lead must leave in one e-mail only, not in both."""
    import datetime
    import threading

    from django.db import connection

    from rdz.core.timeutils import paris_today

    if connection.vendor != "postgresql":
        pytest.skip("SQLite lets one writer in at a time: the two claims cannot overlap")
    commande = CommandeFactory(product=product)
    yesterday = paris_today() - datetime.timedelta(days=1)
    first = _pending(commande)
    Attribution.objects.filter(pk=first.pk).update(day=yesterday)
    entity_smtp.refuse = True
    delivery_send_daily(day=yesterday)
    entity_smtp.refuse = False
    assert DeliveryBatch.objects.get(date=yesterday).status == BatchStatus.FAILED
    claimed, again_done, today_built = threading.Event(), threading.Event(), threading.Event()

    def today_pauses_in_its_claim(execute, sql, params, many, context):
        result = execute(sql, params, many, context)
        if sql.startswith('UPDATE "commandes_attribution" SET "batch_id"'):
            claimed.set()
            again_done.wait(3)  # the claim stays open while yesterday's batch is sent again
        elif sql.startswith('UPDATE "commandes_deliverybatch" SET "file"'):
            today_built.set()
        return result

    def again_pauses_before_recording(execute, sql, params, many, context):
        result = execute(sql, params, many, context)
        if sql.startswith('UPDATE "commandes_attribution" SET "status"'):
            today_built.wait(3)  # today's file is built before this sending is committed
        return result

    def run(wrapper, done, **kwargs):
        try:
            with connection.execute_wrapper(wrapper):
                delivery_send_daily(**kwargs)
        finally:
            done.set()
            connection.close()

    today = threading.Thread(target=run, args=(today_pauses_in_its_claim, claimed))
    today.start()
    assert claimed.wait(10)
    again = threading.Thread(target=run, args=(again_pauses_before_recording, again_done), kwargs={"day": yesterday})
    again.start()
    again.join(30)
    today.join(30)

    carrying = [m for m in entity_smtp.messages if str(first.lead_id) in {row[0] for row in _csv_rows(m)[1][1:]}]
    assert len(carrying) == 1
    first.refresh_from_db()
    assert first.status == "delivered"


@pytest.mark.parametrize(
    ("leads", "subject_end", "body"), [(1, "— 1 lead", "votre lead du"), (2, "— 2 leads", "vos 2 leads du")]
)
def test_the_clients_email_speaks_plain_french_whatever_the_count(entity_smtp, product, leads, subject_end, body):
    """It read « — 1 lead(s) », « vos 1 lead(s) » and « 7 jour(s) »: a form letter."""
    commande = CommandeFactory(client__emails=["achats@soleil.example"], product=product)
    for _ in range(leads):
        _pending(commande)

    delivery_send_daily()

    message = _message_to(entity_smtp, "achats@soleil.example")
    text = message.get_body(("plain",)).get_content() if message.is_multipart() else message.get_content()
    assert message["Subject"].endswith(subject_end)
    assert body in text and "(s)" not in text and "pendant 7 jours" in text


@pytest.mark.parametrize(
    ("status", "attempts", "said"),
    [
        ("failed", 8, "a épuisé ses essais, ses leads partent avec le prochain CSV quotidien"),
        ("failed", 2, "a un nouvel essai prévu"),
        ("empty", 0, "n'avait rien à envoyer"),
    ],
)
def test_a_batch_that_cannot_be_resent_says_what_becomes_of_its_leads(status, attempts, said):
    """It answered « pour un lot en échec, un essai est prévu » to every refusal, also when
    no try was left or when the batch had nothing to send."""
    from commandes.delivery import CommandeError, delivery_batch_resend
    from tests.factories import DeliveryBatchFactory

    batch = DeliveryBatchFactory(status=status, attempts=attempts)
    with pytest.raises(CommandeError) as refused:
        delivery_batch_resend(batch=batch)
    assert said in str(refused.value)


def test_the_daily_run_summary_and_a_refusal_count_in_french():
    """« 1 lot(s) envoyé(s) … 2 déjà envoyé(s) », « adresse(s) refusée(s) » for one address."""
    import datetime

    from commandes.delivery import DailyReport, _refusal

    report = DailyReport(day=datetime.date(2026, 11, 24), sent=[1], skipped=[2, 3])
    assert report.summary() == (
        "Livraison du 24/11/2026 : 1 lot envoyé, 0 en échec (nouvel essai prévu), 2 déjà envoyés."
    )
    report = DailyReport(day=datetime.date(2026, 11, 24), sent=[1, 2], failed=[3], skipped=[4])
    assert report.summary().startswith(
        "Livraison du 24/11/2026 : 2 lots envoyés, 1 en échec (nouvel essai prévu), 1 déjà envoyé."
    )

    assert _refusal({"a@client.example": (550, b"no")}) == (
        "adresse refusée par le serveur d'e-mail : a@client.example (550 no)"
    )
    assert _refusal({"a@client.example": (550, b"no"), "b@client.example": (551, "gone")}).startswith(
        "adresses refusées par le serveur d'e-mail : a@client.example (550 no), b@client.example"
    )
