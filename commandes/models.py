"""Clients, commandes (§5) and attributions (§7)."""

import os

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.storage import FileSystemStorage
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.utils import timezone

from leads.models import Lead
from rdz.core.entities import Entity
from rdz.core.http import url_refused_address
from rdz.core.text import count_noun, emails_invalid, emails_invalid_message

# What requests would refuse to send (InvalidHeader) — caught here, when staff type it.
HEADER_NAME_VALIDATOR = RegexValidator(
    r"^[!#$%&'*+.^_`|~0-9A-Za-z-]*\Z", "Nom d'en-tête HTTP invalide : lettres, chiffres et tirets (ex. X-Api-Key)."
)
# HTTP sends header values in Latin-1: « € » or a typographic apostrophe cannot go (UnicodeEncodeError).
HEADER_VALUE_CHARS = "\x20-\x7e\xa0-\xff"
HEADER_VALUE_VALIDATOR = RegexValidator(
    rf"^[{HEADER_VALUE_CHARS}]*\Z",
    "La valeur ne doit contenir ni retour à la ligne ni caractère de contrôle, ni un caractère qu'un en-tête "
    "HTTP ne peut pas transmettre (ex. « € », « ’ »).",
)


class Client(models.Model):
    entity = models.CharField("entité", max_length=3, choices=Entity.choices)
    name = models.CharField("nom", max_length=160)
    emails = models.JSONField(
        "e-mails de livraison", default=list, blank=True, help_text="Destinataires du CSV quotidien"
    )
    api_url = models.URLField("URL de livraison HTTP", max_length=500, blank=True)
    api_auth_header = models.CharField(
        "en-tête d'authentification",
        max_length=100,
        blank=True,
        default="Authorization",
        validators=[HEADER_NAME_VALIDATOR],
    )
    api_auth_value = models.CharField(
        "valeur d'authentification", max_length=500, blank=True, validators=[HEADER_VALUE_VALIDATOR]
    )
    api_timeout_seconds = models.PositiveIntegerField(
        # A worker waits that long for a silent endpoint: two minutes at most.
        "délai d'attente HTTP (s)",
        default=10,
        validators=[MinValueValidator(1), MaxValueValidator(120)],
    )
    rejection_ceiling_percent = models.PositiveIntegerField(
        "plafond de rejet (%)",
        null=True,
        blank=True,
        # The same bounds as the settings' ceiling it replaces.
        validators=[MaxValueValidator(100)],
        help_text="Vide : la valeur des paramètres s'applique.",
    )
    active = models.BooleanField("actif", default=True)
    created_at = models.DateTimeField("créé le", default=timezone.now)
    legacy_id = models.CharField("identifiant historique", max_length=64, null=True, blank=True, unique=True)
    # What the old system said at the last import: a value that differs from it was changed
    # in RDZ since, and a rerun of the import keeps it.
    legacy_values = models.JSONField("valeurs de l'ancien système au dernier import", default=dict, editable=False)

    ENTITY_FIELD = "entity"

    class Meta:
        verbose_name = "client"
        verbose_name_plural = "clients"
        ordering = ["name"]
        constraints = [models.CheckConstraint(condition=models.Q(entity__in=Entity.values), name="client_entity_valid")]

    def __str__(self) -> str:
        return f"{self.name} ({self.entity})"

    def clean(self) -> None:
        super().clean()
        errors = {}
        if address := url_refused_address(self.api_url):
            errors["api_url"] = internal_address_message(address)
        if message := delivery_emails_error(self.emails):
            errors["emails"] = message
        elif self.active and not self.emails and not self.api_url:
            # Routing would sell it leads that neither the daily e-mail nor a POST can deliver.
            errors["emails"] = (
                "Un client actif reçoit ses leads par e-mail ou par HTTP : indiquez au moins une adresse de "
                'livraison (ex. ["achats@client.fr"]) ou une URL de livraison HTTP, ou laissez-le inactif.'
            )
        elif not self.emails and not self.api_url and (waiting := self.leads_to_deliver()):
            # Decision (§16 no lead lost): leads attributed before a client is deactivated were sold
            # and still go to it; with no address left they would wait for ever.
            errors["emails"] = (
                f"Ce client a {count_noun(waiting, 'lead')} à livrer : gardez au moins une adresse de livraison "
                "ou une URL de livraison HTTP jusqu'à leur livraison, même s'il est inactif."
            )
        if errors:
            raise ValidationError(errors)

    def leads_to_deliver(self) -> int:
        if self.pk is None:
            return 0
        return self.attributions.filter(status=AttributionStatus.PENDING).count()


