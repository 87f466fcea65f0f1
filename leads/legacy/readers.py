"""Readers of the previous system's MongoDB data (§12).

Every source — a `mongoexport` file (Extended JSON, one document per line or a JSON
array), a `mongodump` `.bson` file, or a live MongoDB URI — yields the same thing:
`Item(ref, doc, error)` where `doc` is a plain Python dict produced by `plain()` (ObjectId
→ str, ISODate → aware UTC datetime, $numberLong → int, Decimal128 → Decimal). The
mapping and the importer never see a BSON type, so the live path and the file paths share
all the code after the read.

Files are streamed: memory does not grow with the file size.
"""

import datetime
import decimal
import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import bson
from bson import json_util
from bson.codec_options import CodecOptions, DatetimeConversion
from bson.errors import BSONError
from bson.json_util import JSONMode, JSONOptions

# Collections of the previous system, in import order (references point backwards), with
# the names they had in the old database (French names on older installs).
COLLECTIONS: dict[str, tuple[str, ...]] = {
    "providers": ("providers", "fournisseurs"),
    "clients": ("clients",),
    "forms": ("forms", "formulaires"),
    "commandes": ("commandes", "orders"),
    "leads": ("leads",),
    "settings": ("settings", "parametres"),
    "media": ("media", "medias"),
}
FILE_SUFFIXES = (".jsonl", ".ndjson", ".json", ".bson")

# A date beyond Python's calendar (year 10000+, a sentinel or microseconds stored as
# milliseconds) comes as DatetimeMS, reported by the mapping, instead of failing the document
# (or, from a live database, the whole import).
DATES = DatetimeConversion.DATETIME_AUTO
JSON_OPTIONS = JSONOptions(json_mode=JSONMode.RELAXED, tz_aware=True, tzinfo=datetime.UTC, datetime_conversion=DATES)
BSON_OPTIONS = CodecOptions(tz_aware=True, tzinfo=datetime.UTC, datetime_conversion=DATES)
# Old drivers could store text that is not valid UTF-8; the JSON files are read the same way.
BSON_LENIENT_OPTIONS = CodecOptions(
    tz_aware=True, tzinfo=datetime.UTC, unicode_decode_error_handler="replace", datetime_conversion=DATES
)
BSON_MAX_DOCUMENT = 64 * 1024 * 1024  # MongoDB's limit is 16 MiB: a larger length is a corrupt prefix
JSON_MAX_DOCUMENT = BSON_MAX_DOCUMENT  # characters: 16 MiB of BSON, about four times longer in Extended JSON
_READ_SIZE = 1 << 16


class LegacySourceError(Exception):
    """The source itself cannot be read (missing file, unreachable server) — French message."""


@dataclass
class Item:
    """One document of a source, or the reason it could not be decoded."""

    ref: str  # where it comes from: "ligne 12", "document 3"
    doc: dict | None = None
    error: str = ""
    warning: str = ""  # the document was read, with this correction


