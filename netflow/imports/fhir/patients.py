"""A part of an export's rows, assembled wherever it is handed (in this process, or in a worker process).

>>> rows, done = assemble_part(part)      # doctest: +SKIP
>>> export.absorb(done)                    # in the importing process: the counts, and the links kept

A part is a run of entries in import order: a row ready as it is (an unreadable line), or one patient's
staged pieces with what only the importing process can ask the database: the MRN an earlier import read
on their Patient (`known_mrn`) and, when assembling will want it, their stored record (`stored`). So
assembling needs no database: it runs in the worker processes that then check the rows (netflow.imports.rows).
"""

from __future__ import annotations

import gc
import json
import marshal
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, NamedTuple

import orjson

from netflow.domain.record import FieldError, PatientRecord
from netflow.imports.fhir.assemble import Context, assemble
from netflow.imports.fhir.tally import ResourceTally
from netflow.imports.formats import SourceRow

__all__ = ["MAX_FHIR_ID", "Done", "Part", "StagedPatient", "assemble_part", "collector_paused", "fhir_id",
           "lookup_mrn"]

MAX_FHIR_ID = 64  # characters of a FHIR id (a longer one is not kept in the map)


class StagedPatient(NamedTuple):
    """One patient's staging key ('Patient/<id>'), pieces ((resource type, kind, marshalled data)), the MRN of
    their absent Patient (None: unknown, or their Patient is in the export) and their stored record (None:
    none, or not needed)."""

    key: str
    staged: list[tuple[str, str, bytes]]
    known_mrn: str | None
    stored: PatientRecord | None


class Part(NamedTuple):
    entries: list[SourceRow | StagedPatient]
    teams: Mapping[str, str]
    default_team: str | None


class Done(NamedTuple):
    """What assembling a part tells the importing process: resource counts, (Patient id, MRN) links to keep."""

    tally: ResourceTally
    links: list[tuple[str, str]]


@contextmanager
def collector_paused() -> Iterator[None]:
    """The cyclic garbage collector paused for one bounded job (a block of lines, a part): the job makes many
    objects that live until it ends, which the collector would walk again and again (about a fifth of the
    job's time) for no cycle; it runs again, as before, once the job is done."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def fhir_id(key: str) -> str | None:
    """The Patient id of a staging key ('Patient/<id>'); None when it is no id netflow keeps."""
    head, _, found = key.partition("/")
    return found if head == "Patient" and 0 < len(found) <= MAX_FHIR_ID else None


def lookup_mrn(staged: list[tuple[str, str, bytes]], known_mrn: str | None) -> str | None:
    """The MRN whose stored record `assemble` will ask for (None: it asks for none): the same rule as assemble's."""
    person, net, resection = None, False, False
    for _, kind, data in staged:
        if kind == "patient":
            person = data  # the last one, as assemble takes it
        elif kind == "net":
            net = True
        elif kind == "resection":
            resection = True
    if person is None and known_mrn is not None:  # the Patient is absent: the MRN an earlier import read on it
        return known_mrn
    if net and resection:
        return None
    mrn = None if person is None else marshal.loads(person).get("mrn")
    return mrn if isinstance(mrn, str) and mrn else None


def assemble_part(part: Part) -> tuple[list[SourceRow], Done]:
    """The rows of a part (none for a patient who is not a NET patient), with the counts and links it gives."""
    done = Done(ResourceTally(), [])
    rows: list[SourceRow] = []
    for entry in part.entries:
        if isinstance(entry, SourceRow):
            rows.append(entry)
            continue
        context = Context(part.teams, part.default_team, stored=_given(entry.stored))
        row = _patient(entry, context, done)
        if row is not None:
            rows.append(row)
    return rows, done


def _given(record: PatientRecord | None) -> Callable[[str], PatientRecord | None]:
    """The stored record the importing process read for the patient (`lookup_mrn`), as assembling asks for it."""
    return lambda mrn: record


def _patient(entry: StagedPatient, context: Context, done: Done) -> SourceRow | None:
    """The row of one patient (None when not a NET patient); the (Patient id, MRN) pair of a complete record
    whose Patient is in the export is added to the links."""
    pieces = [(kind_of_resource, kind, marshal.loads(data)) for kind_of_resource, kind, data in entry.staged]
    patient = assemble(pieces, context, entry.known_mrn)
    tally = done.tally
    if patient is None:
        for kind_of_resource, _, _ in entry.staged:
            tally.skip(kind_of_resource, "not a NET patient")
        return None
    tally.used.update(patient.used)
    for kind_of_resource, count in patient.skipped.items():
        tally.skip(kind_of_resource, "a report of a study in the export", count)
    raw, text = patient.raw, _text(patient.raw)
    if text is None or "\\u0000" in text:
        return SourceRow(patient.line, None, json.dumps(patient.raw), FieldError(
            "record", "holds a NUL character or an unpaired surrogate, which is not text"))
    found, mrn = fhir_id(entry.key), raw.get("patient_id")
    if (found is not None and isinstance(mrn, str) and not patient.missing
            and any(kind == "patient" for _, kind, _ in pieces)):
        done.links.append((found, mrn))
    return SourceRow(patient.line, raw, text, None, tuple(patient.missing), patient.scan_sources)


def _text(raw: dict[str, Any]) -> str | None:
    """The record as JSON text (kept in quarantine); None when it holds a lone surrogate, which is not text."""
    try:
        return orjson.dumps(raw).decode("utf-8")
    except orjson.JSONEncodeError:
        return None
