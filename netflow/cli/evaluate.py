"""`netflow evaluate`: JSON Lines of patient records in, JSON Lines of evaluations out."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Iterator
from datetime import date
from typing import IO, Any

from netflow.cli import UsageError
from netflow.cli.common import add_as_of, check_as_of_option
from netflow.config import Settings
from netflow.domain.engine import evaluate
from netflow.domain.evaluation import Evaluation
from netflow.domain.explain import invalid
from netflow.domain.record import FieldError
from netflow.domain.rules import RuleBook
from netflow.installation import load_book

__all__ = ["evaluate_lines", "register"]


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "evaluate",
        help="evaluate patient records from a JSON Lines file",
        description=(
            "Read patient records (one JSON object per line, the record format of the surveillance "
            "rules) and write one evaluation per line, in input order, as JSON Lines on standard "
            "output. Bad records come out as status 'invalid' with their errors; the command never "
            "stops on them."
        ),
    )
    parser.add_argument("file", metavar="FILE", help="JSON Lines file of patient records, or - for standard input")
    add_as_of(parser)
    parser.add_argument("--guideline", metavar="ID",
                        help="the installation's default rule set (nccn, consensus2018, or one added "
                             "through NETFLOW_RULESETS); a record's own 'guideline' wins")
    parser.set_defaults(handler=run)


def _not_json(line_number: int, as_of: date, error: str) -> Evaluation:
    errors = (FieldError("line", f"{line_number} is not valid JSON ({error})"),)
    return Evaluation(patient_id=None, as_of=as_of, status="invalid", errors=errors, explanation=invalid(errors))


def evaluate_lines(lines: Iterable[str], as_of: date, book: RuleBook) -> Iterator[Evaluation]:
    """One evaluation per non-blank line, in order; a line that is not JSON becomes 'invalid'."""
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
        except ValueError as exc:
            yield _not_json(number, as_of, exc.__class__.__name__ if not str(exc) else str(exc).split(":")[0])
            continue
        yield evaluate(raw, as_of, book)


def _open(path: str) -> IO[str]:
    if path == "-":
        return sys.stdin
    try:
        return open(path, encoding="utf-8-sig", errors="replace")
    except FileNotFoundError:
        raise UsageError(f"cannot read {path}: no such file") from None
    except IsADirectoryError:
        raise UsageError(f"cannot read {path}: it is a directory") from None
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from None


def run(args: argparse.Namespace) -> int:
    check_as_of_option(args)
    book = load_book(Settings.from_env(), args.guideline)
    source = _open(args.file)
    out = sys.stdout
    dumps = json.JSONEncoder(ensure_ascii=False, separators=(", ", ": ")).encode
    try:
        for evaluation in evaluate_lines(source, args.as_of, book):
            out.write(dumps(evaluation.to_dict()))
            out.write("\n")
    finally:
        if source is not sys.stdin:
            source.close()
    out.flush()
    return 0
