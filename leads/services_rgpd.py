"""RGPD tools (§16): erasure of a person, export of what RDZ holds, retention.

Erasure anonymizes a person's leads everywhere while keeping every row (statuses, counts,
dashboards unchanged): the lead's personal fields are emptied, and every row linked to it —
timeline events, attributions (their phone copy), HTTP delivery attempts, rejections, CRM
payload logs, and any model added later with a foreign key to the lead or to those rows —
has the person's phone (every format), e-mail, names and IP replaced by "[anonymisé]" in
its text and JSON fields. Stored files linked to those rows (daily CSV batches), the legacy
import's reports and the e-mails kept by the file backend are redacted line by line. The phone number then goes on the opposition list: keeping that one number is
what makes "never contact me again" enforceable (legal basis: the person's objection,
art. 21 RGPD, and the erasure right's exception for compliance with a legal obligation).
"""

import datetime
import json
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import phonenumbers
from django.conf import settings as django_settings
from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.core.validators import validate_email
from django.db import models, transaction
from django.db.models import Q
from django.utils import timezone

from leads.models import CrmStatus, Lead, LeadEvent, OppositionEntry, TrackingEvent
from leads.services import leads_lock
from leads.services_opposition import OppositionError, opposition_add, opposition_phone_normalize
from rdz.core.services import audit_log, settings_get
from rdz.core.text import count_noun

REDACTED = "[anonymisé]"
RGPD_SOURCE = "demande RGPD"  # opposition-list source of the numbers of erased persons
RELATION_DEPTH = 2  # lead → attribution → HTTP attempt / rejection
TEXT_FIELDS = (models.CharField, models.TextField, models.JSONField)


class RgpdError(Exception):
    """Refused RGPD request (French message)."""


# --- Tokens --------------------------------------------------------------------------------
# Between two digits of a written number: spaces (non-breaking ones too), dots, dashes, slashes.
_SEPARATOR = r"[\s.\-/]{0,2}"


def phone_pattern(e164: str) -> str:
    """A regular expression matching the number however a person or a system wrote it:
    +33612345678, 0612345678, 06 12 34 56 78, 06.12.34.56.78, 0033 6 12…, +33 (0)6 12…,
    +33 612 345 678, 06 12 34 5678, 33612345678, 612345678… (overseas numbers alike)."""
    try:
        number = phonenumbers.parse(e164)
    except phonenumbers.NumberParseException:
        return re.escape(e164)
    significant = phonenumbers.national_significant_number(number)
    country = _SEPARATOR.join(str(number.country_code))
    international = rf"(?:(?:\+|00){_SEPARATOR})?{country}{_SEPARATOR}(?:\(0\){_SEPARATOR})?"
    return rf"(?:{international}|0{_SEPARATOR})?{_SEPARATOR.join(significant)}"


def phone_prefilter(e164: str) -> str:
    """A database regular expression (PostgreSQL and SQLite alike) finding the rows that may
    quote the number: its significant digits, a few other characters allowed between them."""
    try:
        significant = phonenumbers.national_significant_number(phonenumbers.parse(e164))
    except phonenumbers.NumberParseException:
        significant = re.sub(r"\D", "", e164)
    return "[^0-9]{0,4}".join(significant)


@dataclass
class Person:
    """What identifies a person's data, longest tokens first so "+33…" goes before "6…"."""

    phones: set[str] = field(default_factory=set)
    emails: set[str] = field(default_factory=set)
    names: set[str] = field(default_factory=set)
    ips: set[str] = field(default_factory=set)

    def identity_pattern(self) -> re.Pattern | None:
        return _pattern(self.emails, phones=self.phones)

    def full_pattern(self) -> re.Pattern | None:
        names = [n for n in self.names if len(n) >= 2]
        return _pattern(list(self.emails) + list(self.ips), words=names, phones=self.phones)


