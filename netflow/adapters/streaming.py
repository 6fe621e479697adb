"""Stream the cohort: two ordered result sets (patients, imaging) merged like a merge-join.

Rows were validated on import, so records are built directly from them. Both queries must be
ordered by patient_id in Python's string order (code points); the merge checks it as it goes.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sqlalchemy import Connection, Row, Select

from netflow.domain.record import PatientRecord, Scan

__all__ = ["OrderError", "merged_records"]


class OrderError(RuntimeError):
    """A stream came back out of patient_id order: scans could be lost, so the scan stops."""


def merged_records(conn: Connection, patients_query: Select[Any], imaging_query: Select[Any],
                   batch: int = 1000) -> Iterator[PatientRecord]:
    """Run both queries with server-side cursors and yield one PatientRecord per patient row."""
    stream = conn.execution_options(yield_per=batch)
    people = stream.execute(patients_query)
    try:
        scans = stream.execute(imaging_query)
        try:
            yield from _merge(iter(people), iter(scans))
        finally:
            scans.close()
    finally:
        people.close()


def _next_scan(scans: Iterator[Row[Any]], after: str | None) -> Row[Any] | None:
    row = next(scans, None)
    if row is not None and after is not None and row.patient_id < after:
        raise OrderError("imaging rows are not ordered by patient_id")
    return row


def _merge(people: Iterator[Row[Any]], scans: Iterator[Row[Any]]) -> Iterator[PatientRecord]:
    pending = _next_scan(scans, None)
    previous: str | None = None
    for row in people:
        patient_id: str = row.patient_id
        if previous is not None and patient_id <= previous:
            raise OrderError("patient rows are not ordered by patient_id")
        previous = patient_id
        imaging: list[Scan] = []
        while pending is not None and pending.patient_id <= patient_id:
            if pending.patient_id == patient_id:
                imaging.append(Scan(pending.date, pending.modality))
            pending = _next_scan(scans, pending.patient_id)
        yield PatientRecord(**row._mapping, imaging=tuple(imaging))
