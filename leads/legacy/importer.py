"""Backfill RDZ from the previous system (§12): upserts by legacy id, collection by collection.

- Idempotent: every row keeps the legacy id (`str(ObjectId)`), a re-run updates or leaves
  rows unchanged, never duplicates them. Leads anonymized since (RGPD) are never restored.
- Invalid documents are reported with their reason and never stop the import; a document
  enters whole or not at all (validation before any write, then a savepoint per chunk and,
  when the database refuses a chunk, a savepoint per document).
- Routing is not replayed: imported leads keep their old status (mapped), with a timeline
  event "importé de l'ancien système" dated at the original creation.
- Leads are streamed and written in chunks (bulk_create / bulk_update, existing legacy ids
  fetched per chunk), so memory stays flat whatever the size of the source.

This is a backfill of the rows as they were: it writes the other apps' tables (providers,
clients, commandes) directly, by legacy id, because their services model live behaviour
(issuing API keys, routing) that must not be replayed on history.
"""

import datetime
import json
import queue
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from django.core.serializers.json import DjangoJSONEncoder
from django.db import DatabaseError, IntegrityError, connections, router, transaction
from django.db.models import NOT_PROVIDED, JSONField
from django.utils import timezone
from django.utils.text import slugify

from commandes.models import Attribution, Client, Commande
from leads.legacy import mapping
from leads.legacy.mapping import Mapped, MappingError
from leads.legacy.readers import COLLECTIONS, Item, Source
from leads.legacy.report import CollectionReport, ImportReport
from leads.models import Lead, LeadEvent, LeadForm, LeadStatus, OppositionEntry, Product
from leads.services_forms import leadform_target_changed
from leads.services_rgpd import PERSONAL_LEAD_FIELDS, RGPD_SOURCE
from providers.models import Provider
from rdz.core.services import audit_log, settings_update
from rdz.core.text import count_noun
from rdz.core.timeutils import paris_now

ORDER = tuple(COLLECTIONS)
LEAD_COMPARED = (
    "entity",
    "entity_locked",
    "product_id",
    "phone",
    "email",
    "first_name",
    "last_name",
    "departement",
    "source",
    "provider_id",
    "form_id",
    "extra",
    "consent",
    "consent_at",
    "ip",
    "user_agent",
    "created_at",
    "status",
    "consent_page_url",
    "consent_text_version",
)
# Once RDZ has attributed an imported lead, these are RDZ's: routing set the status (and
# the backlog reads it), and its attributions were made for the lead's entity.
LEAD_OWNED_BY_ROUTING = ("status", "entity", "entity_locked")
IMPORT_ACTOR = "import ancien système"
MAX_ROLLUP_DAYS = 3700


class _Progress:
    """No-op progress bar (tests, --no-progress)."""

    def update(self, n: int = 1) -> None:
        pass

    def set_postfix(self, **kwargs) -> None:
        pass

    def close(self) -> None:
        pass


ProgressFactory = Callable[[str, int | None], object]


class _DryRunRollback(Exception):
    pass


