"""Cut a stream into lists of at most `size` items: the one chunking helper (itertools.batched is 3.12).

>>> list(batched("abcde", 2))
[['a', 'b'], ['c', 'd'], ['e']]

Used wherever work goes in pieces: import chunks (one transaction each), evaluations recorded in
batches, and the id lists of `IN (...)` queries, which databases cap.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import islice
from typing import TypeVar

__all__ = ["IN_LIST", "batched"]

T = TypeVar("T")

IN_LIST = 500  # ids per IN (...) list: far under SQLite's and PostgreSQL's parameter limits


def batched(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """Successive lists of `size` items (the last may be shorter); nothing for an empty stream."""
    if size < 1:
        raise ValueError(f"size must be at least 1, got {size}")
    stream = iter(items)
    while chunk := list(islice(stream, size)):
        yield chunk
