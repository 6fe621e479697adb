"""`netflow demo-data`: a synthetic, reproducible NET cohort (JSON Lines) and its care teams (YAML)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from netflow.cli import UsageError
from netflow.cli.common import as_of_date
from netflow.cli.progress import Progress
from netflow.demo import (
    DEFAULT_AS_OF,
    DEFAULT_MALFORMED_RATE,
    MAX_PATIENTS,
    Cohort,
    build_cohort,
    teams_yaml,
    write_cohort,
)

__all__ = ["register", "run"]


def _whole_number(low: int, high: int) -> Callable[[str], int]:
    """argparse type: a whole number in [low, high]."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be between {low} and {high:,}, got {value}")
        return value

    return parse


def _rate(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a fraction such as 0.02, got {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1 (0.02 is 2 %), got {text}")
    return value


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "demo-data",
        help="write a synthetic NET cohort and its care teams, for demos and load tests",
        description=(
            "Write N made-up patients who had a neuroendocrine tumour resected, as JSON Lines in the "
            "record format of the surveillance rules (with their imaging), and optionally the care "
            "teams YAML they belong to. The same seed, N and as-of date always give the same bytes. "
            "A few records are deliberately malformed to exercise the quarantine. No record describes "
            "a real person; addresses are at hospital.example."
        ),
    )
    parser.add_argument("--patients", type=_whole_number(1, MAX_PATIENTS), default=1000, metavar="N",
                        help="how many patients (default 1000)")
    parser.add_argument("--seed", type=int, default=1, metavar="S", help="the random seed (default 1)")
    parser.add_argument("--out", required=True, metavar="FILE",
                        help="where to write the patients (JSON Lines), or - for standard output; with "
                             "--format fhir, a folder")
    parser.add_argument("--format", choices=("jsonl", "fhir"), default="jsonl",
                        help="jsonl (the default), or fhir: a FHIR R4 Bulk Data export, one NDJSON file per "
                             "resource type, without the malformed records (docs/fhir.md); --teams-out then "
                             "gives each team its fhir identifier")
    parser.add_argument("--teams-out", metavar="FILE", help="where to write the care teams (YAML)")
    parser.add_argument("--as-of", dest="as_of", type=as_of_date, default=DEFAULT_AS_OF, metavar="YYYY-MM-DD",
                        help=f"the cohort's 'today': no imaging after it (default {DEFAULT_AS_OF})")
    parser.add_argument("--malformed-rate", type=_rate, default=DEFAULT_MALFORMED_RATE, metavar="RATE",
                        help=f"share of deliberately invalid records (default {DEFAULT_MALFORMED_RATE})")
    parser.add_argument("--jobs", type=_whole_number(1, 64), default=1, metavar="N",
                        help="worker processes for cohorts over 10,000 patients (default 1); worth it only "
                             "on idle cores; the output is the same for any number")
    parser.set_defaults(handler=run)


@contextmanager
def _output(path: str) -> Iterator[IO[str]]:
    """Standard output for '-', else a file that appears complete or not at all."""
    if path == "-":
        yield sys.stdout
        sys.stdout.flush()
        return
    target = Path(path)
    partial = target.with_name(target.name + ".partial")
    try:
        with open(partial, "w", encoding="utf-8", newline="\n", buffering=1 << 20) as out:
            yield out
        os.replace(partial, target)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def _teams_header(cohort: Cohort) -> str:
    return (
        f"Synthetic care teams: netflow demo-data --seed {cohort.seed} --patients {cohort.size} "
        f"--as-of {cohort.as_of}\nMade-up people; hospital.example addresses deliver nowhere."
    )


def _advance(progress: Progress) -> Callable[[int], None]:
    def on_progress(written: int) -> None:
        progress.advance(written - progress.count)
    return on_progress


def run(args: argparse.Namespace) -> int:
    if args.out == "-" and args.teams_out == "-":
        raise UsageError("only one of --out and --teams-out can be - (standard output)")
    cohort = build_cohort(args.seed, args.patients, args.as_of, args.malformed_rate)
    if args.format == "fhir":
        return _run_fhir(args, cohort)
    if args.teams_out:
        with _output(args.teams_out) as out:
            out.write(teams_yaml(cohort.teams, _teams_header(cohort)))
    with Progress("demo-data", total=cohort.size) as progress, _output(args.out) as out:
        write_cohort(cohort, out, _advance(progress), jobs=args.jobs)
    return 0


def _run_fhir(args: argparse.Namespace, cohort: Cohort) -> int:
    """--format fhir: the cohort as <Type>.ndjson files in the folder --out, the teams with their fhir ids."""
    from netflow.demo.fhir import fhir_teams_yaml, write_fhir

    if args.out == "-":
        raise UsageError("--format fhir writes a folder: give --out a folder, not -")
    if args.teams_out:
        with _output(args.teams_out) as out:
            out.write(fhir_teams_yaml(cohort.teams, _teams_header(cohort)))
    try:
        with Progress("demo-data", total=cohort.size) as progress:
            write_fhir(cohort, Path(args.out), _advance(progress))
    except OSError as exc:
        raise UsageError(f"cannot write {args.out}: {exc.strerror or exc}") from None
    return 0
