"""A part of an export's rows, assembled wherever it is handed (in this process, or in a worker process).

>>> rows, done = assemble_part(part)      # doctest: +SKIP
>>> export.absorb(done)                    # in the importing process: the counts, and the links kept

A part is a run of entries in import order: a row ready as it is (an unreadable line), or one patient's
staged groups of pieces with what only the importing process can ask the database: the MRN an earlier import
read on their Patient (`known_mrn`) and, when assembling will want it, their stored record (`stored`). So
assembling needs no database: it runs in the worker processes that then check the rows (netflow.imports.rows).

A group is one patient's pieces of one block of lines (`group_of`, where the block is read): marshalled,
with what the importing process asks of a patient without unpacking their pieces (`lookup_mrn`): which
kinds of piece and of resource the group holds, and the MRN on its last Patient. Assembling unpacks them
and keeps the last version of a resource read twice (the others are counted as duplicates).
"""

from __future__ import annotations

import gc
import json
import marshal
from collections.abc import Callable, Collection, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, NamedTuple

import orjson

from netflow.adapters.fhir_staging import Group
from netflow.domain.record import FieldError, PatientRecord
from netflow.imports.fhir.assemble import Context, assemble
from netflow.imports.fhir.resources import READ_TYPES
from netflow.imports.fhir.tally import ResourceTally
from netflow.imports.formats import SourceRow

__all__ = ["MAX_FHIR_ID", "Done", "HeldPiece", "Part", "StagedPatient", "assemble_part", "collector_paused", "fhir_id",
           "group_of", "has_patient", "lookup_mrn"]

MAX_FHIR_ID = 64  # characters of a FHIR id (a longer one is not kept in the map)
HeldPiece = tuple[str, str, str, dict[str, Any]]  # resource type, resource id, piece kind, data
# What a group holds, as bits: the pieces `lookup_mrn` reads (a Patient, a NET Condition, a resection),
# whether a resource is there twice, and the types of its resources (a resource can be in two groups of a
# patient only when its type is).
_PATIENT, _NET, _RESECTION, _TWICE = 1, 2, 4, 8
_TYPE_BITS = {kind: 16 << n for n, kind in enumerate(READ_TYPES)}
_TYPES = sum(_TYPE_BITS.values())
_CONDITION, _PROCEDURE = _TYPE_BITS["Condition"], _TYPE_BITS["Procedure"]
DUPLICATE = "duplicate (the last version kept)"


class StagedPatient(NamedTuple):
    """One patient's staging key ('Patient/<id>'), groups of pieces (`group_of`, in reading order), the MRN of
    their absent Patient (None: unknown, or their Patient is in the export) and their stored record (None:
    none, or not needed)."""

    key: str
    staged: list[Group]
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


def group_of(held: list[HeldPiece], twice: bool = True) -> Group:
    """One patient's pieces of one block, as staged: marshalled, what they hold (bits), their last Patient's MRN
    (`twice`: whether the block may hold a resource twice)."""
    kinds = {piece[2] for piece in held}
    flags = ((_PATIENT if "patient" in kinds else 0) | (_NET if "net" in kinds else 0)
             | (_RESECTION if "resection" in kinds else 0))
    for kind_of_resource in {piece[0] for piece in held}:
        flags |= _TYPE_BITS.get(kind_of_resource, 0)
    mrn = next((piece[3].get("mrn") for piece in reversed(held) if piece[2] == "patient"), None) if flags & _PATIENT \
        else None
    if twice and len({piece[:2] for piece in held}) < len(held):
        flags |= _TWICE
    return marshal.dumps(held), flags, mrn


def has_patient(groups: list[Group]) -> bool:
    """Whether the patient's Patient resource is among their pieces."""
    return any(flags & _PATIENT for _, flags, _ in groups)


def lookup_mrn(groups: list[Group], known_mrn: str | None) -> str | None:
    """The MRN whose stored record `assemble` will ask for (None: it asks for none): the same rule as assemble's,
    over the last version of each resource. Read from the groups' bits; unpacked only when a resource that
    decides (a Condition, a Procedure) may have been read twice."""
    seen = twice = 0
    mrn: object = None
    for _, flags, found in groups:
        twice |= seen & flags
        seen |= flags
        if flags & _PATIENT:
            mrn = found  # the last Patient read: the last version of the last one, as assemble takes it
    if seen & _TWICE or twice & (_CONDITION | _PROCEDURE):
        pieces, _ = unpacked(groups)
        kinds = {kind for _, kind, _ in pieces}
        seen = _PATIENT * ("patient" in kinds) | _NET * ("net" in kinds) | _RESECTION * ("resection" in kinds)
    if not seen & _PATIENT and known_mrn is not None:  # the Patient is absent: the MRN an earlier import read
        return known_mrn
    if seen & _NET and seen & _RESECTION:
        return None
    return mrn if isinstance(mrn, str) and mrn else None


def unpacked(groups: list[Group]) -> tuple[list[tuple[str, str, dict[str, Any]]], list[str]]:
    """The pieces of the groups ((resource type, kind, data), in reading order, the last version of a resource
    read twice only), and the resource type of each earlier version left out."""
    seen = twice = 0
    for _, flags, _ in groups:
        twice |= seen & flags
        seen |= flags
    if not (seen & _TWICE or twice & _TYPES):  # no resource can be there twice
        return [(kind_of_resource, kind, data) for blob, _, _ in groups
                for kind_of_resource, _, kind, data in marshal.loads(blob)], []
    held: list[HeldPiece] = [piece for blob, _, _ in groups for piece in marshal.loads(blob)]
    latest = {piece[:2]: n for n, piece in enumerate(held)}
    replaced: list[str] = []
    if len(latest) < len(held):
        replaced = [piece[0] for n, piece in enumerate(held) if latest[piece[:2]] != n]
        held = [held[n] for n in sorted(latest.values())]
    return [(kind_of_resource, kind, data) for kind_of_resource, _, kind, data in held], replaced


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


def _given(record: PatientRecord | None) -> Callable[[Collection[str]], Mapping[str, PatientRecord]]:
    """The stored record the importing process read for the patient (`lookup_mrn`), as assembling asks for it."""
    found = {} if record is None else {record.patient_id: record}
    return lambda mrns: found


def _patient(entry: StagedPatient, context: Context, done: Done) -> SourceRow | None:
    """The row of one patient (None when not a NET patient); the (Patient id, MRN) pair of a complete record
    whose Patient is in the export is added to the links."""
    pieces, replaced = unpacked(entry.staged)
    tally = done.tally
    for kind_of_resource in replaced:
        tally.skip(kind_of_resource, DUPLICATE)
    patient = assemble(pieces, context, entry.known_mrn)
    if patient is None:
        for kind_of_resource, _, _ in pieces:
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
