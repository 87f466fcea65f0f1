"""Named fixtures shared by every test (see tests/factories.py for the factories)."""

import socket

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from providers.services import provider_create
from tests.factories import ProductFactory, StaffProfileFactory, UserFactory

# Real outside parts, reusable by every test: `smtp_server` / `entity_smtp` (aiosmtpd),
# `http_endpoint` (a local HTTP server), `celery_worker` (a worker subprocess).
pytest_plugins = ["tests.smtp", "tests.http_endpoint", "tests.celery_worker"]


@pytest.fixture(autouse=True)
def _clear_cache():
    # Throttle counters and circuit caches must not leak between tests, nor the
    # per-process caches of products and public forms (a rolled-back test's rows).
    from leads.apps import intake_caches_clear

    cache.clear()
    intake_caches_clear()
    yield
    cache.clear()
    intake_caches_clear()


@pytest.fixture(autouse=True)
def _files_root(settings, tmp_path_factory):
    # What RDZ writes or rewrites on disk (uploads, stored batches, e-mails of the file
    # backend, import reports, which an RGPD erasure redacts) goes to fresh folders, never
    # to the checkout's var/, which the embedded default uses.
    settings.MEDIA_ROOT = str(tmp_path_factory.mktemp("media"))
    var = tmp_path_factory.mktemp("var")
    settings.VAR_DIR = var
    settings.DELIVERY_ROOT = var / "deliveries"
    settings.EMAIL_FILE_PATH = str(var / "mails")


@pytest.fixture
def demo_data(settings, tmp_path):
    """Runs `demo_data` (small): its deliveries go to memory and to a temporary folder.
    Returns what it printed."""
    import io

    from django.core.management import call_command

    settings.ENTITY_EMAIL = {
        entity: {"EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend", "FROM": f"{entity.lower()}@rdz.test"}
        for entity in ("ZR7", "MDL")
    }
    settings.DELIVERY_ROOT = tmp_path / "deliveries"
    out = io.StringIO()
    call_command("demo_data", leads=40, days=10, stdout=out)
    return out.getvalue()


@pytest.fixture
def api_client():
    return APIClient()


@pytest.fixture
def product(db):
    return ProductFactory(code="PV")


@pytest.fixture
def zr7_provider(db):
    provider, key = provider_create(name="Provider ZR7", entity="ZR7", slug="prov-zr7")
    provider.api_key = key
    return provider


@pytest.fixture
def mdl_provider(db):
    provider, key = provider_create(name="Provider MDL", entity="MDL", slug="prov-mdl")
    provider.api_key = key
    return provider


@pytest.fixture
def zr7_staff(db):
    return StaffProfileFactory(user=UserFactory(username="zr7-staff"), scope="ZR7", role="manager").user


@pytest.fixture
def mdl_staff(db):
    return StaffProfileFactory(user=UserFactory(username="mdl-staff"), scope="MDL", role="manager").user


@pytest.fixture
def both_staff(db):
    return StaffProfileFactory(user=UserFactory(username="both-staff"), scope="BOTH", role="manager").user


@pytest.fixture
def zr7_viewer(db):
    return StaffProfileFactory(user=UserFactory(username="zr7-viewer"), scope="ZR7", role="viewer").user


@pytest.fixture
def superuser(db):
    return UserFactory(username="root-admin", is_superuser=True)


@pytest.fixture(params=["refused", "silent"])
def unavailable_redis(request):
    """A Redis address that refuses connections (down), or accepts them and never answers
    (hung, half-open path: the kernel completes connections nobody reads)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    port = server.getsockname()[1]
    if request.param == "refused":
        server.close()
    else:
        server.listen(50)
    yield f"redis://127.0.0.1:{port}/0"
    server.close()