def _pattern(tokens: Iterable[str], words: Iterable[str] = (), phones: Iterable[str] = ()) -> re.Pattern | None:
    parts = [phone_pattern(p) for p in sorted(set(filter(None, phones)))]
    parts += [re.escape(t) for t in sorted(set(filter(None, tokens)), key=len, reverse=True)]
    # Phone digits must not be cut out of a longer number; names only as whole words.
    parts = [rf"(?<!\d)(?:{p})(?!\d)" for p in parts]
    parts += [rf"(?<!\w){re.escape(w)}(?!\w)" for w in sorted(set(words), key=len, reverse=True)]
    if not parts:
        return None
    return re.compile("|".join(parts), re.IGNORECASE)


def _redact(value, pattern: re.Pattern):
    """The value with every token replaced, recursively through JSON."""
    if isinstance(value, str):
        return pattern.sub(REDACTED, value)
    if isinstance(value, dict):
        return {k: _redact(v, pattern) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact(v, pattern) for v in value]
    return value


# --- Finding a person's leads ----------------------------------------------------------------
def _person_leads(*, phone: str | None, email: str | None) -> tuple[Person, list[Lead]]:
    if not phone and not email:
        raise RgpdError("Indiquez un numéro de téléphone ou une adresse e-mail.")
    person = Person()
    if phone:
        try:
            person.phones.add(opposition_phone_normalize(phone))
        except OppositionError as exc:
            raise RgpdError(f"Numéro invalide : {exc}") from exc
    if email:
        # A blank or malformed address would match nobody, or worse, every lead without an
        # e-mail ("" once stripped): refused, as a malformed phone is.
        address = email.strip().lower()
        try:
            validate_email(address)
        except ValidationError as exc:
            raise RgpdError(f"Adresse e-mail invalide : « {email} ».") from exc
        person.emails.add(address)
    # One round of widening: the e-mail's leads give the phone, the phone's leads the e-mails.
    for _ in range(2):
        query = Q(phone__in=person.phones) | Q(email__in=person.emails)
        leads = list(Lead.objects.filter(query).order_by("created_at"))
        for lead in leads:
            if lead.phone:
                person.phones.add(lead.phone)
            if lead.email:
                person.emails.add(lead.email.lower())
    for lead in leads:
        person.names.update(n for n in (lead.first_name, lead.last_name) if n)
        if lead.ip:
            person.ips.add(str(lead.ip))
    return person, leads


def _reverse_relations(model) -> list:
    return [
        rel
        for rel in model._meta.related_objects
        if (rel.one_to_many or rel.one_to_one) and not rel.related_model._meta.proxy
    ]


def _linked_rows(model, pks: list, depth: int) -> Iterable[tuple[type, list]]:
    """(model, pks) of every row pointing at `pks` of `model`, down to `depth` levels."""
    if depth == 0 or not pks:
        return
    for rel in _reverse_relations(model):
        related = rel.related_model
        if related is Lead:
            continue
        ids = list(related._default_manager.filter(**{f"{rel.field.name}__in": pks}).values_list("pk", flat=True))
        if ids:
            yield related, ids
            yield from _linked_rows(related, ids, depth - 1)


def _file_rows(model, pks: list) -> Iterable[tuple[type, list]]:
    """Rows with stored files that `model` rows point at (an attribution's CSV batch)."""
    for f in model._meta.concrete_fields:
        target = f.related_model if f.many_to_one else None
        if target is None or not any(isinstance(t, models.FileField) for t in target._meta.concrete_fields):
            continue
        ids = list(
            model._default_manager.filter(pk__in=pks, **{f"{f.name}__isnull": False})
            .values_list(f.attname, flat=True)
            .distinct()
        )
        if ids:
            yield target, ids


