"""Products (§3), leads (§4), their timeline (§16), landing forms and tracking (§11)."""

import uuid

from django.db import models
from django.db.models.functions import Upper
from django.utils import timezone

from rdz.core.entities import Entity


class Product(models.Model):
    code = models.CharField("code", max_length=20, unique=True)
    label = models.CharField("libellé", max_length=120)
    active = models.BooleanField("actif", default=True)

    class Meta:
        verbose_name = "produit"
        verbose_name_plural = "produits"
        ordering = ["code"]
        constraints = [
            # Intake and the legacy import find a product by its code in any case.
            models.UniqueConstraint(
                Upper("code"),
                name="product_code_unique_any_case",
                violation_error_message="Un produit avec ce code existe déjà (majuscules et minuscules confondues).",
            )
        ]

    def __str__(self) -> str:
        return f"{self.code} — {self.label}"


class ProductFieldType(models.TextChoices):
    TEXT = "text", "Texte"
    INTEGER = "integer", "Entier"
    CHOICE = "choice", "Choix"
    BOOLEAN = "boolean", "Oui/Non"


class ProductField(models.Model):
    """An extra field a product requires in `Lead.extra` (§3)."""

    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="fields", verbose_name="produit")
    name = models.SlugField("nom technique", max_length=50)
    label = models.CharField("libellé", max_length=120)
    type = models.CharField("type", max_length=10, choices=ProductFieldType.choices, default=ProductFieldType.TEXT)
    required = models.BooleanField("obligatoire", default=False)
    choices = models.JSONField("choix possibles", default=list, blank=True)
    position = models.PositiveIntegerField("ordre", default=0)

    class Meta:
        verbose_name = "champ produit"
        verbose_name_plural = "champs produit"
        ordering = ["product", "position", "id"]
        constraints = [models.UniqueConstraint(fields=["product", "name"], name="productfield_unique_name")]

    def __str__(self) -> str:
        return f"{self.product.code}.{self.name}"


class LeadStatus(models.TextChoices):
    ROUTED = "routed", "Attribué"
    DELIVERED = "delivered", "Livré"
    NO_ORDER = "no_order", "Sans commande"
    DUPLICATE = "duplicate", "Doublon"
    BLACKLISTED = "blacklisted", "Blacklisté"
    REJECTED = "rejected", "Rejeté"
    OPPOSED = "opposed", "Opposition"


class CrmStatus(models.TextChoices):
    NONE = "", "—"
    PENDING = "pending", "En attente"
    SENT = "sent", "Envoyé"
    FALLBACK_SENT = "fallback_sent", "Envoyé (repli)"
    FAILED = "failed", "Échec"
    # RDZ itself stopped the forwarding (§16): the number went on the opposition list, or the
    # person's data was erased. No CRM refused it: not a CRM failure, never retried.
    STOPPED = "stopped", "Non transmis (opposition ou effacement)"


DEPARTEMENT_HELP = "Code département : 01–95 (sans 20), 2A, 2B, 971–976."


