"""The one chunking helper."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from netflow.batching import batched


@pytest.mark.parametrize(("items", "size", "expected"), [
    ([], 3, []),
    ([1, 2, 3], 3, [[1, 2, 3]]),
    ([1, 2, 3, 4], 3, [[1, 2, 3], [4]]),
    ([1, 2], 5, [[1, 2]]),
], ids=["empty", "exactly one chunk", "a short last chunk", "fewer than one chunk"])
def test_batched_cuts_a_stream_into_lists_of_at_most_size_items(items: list[int], size: int,
                                                                 expected: list[list[int]]) -> None:
    assert list(batched(iter(items), size)) == expected


def test_batched_reads_a_stream_lazily() -> None:
    pulled: list[int] = []

    def stream() -> Iterator[int]:
        for n in range(10):
            pulled.append(n)
            yield n

    first = next(batched(stream(), 2))
    assert first == [0, 1] and pulled == [0, 1]


def test_batched_refuses_a_size_below_one() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        next(batched([1], 0))