def _redact_rows(model, pks: list, pattern: re.Pattern) -> int:
    fields = [f for f in model._meta.concrete_fields if isinstance(f, TEXT_FIELDS) and not f.choices]
    if not fields:
        return 0
    changed = 0
    for row in model._default_manager.filter(pk__in=pks).only("pk", *[f.name for f in fields]).iterator():
        updates = {}
        for f in fields:
            value = getattr(row, f.attname)
            new = _redact(value, pattern)
            if new != value:
                if isinstance(new, str) and f.max_length and len(new) > f.max_length:
                    new = new[: f.max_length] if len(REDACTED) <= f.max_length else ""
                updates[f.attname] = new
        if updates:
            model._default_manager.filter(pk=row.pk).update(**updates)
            changed += 1
    return changed


def _stored_paths(model, pks: list) -> Iterable[tuple[str, str]]:
    """(name, path) of the stored files of `pks` rows of `model`."""
    file_fields = [f for f in model._meta.concrete_fields if isinstance(f, models.FileField)]
    for row in model._default_manager.filter(pk__in=pks):
        for f in file_fields:
            stored = getattr(row, f.attname)
            if stored and stored.name and stored.storage.exists(stored.name):
                yield stored.name, stored.storage.path(stored.name)


def _redact_files(model, pks: list, person: Person) -> int:
    """Redact stored text files line by line: a line naming the person's phone or e-mail
    (one CSV row per lead) also loses the person's names."""
    return sum(_redact_path(path, person) for _, path in _stored_paths(model, pks))


def _read_text(path) -> str | None:
    with open(path, "rb") as handle:
        raw = handle.read()
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None  # not a text file: nothing of ours is stored as binary


def _redact_path(path, person: Person) -> int:
    """Redact one text file in place (see `_redact_files`); 1 if it changed."""
    identity, full = person.identity_pattern(), person.full_pattern()
    if identity is None:
        return 0
    with open(path, "rb") as handle:
        bom = handle.read(3) == b"\xef\xbb\xbf"
    text = _read_text(path)
    if text is None:
        return 0
    lines = text.splitlines(keepends=True)
    redacted = [full.sub(REDACTED, line) if identity.search(line) else line for line in lines]
    if redacted == lines:
        return 0
    with open(path, "w", encoding="utf-8", newline="") as handle:
        handle.write(("\ufeff" if bom else "") + "".join(redacted))
    return 1


def _folder_files(folder: Path | None) -> list[Path]:
    if folder is None or not folder.is_dir():
        return []
    return [path for path in sorted(folder.iterdir()) if path.is_file()]


def _import_report_files() -> list[Path]:
    """The legacy import's reports (var/imports/, text and JSON) quote refused documents,
    which may name the person. A report written elsewhere (`--report`) is the operator's."""
    from leads.legacy.importer import default_report_path

    return _folder_files(default_report_path().parent)


def _stored_mail_files() -> list[Path]:
    """Without an SMTP account (the embedded default), every e-mail sent — daily CSVs with
    their attachment, alerts — is written in clear to EMAIL_FILE_PATH: those copies are
    personal data held by RDZ like the stored batches."""
    folder = django_settings.EMAIL_FILE_PATH
    return _folder_files(Path(folder) if folder else None)


def _redact_import_reports(person: Person) -> int:
    return sum(_redact_path(path, person) for path in _import_report_files())


def _redact_stored_mails(person: Person) -> int:
    return sum(_redact_path(path, person) for path in _stored_mail_files())


def _quoting_lines(path, person: Person) -> list[str]:
    """The lines of a text file that the erasure would redact (see `_redact_path`)."""
    identity = person.identity_pattern()
    text = _read_text(path) if identity is not None else None
    if text is None:
        return []
    return [line for line in text.splitlines() if identity.search(line)]


