"""Shared services: the settings record (§8), audit, alerts (§14), outbox and circuit
breakers (§16). No business rule lives here: apps call these helpers."""

import datetime
import logging
from collections.abc import Callable, Iterable

from django.conf import settings as django_settings
from django.core.mail import EmailMessage, get_connection
from django.db import IntegrityError, transaction
from django.db.models import F
from django.urls import reverse
from django.utils import timezone

from rdz.core.fastsql import row_insert_unless_conflict, rows_select
from rdz.core.models import (
    ALERT_KIND_ADVICE,
    Alert,
    AlertState,
    AppSettings,
    AuditLog,
    CircuitBreaker,
    CircuitState,
    OutboxItem,
    OutboxStatus,
    SettingsAudit,
)
from rdz.core.text import count_noun
from rdz.core.timeutils import paris_now

logger = logging.getLogger(__name__)


class CoreError(Exception):
    """A refused core operation, with a French message; `field` names the input at fault
    when there is one, so a form shows the message next to it."""

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message)
        self.field = field


# --- Settings record -------------------------------------------------------------------
def settings_get() -> AppSettings:
    """The settings record, read from the database each time (no restart needed).

    Plain SQL (rdz.core.fastsql): every intake reads it.
    """
    found = rows_select(AppSettings, "id = %s", [AppSettings.SINGLETON_ID])
    obj = found[0] if found else None
    if obj is None:
        obj, _ = AppSettings.objects.get_or_create(pk=AppSettings.SINGLETON_ID)
    return obj


def _as_text(value) -> str:
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    if isinstance(value, datetime.time):
        return value.strftime("%H:%M")
    if isinstance(value, bool):
        return "oui" if value else "non"
    return "" if value is None else str(value)


SECRET_SETTINGS = frozenset({"fallback_crm_key_zr7", "fallback_crm_key_mdl"})


@transaction.atomic
def settings_update(*, user, changes: dict) -> list[SettingsAudit]:
    """Apply `changes` to the settings record, one audit row per changed field.

    Secret values (CRM keys) are audited as masked.
    """
    obj = AppSettings.objects.select_for_update().filter(pk=AppSettings.SINGLETON_ID).first()
    if obj is None:
        obj = AppSettings.objects.create(pk=AppSettings.SINGLETON_ID)
        obj = AppSettings.objects.select_for_update().get(pk=obj.pk)
    audits = []
    for field, new in changes.items():
        old = getattr(obj, field)
        if old == new:
            continue
        setattr(obj, field, new)
        masked = field in SECRET_SETTINGS
        audits.append(
            SettingsAudit(
                changed_by=user if getattr(user, "pk", None) else None,
                changed_by_label=str(user) if getattr(user, "pk", None) else "",
                field=field,
                old_value="••••" if masked and old else _as_text(old),
                new_value="••••" if masked and new else _as_text(new),
            )
        )
    if audits:
        obj.full_clean()
        obj.save()
        SettingsAudit.objects.bulk_create(audits)
        from rdz.core.signals import settings_changed

        transaction.on_commit(lambda: settings_changed.send(sender=AppSettings, fields=[a.field for a in audits]))
    return audits


def audit_log(
    *, action: str, actor=None, actor_label: str = "", entity: str = "", obj=None, message: str = ""
) -> AuditLog:
    return AuditLog.objects.create(
        action=action,
        actor=actor if getattr(actor, "pk", None) else None,
        actor_label=actor_label or (str(actor) if getattr(actor, "pk", None) else "système"),
        entity=entity,
        object_type=obj._meta.label if obj is not None else "",
        object_id=str(obj.pk) if obj is not None else "",
        message=message,
    )


DAILY_RUN_ACTION = "daily_run"


def daily_run_record(*, job: str, day: datetime.date, message: str) -> None:
    """Mark a scheduled daily job as run for `day` (one audit row, read by daily_run_done)."""
    AuditLog.objects.create(
        action=DAILY_RUN_ACTION, actor_label="système", object_type=job, object_id=day.isoformat(), message=message
    )


