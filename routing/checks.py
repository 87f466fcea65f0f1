"""System checks of the CRM connectors' configuration (§11), read from the environment.

`manage.py check` (and so `migrate`, run before the servers start) refuses a configuration
that would only fail later, lead by lead: a URL that is not http(s), an auth header requests
would refuse to send, a timeout that would hold a worker past its time limit, a field map
naming unknown fields or sending two fields under one name.
"""

from django.conf import settings
from django.core.checks import Error, register
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator

from commandes.models import HEADER_NAME_VALIDATOR
from routing.crm import DEFAULT_FIELD_MAPS

MAX_TIMEOUT_SECONDS = 120


@register("rdz")
def crm_connectors_check(app_configs=None, **kwargs) -> list[Error]:
    errors: list[Error] = []
    connectors = getattr(settings, "CRM_CONNECTORS", {})
    for entity, defaults in DEFAULT_FIELD_MAPS.items():
        conf = connectors.get(entity, {})
        errors += _url_errors(entity, conf.get("url", ""))
        header = conf.get("auth_header") or settings.CRM_AUTH_HEADER
        try:
            HEADER_NAME_VALIDATOR(header)
        except ValidationError:
            errors.append(Error(f"CRM_{entity}_AUTH_HEADER : nom d'en-tête HTTP invalide « {header} ».", id="rdz.E002"))
        timeout = conf.get("timeout") or settings.CRM_TIMEOUT
        if not isinstance(timeout, int | float) or not 0 < timeout <= MAX_TIMEOUT_SECONDS:
            errors.append(
                Error(
                    f"CRM_{entity}_TIMEOUT : {timeout!r} — un délai entre 0 et {MAX_TIMEOUT_SECONDS} secondes est attendu.",
                    id="rdz.E003",
                )
            )
        errors += _field_map_errors(entity, conf.get("field_map") or {}, defaults)
    for name, minimum in (("CRM_MAX_ATTEMPTS", 1), ("CRM_RETRY_BASE_SECONDS", 0), ("CRM_RETRY_HORIZON_HOURS", 1)):
        value = getattr(settings, name, minimum)
        if not isinstance(value, int | float) or value < minimum:
            errors.append(Error(f"{name} : {value!r} — au moins {minimum} est attendu.", id="rdz.E005"))
    return errors


def _url_errors(entity: str, url: str) -> list[Error]:
    if not url:
        return []  # not configured: each forwarding fails with that reason, in French, and falls back
    try:
        URLValidator(schemes=["http", "https"])(url)
    except ValidationError:
        return [Error(f"CRM_{entity}_URL : URL invalide « {url[:100]} » (http:// ou https://).", id="rdz.E001")]
    return []


def _field_map_errors(entity: str, field_map, defaults: dict[str, str]) -> list[Error]:
    name = f"CRM_{entity}_FIELD_MAP"
    if not isinstance(field_map, dict):
        return [Error(f'{name} : un objet JSON {{"champ RDZ": "champ CRM"}} est attendu.', id="rdz.E004")]
    errors = []
    unknown = sorted(str(key) for key in field_map if key not in defaults)
    if unknown:
        errors.append(
            Error(
                f"{name} : {'champ RDZ inconnu' if len(unknown) < 2 else 'champs RDZ inconnus'} : "
                f"{', '.join(unknown)} (connus : {', '.join(defaults)}).",
                id="rdz.E004",
            )
        )
    if any(not isinstance(value, str) for value in field_map.values()):
        errors.append(
            Error(f'{name} : chaque champ CRM doit être une chaîne ("" pour ne pas l\'envoyer).', id="rdz.E004")
        )
    merged = {**defaults, **{k: v for k, v in field_map.items() if k in defaults and isinstance(v, str)}}
    sent = [value for value in merged.values() if value]
    doubles = sorted({value for value in sent if sent.count(value) > 1})
    if doubles:
        errors.append(
            Error(f"{name} : plusieurs champs RDZ envoyés sous le même nom : {', '.join(doubles)}.", id="rdz.E004")
        )
    return errors
