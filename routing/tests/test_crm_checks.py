"""The CRM connectors' configuration is checked when RDZ starts (`manage.py check`, `migrate`)."""

import re

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from routing.checks import crm_connectors_check


def _connectors(**zr7):
    return {
        "ZR7": {"url": "https://crm.zr7.example/leads", "auth_header": "X-API-Key", "timeout": 10.0, "field_map": {}}
        | zr7,
        "MDL": {"url": "", "auth_header": "X-API-Key", "timeout": 10.0, "field_map": {}},
    }


def test_the_default_and_a_complete_configuration_pass(settings):
    assert crm_connectors_check() == []
    settings.CRM_CONNECTORS = _connectors(field_map={"phone": "tel", "extra": ""})
    assert crm_connectors_check() == []


@pytest.mark.parametrize(
    ("conf", "error_id", "words"),
    [
        ({"url": "ftp://crm.zr7.example/"}, "rdz.E001", "CRM_ZR7_URL : URL invalide"),
        ({"url": "crm.zr7.example/leads"}, "rdz.E001", "CRM_ZR7_URL"),
        ({"auth_header": "X Api Key"}, "rdz.E002", "nom d'en-tête HTTP invalide"),
        ({"auth_header": "X-Key\r\nX-Other"}, "rdz.E002", "CRM_ZR7_AUTH_HEADER"),
        ({"timeout": 3600.0}, "rdz.E003", "entre 0 et 120 secondes"),
        ({"timeout": -1.0}, "rdz.E003", "CRM_ZR7_TIMEOUT"),
        ({"field_map": ["phone"]}, "rdz.E004", "objet JSON"),
        ({"field_map": {"telephone": "tel"}}, "rdz.E004", "champ RDZ inconnu : telephone ("),
        ({"field_map": {"telephone": "tel", "nom": "n"}}, "rdz.E004", "champs RDZ inconnus : nom, telephone ("),
        ({"field_map": {"phone": 3}}, "rdz.E004", "doit être une chaîne"),
        ({"field_map": {"phone": "email"}}, "rdz.E004", "même nom : email"),
    ],
)
def test_a_wrong_connector_setting_stops_the_checks_with_a_french_message(settings, conf, error_id, words):
    settings.CRM_CONNECTORS = _connectors(**conf)

    errors = crm_connectors_check()

    assert [e.id for e in errors] == [error_id]
    assert words in errors[0].msg
    with pytest.raises(SystemCheckError, match=re.escape(error_id)):
        call_command("check")


def test_retry_settings_out_of_range_are_refused(settings):
    settings.CRM_MAX_ATTEMPTS = 0
    settings.CRM_RETRY_BASE_SECONDS = -5

    assert [e.msg.split(" :")[0] for e in crm_connectors_check()] == ["CRM_MAX_ATTEMPTS", "CRM_RETRY_BASE_SECONDS"]
