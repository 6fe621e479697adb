"""Reading the files of an export: bounded lines, parsed and turned into pieces, block by block.

>>> for items, tally in read_file(Path("Observation.ndjson"), workers=2): ...   # doctest: +SKIP

A block of lines is parsed (orjson, then the stdlib for what orjson refuses, to take or explain it)
and each resource turned into its piece (`resources.piece`), in worker processes when `workers` > 1
(blocks come back in file order; see netflow.imports.workers). A line longer than MAX_LINE_BYTES is
never held whole: it is read past and comes out as unreadable, like a line that is not JSON.
"""

from __future__ import annotations

import json
import marshal
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any, NamedTuple

import orjson

from netflow.adapters.fhir_staging import StagedPiece
from netflow.batching import batched
from netflow.imports.fhir.patients import collector_paused
from netflow.imports.fhir.resources import READ_TYPES, Piece, piece
from netflow.imports.fhir.tally import ResourceTally
from netflow.imports.workers import in_order

__all__ = ["MAX_LINE_BYTES", "Unreadable", "read_bundle", "read_file", "read_files"]

MAX_LINE_BYTES = 64 * 1024 * 1024  # one resource; a longer line is unreadable, skipped without being held
BLOCK_LINES = 5000  # lines handed to a worker at once
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


Item = StagedPiece | Unreadable


def read_file(path: Path, workers: int = 1) -> Iterator[tuple[list[Item], ResourceTally]]:
    """The items of an NDJSON file, block by block, with each block's counts."""
    return read_files([path], workers)


def read_files(paths: Sequence[Path], workers: int = 1) -> Iterator[tuple[list[Item], ResourceTally]]:
    """The items of NDJSON files, block by block in file order, with each block's counts (one set of workers
    for all the files: no start, no draining, between files)."""
    blocks = ((path.name, block) for path in paths for block in batched(_lines(path), BLOCK_LINES))
    return in_order(read_block, blocks, workers)


def read_block(name: str, block: list[tuple[int, bytes | None]]) -> tuple[list[Item], ResourceTally]:
    """Parse and piece a block of lines ((line number, the line, or None when it was too long))."""
    tally = ResourceTally()
    items: list[Item] = []
    with collector_paused():
        for line_no, data in block:
            if data is None:
                found = _item(name, line_no, None, f"is longer than {_size(MAX_LINE_BYTES)}", "(too long to keep)",
                              tally)
            else:
                found = _item(name, line_no, *_parse(data), tally)
            if found is not None:
                items.append(found)
    return items, tally


def read_bundle(path: Path) -> Iterator[tuple[list[Item], ResourceTally]]:
    """The items of a Bundle's entries (the file was checked to be a Bundle, of a bounded size)."""
    bundle = json.loads(path.read_bytes())
    tally = ResourceTally()
    items = [found for number, entry in enumerate(bundle.get("entry") or (), start=1)
             if (found := _item(path.name, number, entry.get("resource") if isinstance(entry, dict) else None,
                                None, None, tally)) is not None]
    yield items, tally


def _item(name: str, line_no: int, resource: Any, why: str | None, text: str | None, tally: ResourceTally
          ) -> Item | None:
    """One resource as its staged piece (None: skipped, counted), or an unreadable line."""
    if why is None and (not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str)):
        why, text = "is not a FHIR resource (no resourceType)", json.dumps(resource)
    if why is not None:
        tally.unreadable += 1
        return Unreadable(line_no, f"{name} line {line_no} {why}", json.dumps(text))
    kind = _KINDS.get(resource["resourceType"], "other")
    tally.read[kind] += 1
    found = piece(resource)
    if not isinstance(found, Piece):
        tally.skip(kind, found.reason)
        return None
    rid = resource.get("id")
    if not isinstance(rid, str) or not rid:  # no id: nothing refers to it, it is a resource of its own
        rid = f"#{name}:{line_no}"
        found = found._replace(patient=f"Patient/{rid}") if found.kind == "patient" else found
    if found.kind == "patient":
        found.data["line"] = line_no
    return found.patient, kind, rid, found.kind, marshal.dumps(found.data)


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


def _lines(path: Path) -> Iterator[tuple[int, bytes | None]]:
    """(line number, line) of the non-blank lines; None for a line longer than MAX_LINE_BYTES, read past."""
    with open(path, "rb") as stream:
        for line_no, line in enumerate(_bounded(stream), start=1):
            if line is None or line.strip():
                yield line_no, line


def _bounded(stream: IO[bytes]) -> Iterator[bytes | None]:
    while line := stream.readline(MAX_LINE_BYTES + 1):
        if len(line) > MAX_LINE_BYTES and not line.endswith(b"\n"):
            while (rest := stream.readline(_SKIP_CHUNK)) and not rest.endswith(b"\n"):
                pass
            yield None
            continue
        yield line
