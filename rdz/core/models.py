"""Shared records: staff scope and role (§2), the settings record and its audit (§8),
alerts (§14), circuit breakers and the outbox of outside calls (§16)."""

import datetime

from django.conf import settings
from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone
from django.utils.text import capfirst

from rdz.core.entities import Entity
from rdz.core.text import emails_invalid, emails_invalid_message


class EntityScope(models.TextChoices):
    ZR7 = "ZR7", "ZR7"
    MDL = "MDL", "MDL"
    BOTH = "BOTH", "ZR7 et MDL"


class Role(models.TextChoices):
    ADMIN = "admin", "Administrateur"
    MANAGER = "manager", "Gestionnaire"
    VIEWER = "viewer", "Lecteur"


class StaffProfile(models.Model):
    """Which entities a staff account may see, and what it may do there."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="staff_profile", verbose_name="compte"
    )
    scope = models.CharField("entités", max_length=4, choices=EntityScope.choices, default=EntityScope.ZR7)
    role = models.CharField("rôle", max_length=10, choices=Role.choices, default=Role.VIEWER)

    class Meta:
        verbose_name = "profil staff"
        verbose_name_plural = "profils staff"
        constraints = [
            models.CheckConstraint(condition=models.Q(scope__in=EntityScope.values), name="staffprofile_scope_valid"),
            models.CheckConstraint(condition=models.Q(role__in=Role.values), name="staffprofile_role_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.user} ({self.get_scope_display()}, {self.get_role_display()})"

    @property
    def entities(self) -> frozenset[str]:
        if self.scope == EntityScope.BOTH:
            return frozenset(Entity.values)
        return frozenset([self.scope])


def _default_delivery_time() -> datetime.time:
    return datetime.time(9, 30)


def validate_text_list(value) -> None:
    """A settings list is texts, none blank: routing and alerts read it as such (every path
    to the record runs it: `settings_update` cleans the record before saving)."""
    if not isinstance(value, list) or not all(isinstance(item, str) and item.strip() for item in value):
        raise ValidationError("Une liste de textes est attendue, ou [] pour aucune.")


def validate_email_list(value) -> None:
    validate_text_list(value)
    if bad := emails_invalid(value):
        raise ValidationError(emails_invalid_message(bad))


def validate_whole_minute(value: datetime.time) -> None:
    """The daily e-mail's crontab runs at a minute: seconds would be stored, shown and ignored."""
    if value.second or value.microsecond:
        raise ValidationError("L'envoi se règle à la minute près : saisissez l'heure sans secondes (HH:MM).")


class AppSettings(models.Model):
    """The single settings record (§8), read at each use so changes apply without a restart."""

    SINGLETON_ID = 1

    cross_entity_enabled = models.BooleanField("repli inter-entités activé", default=True)
    cross_entity_zr7_to_mdl = models.BooleanField("repli ZR7 → MDL", default=True)
    cross_entity_mdl_to_zr7 = models.BooleanField("repli MDL → ZR7", default=True)
    blacklisted_sources = models.JSONField(
        "sources blacklistées", default=list, blank=True, validators=[validate_text_list]
    )
    daily_delivery_time = models.TimeField(
        "heure d'envoi quotidien", default=_default_delivery_time, validators=[validate_whole_minute]
    )
    backlog_age_days = models.PositiveIntegerField(
        "âge du backlog (jours)", default=30, validators=[MinValueValidator(1), MaxValueValidator(365)]
    )
    rejection_window_days = models.PositiveIntegerField(
        "fenêtre de rejet (jours)", default=7, validators=[MinValueValidator(0), MaxValueValidator(90)]
    )
    rejection_ceiling_percent = models.PositiveIntegerField(
        "plafond de rejet (%)",
        default=20,
        validators=[MinValueValidator(0), MaxValueValidator(100)],
        help_text="Au-delà, un rejet client doit être approuvé par le staff.",
    )
    alert_recipients_zr7 = models.JSONField(
        "destinataires des alertes ZR7", default=list, blank=True, validators=[validate_email_list]
    )
    alert_recipients_mdl = models.JSONField(
        "destinataires des alertes MDL", default=list, blank=True, validators=[validate_email_list]
    )
    alert_silence_hours = models.PositiveIntegerField(
        "silence provider/formulaire (heures)",
        default=6,
        # At most a year: a silence counted further back than Python's dates reach broke the alert job.
        validators=[MinValueValidator(1), MaxValueValidator(8760)],
    )
    alert_crm_failure_threshold = models.PositiveIntegerField(
        "seuil d'échecs CRM", default=5, validators=[MinValueValidator(1), MaxValueValidator(100_000)]
    )
    circuit_failure_threshold = models.PositiveIntegerField(
        "échecs consécutifs avant coupure", default=5, validators=[MinValueValidator(1), MaxValueValidator(1000)]
    )
    fallback_crm_key_zr7 = models.CharField("clé CRM ZR7 de repli", max_length=255, blank=True)
    fallback_crm_key_mdl = models.CharField("clé CRM MDL de repli", max_length=255, blank=True)
    retention_years = models.PositiveIntegerField(
        "durée de conservation (années)", default=3, validators=[MinValueValidator(1), MaxValueValidator(10)]
    )
    updated_at = models.DateTimeField("modifié le", auto_now=True)

    class Meta:
        verbose_name = "paramètres"
        verbose_name_plural = "paramètres"
        constraints = [models.CheckConstraint(condition=models.Q(id=1), name="appsettings_singleton")]

    def __str__(self) -> str:
        return "Paramètres RDZ"

    def alert_recipients(self, entity: str) -> list[str]:
        return list(self.alert_recipients_zr7 if entity == Entity.ZR7 else self.alert_recipients_mdl)

    def fallback_crm_key(self, target_crm: str) -> str:
        return self.fallback_crm_key_zr7 if target_crm == Entity.ZR7 else self.fallback_crm_key_mdl

    def cross_entity_allowed(self, source: str, target: str) -> bool:
        """§7.3 / §11: fallback from `source` entity to `target` entity."""
        if not self.cross_entity_enabled or source == target:
            return False
        if source == Entity.ZR7:
            return self.cross_entity_zr7_to_mdl
        return self.cross_entity_mdl_to_zr7


