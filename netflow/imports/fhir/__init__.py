"""FHIR R4 Bulk Data exports as a source of netflow records (docs/fhir.md).

    [export] = gather([Path("export/Patient.ndjson"), Path("export/Observation.ndjson")])  # SourceError: refused
    export.context = Context(team_index(...), default_team="gi-onc-east", stored=..., linked=..., link=...)
    import_source(store, export, book.ids)       # the same import as a JSON Lines file
    export.tally.summary()                       # resources read, used, skipped by type

    detect           which files are FHIR, and the ones refused (a format that is not what its name says)
    reading          the files, line by line, bounded, into pieces (in worker processes)
    resources.piece  one resource -> the piece of a record it holds (codes: the codes read)
    staging          the pieces sorted by patient in a temporary SQLite file (adapters.fhir_staging)
    assemble         one patient's pieces -> a raw netflow record and the pieces it lacks (over the stored
                     record of a patient netflow follows; `linked`: the MRN of a Patient id the export lacks)
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from netflow.imports.fhir.assemble import Context, team_index
from netflow.imports.fhir.detect import fhir_kind
from netflow.imports.fhir.source import FhirExport
from netflow.imports.fhir.tally import ResourceTally

__all__ = ["Context", "FhirExport", "ResourceTally", "export_name", "fhir_kind", "gather", "open_export",
           "team_index"]


def export_name(paths: Sequence[Path]) -> str:
    """The name an export is known by: its folder's, when all its files share one, else its first file's."""
    folders = {path.parent for path in paths}
    return f"{paths[0].parent.name}/" if len(folders) == 1 and len(paths) > 1 else paths[0].name


def open_export(paths: Sequence[Path], bundle: bool = False) -> FhirExport:
    """The export of these files (NDJSON), or of one Bundle file."""
    return FhirExport(list(paths), export_name(paths), bundle=bundle)


def gather(paths: Sequence[Path]) -> list[Path | FhirExport]:
    """The files to import, in order, with the FHIR ones gathered: every NDJSON file of FHIR resources into
    one export (where its first file was: a patient's resources may be in any of them), each Bundle its own.
    SourceError when a file looks like the other format than its name says (`fhir_kind`)."""
    gathered: list[Path | FhirExport] = []
    ndjson: list[Path] = []
    for path in paths:
        kind = fhir_kind(path)
        if kind == "bundle":
            gathered.append(open_export([path], bundle=True))
        elif kind == "ndjson":
            if not ndjson:
                gathered.append(path)  # a placeholder for the export, replaced below
            ndjson.append(path)
        else:
            gathered.append(path)
    if ndjson:
        gathered[gathered.index(ndjson[0])] = open_export(ndjson)
    return gathered
