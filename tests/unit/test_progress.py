"""The progress line: counts and rate on a terminal, silence everywhere else."""

from __future__ import annotations

import io

from netflow.cli.progress import Progress


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_progress_is_silent_when_the_stream_is_not_a_terminal() -> None:
    stream = io.StringIO()
    with Progress("patients.csv", stream=stream) as progress:
        progress.advance(5000)
    assert stream.getvalue() == "" and progress.count == 5000 and not progress.enabled


def test_progress_shows_counts_and_rate_on_a_terminal_and_ends_the_line() -> None:
    stream, clock = FakeTerminal(), FakeClock()
    with Progress("patients.csv", stream=stream, clock=clock) as progress:
        clock.now += 2
        progress.advance(4000)
    output = stream.getvalue()
    assert "patients.csv: 4,000 rows, 2,000 rows/s" in output and output.endswith("\n")


def test_progress_redraws_at_most_once_per_interval() -> None:
    stream, clock = FakeTerminal(), FakeClock()
    progress = Progress("f", stream=stream, clock=clock, interval=1.0)
    for _ in range(10):
        progress.advance(1)
    clock.now += 1.5
    progress.advance(1)
    assert stream.getvalue().count("\r") == 2


def test_progress_shows_the_total_when_known() -> None:
    clock = FakeClock()
    progress = Progress("f", total=10, stream=FakeTerminal(), clock=clock)
    clock.now += 1
    progress.advance(3)
    assert progress.line() == "f: 3/10 rows, 3 rows/s"
