"""Old field names and values → RDZ fields (§12). Pure functions: no database access.

Each `map_<collection>` takes a plain dict from `readers` and returns a `Mapped` (the RDZ
field values, references still as legacy ids, and warnings), or raises `MappingError`
with the French reason the document cannot be imported. The README holds the full table.

Text that no database column can hold (NUL characters, lone surrogates: `rdz.core.text`) is
cleaned where it is read, with a warning on the named fields, rather than refusing the row.
"""

import datetime
import decimal
import ipaddress
import math
import re
from dataclasses import dataclass, field

from django.utils.dateparse import parse_date, parse_datetime
from django.utils.text import slugify

from leads.models import LeadStatus
from leads.normalization import DEPARTEMENTS, normalize_departement, normalize_email, normalize_name, normalize_phone
from leads.services_forms import leadform_origin_normalize
from rdz.core.entities import Entity
from rdz.core.http import url_refused_address
from rdz.core.text import text_clean, text_forbidden_char
from rdz.core.timeutils import PARIS


class MappingError(Exception):
    """The document cannot be imported; the message (French) says why."""


@dataclass
class Mapped:
    legacy_id: str
    fields: dict
    refs: dict = field(default_factory=dict)  # legacy references resolved by the importer
    warnings: list[str] = field(default_factory=list)
    meta: dict = field(default_factory=dict)  # kept for the timeline (original status, dates…)


# --- Aliases: first present wins ---------------------------------------------------------
ID = ("_id", "id")
PHONE = ("telephone", "tel", "phone", "portable", "mobile", "numero")
LAST_NAME = ("nom", "last_name", "lastname", "nom_famille")
FIRST_NAME = ("prenom", "first_name", "firstname")
EMAIL = ("mail", "email", "e_mail", "courriel")
DEPARTEMENT = ("departement", "dept", "dep", "department")
# Old geographic fields: folded into the departement when they hold a postal code (§4 keeps no city).
GEO = ("cp", "code_postal", "codepostal", "zip", "postal_code", "ville", "city", "commune", "adresse", "address")
PRODUCT = ("produit", "product_type", "product", "type_produit")
ENTITY = ("entite", "company", "entity", "societe")
STATUS = ("statut", "status", "etat")
CREATED = ("date_creation", "created_at", "createdAt", "date", "date_ajout")
UPDATED = ("date_modification", "updated_at", "updatedAt")
DELIVERED = ("date_livraison", "delivered_at")
PROVIDER = ("provider_id", "fournisseur_id", "provider", "fournisseur")
FORM = ("form_id", "formulaire_id", "form", "formulaire")
SOURCE = ("source", "utm_source", "origine")
CONSENT = ("consentement", "consent", "optin", "opt_in")
CONSENT_AT = ("date_consentement", "consent_at")
CONSENT_URL = ("page_consentement", "consent_page_url", "url_page", "page_url")
CONSENT_VERSION = ("version_consentement", "consent_text_version", "version_cgu")
IP = ("ip", "adresse_ip", "ip_address")
USER_AGENT = ("user_agent", "ua", "navigateur")
EXTRA = ("extra", "champs", "donnees", "infos", "details")
HISTORY = ("historique", "history", "events")
NAME = ("nom", "name", "raison_sociale", "titre", "libelle")
ACTIVE = ("actif", "active", "enabled")
IGNORED = {"__v", "_class"}  # ODM bookkeeping of the old application