class Lead(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    entity = models.CharField("entité", max_length=3, choices=Entity.choices)
    entity_locked = models.BooleanField("entité verrouillée", default=False)
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="leads", verbose_name="produit")
    phone = models.CharField("téléphone", max_length=20, help_text="Format E.164, ex. +33612345678")
    email = models.CharField("e-mail", max_length=254, blank=True)
    first_name = models.CharField("prénom", max_length=100, blank=True)
    last_name = models.CharField("nom", max_length=100, blank=True)
    departement = models.CharField("département", max_length=3, help_text=DEPARTEMENT_HELP)
    source = models.CharField("source", max_length=100, blank=True)
    provider = models.ForeignKey(
        "providers.Provider",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="leads",
        verbose_name="provider",
        db_index=False,  # lead_provider_created_idx starts with it
    )
    form = models.ForeignKey(
        "leads.LeadForm",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="leads",
        verbose_name="formulaire",
        db_index=False,  # lead_form_visitor_idx and lead_form_created_idx start with it
    )
    extra = models.JSONField("champs complémentaires", default=dict, blank=True)
    consent = models.BooleanField("consentement", default=False)
    ip = models.GenericIPAddressField("IP", null=True, blank=True)
    user_agent = models.CharField("user agent", max_length=500, blank=True)
    created_at = models.DateTimeField("reçu le", default=timezone.now)
    status = models.CharField("statut", max_length=12, choices=LeadStatus.choices)

    # Replay keys (§15): per provider, an Idempotency-Key header and/or an external id.
    external_id = models.CharField("identifiant externe", max_length=100, blank=True)
    idempotency_key = models.CharField("clé d'idempotence", max_length=100, blank=True)

    # Landing form details (§11).
    visitor_id = models.CharField("visiteur", max_length=64, blank=True)
    variant = models.CharField("variante", max_length=50, blank=True)

    # CRM forwarding state (§11), forms only.
    crm_status = models.CharField("statut CRM", max_length=14, choices=CrmStatus.choices, blank=True, default="")
    crm_attempts = models.PositiveIntegerField("tentatives CRM", default=0)
    crm_last_error = models.TextField("dernière erreur CRM", blank=True)
    crm_target = models.CharField("CRM cible", max_length=3, choices=Entity.choices, blank=True)

    # Consent proof (§16).
    consent_at = models.DateTimeField("consentement le", null=True, blank=True)
    consent_page_url = models.CharField("page du consentement", max_length=500, blank=True)
    consent_text_version = models.CharField("version du texte de consentement", max_length=50, blank=True)

    legacy_id = models.CharField("identifiant historique", max_length=64, null=True, blank=True, unique=True)
    anonymized_at = models.DateTimeField("anonymisé le", null=True, blank=True)

    ENTITY_FIELD = "entity"

    class Meta:
        verbose_name = "lead"
        verbose_name_plural = "leads"
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["entity", "-created_at"], name="lead_entity_created_idx"),
            models.Index(fields=["entity", "status", "-created_at"], name="lead_entity_status_idx"),
            models.Index(fields=["phone", "product"], name="lead_phone_product_idx"),
            models.Index(fields=["email"], name="lead_email_idx"),
            models.Index(fields=["form", "visitor_id", "phone"], name="lead_form_visitor_idx"),
            models.Index(fields=["provider", "-created_at"], name="lead_provider_created_idx"),
            models.Index(fields=["form", "-created_at"], name="lead_form_created_idx"),
            # Back-office lead list filtered by departement, newest first (bench/dashboard).
            models.Index(fields=["departement", "-created_at"], name="lead_departement_created_idx"),
            # Lead list of an account with both entities: newest first, any filter (bench/dashboard).
            models.Index(fields=["-created_at"], name="lead_created_idx"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "external_id"],
                condition=~models.Q(external_id="") & models.Q(provider__isnull=False),
                name="lead_unique_provider_external_id",
            ),
            models.UniqueConstraint(
                fields=["provider", "idempotency_key"],
                condition=~models.Q(idempotency_key="") & models.Q(provider__isnull=False),
                name="lead_unique_provider_idempotency_key",
            ),
            models.CheckConstraint(condition=models.Q(entity__in=Entity.values), name="lead_entity_valid"),
            models.CheckConstraint(condition=models.Q(status__in=LeadStatus.values), name="lead_status_valid"),
            models.CheckConstraint(
                condition=~(models.Q(provider__isnull=False) & models.Q(entity_locked=False)),
                name="lead_provider_leads_are_locked",
            ),
        ]

    def __str__(self) -> str:
        name = f"{self.first_name} {self.last_name}".strip()
        return f"{self.phone} {name}".strip()


