"""§2 on every write path, enumerated rather than picked: each registered admin (add,
change, delete and history views, each of its actions, its own URLs, the autocomplete and
popup lists), each back-office URL and each staff API method.

- A viewer changes nothing anywhere: the database is the same afterwards (every table,
  the audit log included).
- A ZR7 account (manager or account admin) neither opens nor changes an MDL object by any
  of those URLs, even with the MDL object's id typed in the URL or posted in a form or in
  `_selected_action`.

A new admin, action, custom URL or page is covered without touching this file; one that
needs a payload of its own fails `test_every_url_is_classified` until it is given one.
"""

import hashlib
import json

import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import RequestFactory
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone
from rest_framework.test import APIClient

from commandes.models import Attribution, Rejection
from leads.models import LeadForm, TrackingEvent
from media_library.tests.samples import image_bytes
from providers.services import provider_create
from rdz.core.forms import SettingsForm
from rdz.core.models import OutboxItem
from rdz.core.scoping import entity_field
from rdz.core.services import circuit_record_failure, settings_get, settings_update
from routing.models import CrmAttempt
from tests.factories import (
    AlertFactory,
    AttributionFactory,
    ClientFactory,
    CommandeFactory,
    DeliveryBatchFactory,
    HttpDeliveryAttemptFactory,
    LeadFactory,
    LeadFormFactory,
    MediaAssetFactory,
    OppositionEntryFactory,
    RejectionFactory,
    StaffProfileFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

DEFAULT_ADMIN_VIEWS = ("changelist", "add", "history", "delete", "change")
# Rows a request may write without changing data: the session, the daily counts that the
# statistics pages bring up to date when they read them.
NOT_DATA = {"sessions.Session", "leads.DailyRollup"}


def _snapshot() -> dict[str, str]:
    state = {}
    for model in apps.get_models(include_auto_created=True):
        if model._meta.proxy or model._meta.label in NOT_DATA:
            continue
        rows = list(model._base_manager.order_by("pk").values_list())
        state[model._meta.label] = hashlib.sha256(repr(rows).encode()).hexdigest()
    return state


def _changed(before: dict[str, str]) -> list[str]:
    after = _snapshot()
    return sorted(label for label in after if after[label] != before.get(label))


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    # Six accounts per test: the production hasher would be most of this file's time.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def world(settings, tmp_path, product, zr7_viewer, zr7_staff, mdl_staff, superuser):
    """Rows of every admin's model in both entities (a delivered, batched lead with its CSV,
    a pending rejection, a form with its tracking, CRM and HTTP attempts, an open breaker,
    alert and outbox row, images, audits), the shared rows, and the ZR7 accounts."""
    settings.DELIVERY_ROOT = tmp_path / "deliveries"
    settings_update(user=None, changes={"alert_recipients_zr7": ["a@zr7.test"], "alert_recipients_mdl": ["a@mdl.test"]})
    for entity in ("ZR7", "MDL"):
        provider, _ = provider_create(name=f"Provider-{entity}", entity=entity)
        client = ClientFactory(entity=entity, name=f"Client-{entity}", api_url="https://crm.exemple.fr/leads")
        commande = CommandeFactory(client=client, product=product, name=f"Commande-{entity}")
        form = LeadFormFactory(entity=entity, product=product)
        batch = DeliveryBatchFactory(client=client, status="sent", count=2)
        batch.file.save(f"lot-{entity}.csv", ContentFile(b"\xef\xbb\xbfid;nom\r\n"))
        for origin in ({"provider": provider, "entity_locked": True}, {"form": form}):
            lead = LeadFactory(entity=entity, product=product, status="delivered", **origin)
            attribution = AttributionFactory(
                lead=lead, commande=commande, status="delivered", delivered_at=timezone.now(), batch=batch
            )
            CrmAttempt.objects.create(lead=lead, crm=entity, phase="primary", attempt=1, url="x", outcome="sent")
        RejectionFactory(attribution=attribution, entity=entity, status="pending", source="client")
        HttpDeliveryAttemptFactory(attribution=attribution)
        TrackingEvent.objects.create(form=form, event="visit", visitor_id="v1")
        for _ in range(10):
            circuit_record_failure(name=f"crm:{entity}", entity=entity, error="HTTP 500")
        AlertFactory(entity=entity, message=f"Alerte-{entity}")
        OutboxItem.objects.create(kind="crm", ref=str(lead.pk), entity=entity)
        MediaAssetFactory(entity=entity, title=f"Image-{entity}")
    MediaAssetFactory(entity="SHARED", title="Image partagée")
    OppositionEntryFactory()
    zr7_admin = StaffProfileFactory(user=UserFactory(username="zr7-account-admin"), scope="ZR7", role="admin").user
    mdl_admin = StaffProfileFactory(user=UserFactory(username="mdl-account-admin"), scope="MDL", role="admin").user
    return {
        "viewer": zr7_viewer,
        "manager": zr7_staff,
        "admin": zr7_admin,
        "superuser": superuser,
        "users": {"ZR7": zr7_staff, "MDL": mdl_admin},
        "mdl_users": [mdl_staff, mdl_admin],
    }


# --- The admin ---------------------------------------------------------------------------------
def _admin_url(model, view: str, *args) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def _entity_rows(model, model_admin, superuser, entity: str | None) -> list:
    """Rows of `model` in `entity` (every row for models without an entity), as the admin lists them."""
    request = RequestFactory().get("/")
    request.user = superuser
    qs = model_admin.get_queryset(request)
    if entity is not None and hasattr(model, "ENTITY_FIELD"):
        qs = qs.filter(**{entity_field(model): entity})
    elif entity == "MDL" and model._meta.label == "auth.User":
        qs = qs.filter(staff_profile__scope="MDL")
    elif entity == "MDL":
        return []
    return list(qs.order_by("pk")[:2])


def _actions(model_admin, superuser) -> list[str]:
    """Every action of the admin, as a superuser is offered them (delete_selected included)."""
    request = RequestFactory().get("/")
    request.user = superuser
    return sorted(set(model_admin.get_actions(request)) | {"delete_selected"})


def _custom_urls(model_admin) -> list[URLPattern]:
    prefix = f"{model_admin.model._meta.app_label}_{model_admin.model._meta.model_name}_"
    return [p for p in model_admin.get_urls() if p.name and p.name.removeprefix(prefix) not in DEFAULT_ADMIN_VIEWS]


def _custom_url(pattern: URLPattern, pk) -> str:
    args = [pk] if pattern.pattern.converters else []
    return reverse(f"admin:{pattern.name}", args=args)


def _admin_write_attempts(client, model, model_admin, superuser, objects) -> list[tuple[str, int]]:
    """Every write the admin of `model` offers, aimed at `objects`; (what, status) of each."""
    done = []
    pks = [str(obj.pk) for obj in objects]
    done.append(("add", client.post(_admin_url(model, "add"), {}).status_code))
    for obj in objects:
        done.append(("change", client.post(_admin_url(model, "change", obj.pk), {"name": "piraté"}).status_code))
        done.append(("delete", client.post(_admin_url(model, "delete", obj.pk), {"post": "yes"}).status_code))
    if pks:
        for action in _actions(model_admin, superuser):
            data = {"action": action, ACTION_CHECKBOX_NAME: pks, "post": "yes", "index": 0}
            done.append((f"action {action}", client.post(_admin_url(model, "changelist"), data).status_code))
    for pattern in _custom_urls(model_admin):
        for pk in pks or [1]:
            url = _custom_url(pattern, pk)
            data = {"new_key": "k" * 40, "new_key_again": "k" * 40, "reason": "piraté", "source": "x"}
            done.append((f"{pattern.name} POST", client.post(url, data).status_code))
    return done


def test_a_viewer_changes_nothing_through_any_admin(client, world):
    superuser = world["superuser"]
    client.force_login(world["viewer"])
    before = _snapshot()
    for model, model_admin in admin.site._registry.items():
        objects = _entity_rows(model, model_admin, superuser, "ZR7")
        for what, status in _admin_write_attempts(client, model, model_admin, superuser, objects):
            assert status < 500, (model._meta.label, what, status)
            if what in ("add", "change", "delete"):
                assert status == 403, (model._meta.label, what, status)
        assert _changed(before) == [], model._meta.label


@pytest.mark.parametrize("who", ["manager", "admin"])
def test_a_zr7_account_neither_opens_nor_changes_an_mdl_object_through_any_admin(client, world, who):
    superuser = world["superuser"]
    client.force_login(world[who])
    before = _snapshot()
    for model, model_admin in admin.site._registry.items():
        objects = _entity_rows(model, model_admin, superuser, "MDL")
        label = model._meta.label
        for obj in objects:
            for view in ("change", "history", "delete"):
                assert client.get(_admin_url(model, view, obj.pk)).status_code in (302, 403, 404), (label, view)
            for pattern in [p for p in _custom_urls(model_admin) if p.pattern.converters]:
                response = client.get(_custom_url(pattern, obj.pk))
                assert response.status_code in (302, 403, 404), (label, pattern.name, response.status_code)
        for what, status in _admin_write_attempts(client, model, model_admin, superuser, objects):
            assert status < 500, (label, what, status)
        assert _changed(before) == [], label


@pytest.mark.parametrize("who", ["manager", "admin"])
def test_a_zr7_account_changes_no_shared_row_through_any_admin(client, world, who):
    """Shared rows (media) are the other entity's too: an account of one entity reads them only."""
    superuser = world["superuser"]
    client.force_login(world[who])
    before = _snapshot()
    tried = []
    for model, model_admin in admin.site._registry.items():
        shared = getattr(model, "ENTITY_SHARED_VALUE", None)
        if not shared:
            continue
        objects = _entity_rows(model, model_admin, superuser, shared)
        tried += objects
        for what, status in _admin_write_attempts(client, model, model_admin, superuser, objects):
            assert status < 500, (model._meta.label, what, status)
        assert _changed(before) == [], model._meta.label
    assert tried


def _not_zr7(model):
    """Rows a ZR7-only account must never be shown."""
    if model._meta.label == "auth.User":
        return model.objects.exclude(is_superuser=False, staff_profile__scope="ZR7")
    if hasattr(model, "ENTITY_FIELD"):
        return model._default_manager.exclude(**{entity_field(model): "ZR7"})
    return model._default_manager.none()


def _mdl_change_urls(superuser) -> dict[str, list[str]]:
    urls = {}
    for model, model_admin in admin.site._registry.items():
        objects = _entity_rows(model, model_admin, superuser, "MDL")
        urls[model._meta.label] = [_admin_url(model, "change", obj.pk) for obj in objects]
    return urls


@pytest.mark.parametrize("who", ["viewer", "manager", "admin"])
def test_no_admin_list_popup_nor_autocomplete_names_an_mdl_object_to_a_zr7_account(client, world, who):
    client.force_login(world[who])
    mdl_urls = _mdl_change_urls(world["superuser"])
    leaks = []
    for model in admin.site._registry:
        for params in ({}, {"_popup": "1", "_to_field": "id"}):
            response = client.get(_admin_url(model, "changelist"), params, follow=True)
            if response.status_code != 200:
                continue
            page = response.content.decode()
            leaks += [(model._meta.label, url) for urls in mdl_urls.values() for url in urls if url in page]
        # The autocomplete of every relation: refused, or only rows of the account's entity.
        for field in model._meta.get_fields():
            if not (field.is_relation and field.concrete):
                continue
            response = client.get(
                reverse("admin:autocomplete"),
                {"app_label": model._meta.app_label, "model_name": model._meta.model_name, "field_name": field.name},
            )
            if response.status_code in (403, 404):
                continue
            assert response.status_code == 200, (model._meta.label, field.name, response.status_code)
            found = {row["id"] for row in response.json()["results"]}
            foreign = {str(pk) for pk in _not_zr7(field.related_model).values_list("pk", flat=True)}
            leaks += [(model._meta.label, field.name, pk) for pk in found & foreign]
    assert leaks == []


# --- Back-office pages and staff APIs ----------------------------------------------------------
def _walk(patterns, prefix=""):
    for p in patterns:
        if isinstance(p, URLResolver):
            yield from _walk(p.url_patterns, prefix + str(p.pattern))
        else:
            yield prefix + str(p.pattern), p


def _site_urls() -> list[tuple[str, URLPattern]]:
    """Every URL outside the admin (which the tests above enumerate from its registry)."""
    return [(route, p) for route, p in _walk(get_resolver().url_patterns) if not route.startswith("admin/")]


# Not staff pages: login, the providers' and landing pages' public API (keys, CORS), static files.
PUBLIC = {
    "login",
    "logout",
    "backoffice-entity",  # the switcher: a session choice, checked against the account's entities
    "api-lead-create",
    "api-lead-detail",
    "api-form-submit",
    "api-track",
    "tracking-script",
    "rejection-public",  # the client's signed link
    "api-schema",
    "api-docs",
    "media-file",  # public image URLs, by design (§13)
    None,  # favicon, static files in DEBUG
}


# Pages that take a POST without changing anything (the database check covers them).
READ_ONLY_POST = {"media_library:list"}


def _targets(entity: str, world) -> dict:
    """The ids a page reads from its URL or its form, all pointing at `entity`'s rows."""
    return {
        "lead": Attribution.objects.filter(entity=entity, status="delivered").first().lead,
        "attribution": Attribution.objects.filter(entity=entity, status="delivered").first(),
        "alert": AlertFactory._meta.model.objects.filter(entity=entity).first(),
        "client": Attribution.objects.filter(entity=entity).first().client,
        "commande": Attribution.objects.filter(entity=entity).first().commande,
        "batch": Attribution.objects.filter(entity=entity, batch__isnull=False).first().batch,
        "rejection": Rejection.objects.filter(entity=entity, status="pending").first(),
        "form": LeadForm.objects.filter(entity=entity).first(),
        "asset": apps.get_model("media_library", "MediaAsset").objects.filter(entity=entity).first(),
        "account": world["users"][entity],
    }


def _settings_payload(entity: str) -> dict:
    """The Paramètres form as it stands, with the other entity's fields rewritten."""
    form = SettingsForm(instance=settings_get())
    data = {}
    for bound in form:
        value = bound.value()
        if isinstance(value, bool):
            if value:
                data[bound.name] = "on"
        elif value is not None:
            data[bound.name] = value
    suffix = entity.lower()
    data[f"alert_recipients_{suffix}"] = '["pirate@exemple.fr"]'
    data[f"fallback_crm_key_{suffix}"] = "cle-piratee"
    return data


def _page_request(name: str, t: dict) -> tuple[str, dict]:
    """(url, POST data) aimed at the objects of `t`."""
    args = {
        "backoffice-lead": [t["lead"].pk],
        "backoffice-account-edit": [t["account"].pk],
        "backoffice-delivery-csv": [t["batch"].pk],
        "media_library:detail": [t["asset"].pk],
        "media_library:delete": [t["asset"].pk],
        "api-form-stats": [t["form"].code],
        "api-form-detail": [t["form"].code],
        "api-media-detail": [t["asset"].pk],
    }.get(name, [])
    data = {
        "alert": t["alert"].pk,
        "client": t["client"].pk,
        "commande": t["commande"].pk,
        "active": "0",
        "batch": t["batch"].pk,
        "rejection": t["rejection"].pk,
        "decision": "approve",
        "attribution": t["attribution"].pk,
        "reason": "wrong_number",
        "comment": "piraté",
        "title": "piraté",
        "alt_text": "piraté",
        "tags": "piraté",
        "username": "intrus",
        "scope": t["account"].staff_profile.scope,
        "role": "admin",
        "password1": "Un-mot-de-passe-2026!",
        "password2": "Un-mot-de-passe-2026!",
        "entity": t["lead"].entity,
    }
    if name == "backoffice-settings":
        data = _settings_payload(t["lead"].entity)
    return reverse(name, args=args), data


def _url_name(route: str, pattern: URLPattern) -> str | None:
    if pattern.name is None:
        return None
    if route.startswith("medias/"):
        return f"media_library:{pattern.name}"
    return pattern.name


def test_every_url_is_classified(world):
    """A new page must be reachable by the tests below (or be declared public here)."""
    t = _targets("MDL", world)
    for route, pattern in _site_urls():
        name = _url_name(route, pattern)
        if name in PUBLIC:
            continue
        _page_request(name, t)  # raises NoReverseMatch for a page whose arguments are unknown


def _write_everywhere(client, api: APIClient, t: dict) -> list[tuple[str, str, int]]:
    done = []
    for route, pattern in _site_urls():
        name = _url_name(route, pattern)
        if name in PUBLIC:
            continue
        url, data = _page_request(name, t)
        if route.startswith("api/"):
            for method in ("post", "put", "patch", "delete"):
                body = {"name": "piraté", "active": False, "allowed_origins": ["https://pirate.fr"]}
                body["crm_api_key"] = "cle-piratee"
                status = getattr(api, method)(url, body, format="json").status_code
                done.append((name, method, status))
        else:
            if name == "media_library:upload":
                data = {**data, "files": SimpleUploadedFile("x.png", image_bytes(), content_type="image/png")}
            done.append((name, "post", client.post(url, data).status_code))
    return done


def test_a_viewer_changes_nothing_through_any_page_or_staff_api(client, world):
    viewer = world["viewer"]
    client.force_login(viewer)
    api = APIClient()
    api.force_login(viewer)
    before = _snapshot()
    for name, method, status in _write_everywhere(client, api, _targets("ZR7", world)):
        assert status in (403, 405) or name in READ_ONLY_POST, (name, method, status)
    assert _changed(before) == []


@pytest.mark.parametrize("who", ["manager", "admin"])
def test_a_zr7_account_neither_opens_nor_changes_mdl_data_through_any_page_or_staff_api(client, world, who):
    user = world[who]
    client.force_login(user)
    api = APIClient()
    api.force_login(user)
    t = _targets("MDL", world)
    before = _snapshot()
    done = _write_everywhere(client, api, t)
    assert _changed(before) == []
    for name, method, status in done:
        assert status < 500, (name, method, status)
    # Pages about one MDL object do not open either.
    for route, pattern in _site_urls():
        name = _url_name(route, pattern)
        if name in PUBLIC or not pattern.pattern.converters:
            continue
        url, _ = _page_request(name, t)
        status = (api if route.startswith("api/") else client).get(url).status_code
        assert status in (403, 404), (name, status)
    body = b"".join(client.get(reverse("backoffice-leads-export")).streaming_content).decode("utf-8-sig")
    assert str(t["lead"].pk) not in body
    assert client.get(reverse("admin:commandes_deliverybatch_download", args=[t["batch"].pk])).status_code == 404
    assert json.dumps(api.get(reverse("api-media-list")).json()).find(t["asset"].title) == -1


MDL_MARKERS = ["Client-MDL", "Commande-MDL", "Provider-MDL", "provider-mdl", "Alerte-MDL", "Image-MDL", "a@mdl.test"]


@pytest.mark.parametrize("who", ["viewer", "admin"])
def test_no_page_of_a_zr7_account_shows_mdl_data_nor_writes_on_a_get(client, world, who):
    superuser = world["superuser"]
    client.force_login(world[who])
    api = APIClient()
    api.force_login(world[who])
    before = _snapshot()
    seen = []
    for model, model_admin in admin.site._registry.items():
        urls = [_admin_url(model, "changelist"), _admin_url(model, "add")]
        for obj in _entity_rows(model, model_admin, superuser, "ZR7"):
            urls += [_admin_url(model, view, obj.pk) for view in ("change", "history", "delete")]
            urls += [_custom_url(p, obj.pk) for p in _custom_urls(model_admin)]
        for url in urls:
            response = client.get(url)
            if response.status_code == 200 and not response.streaming:
                seen.append((url, response.content.decode()))
    t = _targets("ZR7", world)
    for route, pattern in _site_urls():
        name = _url_name(route, pattern)
        if name in PUBLIC:
            continue
        url, _ = _page_request(name, t)
        response = (api if route.startswith("api/") else client).get(url)
        assert response.status_code < 500, url
        if response.status_code == 200:
            body = b"".join(response.streaming_content) if response.streaming else response.content
            seen.append((url, body.decode("utf-8-sig")))
    assert _changed(before) == []
    leaks = [(url, marker) for url, text in seen for marker in MDL_MARKERS if marker in text]
    assert leaks == []
