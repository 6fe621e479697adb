"""Writing a cohort as JSON Lines: streamed, in order, optionally with worker processes."""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from typing import IO

from netflow.demo.cohort import Cohort, DemoPatient

__all__ = ["encode_block", "write_cohort", "write_records"]


def _lines(patients: Iterable[DemoPatient]) -> tuple[str, int, int]:
    """The patients as JSON Lines text (each line ending in a newline), their count, how many malformed."""
    encode = json.JSONEncoder(ensure_ascii=False, check_circular=False).encode
    lines: list[str] = []
    malformed = 0
    for patient in patients:
        lines.append(encode(patient.record))
        malformed += patient.defect is not None
    if not lines:
        return "", 0, 0
    lines.append("")
    return "\n".join(lines), len(lines) - 1, malformed


def write_records(
    patients: Iterable[DemoPatient],
    out: IO[str],
    on_progress: Callable[[int], None] | None = None,
    batch: int = 2000,
) -> tuple[int, int]:
    """Write one JSON object per line; return (records written, of which malformed).

    `on_progress(written)` is called after every `batch` records and at the end.
    """
    written = malformed = 0
    iterator = iter(patients)
    while True:
        chunk = [patient for _, patient in zip(range(batch), iterator, strict=False)]
        text, count, bad = _lines(chunk)
        out.write(text)
        written, malformed = written + count, malformed + bad
        if on_progress is not None:
            on_progress(written)
        if count < batch:
            return written, malformed


def encode_block(cohort: Cohort, number: int) -> tuple[str, int, int]:
    """Block `number` of the cohort as JSON Lines text, with its record count and malformed count."""
    return _lines(cohort.block(number))


def _blocks_in_parallel(cohort: Cohort, jobs: int) -> Iterator[tuple[str, int, int]]:
    """Blocks made by `jobs` processes, yielded in order, at most 2 x jobs blocks in flight."""
    upcoming = iter(range(cohort.blocks))
    pending: deque[Future[tuple[str, int, int]]] = deque()
    with ProcessPoolExecutor(max_workers=jobs) as pool:

        def submit_next() -> None:
            number = next(upcoming, None)
            if number is not None:
                pending.append(pool.submit(encode_block, cohort, number))

        try:
            for _ in range(2 * jobs):
                submit_next()
            while pending:
                result = pending.popleft().result()
                submit_next()
                yield result
        finally:
            for future in pending:
                future.cancel()


def write_cohort(
    cohort: Cohort,
    out: IO[str],
    on_progress: Callable[[int], None] | None = None,
    jobs: int = 1,
) -> tuple[int, int]:
    """Write the cohort's patients as JSON Lines, block by block; return (written, malformed).

    With `jobs` > 1, worker processes make the blocks; the bytes are the same either way.
    `on_progress(written)` is called after every block.
    """
    if jobs > 1 and cohort.blocks > 1:
        blocks: Iterator[tuple[str, int, int]] = _blocks_in_parallel(cohort, min(jobs, cohort.blocks))
    else:
        blocks = (encode_block(cohort, number) for number in range(cohort.blocks))
    written = malformed = 0
    for text, count, bad in blocks:
        out.write(text)
        written, malformed = written + count, malformed + bad
        if on_progress is not None:
            on_progress(written)
    return written, malformed
