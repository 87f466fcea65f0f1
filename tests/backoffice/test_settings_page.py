"""Paramètres (§8): a French form with validation, every change audited and shown."""

import datetime
import json
from html.parser import HTMLParser

import pytest
from django.test import Client
from django.urls import reverse

from rdz.core.models import AppSettings, SettingsAudit
from rdz.core.services import settings_get, settings_update

pytestmark = pytest.mark.django_db


def _form_data(**changes) -> dict:
    current = settings_get()
    data = {
        "cross_entity_enabled": "on" if current.cross_entity_enabled else "",
        "cross_entity_zr7_to_mdl": "on" if current.cross_entity_zr7_to_mdl else "",
        "cross_entity_mdl_to_zr7": "on" if current.cross_entity_mdl_to_zr7 else "",
        "blacklisted_sources": "\n".join(current.blacklisted_sources),
        "daily_delivery_time": current.daily_delivery_time.strftime("%H:%M"),
        "backlog_age_days": current.backlog_age_days,
        "rejection_window_days": current.rejection_window_days,
        "rejection_ceiling_percent": current.rejection_ceiling_percent,
        "alert_recipients_zr7": "\n".join(current.alert_recipients_zr7),
        "alert_recipients_mdl": "\n".join(current.alert_recipients_mdl),
        "alert_silence_hours": current.alert_silence_hours,
        "alert_crm_failure_threshold": current.alert_crm_failure_threshold,
        "circuit_failure_threshold": current.circuit_failure_threshold,
        "fallback_crm_key_zr7": "",
        "fallback_crm_key_mdl": "",
        "retention_years": current.retention_years,
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v != ""}


def test_an_admin_changes_settings_and_each_change_is_audited_and_shown(client, both_admin):
    client.force_login(both_admin)
    response = client.post(
        "/parametres/",
        _form_data(
            blacklisted_sources="spam-source\n  autre-source \n",
            daily_delivery_time="10:15",
            alert_recipients_zr7="Alertes@ZR7.fr, ops@zr7.fr",
            fallback_crm_key_mdl="cle-secrete-mdl",
        ),
    )
    assert response.status_code == 302
    current = settings_get()
    assert current.blacklisted_sources == ["spam-source", "autre-source"]
    assert current.daily_delivery_time.strftime("%H:%M") == "10:15"
    assert current.alert_recipients_zr7 == ["alertes@zr7.fr", "ops@zr7.fr"]
    assert current.fallback_crm_key_mdl == "cle-secrete-mdl"
    audits = {a.field: a for a in SettingsAudit.objects.all()}
    assert set(audits) == {"blacklisted_sources", "daily_delivery_time", "alert_recipients_zr7", "fallback_crm_key_mdl"}
    assert audits["daily_delivery_time"].old_value == "09:30"
    assert audits["daily_delivery_time"].changed_by == both_admin
    assert audits["fallback_crm_key_mdl"].new_value == "••••"  # secrets never appear in the audit
    page = client.get("/parametres/").content.decode()
    # The history names each setting as the form does, not by its column.
    assert "<td>Heure d&#x27;envoi quotidien</td>" in page and "10:15" in page
    assert "daily_delivery_time" not in page.split("Historique des modifications")[1]
    assert "cle-secrete-mdl" not in page


def test_a_blank_crm_key_keeps_the_stored_one(client, both_admin):
    from rdz.core.services import settings_update

    settings_update(user=None, changes={"fallback_crm_key_zr7": "cle-zr7"})
    client.force_login(both_admin)
    client.post("/parametres/", _form_data(backlog_age_days=12))
    assert settings_get().fallback_crm_key_zr7 == "cle-zr7"
    assert settings_get().backlog_age_days == 12


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("alert_recipients_mdl", "pas-un-email", "Adresse e-mail invalide : pas-un-email"),
        ("daily_delivery_time", "25:99", "Saisissez une heure valide."),
        ("daily_delivery_time", "09:30:59", "se règle à la minute près : saisissez"),
        ("backlog_age_days", "0", "supérieure ou égale à 1"),
        ("rejection_ceiling_percent", "150", "inférieure ou égale à 100"),
        ("alert_silence_hours", "2147483647", "inférieure ou égale à 8760"),
        ("circuit_failure_threshold", "99999999999999999999", "inférieure ou égale à 1000"),
        ("alert_crm_failure_threshold", "100001", "inférieure ou égale à 100000"),
        ("blacklisted_sources", "fb\x00", "Caractère non autorisé (U+0000)."),
        ("alert_recipients_zr7", "a\x00@exemple.fr", "Caractère non autorisé (U+0000)."),
    ],
)
def test_invalid_settings_are_refused_with_a_french_message_and_nothing_saved(
    client, both_admin, field, value, message
):
    client.force_login(both_admin)
    before = settings_get()
    # A valid change rides along: an invalid field must block the whole form.
    response = client.post("/parametres/", _form_data(**{"backlog_age_days": 5, field: value}))
    assert response.status_code == 400
    assert message in response.content.decode()
    assert SettingsAudit.objects.count() == 0
    assert settings_get().backlog_age_days == before.backlog_age_days