STATUS_MAP = {
    "nouveau": LeadStatus.NO_ORDER,
    "new": LeadStatus.NO_ORDER,
    "en_attente": LeadStatus.NO_ORDER,
    "pending": LeadStatus.NO_ORDER,
    "backlog": LeadStatus.NO_ORDER,
    "sans_commande": LeadStatus.NO_ORDER,
    "no_order": LeadStatus.NO_ORDER,
    "attribue": LeadStatus.ROUTED,
    "assigned": LeadStatus.ROUTED,
    "routed": LeadStatus.ROUTED,
    "livre": LeadStatus.DELIVERED,
    "envoye": LeadStatus.DELIVERED,
    "delivered": LeadStatus.DELIVERED,
    "sent": LeadStatus.DELIVERED,
    "doublon": LeadStatus.DUPLICATE,
    "duplicate": LeadStatus.DUPLICATE,
    "rejete": LeadStatus.REJECTED,
    "refuse": LeadStatus.REJECTED,
    "rejected": LeadStatus.REJECTED,
    "blacklist": LeadStatus.BLACKLISTED,
    "blackliste": LeadStatus.BLACKLISTED,
    "blacklisted": LeadStatus.BLACKLISTED,
    "opposition": LeadStatus.OPPOSED,
    "bloctel": LeadStatus.OPPOSED,
    "opposed": LeadStatus.OPPOSED,
}
TRUE_WORDS = {"1", "true", "oui", "yes", "o", "y", "vrai", "on"}
FALSE_WORDS = {"0", "false", "non", "no", "n", "faux", "off", ""}
_ACCENTS = str.maketrans("àâäéèêëîïôöùûüç", "aaaeeeeiioouuuc")


def pick(doc: dict, names: tuple[str, ...], used: set[str] | None = None):
    """The value of the first alias present (None when none is)."""
    for name in names:
        if name in doc:
            if used is not None:
                used.add(name)
            value = doc[name]
            if value is not None and value != "":
                return value
    return None


def legacy_id_of(doc: dict) -> str:
    value = pick(doc, ID)
    if value is None or isinstance(value, dict | list | bool):
        raise MappingError("identifiant (_id) manquant")
    text = str(value).strip()
    if not text or len(text) > 64 or text_forbidden_char(text):
        raise MappingError("identifiant (_id) invalide")
    return text


