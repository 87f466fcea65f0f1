"""Characters no database text column can hold.

PostgreSQL refuses the NUL character (U+0000) in `text`/`varchar` and in `jsonb`, and a lone
UTF-16 surrogate (U+D800–U+DFFF, which JSON can carry as an escape such as "\\ud800") cannot
be encoded in UTF-8 at all. Either would reach the database as an error, so inputs are
checked before: the API refuses them with a field message (400), imports clean them.
"""

import re

from django.core.exceptions import ValidationError
from django.core.validators import validate_email

_FORBIDDEN = re.compile("[\x00\ud800-\udfff]")
# What a JSON text must contain to decode to one of them: a raw NUL is already refused by the
# JSON parser, so only the escapes matter (a lone surrogate is not valid UTF-8 either).
_FORBIDDEN_ESCAPE = re.compile(rb"\\u(?:0000|[dD][89a-fA-F][0-9a-fA-F]{2})")

FORBIDDEN_MESSAGE = "Caractère non autorisé (U+{code:04X})."


def text_forbidden_char(text: str) -> str | None:
    """The first forbidden character of `text`, or None."""
    match = _FORBIDDEN.search(text)
    return match.group() if match else None


def json_forbidden_char(value) -> str | None:
    """The first forbidden character in a decoded JSON value (keys included), or None."""
    if isinstance(value, str):
        return text_forbidden_char(value)
    if isinstance(value, dict):
        for key, item in value.items():
            found = json_forbidden_char(key) or json_forbidden_char(item)
            if found:
                return found
    elif isinstance(value, list):
        for item in value:
            found = json_forbidden_char(item)
            if found:
                return found
    return None


def json_may_hold_forbidden_chars(raw: bytes) -> bool:
    """Cheap test on a JSON body before decoding: False means no forbidden character.

    True may be a false alarm (an escaped backslash before "u0000", a valid surrogate pair for
    an emoji); `json_forbidden_char` on the decoded value decides.
    """
    return _FORBIDDEN_ESCAPE.search(raw) is not None


def forbidden_message(char: str) -> str:
    return FORBIDDEN_MESSAGE.format(code=ord(char))


def text_clean(text: str) -> str:
    """`text` without NUL characters, lone surrogates replaced by U+FFFD."""
    return _FORBIDDEN.sub(lambda m: "" if m.group() == "\x00" else "\ufffd", text)


# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection).
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value) -> str:
    """Free text for a CSV cell, a formula neutralized by a leading apostrophe (the cell then
    shows as text: « '=HYPERLINK(…) »). Not for values RDZ itself formats (phone numbers
    in E.164 start with « + »)."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def emails_invalid(emails) -> list[str]:
    """The addresses of `emails` that Django's e-mail validator refuses, in their order."""
    bad = []
    for email in emails:
        try:
            validate_email(email)
        except ValidationError:
            bad.append(email)
    return bad


def emails_invalid_message(bad: list[str]) -> str:
    """« Adresse e-mail invalide : x », « Adresses e-mail invalides : x, y »."""
    words = "Adresse e-mail invalide" if len(bad) < 2 else "Adresses e-mail invalides"
    return f"{words} : {', '.join(bad)}"


def count_noun(count: int, word: str, plural: str = "") -> str:
    """« 1 lead », « 0 jour », « 2 leads »: French takes the plural from 2 on, where
    « lead(s) » reads like a form letter to the client."""
    return f"{count} {word if abs(count) < 2 else (plural or word + 's')}"
