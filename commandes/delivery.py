"""Delivery of attributions to clients (§10, §16): the daily CSV e-mail (HTTP POST: delivery_http).

Both are outbox rows (`rdz.core.outbox`), claimed by workers with a conditional UPDATE and
re-enqueued by the sweeper, so a broker outage, a killed worker or a restart only delays a
delivery. A failed e-mail leaves its leads pending and is retried with backoff; an HTTP
endpoint that keeps failing falls back to the CSV batch.
"""

import csv
import datetime
import io
import logging
import smtplib
import tempfile
from dataclasses import dataclass, field

from django.conf import settings
from django.core.files import File
from django.core.mail.message import sanitize_address
from django.db import IntegrityError, transaction
from django.db.models import Exists, F, OuterRef, Q
from django.utils import timezone

from commandes.models import (
    BATCH_MAX_ATTEMPTS,
    Attribution,
    AttributionStatus,
    BatchStatus,
    Client,
    DeliveryBatch,
    DeliveryChannel,
)
from commandes.rejections import rejection_link_builder
from commandes.services import OUTBOX_DELIVERY_BATCH, CommandeError
from leads.models import LeadEvent, LeadStatus, OppositionEntry, ProductField
from leads.services import lead_events_bulk_add, lead_status_set
from rdz.core.locks import BATCH_CLAIM, advisory_xact_lock
from rdz.core.models import OutboxItem, OutboxStatus
from rdz.core.outbox import outbox_dispatch
from rdz.core.services import (
    alert_clear,
    alert_raise,
    alert_restate,
    audit_log,
    backoff_seconds,
    outbox_claim,
    outbox_done,
    outbox_enqueue,
    outbox_interrupted,
    outbox_retry_later,
    send_entity_mail,
)
from rdz.core.text import count_noun, csv_cell
from rdz.core.timeutils import PARIS, paris_today

logger = logging.getLogger(__name__)

BATCH_LEASE_SECONDS = 900
CSV_CHUNK = 2000
RESEND_GUARD = datetime.timedelta(minutes=1)


def backoff_base(name: str, default: float) -> float:
    # Tests shorten the backoff; production keeps the defaults.
    return float(getattr(settings, name, default))


# --- CSV ---------------------------------------------------------------------------------
BASE_HEADERS = [
    "Référence lead",
    "Date d'attribution",
    "Prénom",
    "Nom",
    "Téléphone",
    "E-mail",
    "Département",
    "Produit",
    "Commande",
    "Lead Backlog",
]
LINK_HEADER = "Lien de rejet"


def _pending_csv(*, client_id: int, day: datetime.date):
    """Attributions of the client waiting for the CSV e-mail, attributed up to `day`."""
    return Attribution.objects.filter(
        client_id=client_id, status=AttributionStatus.PENDING, channel=DeliveryChannel.CSV, day__lte=day
    )


def _extra_fields(product_ids) -> list[ProductField]:
    return list(ProductField.objects.filter(product_id__in=list(product_ids)).order_by("product__code", "position"))


def delivery_csv_write(*, attributions, out, extra_fields: list[ProductField] | None = None) -> int:
    """Write the CSV (§10: `;`, UTF-8 with BOM, French headers) to the text stream `out`.

    Streams: rows come from the database in chunks (values(), no model instances), so the
    memory used does not grow with the number of leads. Returns the number of rows.
    """
    if extra_fields is None:
        extra_fields = _extra_fields(attributions.order_by().values_list("product_id", flat=True).distinct())
    # One column per extra field name (a name shared by two products is one column).
    extra_names: list[str] = []
    extra_labels: list[str] = []
    for f in extra_fields:
        if f.name not in extra_names:
            extra_names.append(f.name)
            extra_labels.append(csv_cell(f.label))
    out.write("\ufeff")
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow(BASE_HEADERS + extra_labels + [LINK_HEADER])
    rows = (
        attributions.order_by("created_at", "id")
        .values_list(
            "id",
            "lead_id",
            "created_at",
            "lead__first_name",
            "lead__last_name",
            "lead__phone",
            "lead__email",
            "lead__departement",
            "product__code",
            "commande_id",
            "commande__name",
            "is_backlog",
            "lead__extra",
        )
        .iterator(chunk_size=CSV_CHUNK)
    )
    link = rejection_link_builder()
    count = 0
    for aid, lead_id, created, first, last, phone, email, dep, product, cid, cname, backlog, extra in rows:
        extra = extra or {}
        writer.writerow(
            [
                str(lead_id),
                created.astimezone(PARIS).strftime("%d/%m/%Y %H:%M"),
                csv_cell(first),
                csv_cell(last),
                phone,
                csv_cell(email),
                dep,
                csv_cell(product),
                csv_cell(f"#{cid} {cname}".strip()),
                "oui" if backlog else "non",
                *[_cell(extra.get(name)) for name in extra_names],
                link(aid),
            ]
        )
        count += 1
    return count


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "oui" if value else "non"
    return csv_cell(value) if isinstance(value, str) else str(value)  # a number (-5) stays a number