def integral(value):
    """A whole number stored as a double or a Decimal128 (the old shell and drivers write
    every number beyond 32 bits that way) → int; any other value unchanged."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, decimal.Decimal) and value.is_finite() and value == value.to_integral_value():
        return int(value)
    return value


def _word(value) -> str:
    return str(value).strip().lower().translate(_ACCENTS).replace(" ", "_").replace("-", "_")


def to_bool(value, *, label: str, warnings: list[str], default: bool = False) -> bool:
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return bool(value)
    word = _word(value)
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    warnings.append(f"{label} « {str(value)[:30]} » illisible : {'oui' if default else 'non'} retenu")
    return default


def to_datetime(value, *, label: str, warnings: list[str]) -> datetime.datetime | None:
    """ISODate (already a datetime), ISO text, or epoch milliseconds ($numberLong).

    Text without an offset is Paris time, as the old application wrote it (DST included).
    A moment outside YEARS (a "never" sentinel such as 9999-12-31) is not kept: shown in
    Paris time or counted on its Paris day, it would overflow the calendar."""
    if value is None:
        return None
    moment = _moment(value)
    if moment is None:
        warnings.append(f"{label} « {str(value)[:40]} » illisible")
        return None
    if moment.year not in YEARS:
        warnings.append(f"{label} « {str(value)[:40]} » hors limites ({YEARS.start}–{YEARS.stop - 1}), non reprise")
        return None
    return moment


YEARS = range(1900, 3000)


def _moment(value) -> datetime.datetime | None:
    if isinstance(value, datetime.datetime):
        return value if value.tzinfo else value.replace(tzinfo=datetime.UTC)
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            return datetime.datetime.fromtimestamp(value / 1000, tz=datetime.UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if not isinstance(value, str):
        return None
    text = value.strip()
    try:
        parsed = parse_datetime(text.replace(" ", "T", 1) if len(text) > 10 else text)
        if parsed is None:
            day = parse_date(text) or _french_date(text)
            if day is not None:
                parsed = datetime.datetime.combine(day, datetime.time(12, 0))
        if parsed is not None and not parsed.tzinfo:
            parsed = parsed.replace(tzinfo=PARIS).astimezone(datetime.UTC)
    except (ValueError, OverflowError):
        return None
    return parsed


def _french_date(text: str) -> datetime.date | None:
    match = re.fullmatch(r"(\d{1,2})/(\d{1,2})/(\d{4})", text)
    if not match:
        return None
    day, month, year = (int(g) for g in match.groups())
    try:
        return datetime.date(year, month, day)
    except ValueError:
        return None


def to_date(value, *, label: str, warnings: list[str]) -> datetime.date | None:
    """The Paris day: a day stored as ISODate is its midnight in Paris, i.e. the evening
    before in UTC."""
    moment = to_datetime(value, label=label, warnings=warnings)
    return moment.astimezone(PARIS).date() if moment else None


def to_int(value, *, label: str, warnings: list[str], minimum: int | None = None) -> int | None:
    if value is None:
        return None
    number = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif (
        (isinstance(value, float) and value.is_integer())
        or (isinstance(value, decimal.Decimal) and value.is_finite() and value == value.to_integral_value())
        or (isinstance(value, str) and re.fullmatch(r"\s*-?\d{1,12}\s*", value))
    ):
        number = int(value)
    if number is None or (minimum is not None and number < minimum):
        warnings.append(f"{label} « {str(value)[:20]} » n'est pas un entier valide")
        return None
    return number


def to_decimal(value, *, label: str, warnings: list[str]) -> decimal.Decimal | None:
    if value is None:
        return None
    try:
        if isinstance(value, bool):
            raise decimal.InvalidOperation
        number = decimal.Decimal(str(value).replace(",", ".").replace("€", "").strip())
        if not number.is_finite() or number < 0 or number >= 1_000_000:
            raise decimal.InvalidOperation
        return number.quantize(decimal.Decimal("0.01"))
    except (decimal.InvalidOperation, ValueError):
        warnings.append(f"{label} « {str(value)[:20]} » n'est pas un montant valide")
        return None


def to_entity(value) -> str | None:
    if value is None:
        return None
    word = str(value).strip().upper()
    return word if word in Entity.values else None


def to_text(value, *, label: str, warnings: list[str], max_length: int) -> str:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        warnings.append(f"{label} : texte attendu, valeur ignorée")
        return ""
    text = _cleaned(str(value), label=label, warnings=warnings)
    text = " ".join(text.split())
    if len(text) > max_length:
        warnings.append(f"{label} tronqué à {max_length} caractères")
        text = text[:max_length]
    return text


def _cleaned(text: str, *, label: str, warnings: list[str]) -> str:
    cleaned = text_clean(text)
    if cleaned != text:
        warnings.append(f"{label} : caractères invalides retirés")
    return cleaned


def jsonable(value):
    """Values a JSONField can store (Decimal and datetimes become text, text is cleaned)."""
    if isinstance(value, str):
        return text_clean(value)
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # a JSON column cannot hold NaN or infinity
    if isinstance(value, dict):
        return {jsonable(str(k)): jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [jsonable(v) for v in value]
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, datetime.datetime | datetime.date):
        return value.isoformat()
    return value


# --- Geography ---------------------------------------------------------------------------
_POSTAL_IN_TEXT = re.compile(r"(?<!\d)(\d{5})(?!\d)")


def departement_from_postal_code(value) -> str | None:
    """A French postal code → its departement code; None when it is not one.

    Corsica: 200xx–201xx → 2A, 202xx–206xx → 2B; overseas 971xx–976xx → 3 digits.
    Integers lose their leading zero in the old data (1000 for 01000): padded back.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        text = f"{value:05d}" if 1000 <= value <= 99999 else ""
    elif isinstance(value, str):
        text = value.strip().replace(" ", "")
        if len(text) == 4 and text.isdigit():
            text = "0" + text
    else:
        return None
    if len(text) != 5 or not text.isdigit() or not text.isascii():
        return None
    if text.startswith("97"):
        code = text[:3]
        return code if code in DEPARTEMENTS else None
    if text.startswith("20"):
        prefix = int(text[:3])
        if prefix in (200, 201):
            return "2A"
        if 202 <= prefix <= 206:
            return "2B"
        return None
    code = text[:2]
    return code if code in DEPARTEMENTS else None