class SettingsAudit(models.Model):
    """Who changed which setting, when, from what to what."""

    changed_at = models.DateTimeField("modifié le", default=timezone.now, db_index=True)
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, verbose_name="par"
    )
    # The account's name when it changed the setting: the history keeps it once the account is deleted.
    changed_by_label = models.CharField("par (compte)", max_length=150, blank=True)
    field = models.CharField("paramètre", max_length=64)
    old_value = models.TextField("ancienne valeur", blank=True)
    new_value = models.TextField("nouvelle valeur", blank=True)

    class Meta:
        verbose_name = "modification de paramètre"
        verbose_name_plural = "historique des paramètres"
        ordering = ["-changed_at", "-id"]

    def __str__(self) -> str:
        return f"{self.field_label} : {self.old_value} → {self.new_value}"

    @property
    def author(self) -> str:
        """Who made the change: the account's name, « système » for a job or an import."""
        return self.changed_by_label or (str(self.changed_by) if self.changed_by_id else "système")

    @property
    def field_label(self) -> str:
        """The setting's French label (« Clé CRM MDL de repli »), or its name if it is gone."""
        try:
            return capfirst(str(AppSettings._meta.get_field(self.field).verbose_name))
        except FieldDoesNotExist:
            return self.field


# What each audit `action` (written by the service that records it) is called in French.
AUDIT_ACTION_LABELS = {
    "account_create": "Compte créé",
    "account_update": "Compte modifié",
    "account_password": "Mot de passe redéfini",
    "account_delete": "Compte supprimé",
    "admin_add": "Ajout dans l'administration",
    "admin_change": "Modification dans l'administration",
    "admin_delete": "Suppression dans l'administration",
    "alert_clear": "Alerte résolue à la main",
    "circuit_reset": "Point d'accès remis en service",
    "commande_activate": "Commande activée",
    "commande_deactivate": "Commande désactivée",
    "daily_run": "Tâche quotidienne exécutée",
    "daily_summary": "Résumé quotidien envoyé",
    "delivery_batch_resend": "Lot CSV renvoyé",
    "leadform_create": "Formulaire créé",
    "leadform_update": "Formulaire modifié",
    "leadform_crm_key_set": "Clé CRM du formulaire définie",
    "leadform_crm_key_rotate": "Clé CRM du formulaire remplacée",
    "legacy_import": "Import des données historiques",
    "media.upload": "Média ajouté",
    "media.update": "Média modifié",
    "media.delete": "Média supprimé",
    "opposition.add": "Numéro ajouté à la liste d'opposition",
    "opposition.remove": "Numéro retiré de la liste d'opposition",
    "opposition.import": "Liste d'opposition importée",
    "provider_create": "Provider créé",
    "provider_rotate_key": "Clé API du provider régénérée",
    "rejection_create": "Rejet demandé",
    "rejection_approve": "Rejet approuvé",
    "rejection_refuse": "Rejet refusé",
    "rgpd.erase": "Effacement RGPD",
    "rgpd.export": "Export RGPD",
    "rgpd.retention": "Anonymisation après la durée de conservation",
}


