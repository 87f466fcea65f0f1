"""§4 normalization: what a provider may send and what RDZ stores."""

import pytest

from leads.normalization import normalize_departement, normalize_email, normalize_name, normalize_phone


@pytest.mark.parametrize(
    "raw",
    [
        "06 12 34 56 78",
        "0612345678",
        "+33 6 12 34 56 78",
        "+33612345678",
        "0033612345678",
        "0033 6 12 34 56 78",
        "612345678",
        "06.12.34.56.78",
        "06-12-34-56-78",
        " 06 12 34 56 78 ",
        "(0)6 12 34 56 78",
        612345678,
    ],
)
def test_every_usual_french_mobile_format_becomes_e164(raw):
    assert normalize_phone(raw) == "+33612345678"


def test_a_french_landline_is_accepted():
    assert normalize_phone("01 42 68 53 00") == "+33142685300"


@pytest.mark.parametrize(
    "raw",
    [
        "+44 7911 123456",  # United Kingdom
        "+1 202 555 0143",  # United States
        "0049 151 23456789",  # Germany
        "06 12 34 56",  # too short
        "12345",
        "06 12 34 56 78 90",  # too long
        "06 AB 34 56 78",  # letters
        "téléphone",
        "",
        "   ",
        "0000000000",
    ],
)
def test_foreign_short_long_or_lettered_numbers_are_refused(raw):
    with pytest.raises(ValueError):
        normalize_phone(raw)


@pytest.mark.parametrize("raw", [None, True, ["0612345678"], {"n": "0612345678"}, 6.12])
def test_a_phone_of_the_wrong_json_type_is_refused(raw):
    with pytest.raises(ValueError, match="invalide"):
        normalize_phone(raw)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2a", "2A"),
        ("2B", "2B"),
        ("1", "01"),
        (1, "01"),
        ("01", "01"),
        ("13", "13"),
        (75, "75"),
        ("95", "95"),
        ("971", "971"),
        ("976", "976"),
        (" 33 ", "33"),
    ],
)
def test_departements_are_normalized(raw, expected):
    assert normalize_departement(raw) == expected


@pytest.mark.parametrize("raw", ["20", "96", "00", "0", "977", "970", "2C", "", "13000", "Paris", None, True, ["13"]])
def test_codes_outside_the_list_are_refused(raw):
    with pytest.raises(ValueError):
        normalize_departement(raw)


def test_an_email_is_lowercased_and_trimmed():
    assert normalize_email("  Zoe.Martin@Exemple.FR ") == "zoe.martin@exemple.fr"


@pytest.mark.parametrize("raw", ["pas-un-email", "a@", "@b.fr", ["a@b.fr"], 12])
def test_an_invalid_email_is_refused(raw):
    with pytest.raises(ValueError):
        normalize_email(raw)


def test_an_empty_email_is_allowed():
    assert normalize_email("") == ""
    assert normalize_email(None) == ""


def test_names_are_trimmed_and_inner_spaces_collapsed_keeping_accents():
    assert normalize_name("  Jean-François   Éloïse ") == "Jean-François Éloïse"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Jean\x07", "Jean"),  # a control character (bell)
        ("Jean\x1b[31m", "Jean[31m"),  # an escape sequence loses its escape
        ("\u202eLuap", "Luap"),  # right-to-left override: would reverse what follows on screen
        ("\u200b", ""),  # a zero-width space alone is no name
        ("Jean \u200b Paul\ufeff", "Jean Paul"),
        ("Ma\u00adrie", "Marie"),  # soft hyphen
        ("Jean\tPaul\u2028", "Jean Paul"),
        # Joiners shape Persian, Indic scripts and emoji sequences: kept.
        ("\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645", "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645"),
        ("\U0001f468\u200d\U0001f469 Dupont", "\U0001f468\u200d\U0001f469 Dupont"),
    ],
)
def test_names_lose_invisible_and_control_characters(raw, expected):
    assert normalize_name(raw) == expected


def test_a_name_longer_than_100_characters_is_refused():
    with pytest.raises(ValueError):
        normalize_name("a" * 101)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("0692 12 34 56", "+262692123456"),  # Réunion (974)
        ("+262 692 12 34 56", "+262692123456"),
        ("692123456", "+262692123456"),
        ("0639 40 12 34", "+262639401234"),  # Mayotte (976)
        ("0690 12 34 56", "+590690123456"),  # Guadeloupe (971)
        ("0696 12 34 56", "+596696123456"),  # Martinique (972)
        ("0694 12 34 56", "+594694123456"),  # Guyane (973)
        ("+508 55 12 34", "+508551234"),  # Saint-Pierre-et-Miquelon (975)
    ],
)
def test_numbers_of_the_overseas_departements_are_french_numbers(raw, expected):
    # §4 accepts departements 971–976: their inhabitants' phones must be accepted too.
    assert normalize_phone(raw) == expected


@pytest.mark.parametrize("raw", ["+377 6 12 34 56 78", "+32 470 12 34 56", "+41 79 123 45 67"])
def test_neighbouring_countries_are_still_refused(raw):
    with pytest.raises(ValueError, match="français invalide"):
        normalize_phone(raw)
