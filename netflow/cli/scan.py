"""`netflow scan`: evaluate every patient in the database on one date, streaming."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable
from typing import IO, Any

from netflow.cli import UsageError
from netflow.cli.common import add_as_of, check_as_of_option, installation
from netflow.domain.evaluation import Evaluation
from netflow.services.scan import scan_forked

__all__ = ["register", "write_jsonl", "write_lines", "write_table"]

TABLE_COLUMNS = (("MRN", 16), ("status", 13), ("due window", 23), ("overdue", 8), ("risk", 8), ("modality", 9))


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "scan", help="evaluate every patient in the database",
        description=(
            "Evaluate every patient in the patient database on the as-of date and print the evaluations, "
            "ordered by MRN: as JSON Lines (the objects 'netflow evaluate' prints) or as a worklist table. "
            "A patient's guideline is the record's own, else the care team's, else the installation's."),
    )
    add_as_of(parser)
    parser.add_argument("--team", metavar="KEY",
                        help="only this care team's patients (a configured team or one a patient names; "
                             "an unknown key is an error listing the known ones)")
    parser.add_argument("--format", choices=("jsonl", "table"), default="jsonl",
                        help="jsonl (default): one evaluation per line; table: a readable worklist")
    parser.add_argument("--shard", type=int, default=0, metavar="K",
                        help="evaluate only shard K (0-based) of --shards")
    parser.add_argument("--shards", type=int, default=None, metavar="N",
                        help="split the cohort into N shards (default: NETFLOW_SHARDS, else 1)")
    parser.set_defaults(handler=run)


def write_jsonl(evaluations: Iterable[Evaluation], out: IO[str]) -> int:
    """One evaluation per line (`Evaluation.to_json`); the number written."""
    return write_lines(map(Evaluation.to_json, evaluations), out)


def write_lines(lines: Iterable[bytes], out: IO[str]) -> int:
    """JSON lines (UTF-8 bytes, no newline) onto a text stream, through its bytes underneath when it has them."""
    out.flush()
    raw = getattr(out, "buffer", None)
    write = raw.write if raw is not None else (lambda data: out.write(data.decode("utf-8")))
    count = 0
    for line in lines:
        write(line + b"\n")
        count += 1
    if raw is not None:
        raw.flush()
    return count


def _cells(e: Evaluation) -> tuple[str, ...]:
    window = f"{e.window_open} - {e.window_close}" if e.window_open and e.window_close else "-"
    risk = e.risk_tier or "-"
    return (str(e.patient_id), e.status, window, str(e.days_overdue) if e.days_overdue else "-",
            risk, e.recommended_modality or "-")


def _line(cells: Iterable[str]) -> str:
    return "  ".join(cell.ljust(width) for cell, (_, width) in zip(cells, TABLE_COLUMNS, strict=True)).rstrip()


def write_table(evaluations: Iterable[Evaluation], out: IO[str]) -> int:
    out.write(_line(name for name, _ in TABLE_COLUMNS) + "\n")
    out.write(_line("-" * width for _, width in TABLE_COLUMNS) + "\n")
    count = 0
    for evaluation in evaluations:
        out.write(_line(_cells(evaluation)) + "\n")
        count += 1
    out.write(f"{count} patient(s)\n")
    return count


def _same(evaluation: Evaluation) -> Evaluation:
    return evaluation


def run(args: argparse.Namespace) -> int:
    check_as_of_option(args)
    with installation() as inst:
        shards = args.shards if args.shards is not None else inst.settings.shards
        if shards < 1 or not 0 <= args.shard < shards:
            raise UsageError(f"--shard must be between 0 and {shards - 1} (with --shards {shards}), "
                             f"got {args.shard}")
        workers, team, shard = inst.settings.workers, args.team, args.shard
        if args.format == "table":
            write_table(scan_forked(inst, args.as_of, _same, workers=workers, team=team, shard=shard,
                                    shards=shards), sys.stdout)
        else:  # the workers write the JSON: the parent only merges the lines
            write_lines(scan_forked(inst, args.as_of, Evaluation.to_json, workers=workers, team=team,
                                    shard=shard, shards=shards), sys.stdout)
    sys.stdout.flush()
    return 0
