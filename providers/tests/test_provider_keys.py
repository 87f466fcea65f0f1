"""Provider keys (§9, §17): shown once, hashed at rest, rotation invalidates at once."""

import datetime
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.core.management import call_command
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from providers.models import Provider, ProviderAPIKey
from providers.services import ProviderError, provider_authenticate, provider_create, provider_rotate_key
from rdz.core.models import AuditLog

pytestmark = pytest.mark.django_db


def test_a_key_is_stored_only_as_prefix_and_hash(zr7_provider):
    stored = ProviderAPIKey.objects.get(provider=zr7_provider)
    prefix, _, secret = zr7_provider.api_key.partition(".")
    assert stored.prefix == prefix
    assert secret not in stored.hashed_key and zr7_provider.api_key not in stored.hashed_key
    assert provider_authenticate(key=zr7_provider.api_key) == zr7_provider


def test_rotation_revokes_the_old_key_at_once_and_is_audited(zr7_provider):
    new_key = provider_rotate_key(provider=zr7_provider)
    assert provider_authenticate(key=zr7_provider.api_key) is None
    assert provider_authenticate(key=new_key) == zr7_provider
    assert AuditLog.objects.filter(action="provider_rotate_key", entity="ZR7").count() == 1


@pytest.mark.django_db(transaction=True)
def test_two_rotations_at_the_same_instant_leave_one_live_key(zr7_provider):
    """A double click on the admin action, or two operators at once: each rotation revoked
    only the keys it saw, so both new keys stayed live, one of them handed to nobody."""
    barrier = threading.Barrier(4)

    def rotate(_):
        try:
            barrier.wait(timeout=30)
            return provider_rotate_key(provider=zr7_provider)
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=4) as pool:
        keys = list(pool.map(rotate, range(4)))

    assert ProviderAPIKey.objects.filter(provider=zr7_provider, revoked=False).count() == 1
    assert [provider_authenticate(key=key) is not None for key in keys].count(True) == 1


def test_an_expired_key_or_a_wrong_secret_authenticates_nobody(zr7_provider):
    prefix, _, secret = zr7_provider.api_key.partition(".")
    wrong = secret[:-1] + ("y" if secret.endswith("x") else "x")  # a random secret may end with "x"
    assert provider_authenticate(key=f"{prefix}.{wrong}") is None
    ProviderAPIKey.objects.filter(provider=zr7_provider).update(
        expiry_date=timezone.now() - datetime.timedelta(minutes=1)
    )
    assert provider_authenticate(key=zr7_provider.api_key) is None
    ProviderAPIKey.objects.filter(provider=zr7_provider).update(expiry_date=timezone.now() + datetime.timedelta(days=1))
    provider = provider_authenticate(key=zr7_provider.api_key)
    assert provider == zr7_provider and provider.active is True and provider.entity == "ZR7"


def test_a_deactivated_provider_is_authenticated_but_inactive(zr7_provider):
    Provider.objects.filter(pk=zr7_provider.pk).update(active=False)
    assert provider_authenticate(key=zr7_provider.api_key).active is False


@pytest.mark.parametrize("key", ["", "sans-point", "a.b", "." * 300])
def test_malformed_keys_authenticate_nobody(zr7_provider, key):
    assert provider_authenticate(key=key) is None


def test_provider_create_refuses_an_unknown_entity_or_a_taken_slug(zr7_provider):
    with pytest.raises(ProviderError):
        provider_create(name="X", entity="ABC")
    with pytest.raises(ProviderError, match="existe déjà"):
        provider_create(name="X", entity="ZR7", slug="prov-zr7")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "X", "slug": "!!!"}, "Identifiant invalide"),
        ({"name": "N" * 121}, "120 caractères au maximum"),
        ({"name": "X", "slug": "a" * 61}, "60 caractères au maximum"),
        ({"name": "Leads\x00Express"}, r"Nom : caractère non autorisé \(U\+0000\)"),
        ({"name": "Leads\ud800"}, r"Nom : caractère non autorisé \(U\+D800\)"),
    ],
)
def test_the_create_command_refuses_an_empty_identifier_or_values_too_long_clearly(kwargs, message):
    """A slug that slugifies to nothing made a provider with an empty identifier (its leads'
    source empty, out of reach of provider_rotate_key); too long a value, or a name holding a
    character no text column can store, crashed PostgreSQL."""
    from django.core.management import CommandError

    args = [f"--{name}={value}" for name, value in kwargs.items()]
    with pytest.raises(CommandError, match=message):
        call_command("provider_create", *args, "--entity", "ZR7")
    assert not Provider.objects.exists()


def test_the_create_command_prints_the_key_alone_on_its_last_line(capsys):
    call_command("provider_create", "--name", "Leads Express", "--entity", "MDL")
    last_line = capsys.readouterr().out.strip().splitlines()[-1]
    provider = Provider.objects.get(slug="leads-express")
    assert provider.entity == "MDL"
    assert provider_authenticate(key=last_line) == provider


