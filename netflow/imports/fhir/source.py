"""A FHIR R4 Bulk Data export (NDJSON files, or a Bundle) read as one import source of netflow records.

>>> export = FhirExport([Path("export/Patient.ndjson"), Path("export/Condition.ndjson")], name="export")
>>> export.context = Context(teams=team_index({...}), default_team=None)      # doctest: +SKIP
>>> import_source(store, export, book.ids).summary(); export.tally.summary()  # doctest: +SKIP

`rows()` reads every file once, line by line (`reading`: a line longer than 64 MiB is never held whole),
turns each resource into its piece (`resources.piece`, in `workers` processes) and sorts the pieces by
patient in a temporary SQLite file (adapters.fhir_staging); then it yields one row per NET patient, in
patient order, whose `raw` is a netflow record: the import validates and stores it like a JSON Lines row.
A line that is not a resource comes out at once as an unreadable row (quarantined with its file and line).

Patients are assembled LINK_BATCH at a time: the batch's patients whose `Patient` resource is not in the
export are looked up in one query (`context.linked`: the MRN an earlier import read on it), and the
(Patient id, MRN) pairs of the batch's complete records are kept (`context.link`) before its rows go on.
"""

from __future__ import annotations

import json
import marshal
import os
from collections.abc import Iterator
from itertools import islice
from pathlib import Path
from typing import Any

import orjson

from netflow.adapters.fhir_staging import FhirStaging, StagedPiece
from netflow.domain.record import FieldError
from netflow.imports.fhir.assemble import Context, assemble
from netflow.imports.fhir.reading import Unreadable, read_bundle, read_file
from netflow.imports.fhir.tally import ResourceTally
from netflow.imports.formats import Source, SourceRow

__all__ = ["MAX_BUNDLE_BYTES", "FhirExport"]

MAX_BUNDLE_BYTES = 256 * 1024 * 1024  # a Bundle is parsed whole: a bigger export comes as NDJSON
STAGE_BATCH = 5000
LINK_BATCH = 1000  # patients assembled together: one look-up of absent Patients, one write of the links
MAX_FHIR_ID = 64  # characters of a FHIR id (a longer one is not kept in the map)


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
        self.tally = ResourceTally()
        with FhirStaging() as staging:
            batch: list[StagedPiece] = []
            for path in self.paths:
                for items, tally in read_bundle(path) if self.bundle else read_file(path, self.workers):
                    self.tally.merge(tally)
                    for item in items:
                        if isinstance(item, Unreadable):
                            yield SourceRow(item.line_no, None, item.text, FieldError("line", item.why))
                        else:
                            batch.append(item)
                    if len(batch) >= STAGE_BATCH:
                        staging.add(batch)
                        batch = []
            staging.add(batch)
            yield from self._patients(staging)
            for kind, count in staging.duplicates().items():
                self.tally.skip(kind, "duplicate (the last version kept)", count)

    def _patients(self, staging: FhirStaging) -> Iterator[SourceRow]:
        groups = staging.patients()
        while batch := list(islice(groups, LINK_BATCH)):
            absent = [_fhir_id(key) for key, staged in batch if not any(kind == "patient" for _, kind, _ in staged)]
            known = self.context.linked([fhir_id for fhir_id in absent if fhir_id is not None]) if absent else {}
            links: list[tuple[str, str]] = []
            rows = [row for key, staged in batch
                    for row in self._patient(key, staged, known.get(_fhir_id(key) or ""), links)]
            if links:
                self.context.link(links)
            yield from rows

    def _patient(self, key: str, staged: list[tuple[str, str, bytes]], known_mrn: str | None,
                 links: list[tuple[str, str]]) -> Iterator[SourceRow]:
        """The row of one patient (none when not a NET patient); the (Patient id, MRN) pair of a complete record
        whose Patient is in the export is added to `links`."""
        pieces = [(kind_of_resource, kind, marshal.loads(data)) for kind_of_resource, kind, data in staged]
        patient = assemble(pieces, self.context, known_mrn)
        if patient is None:
            for kind_of_resource, _, _ in staged:
                self.tally.skip(kind_of_resource, "not a NET patient")
            return
        self.tally.used.update(patient.used)
        for kind_of_resource, count in patient.skipped.items():
            self.tally.skip(kind_of_resource, "a report of a study in the export", count)
        raw, text = patient.raw, _text(patient.raw)
        if text is None or "\\u0000" in text:
            yield SourceRow(patient.line, None, json.dumps(patient.raw), FieldError(
                "record", "holds a NUL character or an unpaired surrogate, which is not text"))
            return
        fhir_id, mrn = _fhir_id(key), raw.get("patient_id")
        if (fhir_id is not None and isinstance(mrn, str) and not patient.missing
                and any(kind == "patient" for _, kind, _ in pieces)):
            links.append((fhir_id, mrn))
        yield SourceRow(patient.line, raw, text, None, tuple(patient.missing), patient.scan_sources)

    def changed(self) -> bool:
        try:
            return any(_identity(path) != identity for path, identity in self._identities.items())
        except OSError:
            return True

    def close(self) -> None:
        """Nothing stays open between passes."""


def _fhir_id(key: str) -> str | None:
    """The Patient id of a staging key ('Patient/<id>'); None when it is no id netflow keeps."""
    head, _, fhir_id = key.partition("/")
    return fhir_id if head == "Patient" and 0 < len(fhir_id) <= MAX_FHIR_ID else None


def _text(raw: dict[str, Any]) -> str | None:
    """The record as JSON text (kept in quarantine); None when it holds a lone surrogate, which is not text."""
    try:
        return orjson.dumps(raw).decode("utf-8")
    except orjson.JSONEncodeError:
        return None