# --- Daily batches -----------------------------------------------------------------------
@dataclass
class DailyReport:
    day: datetime.date
    created: list[int] = field(default_factory=list)
    sent: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    skipped: list[int] = field(default_factory=list)  # already sent that day
    empty: list[int] = field(default_factory=list)  # nothing left to send: no e-mail
    in_progress: list[int] = field(default_factory=list)  # being sent by another run or a worker
    http: list[int] = field(default_factory=list)  # clients without an e-mail address: their leads POSTed

    def summary(self) -> str:
        http = (
            f" {count_noun(len(self.http), 'client')} sans adresse e-mail : leads envoyés par HTTP POST."
            if self.http
            else ""
        )
        if not (self.created or self.sent or self.failed or self.skipped or self.in_progress):
            return f"Livraison du {self.day:%d/%m/%Y} : aucun lead en attente de livraison par e-mail.{http}"
        empty = f", {len(self.empty)} sans lead à envoyer (aucun e-mail)" if self.empty else ""
        in_progress = f", {len(self.in_progress)} en cours d'envoi" if self.in_progress else ""
        return (
            f"Livraison du {self.day:%d/%m/%Y} : {count_noun(len(self.sent), 'lot envoyé', 'lots envoyés')}, "
            f"{len(self.failed)} en échec (nouvel essai prévu), "
            f"{count_noun(len(self.skipped), 'déjà envoyé', 'déjà envoyés')}{empty}{in_progress}.{http}"
        )


def delivery_send_daily(
    *, day: datetime.date | None = None, client_id: int | None = None, send_now: bool = True
) -> DailyReport:
    """§10 daily delivery: one batch per client with pending CSV attributions, sent once a day.

    Idempotent: the batch is unique per client and day; a batch already sent is skipped.
    A client with an HTTP endpoint and no e-mail address gets no batch: its waiting leads
    are POSTed (delivery_http.attributions_hand_to_http).
    Each batch is an outbox row; with `send_now` it is processed here at once (the
    command), otherwise handed to the workers (the beat task: clients are served in
    parallel and a slow mail server cannot hold the others). A failure is retried by the
    sweeper with backoff.
    """
    day = day or paris_today()
    report = DailyReport(day=day)
    pending = Attribution.objects.filter(
        client_id=OuterRef("pk"), status=AttributionStatus.PENDING, channel=DeliveryChannel.CSV, day__lte=day
    )
    clients = Client.objects.filter(Exists(pending))
    if client_id is not None:
        clients = clients.filter(pk=client_id)
    batches: list[DeliveryBatch] = []
    for client in clients.order_by("pk"):
        if client.api_url and not client.emails:
            from commandes.delivery_http import attributions_hand_to_http

            attributions_hand_to_http(client=client, day=day)
            report.http.append(client.pk)
            continue
        batch, created = _batch_get_or_create(client=client, day=day)
        if created:
            report.created.append(batch.pk)
        if batch.status in (BatchStatus.SENT, BatchStatus.SUPERSEDED):
            report.skipped.append(batch.pk)
            continue
        batches.append(batch)
    # Every batch gets its outbox row before any is sent: if this run dies half-way, the
    # sweeper still sends the rest.
    items: list[OutboxItem] = []
    for batch in batches:
        with transaction.atomic():
            item = outbox_enqueue(
                kind=OUTBOX_DELIVERY_BATCH, ref=str(batch.pk), entity=batch.entity, max_attempts=BATCH_MAX_ATTEMPTS
            )
        if item is None:  # already queued (a retry is scheduled): run it now
            item = OutboxItem.objects.filter(
                kind=OUTBOX_DELIVERY_BATCH, ref=str(batch.pk), status=OutboxStatus.PENDING
            ).first()
            if item is None:
                continue  # a worker is sending it right now
            OutboxItem.objects.filter(pk=item.pk).update(next_attempt_at=timezone.now())
        items.append(item)
    for item in items:
        if send_now:
            delivery_batch_process(item_id=item.pk)
        else:
            outbox_dispatch(item)
    for batch in DeliveryBatch.objects.filter(pk__in=[b.pk for b in batches]):
        if batch.status == BatchStatus.SENT:
            report.sent.append(batch.pk)
        elif batch.status == BatchStatus.FAILED:
            report.failed.append(batch.pk)
        elif batch.status == BatchStatus.EMPTY:
            report.empty.append(batch.pk)
        else:  # claimed by another run or handed to the workers: not sent yet, not to run again
            report.in_progress.append(batch.pk)
    return report