# --- BSON types → plain Python -----------------------------------------------------------
def plain(value):
    """Convert decoded BSON/Extended JSON values into plain Python values, recursively."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, bool | str | float | None):
        return value
    if isinstance(value, int):  # bson.Int64 is an int subclass
        return int(value)
    if isinstance(value, datetime.datetime):
        return value if value.tzinfo else value.replace(tzinfo=datetime.UTC)
    if isinstance(value, bson.ObjectId):
        return str(value)
    if isinstance(value, bson.Decimal128):
        return value.to_decimal()
    if isinstance(value, bson.DatetimeMS):  # out of Python's datetime range
        return int(value)  # milliseconds, which the mapping reports as an unreadable date
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, decimal.Decimal):
        return value
    return str(value)  # Regex, Timestamp, Code, MinKey… : kept readable


# --- Files -------------------------------------------------------------------------------
def _extended_json_hook(obj: dict):
    """Extended JSON wrapper → plain value. The frequent ones ($oid, $date, $numberLong) are
    converted here directly (the import's hot path); the rest goes through bson.json_util."""
    if len(obj) != 1:
        for key in obj:
            if key.startswith("$"):
                return plain(json_util.object_hook(obj, JSON_OPTIONS))
        return obj
    key, value = next(iter(obj.items()))
    if not key.startswith("$"):
        return obj
    if key == "$oid" and isinstance(value, str) and len(value) == 24:
        try:
            int(value, 16)
        except ValueError:
            pass
        else:
            return value.lower()
    elif key == "$date" and isinstance(value, str):
        try:
            moment = datetime.datetime.fromisoformat(value)
        except ValueError:
            pass
        else:
            return moment if moment.tzinfo else moment.replace(tzinfo=datetime.UTC)
    elif key in ("$numberLong", "$numberInt") and isinstance(value, str) and value.lstrip("-").isdigit():
        return int(value)
    return plain(json_util.object_hook(obj, JSON_OPTIONS))


def _json_decoder() -> json.JSONDecoder:
    return json.JSONDecoder(object_hook=_extended_json_hook)


def read_json_file(path: Path) -> Iterator[Item]:
    """`mongoexport` output: one Extended JSON document per line, or a JSON array (`--jsonArray`)."""
    with open(path, encoding="utf-8-sig", errors="replace") as handle:
        first = ""
        while True:
            char = handle.read(1)
            if not char:
                return
            if not char.isspace():
                first = char
                break
        if first == "[":
            yield from _read_json_array(handle)
        else:
            yield from _read_json_lines(handle, first)


def _read_json_lines(handle, first: str) -> Iterator[Item]:
    decoder = _json_decoder()
    lineno = 0
    pending = first
    for line in handle:
        lineno += 1
        text = (pending + line).strip()
        pending = ""
        if not text:
            continue
        yield _decode_text(decoder, text, f"ligne {lineno}")


def _decode_text(decoder: json.JSONDecoder, text: str, ref: str) -> Item:
    try:
        value = decoder.decode(text)
    except (ValueError, TypeError, OverflowError, BSONError) as exc:
        return Item(ref=ref, error=f"JSON illisible : {str(exc)[:200]}")
    if not isinstance(value, dict):
        return Item(ref=ref, error="un objet JSON est attendu")
    return Item(ref=ref, doc=value)  # already plain (see _extended_json_hook)


def _read_json_array(handle) -> Iterator[Item]:
    """Stream the elements of a JSON array without loading the file (raw_decode on a buffer)."""
    decoder = _json_decoder()
    plain_decoder = json.JSONDecoder()
    buffer = ""
    index = 0
    eof = False
    while True:
        # Skip separators between elements.
        buffer = buffer.lstrip(" \t\r\n,")
        if buffer.startswith("]"):
            return
        if not buffer:
            if eof:
                yield Item(ref=f"document {index + 1}", error="tableau JSON non terminé (« ] » manquant)")
                return
            chunk = handle.read(_READ_SIZE)
            eof = not chunk
            buffer += chunk
            continue
        broken: json.JSONDecodeError | None = None
        try:
            value, end = decoder.raw_decode(buffer)
        except json.JSONDecodeError as exc:
            broken = exc
        except (ValueError, TypeError, OverflowError, BSONError) as exc:
            # Valid JSON but a bad Extended JSON value ({"$oid": "zz"}): skip this element
            # only, once it is whole (it may go on in the next chunk).
            try:
                _, end = plain_decoder.raw_decode(buffer)
            except json.JSONDecodeError as cut:
                broken = cut
            else:
                index += 1
                buffer = buffer[end:]
                yield Item(ref=f"document {index}", error=f"valeur illisible : {str(exc)[:200]}")
                continue
        if broken is not None:
            if not eof and _maybe_cut(broken, buffer):
                # Read as much again: an element bigger than a chunk costs linear time.
                chunk = handle.read(max(_READ_SIZE, len(buffer)))
                eof = not chunk
                buffer += chunk
                continue
            index += 1
            # The rest of the array cannot be located reliably: say that it is left out.
            yield Item(ref=f"document {index}", error=f"JSON illisible, fin du fichier ignorée : {str(broken)[:200]}")
            return
        if end == len(buffer) and not eof and not isinstance(value, dict):
            # A number or literal may continue in the next chunk: read more before trusting it.
            chunk = handle.read(_READ_SIZE)
            eof = not chunk
            buffer += chunk
            if chunk:
                continue
        index += 1
        buffer = buffer[end:]
        ref = f"document {index}"
        if not isinstance(value, dict):
            yield Item(ref=ref, error="un objet JSON est attendu")
        else:
            yield Item(ref=ref, doc=value)


def _maybe_cut(exc: json.JSONDecodeError, buffer: str) -> bool:
    """Whether the element may only be cut by the end of the buffer (more must be read),
    rather than broken: a cut element fails at the very end (a number, a literal or an
    escape cut short) or in a string left open, and is never larger than a document can be."""
    if len(buffer) > JSON_MAX_DOCUMENT:
        return False
    return exc.pos >= len(buffer) - 16 or exc.msg.startswith("Unterminated string")


def read_bson_file(path: Path) -> Iterator[Item]:
    """`mongodump` output: concatenated BSON documents, each prefixed by its length.

    A document that cannot be decoded is reported and the next one read; only a corrupt
    length prefix (or a truncated end) leaves no way to find the next document."""
    index = 0
    with open(path, "rb") as handle:
        while True:
            head = handle.read(4)
            if not head:
                return
            index += 1
            ref = f"document {index}"
            size = int.from_bytes(head, "little", signed=True) if len(head) == 4 else 0
            if not 5 <= size <= BSON_MAX_DOCUMENT:
                yield Item(ref=ref, error="BSON illisible, fin du fichier ignorée : longueur de document invalide")
                return
            data = head + handle.read(size - 4)
            if len(data) < size:
                yield Item(ref=ref, error="BSON illisible, fin du fichier ignorée : document tronqué")
                return
            yield _decode_bson(data, ref)


def _decode_bson(data: bytes, ref: str) -> Item:
    try:
        return Item(ref=ref, doc=plain(bson.decode(data, codec_options=BSON_OPTIONS)))
    except (BSONError, ValueError, OverflowError) as exc:
        error = str(exc)[:200]
    try:
        doc = plain(bson.decode(data, codec_options=BSON_LENIENT_OPTIONS))
    except (BSONError, ValueError, OverflowError):
        return Item(ref=ref, error=f"BSON illisible : {error}")
    return Item(ref=ref, doc=doc, warning="texte non UTF-8 : caractères illisibles remplacés")


def read_file(path: Path) -> Iterator[Item]:
    if not path.is_file():
        raise LegacySourceError(f"Fichier introuvable : {path.name}")
    if path.suffix.lower() == ".bson":
        return read_bson_file(path)
    return read_json_file(path)


# --- Sources -----------------------------------------------------------------------------
class Source:
    """Where the documents of each legacy collection come from."""

    label = ""

    def documents(self, collection: str) -> Iterator[Item] | None:
        """Items of `collection` (an RDZ collection name), or None when the source lacks it."""
        raise NotImplementedError

    def count(self, collection: str) -> int | None:
        return None

    def close(self) -> None:
        pass


class DirectorySource(Source):
    """A folder of export files named after the collections (leads.jsonl, leads.json, leads.bson…)."""

    def __init__(self, path: Path):
        if not path.is_dir():
            raise LegacySourceError(f"Dossier introuvable : {path}")
        self.path = path
        self.label = f"dossier {path.name}"

    def file_for(self, collection: str) -> Path | None:
        for name in COLLECTIONS[collection]:
            for suffix in FILE_SUFFIXES:
                candidate = self.path / f"{name}{suffix}"
                if candidate.is_file():
                    return candidate
        return None

    def documents(self, collection: str) -> Iterator[Item] | None:
        path = self.file_for(collection)
        return read_file(path) if path else None


class FileSource(Source):
    """One export file holding one collection (named after it, or given with --collection)."""

    def __init__(self, path: Path, collection: str | None = None):
        if not path.is_file():
            raise LegacySourceError(f"Fichier introuvable : {path}")
        self.path = path
        self.collection = collection or collection_for_name(path.stem)
        if self.collection is None:
            raise LegacySourceError(
                f"Impossible de deviner la collection du fichier « {path.name} » : précisez --collection."
            )
        self.label = f"fichier {path.name}"

    def documents(self, collection: str) -> Iterator[Item] | None:
        return read_file(self.path) if collection == self.collection else None


def collection_for_name(name: str) -> str | None:
    lowered = name.lower()
    for collection, names in COLLECTIONS.items():
        if lowered in names:
            return collection
    return None


class MongoSource(Source):
    """A live MongoDB database read with pymongo; documents go through `plain()` like the files."""

    BATCH_SIZE = 2000

    def __init__(self, uri: str, db: str, client_factory: Callable | None = None):
        if client_factory is None:
            import pymongo

            client_factory = pymongo.MongoClient
        try:
            self.client = client_factory(
                uri,
                tz_aware=True,
                serverSelectionTimeoutMS=10_000,
                unicode_decode_error_handler="replace",
                datetime_conversion=DATES,
            )
            self.db = self.client[db]
            self.names = set(self.db.list_collection_names())
        except Exception as exc:  # pymongo raises many error types; the operator needs the reason
            raise LegacySourceError(f"Connexion MongoDB impossible : {str(exc)[:300]}") from exc
        self.label = f"base MongoDB {db}"

    def _name(self, collection: str) -> str | None:
        return next((n for n in COLLECTIONS[collection] if n in self.names), None)

    def count(self, collection: str) -> int | None:
        name = self._name(collection)
        return self.db[name].estimated_document_count() if name else None

    def documents(self, collection: str) -> Iterator[Item] | None:
        name = self._name(collection)
        if name is None:
            return None
        return self._iterate(name)

    def _iterate(self, name: str) -> Iterator[Item]:
        # Sorted by _id so an interrupted import can be compared with a re-run.
        cursor = self.db[name].find({}).sort("_id", 1).batch_size(self.BATCH_SIZE)
        for index, doc in enumerate(cursor, start=1):
            try:
                yield Item(ref=f"document {index}", doc=plain(dict(doc)))
            except (ValueError, TypeError, BSONError) as exc:
                yield Item(ref=f"document {index}", error=f"valeur illisible : {str(exc)[:200]}")

    def close(self) -> None:
        self.client.close()
