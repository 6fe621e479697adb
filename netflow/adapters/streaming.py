"""Stream the cohort: two ordered result sets (patients, imaging) merged like a merge-join.

Rows were validated on import, so records are built directly from them. Both queries must be
ordered by patient_id in Python's string order (code points); the merge checks it as it goes.
Rows are read by position (the patients query selects `patients.PATIENT_FIELDS`, in that order): a
cohort of a million patients is some six million rows, and each attribute lookup by name counts.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from sqlalchemy import Connection, Select

from netflow.domain.record import PatientRecord, Scan

__all__ = ["OrderError", "merged_records"]


class OrderError(RuntimeError):
    """A stream came back out of patient_id order: scans could be lost, so the scan stops."""


def merged_records(conn: Connection, patients_query: Select[Any], imaging_query: Select[Any],
                   batch: int = 1000) -> Iterator[PatientRecord]:
    """Run both queries with server-side cursors and yield one PatientRecord per patient row.

    `patients_query` selects `patients.PATIENT_FIELDS` in that order; `imaging_query` selects
    (patient_id, date, modality) and optionally a fourth column to order each patient's studies by.
    """
    stream = conn.execution_options(yield_per=batch)
    people = stream.execute(patients_query)
    try:
        scans = stream.execute(imaging_query)
        try:
            yield from _merge(people, scans)
        finally:
            scans.close()
    finally:
        people.close()


def _record(row: Sequence[Any], imaging: tuple[Scan, ...]) -> PatientRecord:
    (patient_id, name, birth_date, care_team, primary_site, differentiation, grade, ki67_percent,
     tumor_size_mm, nodes_positive, nodes_examined, margin, resection_type, lymphovascular_invasion,
     gastric_type, hereditary_syndrome, resection_date, status, status_date, guideline) = row
    return PatientRecord(
        patient_id=patient_id, name=name, birth_date=birth_date, care_team=care_team,
        primary_site=primary_site, differentiation=differentiation, grade=grade,
        ki67_percent=ki67_percent, tumor_size_mm=tumor_size_mm, nodes_positive=nodes_positive,
        nodes_examined=nodes_examined, margin=margin, resection_type=resection_type,
        lymphovascular_invasion=lymphovascular_invasion, gastric_type=gastric_type,
        hereditary_syndrome=hereditary_syndrome, resection_date=resection_date, imaging=imaging,
        status=status, status_date=status_date, guideline=guideline,
    )


def _merge(people: Iterable[Sequence[Any]], scans: Iterable[Sequence[Any]]) -> Iterator[PatientRecord]:
    """Patient rows (PATIENT_FIELDS) and imaging rows (patient_id, date, modality[, order]), both by patient_id.

    With the fourth column, each patient's studies come out sorted by it (the stored id: the order
    they were imported in); without it, in the order the rows arrive.
    """
    scan_rows = iter(scans)
    pending = next(scan_rows, None)
    previous: str | None = None
    for row in people:
        patient_id: str = row[0]
        if previous is not None and patient_id <= previous:
            raise OrderError("patient rows are not ordered by patient_id")
        previous = patient_id
        studies: list[Sequence[Any]] = []
        while pending is not None and pending[0] <= patient_id:
            if pending[0] == patient_id:
                studies.append(pending)
            scan_patient = pending[0]
            pending = next(scan_rows, None)
            if pending is not None and pending[0] < scan_patient:
                raise OrderError("imaging rows are not ordered by patient_id")
        if len(studies) > 1 and len(studies[0]) > 3:
            studies.sort(key=_by_order)
        yield _record(row, tuple(Scan(study[1], study[2]) for study in studies))


def _by_order(study: Sequence[Any]) -> Any:
    return study[3]
