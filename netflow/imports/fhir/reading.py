"""Reading the files of an export: bounded lines, parsed and turned into pieces, block by block.

>>> for block in read_file(Path("Observation.ndjson"), workers=2): block.groups, block.unreadable   # doctest: +SKIP

The importing process only cuts each file into blocks of whole lines (about BLOCK_BYTES: one read, no
per-line work); a block's lines are split, and each resource turned into its piece: decoded straight into it
(`typed.typed_piece`) in the common case, else parsed (orjson, then the stdlib for what orjson refuses, to take
or explain it) and read (`resources.piece`); in worker processes when
`workers` > 1 (blocks come back in file order; see netflow.imports.workers). A block's pieces come back
gathered by patient, each patient's as one marshalled group (`patients.group_of`): what crosses between
the processes and into the staging is one value per patient and block, not one per resource. A line longer
than MAX_LINE_BYTES is never held whole: it is read past and comes out as unreadable, like a line that is
not JSON.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any, NamedTuple

import orjson

from netflow.adapters.fhir_staging import StagedGroup
from netflow.imports.fhir.patients import HeldPiece, collector_paused, group_of
from netflow.imports.fhir.resources import READ_TYPES, Piece, Skip, piece_of
from netflow.imports.fhir.tally import ResourceTally
from netflow.imports.fhir.typed import typed_piece
from netflow.imports.workers import in_order

__all__ = ["MAX_LINE_BYTES", "Block", "Unreadable", "read_bundle", "read_file", "read_files"]

MAX_LINE_BYTES = 64 * 1024 * 1024  # one resource; a longer line is unreadable, skipped without being held
BLOCK_BYTES = 1024 * 1024  # lines handed to a worker at once (whole lines: the last one is read to its end)
_SKIP_CHUNK = 1024 * 1024
# resourceType -> as counted: the types netflow reads by name, any other as "other" (file content stays out
# of the counts, which go to logs and XCom)
_KINDS = {kind: kind for kind in READ_TYPES}
_decode = json.JSONDecoder().decode


class Unreadable(NamedTuple):
    """A line that is not a resource: why, and its text as JSON (ASCII: a lone surrogate stays an escape)."""

    line_no: int
    why: str
    text: str


class Block(NamedTuple):
    """What a block of lines gives: its pieces by patient (in reading order), its unreadable lines, its counts."""

    groups: list[StagedGroup]
    unreadable: list[Unreadable]
    tally: ResourceTally


def read_file(path: Path, workers: int = 1) -> Iterator[Block]:
    """The blocks of an NDJSON file, in order."""
    return read_files([path], workers)


def read_files(paths: Sequence[Path], workers: int = 1) -> Iterator[Block]:
    """The blocks of NDJSON files, in file order (one set of workers for all the files: no start, no draining,
    between files)."""
    blocks = ((path.name, first, data) for path in paths for first, data in _blocks(path))
    return in_order(read_block, blocks, workers)


def read_block(name: str, first: int, data: bytes | None) -> Block:
    """Parse and piece a block: whole lines from line `first` on (None: line `first` alone, too long to read)."""
    tally = ResourceTally()
    pieces: list[tuple[str, HeldPiece]] = []
    unreadable: list[Unreadable] = []
    with collector_paused():
        if data is None:
            _item(name, first, None, f"is longer than {_size(MAX_LINE_BYTES)}", "(too long to keep)", tally,
                  pieces, unreadable)
        else:
            lines = data.split(b"\n")
            if not lines[-1]:
                lines.pop()  # after the last newline
            for line_no, line in enumerate(lines, start=first):
                if not line.strip():
                    continue
                found = typed_piece(line)  # the common case, decoded straight into what is read
                if found is not None:
                    _add(name, line_no, *found, tally, pieces)
                else:  # any other: parsed whole, as it is given
                    _item(name, line_no, *_parse(line), tally, pieces, unreadable)
        return Block(_grouped(pieces), unreadable, tally)


def read_bundle(path: Path) -> Iterator[Block]:
    """The one block of a Bundle's entries (the file was checked to be a Bundle, of a bounded size)."""
    bundle = json.loads(path.read_bytes())
    tally = ResourceTally()
    pieces: list[tuple[str, HeldPiece]] = []
    unreadable: list[Unreadable] = []
    for number, entry in enumerate(bundle.get("entry") or (), start=1):
        _item(path.name, number, entry.get("resource") if isinstance(entry, dict) else None, None, None, tally,
              pieces, unreadable)
    yield Block(_grouped(pieces), unreadable, tally)


def _grouped(pieces: list[tuple[str, HeldPiece]]) -> list[StagedGroup]:
    """The pieces by patient (patients in order of first appearance, each one's pieces in reading order)."""
    by_patient: dict[str, list[HeldPiece]] = {}
    for patient, held in pieces:
        found = by_patient.get(patient)
        if found is None:
            by_patient[patient] = [held]
        else:
            found.append(held)
    twice = len({held[:2] for _, held in pieces}) < len(pieces)  # a resource read twice in the block
    return [(patient, group_of(held, twice)) for patient, held in by_patient.items()]


