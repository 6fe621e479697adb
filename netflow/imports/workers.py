"""Run the same work on a stream of jobs in worker processes, results in the order of the jobs.

>>> list(in_order(len, iter([("ab",), ("cde",)]), workers=2))   # doctest: +SKIP
[2, 3]

The import parses and validates its chunks here (a chunk's rows are checked in a worker while the
one before is written to the database). Jobs are taken from the stream only as fast as results are
used (at most IN_FLIGHT per worker waiting), so memory stays bounded; with one worker, or a stream
of a single job, everything runs in this process. Workers are forked (they inherit what is loaded);
they never touch the database.
"""

from __future__ import annotations

import gc
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from itertools import chain
from multiprocessing import get_context
from typing import Any, TypeVar

__all__ = ["IN_FLIGHT", "in_order"]

R = TypeVar("R")

IN_FLIGHT = 2  # jobs handed to each worker ahead of the result being used


def in_order(work: Callable[..., R], jobs: Iterator[tuple[Any, ...]], workers: int) -> Iterator[R]:
    """`work(*job)` for each job, in `workers` processes (1: here), yielded in the order of `jobs`.

    `work` must be a module-level function (it is sent to the workers by name). If the consumer stops
    early, the jobs not started are cancelled and the workers end."""
    first = next(jobs, None)
    if first is None:
        return
    second = next(jobs, None)
    if workers <= 1 or second is None:
        yield work(*first)
        for job in () if second is None else chain([second], jobs):
            yield work(*job)
        return
    pending: deque[Future[R]] = deque()
    # gc.freeze first thing in a worker: what it inherits stays out of its collections (no copying of the
    # pages of the importing process's objects, e.g. a FHIR export's staging buffer)
    with ProcessPoolExecutor(workers, mp_context=get_context("fork"), initializer=gc.freeze) as pool:
        try:
            for job in chain([first, second], jobs):
                pending.append(pool.submit(work, *job))
                if len(pending) >= workers * IN_FLIGHT:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for future in pending:
                future.cancel()
