"""What a legacy import did, collection by collection (§12): printed and written to a file."""

import datetime
import json
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

MAX_WARNING_EXAMPLES = 200
_QUOTED = re.compile(r"«[^»]*»")


@dataclass
class CollectionReport:
    name: str
    present: bool = True
    read: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0
    invalid: list[tuple[str, str]] = field(default_factory=list)  # (document, reason): all of them
    warning_counts: Counter = field(default_factory=Counter)
    warning_examples: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def add_invalid(self, ref: str, reason: str) -> None:
        self.invalid.append((ref, reason))

    def add_warnings(self, ref: str, warnings: list[str]) -> None:
        for warning in warnings:
            # Grouped by kind (quoted values removed) so 200k "ville non reprise" stay one line.
            self.warning_counts[_QUOTED.sub("«…»", warning)] += 1
            if len(self.warning_examples) < MAX_WARNING_EXAMPLES:
                self.warning_examples.append((ref, warning))

    @property
    def rate(self) -> float:
        return self.read / self.seconds if self.seconds else 0.0

    def as_dict(self) -> dict:
        return {
            "collection": self.name,
            "present": self.present,
            "read": self.read,
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "skipped": self.skipped,
            "invalid": len(self.invalid),
            "invalid_documents": [{"document": ref, "reason": reason} for ref, reason in self.invalid],
            "warnings": dict(self.warning_counts),
            "warning_examples": [{"document": ref, "warning": text} for ref, text in self.warning_examples],
            "notes": self.notes,
            "seconds": round(self.seconds, 3),
            "rows_per_second": round(self.rate, 1),
        }


@dataclass
class ImportReport:
    source: str
    dry_run: bool
    started_at: datetime.datetime
    collections: dict[str, CollectionReport] = field(default_factory=dict)
    finished_at: datetime.datetime | None = None

    def collection(self, name: str) -> CollectionReport:
        return self.collections.setdefault(name, CollectionReport(name=name))

    @property
    def invalid_count(self) -> int:
        return sum(len(c.invalid) for c in self.collections.values())

    def as_dict(self) -> dict:
        return {
            "source": self.source,
            "dry_run": self.dry_run,
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "collections": [c.as_dict() for c in self.collections.values()],
        }

    def as_text(self) -> str:
        lines = [
            f"Import de l'ancien système — {self.started_at:%Y-%m-%d %H:%M:%S} UTC — {self.source}",
        ]
        if self.dry_run:
            lines.append("SIMULATION (--dry-run) : rien n'a été écrit, les chiffres disent ce qui serait fait.")
        header = f"{'collection':<11}{'lus':>9}{'créés':>9}{'mis à jour':>12}{'inchangés':>11}{'ignorés':>9}{'invalides':>11}{'docs/s':>9}"
        lines += ["", header, "-" * len(header)]
        for c in self.collections.values():
            if not c.present:
                lines.append(f"{c.name:<11}{'absente de la source':>40}")
                continue
            lines.append(
                f"{c.name:<11}{c.read:>9}{c.created:>9}{c.updated:>12}{c.unchanged:>11}{c.skipped:>9}"
                f"{len(c.invalid):>11}{c.rate:>9.0f}"
            )
        for c in self.collections.values():
            if c.notes:
                lines += ["", f"[{c.name}] remarques :"] + [f"  - {note}" for note in c.notes]
            if c.invalid:
                lines += ["", f"[{c.name}] documents invalides, non importés ({len(c.invalid)}) :"]
                lines += [f"  - {ref} : {reason}" for ref, reason in c.invalid]
            if c.warning_counts:
                lines += ["", f"[{c.name}] avertissements (document importé, valeur non reprise ou corrigée) :"]
                lines += [f"  - {count} × {kind}" for kind, count in c.warning_counts.most_common()]
                lines.append(f"  exemples ({len(c.warning_examples)}) :")
                lines += [f"    {ref} : {text}" for ref, text in c.warning_examples[:50]]
        return "\n".join(lines) + "\n"

    def write(self, path: Path) -> tuple[Path, Path]:
        """Write the text report at `path` and the same data as JSON next to it."""
        path.parent.mkdir(parents=True, exist_ok=True)
        text_path = path if path.suffix != ".json" else path.with_suffix(".txt")
        json_path = text_path.with_suffix(".json")
        text_path.write_text(self.as_text(), encoding="utf-8")
        json_path.write_text(json.dumps(self.as_dict(), ensure_ascii=False, indent=1), encoding="utf-8")
        return text_path, json_path
