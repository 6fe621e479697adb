"""A temporary SQLite file that sorts the pieces of a FHIR export by patient.

    with FhirStaging() as staging:
        staging.add([("Patient/p1", (marshal.dumps([...]), 6, "MRN1"))])   # one patient's pieces of one block
        for patient, groups in staging.patients():     # one patient at a time, in patient order
            ...

A Bulk Data export spreads one patient over many files (Patient.ndjson, Observation.ndjson, ...), in
any order. Rather than hold the export in memory, the importer hands the staging each block's pieces
gathered by patient (a group: the marshalled pieces, and two small values the importer reads them by),
which it gathers by patient in a bounded buffer (BUFFER_BYTES) and writes to the file, one row per
patient, whenever it is full; reading back merges each patient's rows in patient order: memory holds one
buffer, then one patient at a time. Groups come back in the order they were added; which of them hold
versions of the same resource is for the importer to say (netflow.imports.fhir.patients). The file lives
in a temporary directory and is deleted on `close()`; an export that fits in one buffer never touches the
disk.
"""

from __future__ import annotations

import marshal
import sqlite3
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

__all__ = ["BUFFER_BYTES", "FhirStaging", "Group", "StagedGroup"]

BUFFER_BYTES = 64 * 1024 * 1024
Group = tuple[bytes, int, Any]  # one patient's pieces of one block (marshalled), then what the importer keeps on them
StagedGroup = tuple[str, Group]  # patient, group


class FhirStaging:
    """Pieces gathered by patient, read back patient by patient."""

    def __init__(self, directory: Path | None = None, buffer_bytes: int | None = None) -> None:
        self._directory = directory
        self._limit = BUFFER_BYTES if buffer_bytes is None else buffer_bytes
        self._buffer: dict[str, list[Group]] = {}
        self._held = 0
        self._batch = 0
        self._dir: tempfile.TemporaryDirectory[str] | None = None
        self._conn: sqlite3.Connection | None = None

    def add(self, groups: Iterable[StagedGroup]) -> None:
        """Stage groups (written to the file whenever the buffer is full)."""
        buffer = self._buffer
        held = self._held
        for patient, group in groups:
            found = buffer.get(patient)
            if found is None:
                buffer[patient] = [group]
            else:
                found.append(group)
            held += len(group[0]) + 100
        self._held = held
        if held > self._limit:
            self._flush()

    def _flush(self) -> None:
        if not self._buffer:
            return
        conn = self._connection()
        self._batch += 1
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO pieces VALUES (?, ?, ?)",
                         [(patient, self._batch, marshal.dumps(held)) for patient, held in self._buffer.items()])
        conn.execute("COMMIT")
        self._buffer, self._held = {}, 0

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            self._dir = tempfile.TemporaryDirectory(prefix="netflow-fhir-", dir=self._directory)
            self._conn = sqlite3.connect(Path(self._dir.name) / "staging.sqlite", isolation_level=None)
            self._conn.executescript(
                "PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;"
                "CREATE TABLE pieces (patient TEXT NOT NULL, batch INTEGER NOT NULL, data BLOB NOT NULL);")
        return self._conn

    def patients(self) -> Iterator[tuple[str, list[Group]]]:
        """(patient, [group, ...]) in patient order, groups in the order they were added."""
        if self._conn is None:  # everything fitted in the buffer
            buffer, self._buffer = self._buffer, {}
            for patient in sorted(buffer):
                yield patient, buffer.pop(patient)
            return
        self._flush()
        self._conn.execute("CREATE INDEX by_patient ON pieces (patient, batch)")
        current: str | None = None
        groups: list[Group] = []
        for patient, data in self._conn.execute("SELECT patient, data FROM pieces ORDER BY patient, batch"):
            if patient != current:
                if current is not None:
                    yield current, groups
                current, groups = patient, []
            groups.extend(marshal.loads(data))
        if current is not None:
            yield current, groups

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
        if self._dir is not None:
            self._dir.cleanup()

    def __enter__(self) -> FhirStaging:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.close()
