"""Providers and their API keys (§9)."""

from django.db import transaction
from django.utils.text import slugify

from providers.models import Provider, ProviderAPIKey
from rdz.core.entities import Entity
from rdz.core.fastsql import HotRead, ModelReader, hot_reads
from rdz.core.services import audit_log
from rdz.core.text import text_forbidden_char


class ProviderError(Exception):
    """A refused provider operation (French message)."""


def provider_authenticate(*, key: str) -> Provider | None:
    """The provider owning `key`, or None. Prefix lookup then constant-time hash compare."""
    if not key or len(key) > 200 or "." not in key or text_forbidden_char(key):
        return None  # no key has these; a NUL would not even reach the lookup on PostgreSQL
    prefix = key.partition(".")[0]
    # One plain SQL statement (every provider call authenticates): the newest live key
    # with this prefix and its provider, converted as the ORM would (rdz.core.fastsql).
    keys, providers = ModelReader.get(ProviderAPIKey, "k"), ModelReader.get(Provider, "p")
    # The first statement of the request: it is also the connection's health check.
    (row,) = hot_reads(
        HotRead(
            f"SELECT {keys.columns}, {providers.columns}"  # noqa: S608 (constant)
            " FROM providers_providerapikey k JOIN providers_provider p ON p.id = k.provider_id"
            " WHERE k.prefix = %s AND NOT k.revoked ORDER BY k.created DESC LIMIT 1",
            [prefix],
        )
    )
    if row is None:
        return None
    api_key = keys.build(row[: keys.size])
    if not api_key.is_valid(key) or api_key.has_expired:
        return None
    return providers.build(row[keys.size :])


def _unique_slug(name: str) -> str:
    base = slugify(name)[:50] or "provider"
    slug, n = base, 2
    while Provider.objects.filter(slug__iexact=slug).exists():
        slug, n = f"{base}-{n}", n + 1
    return slug


def provider_slug_clean(*, slug: str, provider: Provider | None = None) -> str:
    """`slug` as stored (lower case), refused when empty, too long, or taken by another
    provider in any case: the blacklist of sources compares slugs without case (§8)."""
    slug = slugify(slug)
    if not slug:
        # Its leads' source would be empty, and provider_rotate_key could not name it.
        raise ProviderError("Identifiant invalide : lettres, chiffres, tirets ou soulignés attendus.")
    slug_max = Provider._meta.get_field("slug").max_length
    if len(slug) > slug_max:
        raise ProviderError(f"Identifiant trop long : {slug_max} caractères au maximum.")
    taken = Provider.objects.filter(slug__iexact=slug)
    if provider is not None and provider.pk is not None:
        taken = taken.exclude(pk=provider.pk)
    if taken.exists():
        raise ProviderError(f"L'identifiant « {slug} » existe déjà.")
    return slug


@transaction.atomic
def provider_create(
    *, name: str, entity: str, slug: str = "", actor=None, actor_label: str = ""
) -> tuple[Provider, str]:
    """Create a provider and its first key. Returns (provider, clear key shown once)."""
    if entity not in Entity.values:
        raise ProviderError(f"Entité inconnue : {entity} (ZR7 ou MDL).")
    name = (name or "").strip()
    if not name:
        raise ProviderError("Le nom est obligatoire.")
    if char := text_forbidden_char(name):
        raise ProviderError(f"Nom : caractère non autorisé (U+{ord(char):04X}).")
    name_max = Provider._meta.get_field("name").max_length
    if len(name) > name_max:
        raise ProviderError(f"Nom trop long : {name_max} caractères au maximum.")
    slug = provider_slug_clean(slug=slug) if slug else _unique_slug(name)
    provider = Provider.objects.create(name=name, slug=slug, entity=entity)
    _, key = ProviderAPIKey.objects.create_key(provider=provider, name=f"{slug}"[:50])
    audit_log(
        action="provider_create",
        actor=actor,
        actor_label=actor_label,
        entity=entity,
        obj=provider,
        message=f"Provider {slug} créé avec une clé",
    )
    return provider, key


@transaction.atomic
def provider_rotate_key(*, provider: Provider, actor=None, actor_label: str = "") -> str:
    """Revoke every key of the provider and issue a new one; the old key stops working at once."""
    # Rotations of one provider take turns: two at once would each revoke only the keys
    # committed before it started, and both new keys would stay live.
    Provider.objects.select_for_update().only("pk").get(pk=provider.pk)
    ProviderAPIKey.objects.filter(provider=provider, revoked=False).update(revoked=True)
    _, key = ProviderAPIKey.objects.create_key(provider=provider, name=f"{provider.slug}"[:50])
    audit_log(
        action="provider_rotate_key",
        actor=actor,
        actor_label=actor_label,
        entity=provider.entity,
        obj=provider,
        message="Clé API remplacée",
    )
    return key
