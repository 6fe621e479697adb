"""A temporary SQLite file that sorts the pieces of a FHIR export by patient.

    with FhirStaging() as staging:
        staging.add([("Patient/p1", "Procedure", "pr9", "resection", marshal.dumps({"date": "2020-01-02"}))])
        for patient, pieces in staging.patients():     # one patient at a time, in patient order
            ...
        staging.duplicates()                           # {"Procedure": 1}: versions replaced by a later one

A Bulk Data export spreads one patient over many files (Patient.ndjson, Observation.ndjson, ...), in
any order. Rather than hold the export in memory, the importer hands each resource's small piece to
the staging, which gathers them by patient in a bounded buffer (BUFFER_BYTES) and writes the buffer
to the file, one row per patient, whenever it is full; reading back merges each patient's rows in
patient order: memory holds one buffer, then one patient at a time. A resource seen twice for the
same patient (same type and id) keeps its last version. The file lives in a temporary directory and
is deleted on `close()`; an export that fits in one buffer never touches the disk.
"""

from __future__ import annotations

import marshal
import sqlite3
import tempfile
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from types import TracebackType

__all__ = ["BUFFER_BYTES", "FhirStaging", "StagedPiece"]

BUFFER_BYTES = 64 * 1024 * 1024
StagedPiece = tuple[str, str, str, str, bytes]  # patient, resource type, resource id, piece kind, data
_Held = tuple[str, str, str, bytes]  # resource type, resource id, piece kind, data


class FhirStaging:
    """Pieces gathered by patient, read back patient by patient."""

    def __init__(self, directory: Path | None = None, buffer_bytes: int | None = None) -> None:
        self._directory = directory
        self._limit = BUFFER_BYTES if buffer_bytes is None else buffer_bytes
        self._buffer: dict[str, list[_Held]] = {}
        self._held = 0
        self._batch = 0
        self._dir: tempfile.TemporaryDirectory[str] | None = None
        self._conn: sqlite3.Connection | None = None
        self._duplicates: Counter[str] = Counter()

    def add(self, pieces: Iterable[StagedPiece]) -> None:
        """Stage pieces (written to the file whenever the buffer is full)."""
        buffer = self._buffer
        for patient, kind_of_resource, rid, kind, data in pieces:
            held = buffer.get(patient)
            if held is None:
                held = buffer[patient] = []
            held.append((kind_of_resource, rid, kind, data))
            self._held += len(data) + 100
        if self._held > self._limit:
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

    def _groups(self) -> Iterator[tuple[str, list[_Held]]]:
        if self._conn is None:  # everything fitted in the buffer
            buffer, self._buffer = self._buffer, {}
            for patient in sorted(buffer):
                yield patient, buffer.pop(patient)
            return
        self._flush()
        self._conn.execute("CREATE INDEX by_patient ON pieces (patient, batch)")
        current: str | None = None
        group: list[_Held] = []
        for patient, data in self._conn.execute("SELECT patient, data FROM pieces ORDER BY patient, batch"):
            if patient != current:
                if current is not None:
                    yield current, group
                current, group = patient, []
            group.extend(marshal.loads(data))
        if current is not None:
            yield current, group

    def patients(self) -> Iterator[tuple[str, list[tuple[str, str, bytes]]]]:
        """(patient, [(resource type, piece kind, data), ...]) in patient order, pieces in reading order, the
        last version of a resource only."""
        for patient, held in self._groups():
            latest = {(kind_of_resource, rid): n for n, (kind_of_resource, rid, _, _) in enumerate(held)}
            if len(latest) < len(held):
                self._duplicates.update(held[n][0] for n in range(len(held)) if latest[held[n][:2]] != n)
            yield patient, [(held[n][0], held[n][2], held[n][3]) for n in sorted(latest.values())]

    def duplicates(self) -> dict[str, int]:
        """By resource type: how many pieces a later version of the same resource replaced (once read back)."""
        return dict(self._duplicates)

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