def _batch_get_or_create(*, client: Client, day: datetime.date) -> tuple[DeliveryBatch, bool]:
    try:
        with transaction.atomic():
            return DeliveryBatch.objects.get_or_create(
                client=client, date=day, defaults={"entity": client.entity, "recipients": list(client.emails)}
            )
    except IntegrityError:  # another run created it at the same instant
        return DeliveryBatch.objects.get(client=client, date=day), False


def delivery_batch_process(*, item_id: int) -> str:
    """Claim the outbox row of a batch and send it; on failure schedule a retry with backoff."""
    item = outbox_claim(item_id=item_id, lease_seconds=BATCH_LEASE_SECONDS)
    if item is None:
        return "not_claimed"
    batch = DeliveryBatch.objects.select_related("client").filter(pk=int(item.ref)).first()
    if batch is None or batch.status in (BatchStatus.SENT, BatchStatus.SUPERSEDED):
        outbox_done(item)
        return "nothing_to_do"
    if interrupted := outbox_interrupted(item):
        with transaction.atomic():
            outbox_retry_later(item, error=interrupted, delay_seconds=0)  # attempts spent: marks it failed
            _batch_failed(batch=batch, error=interrupted, will_retry=False, delay=0)
        return "failed"
    try:
        delivery_batch_send(batch=batch)
    except Exception as exc:
        error = delivery_mail_error(exc)
        logger.warning("delivery batch %s failed: %s", batch.pk, error)
        delay = backoff_seconds(item.attempts, base=backoff_base("DELIVERY_BATCH_BACKOFF_SECONDS", 60))
        # One transaction: a batch left "sending" once its outbox row is spent would hold its leads.
        with transaction.atomic():
            will_retry = outbox_retry_later(item, error=error, delay_seconds=delay)
            _batch_failed(batch=batch, error=error, will_retry=will_retry, delay=delay)
        return "failed"
    outbox_done(item)
    return "sent"


def delivery_mail_error(exc: Exception) -> str:
    """Why an e-mail did not go, in French for staff (Livraisons page, alert), with the mail
    server's own answer in parentheses."""
    if isinstance(exc, CommandeError):
        return str(exc)
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return _refusal(exc.recipients)
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return f"identifiants du compte e-mail de l'entité refusés ({exc.smtp_code} {_smtp_text(exc.smtp_error)})"
    if isinstance(exc, smtplib.SMTPSenderRefused):
        return f"adresse d'expédition refusée par le serveur d'e-mail ({exc.smtp_code} {_smtp_text(exc.smtp_error)})"
    if isinstance(exc, smtplib.SMTPResponseException):
        return f"message refusé par le serveur d'e-mail ({exc.smtp_code} {_smtp_text(exc.smtp_error)})"
    if isinstance(exc, smtplib.SMTPException | OSError):  # refused connection, timeout, TLS, dropped line
        return f"serveur d'e-mail injoignable ({type(exc).__name__} : {exc})"
    return f"erreur inattendue ({type(exc).__name__} : {exc})"


