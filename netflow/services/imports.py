"""Get patients and care teams into the patient database: import files, the inbox, the teams file.

    import_files(inst, ["patients.jsonl", "imaging.csv"]).total.summary()  # every file checked first
    import_files(inst, ["exports/"])                                        # a folder: its import files, by name
    for name in inbox_files(inst): import_inbox_file(inst, name)            # the import DAG, file by file
    load_teams(inst, "teams.yaml")                                          # the care teams, all or nothing

Every row read is accounted for once: inserted, updated, unchanged or quarantined (netflow.imports).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from netflow.adapters.db import utcnow
from netflow.errors import InputError
from netflow.guidelines.teams import load_teams_file
from netflow.imports import inbox
from netflow.imports.fhir import Context, FhirExport, ResourceTally, gather, team_index
from netflow.imports.formats import Source, SourceError, open_source
from netflow.imports.rows import ImportCounts, import_source
from netflow.installation import Installation

__all__ = ["IMPORT_SUFFIXES", "FileImport", "Folder", "ImportPaths", "ImportResult", "expand_paths", "import_files",
           "import_inbox_file", "inbox_files", "load_teams"]

# The files a folder given to `import_files` contributes (by suffix, case-insensitive).
IMPORT_SUFFIXES = (".jsonl", ".ndjson", ".csv")


@dataclass(frozen=True)
class FileImport:
    name: str
    counts: ImportCounts
    resources: ResourceTally | None = None  # a FHIR export: its resources read, used, skipped by type


@dataclass
class ImportResult:
    files: list[FileImport] = field(default_factory=list)

    @property
    def total(self) -> ImportCounts:
        total = ImportCounts()
        for done in self.files:
            total += done.counts
        return total

    def as_counts(self) -> dict[str, Any]:
        return {"files": {done.name: asdict(done.counts) | ({"resources": done.resources.as_counts()}
                                                             if done.resources is not None else {})
                           for done in self.files}, "total": asdict(self.total)}


@dataclass(frozen=True)
class Folder:
    """A folder given to import: the import files found in it, and the other files left alone."""

    path: Path
    files: list[Path]
    skipped: list[str]


@dataclass(frozen=True)
class ImportPaths:
    """The files to import, in order, and the folders they were found in."""

    files: list[Path]
    folders: list[Folder]


def expand_paths(paths: Iterable[str | Path]) -> ImportPaths:
    """Each file as given, each folder replaced by its import files: the .jsonl, .ndjson and .csv files
    directly in it, sorted by name (not recursive; hidden and .part/.tmp files left out). A folder with
    none is an InputError (nothing was imported)."""
    files: list[Path] = []
    folders: list[Folder] = []
    for given in paths:
        path = Path(given)
        if path.is_dir():
            folders.append(_folder(path))
            files.extend(folders[-1].files)
        else:
            files.append(path)
    return ImportPaths(files, folders)


def _folder(path: Path) -> Folder:
    try:
        names = sorted(p.name for p in path.iterdir()
                       if p.is_file() and not p.name.startswith(".") and not p.name.endswith(inbox.IN_PROGRESS))
    except OSError as exc:
        raise InputError(f"cannot read the folder {path}: {exc.strerror}; nothing was imported") from None
    chosen = [name for name in names if name.lower().endswith(IMPORT_SUFFIXES)]
    if not chosen:
        raise InputError(f"the folder {path} holds no .jsonl, .ndjson or .csv file; nothing was imported")
    return Folder(path, [path / name for name in chosen], [name for name in names if name not in chosen])


def _sources(paths: Iterable[str | Path]) -> list[Source]:
    """Every file checked, then closed (one open file at a time, however many): `import_source` opens each
    again and refuses one that is no longer the file checked."""
    sources: list[Source] = []
    try:
        for path in gather(expand_paths(paths).files):
            if isinstance(path, FhirExport):
                sources.append(path)
                continue
            with open_source(path) as source:
                sources.append(source)
        return sources
    except SourceError as exc:
        raise InputError(f"{exc}; nothing was imported") from None


def import_files(inst: Installation, paths: Iterable[str | Path],
                 progress: Callable[[Source], Callable[[int], None] | None] | None = None,
                 done: Callable[[FileImport], None] | None = None, care_team: str | None = None) -> ImportResult:
    """Import the files in order; each is checked before any is read (InputError: nothing was imported).
    A folder stands for its import files (expand_paths).

    `progress(source)` may return a callback told the rows of each committed chunk; `done` is told each
    file's counts as soon as it is imported. A FHIR export (docs/fhir.md) gives one record per NET patient;
    `care_team` is the team of its patients whose CareTeam names no team (InputError if not loaded)."""
    sources = _sources(paths)
    inst.db.check_ready()
    _bind_fhir(inst, [s for s in sources if isinstance(s, FhirExport)], care_team)
    result = ImportResult()
    for source in sources:
        on_rows = progress(source) if progress is not None else None
        counts = import_source(inst.db.patients, source, inst.book.ids, on_rows=on_rows,
                               workers=inst.settings.workers)
        finished = FileImport(source.name, counts, source.tally if isinstance(source, FhirExport) else None)
        result.files.append(finished)
        if done is not None:
            done(finished)
    return result


def _bind_fhir(inst: Installation, exports: list[FhirExport], care_team: str | None) -> None:
    """Give each FHIR export the teams' FHIR identifiers, the fallback team, the stored records and the map of
    FHIR Patient ids to MRNs (read for a patient whose Patient is not in the export, kept for those it reads)."""
    if not exports and care_team is None:
        return
    store = inst.db.patients
    teams = store.care_teams()
    if care_team is not None and care_team not in teams:
        raise InputError(f"--care-team {care_team}: no such care team is loaded (netflow teams load FILE); "
                         f"nothing was imported")
    index = team_index({key: team.fhir for key, team in teams.items()})
    for export in exports:
        export.context = Context(index, care_team, store.find_records, inst.db.fhir_patients.patients_of,
                                 lambda links: inst.db.fhir_patients.remember(links, at=utcnow()))
        export.workers = inst.settings.workers


def inbox_files(inst: Installation) -> list[str]:
    """The files waiting in the inbox (NETFLOW_INBOX), oldest name first."""
    return inbox.inbox_files(inst.settings.inbox)


def import_inbox_file(inst: Installation, name: str) -> dict[str, Any]:
    """Import one inbox file and move it to processed/ (or failed/, with why); file names and counts only."""
    path = inbox.waiting(inst.settings.inbox, name)
    if path is None:  # taken by a concurrent run: nothing to do
        return {"file": name, "status": "gone"}
    inst.db.check_ready()  # a database not at this netflow's schema: the file waits in the inbox
    try:
        [source] = gather([path])  # a FHIR file alone (its resources joined within it), or a netflow file
        if isinstance(source, FhirExport):
            _bind_fhir(inst, [source], None)
        counts = import_source(inst.db.patients, source if isinstance(source, Source) else open_source(path),
                               inst.book.ids, workers=inst.settings.workers)
    except SourceError as exc:
        inbox.failed(path, str(exc))
        return {"file": name, "status": "failed", "error": str(exc)}
    inbox.processed(path)
    return {"file": name, "status": "processed", **asdict(counts)}


def load_teams(inst: Installation, path: str | Path) -> int:
    """Create or update the care teams of a teams file, members replaced; nothing is loaded if any team has a
    problem (TeamsError lists them). Returns how many teams were loaded."""
    teams = load_teams_file(path, inst.book.ids)
    inst.db.check_ready()
    with inst.db.transaction() as tx:
        tx.patients.replace_teams(teams, utcnow())
    return len(teams)
