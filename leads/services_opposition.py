"""The opposition list (§16): numbers that are never routed, delivered nor forwarded.

Entries come from imported lists (Bloctel exports, one number per line or CSV), from staff
(back-office) and from erasure requests (leads.services_rgpd). Every number is stored
normalized (E.164), so a lead is matched whatever format it arrived in.
"""

import codecs
import csv
import io
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from django.db import transaction

from leads.models import OppositionEntry
from leads.normalization import normalize_phone
from rdz.core.services import audit_log
from rdz.core.text import count_noun

PHONE_HEADERS = {"telephone", "téléphone", "tel", "tél", "phone", "numero", "numéro", "mobile", "portable", "number"}
MAX_INVALID_LISTED = 1000


class OppositionError(Exception):
    """Refused opposition-list change (French message)."""


def opposition_phone_normalize(raw) -> str:
    """Any French format → E.164; also the international form without "+" of list exports."""
    text = str(raw).strip() if raw is not None else ""
    compact = re.sub(r"[\s.\-()/]", "", text)
    if re.fullmatch(r"33\d{9}", compact):
        text = "+" + compact
    try:
        return normalize_phone(text)
    except ValueError as exc:
        raise OppositionError(str(exc)) from exc


@transaction.atomic
def opposition_add(*, phone: str, reason: str = "", source: str = "", actor=None) -> tuple[OppositionEntry, bool]:
    """Add one number (any format). Returns (entry, created); an existing entry keeps its origin."""
    number = opposition_phone_normalize(phone)
    entry, created = OppositionEntry.objects.get_or_create(
        phone=number, defaults={"reason": reason[:200], "source": source[:100]}
    )
    if created:
        # The audit row names the entry, not the number: the list itself is the only copy.
        audit_log(
            action="opposition.add",
            actor=actor,
            obj=entry,
            message=f"Numéro ajouté à la liste d'opposition (source « {source[:100]} », motif « {reason[:200]} »)",
        )
    return entry, created


@transaction.atomic
def opposition_remove(*, phone: str, actor=None, reason: str = "") -> bool:
    """Remove one number (any format). Returns False when it was not on the list."""
    number = opposition_phone_normalize(phone)
    entry = OppositionEntry.objects.filter(phone=number).first()
    if entry is None:
        return False
    audit_log(
        action="opposition.remove",
        actor=actor,
        obj=entry,
        message=f"Numéro retiré de la liste d'opposition (source d'origine « {entry.source} »)"
        + (f", motif : {reason[:200]}" if reason else ""),
    )
    entry.delete()
    return True


@dataclass
class OppositionImportResult:
    added: int = 0
    already: int = 0
    invalid: list[tuple[int, str, str]] = field(default_factory=list)  # (line, text, reason)
    invalid_count: int = 0

    def summary(self) -> str:
        return (
            f"{count_noun(self.added, 'numéro ajouté', 'numéros ajoutés')}, "
            f"{count_noun(self.already, 'déjà présent', 'déjà présents')}, "
            f"{count_noun(self.invalid_count, 'ligne invalide', 'lignes invalides')}."
        )


def _candidates(lines: Iterable[str]) -> Iterator[tuple[int, str, str]]:
    """(line number, raw text, phone cell) of every data line: one number per line, or CSV
    (`;`, `,` or tab) with a phone column found by its header or by its content.

    The separator is the file's, taken from its first line holding one (a header most of
    the time): a quoted name holding another separator does not split its line. Every line
    goes through the CSV reader, so quoted values ("06 12 34 56 78") are read too."""
    column: int | None = None
    delimiter: str | None = None
    first = True
    for lineno, line in enumerate(lines, start=1):
        text = line.strip().lstrip("\ufeff")
        if not text:
            continue
        is_first, first = first, False
        if delimiter is None:
            delimiter = next((d for d in (";", "\t", ",") if d in text), None)
        try:
            cells = [c.strip().strip('"').strip() for c in next(csv.reader([text], delimiter=delimiter or ";"))]
        except csv.Error:  # a field beyond the CSV reader's limit (a binary file): an invalid line
            yield lineno, text, text
            continue
        lowered = [c.lower() for c in cells]
        if len(cells) == 1:
            if is_first and lowered[0] in PHONE_HEADERS:
                continue  # the header of a one-column list
            yield lineno, text, cells[0]
            continue
        if column is None:
            header = next((i for i, c in enumerate(lowered) if c in PHONE_HEADERS), None)
            if header is not None:
                column = header
                continue  # the header line itself
            column = _phone_column_by_content(cells)
            if column is None:
                if any(re.search(r"[a-zA-Z]", c) for c in cells) and is_first:
                    continue  # an unrecognised header line
                yield lineno, text, cells[0]
                continue
        yield lineno, text, cells[column] if column < len(cells) else ""