def _smtp_text(text: bytes | str) -> str:
    return text.decode("utf-8", errors="replace") if isinstance(text, bytes) else str(text)


def _refusal(refused: dict) -> str:
    """The recipients a mail server refused, with its answers, in French ('' for none)."""
    if not refused:
        return ""
    addresses = ", ".join(f"{to} ({code} {_smtp_text(text)})" for to, (code, text) in refused.items())
    words = "adresse refusée" if len(refused) < 2 else "adresses refusées"
    return f"{words} par le serveur d'e-mail : {addresses}"


def _addresses_received(emails: list[str], refused: dict) -> list[str]:
    """The client's addresses the mail server took; `refused` names them as they were sent."""
    gone = {address.lower() for address in refused}

    def sent_as(email: str) -> str:
        try:
            return sanitize_address(email, settings.DEFAULT_CHARSET).lower()
        except ValueError:
            return email.lower()

    return [email for email in emails if sent_as(email) not in gone]


def _batch_failed(*, batch: DeliveryBatch, error: str, will_retry: bool, delay: float) -> None:
    DeliveryBatch.objects.filter(pk=batch.pk).update(status=BatchStatus.FAILED, error=error[:2000])
    when = f"nouvel essai dans {round(delay / 60) or 1} min" if will_retry else "plus de nouvel essai automatique"
    # Each lead it held says on its timeline why it is still waiting (§16).
    held = Attribution.objects.filter(batch=batch, status=AttributionStatus.PENDING).values_list("pk", "lead_id")
    message = (
        f"Envoi du CSV du {batch.date:%d/%m/%Y} (lot n° {batch.pk}) à {batch.client.name} échoué : "
        f"{error[:200].rstrip('.')} — {when}"
    )
    lead_events_bulk_add(
        events=[
            (lead_id, LeadEvent.Kind.DELIVERY_FAILED, message, {"batch": batch.pk, "attribution": pk})
            for pk, lead_id in held.iterator(chunk_size=2000)
        ]
    )
    next_step = (
        f"Les leads restent à livrer ({when})."
        if will_retry
        else "Plus de nouvel essai automatique : les leads restent à livrer et partiront avec le prochain "
        "CSV quotidien, une fois la cause corrigée."
    )
    key = _batch_alert_key(batch.client_id)
    alert_message = (
        f"L'envoi du CSV quotidien de {batch.client.name} ({batch.entity}) du {batch.date:%d/%m/%Y} a échoué : "
        f"{error[:300].rstrip('.')}. {next_step}"
    )
    # Already open from an earlier attempt: one e-mail was enough, but the page must tell the truth.
    if alert_raise(entity=batch.entity, kind="livraison_echec", key=key, message=alert_message) is None:
        alert_restate(key=key, message=alert_message)


def _batch_alert_key(client_id: int) -> str:
    return f"delivery_batch:client:{client_id}"


def _refused_alert_key(client_id: int) -> str:
    return f"delivery_batch:client:{client_id}:refused"


def attributions_cancel_opposed(*, qs) -> int:
    """Never deliver an opposed number, nor a lead whose personal data were anonymized while
    it waited (§16: the retention job, which puts no number on the list): cancel those
    attributions, with a timeline note. The commande's place is given back."""
    opposed = list(
        qs.filter(Exists(OppositionEntry.objects.filter(phone=OuterRef("phone")))).values_list("pk", "lead_id")
    )
    anonymized = list(
        qs.filter(lead__anonymized_at__isnull=False)
        .exclude(pk__in=[pk for pk, _ in opposed])
        .values_list("pk", "lead_id")
    )
    if not opposed and not anonymized:
        return 0
    Attribution.objects.filter(pk__in=[pk for pk, _ in opposed + anonymized]).update(
        status=AttributionStatus.CANCELLED, counts_for_quota=False, batch=None
    )
    # The lead was not sold after all: "opposed", as at intake, not "routed" for ever; an
    # anonymized one has nothing left to sell and no objection behind it: "no order".
    lead_status_set(
        lead_ids=[lead_id for _, lead_id in opposed], status=LeadStatus.OPPOSED, only_from=[LeadStatus.ROUTED]
    )
    lead_status_set(
        lead_ids=[lead_id for _, lead_id in anonymized], status=LeadStatus.NO_ORDER, only_from=[LeadStatus.ROUTED]
    )
    lead_events_bulk_add(
        events=[
            (lead_id, LeadEvent.Kind.NOTE, "Livraison annulée : numéro sur la liste d'opposition", {"attribution": pk})
            for pk, lead_id in opposed
        ]
        + [
            (
                lead_id,
                LeadEvent.Kind.NOTE,
                "Livraison annulée : données personnelles anonymisées avant l'envoi",
                {"attribution": pk},
            )
            for pk, lead_id in anonymized
        ]
    )
    return len(opposed) + len(anonymized)


