"""Tell a FHIR file from a netflow file by its name and its first line, and refuse the ones in between.

>>> fhir_kind(Path("export/Patient.ndjson"))      # doctest: +SKIP
'ndjson'
>>> fhir_kind(Path("patients.jsonl"))             # netflow records, or refused if it holds FHIR  # doctest: +SKIP

- `.ndjson` whose first line has a `resourceType`: FHIR NDJSON. Named like a resource type
  (`Patient.ndjson`, `Observation.2.ndjson`) but holding netflow records: refused.
- `.json` holding a Bundle: a FHIR Bundle; anything else: refused (netflow records are JSON Lines).
- `.jsonl` or `.csv` holding FHIR resources: refused (a FHIR export is NDJSON files or a Bundle).
Only the first non-blank line is read (at most HEAD_BYTES): nothing else of a file is looked at here.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from netflow.imports.fhir.source import MAX_BUNDLE_BYTES
from netflow.imports.formats import SourceError, shown

__all__ = ["fhir_kind"]

HEAD_BYTES = 1024 * 1024
_TYPE_NAME = re.compile(r"[A-Z][A-Za-z]+([._-][^/]*)?\.ndjson")


def _first(path: Path) -> Any:
    """The first non-blank line, parsed (None when it is not JSON, the file is empty or unreadable)."""
    try:
        with open(path, "rb") as stream:
            while line := stream.readline(HEAD_BYTES):
                if line.strip():
                    try:
                        return json.loads(line)
                    except (ValueError, RecursionError):  # not JSON, or nested past what any record needs
                        return None
    except OSError:
        return None
    return None


def _resource_type(value: Any) -> str | None:
    kind = value.get("resourceType") if isinstance(value, dict) else None
    return kind if isinstance(kind, str) else None


def fhir_kind(path: Path) -> str | None:
    """'ndjson' or 'bundle' for a FHIR file, None for a netflow file; SourceError for a file that looks like
    the other format than its name says."""
    suffix = path.suffix.lower()
    if suffix == ".json":
        return _bundle(path)
    if suffix == ".csv":
        _refuse_fhir_csv(path)
        return None
    if suffix not in (".ndjson", ".jsonl"):
        return None
    first = _first(path)
    kind = _resource_type(first)
    if suffix == ".jsonl":
        if kind is not None:
            raise SourceError(f"{path.name} holds FHIR resources (resourceType {shown(kind)}), not netflow records: "
                              f"give netflow the export's .ndjson files or their folder")
        return None
    if kind is not None:
        return "ndjson"
    if _TYPE_NAME.fullmatch(path.name):
        if isinstance(first, dict) and "patient_id" in first:
            raise SourceError(f"{path.name} is named like a FHIR export file but holds netflow records "
                              f"(patient_id, no resourceType): name it .jsonl")
        return "ndjson"  # a FHIR file whose first line is broken: that line is quarantined
    return None


def _refuse_fhir_csv(path: Path) -> None:
    try:
        with open(path, "rb") as stream:
            header = stream.readline(HEAD_BYTES)
    except OSError:
        return  # open_source says why
    if b"resourceType" in header:
        raise SourceError(f"{path.name} looks like FHIR resources (a resourceType column), not netflow records: "
                          f"a FHIR export is read from its .ndjson files or a Bundle .json")


def _bundle(path: Path) -> str:
    try:
        size = path.stat().st_size
        if size > MAX_BUNDLE_BYTES:
            raise SourceError(f"{path.name} is larger than {MAX_BUNDLE_BYTES // (1024 * 1024)} MiB: export it as "
                              f"FHIR Bulk Data NDJSON files instead of one Bundle")
        content = json.loads(path.read_bytes())
    except OSError as exc:
        raise SourceError(f"cannot read {path.name}: {exc.strerror or exc}") from None
    except (ValueError, RecursionError):
        raise SourceError(f"{path.name} is not valid JSON: a .json file must be a FHIR Bundle") from None
    if _resource_type(content) == "Bundle":
        return "bundle"
    records = content if isinstance(content, list) else [content]
    if any(isinstance(r, dict) and "patient_id" in r for r in records[:1]):
        raise SourceError(f"{path.name} holds netflow records, not a FHIR Bundle: write them as JSON Lines "
                          f"(.jsonl, one record per line)")
    kind = _resource_type(content)
    what = f"a FHIR {shown(kind)}" if kind else "no resourceType"
    raise SourceError(f"{path.name} holds {what}, not a FHIR Bundle: netflow reads a Bundle .json or NDJSON files")
