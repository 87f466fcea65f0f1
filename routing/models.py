"""CRM forwarding log (§11): one row per HTTP call to a CRM, kept so staff can see what
was sent and answered, and so an RGPD erasure can redact the payloads."""

from django.db import models
from django.utils import timezone

from rdz.core.entities import Entity


class CrmPhase(models.TextChoices):
    PRIMARY = "primary", "CRM cible"
    FALLBACK = "fallback", "CRM de repli"


class CrmOutcome(models.TextChoices):
    SENT = "sent", "Accepté"
    TRANSIENT = "transient", "Erreur temporaire"
    AUTH = "auth", "Clé refusée"
    REFUSED = "refused", "Refusé"


class CrmAttempt(models.Model):
    lead = models.ForeignKey("leads.Lead", on_delete=models.CASCADE, related_name="crm_log", verbose_name="lead")
    crm = models.CharField("CRM", max_length=3, choices=Entity.choices)
    phase = models.CharField("phase", max_length=10, choices=CrmPhase.choices)
    attempt = models.PositiveIntegerField("tentative")
    url = models.CharField("URL", max_length=500)
    request_body = models.JSONField("données envoyées", default=dict)
    status_code = models.PositiveIntegerField("code HTTP", null=True, blank=True)
    response_body = models.TextField("réponse", blank=True)
    error = models.TextField("erreur", blank=True)
    outcome = models.CharField("résultat", max_length=10, choices=CrmOutcome.choices)
    duration_ms = models.PositiveIntegerField("durée (ms)", default=0)
    created_at = models.DateTimeField("date", default=timezone.now)

    ENTITY_FIELD = "lead__entity"

    class Meta:
        verbose_name = "appel CRM"
        verbose_name_plural = "journal des appels CRM"
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["lead", "created_at"], name="crmattempt_lead_created_idx")]

    def __str__(self) -> str:
        return f"{self.crm} {self.get_outcome_display()} ({self.status_code or self.error[:40]})"
