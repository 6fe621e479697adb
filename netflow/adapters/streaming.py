"""Stream the cohort: two ordered result sets (patients, imaging) merged like a merge-join.

Rows were validated on import, so records are built directly from them. Both queries must be
ordered by patient_id in Python's string order (code points); the merge checks it as it goes.
Rows are read by position (the patients query selects `patients.PATIENT_FIELDS`, in that order): a
cohort of a million patients is some six million rows, and each attribute lookup by name counts.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from datetime import date
from itertools import groupby
from operator import itemgetter
from typing import Any

from sqlalchemy import Connection, Select
from sqlalchemy.exc import DBAPIError

from netflow.domain.dates import parse_iso_date
from netflow.domain.record import PatientRecord, Scan, scan_of

__all__ = ["OrderError", "merged_records"]

_CURSOR_NAMES = itertools.count()


class OrderError(RuntimeError):
    """A stream came back out of patient_id order: scans could be lost, so the scan stops."""


def merged_records(conn: Connection, patients_query: Select[Any], imaging_query: Select[Any],
                   batch: int = 1000) -> Iterator[PatientRecord]:
    """Run both queries with server-side cursors and yield one PatientRecord per patient row.

    `patients_query` selects `patients.PATIENT_FIELDS` in that order; `imaging_query` selects
    (patient_id, date, modality) and optionally a fourth column to order each patient's studies by.
    The rows are the driver's own tuples (no SQLAlchemy row or type processing: a fifth of a scan);
    what the driver returns as text (SQLite's dates, 0/1 for booleans) is converted here.
    """
    people = _raw_rows(conn, patients_query, batch)
    try:
        scans = _raw_rows(conn, imaging_query, batch)
        try:
            yield from _merge(people, scans, _day if conn.dialect.name == "sqlite" else _same,
                              _flag if conn.dialect.name == "sqlite" else _same)
        finally:
            scans.close()
    finally:
        people.close()


def _raw_rows(conn: Connection, query: Select[Any], batch: int) -> Generator[Sequence[Any], None, None]:
    """The query's rows as the driver's tuples, `batch` at a time (PostgreSQL: a named, server-side cursor)."""
    compiled = query.compile(dialect=conn.dialect)
    params: Any = compiled.params
    if compiled.positional and compiled.positiontup is not None:
        params = tuple(params[name] for name in compiled.positiontup)
    dbapi = conn.connection.dbapi_connection
    assert dbapi is not None
    server_side = conn.dialect.name == "postgresql"
    cursor = dbapi.cursor(name=f"netflow_stream_{next(_CURSOR_NAMES)}") if server_side else dbapi.cursor()
    try:
        try:
            cursor.execute(compiled.string, params)
            while rows := cursor.fetchmany(batch):
                yield from rows
        except conn.dialect.loaded_dbapi.Error as exc:  # as SQLAlchemy would raise it: scrubbed_errors knows it
            raise DBAPIError.instance(compiled.string, None, exc, conn.dialect.loaded_dbapi.Error,
                                      hide_parameters=True, dialect=conn.dialect) from None
    finally:
        cursor.close()


def _same(value: Any) -> Any:
    return value


_DAYS: dict[str, date | None] = {}


def _day(value: Any) -> date | None:
    """A date the driver returned as text (SQLite stores YYYY-MM-DD): a cohort repeats the same few thousand."""
    if value is None or type(value) is date:
        return value
    day = _DAYS.get(value)
    if day is None:
        if len(_DAYS) >= 1 << 16:
            _DAYS.clear()
        day = _DAYS[value] = parse_iso_date(value)
    return day


def _flag(value: Any) -> bool | None:
    return None if value is None else bool(value)


def _record(row: Sequence[Any], imaging: tuple[Scan, ...], day: Callable[[Any], Any],
            flag: Callable[[Any], Any]) -> PatientRecord:
    (patient_id, name, birth_date, care_team, primary_site, differentiation, grade, ki67_percent,
     tumor_size_mm, nodes_positive, nodes_examined, margin, resection_type, lymphovascular_invasion,
     gastric_type, hereditary_syndrome, resection_date, status, status_date, guideline) = row
    return PatientRecord(  # positionally, in field order: see PatientRecord
        patient_id, day(birth_date), care_team, primary_site, day(resection_date), name, differentiation,
        grade, ki67_percent, tumor_size_mm, nodes_positive, nodes_examined, margin, resection_type,
        flag(lymphovascular_invasion), gastric_type, hereditary_syndrome, imaging, status, day(status_date),
        guideline,
    )


def _merge(people: Iterable[Sequence[Any]], scans: Iterable[Sequence[Any]], day: Callable[[Any], Any],
           flag: Callable[[Any], Any]) -> Iterator[PatientRecord]:
    """Patient rows (PATIENT_FIELDS) and imaging rows (patient_id, date, modality[, order]), both by patient_id.

    With the fourth column, each patient's studies come out sorted by it (the stored id: the order
    they were imported in); without it, in the order the rows arrive. Studies of a patient id that is
    not among the patient rows are skipped.
    """
    groups = groupby(scans, key=_first)
    pending, studies = next(groups, (None, None))
    previous: str | None = None
    for row in people:
        patient_id: str = row[0]
        if previous is not None and patient_id <= previous:
            raise OrderError("patient rows are not ordered by patient_id")
        previous = patient_id
        while pending is not None and pending < patient_id:  # a patient outside this stream
            pending, studies = _next_group(groups, pending)
        imaging: tuple[Scan, ...] = ()
        if pending == patient_id:
            assert studies is not None
            rows = list(studies)
            if len(rows) > 1 and len(rows[0]) > 3:
                rows.sort(key=_by_order)
            imaging = tuple([_SCANS.get((study[1], study[2])) or _scan(study[1], study[2], day) for study in rows])
            pending, studies = _next_group(groups, pending)
        yield _record(row, imaging, day, flag)


_first = itemgetter(0)
_by_order = itemgetter(3)
_SCANS: dict[tuple[Any, str], Scan] = {}


def _next_group(groups: Iterator[tuple[Any, Iterator[Sequence[Any]]]], current: str
                ) -> tuple[Any, Iterator[Sequence[Any]] | None]:
    following, studies = next(groups, (None, None))
    if following is not None and following <= current:
        raise OrderError("imaging rows are not ordered by patient_id")
    return following, studies


def _scan(when: Any, modality: str, day: Callable[[Any], Any]) -> Scan:
    """The shared Scan of a stored (date as the driver returns it, modality)."""
    scan = _SCANS.get((when, modality))
    if scan is None:
        if len(_SCANS) >= 1 << 16:
            _SCANS.clear()
        scan = _SCANS[when, modality] = scan_of(day(when), modality)
    return scan
