"""Normalization of lead input (§4). Pure functions raising `ValueError` with a French message."""

import re

import phonenumbers
from django.core.exceptions import ValidationError
from django.core.validators import validate_email

DEPARTEMENTS = frozenset(
    [f"{n:02d}" for n in range(1, 96) if n != 20] + ["2A", "2B"] + [str(n) for n in range(971, 977)]
)


def normalize_phone(raw) -> str:
    """French number → E.164. Accepts `06 12 34 56 78`, `+33 6…`, `0033…`, `6…` (9 digits)."""
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
    try:
        number = phonenumbers.parse(compact, "FR")
    except phonenumbers.NumberParseException as exc:
        raise ValueError("Numéro de téléphone invalide.") from exc
    if number.country_code != 33 or not phonenumbers.is_valid_number(number):
        raise ValueError("Numéro de téléphone français invalide.")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


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


def normalize_email(raw) -> str:
    if raw is None:
        return ""
    if not isinstance(raw, str):
        raise ValueError("Adresse e-mail invalide.")
    text = raw.strip().lower()
    if not text:
        return ""
    try:
        validate_email(text)
    except ValidationError as exc:
        raise ValueError("Saisissez une adresse e-mail valide.") from exc
    return text


def normalize_name(raw) -> str:
    if raw is None:
        return ""
    if not isinstance(raw, str):
        raise ValueError("Texte attendu.")
    text = " ".join(raw.split())
    if len(text) > 100:
        raise ValueError("100 caractères au maximum.")
    return text