class LeadEvent(models.Model):
    """One line of a lead's timeline (§16): what happened, when, and why."""

    class Kind(models.TextChoices):
        RECEIVED = "received", "Reçu"
        VALIDATED = "validated", "Validé"
        ROUTED = "routed", "Attribué"
        NOT_ROUTED = "not_routed", "Non attribué"
        DELIVERED = "delivered", "Livré"
        DELIVERY_FAILED = "delivery_failed", "Échec de livraison"
        FORWARDED = "forwarded", "Transmis au CRM"
        FORWARD_FAILED = "forward_failed", "Échec CRM"
        REJECTED = "rejected", "Rejeté"
        RECYCLED = "recycled", "Recyclé"
        NOTE = "note", "Note"

    # No index of its own: leadevent_lead_created_idx starts with it.
    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="events", verbose_name="lead", db_index=False)
    kind = models.CharField("étape", max_length=20, choices=Kind.choices)
    message = models.TextField("détail")
    data = models.JSONField("données", default=dict, blank=True)
    actor = models.CharField("acteur", max_length=150, blank=True)
    created_at = models.DateTimeField("date", default=timezone.now)

    ENTITY_FIELD = "lead__entity"

    class Meta:
        verbose_name = "événement"
        verbose_name_plural = "chronologie"
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["lead", "created_at"], name="leadevent_lead_created_idx")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} : {self.message}"

    @property
    def detail(self) -> str:
        """The message without the step's name when it starts with it (« Non attribué — … »):
        pages show the step beside it, and would read it twice."""
        prefix = f"{self.get_kind_display()} — "
        return self.message.removeprefix(prefix) if self.message.startswith(prefix) else self.message


class CrmKeyWriteOnceError(ValueError):
    """Raised when something tries to clear or change a LeadForm's CRM key outside rotation (§11)."""

    def __init__(self, message: str = ""):
        super().__init__(
            message
            or "La clé API CRM est déjà définie : elle ne peut être ni effacée ni modifiée (utilisez la rotation)."
        )


class LeadFormQuerySet(models.QuerySet):
    """`update()` / `bulk_update()` refuse to touch the write-once CRM key; only the
    rotation service (leads.services_forms) writes it, and the database trigger
    refuses a clear or an unannounced change even from raw SQL (migration 0003)."""

    def update(self, **kwargs):
        if "crm_api_key" in kwargs:
            raise CrmKeyWriteOnceError()
        return super().update(**kwargs)

    def bulk_update(self, objs, fields, batch_size=None):
        if "crm_api_key" in fields:
            raise CrmKeyWriteOnceError()
        return super().bulk_update(objs, fields, batch_size=batch_size)


class LeadForm(models.Model):
    """A landing-page form (§11). Its CRM key is write-once (see leads.services_forms)."""

    code = models.SlugField("code", max_length=50, unique=True)
    name = models.CharField("nom", max_length=120)
    entity = models.CharField("entité", max_length=3, choices=Entity.choices)
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="forms", verbose_name="produit")
    allowed_origins = models.JSONField(
        "origines autorisées", default=list, blank=True, help_text="Ex. https://www.exemple.fr (une par ligne)"
    )
    variants = models.JSONField(
        "variantes A/B", default=list, blank=True, help_text='Liste de {"name": "A", "weight": 50}'
    )
    target_crm = models.CharField("CRM cible", max_length=3, choices=Entity.choices)
    crm_api_key = models.CharField("clé API CRM", max_length=255, blank=True, editable=False)
    consent_text_version = models.CharField(
        "version du texte de consentement",
        max_length=50,
        blank=True,
        help_text="Version du texte de consentement affiché sur la page (preuve du consentement).",
    )
    active = models.BooleanField("actif", default=True)
    created_at = models.DateTimeField("créé le", default=timezone.now)
    legacy_id = models.CharField("identifiant historique", max_length=64, null=True, blank=True, unique=True)
    # What the old system said at the last import: a value that differs from it was changed
    # in RDZ since, and a rerun of the import keeps it.
    legacy_values = models.JSONField("valeurs de l'ancien système au dernier import", default=dict, editable=False)

    ENTITY_FIELD = "entity"

    objects = LeadFormQuerySet.as_manager()

    class Meta:
        verbose_name = "formulaire"
        verbose_name_plural = "formulaires"
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.code} — {self.name}"

    def save(self, *args, **kwargs):
        # Write-once key (§11): a loaded form never clears or changes its stored key, and a
        # save that does not set the key never writes the column (a stale instance must not
        # overwrite a key set meanwhile). Rotation goes through leads.services_forms.
        if not self._state.adding:
            stored = getattr(self, "_stored_crm_api_key", None)
            if stored is None or self.crm_api_key == stored:
                update_fields = kwargs.get("update_fields")
                if update_fields is None:
                    update_fields = [f.name for f in self._meta.concrete_fields if not f.primary_key]
                kwargs["update_fields"] = [f for f in update_fields if f != "crm_api_key"]
            elif stored:
                raise CrmKeyWriteOnceError()
        super().save(*args, **kwargs)
        self._stored_crm_api_key = self.crm_api_key

    @classmethod
    def from_db(cls, db, field_names, values):
        instance = super().from_db(db, field_names, values)
        instance._stored_crm_api_key = instance.__dict__.get("crm_api_key")
        return instance

    @property
    def crm_api_key_hint(self) -> str:
        """The key masked for display: only its last 4 characters."""
        if not self.crm_api_key:
            return ""
        return "••••" + self.crm_api_key[-4:]


