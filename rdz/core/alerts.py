"""Alert conditions checked on a schedule (§14): a provider or a form silent for N hours,
CRM failures above a threshold, and the daily summary e-mail of each entity.

Each condition has a stable key: `alert_raise` opens it once (and e-mails the entity's
recipients), `alert_clear` closes it when the condition is gone. Batch failures, quotas
reached and opened circuits are raised where they happen (delivery, routing, breakers).
"""

import datetime
import logging
import smtplib

from django.db import transaction
from django.db.models import Max

from leads.models import Lead, LeadForm
from leads.selectors import crm_failed_count
from leads.stats import rejections_by_day, rollup_refresh_day, status_totals
from providers.models import Provider
from rdz.core import locks
from rdz.core.entities import Entity
from rdz.core.locks import advisory_xact_lock
from rdz.core.models import Alert, AlertState, AuditLog
from rdz.core.services import alert_clear, alert_raise, audit_log, send_entity_mail, settings_get
from rdz.core.text import count_noun
from rdz.core.timeutils import paris_day_bounds, paris_now, paris_today

logger = logging.getLogger(__name__)

CRM_FAILURE_WINDOW = datetime.timedelta(hours=24)


def _silence_check(*, objects, kind: str, label: str, last_seen: dict, now: datetime.datetime, hours: int) -> int:
    """A source that never sent a lead is silent from its creation: staff get `hours` to
    connect a new provider or publish a new form, then one alert if nothing came."""
    raised = 0
    limit = now - datetime.timedelta(hours=hours)
    for obj in objects:
        key = f"silence:{kind}:{obj.pk}"
        last = last_seen.get(obj.pk)
        seen = max(filter(None, [last, obj.created_at]))
        if seen < limit:
            at = paris_now(seen).strftime("%d/%m/%Y à %H:%M")
            since = f"le {at}" if last is not None and last >= obj.created_at else f"sa création le {at}"
            if alert_raise(
                entity=obj.entity,
                kind=f"silence_{kind}",
                key=key,
                message=f"{label} « {obj} » n'a envoyé aucun lead depuis {since} "
                f"(alerte au-delà de {hours} h sans lead).",
            ):
                raised += 1
        else:
            alert_clear(key=key)
    return raised


def alerts_check_silence(*, now: datetime.datetime | None = None) -> int:
    """Active providers and forms without a lead for `alert_silence_hours` (§14). Returns alerts opened."""
    now = now or paris_now()
    hours = settings_get().alert_silence_hours
    providers = list(Provider.objects.filter(active=True))
    provider_seen = dict(
        Lead.objects.filter(provider__in=providers)
        .order_by()
        .values("provider_id")
        .annotate(last=Max("created_at"))
        .values_list("provider_id", "last")
    )
    forms = list(LeadForm.objects.filter(active=True))
    form_seen = dict(
        Lead.objects.filter(form__in=forms)
        .order_by()
        .values("form_id")
        .annotate(last=Max("created_at"))
        .values_list("form_id", "last")
    )
    raised = _silence_check(
        objects=providers, kind="provider", label="Le provider", last_seen=provider_seen, now=now, hours=hours
    )
    raised += _silence_check(
        objects=forms, kind="form", label="Le formulaire", last_seen=form_seen, now=now, hours=hours
    )
    # Deactivated sources are silent on purpose: their alert closes.
    for key in Alert.objects.filter(state=AlertState.OPEN, key__startswith="silence:").values_list("key", flat=True):
        _, kind, pk = key.split(":", 2)
        active_ids = {str(p.pk) for p in (providers if kind == "provider" else forms)}
        if pk not in active_ids:
            alert_clear(key=key)
    return raised


def crm_failures_message(*, entity: str, count: int, threshold: int) -> str:
    """The CRM failures alert's text (§14), the same from the forwarding and the periodic check."""
    verb = "n'a" if count < 2 else "n'ont"
    return (
        f"{count_noun(count, 'lead')} de formulaire {entity} {verb} pas pu être transmis au CRM "
        f"sur les dernières 24 h (seuil : {threshold})."
    )


def alerts_check_crm_failures(*, now: datetime.datetime | None = None) -> int:
    """Per entity: form leads of the last 24 h whose CRM forwarding failed, at or above the threshold."""
    now = now or paris_now()
    threshold = settings_get().alert_crm_failure_threshold
    raised = 0
    for entity in Entity.values:
        failed = crm_failed_count(entity=entity, since=now - CRM_FAILURE_WINDOW)
        key = f"crm_failures:{entity}"
        if failed >= threshold:
            if alert_raise(
                entity=entity,
                kind="crm_echecs",
                key=key,
                message=crm_failures_message(entity=entity, count=failed, threshold=threshold),
            ):
                raised += 1
        else:
            alert_clear(key=key)
    return raised


