"""Timing children: wall time and peak RSS of one process, medians of several runs.

    run = timed(["netflow", "scan", "--as-of", "2026-12-01"], env=env)   # stdout to /dev/null
    run.seconds, run.peak_rss_mb

The peak RSS is the child's own `ru_maxrss`, read with os.wait4 for that one process (not
RUSAGE_CHILDREN, which is the maximum over every child so far).
"""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ChildRun", "CommandFailed", "TimedOut", "median_of", "python_env", "timed"]


class CommandFailed(RuntimeError):
    """A measured command exited with an error; the message holds its last lines of standard error."""


class TimedOut(RuntimeError):
    """A measured command ran past its time or memory limit and was stopped after `seconds`."""

    def __init__(self, message: str, seconds: float) -> None:
        super().__init__(message)
        self.seconds = seconds


@dataclass(frozen=True)
class ChildRun:
    seconds: float
    peak_rss_mb: float
    stdout: str = ""
    exit_code: int = 0
    stderr_tail: str = ""  # the last line of standard error (an exception's class and message)


def timed(argv: Sequence[str], env: Mapping[str, str], *, stdout: Path | None = None,
          capture: bool = False, ok_codes: tuple[int, ...] = (0,), timeout: float | None = None,
          max_rss_mb: float | None = None) -> ChildRun:
    """Run one command to completion; its wall time and its peak resident set size.

    Standard output goes to `stdout` (a file), or is returned (`capture`), or is discarded. A child
    still running after `timeout` seconds, or grown past `max_rss_mb`, is killed and `TimedOut` raised
    (the machine stays usable for everyone else).
    """
    with tempfile.TemporaryFile() as errors, tempfile.TemporaryFile() as captured:
        sink = captured if capture else (open(stdout, "wb") if stdout else open(os.devnull, "wb"))  # noqa: SIM115
        try:
            started = time.perf_counter()
            child = subprocess.Popen(argv, env=dict(env), stdout=sink, stderr=errors)
            try:
                pid, status, usage, why = _wait(child.pid, started + timeout if timeout else None, max_rss_mb)
            except BaseException:  # interrupted: leave no child behind
                child.kill()
                child.wait()
                raise
            seconds = time.perf_counter() - started
            if pid == 0:
                child.kill()
                os.wait4(child.pid, 0)
                child.returncode = -9
                raise TimedOut(f"{' '.join(argv[1:4])} ... {why} (stopped after {seconds:.0f} s)", seconds)
            child.returncode = os.waitstatus_to_exitcode(status)
        finally:
            if sink is not captured:
                sink.close()
        errors.seek(0)
        lines = errors.read().decode("utf-8", "replace").strip().splitlines()
        if child.returncode not in ok_codes:
            tail = "\n".join(lines[-8:])
            raise CommandFailed(f"{' '.join(argv[:4])} ... exited with {child.returncode}:\n{tail}")
        captured.seek(0)
        text = captured.read().decode("utf-8", "replace") if capture else ""
    return ChildRun(seconds, usage.ru_maxrss / 1024, text, child.returncode, lines[-1] if lines else "")


def _wait(pid: int, deadline: float | None, max_rss_mb: float | None
          ) -> tuple[int, int, resource.struct_rusage, str]:
    """os.wait4 for one child; pid 0 and why, when the deadline passes or the child outgrows the cap first."""
    if deadline is None and max_rss_mb is None:
        return (*os.wait4(pid, 0), "")
    while True:
        found, status, usage = os.wait4(pid, os.WNOHANG)
        if found:
            return found, status, usage, ""
        if deadline is not None and time.perf_counter() > deadline:
            return 0, 0, usage, "did not finish in time"
        if max_rss_mb is not None and _rss_mb(pid) > max_rss_mb:
            return 0, 0, usage, f"grew past {max_rss_mb:.0f} MB"
        time.sleep(0.2)


def _rss_mb(pid: int) -> float:
    """The child's resident set size now (Linux /proc), or -1 when it cannot be read."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return -1.0


def median_of(runs: int, measure: Callable[[int], float], before: Callable[[int], None] | None = None
              ) -> tuple[float, list[float]]:
    """The median of `runs` measurements (and all of them); `before(i)` prepares run i, untimed."""
    values = []
    for number in range(runs):
        if before is not None:
            before(number)
        values.append(measure(number))
    return statistics.median(values), values


def python_env(base: Mapping[str, str], **changes: str) -> dict[str, str]:
    """The environment for a child: the current one with NETFLOW_* settings replaced."""
    env = {k: v for k, v in base.items() if not k.startswith("NETFLOW_")}
    env.update(changes)
    env.setdefault("PYTHONHASHSEED", "0")
    return env