def delivery_emails_error(emails) -> str:
    """French reason why `emails` cannot address the daily CSV e-mail (§10), '' when it can:
    a list of valid addresses, empty for a client served by HTTP only."""
    if not isinstance(emails, list) or not all(isinstance(email, str) for email in emails):
        return 'Une liste d\'adresses e-mail est attendue, ex. ["achats@client.fr"], ou [] pour aucune.'
    bad = emails_invalid(emails)
    return f"{emails_invalid_message(bad)}." if bad else ""


def internal_address_message(address: str) -> str:
    return (
        f"Adresse interne refusée ({address}) : la livraison HTTP ne vise que des adresses publiques "
        "(DELIVERY_PRIVATE_HOSTS_ALLOWED)."
    )


class Commande(models.Model):
    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="commandes", verbose_name="client")
    entity = models.CharField("entité", max_length=3, choices=Entity.choices, editable=False)
    product = models.ForeignKey(
        "leads.Product", on_delete=models.PROTECT, related_name="commandes", verbose_name="produit"
    )
    name = models.CharField("libellé", max_length=160, blank=True)
    departements = models.JSONField(
        "départements", default=list, help_text='Liste de codes (ex. ["13", "2A"]) ou ["*"] pour tous'
    )
    weekly_quota = models.PositiveIntegerField("quota hebdomadaire", validators=[MinValueValidator(1)])
    daily_cap = models.PositiveIntegerField(
        "plafond journalier", null=True, blank=True, validators=[MinValueValidator(1)]
    )
    priority = models.IntegerField("priorité", default=0, help_text="La plus haute est servie en premier")
    active = models.BooleanField("active", default=True)
    accepts_backlog = models.BooleanField("accepte le backlog", default=False)
    starts_on = models.DateField("début", null=True, blank=True)
    ends_on = models.DateField("fin", null=True, blank=True)
    price = models.DecimalField(
        "prix par lead (€)", max_digits=8, decimal_places=2, null=True, blank=True, validators=[MinValueValidator(0)]
    )
    created_at = models.DateTimeField("créée le", default=timezone.now)
    legacy_id = models.CharField("identifiant historique", max_length=64, null=True, blank=True, unique=True)
    # What the old system said at the last import: a value that differs from it was changed
    # in RDZ since, and a rerun of the import keeps it.
    legacy_values = models.JSONField("valeurs de l'ancien système au dernier import", default=dict, editable=False)

    ENTITY_FIELD = "entity"

    class Meta:
        verbose_name = "commande"
        verbose_name_plural = "commandes"
        ordering = ["-priority", "created_at"]
        indexes = [models.Index(fields=["entity", "product", "active"], name="commande_route_idx")]
        constraints = [
            models.CheckConstraint(condition=models.Q(weekly_quota__gte=1), name="commande_quota_positive"),
            models.CheckConstraint(
                condition=models.Q(daily_cap__isnull=True) | models.Q(daily_cap__gte=1),
                name="commande_daily_cap_positive",
            ),
            models.CheckConstraint(
                condition=models.Q(starts_on__isnull=True)
                | models.Q(ends_on__isnull=True)
                | models.Q(ends_on__gte=models.F("starts_on")),
                name="commande_dates_ordered",
            ),
            models.CheckConstraint(condition=models.Q(entity__in=Entity.values), name="commande_entity_valid"),
        ]

    def __str__(self) -> str:
        label = self.name or f"{self.product.code if self.product_id else ''}"
        return f"#{self.pk} {self.client.name if self.client_id else ''} — {label}"

    def save(self, *args, **kwargs):
        # The commande's entity is its client's (§5); kept in the row for scoping and indexes.
        if self.client_id:
            self.entity = self.client.entity
        super().save(*args, **kwargs)

    def covers(self, departement: str) -> bool:
        return "*" in self.departements or departement in self.departements