def departement_resolve(doc: dict, used: set[str], warnings: list[str]) -> str:
    """The departement of a legacy document: its own field, else a postal code found in
    the other geographic fields. Geographic values that are not kept are reported."""
    departement = None
    raw = integral(pick(doc, DEPARTEMENT, used))
    if raw is not None:
        try:
            departement = normalize_departement(raw)
        except ValueError:
            departement = departement_from_postal_code(raw)
            if departement is None:
                warnings.append(f"département « {str(raw)[:10]} » invalide")
    for name in GEO:
        if name not in doc:
            continue
        used.add(name)
        value = integral(doc[name])
        if value is None or value == "":
            continue
        found = departement_from_postal_code(value)
        if found is None and isinstance(value, str):
            match = _POSTAL_IN_TEXT.search(value)
            found = departement_from_postal_code(match.group(1)) if match else None
        if found is None:
            warnings.append(f"{name} « {str(value)[:40]} » : valeur non reprise (RDZ ne garde que le département)")
        elif departement is None:
            departement = found
        elif found != departement:
            warnings.append(f"{name} « {str(value)[:10]} » ne correspond pas au département {departement}")
    if departement is None:
        raise MappingError("département manquant : ni département ni code postal exploitable")
    return departement


# --- Leads -------------------------------------------------------------------------------
def map_lead(doc: dict, *, products: dict[str, int]) -> Mapped:
    """`products` maps upper-case product codes to Product ids."""
    legacy_id = legacy_id_of(doc)
    used: set[str] = set(ID) | IGNORED
    warnings: list[str] = []

    raw_phone = integral(pick(doc, PHONE, used))
    if raw_phone is None:
        raise MappingError("téléphone manquant")
    try:
        phone = normalize_phone(raw_phone if isinstance(raw_phone, str | int) else str(raw_phone))
    except ValueError as exc:
        raise MappingError(f"téléphone « {str(raw_phone)[:20]} » : {exc}") from exc

    raw_product = pick(doc, PRODUCT, used)
    if raw_product is None:
        raise MappingError("produit manquant")
    product_id = products.get(str(raw_product).strip().upper())
    if product_id is None:
        raise MappingError(f"produit « {str(raw_product)[:20]} » inconnu dans RDZ (créez-le d'abord)")

    departement = departement_resolve(doc, used, warnings)

    email = ""
    raw_email = pick(doc, EMAIL, used)
    if raw_email is not None:
        try:
            email = normalize_email(raw_email if isinstance(raw_email, str) else str(raw_email))
        except ValueError:
            warnings.append(f"e-mail « {str(raw_email)[:40]} » invalide, non repris")
    names = {}
    for key, aliases, label in (("first_name", FIRST_NAME, "prénom"), ("last_name", LAST_NAME, "nom")):
        value = pick(doc, aliases, used)
        if value is not None:
            value = _cleaned(value if isinstance(value, str) else str(value), label=label, warnings=warnings)
        try:
            names[key] = normalize_name(value)
        except ValueError:
            names[key] = " ".join(str(value).split())[:100]
            warnings.append(f"{label} tronqué à 100 caractères")

    raw_status = pick(doc, STATUS, used)
    status = STATUS_MAP.get(_word(raw_status)) if raw_status is not None else LeadStatus.NO_ORDER
    if status is None:
        warnings.append(f"statut « {str(raw_status)[:30]} » inconnu : « sans commande » retenu")
        status = LeadStatus.NO_ORDER

    created_at = to_datetime(pick(doc, CREATED, used), label="date de création", warnings=warnings)
    if created_at is None:
        warnings.append("date de création absente : date de l'import retenue")
    consent = to_bool(pick(doc, CONSENT, used), label="consentement", warnings=warnings)
    consent_at = to_datetime(pick(doc, CONSENT_AT, used), label="date de consentement", warnings=warnings)
    ip = None
    raw_ip = pick(doc, IP, used)
    if raw_ip is not None:
        try:
            ip = str(ipaddress.ip_address(str(raw_ip).strip()))
        except ValueError:
            warnings.append(f"IP « {str(raw_ip)[:40]} » invalide, non reprise")

    extra = {}
    raw_extra = pick(doc, EXTRA, used)
    if isinstance(raw_extra, dict):
        extra = jsonable(raw_extra)
    elif raw_extra is not None:
        warnings.append("champs complémentaires : objet attendu, valeur gardée telle quelle")
        extra = {"valeur": jsonable(raw_extra)}
    history = pick(doc, HISTORY, used)
    if history is not None and not isinstance(history, list):
        warnings.append("historique : liste attendue, ignoré")
        history = None
    refs = {
        "provider": _ref(pick(doc, PROVIDER, used)),
        "form": _ref(pick(doc, FORM, used)),
    }
    raw_entity = pick(doc, ENTITY, used)
    entity = to_entity(raw_entity)
    if raw_entity is not None and entity is None:
        warnings.append(f"entité « {str(raw_entity)[:10]} » inconnue")
    meta = {
        "legacy_status": None if raw_status is None else str(raw_status)[:50],
        "updated_at": to_datetime(pick(doc, UPDATED, used), label="date de modification", warnings=warnings),
        "delivered_at": to_datetime(pick(doc, DELIVERED, used), label="date de livraison", warnings=warnings),
        "history": history or [],
    }
    fields = {
        "phone": phone,
        "product_id": product_id,
        "departement": departement,
        "email": email,
        "first_name": names["first_name"],
        "last_name": names["last_name"],
        "status": status,
        "created_at": created_at,
        "consent": consent,
        "consent_at": consent_at if consent_at else (created_at if consent else None),
        "ip": ip,
        "user_agent": to_text(pick(doc, USER_AGENT, used), label="user agent", warnings=warnings, max_length=500),
        "source": to_text(pick(doc, SOURCE, used), label="source", warnings=warnings, max_length=100),
        "consent_page_url": to_text(
            pick(doc, CONSENT_URL, used), label="page du consentement", warnings=warnings, max_length=500
        ),
        "consent_text_version": to_text(
            pick(doc, CONSENT_VERSION, used), label="version du consentement", warnings=warnings, max_length=50
        ),
        "entity": entity,
    }
    leftovers = {k: v for k, v in doc.items() if k not in used and v is not None}
    if leftovers:
        # Nothing from the old record is thrown away: unknown fields stay readable in `extra`.
        extra = {**extra, "ancien_systeme": jsonable(leftovers)}
    fields["extra"] = extra
    return Mapped(legacy_id=legacy_id, fields=fields, refs=refs, warnings=warnings, meta=meta)