def test_a_delivery_time_typed_with_zero_seconds_is_the_minute(client, both_admin):
    client.force_login(both_admin)
    assert client.post("/parametres/", _form_data(daily_delivery_time="10:15:00")).status_code == 302
    assert settings_get().daily_delivery_time == datetime.time(10, 15)


def test_no_path_stores_a_delivery_time_with_seconds_that_the_schedule_would_ignore():
    """The crontab runs at the minute: « 09:30:59 » was stored and shown, the e-mail left at 09:30."""
    from django.core.exceptions import ValidationError

    from rdz.core.services import settings_update

    with pytest.raises(ValidationError) as refused:
        settings_update(user=None, changes={"daily_delivery_time": datetime.time(9, 30, 59)})
    assert "daily_delivery_time" in refused.value.message_dict
    assert settings_get().daily_delivery_time == datetime.time(9, 30)


def test_a_manager_reads_the_settings_but_cannot_change_them(client, zr7_staff):
    client.force_login(zr7_staff)
    assert client.get("/parametres/").status_code == 200
    assert client.post("/parametres/", _form_data(backlog_age_days=3)).status_code == 403
    assert SettingsAudit.objects.count() == 0


def test_a_single_entity_admin_only_changes_the_settings_of_its_entity(client, zr7_admin):
    client.force_login(zr7_admin)
    response = client.post(
        "/parametres/",
        _form_data(alert_recipients_zr7="zr7@exemple.fr", alert_recipients_mdl="intrus@exemple.fr", backlog_age_days=2),
    )
    assert response.status_code == 302
    current = settings_get()
    assert current.alert_recipients_zr7 == ["zr7@exemple.fr"]
    assert current.alert_recipients_mdl == []  # MDL's own setting: disabled for a ZR7 admin
    assert current.backlog_age_days == 30  # global setting: only an admin of both entities
    assert set(SettingsAudit.objects.values_list("field", flat=True)) == {"alert_recipients_zr7"}


@pytest.mark.parametrize("account", ["zr7_staff", "zr7_admin"])
def test_a_zr7_account_never_sees_the_mdl_alert_recipients_nor_their_history(client, request, account):
    from rdz.core.services import settings_update

    settings_update(user=None, changes={"alert_recipients_mdl": ["equipe@mdl.fr"], "fallback_crm_key_mdl": "cle-mdl"})
    settings_update(user=None, changes={"alert_recipients_zr7": ["equipe@zr7.fr"]})
    client.force_login(request.getfixturevalue(account))
    for url in ("/parametres/", "/admin/core/appsettings/1/change/", "/admin/core/settingsaudit/"):
        response = client.get(url)
        assert response.status_code == 200
        page = response.content.decode()
        assert "equipe@mdl.fr" not in page, url
        assert "alertes mdl" not in page.lower() and "clé crm mdl" not in page.lower(), url
        assert "equipe@zr7.fr" in page, url


def test_an_account_of_both_entities_sees_the_settings_of_both(client, both_admin):
    from rdz.core.services import settings_update

    settings_update(user=None, changes={"alert_recipients_mdl": ["equipe@mdl.fr"]})
    client.force_login(both_admin)
    page = client.get("/parametres/").content.decode()
    assert page.count("equipe@mdl.fr") == 3  # the field, its value as read and its history
    assert "Clé CRM MDL de repli" in page