def daily_summary_body(*, entity: str, day: datetime.date) -> str:
    """The day's leads by their current status, then what happened that day: leads delivered
    to clients (CSV batches and HTTP) and rejections asked for. A lead received on a day is
    delivered the next morning and rejected days later, so those two are counted by the day
    they happened, not by the lead's reception day (which would almost always say 0)."""
    from commandes.models import Attribution

    totals = status_totals(entities=[entity], start=day, end=day)[entity]
    start, end = paris_day_bounds(day)
    delivered = Attribution.objects.filter(entity=entity, delivered_at__gte=start, delivered_at__lt=end).count()
    rejections = rejections_by_day(entities=[entity], start=day, end=day).get((day, entity), {})
    # The summary's own failure alert is open while a late retry sends it, and closes just after.
    open_alerts = (
        Alert.objects.filter(entity=entity, state=AlertState.OPEN)
        .exclude(key=_summary_failure_key(entity=entity, day=day))
        .order_by("-created_at")
    )
    lines = [
        f"Résumé RDZ {entity} du {day:%d/%m/%Y}",
        "",
        f"Leads reçus : {totals['received']}",
        f"  attribués : {totals['attributed']}",
        f"  sans commande (backlog) : {totals['no_order']}",
        f"  doublons : {totals['duplicate']}",
        f"  blacklistés : {totals['blacklisted']}",
        f"  opposés : {totals['opposed']}",
        "",
        "Activité de la journée :",
        f"  leads livrés aux clients : {delivered}",
        f"  rejets demandés : {sum(rejections.values())}"
        + (f" (dont à approuver : {rejections['pending']})" if rejections.get("pending") else ""),
        "",
        f"Alertes actives : {open_alerts.count()}",
    ]
    lines += [f"  - {a.message}" for a in open_alerts[:20]]
    return "\n".join(lines)


def _summary_failure_key(*, entity: str, day: datetime.date) -> str:
    return f"daily_summary:{entity}:{day.isoformat()}"


def daily_summary_send(*, entity: str, day: datetime.date | None = None) -> bool:
    """E-mail the summary of `day` (default: yesterday) once to the entity's alert recipients.

    An SMTP failure does not raise: it opens an alert (shown on the Alertes page) that
    `daily_summaries_retry` works off every 10 minutes until the summary is sent.
    """
    day = day or paris_today() - datetime.timedelta(days=1)
    failure_key = _summary_failure_key(entity=entity, day=day)
    recipients = settings_get().alert_recipients(entity)
    if not recipients:
        alert_clear(key=failure_key)
        return False
    try:
        with transaction.atomic():
            # The audit row is the "already sent" marker: a second run the same day sends nothing.
            # Two runs at once (a task redelivered while the first still runs) wait for each other.
            advisory_xact_lock(locks.DAILY_SUMMARY, day.toordinal() * 2 + (entity == "MDL"))
            sent = not AuditLog.objects.filter(
                action="daily_summary", entity=entity, object_id=day.isoformat()
            ).exists()
            if sent:
                rollup_refresh_day(day=day)
                send_entity_mail(
                    entity=entity,
                    subject=f"[RDZ {entity}] Résumé du {day:%d/%m/%Y}",
                    body=daily_summary_body(entity=entity, day=day),
                    to=recipients,
                )
                AuditLog.objects.create(
                    action="daily_summary",
                    actor_label="système",
                    entity=entity,
                    object_type="résumé quotidien",
                    object_id=day.isoformat(),
                    message=f"Résumé envoyé à {', '.join(recipients)}",
                )
    except (smtplib.SMTPException, OSError) as exc:
        logger.warning("daily summary %s %s not sent: %s", entity, day, exc)
        alert_raise(
            entity=entity,
            kind="resume_echec",
            key=failure_key,
            message=f"Le résumé quotidien {entity} du {day:%d/%m/%Y} n'a pas pu être envoyé (serveur SMTP : "
            f"{type(exc).__name__}). Nouvel essai toutes les 10 minutes.",
        )
        return False
    alert_clear(key=failure_key)
    return sent


def daily_summaries_retry() -> int:
    """Send again the summaries an SMTP failure held back (their alert is still open)."""
    sent = 0
    for key in Alert.objects.filter(state=AlertState.OPEN, key__startswith="daily_summary:").values_list(
        "key", flat=True
    ):
        _, entity, day = key.split(":", 2)
        if daily_summary_send(entity=entity, day=datetime.date.fromisoformat(day)):
            sent += 1
    return sent


def alert_dismiss(*, alert: Alert, user) -> bool:
    """Staff close an alert by hand (already scoped by the caller); audited.

    False when it was no longer open (closed meanwhile by someone else or by its check).
    """
    if not alert_clear(key=alert.key):
        return False
    audit_log(action="alert_clear", actor=user, entity=alert.entity, obj=alert, message=alert.message[:300])
    return True