def _log_rows(person: Person) -> Iterable[tuple[type, str, list]]:
    """(model, field, pks) of the free-text logs not linked to the lead (audit, alerts,
    outside-call errors) that quote the person's phone or e-mail, e.g. an endpoint's error
    message echoing the payload."""
    from rdz.core.models import Alert, AuditLog, CircuitBreaker, OutboxItem

    identity = person.identity_pattern()
    if identity is None:
        return
    sources = ((AuditLog, "message"), (Alert, "message"), (OutboxItem, "last_error"), (CircuitBreaker, "last_error"))
    for model, name in sources:
        query = Q()
        for phone in sorted(person.phones):
            query |= Q(**{f"{name}__regex": phone_prefilter(phone)})
        for email in sorted(person.emails):
            query |= Q(**{f"{name}__icontains": email})
        rows = model._default_manager.filter(query).order_by("pk").values_list("pk", name)
        pks = [pk for pk, text in rows.iterator() if identity.search(text)]
        if pks:
            yield model, name, pks


def _audit_sweep(pattern: re.Pattern, person: Person) -> int:
    return sum(_redact_rows(model, pks, pattern) for model, _, pks in _log_rows(person))


@dataclass
class ErasureResult:
    leads: int = 0
    linked_rows: int = 0
    files: int = 0
    opposition: int = 0  # the person's numbers on the opposition list
    opposition_added: int = 0

    def summary(self) -> str:
        """« 1 lead anonymisé, 3 lignes liées expurgées, 0 fichier expurgé »."""
        return (
            f"{count_noun(self.leads, 'lead anonymisé', 'leads anonymisés')}, "
            f"{count_noun(self.linked_rows, 'ligne liée expurgée', 'lignes liées expurgées')}, "
            f"{count_noun(self.files, 'fichier expurgé', 'fichiers expurgés')}"
        )


PERSONAL_LEAD_FIELDS = {
    "phone": "",
    "email": "",
    "first_name": "",
    "last_name": "",
    "ip": None,
    "user_agent": "",
    "visitor_id": "",
    "extra": {},
    "crm_last_error": "",
    "consent_page_url": "",
}


def _anonymize(
    leads: list[Lead], person: Person, *, reason: str, now: datetime.datetime, sweep_logs: bool = True
) -> ErasureResult:
    result = ErasureResult(leads=len(leads))
    pattern = person.full_pattern()
    pks = [lead.pk for lead in leads]
    if pattern is not None:
        for model, ids in _linked_rows(Lead, pks, RELATION_DEPTH):
            result.linked_rows += _redact_rows(model, ids, pattern)
            for file_model, file_ids in _file_rows(model, ids):
                result.linked_rows += _redact_rows(file_model, file_ids, pattern)
                result.files += _redact_files(file_model, file_ids, person)
        if sweep_logs:
            result.linked_rows += _audit_sweep(pattern, person)
    # Counts and statuses stay: only the personal fields are emptied (§16).
    Lead.objects.filter(pk__in=pks).update(anonymized_at=now, **PERSONAL_LEAD_FIELDS)
    LeadEvent.objects.bulk_create(
        [LeadEvent(lead_id=pk, kind=LeadEvent.Kind.NOTE, created_at=now, actor="RGPD", message=reason) for pk in pks]
    )
    return result