class AuditLog(models.Model):
    """Audit trail of sensitive actions that are not lead timeline events (key rotations…)."""

    created_at = models.DateTimeField("date", default=timezone.now, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, verbose_name="par"
    )
    actor_label = models.CharField("acteur", max_length=150, blank=True)
    # Choices only name the codes in French (lists, filter); any code may still be written.
    action = models.CharField("action", max_length=64, choices=list(AUDIT_ACTION_LABELS.items()))
    entity = models.CharField("entité", max_length=3, choices=Entity.choices, blank=True)
    object_type = models.CharField("type d'objet", max_length=64, blank=True)
    object_id = models.CharField("objet", max_length=64, blank=True)
    message = models.TextField("détail", blank=True)

    ENTITY_FIELD = "entity"

    class Meta:
        verbose_name = "entrée d'audit"
        verbose_name_plural = "journal d'audit"
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.action} {self.object_type} {self.object_id}"


class AlertState(models.TextChoices):
    OPEN = "open", "Active"
    CLEARED = "cleared", "Résolue"


# What each alert `kind` (written by the service that raises it) is called in French.
ALERT_KIND_LABELS = {
    "livraison_echec": "Envoi du CSV quotidien en échec",
    "quota_atteint": "Quota hebdomadaire atteint",
    "circuit_ouvert": "Point d'accès en pause",
    "silence_provider": "Provider silencieux",
    "silence_form": "Formulaire silencieux",
    "crm_echecs": "Échecs de transmission CRM",
    "resume_echec": "Résumé quotidien non envoyé",
    "livraison_http_repli": "Leads non livrés par HTTP",
}

# What the recipient of each alert e-mail can do, and the page where to do it: its URL name
# and the name the e-mail gives it (none when it is the Alertes page, linked anyway).
ALERT_KIND_ADVICE = {
    "livraison_echec": (
        "vérifier le compte e-mail de l'entité ou les adresses de livraison du client ; rien n'est perdu, "
        "les leads partent au prochain envoi réussi (ou avec le CSV du lendemain).",
        "backoffice-deliveries",
        "Livraisons",
    ),
    "quota_atteint": (
        "si le client veut davantage de leads cette semaine, relever le quota de sa commande ; sinon rien : "
        "ses leads vont aux autres commandes ouvertes ou au Lead Backlog.",
        "backoffice-commandes",
        "Commandes",
    ),
    "circuit_ouvert": (
        "une fois le point d'accès réparé, le remettre en service à la main relance aussitôt ses envois. "
        "Rien n'est perdu d'ici là : les envois attendent et reprennent d'eux-mêmes après un essai réussi.",
        "admin:core_circuitbreaker_changelist",
        "Disjoncteurs",
    ),
    "silence_provider": (
        "vérifier auprès du provider que ses envois partent (clé API, erreurs) ; "
        "s'il a cessé d'envoyer, le désactiver clôt l'alerte.",
        "backoffice-providers",
        "Providers",
    ),
    "silence_form": (
        "vérifier que la page du formulaire est en ligne et que son script de suivi est installé ; "
        "s'il n'est plus utilisé, le désactiver clôt l'alerte.",
        "backoffice-forms",
        "Formulaires",
    ),
    "crm_echecs": (
        "vérifier que le CRM répond et que sa clé API est valide ; les leads au statut CRM « Échec » "
        "peuvent être relancés une fois le CRM rétabli.",
        "backoffice-leads",
        "Leads en échec CRM",
    ),
    "resume_echec": (
        "vérifier le compte e-mail de l'entité ; le résumé repart de lui-même toutes les 10 minutes.",
        "",
        "",
    ),
    "livraison_http_repli": (
        "lire dans les envois HTTP du client la réponse de son point d'accès et la lui transmettre (données "
        "refusées, clé ou adresse à corriger) ; rien n'est perdu : ces leads partent avec le CSV quotidien (ou de nouveau par HTTP le lendemain pour "
        "un client sans adresse e-mail). "
        "Clore l'alerte une fois la cause traitée : le lead suivant qui échoue préviendra de nouveau.",
        "admin:commandes_httpdeliveryattempt_changelist",
        "Envois HTTP du client",
    ),
}


