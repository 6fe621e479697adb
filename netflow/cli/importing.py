"""`netflow import FILE...` (patients and imaging) and `netflow teams load FILE` (care teams)."""

from __future__ import annotations

import argparse
from typing import Any

from netflow.adapters.patients import PatientStore
from netflow.adapters.tables import utcnow
from netflow.cli import UsageError
from netflow.cli.common import rulebook, settings
from netflow.cli.db import open_database
from netflow.importer import ImportCounts, import_source
from netflow.progress import Progress
from netflow.readers import Source, SourceError, open_source
from netflow.teams import TeamsError, load_teams_file

__all__ = ["register"]


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "import", help="import patient records and imaging into the patient database",
        description=(
            "Import patient records (JSON Lines, one record per line, or CSV with the record's columns) "
            "and imaging studies (CSV with patient_id,date,modality). Records are matched by patient_id: "
            "new ones are inserted, changed ones updated. Invalid rows are kept in quarantine with their "
            "errors. Prints, per file and in total: read, inserted, updated, unchanged, quarantined."),
    )
    parser.add_argument("files", nargs="+", metavar="FILE", help=".jsonl or .csv files")
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


def _sources(paths: list[str]) -> list[Source]:
    try:
        return [open_source(path) for path in paths]
    except SourceError as exc:
        raise UsageError(f"{exc}; nothing was imported") from None


def run_import(args: argparse.Namespace) -> int:
    config = settings()
    guidelines = rulebook(config).ids
    sources = _sources(args.files)
    engine = open_database()
    store = PatientStore(engine)
    total = ImportCounts()
    try:
        for source in sources:
            with Progress(source.name) as progress:
                counts = import_source(store, source, guidelines, on_rows=progress.advance)
            print(f"{source.name}: {counts.summary()}", flush=True)
            total += counts
    finally:
        engine.dispose()
    if len(sources) > 1:
        print(f"total: {total.summary()}")
    return 0


def run_teams_load(args: argparse.Namespace) -> int:
    config = settings()
    guidelines = rulebook(config).ids
    try:
        teams = load_teams_file(args.file, guidelines)
    except TeamsError as exc:
        raise UsageError(f"{exc}\nnothing was loaded") from None
    engine = open_database()
    try:
        with PatientStore(engine).transaction() as tx:
            tx.replace_teams(teams, utcnow())
    finally:
        engine.dispose()
    print(f"loaded {len(teams)} care team(s) from {args.file}")
    return 0
