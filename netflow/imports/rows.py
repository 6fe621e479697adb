"""Import patient records and imaging into the patient database.

>>> counts = import_source(PatientStore(engine), open_source("patients.jsonl"), book.ids)  # doctest: +SKIP
>>> counts.summary()                                                                      # doctest: +SKIP
'120 read, 100 inserted, 15 updated, 3 unchanged, 2 quarantined'

Every row read is accounted for exactly once: inserted + updated + unchanged + quarantined == read.
Rows are validated with the engine's own `parse_record`; an invalid row goes to quarantine with its
errors, never dropped. One transaction per chunk: a crash leaves whole chunks, never half a row.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from netflow.adapters.db import utcnow
from netflow.adapters.patients import PatientStore, PatientWriter, QuarantineEntry, record_hash
from netflow.batching import batched
from netflow.domain.dates import parse_iso_date
from netflow.domain.record import MAX_ID_LENGTH, MODALITIES, FieldError, PatientRecord, Scan, parse_record
from netflow.imports.formats import Source, SourceRow

__all__ = ["CHUNK_SIZE", "ImportCounts", "import_source"]

CHUNK_SIZE = 2000
MAX_STORED_INT = 2**31 - 1  # the patient database's INTEGER columns


@dataclass(frozen=True, slots=True)
class ImportCounts:
    """What an import did with the rows it read."""

    read: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    quarantined: int = 0

    def __add__(self, other: ImportCounts) -> ImportCounts:
        return ImportCounts(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(self)))

    def summary(self) -> str:
        return (f"{self.read} read, {self.inserted} inserted, {self.updated} updated, "
                f"{self.unchanged} unchanged, {self.quarantined} quarantined")


def import_source(store: PatientStore, source: Source, guidelines: Collection[str], *,
                  chunk_size: int = CHUNK_SIZE, on_rows: Callable[[int], None] | None = None,
                  clock: Callable[[], datetime] = utcnow) -> ImportCounts:
    """Import one file, chunk by chunk; `on_rows(n)` is told after each committed chunk."""
    total = ImportCounts()
    for chunk in batched(source.rows(), chunk_size):
        with store.transaction() as tx:
            if source.kind == "imaging":
                counts = _imaging_chunk(tx, source.name, chunk, clock())
            else:
                counts = _patients_chunk(tx, source.name, chunk, guidelines, clock())
        total += counts
        if on_rows is not None:
            on_rows(len(chunk))
    return total


def _raw_hash(row: SourceRow) -> str:
    content = row.text if row.raw is None else json.dumps(row.raw, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(content.encode("utf-8")).hexdigest()


def _record_key(raw: Any) -> str | None:
    key = raw.get("patient_id") if isinstance(raw, dict) else None
    return key if isinstance(key, str) and 0 < len(key) <= MAX_ID_LENGTH else None


def _quarantined(source: str, row: SourceRow, errors: Sequence[FieldError], resolved: bool = False
                 ) -> QuarantineEntry:
    return QuarantineEntry(source=source, line_no=row.line_no, record_key=_record_key(row.raw),
                           raw=row.text, errors=tuple(errors), raw_hash=_raw_hash(row), resolved=resolved)


def _validate_patients(chunk: Iterable[SourceRow], guidelines: Collection[str]
                       ) -> list[tuple[SourceRow, PatientRecord | None, list[FieldError]]]:
    checked: list[tuple[SourceRow, PatientRecord | None, list[FieldError]]] = []
    for row in chunk:
        if row.problem is not None:
            checked.append((row, None, [row.problem]))
            continue
        record, errors = parse_record(row.raw, guidelines)
        if record is not None:  # valid, but a count the database's INTEGER cannot hold is refused too
            errors = [FieldError(name, f"must be at most {MAX_STORED_INT}") for name in ("nodes_positive",
                      "nodes_examined") if (getattr(record, name) or 0) > MAX_STORED_INT]
            record = None if errors else record
        checked.append((row, record, errors))
    return checked


def _patients_chunk(tx: PatientWriter, source: str, chunk: list[SourceRow], guidelines: Collection[str],
                    now: datetime) -> ImportCounts:
    checked = _validate_patients(chunk, guidelines)
    valid = [record for _, record, _ in checked if record is not None]
    ids = {record.patient_id for record in valid}
    hashes, known_scans = tx.record_hashes(ids), tx.scan_keys(ids)
    tally = {"inserted": 0, "updated": 0, "unchanged": 0}
    changed: dict[str, tuple[PatientRecord, str]] = {}
    new_scans: list[tuple[str, Scan]] = []
    last_valid = {record.patient_id: n for n, (_, record, _) in enumerate(checked) if record is not None}
    quarantined: list[QuarantineEntry] = []
    for n, (row, record, errors) in enumerate(checked):
        if record is None:
            key = _record_key(row.raw)
            quarantined.append(_quarantined(source, row, errors, resolved=last_valid.get(key or "", -1) > n))
            continue
        pid, digest = record.patient_id, record_hash(record)
        fresh = [s for s in dict.fromkeys(record.imaging) if (pid, s.date, s.modality) not in known_scans]
        known_scans.update((pid, s.date, s.modality) for s in fresh)
        new_scans.extend((pid, s) for s in fresh)
        previous = hashes.get(pid)
        outcome = "inserted" if previous is None else "updated" if previous != digest or fresh else "unchanged"
        tally[outcome] += 1
        if previous != digest:
            changed[pid] = (record, digest)
            hashes[pid] = digest
    tx.resolve_quarantine(ids, now)
    tx.upsert_patients(changed.values(), now)
    tx.add_imaging(new_scans, now)
    tx.quarantine(quarantined, now)
    return ImportCounts(read=len(chunk), quarantined=len(quarantined), **tally)


def _check_scan(raw: Any) -> tuple[tuple[str, Scan] | None, list[FieldError]]:
    """Validate one imaging CSV row: patient_id, date, modality."""
    errors: list[FieldError] = []
    pid = raw.get("patient_id")
    if not isinstance(pid, str) or not pid or pid.strip() != pid or len(pid) > MAX_ID_LENGTH:
        errors.append(FieldError("patient_id", f"is required: 1-{MAX_ID_LENGTH} characters without "
                                               f"surrounding spaces"))
    when = parse_iso_date(raw.get("date"))
    if when is None:
        errors.append(FieldError("date", "must be an ISO date YYYY-MM-DD"))
    modality = raw.get("modality")
    if modality not in MODALITIES:
        errors.append(FieldError("modality", f"must be one of {', '.join(MODALITIES)}"))
    if errors or not isinstance(pid, str) or when is None or not isinstance(modality, str):
        return None, errors
    return (pid, Scan(when, modality)), []


def _imaging_chunk(tx: PatientWriter, source: str, chunk: list[SourceRow], now: datetime) -> ImportCounts:
    checked = [(row, *(_check_scan(row.raw) if row.problem is None else (None, [row.problem])))
               for row in chunk]
    known = tx.scan_keys({scan[0] for _, scan, _ in checked if scan is not None})
    new_scans: list[tuple[str, Scan]] = []
    quarantined: list[QuarantineEntry] = []
    for row, scan, errors in checked:
        if scan is None:
            quarantined.append(_quarantined(source, row, errors))
        elif (key := (scan[0], scan[1].date, scan[1].modality)) not in known:
            known.add(key)
            new_scans.append(scan)
    tx.add_imaging(new_scans, now)
    tx.quarantine(quarantined, now)
    inserted = len(new_scans)
    return ImportCounts(read=len(chunk), inserted=inserted, quarantined=len(quarantined),
                        unchanged=len(chunk) - inserted - len(quarantined))