def daily_run_done(*, job: str, day: datetime.date) -> bool:
    return AuditLog.objects.filter(action=DAILY_RUN_ACTION, object_type=job, object_id=day.isoformat()).exists()


# --- Alerts ----------------------------------------------------------------------------
SMTP_BACKEND = "django.core.mail.backends.smtp.EmailBackend"


def send_entity_mail(
    *, entity: str, subject: str, body: str, to: Iterable[str], attachments=()
) -> dict[str, tuple[int, bytes]]:
    """Send through the entity's own SMTP account (ZR7_EMAIL_URL / MDL_EMAIL_URL). Raises on
    failure, a refusal of every recipient included. Returns the recipients the server refused
    while it took the message for the others: address → (code, answer)."""
    cfg = django_settings.ENTITY_EMAIL[entity]
    kwargs = {
        "host": cfg.get("EMAIL_HOST"),
        "port": cfg.get("EMAIL_PORT"),
        "username": cfg.get("EMAIL_HOST_USER") or None,
        "password": cfg.get("EMAIL_HOST_PASSWORD") or None,
        "use_tls": cfg.get("EMAIL_USE_TLS", False),
        "use_ssl": cfg.get("EMAIL_USE_SSL", False),
        "timeout": django_settings.EMAIL_TIMEOUT,
        "fail_silently": False,
    }
    kwargs = {k: v for k, v in kwargs.items() if v is not None}
    backend = cfg["EMAIL_BACKEND"]
    if backend == SMTP_BACKEND:
        backend = "rdz.core.mail.RefusalsKeepingSmtpBackend"
    connection = get_connection(backend=backend, **kwargs)
    message = EmailMessage(subject=subject, body=body, from_email=cfg["FROM"], to=list(to), connection=connection)
    for name, content, mimetype in attachments:
        message.attach(name, content, mimetype)
    message.send(fail_silently=False)
    return dict(getattr(connection, "refused", {}))


def alert_raise(*, entity: str, kind: str, key: str, message: str) -> Alert | None:
    """Open the alert `key` once; returns None when it is already open. E-mail after commit."""
    if Alert.objects.filter(key=key, state=AlertState.OPEN).exists():
        return None
    try:
        with transaction.atomic():
            alert = Alert.objects.create(entity=entity, kind=kind, key=key, message=message)
    except IntegrityError:
        return None
    transaction.on_commit(lambda: _alert_email(alert.pk))
    return alert


def alert_restate(*, key: str, message: str) -> int:
    """Say what is new about the open alert `key` on the Alertes page, without a second e-mail:
    the condition lasts, but what it told staff (a retry to come…) is no longer true."""
    return Alert.objects.filter(key=key, state=AlertState.OPEN).exclude(message=message).update(message=message)


def alert_clear(*, key: str) -> int:
    return Alert.objects.filter(key=key, state=AlertState.OPEN).update(
        state=AlertState.CLEARED, cleared_at=timezone.now()
    )


ALERT_EMAIL_RETRY_HOURS = 24


def alert_email_body(alert: Alert) -> str:
    """The alert's message, then what to do and where: the recipient reads it away from RDZ."""
    lines = [alert.message]
    advice, url_name, page = ALERT_KIND_ADVICE.get(alert.kind, ("", "", ""))
    if advice:
        lines += ["", f"À faire : {advice}"]
    if url_name:
        # The failures of the alert's 24 hours, not every failed lead ever.
        since = paris_now(alert.created_at - datetime.timedelta(hours=24)).date().isoformat()
        query = ""
        if alert.kind == "crm_echecs":
            query = f"?crm_status=failed&entity={alert.entity}&from={since}"
        elif alert.kind == "livraison_http_repli":
            # Its key ends with the client's id: the log opens on that client's failed POSTs.
            client_id = alert.key.rpartition(":")[2]
            query = f"?client__exact={client_id}&success__exact=0" if client_id.isdigit() else "?success__exact=0"
        # A bare address read away from RDZ does not say what it opens.
        lines += [f"{page} : {django_settings.SITE_URL}{reverse(url_name)}{query}"]
    lines += ["", f"Toutes les alertes : {django_settings.SITE_URL}{reverse('backoffice-alerts')}"]
    return "\n".join(lines)