def _ref(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, dict):  # {"$ref": …, "$id": …} DBRef or an embedded {"_id": …}
        value = value.get("$id") or value.get("_id") or value.get("id")
    return None if value is None else str(value)


# --- Providers, clients, forms, commandes ------------------------------------------------
def _entity_required(doc: dict) -> str:
    raw = pick(doc, ENTITY)
    entity = to_entity(raw)
    if raw is None:
        raise MappingError("entité manquante (ZR7 ou MDL attendu)")
    if entity is None:
        raise MappingError(f"entité « {str(raw)[:10]} » inconnue (ZR7 ou MDL attendu)")
    return entity


def _name_required(doc: dict, max_length: int) -> tuple[str, list[str]]:
    warnings: list[str] = []
    name = to_text(pick(doc, NAME), label="nom", warnings=warnings, max_length=max_length)
    if not name:
        raise MappingError("nom manquant")
    return name, warnings


def map_provider(doc: dict) -> Mapped:
    legacy_id = legacy_id_of(doc)
    name, warnings = _name_required(doc, 120)
    slug = to_text(pick(doc, ("slug", "code", "identifiant")), label="slug", warnings=warnings, max_length=60)
    fields = {
        "name": name,
        "entity": _entity_required(doc),
        "active": to_bool(pick(doc, ACTIVE), label="actif", warnings=warnings, default=True),
        "created_at": to_datetime(pick(doc, CREATED), label="date de création", warnings=warnings),
    }
    return Mapped(legacy_id=legacy_id, fields=fields, warnings=warnings, meta={"slug": slug})


