"""The import's own rules for a raw patient record, beyond the engine's `parse_record`.

>>> feed_errors({"patient_id": "P1", "hereditary_syndrom": "MEN1"}, today=date(2026, 5, 4))  # doctest: +SKIP
[FieldError('hereditary_syndrom', 'unknown field `hereditary_syndrom`; did you mean `hereditary_syndrome`?')]

They are rules about the quality of the feed, not clinical ones, so `netflow evaluate` (the engine,
which follows the spec) does not apply them:

- a field the record does not have (`hereditary_syndrom`, an imaging entry's `dat`) is an error,
  one per field, with the nearest known name as a suggestion (a CSV refuses such a column outright);
- `patient_id` and `care_team` are 1-64 characters without surrounding spaces (the database's keys);
- `name` is at most MAX_NAME_LENGTH characters;
- birth_date, resection_date and every imaging date are on or after EARLIEST_DATE and at most a
  year after the day of the import (its `clock`).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Mapping, Sequence
from datetime import date
from itertools import islice
from typing import Any

from netflow.domain.dates import add_months, parse_iso_date
from netflow.domain.record import MAX_ID_LENGTH, RECORD_FIELDS, FieldError, PatientRecord
from netflow.imports.formats import MAX_LISTED, shown

__all__ = ["EARLIEST_DATE", "MAX_NAME_LENGTH", "feed_errors", "implausible"]

MAX_NAME_LENGTH = 200  # characters of a patient's name
EARLIEST_DATE = date(1900, 1, 1)  # no birth, resection or scan date before it
FUTURE_MONTHS = 12  # nor one more than a year after the day of the import
SCAN_FIELDS = ("date", "modality")
MAX_SUGGESTED = 64  # a longer unknown field name gets no "did you mean" (difflib's cost grows with it)
DATE_FIELDS = ("birth_date", "resection_date")
KEY_FIELDS = ("patient_id", "care_team")
_RECORD_FIELD_SET = frozenset(RECORD_FIELDS)
_SCAN_FIELD_SET = frozenset(SCAN_FIELDS)


def feed_errors(raw: object, today: date, record: PatientRecord | None = None) -> list[FieldError]:
    """The import's own rules for one raw record (beyond `parse_record`): unknown fields, the database's
    keys, the length of `name`, plausible dates. `today` is the day of the import; `record`, the record
    `parse_record` made of `raw` if valid, whose dates (parsed once) spare parsing them again when all are
    plausible (the usual case)."""
    if not isinstance(raw, Mapping):
        return []
    errors = _capped(_unknown_fields(raw)) if _any_unknown(raw) else []
    errors.extend(_key_errors(raw))
    name = raw.get("name")
    if isinstance(name, str) and len(name) > MAX_NAME_LENGTH:
        errors.append(FieldError("name", f"must be at most {MAX_NAME_LENGTH} characters, got {len(name)}"))
    if record is None or not _plausible(record, today):
        errors.extend(_implausible_dates(raw, today))
    return errors


def _plausible(record: PatientRecord, today: date) -> bool:
    """True when the record's birth, resection and imaging dates (those of its raw record: parse_record
    keeps each) are all within `_date_limits`."""
    earliest, latest = _date_limits(today)
    return (earliest <= record.birth_date <= latest and earliest <= record.resection_date <= latest
            and all(earliest <= scan.date <= latest for scan in record.imaging))


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


def _any_unknown(raw: Mapping[str, Any]) -> bool:
    """Whether the record or one of its imaging entries has a field it should not (a set comparison each:
    the usual record has none, and is spared the walk that names them)."""
    if not raw.keys() <= _RECORD_FIELD_SET:
        return True
    entries = raw.get("imaging")
    return isinstance(entries, list) and any(isinstance(e, dict) and not e.keys() <= _SCAN_FIELD_SET for e in entries)


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


def implausible(field: str, day: date | None, today: date) -> FieldError | None:
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
        if (error := implausible(field, parse_iso_date(value), today)) is not None:
            yield error
