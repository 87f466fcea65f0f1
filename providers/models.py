"""Lead providers (§9) and their hashed API keys."""

from django.db import models
from django.utils import timezone
from rest_framework_api_key.models import AbstractAPIKey

from rdz.core.entities import Entity


class Provider(models.Model):
    name = models.CharField("nom", max_length=120)
    slug = models.SlugField("identifiant", max_length=60, unique=True)
    entity = models.CharField("entité", max_length=3, choices=Entity.choices)
    active = models.BooleanField("actif", default=True)
    created_at = models.DateTimeField("créé le", default=timezone.now)
    legacy_id = models.CharField("identifiant historique", max_length=64, null=True, blank=True, unique=True)
    # What the old system said at the last import: a value that differs from it was changed
    # in RDZ since, and a rerun of the import keeps it.
    legacy_values = models.JSONField("valeurs de l'ancien système au dernier import", default=dict, editable=False)

    ENTITY_FIELD = "entity"

    class Meta:
        verbose_name = "provider"
        verbose_name_plural = "providers"
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(condition=models.Q(entity__in=Entity.values), name="provider_entity_valid")
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.entity})"


class ProviderAPIKey(AbstractAPIKey):
    """Stored as prefix + hash only; the full key is shown once (creation or rotation)."""

    provider = models.ForeignKey(Provider, on_delete=models.CASCADE, related_name="api_keys", verbose_name="provider")

    ENTITY_FIELD = "provider__entity"

    class Meta(AbstractAPIKey.Meta):
        verbose_name = "clé API provider"
        verbose_name_plural = "clés API provider"