class AttributionStatus(models.TextChoices):
    PENDING = "pending", "À livrer"
    DELIVERED = "delivered", "Livré"
    REJECTED = "rejected", "Rejeté"
    RECYCLED = "recycled", "Remis au backlog"
    CANCELLED = "cancelled", "Annulé (opposition ou données anonymisées)"


class DeliveryChannel(models.TextChoices):
    CSV = "csv", "CSV quotidien"
    HTTP = "http", "HTTP POST"


class Attribution(models.Model):
    """A lead given to a commande (§7). A lead may have several over time (backlog)."""

    lead = models.ForeignKey("leads.Lead", on_delete=models.CASCADE, related_name="attributions", verbose_name="lead")
    commande = models.ForeignKey(
        Commande, on_delete=models.PROTECT, related_name="attributions", verbose_name="commande"
    )
    # No index of its own: attr_duplicate_idx and attr_client_status_idx start with it.
    client = models.ForeignKey(
        Client, on_delete=models.PROTECT, related_name="attributions", verbose_name="client", db_index=False
    )
    entity = models.CharField("entité", max_length=3, choices=Entity.choices)
    # Denormalized from the lead so the §6 duplicate check is one indexed lookup.
    phone = models.CharField("téléphone", max_length=20)
    product = models.ForeignKey("leads.Product", on_delete=models.PROTECT, related_name="+", verbose_name="produit")
    is_backlog = models.BooleanField("issu du backlog", default=False)
    created_at = models.DateTimeField("attribué le", default=timezone.now)
    week_start = models.DateField("semaine (lundi)")
    day = models.DateField("jour (Paris)")
    counts_for_quota = models.BooleanField("compte dans le quota", default=True)
    status = models.CharField(
        "statut", max_length=10, choices=AttributionStatus.choices, default=AttributionStatus.PENDING
    )
    delivered_at = models.DateTimeField("livré le", null=True, blank=True)
    explanation = models.JSONField("explication du routage", default=dict, blank=True)
    # HTTP for clients with an api_url at attribution time; back to CSV after the last HTTP failure (§10).
    channel = models.CharField(
        "canal de livraison", max_length=4, choices=DeliveryChannel.choices, default=DeliveryChannel.CSV
    )
    batch = models.ForeignKey(
        "DeliveryBatch",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="attributions",
        verbose_name="lot CSV",
        db_index=False,  # attr_batch_status_idx starts with it
    )

    ENTITY_FIELD = "entity"

    class Meta:
        verbose_name = "attribution"
        verbose_name_plural = "attributions"
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["client", "phone", "product", "created_at"], name="attr_duplicate_idx"),
            models.Index(fields=["client", "status"], name="attr_client_status_idx"),
            models.Index(fields=["entity", "created_at"], name="attr_entity_created_idx"),
            models.Index(fields=["batch", "status"], name="attr_batch_status_idx"),
        ]
        constraints = [
            models.CheckConstraint(condition=models.Q(entity__in=Entity.values), name="attribution_entity_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.lead_id} → commande #{self.commande_id}"


class CommandeFill(models.Model):
    """Quota-counting attributions of one commande on one Paris day (§5), kept by the database.

    Database triggers on `commandes_attribution` (commandes/db_triggers.py) keep `used`
    equal to the number of its rows with `counts_for_quota`, on every path (ORM, bulk,
    raw SQL, cascades): routing reads a week's fill from at most seven rows instead of
    counting the week's attributions, whatever their number. (No CHECK on `used`:
    PostgreSQL checks an upsert's proposed row, which carries the negative delta.)
    """

    commande = models.ForeignKey(Commande, on_delete=models.CASCADE, related_name="fills", verbose_name="commande")
    day = models.DateField("jour (Paris)")
    used = models.IntegerField("attributions comptées", default=0)

    class Meta:
        verbose_name = "remplissage journalier"
        verbose_name_plural = "remplissages journaliers"
        constraints = [
            models.UniqueConstraint(fields=["commande", "day"], name="commande_fill_unique_day"),
        ]

    def __str__(self) -> str:
        return f"commande #{self.commande_id} {self.day:%d/%m/%Y} : {self.used}"


class BatchStatus(models.TextChoices):
    PENDING = "pending", "En attente"
    SENDING = "sending", "En cours d'envoi"
    SENT = "sent", "Envoyé"
    FAILED = "failed", "Échec"
    SUPERSEDED = "superseded", "Remplacé par un lot plus récent"
    EMPTY = "empty", "Rien à envoyer (leads annulés ou partis avec un autre lot)"


class DeliveryStorage(FileSystemStorage):
    """Batch CSVs hold personal data: kept under DELIVERY_ROOT, outside MEDIA_ROOT, and
    served only by the admin (scoped). The location is read at each use (tests move it)."""

    @property
    def base_location(self) -> str:
        return str(getattr(settings, "DELIVERY_ROOT", settings.BASE_DIR / "var" / "deliveries"))

    @property
    def location(self) -> str:
        return os.path.abspath(self.base_location)


def delivery_storage() -> FileSystemStorage:
    return DeliveryStorage()


def _batch_upload_to(batch: "DeliveryBatch", filename: str) -> str:
    return f"livraisons/{batch.date:%Y/%m}/{filename}"


# Tries of one batch's e-mail before its leads wait for the next day's CSV (§10).
BATCH_MAX_ATTEMPTS = 8


class DeliveryBatch(models.Model):
    """The daily CSV e-mail of one client (§10): one per client and Paris day."""

    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="batches", verbose_name="client")
    entity = models.CharField("entité", max_length=3, choices=Entity.choices)
    date = models.DateField("jour de livraison")
    status = models.CharField("statut", max_length=10, choices=BatchStatus.choices, default=BatchStatus.PENDING)
    file = models.FileField("fichier CSV", upload_to=_batch_upload_to, storage=delivery_storage, blank=True)
    count = models.PositiveIntegerField("nombre de leads", default=0)
    recipients = models.JSONField("destinataires", default=list, blank=True)
    attempts = models.PositiveIntegerField("tentatives", default=0)
    error = models.TextField("dernière erreur", blank=True)
    created_at = models.DateTimeField("créé le", default=timezone.now)
    sent_at = models.DateTimeField("envoyé le", null=True, blank=True)
    resent_count = models.PositiveIntegerField("renvois", default=0)
    last_resent_at = models.DateTimeField("dernier renvoi", null=True, blank=True)

    ENTITY_FIELD = "entity"

    class Meta:
        verbose_name = "lot de livraison"
        verbose_name_plural = "livraisons (lots CSV)"
        ordering = ["-date", "client__name"]
        constraints = [
            # Running the daily job twice the same day never sends twice (§10).
            models.UniqueConstraint(fields=["client", "date"], name="batch_unique_client_date"),
            models.CheckConstraint(condition=models.Q(entity__in=Entity.values), name="batch_entity_valid"),
        ]

    def __str__(self) -> str:
        return f"Lot {self.client.name if self.client_id else ''} du {self.date:%d/%m/%Y}"

    @property
    def status_short(self) -> str:
        """The status alone, as a badge or a filter shows it."""
        return self.get_status_display()

    @property
    def status_detail(self) -> str:
        """What the bare status does not say: whether a failure will be retried, and that the
        mail server refused some of the addresses of a batch it took for the others."""
        if self.status == BatchStatus.FAILED:
            if self.attempts >= BATCH_MAX_ATTEMPTS:
                return "plus d'essai automatique : les leads partent avec le CSV suivant"
            return "nouvel essai prévu"
        if self.status == BatchStatus.SENT and self.error:
            # A sent batch keeps an error only for the addresses refused while the others got it.
            return "une partie des adresses refusée par le serveur d'e-mail"
        return ""

    @property
    def status_text(self) -> str:
        """The status as staff read it in one line: a failure whose tries are all spent promises no retry."""
        detail = self.status_detail
        return f"{self.status_short} ({detail})" if detail else self.status_short


class HttpDeliveryAttempt(models.Model):
    """One HTTP POST of an attribution to its client's endpoint, and what came back (§10)."""

    attribution = models.ForeignKey(
        Attribution, on_delete=models.CASCADE, related_name="http_attempts", verbose_name="attribution"
    )
    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="+", verbose_name="client")
    entity = models.CharField("entité", max_length=3, choices=Entity.choices)
    url = models.URLField("URL", max_length=500)
    started_at = models.DateTimeField("envoyé le", default=timezone.now)
    duration_ms = models.PositiveIntegerField("durée (ms)", default=0)
    status_code = models.PositiveIntegerField("code HTTP", null=True, blank=True)
    response_body = models.TextField("réponse", blank=True)
    error = models.TextField("erreur", blank=True)
    success = models.BooleanField("succès", default=False)

    ENTITY_FIELD = "entity"

    class Meta:
        verbose_name = "envoi HTTP"
        verbose_name_plural = "envois HTTP"
        ordering = ["-started_at", "-id"]

    def __str__(self) -> str:
        return f"POST {self.url} → {self.status_code or self.error[:40]}"