class LegacyImporter:
    def __init__(
        self,
        *,
        source: Source,
        only: Iterable[str] | None = None,
        dry_run: bool = False,
        chunk_size: int = 1000,
        progress: ProgressFactory | None = None,
        media_dir: Path | None = None,
    ):
        self.media_dir = media_dir
        self._days: set[datetime.date] = set()  # Paris days of the leads written (a few thousand at most)
        self.source = source
        self.only = [c for c in ORDER if only is None or c in set(only)]
        self.dry_run = dry_run
        self.chunk_size = chunk_size
        self.progress_factory = progress or (lambda desc, total: _Progress())
        self.report = ImportReport(source=source.label, dry_run=dry_run, started_at=timezone.now())
        self._products: dict[str, int] = {}

    # --- Driver ------------------------------------------------------------------------
    def run(self) -> ImportReport:
        """Import the selected collections; with dry_run everything is rolled back at the end."""
        try:
            if self.dry_run:
                try:
                    with transaction.atomic():
                        self._run_all()
                        raise _DryRunRollback
                except _DryRunRollback:
                    pass
            else:
                self._run_all()
        finally:
            self.source.close()
        self.report.finished_at = timezone.now()
        return self.report

    def _run_all(self) -> None:
        self._products = {code.upper(): pk for code, pk in Product.objects.values_list("code", "id")}
        for name in self.only:
            rep = self.report.collection(name)
            items = self.source.documents(name)
            if items is None:
                rep.present = False
                continue
            started = time.perf_counter()
            bar = self.progress_factory(name, self.source.count(name))
            try:
                getattr(self, f"_import_{name}")(rep, self._counted(items, rep, bar))
            finally:
                bar.close()
                rep.seconds = time.perf_counter() - started
        if not self.dry_run:
            totals = {
                key: sum(getattr(c, key) for c in self.report.collections.values())
                for key in ("created", "updated", "unchanged", "skipped")
            }
            audit_log(
                action="legacy_import",
                actor_label=IMPORT_ACTOR,
                message=(
                    f"Import {self.source.label} ({', '.join(self.only)}) : "
                    f"{count_noun(totals['created'], 'créé')}, {totals['updated']} mis à jour, "
                    f"{count_noun(totals['unchanged'], 'inchangé')}, {count_noun(totals['skipped'], 'ignoré')}, "
                    f"{count_noun(self.report.invalid_count, 'invalide')}."
                ),
            )

    def _counted(self, items: Iterator[Item], rep: CollectionReport, bar) -> Iterator[Item]:
        for index, item in enumerate(items, start=1):
            rep.read += 1
            bar.update(1)
            if index % 500 == 0:
                bar.set_postfix(créés=rep.created, maj=rep.updated, inchangés=rep.unchanged, invalides=len(rep.invalid))
            if item.error:
                rep.add_invalid(item.ref, item.error)
                continue
            yield item

    # --- Small collections: one savepoint per document ----------------------------------
    def _each(self, rep: CollectionReport, items: Iterator[Item], mapper, writer) -> None:
        seen: set[str] = set()
        for item in items:
            try:
                mapped = mapper(item.doc)
            except MappingError as exc:
                rep.add_invalid(_ref(item), str(exc))
                continue
            if item.warning:
                mapped.warnings.append(item.warning)
            ref = f"{item.ref} ({mapped.legacy_id})"
            if mapped.legacy_id in seen:
                mapped.warnings.append(
                    "identifiant présent plusieurs fois dans la source : la dernière version l'emporte"
                )
            seen.add(mapped.legacy_id)
            try:
                with transaction.atomic():
                    outcome = writer(mapped)
            except MappingError as exc:
                rep.add_invalid(ref, str(exc))
                continue
            except (IntegrityError, DatabaseError) as exc:
                rep.add_invalid(ref, f"refusé par la base de données : {str(exc).splitlines()[0][:200]}")
                continue
            setattr(rep, outcome, getattr(rep, outcome) + 1)
            rep.add_warnings(ref, mapped.warnings)

    @staticmethod
    def _apply(
        obj, fields: dict, *, legacy: dict, warnings: list[str], skip_none: tuple[str, ...] = ("created_at",)
    ) -> str:
        """Save `obj` with `fields`; returns created / updated / unchanged.

        `legacy` (the old system's values, before RDZ's own rules) is kept on the row: on a
        rerun, a value that differs from the one kept there was changed in RDZ since (a quota
        raised, an address added by staff) and stays, reported when the old system changed it
        too. Rows imported before the values were kept have none: the old system's win."""
        fields = {k: v for k, v in fields.items() if not (k in skip_none and v is None)}
        said = {k: _said(v) for k, v in legacy.items()}
        if obj.pk is None:
            for key, value in fields.items():
                setattr(obj, key, value)
            obj.legacy_values = said
            obj.save()
            return "created"
        before = obj.legacy_values or {}
        changed = []
        for key, value in fields.items():
            current = getattr(obj, key)
            if current == value:
                continue
            if key in before and _said(current) != before[key]:
                if said.get(key) != before[key]:
                    shown = ", ".join(map(str, value)) if isinstance(value, list) else str(value)
                    warnings.append(
                        f"{_field_label(obj, key)} modifié dans RDZ depuis le dernier import : valeur de RDZ "
                        f"conservée, l'ancien système indique « {shown[:80]} »"
                    )
                continue
            changed.append(key)
        if not changed and before == said:
            return "unchanged"
        for key in changed:
            setattr(obj, key, fields[key])
        obj.legacy_values = said
        obj.save()
        return "updated" if changed else "unchanged"

    def _import_providers(self, rep: CollectionReport, items: Iterator[Item]) -> None:
        def write(mapped: Mapped) -> str:
            provider = Provider.objects.filter(legacy_id=mapped.legacy_id).first()
            fields = dict(mapped.fields)
            if provider is None:
                provider = Provider(
                    legacy_id=mapped.legacy_id, slug=_unique_slug(mapped.meta["slug"] or fields["name"])
                )
                rep_note = "providers créés sans clé API : générez-la avec provider_rotate_key SLUG"
                if rep_note not in rep.notes:
                    rep.notes.append(rep_note)
            else:
                said = slugify(mapped.meta["slug"])[:50]
                if said and said != provider.slug:
                    # Its leads' source label, compared by the blacklist (§8): RDZ's stays.
                    mapped.warnings.append(f"identifiant « {said} » différent de RDZ (« {provider.slug} »), conservé")
            if provider.pk and provider.entity != fields["entity"]:
                # A provider's leads are locked to its entity (§9): never moved by an import.
                mapped.warnings.append(f"entité « {fields['entity']} » différente de RDZ, conservée")
                fields["entity"] = provider.entity
            return self._apply(provider, fields, legacy=mapped.fields, warnings=mapped.warnings)

        self._each(rep, items, mapping.map_provider, write)

    def _import_clients(self, rep: CollectionReport, items: Iterator[Item]) -> None:
        def write(mapped: Mapped) -> str:
            client = Client.objects.filter(legacy_id=mapped.legacy_id).first() or Client(legacy_id=mapped.legacy_id)
            fields = dict(mapped.fields)
            if client.pk and client.entity != fields["entity"]:
                # Its commandes and attributions carry its entity (§2, §5): never moved by an import.
                mapped.warnings.append(f"entité « {fields['entity']} » différente de RDZ, conservée")
                fields["entity"] = client.entity
            return self._apply(client, fields, legacy=mapped.fields, warnings=mapped.warnings)

        self._each(rep, items, mapping.map_client, write)

    def _import_forms(self, rep: CollectionReport, items: Iterator[Item]) -> None:
        def write(mapped: Mapped) -> str:
            form = LeadForm.objects.filter(legacy_id=mapped.legacy_id).first()
            fields = dict(mapped.fields)
            code = fields["code"]
            if form is not None and form.code != code:
                # Pasted in landing pages already online (/t/<code>.js, the submit URL): a new
                # code would make every one of them lose its visitors' leads.
                mapped.warnings.append(f"code « {code} » différent de RDZ, conservé")
                code = fields["code"] = form.code
            if LeadForm.objects.filter(code=code).exclude(legacy_id=mapped.legacy_id).exists():
                raise MappingError(f"code « {code} » déjà utilisé par un autre formulaire de RDZ")
            key = mapped.meta.get("crm_api_key", "")
            if form is not None and form.entity != fields["entity"]:
                # Its leads, stats and CRM target belong to its entity (§2): never moved by an import.
                mapped.warnings.append(f"entité « {fields['entity']} » différente de RDZ, conservée")
                fields["entity"] = form.entity
            if form is None:
                form = LeadForm(legacy_id=mapped.legacy_id, crm_api_key=key)
            elif key and form.crm_api_key != key:
                if form.crm_api_key:
                    # Write-once key (§11): only the audited rotation replaces it.
                    mapped.warnings.append("clé CRM différente dans l'ancien système : clé de RDZ conservée")
                else:
                    LeadForm.objects.filter(pk=form.pk, crm_api_key="").update(crm_api_key=key)
            old_target = form.target_crm
            outcome = self._apply(form, fields, legacy=mapped.fields, warnings=mapped.warnings)
            if outcome == "updated" and form.target_crm != old_target:
                # Its leads waiting for the old CRM would be taken for fallbacks (§11).
                leadform_target_changed(form=form, old_target=old_target)
            return outcome

        self._each(rep, items, lambda doc: mapping.map_form(doc, products=self._products), write)

    def _import_commandes(self, rep: CollectionReport, items: Iterator[Item]) -> None:
        clients = dict(Client.objects.exclude(legacy_id=None).values_list("legacy_id", "id"))

        def write(mapped: Mapped) -> str:
            client_id = clients.get(mapped.refs["client"])
            if client_id is None:
                raise MappingError(f"client « {mapped.refs['client']} » introuvable (importez les clients d'abord)")
            commande = Commande.objects.filter(legacy_id=mapped.legacy_id).first() or Commande(
                legacy_id=mapped.legacy_id
            )
            fields = {**mapped.fields, "client_id": client_id}
            return self._apply(commande, fields, legacy=fields, warnings=mapped.warnings)

        self._each(rep, items, lambda doc: mapping.map_commande(doc, products=self._products), write)

    def _import_settings(self, rep: CollectionReport, items: Iterator[Item]) -> None:
        from django.core.exceptions import ValidationError

        changes: dict = {}
        for item in items:
            found, warnings = mapping.map_settings(item.doc)
            changes.update(found)
            rep.add_warnings(_ref(item), warnings)
        changed = refused = 0
        for name, value in changes.items():
            try:
                with transaction.atomic():
                    changed += len(settings_update(user=None, changes={name: value}))
            except ValidationError as exc:
                messages = "; ".join(m for ms in exc.message_dict.values() for m in ms)
                rep.add_invalid(name, f"valeur refusée : {messages}")
                refused += 1
        # Counted per setting (one record, many fields), not per document.
        rep.updated = changed
        rep.unchanged = len(changes) - changed - refused
        if changed:
            done = count_noun(changed, "paramètre modifié, visible", "paramètres modifiés, visibles")
            rep.notes.append(f"{done} dans l'historique des paramètres")

    def _import_media(self, rep: CollectionReport, items: Iterator[Item]) -> None:
        """Old media: metadata from the collection, files from the media folder, each one
        checked and re-encoded by the media library like an upload (§13)."""
        from media_library.images import ImageRefused, image_bytes_prepare
        from media_library.models import MediaAsset
        from media_library.services import MediaError, media_asset_import

        folder = self.media_dir

        def write(mapped: Mapped) -> str:
            if MediaAsset.objects.filter(legacy_id=mapped.legacy_id).exists():
                return "unchanged"
            if folder is None:
                raise MappingError("dossier des fichiers médias non fourni (--media-dir)")
            name = mapped.meta["file"].replace("\\", "/")
            path = (folder / name).resolve()
            if not path.is_relative_to(folder.resolve()) or not path.is_file():
                raise MappingError(f"fichier « {name[:80]} » introuvable dans le dossier des médias")
            data = path.read_bytes()
            fields = mapped.fields
            try:
                if self.dry_run:
                    # Files are not transactional: a dry run only checks the image.
                    image_bytes_prepare(data)
                else:
                    media_asset_import(
                        data=data,
                        entity=fields["entity"],
                        legacy_id=mapped.legacy_id,
                        title=fields["title"] or path.stem,
                        alt_text=fields["alt_text"],
                        tags=fields["tags"],
                    )
            except (ImageRefused, MediaError) as exc:
                raise MappingError(f"image « {name[:80]} » refusée : {exc}") from exc
            return "created"

        self._each(rep, items, mapping.map_media, write)

    # --- Leads: chunked, bulk ----------------------------------------------------------
    def _import_leads(self, rep: CollectionReport, items: Iterator[Item]) -> None:
        self._providers = {
            legacy: (pk, entity)
            for legacy, pk, entity in Provider.objects.exclude(legacy_id=None).values_list("legacy_id", "id", "entity")
        }
        self._forms = {
            legacy: (pk, entity)
            for legacy, pk, entity in LeadForm.objects.exclude(legacy_id=None).values_list("legacy_id", "id", "entity")
        }
        writer = _ChunkWriter(lambda batch: self._write_leads(rep, batch), threaded=self._can_pipeline())
        batch: list[tuple[str, Mapped]] = []
        seen: set[str] = set()
        try:
            for item in items:
                try:
                    mapped = mapping.map_lead(item.doc, products=self._products)
                    self._resolve_lead(mapped)
                except MappingError as exc:
                    rep.add_invalid(_ref(item), str(exc))
                    continue
                if item.warning:
                    mapped.warnings.append(item.warning)
                if mapped.legacy_id in seen:
                    # Written before its later version so the later one updates it.
                    writer.write(batch)
                    batch, seen = [], set()
                    mapped.warnings.append(
                        "identifiant présent plusieurs fois dans la source : la dernière version l'emporte"
                    )
                batch.append((f"{item.ref} ({mapped.legacy_id})", mapped))
                seen.add(mapped.legacy_id)
                if len(batch) >= self.chunk_size:
                    writer.write(batch)
                    batch, seen = [], set()
            writer.write(batch)
        finally:
            writer.close()
        if self._days:
            # Dashboards read daily rollups: rebuild the days the imported leads fall on.
            from leads.stats import rollup_refresh_day

            days = sorted(self._days)[-MAX_ROLLUP_DAYS:]  # a stray year must not cost centuries
            for day in days:
                rollup_refresh_day(day=day)
            when = f"le {days[0]:%d/%m/%Y}" if len(days) == 1 else f"du {days[0]:%d/%m/%Y} au {days[-1]:%d/%m/%Y}"
            rep.notes.append(f"statistiques quotidiennes recalculées pour {count_noun(len(days), 'jour')}, {when}")

    @staticmethod
    def _can_pipeline() -> bool:
        """Write chunks from a second thread (its own connection) while the next chunk is
        parsed: the database's time then overlaps Python's. Only on PostgreSQL and outside
        any transaction (a dry run, or a caller's transaction, must see one connection)."""
        connection = connections["default"]
        return connection.vendor == "postgresql" and not connection.in_atomic_block

    def _resolve_lead(self, mapped: Mapped) -> None:
        fields = mapped.fields
        provider = self._providers.get(mapped.refs["provider"]) if mapped.refs["provider"] else None
        form = self._forms.get(mapped.refs["form"]) if mapped.refs["form"] else None
        if mapped.refs["provider"] and provider is None:
            mapped.warnings.append(f"provider « {mapped.refs['provider']} » inconnu : lead importé sans provider")
        if mapped.refs["form"] and form is None:
            mapped.warnings.append(f"formulaire « {mapped.refs['form']} » inconnu : lead importé sans formulaire")
        fields["provider_id"] = provider[0] if provider else None
        fields["form_id"] = form[0] if form else None
        if provider:
            # A provider's leads belong to its entity and are locked (§9).
            if fields["entity"] and fields["entity"] != provider[1]:
                mapped.warnings.append(f"entité {fields['entity']} remplacée par celle du provider ({provider[1]})")
            fields["entity"], fields["entity_locked"] = provider[1], True
        elif form:
            # A form's leads belong to its entity, as at intake (§11); a fallback sale to the
            # other entity is an attribution, not the lead's entity.
            if fields["entity"] and fields["entity"] != form[1]:
                mapped.warnings.append(f"entité {fields['entity']} remplacée par celle du formulaire ({form[1]})")
            fields["entity"], fields["entity_locked"] = form[1], False
        else:
            fields["entity_locked"] = False
        if not fields["entity"]:
            raise MappingError("entité manquante (ni entité, ni provider, ni formulaire connu)")
        if fields["created_at"] is None:
            fields["created_at"] = timezone.now()

    def _write_leads(self, rep: CollectionReport, batch: list[tuple[str, Mapped]]) -> None:
        if not batch:
            return
        try:
            with transaction.atomic():
                outcomes = self._write_lead_chunk(batch)
        except (IntegrityError, DatabaseError):
            # One bad row refused by the database: retry one by one to isolate it.
            outcomes = []
            for ref, mapped in batch:
                try:
                    with transaction.atomic():
                        outcomes += self._write_lead_chunk([(ref, mapped)])
                except (IntegrityError, DatabaseError) as exc:
                    rep.add_invalid(ref, f"refusé par la base de données : {str(exc).splitlines()[0][:200]}")
        for ref, mapped, outcome in outcomes:
            setattr(rep, outcome, getattr(rep, outcome) + 1)
            rep.add_warnings(ref, mapped.warnings)

    def _write_lead_chunk(self, batch: list[tuple[str, Mapped]]) -> list[tuple[str, Mapped, str]]:
        now = timezone.now()
        ids = [m.legacy_id for _, m in batch]
        existing = {
            lead.legacy_id: lead
            for lead in Lead.objects.filter(legacy_id__in=ids).only("id", "legacy_id", "anonymized_at", *LEAD_COMPARED)
        }
        routed = set(
            Attribution.objects.filter(lead_id__in=[lead.pk for lead in existing.values()])
            .values_list("lead_id", flat=True)
            .distinct()
        )
        phones = {m.fields["phone"] for _, m in batch}
        opposed = dict(OppositionEntry.objects.filter(phone__in=phones).values_list("phone", "source"))
        to_create: list[dict] = []
        to_update: list[Lead] = []
        updated_fields: set[str] = set()
        events: list[dict] = []
        outcomes = []
        for ref, mapped in batch:
            fields = mapped.fields
            if fields["phone"] in opposed and fields["status"] != LeadStatus.OPPOSED:
                # An opposed number never leaves RDZ (§16), whatever its old status.
                mapped.meta["opposed"] = True
                fields["status"] = LeadStatus.OPPOSED
            lead = existing.get(mapped.legacy_id)
            if lead is None:
                row = {**fields, "id": uuid.uuid4(), "legacy_id": mapped.legacy_id}
                if opposed.get(fields["phone"]) == RGPD_SOURCE:
                    # The person asked for erasure before this lead was imported: kept for the
                    # counts, as an erased lead, never with the person's data (§16).
                    row.update(PERSONAL_LEAD_FIELDS, anonymized_at=now)
                    mapped.meta.update(history=[], erased=True)
                    mapped.warnings[:] = [
                        "numéro effacé à la demande de la personne (RGPD) : lead importé sans ses données personnelles"
                    ]
                to_create.append(row)
                events += self._lead_events(row, mapped)
                outcomes.append((ref, mapped, "created"))
                continue
            if lead.anonymized_at is not None:
                # Erased (RGPD) or past retention: the old data must never come back.
                outcomes.append((ref, mapped, "skipped"))
                continue
            changed = [name for name in LEAD_COMPARED if name != "created_at" and getattr(lead, name) != fields[name]]
            if lead.pk in routed:
                kept = [name for name in changed if name in LEAD_OWNED_BY_ROUTING]
                if kept:
                    # A rerun must not put a sold lead back in the backlog (sold twice) nor move it.
                    values = "valeur de RDZ conservée" if len(kept) < 2 else "valeurs de RDZ conservées"
                    mapped.warnings.append(
                        f"lead attribué par RDZ depuis l'import : {values} ({', '.join(_label(n) for n in kept)})"
                    )
                    changed = [name for name in changed if name not in kept]
            if not changed:
                outcomes.append((ref, mapped, "unchanged"))
                continue
            for name in changed:
                setattr(lead, name, fields[name])
            updated_fields.update(changed)
            to_update.append(lead)
            events.append(
                {
                    "lead_id": lead.pk,
                    "kind": LeadEvent.Kind.NOTE,
                    "created_at": now,
                    "actor": IMPORT_ACTOR,
                    "message": "Mis à jour depuis l'ancien système : " + ", ".join(_label(n) for n in changed),
                    "data": {"legacy_id": mapped.legacy_id, "fields": changed},
                }
            )
            outcomes.append((ref, mapped, "updated"))
        rows_insert(Lead, to_create)
        if to_update:
            Lead.objects.bulk_update(to_update, sorted(updated_fields), batch_size=self.chunk_size)
        rows_insert(LeadEvent, events)
        # Every lead's day, unchanged ones included: a rerun after an interrupted import finds
        # the leads already written unchanged, and their days must still be rebuilt.
        moments = [row["created_at"] for row in to_create] + [lead.created_at for lead in existing.values()]
        self._days.update(paris_now(moment).date() for moment in moments)
        return outcomes

    @staticmethod
    def _lead_events(lead: dict, mapped: Mapped) -> list[dict]:
        meta = mapped.meta
        legacy_status = meta.get("legacy_status")
        lead_id, created_at = lead["id"], lead["created_at"]
        data = {
            "legacy_id": mapped.legacy_id,
            "legacy_status": legacy_status,
            "status": lead["status"],
            "created_at": created_at.isoformat(),
            "updated_at": meta["updated_at"].isoformat() if meta.get("updated_at") else None,
            "delivered_at": meta["delivered_at"].isoformat() if meta.get("delivered_at") else None,
        }
        status_text = f"statut d'origine « {legacy_status} » → {LeadStatus(lead['status']).label.lower()}"
        events = [
            {
                "lead_id": lead_id,
                "kind": LeadEvent.Kind.RECEIVED,
                "created_at": created_at,
                "actor": IMPORT_ACTOR,
                "message": f"Importé de l'ancien système (identifiant {mapped.legacy_id}), {status_text} ; routage non rejoué",
                "data": data,
            }
        ]
        for entry in meta.get("history") or []:
            if not isinstance(entry, dict):
                continue
            moment = mapping.to_datetime(mapping.pick(entry, ("date", "le", "at")), label="date", warnings=[])
            text = " ".join(
                str(entry[k]) for k in ("action", "statut", "status", "message", "commentaire") if entry.get(k)
            )
            events.append(
                {
                    "lead_id": lead_id,
                    "kind": LeadEvent.Kind.NOTE,
                    "created_at": moment or created_at,
                    "actor": IMPORT_ACTOR,
                    "message": f"Ancien système : {text[:1000] or 'étape sans détail'}",
                    "data": mapping.jsonable(entry),
                }
            )
        if meta.get("delivered_at"):
            events.append(
                {
                    "lead_id": lead_id,
                    "kind": LeadEvent.Kind.NOTE,
                    "created_at": meta["delivered_at"],
                    "actor": IMPORT_ACTOR,
                    "message": "Livré par l'ancien système",
                }
            )
        if meta.get("erased"):
            events.append(
                {
                    "lead_id": lead_id,
                    "kind": LeadEvent.Kind.NOTE,
                    "created_at": timezone.now(),
                    "actor": "RGPD",
                    "message": "Données personnelles non reprises (demande d'effacement RGPD antérieure à l'import)",
                }
            )
        if meta.get("opposed"):
            events.append(
                {
                    "lead_id": lead_id,
                    "kind": LeadEvent.Kind.NOT_ROUTED,
                    "created_at": timezone.now(),
                    "actor": IMPORT_ACTOR,
                    "message": "Numéro sur la liste d'opposition : statut « opposition », jamais routé ni livré",
                    "data": {"status": "opposed", "legacy_status": legacy_status},
                }
            )
        return events