def _emails(value, warnings: list[str]) -> list[str]:
    if value is None:
        return []
    items = value if isinstance(value, list) else re.split(r"[,;\s]+", str(value))
    emails = []
    for item in items:
        try:
            email = normalize_email(item if isinstance(item, str) else str(item))
        except ValueError:
            warnings.append(f"e-mail « {str(item)[:40]} » invalide, non repris")
            continue
        if email and email not in emails:
            emails.append(email)
    return emails


def map_client(doc: dict) -> Mapped:
    from django.core.exceptions import ValidationError
    from django.core.validators import URLValidator

    legacy_id = legacy_id_of(doc)
    name, warnings = _name_required(doc, 160)
    api_url = to_text(
        pick(doc, ("api_url", "url_api", "webhook", "url")), label="URL", warnings=warnings, max_length=500
    )
    if api_url:
        try:
            URLValidator(schemes=["http", "https"])(api_url)
        except ValidationError:
            warnings.append(f"URL de livraison « {api_url[:60]} » invalide, non reprise")
            api_url = ""
    if address := url_refused_address(api_url):
        warnings.append(f"URL de livraison « {api_url[:60]} » sur une adresse interne ({address}), non reprise")
        api_url = ""
    token = to_text(pick(doc, ("api_token", "token", "api_key")), label="jeton", warnings=warnings, max_length=480)
    fields = {
        "name": name,
        "entity": _entity_required(doc),
        "emails": _emails(pick(doc, ("emails", "email", "mail", "mails")), warnings),
        "api_url": api_url,
        "api_auth_value": f"Bearer {token}" if token and not token.lower().startswith("bearer ") else token,
        "active": to_bool(pick(doc, ACTIVE), label="actif", warnings=warnings, default=True),
        "created_at": to_datetime(pick(doc, CREATED), label="date de création", warnings=warnings),
    }
    return Mapped(legacy_id=legacy_id, fields=fields, warnings=warnings)


def _product_id(doc: dict, products: dict[str, int]) -> int:
    raw = pick(doc, PRODUCT)
    if raw is None:
        raise MappingError("produit manquant")
    product_id = products.get(str(raw).strip().upper())
    if product_id is None:
        raise MappingError(f"produit « {str(raw)[:20]} » inconnu dans RDZ (créez-le d'abord)")
    return product_id


def map_form(doc: dict, *, products: dict[str, int]) -> Mapped:
    legacy_id = legacy_id_of(doc)
    name, warnings = _name_required(doc, 120)
    entity = _entity_required(doc)
    code = to_text(pick(doc, ("code", "slug", "identifiant")), label="code", warnings=warnings, max_length=50)
    code = slugify(code)
    if not code:
        raise MappingError("code du formulaire manquant")
    origins = pick(doc, ("origines", "allowed_origins", "domaines", "domains"))
    if isinstance(origins, str):
        origins = [o for o in re.split(r"[,;\s]+", origins) if o]
    if origins is not None and not isinstance(origins, list):
        warnings.append("origines : liste attendue, ignorées")
        origins = None
    allowed_origins: list[str] = []
    for raw in origins or []:
        # Compared with the Origin browsers send: anything else would refuse every submission.
        origin = leadform_origin_normalize(text_clean(str(raw)))
        if origin is None:
            warnings.append(f"origine « {str(raw)[:80]} » non reprise : une origine s'écrit https://www.exemple.fr")
        elif origin not in allowed_origins:
            allowed_origins.append(origin)
    variants = pick(doc, ("variantes", "variants"))
    if variants is not None and not isinstance(variants, list):
        warnings.append("variantes : liste attendue, ignorées")
        variants = None
    target = to_entity(pick(doc, ("crm", "target_crm", "crm_cible"))) or entity
    fields = {
        "code": code,
        "name": name,
        "entity": entity,
        "product_id": _product_id(doc, products),
        "allowed_origins": allowed_origins,
        "variants": jsonable(variants or []),
        "target_crm": target,
        "active": to_bool(pick(doc, ACTIVE), label="actif", warnings=warnings, default=True),
        "created_at": to_datetime(pick(doc, CREATED), label="date de création", warnings=warnings),
    }
    crm_key = to_text(
        pick(doc, ("cle_crm", "crm_api_key", "api_key")), label="clé CRM", warnings=warnings, max_length=255
    )
    return Mapped(legacy_id=legacy_id, fields=fields, warnings=warnings, meta={"crm_api_key": crm_key})


