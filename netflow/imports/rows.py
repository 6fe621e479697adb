"""Import patient records and imaging into the patient database.

>>> counts = import_source(PatientStore(engine), open_source("patients.jsonl"), book.ids)  # doctest: +SKIP
>>> counts.summary()                                                                      # doctest: +SKIP
'120 read, 100 inserted, 15 updated, 3 unchanged, 2 quarantined'

Every row read is accounted for exactly once: inserted + updated + unchanged + quarantined == read.
Rows are validated with the engine's own `parse_record`; an invalid row goes to quarantine with its
errors, never dropped. One transaction per chunk: a crash leaves whole chunks, never half a row.

The import adds rules of its own after `parse_record`: rules about the quality of the feed, not
clinical ones, so `netflow evaluate` (the engine, which follows the spec) does not apply them:

- a field the record does not have (`hereditary_syndrom`, an imaging entry's `dat`) is an error,
  one per field, with the nearest known name as a suggestion (a CSV refuses such a column outright);
- `patient_id` and `care_team` are 1-64 characters without surrounding spaces (the database's keys);
- `name` is at most MAX_NAME_LENGTH characters;
- birth_date, resection_date and every imaging date are on or after EARLIEST_DATE and at most a
  year after the day of the import (its `clock`).

A file that changes while it is read is refused (SourceChanged) before the chunk being read is
committed; the chunks committed before it stay, and the message says how many rows they held.
"""

from __future__ import annotations

import difflib
import hashlib
import json
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import date, datetime
from itertools import islice
from typing import Any

from netflow.adapters.db import utcnow
from netflow.adapters.patients import PatientStore, PatientWriter, QuarantineEntry, record_hash
from netflow.batching import batched
from netflow.domain.dates import add_months, parse_iso_date
from netflow.domain.record import (
    MAX_ID_LENGTH,
    MODALITIES,
    RECORD_FIELDS,
    FieldError,
    PatientRecord,
    Scan,
    parse_record,
)
from netflow.imports.formats import MAX_LISTED, Source, SourceChanged, SourceRow, changed_message, shown

__all__ = ["CHUNK_SIZE", "EARLIEST_DATE", "MAX_NAME_LENGTH", "ImportCounts", "feed_errors", "import_source"]

CHUNK_SIZE = 2000
MAX_STORED_INT = 2**31 - 1  # the patient database's INTEGER columns
MAX_NAME_LENGTH = 200  # characters of a patient's name
EARLIEST_DATE = date(1900, 1, 1)  # no birth, resection or scan date before it
FUTURE_MONTHS = 12  # nor one more than a year after the day of the import
SCAN_FIELDS = ("date", "modality")
MAX_SUGGESTED = 64  # a longer unknown field name gets no "did you mean" (difflib's cost grows with it)
DATE_FIELDS = ("birth_date", "resection_date")
KEY_FIELDS = ("patient_id", "care_team")
_RECORD_FIELD_SET = frozenset(RECORD_FIELDS)
_SCAN_FIELD_SET = frozenset(SCAN_FIELDS)


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
    """Import one file, chunk by chunk; `on_rows(n)` is told after each committed chunk. The file is closed
    when the import ends.

    Before each chunk is committed, and once the file is read to its end, the file must still be the one
    opened (`Source.changed`); else SourceChanged: the chunk being read is rolled back, the chunks
    committed before stay (their rows are whole, valid imports), and the message says how many rows."""
    total = ImportCounts()
    try:
        for chunk in batched(source.rows(), chunk_size):
            with store.transaction() as tx:
                now = clock()
                if source.kind == "imaging":
                    counts = _imaging_chunk(tx, source.name, chunk, now)
                else:
                    counts = _patients_chunk(tx, source.name, chunk, guidelines, now)
                _refuse_if_changed(source)  # inside the transaction: this chunk is rolled back
            total += counts
            if on_rows is not None:
                on_rows(len(chunk))
        _refuse_if_changed(source)
    except SourceChanged:
        kept = (f"the {total.read} rows of the chunks committed before stay imported" if total.read
                else "nothing was imported")
        raise SourceChanged(f"{changed_message(source.name)}; {kept}") from None
    finally:
        source.close()
    return total


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
        record, errors = parse_record(row.raw, guidelines)
        named = {error.field for error in errors}  # a field the engine refused is not refused twice
        errors.extend(error for error in feed_errors(row.raw, today) if error.field not in named)
        if record is not None:  # valid, but a count the database's INTEGER cannot hold is refused too
            errors.extend(FieldError(name, f"must be at most {MAX_STORED_INT}") for name in ("nodes_positive",
                          "nodes_examined") if (getattr(record, name) or 0) > MAX_STORED_INT)
        checked.append((row, None if errors else record, errors))
    return checked