def test_the_cross_entity_settings_and_their_history_read_in_french(client, both_admin):
    client.force_login(both_admin)
    client.post("/parametres/", _form_data(cross_entity_mdl_to_zr7=""))
    page = client.get("/parametres/").content.decode()
    for label in ("Repli inter-entités activé", "Repli ZR7 → MDL", "Repli MDL → ZR7"):
        assert label in page
    assert "Fallback" not in page
    assert SettingsAudit.objects.get().field_label == "Repli MDL → ZR7"


def test_the_number_fields_offer_the_bounds_the_server_accepts(client, both_admin):
    """The browser's own hint (« ≥ 0 ») must not promise a value the server then refuses."""
    client.force_login(both_admin)
    page = client.get("/parametres/").content.decode()
    assert 'name="backlog_age_days" value="30" min="1" max="365"' in page
    assert 'name="rejection_window_days" value="7" min="0" max="90"' in page
    assert 'name="retention_years" value="3" min="1" max="10"' in page


def _admin_form_data(**changes) -> dict:
    """The settings record as the Django admin posts it: lists typed as JSON, each with the
    hidden copy of its initial value the page carries."""
    data = _form_data(**changes)
    for name in ("blacklisted_sources", "alert_recipients_zr7", "alert_recipients_mdl"):
        data[f"initial-{name}"] = json.dumps(getattr(settings_get(), name))
        data[name] = changes.get(name, data[f"initial-{name}"])
    return {k: v for k, v in data.items() if not k.startswith("fallback_crm_key")}


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("blacklisted_sources", "-1", "Une liste de textes est attendue"),
        ("blacklisted_sources", '{"a": 1}', "Une liste de textes est attendue"),
        ("blacklisted_sources", "1e400", "Une liste de textes est attendue"),
        ("blacklisted_sources", "NaN", "Une liste de textes est attendue"),
        ("blacklisted_sources", '["ok", 3]', "Une liste de textes est attendue"),
        ("alert_recipients_zr7", '"alertes@zr7.fr"', "Une liste de textes est attendue"),
        ("alert_recipients_mdl", '["pas-un-email"]', "Adresse e-mail invalide : pas-un-email"),
        ("alert_recipients_mdl", '["\\u0000"]', "Caractère non autorisé (U+0000)."),
    ],
)
def test_the_settings_admin_refuses_lists_that_routing_and_alerts_cannot_read(client, superuser, field, value, message):
    url = reverse("admin:core_appsettings_change", args=[AppSettings.SINGLETON_ID])
    client.force_login(superuser)
    before = settings_get()

    response = client.post(url, _admin_form_data(**{"backlog_age_days": 5, field: value}))

    assert response.status_code == 200
    assert message in " ".join(response.context["adminform"].form.errors[field])
    assert SettingsAudit.objects.count() == 0
    assert settings_get().backlog_age_days == before.backlog_age_days


def test_an_emptied_list_in_the_settings_admin_means_none(client, superuser):
    settings_update(user=None, changes={"blacklisted_sources": ["spam"], "alert_recipients_zr7": ["a@zr7.fr"]})
    client.force_login(superuser)
    url = reverse("admin:core_appsettings_change", args=[AppSettings.SINGLETON_ID])

    data = _admin_form_data(blacklisted_sources="", alert_recipients_zr7="null", alert_recipients_mdl='[" B@MDL.fr "]')
    response = client.post(url, data)

    assert response.status_code == 302
    current = settings_get()
    assert (current.blacklisted_sources, current.alert_recipients_zr7) == ([], [])
    assert current.alert_recipients_mdl == ["b@mdl.fr"]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"blacklisted_sources": ["ok", 3]}, "Une liste de textes est attendue"),
        ({"blacklisted_sources": "leadmax"}, "Une liste de textes est attendue"),
        ({"alert_recipients_zr7": ["pas-un-email"]}, "Adresse e-mail invalide : pas-un-email"),
    ],
)
def test_the_settings_record_refuses_lists_that_routing_and_alerts_cannot_read_on_every_path(changes, message):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as refused:
        settings_update(user=None, changes=changes)
    assert message in str(refused.value)
    assert SettingsAudit.objects.count() == 0
    assert settings_get().blacklisted_sources == [] and settings_get().alert_recipients_zr7 == []


