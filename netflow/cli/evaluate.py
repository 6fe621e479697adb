"""`netflow evaluate`: JSON Lines of patient records in, JSON Lines of evaluations out.

The file is read in blocks of whole lines; NETFLOW_WORKERS processes (forked: the CLI only) evaluate
the blocks and the output keeps the input order. One worker, a small file or a text stream without
bytes underneath: the blocks are evaluated in this process.
"""

from __future__ import annotations

import argparse
import codecs
import gc
import json
import sys
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from datetime import date
from multiprocessing import get_all_start_methods, get_context
from typing import IO, Any

from netflow.cli import UsageError
from netflow.cli.common import add_as_of, check_as_of_option
from netflow.config import Settings
from netflow.domain.engine import evaluate, evaluate_stored
from netflow.domain.evaluation import Evaluation
from netflow.domain.explain import invalid
from netflow.domain.lean import decode_record
from netflow.domain.record import FieldError
from netflow.domain.rules import RuleBook

__all__ = ["evaluate_block", "evaluate_lines", "register"]

BLOCK_BYTES = 1 << 20  # about 1,500 records: a worker's unit of work
IN_FLIGHT = 2  # blocks queued per worker: one evaluated while the next waits


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "evaluate",
        help="evaluate patient records from a JSON Lines file",
        description=(
            "Read patient records (one JSON object per line, the record format of the surveillance "
            "rules) and write one evaluation per line, in input order, as JSON Lines on standard "
            "output. Bad records come out as status 'invalid' with their errors; the command never "
            "stops on them. NETFLOW_WORKERS processes share a large file (default: one per CPU)."
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


def _evaluate_line(number: int, line: str | bytes, as_of: date, book: RuleBook) -> Evaluation | None:
    """The lean record (`decode_record`) for a plainly well-formed line; anything else as the stdlib reads the
    text (None for a blank line): the stdlib alone decides every line the lean path does not take."""
    record = decode_record(line, book.ids)
    if record is not None:
        return evaluate_stored(record, as_of, book)
    text = line.decode("utf-8", "replace") if isinstance(line, bytes) else line
    if not text.strip():
        return None
    try:
        raw = json.loads(text)
    except ValueError as exc:
        return _not_json(number, as_of, exc.__class__.__name__ if not str(exc) else str(exc).split(":")[0])
    return evaluate(raw, as_of, book)


def evaluate_lines(lines: Iterable[str], as_of: date, book: RuleBook) -> Iterator[Evaluation]:
    """One evaluation per non-blank line, in order; a line that is not JSON becomes 'invalid'."""
    for number, line in enumerate(lines, start=1):
        evaluation = _evaluate_line(number, line, as_of, book)
        if evaluation is not None:
            yield evaluation


def evaluate_block(block: bytes, first_line: int, as_of: date, book: RuleBook, *, starts_file: bool = False) -> bytes:
    """The JSON Lines output for a block of whole input lines, numbered from `first_line`.

    Read as the text file would be: UTF-8 with bad bytes replaced, a BOM skipped at the start of the
    file, CR and CRLF ending lines like LF."""
    if starts_file and block.startswith(codecs.BOM_UTF8):
        block = block[len(codecs.BOM_UTF8):]
    if b"\r" in block:
        block = block.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    lines = block.split(b"\n")
    if lines and not lines[-1]:
        lines.pop()
    out = []
    for number, line in enumerate(lines, start=first_line):
        evaluation = _evaluate_line(number, line, as_of, book)
        if evaluation is not None:
            out.append(evaluation.to_json())
    out.append(b"")
    return b"\n".join(out) if len(out) > 1 else b""


def _line_count(block: bytes) -> int:
    if b"\r" not in block:  # the common case: one pass over the block, not three
        return block.count(b"\n")
    return block.count(b"\n") + block.count(b"\r") - block.count(b"\r\n")


def _blocks(source: IO[bytes]) -> Iterator[tuple[bytes, int]]:
    """Blocks of whole lines (the last may lack its newline), each with the number of its first line."""
    number, rest = 1, b""
    while chunk := source.read(BLOCK_BYTES):
        data = rest + chunk
        cut = data.rfind(b"\n") + 1
        if cut == 0:  # one line longer than a block: read on
            rest = data
            continue
        block, rest = data[:cut], data[cut:]
        yield block, number
        number += _line_count(block)
    if rest:
        yield rest, number


_WORK: tuple[date, RuleBook] | None = None  # a worker's as-of date and rule book, inherited through fork


def _start_worker(as_of: date, book: RuleBook) -> None:
    global _WORK
    gc.freeze()  # what the worker inherits stays out of its collections: no copying of the pages it never changes
    _WORK = (as_of, book)


def _work(block: bytes, first_line: int, starts_file: bool) -> bytes:
    assert _WORK is not None
    return evaluate_block(block, first_line, _WORK[0], _WORK[1], starts_file=starts_file)


def evaluate_stream(source: IO[bytes], write: Callable[[bytes], object], as_of: date, book: RuleBook,
                    workers: int) -> None:
    """Evaluate a JSON Lines byte stream through `write`, in input order, with `workers` processes (1: here)."""
    blocks = _blocks(source)
    first = next(blocks, None)
    if first is None:
        return
    second = next(blocks, None)
    if workers <= 1 or second is None or "fork" not in get_all_start_methods():
        write(evaluate_block(first[0], first[1], as_of, book, starts_file=True))
        if second is not None:
            write(evaluate_block(*second, as_of, book))
            for block, number in blocks:
                write(evaluate_block(block, number, as_of, book))
        return
    pending: deque[Future[bytes]] = deque()
    with ProcessPoolExecutor(workers, mp_context=get_context("fork"), initializer=_start_worker,
                             initargs=(as_of, book)) as pool:
        pending.append(pool.submit(_work, first[0], first[1], True))
        for block, number in _chain(second, blocks):
            pending.append(pool.submit(_work, block, number, False))
            if len(pending) >= workers * IN_FLIGHT:
                write(pending.popleft().result())
        while pending:
            write(pending.popleft().result())


def _chain(head: tuple[bytes, int], rest: Iterator[tuple[bytes, int]]) -> Iterator[tuple[bytes, int]]:
    yield head
    yield from rest


def _open(path: str) -> IO[bytes]:
    if path == "-":
        return sys.stdin.buffer
    try:
        return open(path, "rb")
    except FileNotFoundError:
        raise UsageError(f"cannot read {path}: no such file") from None
    except IsADirectoryError:
        raise UsageError(f"cannot read {path}: it is a directory") from None
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from None


def run(args: argparse.Namespace) -> int:
    from netflow.guidelines import load_book

    check_as_of_option(args)
    settings = Settings.from_env()
    book = load_book(settings, args.guideline)
    if args.file == "-" and not hasattr(sys.stdin, "buffer"):  # a text stream put in place of stdin
        for evaluation in evaluate_lines(sys.stdin, args.as_of, book):
            sys.stdout.write(evaluation.to_json().decode("utf-8") + "\n")
        return 0
    source = _open(args.file)
    try:
        sys.stdout.flush()
        out = getattr(sys.stdout, "buffer", None)
        if out is None:  # a text stream put in place of stdout
            evaluate_stream(source, lambda data: sys.stdout.write(data.decode("utf-8")), args.as_of, book,
                            settings.workers)
        else:
            evaluate_stream(source, out.write, args.as_of, book, settings.workers)
            out.flush()
    finally:
        if args.file != "-":
            source.close()
    sys.stdout.flush()
    return 0