@transaction.atomic
def rgpd_erase(*, phone: str | None = None, email: str | None = None, actor=None) -> ErasureResult:
    """Anonymize every lead of the person (by phone, e-mail, or both) and put the phone(s)
    on the opposition list. Audited without the personal data.

    The numbers go on the list first, so the delivery's own opposition check cancels the
    attributions still waiting (CSV or HTTP) while their phone copy still matches; a
    pending CRM forwarding is stopped. Nothing of the person leaves RDZ afterwards.
    """
    from commandes.delivery import _cancel_opposed
    from commandes.models import Attribution, AttributionStatus

    person, leads = _person_leads(phone=phone, email=email)
    added = 0
    for number in sorted(person.phones):
        _, created = opposition_add(
            phone=number, reason="Effacement RGPD : ne plus contacter", source=RGPD_SOURCE, actor=actor
        )
        added += int(created)
    pks = [lead.pk for lead in leads]
    leads_lock(lead_ids=pks)  # before their attributions, as every writer of a lead does
    pending = Attribution.objects.filter(lead_id__in=pks, status=AttributionStatus.PENDING)
    # Cancelling takes a pending attribution out of its batch, whose stored file may already
    # hold the person's line (a sending that failed): keep those files to redact them too.
    unsent_files = list(_file_rows(Attribution, list(pending.values_list("pk", flat=True))))
    _cancel_opposed(qs=pending)
    Lead.objects.filter(pk__in=pks, crm_status=CrmStatus.PENDING).update(crm_status=CrmStatus.STOPPED)
    result = _anonymize(
        leads, person, reason="Données personnelles anonymisées (demande d'effacement RGPD)", now=timezone.now()
    )
    for file_model, file_ids in unsent_files:  # files still linked were redacted above: no change here
        result.linked_rows += _redact_rows(file_model, file_ids, person.full_pattern())
        result.files += _redact_files(file_model, file_ids, person)
    result.files += _redact_import_reports(person)
    result.files += _redact_stored_mails(person)
    result.opposition = len(person.phones)
    result.opposition_added = added
    audit_log(
        action="rgpd.erase",
        actor=actor,
        actor_label="" if actor else "commande rgpd_erase",
        message=(
            f"Effacement RGPD : {result.summary()}, "
            f"{count_noun(result.opposition, 'numéro')} sur la liste d'opposition."
        ),
    )
    return result


def retention_cutoff(*, now: datetime.datetime, years: int) -> datetime.datetime:
    """The creation time before which a lead is past the period: `years` before `now` on the
    Paris calendar and clock (the same wall time, whatever the summer time of either year)."""
    local = timezone.localtime(now)
    try:
        return local.replace(year=local.year - years)
    except ValueError:  # 29 February: the period of a lead of 28 February ends now, of 1 March not yet
        return local.replace(year=local.year - years, month=3, day=1, hour=0, minute=0, second=0, microsecond=0)


RETENTION_CHUNK = 500


def lead_retention_anonymize(
    *, now: datetime.datetime | None = None, chunk_size: int | None = None, budget_seconds: float | None = None
) -> int:
    """Anonymize leads older than the retention period (§8 setting, default 3 years).

    Chunked, each chunk its own transaction: a run interrupted halfway is finished by the
    next one (anonymized leads are skipped), so running it twice is harmless. With
    `budget_seconds`, it stops between chunks once that time is spent (the task's time
    limit would otherwise cut it mid-chunk, before its audit row), and audits what it did;
    `lead_retention_due` tells whether leads remain.
    """
    now = now or timezone.now()
    chunk_size = chunk_size or RETENTION_CHUNK
    years = settings_get().retention_years
    cutoff = retention_cutoff(now=now, years=years)
    started = time.monotonic()
    total = 0
    while True:
        with transaction.atomic():
            leads = list(
                Lead.objects.select_for_update(skip_locked=True)
                .filter(created_at__lt=cutoff, anonymized_at__isnull=True)
                .order_by("created_at")[:chunk_size]
            )
            if not leads:
                break
            for lead in leads:
                person = Person(
                    phones={lead.phone} if lead.phone else set(),
                    emails={lead.email.lower()} if lead.email else set(),
                    names={n for n in (lead.first_name, lead.last_name) if n},
                    ips={str(lead.ip)} if lead.ip else set(),
                )
                _anonymize_one_for_retention(lead, person, now=now, years=years)
            total += len(leads)
        if budget_seconds is not None and time.monotonic() - started >= budget_seconds:
            break
    if total:
        audit_log(
            action="rgpd.retention",
            actor_label="tâche de conservation",
            message=f"Durée de conservation ({count_noun(years, 'an')}) : "
            f"{count_noun(total, 'lead anonymisé', 'leads anonymisés')}.",
        )
    return total


def lead_retention_due(*, now: datetime.datetime | None = None) -> bool:
    """Whether leads past the retention period are still to anonymize."""
    cutoff = retention_cutoff(now=now or timezone.now(), years=settings_get().retention_years)
    return Lead.objects.filter(created_at__lt=cutoff, anonymized_at__isnull=True).exists()