def _alert_email(alert_id: int) -> bool:
    """E-mail an alert to its entity's recipients; True when sent.

    `emailed_at` is set before sending (a conditional UPDATE, so the retry below and the
    first send never both mail it) and emptied again when the SMTP server fails.
    """
    alert = Alert.objects.get(pk=alert_id)
    recipients = settings_get().alert_recipients(alert.entity)
    if not recipients:
        return False
    if Alert.objects.filter(pk=alert_id, emailed_at__isnull=True).update(emailed_at=timezone.now()) != 1:
        return False
    try:
        send_entity_mail(
            entity=alert.entity,
            subject=f"[RDZ {alert.entity}] Alerte : {alert.kind_label}",
            body=alert_email_body(alert),
            to=recipients,
        )
    except Exception:  # an alert must never break the caller; it stays visible and is retried
        logger.exception("alert e-mail failed for alert %s", alert_id)
        Alert.objects.filter(pk=alert_id).update(emailed_at=None)
        return False
    return True


def alert_emails_retry() -> int:
    """E-mail again the open alerts of the last day whose e-mail did not go (SMTP down).

    Run by the alert checks; after a failure, the entity's other alerts wait for the next
    run instead of each waiting for the same dead server. Returns how many were sent.
    """
    since = timezone.now() - datetime.timedelta(hours=ALERT_EMAIL_RETRY_HOURS)
    pending = Alert.objects.filter(state=AlertState.OPEN, emailed_at__isnull=True, created_at__gte=since)
    sent, failed_entities = 0, set()
    for alert_id, entity in pending.order_by("created_at", "id").values_list("pk", "entity"):
        if entity in failed_entities:
            continue
        if _alert_email(alert_id):
            sent += 1
        elif Alert.objects.filter(pk=alert_id, emailed_at__isnull=True).exists():
            failed_entities.add(entity)
    return sent


# --- Outbox ----------------------------------------------------------------------------
def outbox_enqueue(*, kind: str, ref: str, entity: str, max_attempts: int = 5, delay: float = 0) -> OutboxItem | None:
    """Write the outbox row (same transaction as the caller) — no-op if one is live.

    The unique constraint on live rows decides (one INSERT … ON CONFLICT DO NOTHING, no
    savepoint): None when a pending or running row already exists for (kind, ref).
    """
    item = OutboxItem(
        kind=kind,
        ref=str(ref),
        entity=entity,
        max_attempts=max_attempts,
        next_attempt_at=timezone.now() + datetime.timedelta(seconds=delay),
    )
    return item if row_insert_unless_conflict(item) else None


def outbox_claim(*, item_id: int, lease_seconds: int = 0) -> OutboxItem | None:
    """Claim a due row with a conditional UPDATE; None if another worker has it or it is done.

    The lease never ends before the task's hard time limit: until then the worker that holds
    the row may still be calling out, and the sweeper handing the row to a second worker
    would make two calls at once (two POSTs of one lead, two e-mails of one batch).
    """
    lease_seconds = max(lease_seconds, django_settings.CELERY_TASK_TIME_LIMIT + 60)
    now = timezone.now()
    claimed = OutboxItem.objects.filter(pk=item_id, status=OutboxStatus.PENDING, next_attempt_at__lte=now).update(
        status=OutboxStatus.RUNNING,
        attempts=F("attempts") + 1,
        claimed_until=now + datetime.timedelta(seconds=lease_seconds),
    )
    if claimed != 1:
        return None
    return OutboxItem.objects.get(pk=item_id)


