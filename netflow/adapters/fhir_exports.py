"""The FHIR Bulk Data exports pulled from the EHR: the `fhir_exports` table, one row per Group, and the
`fhir_patients` table, the netflow patient of each FHIR Patient id. Their SQL lives here and nowhere else.

    exports = FhirExportStore(engine)                    # db.fhir_exports
    since = exports.since("all-net-patients")           # the last landed export's transactionTime, or None
    exports.landed("all-net-patients", "2026-12-07T05:00:00Z", "fhir-export-...", at=now)
    exports.failed("all-net-patients", "the EHR answered 500 to the kick-off", at=now)

Only an export whose files all arrived in the inbox moves `transaction_time` (the next export's `_since`);
a failed attempt records its one-line error and leaves it as it was.

    links = FhirPatientMap(engine)                       # db.fhir_patients
    links.remember([("p1", "MRN1")], at=now)             # an import read Patient/p1 with the MR identifier MRN1
    links.patients_of(["p1", "p2"])                      # {"p1": "MRN1"}: the ids it knows, in IN_LIST chunks

One FHIR server per installation: a Patient id names one patient on it (docs/fhir.md).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, select, update

from netflow.adapters.db import as_utc, dialect_insert, scrubbed_errors
from netflow.adapters.tables import fhir_exports, fhir_patients
from netflow.batching import IN_LIST, batched

__all__ = ["ExportState", "FhirExportStore", "FhirPatientMap"]

ERROR_CHARS = 1000


@dataclass(frozen=True, slots=True)
class ExportState:
    """Where the exports of one Group stand."""

    group_id: str
    transaction_time: str | None
    last_status: str
    last_error: str | None
    last_folder: str | None
    updated_at: datetime | None


class FhirExportStore:
    """The `fhir_exports` table behind one engine; each method is one transaction."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def state(self, group_id: str) -> ExportState | None:
        """The Group's row, or None before its first export."""
        with scrubbed_errors(), self.engine.connect() as conn:
            row = conn.execute(select(fhir_exports).where(fhir_exports.c.group_id == group_id)).first()
        if row is None:
            return None
        return ExportState(row.group_id, row.transaction_time, row.last_status, row.last_error, row.last_folder,
                           as_utc(row.updated_at))

    def since(self, group_id: str) -> str | None:
        """The transactionTime of the Group's last landed export (the next `_since`), or None."""
        state = self.state(group_id)
        return state.transaction_time if state is not None else None

    def landed(self, group_id: str, transaction_time: str, folder: str, *, at: datetime) -> None:
        """Every file of the export is in the inbox: its transactionTime is the next export's `_since`."""
        self._put(group_id, at, last_status="landed", transaction_time=transaction_time, last_error=None,
                  last_folder=folder)

    def failed(self, group_id: str, error: str, *, at: datetime) -> None:
        """An attempt failed (`error`: one line, no patient data); `_since` stays as it was."""
        self._put(group_id, at, last_status="failed", last_error=error[:ERROR_CHARS])

    def _put(self, group_id: str, at: datetime, **values: str | None) -> None:
        with scrubbed_errors(), self.engine.begin() as conn:
            changed = conn.execute(update(fhir_exports).where(fhir_exports.c.group_id == group_id)
                                   .values(updated_at=at, **values)).rowcount
            if not changed:
                conn.execute(fhir_exports.insert().values(group_id=group_id, updated_at=at, **values))


class FhirPatientMap:
    """The `fhir_patients` table behind one engine: FHIR Patient id -> netflow patient_id (the MRN)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def remember(self, links: Iterable[tuple[str, str]], *, at: datetime) -> None:
        """Keep (Patient id, patient_id) pairs, one transaction; a pair already kept is left as it is (its
        `updated_at` too), a Patient id now naming another MRN is moved to it."""
        rows = [{"fhir_id": fhir_id, "patient_id": mrn, "updated_at": at} for fhir_id, mrn in dict(links).items()]
        if not rows:
            return
        with scrubbed_errors(), self.engine.begin() as conn:
            insert = dialect_insert(conn, fhir_patients)
            conn.execute(insert.on_conflict_do_update(
                index_elements=[fhir_patients.c.fhir_id],
                set_={"patient_id": insert.excluded.patient_id, "updated_at": insert.excluded.updated_at},
                where=fhir_patients.c.patient_id != insert.excluded.patient_id), rows)

    def patients_of(self, fhir_ids: Iterable[str]) -> dict[str, str]:
        """The patient_id of each of these Patient ids that an import has read (the others are left out)."""
        found: dict[str, str] = {}
        with scrubbed_errors(), self.engine.connect() as conn:
            for chunk in batched(sorted(set(fhir_ids)), IN_LIST):
                query = select(fhir_patients.c.fhir_id, fhir_patients.c.patient_id).where(
                    fhir_patients.c.fhir_id.in_(chunk))
                found.update((row.fhir_id, row.patient_id) for row in conn.execute(query))
        return found
