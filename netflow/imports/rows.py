"""Import patient records and imaging into the patient database.

>>> counts = import_source(PatientStore(engine), open_source("patients.jsonl"), book.ids)  # doctest: +SKIP
>>> counts.summary()                                                                      # doctest: +SKIP
'120 read, 100 inserted, 15 updated, 3 unchanged, 2 quarantined'

Every row read is accounted for exactly once: inserted + updated + unchanged + quarantined == read.
Rows are validated with the engine's own `parse_record` (a plainly well-formed one by `quick_record`, which
builds the same record); an invalid row goes to quarantine with its errors, never dropped. One transaction
per chunk: a crash leaves whole chunks, never half a row.

The import adds rules of its own after `parse_record` (netflow.imports.rules: unknown fields, the
database's keys, the length of a name, plausible dates): rules about the quality of the feed, not
clinical ones, so `netflow evaluate` does not apply them.

A file that changes while it is read is refused (SourceChanged) before the chunk being read is
committed; the chunks committed before it stay, and the message says how many rows they held.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, fields, replace
from datetime import date, datetime
from functools import partial
from operator import itemgetter
from typing import Any

from netflow.adapters.db import utcnow
from netflow.adapters.patients import PatientStore, PatientWriter, QuarantineEntry, patient_values, record_hash
from netflow.batching import batched
from netflow.domain.dates import parse_iso_date
from netflow.domain.lean import quick_record
from netflow.domain.record import (
    MAX_ID_LENGTH,
    MODALITIES,
    FieldError,
    PatientRecord,
    Scan,
    parse_record,
)
from netflow.imports import rules
from netflow.imports.fhir.patients import Done, Part, assemble_part, collector_paused
from netflow.imports.fhir.source import FhirExport
from netflow.imports.formats import JsonLine, Source, SourceChanged, SourceRow, changed_message, jsonl_row
from netflow.imports.rules import EARLIEST_DATE, MAX_NAME_LENGTH, feed_errors
from netflow.imports.workers import in_order

__all__ = ["CHUNK_SIZE", "EARLIEST_DATE", "MAX_NAME_LENGTH", "ImportCounts", "feed_errors", "import_source"]

CHUNK_SIZE = 10_000  # rows per transaction: a crash or a changed file loses at most the chunk being written
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
                  chunk_size: int = CHUNK_SIZE, workers: int = 1, on_rows: Callable[[int], None] | None = None,
                  clock: Callable[[], datetime] = utcnow) -> ImportCounts:
    """Import one file, chunk by chunk; `on_rows(n)` is told after each committed chunk. The file is closed
    when the import ends. With `workers` > 1 the lines of a JSON Lines file are parsed and validated in that
    many processes while this one writes (the same result, in the same order).

    Before each chunk is committed, and once the file is read to its end, the file must still be the one
    opened (`Source.changed`); else SourceChanged: the chunk being read is rolled back, the chunks
    committed before stay (their rows are whole, valid imports), and the message says how many rows."""
    total = ImportCounts()
    analyze_at = chunk_size  # the database's statistics refreshed after the first chunk, then each doubling
    try:
        for write in _chunks(source, guidelines, chunk_size, workers, clock):
            # the chunk's rows and statements live until it is committed: no collector walking them (a third
            # of an import's time) for no cycle
            with collector_paused(), store.transaction() as tx:
                counts = write(tx)
                _refuse_if_changed(source)  # inside the transaction: this chunk is rolled back
            total += counts
            if total.read >= analyze_at:
                store.refresh_statistics()
                analyze_at = 2 * total.read
            if on_rows is not None:
                on_rows(counts.read)
        _refuse_if_changed(source)
    except SourceChanged:
        kept = (f"the {total.read} rows of the chunks committed before stay imported" if total.read
                else "nothing was imported")
        raise SourceChanged(f"{changed_message(source.name)}; {kept}") from None
    finally:
        source.close()
    return total


def _chunks(source: Source, guidelines: Collection[str], chunk_size: int, workers: int,
            clock: Callable[[], datetime]) -> Iterator[Callable[[PatientWriter], ImportCounts]]:
    """Each chunk of the file, checked, as the write of its transaction. `clock()` is read once a chunk, before
    its rows are checked (the day of the import bounds their dates) and stamps what the chunk stores."""
    if source.kind == "imaging":
        for rows in batched(source.rows(), chunk_size):
            yield partial(_imaging_chunk, source=source.name, chunk=rows, now=clock())
        return
    if source.format == "jsonl":  # lines parsed and checked together: in the workers, or here with one
        jobs = ((lines, guidelines, clock(), source.name) for lines in batched(source.lines(), chunk_size))
        checked = in_order(check_lines, jobs, workers) if workers > 1 else (check_lines(*job) for job in jobs)
    elif isinstance(source, FhirExport) and workers > 1:  # records assembled and checked there (netflow.imports.fhir)
        parts = ((part, guidelines, clock(), source.name) for part in source.parts(chunk_size))
        for read, now, chunk, done in in_order(check_part, parts, workers):
            source.absorb(done)  # the part's counts, and its links kept, before its rows are stored
            yield partial(_store_patients, read=read, checked=chunk, now=now)
        return
    else:
        checked = ((len(rows), now, check_patients(rows, guidelines, now.date(), source.name))
                   for rows in batched(source.rows(), chunk_size) for now in (clock(),))
    for read, now, chunk in checked:
        yield partial(_store_patients, read=read, checked=chunk, now=now)


def _refuse_if_changed(source: Source) -> None:
    if source.changed():
        raise SourceChanged(changed_message(source.name))


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


def _validate_patients(chunk: Iterable[SourceRow], guidelines: Collection[str], today: date
                       ) -> list[tuple[SourceRow, PatientRecord | None, list[FieldError]]]:
    checked: list[tuple[SourceRow, PatientRecord | None, list[FieldError]]] = []
    for row in chunk:
        if row.problem is not None:
            checked.append((row, None, [row.problem]))
            continue
        record = quick_record(row.raw, guidelines)  # the common case; parse_record decides the rest, naming each field
        errors: list[FieldError] = []
        if record is None:
            record, errors = parse_record(row.raw, guidelines)
        if row.missing:  # a FHIR patient's missing pieces, said in FHIR's words, replace "is required"
            missing = {error.field for error in row.missing}
            record, errors = None, [*row.missing, *(e for e in errors if e.field not in missing)]
        named = {error.field for error in errors}  # a field the engine refused is not refused twice
        errors.extend(error for error in feed_errors(row.raw, today, record) if error.field not in named)
        if record is not None:  # valid, but a count the database's INTEGER cannot hold is refused too
            errors.extend(FieldError(name, f"must be at most {MAX_STORED_INT}") for name in ("nodes_positive",
                          "nodes_examined") if (getattr(record, name) or 0) > MAX_STORED_INT)
        checked.append((row, None if errors else record, errors))
    return checked


# A checked patients row: its key (patient_id; a quarantined row's record_key), the record's values in
# PATIENT_FIELDS order, its record_hash and its imaging (date, modality, source, source_key), no entry
# twice; or for a row that failed, values None and its quarantine entry. Plain tuples: they cross from
# the worker processes cheaply.
ScanValues = tuple[date, str, str | None, str | None]
Checked = tuple[str | None, tuple[Any, ...] | None, str, tuple[ScanValues, ...], QuarantineEntry | None]


def check_lines(lines: list[JsonLine], guidelines: Collection[str], now: datetime, source: str
                ) -> tuple[int, datetime, list[Checked]]:
    """A chunk of JSON Lines lines parsed and checked (what a worker process does): (rows, now, checked)."""
    with collector_paused():  # the chunk's rows live until it is checked: no collector walking them
        return len(lines), now, check_patients([jsonl_row(*line) for line in lines], guidelines, now.date(), source)


def check_part(part: Part, guidelines: Collection[str], now: datetime, source: str
               ) -> tuple[int, datetime, list[Checked], Done]:
    """A part of a FHIR export assembled and checked (what a worker process does): (rows, now, checked, done)."""
    with collector_paused():
        rows, done = assemble_part(part)
        return len(rows), now, check_patients(rows, guidelines, now.date(), source), done


def check_patients(rows: Iterable[SourceRow], guidelines: Collection[str], today: date, source: str
                   ) -> list[Checked]:
    """Each row validated (the engine's rules and the import's) and made ready to store or to quarantine."""
    with collector_paused():  # what the chunk's rows make lives until the chunk is checked
        return _checked(rows, guidelines, today, source)


def _checked(rows: Iterable[SourceRow], guidelines: Collection[str], today: date, source: str) -> list[Checked]:
    checked: list[Checked] = []
    for row, record, errors in _validate_patients(rows, guidelines, today):
        if record is None:
            checked.append((_record_key(row.raw), None, "", (), _quarantined(source, row, errors)))
            continue
        scans = _scans(record, row.scan_sources)
        checked.append((record.patient_id, patient_values(record), record_hash(record), scans, None))
    return checked


def _scans(record: PatientRecord, sources: tuple[tuple[str, str], ...]) -> tuple[ScanValues, ...]:
    """The record's imaging, no scan twice (by date and modality, the first kept), each with where it came from:
    its own source, or for a FHIR record the one `sources` gives in the same order (no second record made)."""
    if not sources:
        return tuple((s.date, s.modality, s.source, s.source_key) for s in dict.fromkeys(record.imaging))
    first: dict[tuple[date, str], ScanValues] = {}
    for scan, (source, key) in zip(record.imaging, sources, strict=True):
        first.setdefault((scan.date, scan.modality), (scan.date, scan.modality, source, key))
    return tuple(first.values())


def _store_patients(tx: PatientWriter, *, read: int, checked: list[Checked], now: datetime) -> ImportCounts:
    """Store a checked chunk: new and changed records, imaging not yet stored, quarantined rows."""
    ids = {key for key, values, *_ in checked if key is not None and values is not None}
    hashes, known_scans = tx.record_hashes(ids), tx.scan_keys(ids)
    tally = {"inserted": 0, "updated": 0, "unchanged": 0}
    changed: dict[str, tuple[tuple[Any, ...], str]] = {}
    new_scans: list[tuple[str, date, str, str | None, str | None]] = []
    last_valid = {key: n for n, (key, values, *_) in enumerate(checked) if values is not None}
    quarantined: list[QuarantineEntry] = []
    for n, (pid, values, digest, scans, entry) in enumerate(checked):
        if values is None or pid is None:
            assert entry is not None
            resolved = last_valid.get(pid or "", -1) > n  # a valid record of the patient follows in the chunk
            quarantined.append(replace(entry, resolved=True) if resolved else entry)
            continue
        fresh = [scan for scan in scans if (pid, scan[0], scan[1]) not in known_scans]
        known_scans.update((pid, scan[0], scan[1]) for scan in fresh)
        new_scans.extend((pid, *scan) for scan in fresh)
        previous = hashes.get(pid)
        outcome = "inserted" if previous is None else "updated" if previous != digest or fresh else "unchanged"
        tally[outcome] += 1
        if previous != digest:
            changed[pid] = (values, digest)
            hashes[pid] = digest
    tx.resolve_quarantine(ids, now)
    tx.upsert_patients(changed.values(), now)
    # By patient (a stable sort: each patient's studies keep their order, and so their ids): the unique
    # (patient_id, date, modality) index is then written in order, not at random places.
    tx.add_imaging_rows(sorted(new_scans, key=itemgetter(0)), now)
    tx.quarantine(quarantined, now)
    return ImportCounts(read=read, quarantined=len(quarantined), **tally)


def _check_scan(raw: Any, today: date) -> tuple[tuple[str, Scan] | None, list[FieldError]]:
    """Validate one imaging CSV row: patient_id, date (a plausible one), modality."""
    errors: list[FieldError] = []
    pid = raw.get("patient_id")
    if not isinstance(pid, str) or not pid or pid.strip() != pid or len(pid) > MAX_ID_LENGTH:
        errors.append(FieldError("patient_id", f"is required: 1-{MAX_ID_LENGTH} characters without "
                                               f"surrounding spaces"))
    when = parse_iso_date(raw.get("date"))
    if when is None:
        errors.append(FieldError("date", "must be an ISO date YYYY-MM-DD"))
    elif (implausible := rules.implausible("date", when, today)) is not None:
        errors.append(implausible)
    modality = raw.get("modality")
    if modality not in MODALITIES:
        errors.append(FieldError("modality", f"must be one of {', '.join(MODALITIES)}"))
    if errors or not isinstance(pid, str) or when is None or not isinstance(modality, str):
        return None, errors
    return (pid, Scan(when, modality)), []


def _imaging_chunk(tx: PatientWriter, *, source: str, chunk: list[SourceRow], now: datetime) -> ImportCounts:
    checked = [(row, *(_check_scan(row.raw, now.date()) if row.problem is None else (None, [row.problem])))
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