def outbox_interrupted(item: OutboxItem) -> str:
    """French reason when the claim just made is past the row's last attempt, "" otherwise.

    A finished attempt records its failure, and the last one marks the row failed, so such
    a claim means every run so far died before the end (worker killed: hard time limit, out
    of memory, crash). Calling out again would loop for ever: the caller ends the row instead.
    """
    if item.attempts <= item.max_attempts:
        return ""
    return f"interrompu {item.attempts - 1} fois avant la fin de l'envoi (tâche arrêtée) : abandonné"


def outbox_done(item: OutboxItem) -> None:
    OutboxItem.objects.filter(pk=item.pk, status=OutboxStatus.RUNNING).update(
        status=OutboxStatus.DONE, done_at=timezone.now(), claimed_until=None, last_error=""
    )


def outbox_retry_later(item: OutboxItem, *, error: str, delay_seconds: float) -> bool:
    """Back to pending after `delay_seconds`; returns False (and marks failed) when attempts are spent."""
    if item.attempts >= item.max_attempts:
        OutboxItem.objects.filter(pk=item.pk).update(
            status=OutboxStatus.FAILED, last_error=error[:2000], claimed_until=None, done_at=timezone.now()
        )
        return False
    OutboxItem.objects.filter(pk=item.pk).update(
        status=OutboxStatus.PENDING,
        last_error=error[:2000],
        claimed_until=None,
        next_attempt_at=timezone.now() + datetime.timedelta(seconds=delay_seconds),
    )
    return True


def outbox_postpone(item: OutboxItem, *, until: datetime.datetime, reason: str = "") -> None:
    """Give the attempt back (e.g. circuit open): pending again without spending an attempt."""
    OutboxItem.objects.filter(pk=item.pk).update(
        status=OutboxStatus.PENDING,
        attempts=F("attempts") - 1,
        claimed_until=None,
        next_attempt_at=until,
        last_error=reason[:2000],
    )


def outbox_due(*, kinds: Iterable[str] | None = None, limit: int = 500) -> list[OutboxItem]:
    """Rows to (re-)enqueue: pending and due, or running past their lease (worker died)."""
    now = timezone.now()
    OutboxItem.objects.filter(status=OutboxStatus.RUNNING, claimed_until__lt=now).update(
        status=OutboxStatus.PENDING, claimed_until=None
    )
    qs = OutboxItem.objects.filter(status=OutboxStatus.PENDING, next_attempt_at__lte=now)
    if kinds is not None:
        qs = qs.filter(kind__in=list(kinds))
    return list(qs.order_by("next_attempt_at")[:limit])


def backoff_seconds(attempt: int, *, base: float = 30, cap: float = 3600) -> float:
    """Exponential backoff: base, 2×base, 4×base… capped."""
    return min(cap, base * (2 ** max(0, attempt - 1)))


# --- Circuit breakers ------------------------------------------------------------------
def circuit_get(*, name: str, entity: str) -> CircuitBreaker:
    obj, _ = CircuitBreaker.objects.get_or_create(name=name, defaults={"entity": entity})
    return obj


def circuit_allows(*, name: str, entity: str, probe_after_seconds: int = 300) -> bool:
    """Closed → go. Open → only when its probe time has come, and then for one caller only.

    Every piece of paused work is due at the probe time: the caller that claims the probe
    (conditional UPDATE) moves the next probe time on, so the other workers wait for its
    answer instead of all calling the endpoint that just failed N times.
    """
    breaker = circuit_get(name=name, entity=entity)
    if breaker.state == CircuitState.CLOSED:
        return True
    now = timezone.now()
    if breaker.next_probe_at is None or breaker.next_probe_at > now:
        return False
    claimed = CircuitBreaker.objects.filter(pk=breaker.pk, state=CircuitState.OPEN, next_probe_at__lte=now).update(
        next_probe_at=now + datetime.timedelta(seconds=probe_after_seconds)
    )
    # Not claimed: another worker probes now, or its probe just closed the breaker.
    return claimed == 1 or CircuitBreaker.objects.filter(pk=breaker.pk, state=CircuitState.CLOSED).exists()