def _anonymize_one_for_retention(lead: Lead, person: Person, *, now, years: int) -> None:
    # Only this lead's rows: the same person's recent leads stay as they are.
    _anonymize(
        [lead],
        person,
        reason=f"Données personnelles anonymisées (conservation de {count_noun(years, 'an')} dépassée)",
        now=now,
        sweep_logs=False,  # a scan of the audit log per lead would not scale; it never quotes a lead
    )


# --- Export ----------------------------------------------------------------------------------
def _row_dict(row: models.Model) -> dict:
    data = {}
    for f in row._meta.concrete_fields:
        value = getattr(row, f.attname)
        if isinstance(f, models.FileField):
            value = value.name if value else ""
        data[f.attname] = value
    return data


def rgpd_export(*, phone: str | None = None, email: str | None = None, actor=None) -> dict:
    """Everything RDZ holds about a person (§16, RGPD right of access), JSON-ready.
    Audited without the personal data, like the erasure."""
    person, leads = _person_leads(phone=phone, email=email)
    exported = []
    for lead in leads:
        item = _row_dict(lead)
        item["product_code"] = lead.product.code
        linked: dict[str, list] = {}
        for model, ids in _linked_rows(Lead, [lead.pk], RELATION_DEPTH):
            linked.setdefault(model._meta.label, []).extend(
                _row_dict(r) for r in model._default_manager.filter(pk__in=ids).order_by("pk")
            )
        if lead.form_id and lead.visitor_id:
            # The landing page visits of the same browser (pseudonymous visitor id).
            linked["leads.TrackingEvent"] = [
                _row_dict(e)
                for e in TrackingEvent.objects.filter(form_id=lead.form_id, visitor_id=lead.visitor_id).order_by("pk")
            ]
        item["linked"] = linked
        exported.append(item)
    opposition = [_row_dict(e) for e in OppositionEntry.objects.filter(phone__in=person.phones).order_by("created_at")]
    logs = {
        model._meta.label: [_row_dict(row) for row in model._default_manager.filter(pk__in=pks).order_by("pk")]
        for model, _, pks in _log_rows(person)
    }
    # The stored file lines the erasure redacts: CSV batches, import reports, kept e-mails.
    paths: list[tuple[str, object]] = []
    for model, ids in _linked_rows(Lead, [lead.pk for lead in leads], RELATION_DEPTH):
        for file_model, file_ids in _file_rows(model, ids):
            paths += list(_stored_paths(file_model, file_ids))
    paths += [(f"imports/{path.name}", path) for path in _import_report_files()]
    paths += [(f"mails/{path.name}", path) for path in _stored_mail_files()]
    files = {name: lines for name, path in dict(paths).items() if (lines := _quoting_lines(path, person))}
    payload = {
        "request": {"phone": phone or "", "email": email or ""},
        "generated_at": timezone.now(),
        "phones": sorted(person.phones),
        "emails": sorted(person.emails),
        "opposition": opposition,
        "leads": exported,
        "logs": logs,  # audit log, alerts and error messages quoting the person
        "files": files,  # stored file lines quoting the person
    }
    # Round-trip through the encoder: UUIDs, datetimes, decimals become text.
    data = json.loads(json.dumps(payload, cls=DjangoJSONEncoder))
    audit_log(
        action="rgpd.export",
        actor=actor,
        actor_label="" if actor else "commande rgpd_export",
        message=(
            f"Export RGPD (droit d'accès) : {count_noun(len(exported), 'lead')}, "
            f"{count_noun(len(opposition), 'entrée', 'entrées')} de la liste d'opposition, "
            f"{count_noun(sum(len(rows) for rows in logs.values()), 'ligne de journal', 'lignes de journal')}, "
            f"{count_noun(sum(len(lines) for lines in files.values()), 'ligne de fichier', 'lignes de fichier')}."
        ),
    )
    return data