class _ChunkWriter:
    """Runs `write(batch)` in order, inline or in one background thread (bounded queue)."""

    def __init__(self, write: Callable[[list], None], *, threaded: bool):
        self._write = write
        self._error: BaseException | None = None
        self._queue: queue.Queue | None = None
        if threaded:
            self._queue = queue.Queue(maxsize=2)
            self._thread = threading.Thread(target=self._run, name="legacy-import-writer", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        try:
            while (batch := self._queue.get()) is not None:
                if self._error is None:
                    try:
                        self._write(batch)
                    except BaseException as exc:  # re-raised in the reading thread
                        self._error = exc
        finally:
            connections.close_all()  # this thread's own database connection

    def write(self, batch: list) -> None:
        if not batch:
            return
        if self._queue is None:
            self._write(batch)
            return
        if self._error is not None:
            raise self._error
        self._queue.put(batch)

    def close(self) -> None:
        if self._queue is not None:
            self._queue.put(None)
            self._thread.join()
            self._queue = None
            if self._error is not None:
                raise self._error


# --- Fast inserts ------------------------------------------------------------------------
def _columns(model) -> list[tuple]:
    """(field, constant default or None, callable default or None, to_db) per inserted column."""
    columns = []
    for f in model._meta.concrete_fields:
        if f.primary_key and f.get_internal_type() in ("AutoField", "BigAutoField", "SmallAutoField"):
            continue  # the database numbers it
        if f.db_default is not NOT_PROVIDED:
            continue  # the database fills it
        has_callable = f.has_default() and callable(f.default)
        constant = None if has_callable else f.get_default()
        if isinstance(f, JSONField):
            encoder = f.encoder or DjangoJSONEncoder

            def to_db(value, encoder=encoder):
                return None if value is None else json.dumps(value, cls=encoder, ensure_ascii=False)

        else:
            to_db = None
        columns.append((f, constant, f.get_default if has_callable else None, to_db))
    return columns


def rows_insert(model, rows: list[dict]) -> None:
    """Insert rows given as {attname: value} dicts, with the model's defaults for the rest.

    On PostgreSQL through COPY (no model instances, no per-row statement): the backfill's
    hot path (§12 benchmark). Elsewhere through bulk_create.
    """
    if not rows:
        return
    connection = connections[router.db_for_write(model)]
    if connection.vendor != "postgresql":
        model.objects.bulk_create([model(**row) for row in rows], batch_size=1000)
        return
    columns = _columns(model)
    names = ", ".join(connection.ops.quote_name(f.column) for f, *_ in columns)
    sql = f"COPY {connection.ops.quote_name(model._meta.db_table)} ({names}) FROM STDIN"
    with connection.cursor() as cursor, cursor.cursor.copy(sql) as copy:
        for row in rows:
            values = []
            for f, constant, make, to_db in columns:
                value = row[f.attname] if f.attname in row else (make() if make else constant)
                values.append(to_db(value) if to_db else value)
            copy.write_row(values)


def _ref(item: Item) -> str:
    legacy = item.doc.get("_id") if isinstance(item.doc, dict) else None
    return f"{item.ref} ({legacy})" if legacy else item.ref


def _said(value):
    """A value as kept in `legacy_values` (JSON), the same for the row read back: a moment in
    UTC whatever offset the old system wrote."""
    if isinstance(value, datetime.datetime):
        value = value.astimezone(datetime.UTC)
    return mapping.jsonable(value)


def _field_label(obj, name: str) -> str:
    return str(obj._meta.get_field(name.removesuffix("_id")).verbose_name)


def _label(name: str) -> str:
    field = Lead._meta.get_field(name.removesuffix("_id"))
    return str(field.verbose_name)


def _unique_slug(text: str) -> str:
    base = slugify(text)[:50] or "provider"
    slug, n = base, 1
    while Provider.objects.filter(slug=slug).exists():
        n += 1
        slug = f"{base}-{n}"
    return slug


def default_report_path(now: datetime.datetime | None = None):
    from django.conf import settings

    now = now or timezone.now()
    return settings.VAR_DIR / "imports" / f"import-legacy-{now:%Y%m%d-%H%M%S}.txt"