def feed_errors(raw: object, today: date) -> list[FieldError]:
    """The import's own rules for one raw record (beyond `parse_record`): unknown fields, the database's
    keys, the length of `name`, plausible dates. `today` is the day of the import."""
    if not isinstance(raw, Mapping):
        return []
    errors = _capped(_unknown_fields(raw))
    errors.extend(_key_errors(raw))
    name = raw.get("name")
    if isinstance(name, str) and len(name) > MAX_NAME_LENGTH:
        errors.append(FieldError("name", f"must be at most {MAX_NAME_LENGTH} characters, got {len(name)}"))
    errors.extend(_implausible_dates(raw, today))
    return errors


def _key_errors(raw: Mapping[str, Any]) -> Iterator[FieldError]:
    """patient_id and care_team as the database keys them: 1-64 characters without surrounding spaces."""
    for field in KEY_FIELDS:
        value = raw.get(field)
        if isinstance(value, str) and value and (len(value) > MAX_ID_LENGTH or value.strip() != value):
            yield FieldError(field, f"must be 1-{MAX_ID_LENGTH} characters without surrounding spaces")


def _capped(errors: Iterator[FieldError]) -> list[FieldError]:
    """The first MAX_LISTED unknown-field errors, then one saying how many more there are."""
    kept = list(islice(errors, MAX_LISTED))
    more = sum(1 for _ in errors)
    return [*kept, FieldError("record", f"and {more} more unknown fields")] if more else kept


def _unknown_fields(raw: Mapping[str, Any]) -> Iterator[FieldError]:
    """One error per field the record does not have, and per unknown key of an imaging entry."""
    for key in raw:
        if key not in _RECORD_FIELD_SET:
            yield _unknown(key, "", RECORD_FIELDS)
    entries = raw.get("imaging")
    if isinstance(entries, list):
        for index, entry in enumerate(entries):
            if isinstance(entry, dict):
                yield from (_unknown(key, f"imaging[{index}].", SCAN_FIELDS) for key in entry
                            if key not in _SCAN_FIELD_SET)


def _unknown(key: str, prefix: str, known: Sequence[str]) -> FieldError:
    """'unknown field `hereditary_syndrom`; did you mean `hereditary_syndrome`?'"""
    name = f"{prefix}{shown(key)}"
    guess = difflib.get_close_matches(key.casefold(), known, n=1) if len(key) <= MAX_SUGGESTED else []
    hint = f"; did you mean `{prefix}{guess[0]}`?" if guess else ""
    return FieldError(name, f"unknown field `{name}`{hint}")


def _date_limits(today: date) -> tuple[date, date]:
    """The earliest and latest dates an import takes: EARLIEST_DATE, and a year after `today`."""
    return EARLIEST_DATE, add_months(today, FUTURE_MONTHS)


def _implausible(field: str, day: date | None, today: date) -> FieldError | None:
    """An error when `day` is before EARLIEST_DATE or more than a year after `today` (None: no date, no error;
    parse_record names a date that does not parse)."""
    earliest, latest = _date_limits(today)
    if day is not None and day < earliest:
        return FieldError(field, f"must be on or after {earliest.isoformat()}")
    if day is not None and day > latest:
        return FieldError(field, f"must be at most a year after the import, on or before {latest.isoformat()}")
    return None


def _implausible_dates(raw: Mapping[str, Any], today: date) -> Iterator[FieldError]:
    """birth_date, resection_date and each imaging entry's date, checked against `_date_limits`."""
    checked = [(field, raw.get(field)) for field in DATE_FIELDS]
    entries = raw.get("imaging")
    if isinstance(entries, list):
        checked.extend((f"imaging[{n}].date", e.get("date")) for n, e in enumerate(entries) if isinstance(e, dict))
    for field, value in checked:
        if (error := _implausible(field, parse_iso_date(value), today)) is not None:
            yield error


def _patients_chunk(tx: PatientWriter, source: str, chunk: list[SourceRow], guidelines: Collection[str],
                    now: datetime) -> ImportCounts:
    checked = _validate_patients(chunk, guidelines, now.date())
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
    elif (implausible := _implausible("date", when, today)) is not None:
        errors.append(implausible)
    modality = raw.get("modality")
    if modality not in MODALITIES:
        errors.append(FieldError("modality", f"must be one of {', '.join(MODALITIES)}"))
    if errors or not isinstance(pid, str) or when is None or not isinstance(modality, str):
        return None, errors
    return (pid, Scan(when, modality)), []


def _imaging_chunk(tx: PatientWriter, source: str, chunk: list[SourceRow], now: datetime) -> ImportCounts:
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