def test_the_history_still_names_who_changed_a_setting_after_the_account_is_deleted(client, both_admin, superuser):
    """The account's row went with it: the change read « système » on the page, as if no
    one had made it, and the admin's history showed no author."""
    client.force_login(both_admin)
    assert client.post("/parametres/", _form_data(backlog_age_days="45")).status_code == 302
    both_admin.delete()
    client.force_login(superuser)

    page = client.get("/parametres/").content.decode()
    history = page.split("Historique des modifications")[1]
    admin_list = client.get(reverse("admin:core_settingsaudit_changelist")).content.decode()

    assert "<td>both-admin</td>" in history and "système" not in history
    assert "both-admin" in admin_list


class _FormReader(HTMLParser):
    """What a browser posts back from the page's form, unchanged."""

    def __init__(self):
        super().__init__()
        self.data: dict[str, str] = {}
        self._textarea: str | None = None
        self._select: str | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "input" and a.get("name") and "disabled" not in a:
            if a.get("type") == "checkbox":
                if "checked" in a:
                    self.data[a["name"]] = a.get("value", "on")
            elif a.get("type") != "submit":
                self.data[a["name"]] = a.get("value") or ""
        elif tag == "textarea" and "disabled" not in a:
            self._textarea = a.get("name")
            self.data[self._textarea] = ""
        elif tag == "select" and "disabled" not in a:
            self._select = a.get("name")
        elif tag == "option" and self._select and "selected" in a:
            self.data[self._select] = a.get("value", "")

    def handle_endtag(self, tag):
        if tag == "textarea":
            self._textarea = None
        elif tag == "select":
            self._select = None

    def handle_data(self, data):
        if self._textarea:
            self.data[self._textarea] += data.removeprefix("\n") if not self.data[self._textarea] else data


def _page_form(client, url: str = "/parametres/") -> dict[str, str]:
    reader = _FormReader()
    reader.feed(client.get(url).content.decode())
    return reader.data


def test_saving_the_page_keeps_what_another_admin_changed_since_it_was_opened(client, both_admin, zr7_admin):
    """The form sent back every setting as it was when the page was read: saving one change
    put back the older value of every setting another admin had changed in between, and the
    history said this account had changed them."""
    client.force_login(both_admin)
    opened = _page_form(client)
    other = Client()
    other.force_login(zr7_admin)
    assert other.post("/parametres/", _form_data(alert_recipients_zr7="astreinte@zr7.fr")).status_code == 302

    assert client.post("/parametres/", {**opened, "backlog_age_days": "45"}).status_code == 302

    current = settings_get()
    assert current.alert_recipients_zr7 == ["astreinte@zr7.fr"]
    assert current.backlog_age_days == 45
    assert list(SettingsAudit.objects.filter(changed_by=both_admin).values_list("field", flat=True)) == [
        "backlog_age_days"
    ]


def test_the_page_as_read_saves_nothing_and_a_setting_changed_on_it_is_saved(client, both_admin):
    settings_update(user=None, changes={"alert_recipients_zr7": ["a@zr7.fr", "b@zr7.fr"], "blacklisted_sources": ["x"]})
    client.force_login(both_admin)

    assert client.post("/parametres/", _page_form(client)).status_code == 302
    assert not SettingsAudit.objects.filter(changed_by=both_admin).exists()

    changed = {**_page_form(client), "alert_recipients_zr7": "a@zr7.fr", "cross_entity_enabled": ""}
    assert client.post("/parametres/", {k: v for k, v in changed.items() if v != ""}).status_code == 302
    current = settings_get()
    assert current.alert_recipients_zr7 == ["a@zr7.fr"] and current.cross_entity_enabled is False
    assert current.blacklisted_sources == ["x"]


def test_saving_the_settings_admin_keeps_what_another_admin_changed_since_it_was_opened(client, superuser, both_admin):
    url = reverse("admin:core_appsettings_change", args=[settings_get().pk])
    client.force_login(superuser)
    opened = _page_form(client, url)
    other = Client()
    other.force_login(both_admin)
    changed = _form_data(rejection_window_days="10", cross_entity_zr7_to_mdl="", alert_recipients_zr7="a@zr7.fr")
    assert other.post("/parametres/", changed).status_code == 302

    assert client.post(url, {**opened, "backlog_age_days": "45"}).status_code == 302

    current = settings_get()
    assert current.rejection_window_days == 10 and current.cross_entity_zr7_to_mdl is False
    assert current.alert_recipients_zr7 == ["a@zr7.fr"]
    assert current.backlog_age_days == 45
    assert list(SettingsAudit.objects.filter(changed_by=superuser).values_list("field", flat=True)) == [
        "backlog_age_days"
    ]