def circuit_record_success(*, name: str, entity: str) -> int:
    """A call went through. If the breaker was open (a probe, or staff closing it by hand), it
    closes, its alert clears and the work it held goes now, through the handler its app
    registered (`circuit_release_register`). Returns how many rows were brought forward."""
    breaker = circuit_get(name=name, entity=entity)
    clean = {"consecutive_failures": 0, "last_error": ""}
    with transaction.atomic():
        # Conditional: of two successes at once, one closes the breaker and releases its work.
        closed = CircuitBreaker.objects.filter(pk=breaker.pk, state=CircuitState.OPEN).update(
            state=CircuitState.CLOSED, opened_at=None, next_probe_at=None, **clean
        )
        if not closed:
            if breaker.consecutive_failures or breaker.last_error:
                CircuitBreaker.objects.filter(pk=breaker.pk, state=CircuitState.CLOSED).update(**clean)
            return 0
        alert_clear(key=f"circuit:{name}")
        for prefix, handler in _RELEASE_HANDLERS.items():
            if name.startswith(prefix):
                return handler(name)
    return 0


def circuit_record_failure(
    *, name: str, entity: str, error: str, probe_after_seconds: int = 300, label: str = ""
) -> bool:
    """Count a failure; opens (and alerts) at the threshold. Returns True if now open.

    `label` names the endpoint for staff in the alert (« Le CRM ZR7 »…), the breaker's name otherwise."""
    threshold = settings_get().circuit_failure_threshold
    with transaction.atomic():
        breaker = CircuitBreaker.objects.select_for_update().get(pk=circuit_get(name=name, entity=entity).pk)
        breaker.consecutive_failures += 1
        breaker.last_error = error[:2000]
        now = timezone.now()
        opened = False
        if breaker.consecutive_failures >= threshold:
            if breaker.state != CircuitState.OPEN:
                breaker.opened_at = now
                opened = True
            breaker.state = CircuitState.OPEN
            breaker.next_probe_at = now + datetime.timedelta(seconds=probe_after_seconds)
        breaker.save()
    if opened:
        who = label or f"Le point d'accès « {name} »"
        alert_raise(
            entity=entity,
            kind="circuit_ouvert",
            key=f"circuit:{name}",
            message=f"{who} est en pause après "
            f"{count_noun(breaker.consecutive_failures, 'échec consécutif', 'échecs consécutifs')}. "
            f"Dernière erreur : {error[:300]}",
        )
    return breaker.state == CircuitState.OPEN


_RELEASE_HANDLERS: dict[str, Callable[[str], int]] = {}
_LABELS: dict[str, Callable[[str], str]] = {}


def circuit_release_register(
    prefix: str, handler: Callable[[str], int], *, label: Callable[[str], str] | None = None
) -> None:
    """The app owning breakers named `prefix…` says what an open breaker held: when it closes,
    `handler(name)` makes that work due now and returns how many rows it brought forward.
    `label(name)` names the endpoint for staff (« Point d'accès HTTP du client « … » »)."""
    _RELEASE_HANDLERS[prefix] = handler
    if label is not None:
        _LABELS[prefix] = label


def circuit_label(name: str) -> str:
    """The breaker's endpoint as staff know it; its internal name when no app names it."""
    for prefix, label in _LABELS.items():
        if name.startswith(prefix):
            return label(name)
    return name


def circuit_reset(*, name: str, user=None) -> int:
    """Close by hand (staff): the work the breaker held goes now, not at its probe time.
    Returns how many rows were brought forward."""
    breaker = CircuitBreaker.objects.filter(name=name).first()
    if breaker is None:
        return 0
    count = circuit_record_success(name=name, entity=breaker.entity)
    audit_log(
        action="circuit_reset", actor=user, entity=breaker.entity, obj=breaker, message="Remis en service à la main"
    )
    return count