class LeadFormKeyUnlock(models.Model):
    """Short-lived row written and deleted inside the rotation transaction: the database
    trigger lets a form's CRM key change only while such a row exists (never to empty)."""

    form = models.OneToOneField(LeadForm, on_delete=models.CASCADE, related_name="+")

    class Meta:
        verbose_name = "déverrouillage de clé CRM"
        verbose_name_plural = "déverrouillages de clé CRM"

    def __str__(self) -> str:
        return f"déverrouillage {self.form_id}"


class TrackingEvent(models.Model):
    class Event(models.TextChoices):
        VISIT = "visit", "Visite"
        START = "start", "Démarrage"

    form = models.ForeignKey(LeadForm, on_delete=models.CASCADE, related_name="tracking_events")
    event = models.CharField("événement", max_length=5, choices=Event.choices)
    visitor_id = models.CharField("visiteur", max_length=64)
    variant = models.CharField("variante", max_length=50, blank=True)
    created_at = models.DateTimeField("date", default=timezone.now)

    ENTITY_FIELD = "form__entity"

    class Meta:
        verbose_name = "événement de suivi"
        verbose_name_plural = "événements de suivi"
        indexes = [models.Index(fields=["form", "event", "created_at"], name="tracking_form_event_idx")]

    def __str__(self) -> str:
        return f"{self.form_id} {self.event} {self.visitor_id}"


class OppositionEntry(models.Model):
    """A phone number that must never be routed, delivered or forwarded (§16)."""

    phone = models.CharField("téléphone", max_length=20, unique=True)
    reason = models.CharField("motif", max_length=200, blank=True)
    source = models.CharField("source", max_length=100, blank=True, help_text="Ex. Bloctel, demande RGPD")
    created_at = models.DateTimeField("ajouté le", default=timezone.now)

    class Meta:
        verbose_name = "opposition"
        verbose_name_plural = "liste d'opposition"
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.phone


class DailyRollup(models.Model):
    """Leads received on a Paris day, counted by their current status (dashboard, stats API).

    Rebuilt per day by `leads.services.rollup_refresh` (scheduled, and on demand for today):
    the dashboard reads these rows instead of scanning the leads.
    """

    day = models.DateField("jour (Paris)")
    entity = models.CharField("entité", max_length=3, choices=Entity.choices)
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="+", verbose_name="produit")
    source = models.CharField("source", max_length=100, blank=True)
    provider = models.ForeignKey(
        "providers.Provider", null=True, blank=True, on_delete=models.CASCADE, related_name="+", verbose_name="provider"
    )
    form = models.ForeignKey(
        LeadForm, null=True, blank=True, on_delete=models.CASCADE, related_name="+", verbose_name="formulaire"
    )
    status = models.CharField("statut", max_length=12, choices=LeadStatus.choices)
    crm_status = models.CharField("statut CRM", max_length=14, choices=CrmStatus.choices, blank=True, default="")
    count = models.PositiveIntegerField("nombre de leads")

    ENTITY_FIELD = "entity"

    class Meta:
        verbose_name = "agrégat journalier"
        verbose_name_plural = "agrégats journaliers"
        indexes = [models.Index(fields=["entity", "day"], name="rollup_entity_day_idx")]

    def __str__(self) -> str:
        return f"{self.day} {self.entity} {self.status} : {self.count}"