def test_the_rotate_command_prints_the_new_key_alone_on_its_last_line(zr7_provider, capsys):
    call_command("provider_rotate_key", "prov-zr7")
    last_line = capsys.readouterr().out.strip().splitlines()[-1]
    assert provider_authenticate(key=last_line) == zr7_provider
    assert provider_authenticate(key=zr7_provider.api_key) is None


def test_the_rotate_command_fails_clearly_for_an_unknown_slug():
    from django.core.management import CommandError

    with pytest.raises(CommandError, match="introuvable"):
        call_command("provider_rotate_key", "inconnu")


# --- Admin --------------------------------------------------------------------------------
def _rotate_in_admin(client, provider):
    return client.post(
        reverse("admin:providers_provider_changelist"),
        {"action": "rotate_key", "_selected_action": [provider.pk]},
        follow=True,
    )


def test_the_admin_rotation_shows_the_new_key_once(client, zr7_staff, zr7_provider):
    client.force_login(zr7_staff)
    page = _rotate_in_admin(client, zr7_provider).content.decode()
    assert "affichée une seule fois" in page
    new_key = page.split("<code>")[1].split("</code>")[0]
    assert provider_authenticate(key=new_key) == zr7_provider
    assert provider_authenticate(key=zr7_provider.api_key) is None
    again = client.get(reverse("admin:providers_provider_changelist")).content.decode()
    assert new_key not in again


def test_a_viewer_cannot_rotate_a_key(client, zr7_viewer, zr7_provider):
    client.force_login(zr7_viewer)
    _rotate_in_admin(client, zr7_provider)
    assert provider_authenticate(key=zr7_provider.api_key) == zr7_provider


def test_a_zr7_manager_cannot_rotate_an_mdl_key(client, zr7_staff, mdl_provider):
    client.force_login(zr7_staff)
    _rotate_in_admin(client, mdl_provider)
    assert provider_authenticate(key=mdl_provider.api_key) == mdl_provider


def test_creating_a_provider_in_the_admin_shows_its_first_key(client, zr7_staff):
    client.force_login(zr7_staff)
    response = client.post(
        reverse("admin:providers_provider_add"),
        {"name": "Nouveau", "slug": "nouveau", "entity": "ZR7", "active": "on"},
        follow=True,
    )
    page = response.content.decode()
    key = page.split("<code>")[1].split("</code>")[0]
    assert provider_authenticate(key=key) == Provider.objects.get(slug="nouveau")


def test_the_key_list_shows_prefixes_in_french_and_only_the_accounts_entities(
    client, zr7_staff, zr7_provider, mdl_provider
):
    provider_rotate_key(provider=zr7_provider)
    client.force_login(zr7_staff)
    page = client.get(reverse("admin:providers_providerapikey_changelist")).content.decode()
    assert "Révoquée" in page and "Préfixe" in page
    assert zr7_provider.api_key.partition(".")[0] in page
    assert mdl_provider.api_key.partition(".")[0] not in page
    active = client.get(reverse("admin:providers_providerapikey_changelist"), {"revoquee": "non"}).content.decode()
    assert zr7_provider.api_key.partition(".")[0] not in active


def test_the_admin_refuses_a_slug_taken_in_another_case(client, zr7_staff, mdl_staff, zr7_provider, mdl_provider):
    """Slugs are compared without case where they matter (the blacklist of sources): a
    « PROV-ZR7 » next to « prov-zr7 » was blacklisted with it, and told apart nowhere else."""
    client.force_login(zr7_staff)
    response = client.post(
        reverse("admin:providers_provider_add"),
        {"name": "Nouveau", "slug": "PROV-ZR7", "entity": "ZR7", "active": "on"},
    )
    assert response.status_code == 200
    assert "L&#x27;identifiant « prov-zr7 » existe déjà." in response.content.decode()
    assert Provider.objects.count() == 2

    client.force_login(mdl_staff)
    response = client.post(
        reverse("admin:providers_provider_change", args=[mdl_provider.pk]),
        {"name": "Provider MDL", "slug": "Prov-ZR7", "active": "on"},
    )
    assert response.status_code == 200
    assert "L&#x27;identifiant « prov-zr7 » existe déjà." in response.content.decode()
    assert Provider.objects.get(pk=mdl_provider.pk).slug == "prov-mdl"


def test_a_slug_typed_in_capitals_in_the_admin_is_stored_in_lower_case(client, zr7_staff):
    client.force_login(zr7_staff)
    client.post(reverse("admin:providers_provider_add"), {"name": "Nouveau", "slug": "Nouveau", "entity": "ZR7"})
    assert Provider.objects.get().slug == "nouveau"
