"""`netflow import PATH...` (patients and imaging, files or folders) and `netflow teams load FILE` (care teams)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from netflow.cli import UsageError
from netflow.cli.common import installation
from netflow.cli.progress import Progress
from netflow.guidelines.teams import TeamsError
from netflow.imports.formats import Source
from netflow.services.imports import FileImport, Folder, expand_paths, import_files, load_teams

__all__ = ["register"]


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "import", help="import patient records and imaging into the patient database",
        description=(
            "Import patient records (JSON Lines, one record per line, or CSV with the record's columns) "
            "and imaging studies (CSV with patient_id,date,modality). Records are matched by patient_id: "
            "new ones are inserted, changed ones updated. Invalid rows are kept in quarantine with their "
            "errors. A folder stands for the .jsonl, .ndjson and .csv files directly in it, by name (hidden, "
            ".part and .tmp files are left out). Prints, per file and in total: read, inserted, updated, "
            "unchanged, quarantined. A FHIR R4 Bulk Data export (its .ndjson files or their folder, or a Bundle "
            ".json) gives one record per NET patient, with a second line of resources read, used and skipped "
            "(docs/fhir.md)."),
    )
    parser.add_argument("files", nargs="+", metavar="PATH", help=".jsonl, .ndjson or .csv files, or folders of them")
    parser.add_argument("--care-team", metavar="KEY", help="FHIR: the care team of patients whose CareTeam "
                        "matches no team's fhir identifiers (else they are quarantined)")
    parser.set_defaults(handler=run_import)
    teams = sub.add_parser("teams", help="manage care teams",
                           description="Manage the care teams that receive reminders.")
    commands = teams.add_subparsers(dest="teams_command", metavar="COMMAND", required=True)
    load = commands.add_parser(
        "load", help="load care teams from a YAML file",
        description="Create or update the care teams in a YAML file; each listed team's members are "
                    "replaced by the file's. Nothing is loaded if the file has any problem.")
    load.add_argument("file", metavar="FILE", help="teams YAML file (see examples/teams.yaml)")
    load.set_defaults(handler=run_teams_load)


def run_import(args: argparse.Namespace) -> int:
    shown: list[Progress] = []

    def progress(source: Source) -> Callable[[int], None]:
        shown.append(Progress(source.name))
        return shown[-1].advance

    def done(imported: FileImport) -> None:
        shown.pop().close()
        print(f"{imported.name}: {imported.counts.summary()}", flush=True)
        if imported.resources is not None:
            print(f"{imported.name}: {imported.resources.summary()}", flush=True)

    paths = expand_paths(args.files)
    for folder in paths.folders:
        print(folder_line(folder), flush=True)
    with installation() as inst:
        result = import_files(inst, paths.files, progress, done, care_team=args.care_team)
    if len(result.files) > 1:
        print(f"total: {result.total.summary()}")
    return 0


def folder_line(folder: Folder) -> str:
    """What a folder given to import holds: the files imported from it, in order, and the others left alone."""
    line = f"{folder.path}: {len(folder.files)} file(s) to import: {', '.join(f.name for f in folder.files)}"
    return line + (f" (skipped: {', '.join(folder.skipped)})" if folder.skipped else "")


def run_teams_load(args: argparse.Namespace) -> int:
    with installation() as inst:
        try:
            loaded = load_teams(inst, args.file)
        except TeamsError as exc:
            raise UsageError(f"{exc}\nnothing was loaded") from None
    print(f"loaded {loaded} care team(s) from {args.file}")
    return 0