def _item(name: str, line_no: int, resource: Any, why: str | None, text: str | None, tally: ResourceTally,
          pieces: list[tuple[str, HeldPiece]], unreadable: list[Unreadable]) -> None:
    """One resource as its piece (added to `pieces`; or skipped, counted), or an unreadable line."""
    kind_of_resource = resource.get("resourceType") if why is None and isinstance(resource, dict) else None
    if not isinstance(kind_of_resource, str):
        if why is None:
            why, text = "is not a FHIR resource (no resourceType)", json.dumps(resource)
        tally.unreadable += 1
        unreadable.append(Unreadable(line_no, f"{name} line {line_no} {why}", json.dumps(text)))
        return
    try:
        found = piece_of(resource, kind_of_resource)
    except (TypeError, AttributeError, ValueError, KeyError) as exc:  # a shape no FHIR resource has
        tally.unreadable += 1  # kept whole in quarantine; the message names the type only (no patient data)
        unreadable.append(Unreadable(line_no, f"{name} line {line_no} is a {_named(kind_of_resource)} whose "
                                              f"elements do not have FHIR's shape ({type(exc).__name__})",
                                     json.dumps(json.dumps(resource))))
        return
    _add(name, line_no, kind_of_resource, resource.get("id"), found, tally, pieces)


def _named(kind_of_resource: str) -> str:
    """A resourceType as it may appear in a message: a known one, else "resource"."""
    return kind_of_resource if kind_of_resource in _KINDS else "resource"


def _add(name: str, line_no: int, kind_of_resource: str, rid: Any, found: Piece | Skip, tally: ResourceTally,
         pieces: list[tuple[str, HeldPiece]]) -> None:
    """A resource's piece added to `pieces` (or its skip counted), under its id."""
    kind = _KINDS.get(kind_of_resource, "other")
    tally.read[kind] += 1
    if not isinstance(found, Piece):
        tally.skip(kind, found.reason)
        return
    patient = found.patient
    if not isinstance(rid, str) or not rid:  # no id: nothing refers to it, it is a resource of its own
        rid = f"#{name}:{line_no}"
        patient = f"Patient/{rid}" if found.kind == "patient" else patient
    if found.kind == "patient":
        found.data["line"] = line_no
    pieces.append((patient, (kind, rid, found.kind, found.data)))


def _parse(data: bytes) -> tuple[Any, str | None, str | None]:
    """(parsed JSON, None, None), or (None, why it is unreadable, its text to keep in quarantine)."""
    try:
        return orjson.loads(data), None, None
    except orjson.JSONDecodeError:  # what orjson refuses the stdlib may take (NaN, a lone surrogate) or explain
        pass
    try:
        return _decode(data.decode("utf-8")), None, None
    except UnicodeDecodeError:
        return None, "is not valid UTF-8", data.decode("utf-8", "replace").strip()
    except (ValueError, RecursionError) as exc:
        reason = exc.msg if isinstance(exc, json.JSONDecodeError) else "nested too deeply"
        return None, f"is not valid JSON ({reason})", data.decode("utf-8", "replace").strip()


def _size(limit: int) -> str:
    return f"{limit // (1024 * 1024)} MiB" if limit >= 1024 * 1024 else f"{limit:,} bytes"


def _blocks(path: Path) -> Iterator[tuple[int, bytes | None]]:
    """(number of the first line, whole lines) of a file, about BLOCK_BYTES at a time; (line number, None) for a
    line longer than MAX_LINE_BYTES, read past without being held."""
    with open(path, "rb") as stream:
        first = 1
        while data := stream.read(min(BLOCK_BYTES, MAX_LINE_BYTES)):  # no whole line too long fits in one
            cut = data.rfind(b"\n") + 1
            if cut < len(data):  # the last line runs on: read it to its end, or past it when too long
                start = len(data) - cut
                rest = stream.readline(MAX_LINE_BYTES + 1 - start) if start <= MAX_LINE_BYTES else b""
                if start + len(rest) - rest.endswith(b"\n") > MAX_LINE_BYTES:
                    if not rest.endswith(b"\n"):
                        _read_past_line(stream)
                    if cut:
                        yield first, data[:cut]
                        first += data.count(b"\n", 0, cut)
                    yield first, None
                    first += 1
                    continue
                data += rest
            yield first, data
            first += data.count(b"\n") + (not data.endswith(b"\n"))


def _read_past_line(stream: IO[bytes]) -> None:
    while (rest := stream.readline(_SKIP_CHUNK)) and not rest.endswith(b"\n"):
        pass