def _phone_column_by_content(cells: list[str]) -> int | None:
    """The column of a headerless CSV holding the phone: a number written as a phone (0…,
    +33…, 0033…, 33 and nine digits) first; a bare nine-digit cell (also a valid number)
    only when no cell is, so a nine-digit customer id before the phone is not taken for it."""
    readable = []
    for i, cell in enumerate(cells):
        try:
            opposition_phone_normalize(cell)
        except OppositionError:
            continue
        readable.append(i)
    for i in readable:
        digits = re.sub(r"\D", "", cells[i])
        if cells[i].startswith(("0", "+")) or (digits.startswith("33") and len(digits) == 11):
            return i
    return readable[0] if readable else None


def opposition_import(
    *, lines: Iterable[str], source: str, reason: str = "", actor=None, chunk_size: int = 1000
) -> OppositionImportResult:
    """Add every valid number of a list; invalid lines are reported, never fatal.

    Streams the lines and writes in chunks, so a multi-million-line Bloctel export stays
    within flat memory. Each chunk is its own transaction: what is added stays added.
    """
    result = OppositionImportResult()
    chunk: dict[str, int] = {}

    def flush() -> None:
        if not chunk:
            return
        with transaction.atomic():
            present = set(OppositionEntry.objects.filter(phone__in=list(chunk)).values_list("phone", flat=True))
            new = [
                OppositionEntry(phone=p, reason=reason[:200], source=source[:100]) for p in chunk if p not in present
            ]
            OppositionEntry.objects.bulk_create(new, ignore_conflicts=True)
        result.added += len(new)
        result.already += len(present)
        chunk.clear()

    for lineno, text, cell in _candidates(lines):
        try:
            number = opposition_phone_normalize(cell)
        except OppositionError as exc:
            result.invalid_count += 1
            if len(result.invalid) < MAX_INVALID_LISTED:
                result.invalid.append((lineno, text[:60], str(exc)))
            continue
        if number in chunk:
            result.already += 1
            continue
        chunk[number] = lineno
        if len(chunk) >= chunk_size:
            flush()
    flush()
    audit_log(
        action="opposition.import",
        actor=actor,
        message=f"Import de liste d'opposition (source « {source[:100]} ») : {result.summary()}",
    )
    return result


def opposition_lines_from_bytes(data: bytes | io.BufferedIOBase) -> Iterator[str]:
    """Lines of an uploaded list, UTF-8 (with or without BOM), UTF-16 with its BOM (Excel's
    "Unicode text") or Windows-1252 (Excel's CSV)."""
    raw = data if isinstance(data, bytes) else data.read()
    encoding = opposition_file_encoding(io.BytesIO(raw))
    return iter(raw.decode(encoding, errors="replace").splitlines())


def opposition_file_encoding(handle) -> str:
    """The encoding of a list file, decided before any line is used (a file is read once
    more for it, in chunks): a UTF-16 BOM, else UTF-8 when every byte decodes, else
    Windows-1252. The handle is rewound."""
    start = handle.read(2)
    if start in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
        encoding = "utf-16"
    else:
        decoder = codecs.getincrementaldecoder("utf-8")()
        encoding = "utf-8-sig"
        chunk = start
        try:
            while chunk:
                decoder.decode(chunk)
                chunk = handle.read(1 << 20)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            encoding = "cp1252"
    handle.seek(0)
    return encoding