_cancel_opposed = attributions_cancel_opposed  # older name, still imported elsewhere


def delivery_batch_send(*, batch: DeliveryBatch) -> int:
    """Build the batch's CSV from the client's pending attributions and e-mail it (§10).

    Raises on a sending failure: the attributions stay pending (in this batch) and the
    caller schedules a retry. Returns the number of leads delivered.
    """
    client = batch.client
    with transaction.atomic():
        # One claim per client at a time: a claim that read the leads of another batch before
        # that batch's claim committed would take them while they leave in its e-mail.
        advisory_xact_lock(BATCH_CLAIM, client.pk)
        pending = _pending_csv(client_id=client.pk, day=batch.date)
        attributions_cancel_opposed(qs=pending)
        # Leads left by an older unsent batch join this one: one e-mail with everything pending.
        # Not those of a batch being sent right now (another day's, sent by hand): they are in
        # its message, and it marks them delivered once sent.
        pending.exclude(batch=batch).exclude(batch__status=BatchStatus.SENDING).update(batch=batch)
        DeliveryBatch.objects.filter(
            client=client, status__in=[BatchStatus.PENDING, BatchStatus.FAILED], date__lt=batch.date
        ).exclude(attributions__status=AttributionStatus.PENDING).update(status=BatchStatus.SUPERSEDED)
        DeliveryBatch.objects.filter(pk=batch.pk).update(
            status=BatchStatus.SENDING, attempts=batch.attempts + 1, recipients=list(client.emails)
        )
    in_batch = Attribution.objects.filter(batch=batch, status=AttributionStatus.PENDING)
    count = _batch_file_build(batch=batch, attributions=in_batch)
    if count == 0:
        # Nothing left to e-mail (numbers opposed since, leads gone with another day's batch
        # being sent): no e-mail left, so the batch must not read as sent, nor offer a CSV.
        # Not final: leads attributed later that day may still go with it.
        batch.file.delete(save=False)
        DeliveryBatch.objects.filter(pk=batch.pk).update(
            status=BatchStatus.EMPTY, count=0, file="", error="", recipients=[]
        )
        # A failed attempt's leads may all be gone since (opposed, delivered by another batch):
        # nothing waits any more, so its alert must not stay open.
        alert_clear(key=_batch_alert_key(client.pk))
        return 0
    if not client.emails:
        raise CommandeError(f"Aucune adresse de livraison pour le client {client.name}.")
    batch.file.open("rb")
    try:
        content = batch.file.read()
    finally:
        batch.file.close()
    refused = send_entity_mail(
        entity=client.entity,
        subject=f"[{client.entity}] Vos leads du {batch.date:%d/%m/%Y} — {count_noun(count, 'lead')}",
        body=_mail_body(batch=batch, count=count),
        to=client.emails,
        attachments=[(_file_name(batch), content, "text/csv")],
    )
    # The server took the message for some addresses and refused the others: the leads are
    # delivered, and the batch names only the addresses that got them.
    received = _addresses_received(client.emails, refused)
    refusal = _refusal(refused)
    now = timezone.now()
    with transaction.atomic():
        DeliveryBatch.objects.filter(pk=batch.pk).update(
            status=BatchStatus.SENT, sent_at=now, error=refusal[:2000], count=count, recipients=received
        )
        attributions_mark_delivered(
            qs=in_batch,
            now=now,
            message=f"Livré par e-mail (CSV du {batch.date:%d/%m/%Y}, lot n° {batch.pk}) à {', '.join(received)}",
            data={"batch": batch.pk},
        )
    alert_clear(key=_batch_alert_key(client.pk))
    if refused:
        alert_raise(
            entity=batch.entity,
            kind="livraison_echec",
            key=_refused_alert_key(client.pk),
            message=(
                f"Le CSV quotidien de {client.name} ({batch.entity}) du {batch.date:%d/%m/%Y} est parti vers "
                f"{', '.join(received)}, mais {refusal[:300]}. Corrigez les adresses de livraison du client."
            ),
        )
    else:
        alert_clear(key=_refused_alert_key(client.pk))
    return count


