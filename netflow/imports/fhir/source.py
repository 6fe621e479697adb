"""A FHIR R4 Bulk Data export (NDJSON files, or a Bundle) read as one import source of netflow records.

>>> export = FhirExport([Path("export/Patient.ndjson"), Path("export/Condition.ndjson")], name="export")
>>> export.context = Context(teams=team_index({...}), default_team=None)      # doctest: +SKIP
>>> import_source(store, export, book.ids).summary(); export.tally.summary()  # doctest: +SKIP

`rows()` reads every file once, line by line (`reading`: a line longer than 64 MiB is never held whole),
turns each resource into its piece (`resources.piece`, in `workers` processes, which hand back a block's
pieces gathered by patient) and sorts them by patient in a temporary SQLite file (adapters.fhir_staging);
then it yields one row per NET patient, in patient order, whose `raw` is a netflow record: the import
validates and stores it like a JSON Lines row. A line that is not a resource comes out as an unreadable
row (quarantined with its file and line).

Patients are read back LINK_BATCH at a time: the batch's patients whose `Patient` resource is not in the
export are looked up in one query (`context.linked`: the MRN an earlier import read on it), then the stored
records of the batch's patients assembling will want in one more (`context.stored`, `patients.lookup_mrn`).
`parts()` hands them on in parts that need no database (`patients.assemble_part`: in this process for
`rows()`, in the workers that check the rows with NETFLOW_WORKERS > 1, see netflow.imports.rows); the
(Patient id, MRN) pairs of a part's complete records are kept (`absorb`: `context.link`) before its rows
are stored.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Iterator
from contextlib import contextmanager
from itertools import islice
from pathlib import Path

from netflow.adapters.fhir_staging import FhirStaging, Group
from netflow.domain.record import FieldError
from netflow.imports.fhir.assemble import Context
from netflow.imports.fhir.patients import (
    MAX_FHIR_ID,
    Done,
    Part,
    StagedPatient,
    assemble_part,
    collector_paused,
    fhir_id,
    has_patient,
    lookup_mrn,
)
from netflow.imports.fhir.reading import read_bundle, read_files
from netflow.imports.fhir.tally import ResourceTally
from netflow.imports.formats import Source, SourceRow

__all__ = ["MAX_BUNDLE_BYTES", "MAX_FHIR_ID", "FhirExport"]

MAX_BUNDLE_BYTES = 256 * 1024 * 1024  # a Bundle is parsed whole: a bigger export comes as NDJSON
STAGE_BATCH = 5000  # groups staged between two gc.freeze
LINK_BATCH = 1000  # patients assembled together: one look-up of absent Patients, one write of the links


@contextmanager
def _frozen() -> Iterator[None]:
    """Objects frozen inside (gc.freeze) are given back to the collector at the end."""
    try:
        yield
    finally:
        gc.unfreeze()


def _identity(path: Path) -> tuple[int, int, int, int]:
    status = os.stat(path)
    return status.st_dev, status.st_ino, status.st_size, status.st_mtime_ns


class FhirExport(Source):
    """The files of one export (or one Bundle file), read as netflow records, patient by patient."""

    def __init__(self, paths: list[Path], name: str, bundle: bool = False) -> None:
        self.path = paths[0]
        self.paths = paths
        self.kind = "patients"
        self.format = "fhir"
        self.header = ()
        self.bundle = bundle
        self._name = name
        self._identities = {path: _identity(path) for path in paths}
        self.context = Context()
        self.tally = ResourceTally()
        self.workers = 1  # processes parsing the files (NETFLOW_WORKERS)

    @property
    def name(self) -> str:
        return self._name

    def rows(self) -> Iterator[SourceRow]:
        for part in self.parts(LINK_BATCH):
            with collector_paused():
                rows, done = assemble_part(part)
            self.absorb(done)
            yield from rows

    def parts(self, size: int) -> Iterator[Part]:
        """The export's rows to assemble (`patients.assemble_part`, here or in a worker), about `size` entries a
        part; each part's `Done` must be `absorb`ed, in order, before its rows are stored."""
        self.tally = ResourceTally()
        entries: list[SourceRow | StagedPatient] = []
        # What is staged lives until its patient is assembled: frozen (gc.freeze) as it is staged, it stays out
        # of the cyclic collector's passes, which would otherwise walk the whole buffer again and again (about
        # a third of the import's time); unfrozen when the export has been read back.
        with FhirStaging() as staging, _frozen():
            staged = 0
            blocks = read_bundle(self.paths[0]) if self.bundle else read_files(self.paths, self.workers)
            for block in blocks:
                self.tally.merge(block.tally)
                entries.extend(SourceRow(item.line_no, None, item.text, FieldError("line", item.why))
                               for item in block.unreadable)
                staging.add(block.groups)
                staged += len(block.groups)
                if staged >= STAGE_BATCH:
                    gc.freeze()
                    staged = 0
                if len(entries) >= size:
                    yield self._part(entries)
                    entries = []
            groups = staging.patients()
            while group := list(islice(groups, LINK_BATCH)):
                entries.extend(self._linked(group))
                gc.freeze()
                if len(entries) >= size:
                    yield self._part(entries)
                    entries = []
            if entries:
                yield self._part(entries)

    def absorb(self, done: Done) -> None:
        """A part assembled: its resource counts, and the (Patient id, MRN) links it read kept."""
        self.tally.merge(done.tally)
        if done.links:
            self.context.link(done.links)

    def _part(self, entries: list[SourceRow | StagedPatient]) -> Part:
        return Part(entries, self.context.teams, self.context.default_team)

    def _linked(self, group: list[tuple[str, list[Group]]]) -> list[StagedPatient]:
        """A batch of patients with the MRNs of those whose Patient is not in the export (one query) and the
        stored records assembling will want (one query)."""
        absent = [fhir_id(key) for key, staged in group if not has_patient(staged)]
        known = self.context.linked([found for found in absent if found is not None]) if absent else {}
        known_mrns = [known.get(fhir_id(key) or "") for key, _ in group]
        wanted = [lookup_mrn(staged, known_mrn) for (_, staged), known_mrn in zip(group, known_mrns, strict=True)]
        mrns = {mrn for mrn in wanted if mrn is not None}
        stored = self.context.stored(mrns) if mrns else {}
        return [StagedPatient(key, staged, known_mrn, None if mrn is None else stored.get(mrn))
                for (key, staged), known_mrn, mrn in zip(group, known_mrns, wanted, strict=True)]

    def changed(self) -> bool:
        try:
            return any(_identity(path) != identity for path, identity in self._identities.items())
        except OSError:
            return True

    def close(self) -> None:
        """Nothing stays open between passes."""