class Alert(models.Model):
    """An alert (§14). `key` identifies the condition so it fires once and clears once."""

    entity = models.CharField("entité", max_length=3, choices=Entity.choices)
    kind = models.CharField("type", max_length=40, choices=list(ALERT_KIND_LABELS.items()))
    key = models.CharField("clé", max_length=200)
    message = models.TextField("message")
    state = models.CharField("état", max_length=10, choices=AlertState.choices, default=AlertState.OPEN)
    created_at = models.DateTimeField("créée le", default=timezone.now, db_index=True)
    cleared_at = models.DateTimeField("résolue le", null=True, blank=True)
    emailed_at = models.DateTimeField("e-mail envoyé le", null=True, blank=True)

    ENTITY_FIELD = "entity"

    class Meta:
        verbose_name = "alerte"
        verbose_name_plural = "alertes"
        ordering = ["-created_at", "-id"]
        constraints = [
            # One open alert per condition: raising it again is a no-op until it clears.
            models.UniqueConstraint(fields=["key"], condition=models.Q(state="open"), name="alert_one_open_per_key"),
        ]

    def __str__(self) -> str:
        return self.message

    @property
    def kind_label(self) -> str:
        return ALERT_KIND_LABELS.get(self.kind, self.kind)


class CircuitState(models.TextChoices):
    CLOSED = "closed", "Fermé (normal)"
    OPEN = "open", "Ouvert (en pause)"


class CircuitBreaker(models.Model):
    """Consecutive-failure breaker per outside endpoint (a client URL, a CRM) — §16."""

    name = models.CharField("nom", max_length=200, unique=True)
    entity = models.CharField("entité", max_length=3, choices=Entity.choices)
    state = models.CharField("état", max_length=10, choices=CircuitState.choices, default=CircuitState.CLOSED)
    consecutive_failures = models.PositiveIntegerField("échecs consécutifs", default=0)
    opened_at = models.DateTimeField("ouvert le", null=True, blank=True)
    next_probe_at = models.DateTimeField("prochain essai", null=True, blank=True)
    last_error = models.TextField("dernière erreur", blank=True)

    ENTITY_FIELD = "entity"

    class Meta:
        verbose_name = "disjoncteur"
        verbose_name_plural = "disjoncteurs"

    def __str__(self) -> str:
        return f"{self.name} ({self.get_state_display()})"


class OutboxStatus(models.TextChoices):
    PENDING = "pending", "En attente"
    RUNNING = "running", "En cours"
    DONE = "done", "Terminé"
    FAILED = "failed", "Échec"
    CANCELLED = "cancelled", "Annulé"


class OutboxItem(models.Model):
    """One outside action to perform (§16 "no lead lost").

    Written in the same transaction as the change that needs it; workers claim it with a
    conditional UPDATE; a sweeper re-enqueues rows left pending or stuck running.
    """

    kind = models.CharField("type", max_length=40)
    ref = models.CharField("référence", max_length=64, help_text="Identifiant de l'objet traité.")
    entity = models.CharField("entité", max_length=3, choices=Entity.choices)
    status = models.CharField(
        "état", max_length=10, choices=OutboxStatus.choices, default=OutboxStatus.PENDING, db_index=True
    )
    attempts = models.PositiveIntegerField("tentatives", default=0)
    max_attempts = models.PositiveIntegerField("tentatives max", default=5)
    next_attempt_at = models.DateTimeField("prochaine tentative", default=timezone.now)
    claimed_until = models.DateTimeField("réservé jusqu'à", null=True, blank=True)
    last_error = models.TextField("dernière erreur", blank=True)
    created_at = models.DateTimeField("créé le", default=timezone.now)
    done_at = models.DateTimeField("terminé le", null=True, blank=True)

    ENTITY_FIELD = "entity"

    class Meta:
        verbose_name = "action sortante"
        verbose_name_plural = "actions sortantes (outbox)"
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="outbox_due_idx")]
        constraints = [
            # One live action per kind and object: enqueuing twice is a no-op.
            models.UniqueConstraint(
                fields=["kind", "ref"],
                condition=models.Q(status__in=["pending", "running"]),
                name="outbox_one_live_per_ref",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.ref} ({self.status})"