def _file_name(batch: DeliveryBatch) -> str:
    return f"leads-{batch.entity.lower()}-client{batch.client_id}-{batch.date:%Y-%m-%d}.csv"


def _batch_file_build(*, batch: DeliveryBatch, attributions) -> int:
    """Write the CSV to a temporary file (streaming), then store it as the batch's file."""
    with tempfile.TemporaryFile(mode="w+b") as tmp:
        text = io.TextIOWrapper(tmp, encoding="utf-8", newline="")
        count = delivery_csv_write(attributions=attributions, out=text)
        text.flush()
        tmp.seek(0)
        if batch.file:
            batch.file.delete(save=False)
        batch.file.save(_file_name(batch), File(tmp), save=False)
        text.detach()
    DeliveryBatch.objects.filter(pk=batch.pk).update(file=batch.file.name, count=count)
    return count


def _mail_body(*, batch: DeliveryBatch, count: int) -> str:
    days = _window_days()
    return (
        "Bonjour,\n\n"
        f"Veuillez trouver ci-joint {'vos ' + count_noun(count, 'lead') if count > 1 else 'votre lead'} "
        f"du {batch.date:%d/%m/%Y} "
        "(fichier CSV, séparateur « ; », encodage UTF-8).\n"
        "La colonne « Lead Backlog » signale les leads issus de notre réserve.\n\n"
        f"Un lead inexploitable peut être rejeté pendant {count_noun(days, 'jour')} avec le lien de la colonne "
        "« Lien de rejet » (faux numéro, doublon, hors zone, injoignable, autre).\n\n"
        "Cordialement,\nL'équipe RDZ\n"
    )


def _window_days() -> int:
    from rdz.core.services import settings_get

    return settings_get().rejection_window_days


def attributions_mark_delivered(*, qs, now: datetime.datetime, message: str, data: dict) -> int:
    """Attributions → delivered, their leads → delivered, one timeline row each."""
    rows = list(qs.values_list("pk", "lead_id"))
    if not rows:
        return 0
    Attribution.objects.filter(pk__in=[pk for pk, _ in rows]).update(
        status=AttributionStatus.DELIVERED, delivered_at=now
    )
    lead_ids = [lead_id for _, lead_id in rows]
    for start in range(0, len(lead_ids), 1000):
        lead_status_set(lead_ids=lead_ids[start : start + 1000], status=LeadStatus.DELIVERED)
    lead_events_bulk_add(
        events=[(lead_id, LeadEvent.Kind.DELIVERED, message, {**data, "attribution": pk}) for pk, lead_id in rows]
    )
    return len(rows)


def _resend_refusal(batch: DeliveryBatch) -> str:
    """Why a batch cannot be re-sent, and what becomes of its leads (§10)."""
    if batch.status == BatchStatus.EMPTY:
        return "Ce lot n'avait rien à envoyer : il n'y a rien à renvoyer."
    if batch.status == BatchStatus.FAILED and batch.attempts >= BATCH_MAX_ATTEMPTS:
        return (
            "Seul un lot déjà envoyé peut être renvoyé : ce lot a épuisé ses essais, ses leads partent "
            "avec le prochain CSV quotidien (ou « delivery_send_daily --date … --client … »)."
        )
    if batch.status == BatchStatus.FAILED:
        return "Seul un lot déjà envoyé peut être renvoyé : ce lot en échec a un nouvel essai prévu."
    return "Seul un lot déjà envoyé peut être renvoyé."