def _departements(value, warnings: list[str]) -> list[str]:
    if value is None:
        raise MappingError("départements manquants")
    items = value if isinstance(value, list) else re.split(r"[,;\s]+", str(value))
    codes: list[str] = []
    for item in items:
        if item is None or item == "":
            continue
        if _word(item) in ("*", "tous", "all", "toute_la_france", "france"):
            return ["*"]
        try:
            code = normalize_departement(item)
        except ValueError:
            code = departement_from_postal_code(item)
            if code is None:
                warnings.append(f"département « {str(item)[:10]} » invalide, ignoré")
                continue
        if code not in codes:
            codes.append(code)
    if not codes:
        raise MappingError("aucun département valide")
    return codes


def map_commande(doc: dict, *, products: dict[str, int]) -> Mapped:
    legacy_id = legacy_id_of(doc)
    warnings: list[str] = []
    client_ref = _ref(pick(doc, ("client_id", "client")))
    if client_ref is None:
        raise MappingError("client manquant")
    quota = to_int(pick(doc, ("quota", "quota_hebdo", "weekly_quota")), label="quota", warnings=warnings, minimum=1)
    if quota is None:
        raise MappingError("quota hebdomadaire manquant ou invalide")
    starts_on = to_date(pick(doc, ("date_debut", "debut", "starts_on")), label="début", warnings=warnings)
    ends_on = to_date(pick(doc, ("date_fin", "fin", "ends_on")), label="fin", warnings=warnings)
    if starts_on and ends_on and ends_on < starts_on:
        warnings.append("date de fin avant la date de début : fin non reprise")
        ends_on = None
    fields = {
        "product_id": _product_id(doc, products),
        "name": to_text(pick(doc, ("nom", "libelle", "name")), label="libellé", warnings=warnings, max_length=160),
        "departements": _departements(pick(doc, ("departements", "depts", "zones", "departement")), warnings),
        "weekly_quota": quota,
        "daily_cap": to_int(
            pick(doc, ("plafond_jour", "daily_cap", "quota_jour")), label="plafond", warnings=warnings, minimum=1
        ),
        "priority": to_int(pick(doc, ("priorite", "priority")), label="priorité", warnings=warnings) or 0,
        "active": to_bool(pick(doc, ACTIVE), label="active", warnings=warnings, default=True),
        "accepts_backlog": to_bool(
            pick(doc, ("backlog", "accepte_backlog", "accepts_backlog")), label="backlog", warnings=warnings
        ),
        "starts_on": starts_on,
        "ends_on": ends_on,
        "price": to_decimal(pick(doc, ("prix", "price", "prix_lead")), label="prix", warnings=warnings),
        "created_at": to_datetime(pick(doc, CREATED), label="date de création", warnings=warnings),
    }
    return Mapped(legacy_id=legacy_id, fields=fields, refs={"client": client_ref}, warnings=warnings)