class RejectionReason(models.TextChoices):
    WRONG_NUMBER = "wrong_number", "Faux numéro"
    DUPLICATE = "duplicate", "Doublon"
    OUT_OF_AREA = "out_of_area", "Hors zone"
    UNREACHABLE = "unreachable", "Injoignable"
    OTHER = "other", "Autre"


class RejectionStatus(models.TextChoices):
    APPROVED = "approved", "Accepté"
    PENDING = "pending", "À approuver (plafond dépassé)"
    REFUSED = "refused", "Refusé"


class RejectionSource(models.TextChoices):
    STAFF = "staff", "Staff"
    CLIENT = "client", "Client (lien signé)"


class Rejection(models.Model):
    """A client's rejection of a delivered lead (§10, ceiling §16)."""

    attribution = models.ForeignKey(
        Attribution, on_delete=models.PROTECT, related_name="rejections", verbose_name="attribution"
    )
    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="rejections", verbose_name="client")
    entity = models.CharField("entité", max_length=3, choices=Entity.choices)
    reason = models.CharField("motif", max_length=20, choices=RejectionReason.choices)
    comment = models.TextField("commentaire", blank=True)
    source = models.CharField("origine", max_length=6, choices=RejectionSource.choices)
    status = models.CharField("statut", max_length=8, choices=RejectionStatus.choices)
    quota_credited = models.BooleanField("quota recrédité", default=False)
    created_at = models.DateTimeField("demandé le", default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name="demandé par",
    )
    decided_at = models.DateTimeField("décidé le", null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name="décidé par",
    )

    ENTITY_FIELD = "entity"

    class Meta:
        verbose_name = "rejet"
        verbose_name_plural = "rejets"
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["client", "created_at"], name="rejection_client_created_idx")]
        constraints = [
            # One live rejection per attribution: a double click or a second link use is a no-op.
            models.UniqueConstraint(
                fields=["attribution"],
                condition=models.Q(status__in=["approved", "pending"]),
                name="rejection_one_live_per_attribution",
            ),
            models.CheckConstraint(condition=models.Q(entity__in=Entity.values), name="rejection_entity_valid"),
        ]

    def __str__(self) -> str:
        return f"Rejet {self.get_reason_display()} — attribution {self.attribution_id}"


class BacklogLead(Lead):
    """The Lead Backlog (§10) as an admin list: a proxy of leads.Lead, read-only."""

    class Meta:
        proxy = True
        verbose_name = "lead du backlog"
        verbose_name_plural = "Lead Backlog"