@transaction.atomic
def delivery_batch_resend(*, batch: DeliveryBatch, actor=None) -> str:
    """Send a delivered batch's stored CSV again to the client (admin action, command).
    Returns, in French, the addresses the mail server refused while it took the others ('').

    The file goes as it was sent, less the rows of numbers put on the opposition list or of
    people erased since (§16: an opposed number is never delivered, a re-sending included), and
    of leads the client rejected since (credited back, back in the Lead Backlog, §10).
    """
    if batch.status != BatchStatus.SENT or not batch.file:
        raise CommandeError(_resend_refusal(batch))
    # One re-sending at a time per batch; a second one within a minute is a double click.
    last = DeliveryBatch.objects.select_for_update().values_list("last_resent_at", flat=True).get(pk=batch.pk)
    if last and timezone.now() - last < RESEND_GUARD:
        raise CommandeError(
            f"Ce lot vient d'être renvoyé (à {last.astimezone(PARIS):%H:%M:%S}) : rien n'a été renvoyé."
        )
    client = batch.client
    if not client.emails:
        # The mail library sends nothing to nobody without a word: it would read as a re-sending.
        raise CommandeError(f"Aucune adresse de livraison pour le client {client.name} : rien n'a été renvoyé.")
    with delivery_batch_file_open(batch=batch) as stored:
        content = stored.read()
    content, count, withheld = _resend_content(batch=batch, content=content)
    if count == 0:
        raise CommandeError(
            "Aucun lead de ce lot ne peut plus être livré (numéros sur la liste d'opposition, données effacées "
            "ou leads rejetés) : rien n'a été renvoyé."
        )
    refused = send_entity_mail(
        entity=client.entity,
        subject=f"[{client.entity}] Renvoi — vos leads du {batch.date:%d/%m/%Y} — {count_noun(count, 'lead')}",
        body=_mail_body(batch=batch, count=count),
        to=client.emails,
        attachments=[(_file_name(batch), content, "text/csv")],
    )
    DeliveryBatch.objects.filter(pk=batch.pk).update(resent_count=F("resent_count") + 1, last_resent_at=timezone.now())
    left_out = (
        f" ; {count_noun(withheld, 'lead retiré', 'leads retirés')} (liste d'opposition, effacement RGPD ou rejet)"
        if withheld
        else ""
    )
    refusal = _refusal(refused)
    received = ", ".join(_addresses_received(client.emails, refused))
    audit_log(
        action="delivery_batch_resend",
        actor=actor,
        entity=batch.entity,
        obj=batch,
        message=f"Lot n° {batch.pk} du {batch.date:%d/%m/%Y} renvoyé à {received}{left_out}"
        + (f" ; {refusal}" if refusal else ""),
    )
    return refusal


def delivery_batch_file_open(*, batch: DeliveryBatch):
    """The batch's stored CSV, open for reading; a French CommandeError when it is gone (a
    server that does not see the worker's DELIVERY_ROOT, a lost disk)."""
    try:
        return batch.file.open("rb")
    except FileNotFoundError as exc:
        raise CommandeError(
            "Le fichier CSV de ce lot est introuvable sur le serveur (dossier des lots, DELIVERY_ROOT) : "
            "il ne peut être ni téléchargé ni renvoyé."
        ) from exc


def _resend_content(*, batch: DeliveryBatch, content: bytes) -> tuple[bytes, int, int]:
    """The stored CSV without the rows of leads that may no longer be delivered.

    Returns (content, rows kept, rows left out). The first column is the lead's reference.
    """
    barred = {
        str(lead_id)
        for lead_id in Attribution.objects.filter(batch=batch)
        .filter(
            Exists(OppositionEntry.objects.filter(phone=OuterRef("lead__phone")))
            | Q(lead__anonymized_at__isnull=False)
            | Q(status__in=[AttributionStatus.REJECTED, AttributionStatus.CANCELLED])
        )
        .values_list("lead_id", flat=True)
    }
    rows = list(csv.reader(io.StringIO(content.decode("utf-8-sig"), newline=""), delimiter=";"))
    header, body = rows[:1], rows[1:]
    kept = [row for row in body if not row or row[0] not in barred]
    if len(kept) == len(body):
        return content, len(body), 0
    out = io.StringIO(newline="")
    out.write("\ufeff")
    csv.writer(out, delimiter=";", lineterminator="\r\n").writerows(header + kept)
    return out.getvalue().encode("utf-8"), len(kept), len(body) - len(kept)