def map_media(doc: dict) -> Mapped:
    """Metadata of an old media; the file itself is read from the media folder by name."""
    legacy_id = legacy_id_of(doc)
    warnings: list[str] = []
    file_name = to_text(
        pick(doc, ("fichier", "filename", "file", "nom_fichier", "path", "chemin")),
        label="fichier",
        warnings=warnings,
        max_length=500,
    )
    if not file_name:
        raise MappingError("nom de fichier manquant")
    raw_entity = pick(doc, ENTITY)
    entity = "SHARED" if raw_entity is None or _word(raw_entity) in ("partage", "shared", "commun", "tous") else None
    entity = entity or to_entity(raw_entity)
    if entity is None:
        raise MappingError(f"entité « {str(raw_entity)[:10]} » inconnue (ZR7, MDL ou partagé)")
    tags = pick(doc, ("tags", "etiquettes", "mots_cles"))
    if isinstance(tags, str):
        tags = [t for t in re.split(r"[,;]+", tags) if t.strip()]
    fields = {
        "entity": entity,
        "title": to_text(
            pick(doc, ("titre", "title", "nom", "name")), label="titre", warnings=warnings, max_length=200
        ),
        "alt_text": to_text(
            pick(doc, ("alt", "alt_text", "texte_alternatif")),
            label="texte alternatif",
            warnings=warnings,
            max_length=300,
        ),
        "tags": [text_clean(str(t)).strip()[:50] for t in tags] if isinstance(tags, list) else [],
    }
    return Mapped(legacy_id=legacy_id, fields=fields, warnings=warnings, meta={"file": file_name})


# --- Settings ----------------------------------------------------------------------------
SETTINGS_MAP = {
    "fallback_inter_entites": ("cross_entity_enabled", "bool"),
    "cross_entity": ("cross_entity_enabled", "bool"),
    "fallback_zr7_mdl": ("cross_entity_zr7_to_mdl", "bool"),
    "fallback_mdl_zr7": ("cross_entity_mdl_to_zr7", "bool"),
    "sources_blacklistees": ("blacklisted_sources", "list"),
    "blacklist": ("blacklisted_sources", "list"),
    "heure_envoi": ("daily_delivery_time", "time"),
    "delivery_time": ("daily_delivery_time", "time"),
    "age_backlog": ("backlog_age_days", "int"),
    "backlog_days": ("backlog_age_days", "int"),
    "fenetre_rejet": ("rejection_window_days", "int"),
    "conservation_annees": ("retention_years", "int"),
    "retention_years": ("retention_years", "int"),
}


def map_settings(doc: dict) -> tuple[dict, list[str]]:
    """A settings document — either one record with many fields, or `{cle, valeur}` pairs —
    → settings changes. Unknown keys are reported."""
    warnings: list[str] = []
    if "cle" in doc or "key" in doc:
        pairs = {str(pick(doc, ("cle", "key"))): pick(doc, ("valeur", "value"))}
    else:
        pairs = {k: v for k, v in doc.items() if k not in set(ID) | IGNORED}
    changes = {}
    for key, value in pairs.items():
        target = SETTINGS_MAP.get(_word(key))
        if target is None:
            warnings.append(f"paramètre « {key[:40]} » inconnu de RDZ, ignoré")
            continue
        name, kind = target
        if kind == "bool":
            changes[name] = to_bool(value, label=key, warnings=warnings)
        elif kind == "int":
            number = to_int(value, label=key, warnings=warnings, minimum=0)
            if number is not None:
                changes[name] = number
        elif kind == "list":
            items = value if isinstance(value, list) else re.split(r"[,;\n]+", str(value or ""))
            changes[name] = [text_clean(str(i)).strip() for i in items if text_clean(str(i)).strip()]
        elif kind == "time":
            match = re.fullmatch(r"\s*(\d{1,2})[:h](\d{2})\s*", str(value))
            if match and int(match.group(1)) < 24 and int(match.group(2)) < 60:
                changes[name] = datetime.time(int(match.group(1)), int(match.group(2)))
            else:
                warnings.append(f"{key} « {str(value)[:10]} » n'est pas une heure HH:MM")
    return changes, warnings
