"""A progress line for long commands: counts and rate on standard error, only on a terminal.

>>> with Progress("patients.csv") as progress:   # doctest: +SKIP
...     for chunk in chunks:
...         progress.advance(len(chunk))

Silent when the stream is not a TTY (pipes, logs, Airflow tasks). Prints counts, never data.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from types import TracebackType
from typing import TextIO

__all__ = ["Progress"]


class Progress:
    """Counts rows and redraws one status line at most every `interval` seconds."""

    def __init__(self, label: str, total: int | None = None, stream: TextIO | None = None,
                 interval: float = 0.2, clock: Callable[[], float] = time.monotonic) -> None:
        self.label = label
        self.total = total
        self.count = 0
        self._stream = sys.stderr if stream is None else stream
        self._enabled = _is_tty(self._stream)
        self._interval = interval
        self._clock = clock
        self._started = clock()
        self._drawn_at: float | None = None

    @property
    def enabled(self) -> bool:
        return self._enabled

    def advance(self, rows: int = 1) -> None:
        self.count += rows
        if self._enabled and (self._drawn_at is None or self._clock() - self._drawn_at >= self._interval):
            self._draw()

    def line(self) -> str:
        elapsed = max(self._clock() - self._started, 1e-9)
        done = f"{self.count:,}" if self.total is None else f"{self.count:,}/{self.total:,}"
        return f"{self.label}: {done} rows, {self.count / elapsed:,.0f} rows/s"

    def _draw(self) -> None:
        self._drawn_at = self._clock()
        self._stream.write("\r\x1b[K" + self.line())
        self._stream.flush()

    def close(self) -> None:
        if self._enabled and self._drawn_at is not None:
            self._draw()
            self._stream.write("\n")
            self._stream.flush()
            self._drawn_at = None

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def _is_tty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
