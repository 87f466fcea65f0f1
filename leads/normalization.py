"""Normalization of lead input (§4). Pure functions raising `ValueError` with a French message."""

import re
import unicodedata

import phonenumbers
from django.core.exceptions import ValidationError
from django.core.validators import validate_email

DEPARTEMENTS = frozenset(
    [f"{n:02d}" for n in range(1, 96) if n != 20] + ["2A", "2B"] + [str(n) for n in range(971, 977)]
)


# France and the overseas departements of §4 (971 Guadeloupe, 972 Martinique, 973 Guyane,
# 974 Réunion, 975 Saint-Pierre-et-Miquelon, 976 Mayotte), which have their own numbering.
FRENCH_REGIONS = ("FR", "RE", "YT", "GF", "GP", "MQ", "PM")


def normalize_phone(raw) -> str:
    """French number → E.164. Accepts `06 12 34 56 78`, `+33 6…`, `0033…`, `6…` (9 digits),
    and the overseas departements' numbers (`0692…`, `+262 692…`)."""
    if not isinstance(raw, str | int) or isinstance(raw, bool):
        raise ValueError("Numéro de téléphone invalide.")
    text = str(raw).strip()
    if not text:
        raise ValueError("Ce champ ne peut être vide.")
    if len(text) > 30:
        raise ValueError("Numéro de téléphone invalide.")
    compact = re.sub(r"[\s.\-()/]", "", text)
    if compact.startswith("00"):
        compact = "+" + compact[2:]
    if re.fullmatch(r"[1-9]\d{8}", compact):
        compact = "0" + compact
    if not re.fullmatch(r"\+?\d{6,15}", compact):
        raise ValueError("Numéro de téléphone invalide.")
    # Metropolitan numbers first, then the overseas departements' own plans (§4 accepts
    # 971–976): « 0692 12 34 56 » is a Réunion mobile, stored as +262692123456.
    for region in FRENCH_REGIONS:
        try:
            number = phonenumbers.parse(compact, region)
        except phonenumbers.NumberParseException as exc:
            raise ValueError("Numéro de téléphone invalide.") from exc
        if phonenumbers.is_valid_number(number) and phonenumbers.region_code_for_number(number) in FRENCH_REGIONS:
            return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
        if compact.startswith("+"):
            break  # an international number does not depend on the default region
    raise ValueError("Numéro de téléphone français invalide.")


def normalize_departement(raw) -> str:
    """`2a` → `2A`, `1` → `01`; only the codes of §4."""
    if isinstance(raw, bool) or not isinstance(raw, str | int):
        raise ValueError("Département invalide.")
    text = str(raw).strip().upper()
    if text.isdigit() and len(text) == 1:
        text = "0" + text
    if text not in DEPARTEMENTS:
        raise ValueError(f"« {str(raw)[:10]} » n'est pas un code de département valide (01–95, 2A, 2B, 971–976).")
    return text


EMAIL_MAX_LENGTH = 254


def normalize_email(raw) -> str:
    if raw is None:
        return ""
    if not isinstance(raw, str):
        raise ValueError("Adresse e-mail invalide.")
    text = raw.strip().lower()
    if not text:
        return ""
    if len(text) > EMAIL_MAX_LENGTH:  # Django's validator goes to 320; the column (RFC 5321 path) holds 254
        raise ValueError(f"Adresse e-mail trop longue : {EMAIL_MAX_LENGTH} caractères au maximum.")
    try:
        validate_email(text)
    except ValidationError as exc:
        raise ValueError("Saisissez une adresse e-mail valide.") from exc
    return text


# Invisible characters that still shape some scripts (Persian, Indic) and emoji sequences.
_JOINERS = frozenset("\u200c\u200d")


def _invisible(char: str) -> bool:
    """A control or format character other than a joiner (bell, escape, bidirectional
    override, zero-width space, soft hyphen…): nothing a reader sees, but it travels to
    the back-office, the CSV files and the CRMs, where an override reverses the text
    that follows it."""
    return char not in _JOINERS and unicodedata.category(char) in ("Cc", "Cf")


def normalize_name(raw) -> str:
    """Trimmed, inner whitespace collapsed, invisible characters removed (§4)."""
    if raw is None:
        return ""
    if not isinstance(raw, str):
        raise ValueError("Texte attendu.")
    if not raw.isprintable():  # only then can it hold one
        raw = "".join(char for char in raw if char.isspace() or not _invisible(char))
    text = " ".join(raw.split())
    if len(text) > 100:
        raise ValueError("100 caractères au maximum.")
    return text
