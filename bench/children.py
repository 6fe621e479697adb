"""Code the benchmark runs in fresh child processes: `python -m bench.children WHAT ARGS...`.

evaluate FILE AS_OF RUNS   the `netflow evaluate` command in-process, beside the json.loads floor
                           over the same file; prints JSON {"floor": [s...], "evaluate": [s...]}
dag FILE                   import airflow.sdk, then one DAG file as the dag-processor does;
                           prints JSON {"sdk": s, "dag": s}
shards URL AS_OF N         the daily path with the recording step as N parallel processes (one per
                           shard), then build and send; prints JSON {"seconds": s, "record": s, ...}
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import date
from multiprocessing import get_context
from pathlib import Path
from typing import Any

__all__ = ["main"]


def _floor(path: str) -> float:
    """Read the file line by line and json.loads each line: what any JSON Lines tool must do."""
    started = time.perf_counter()
    with open(path, encoding="utf-8-sig", errors="replace") as source:
        for line in source:
            with contextlib.suppress(ValueError):
                json.loads(line)
    return time.perf_counter() - started


def _evaluate(path: str, as_of: str) -> float:
    from netflow.cli import main as netflow_main

    with open(os.devnull, "w", encoding="utf-8") as sink, contextlib.redirect_stdout(sink):
        started = time.perf_counter()
        code = netflow_main(["evaluate", path, "--as-of", as_of])
        seconds = time.perf_counter() - started
    if code != 0:
        raise SystemExit(f"netflow evaluate exited with {code}")
    return seconds


def evaluate(path: str, as_of: str, runs: str) -> dict[str, Any]:
    floor, evaluated = [], []
    _floor(path)  # warm the page cache and the imports
    for _ in range(int(runs)):
        floor.append(_floor(path))
        evaluated.append(_evaluate(path, as_of))
    return {"floor": floor, "evaluate": evaluated}


def dag(path: str) -> dict[str, Any]:
    """Time a DAG file's import as the dag-processor does it (a module named after the file's hash)."""
    import hashlib

    started = time.perf_counter()
    import airflow.sdk  # noqa: F401

    sdk = time.perf_counter() - started
    name = "unusual_prefix_" + hashlib.sha1(path.encode()).hexdigest() + "_" + Path(path).stem
    started = time.perf_counter()
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return {"sdk": sdk, "dag": time.perf_counter() - started}


def _record_shard(url: str, as_of: str, run_id: str, shard: int, shards: int) -> dict[str, Any]:
    from netflow.config import Settings
    from netflow.installation import Installation
    from netflow.services import daily

    with Installation.from_settings(replace(Settings.from_env(), database_url=url)) as inst:
        return daily.record(inst, date.fromisoformat(as_of), run_id, shard=shard, shards=shards).as_counts()


def shards(url: str, as_of: str, count: str) -> dict[str, Any]:
    """The daily path as the DAG runs it: record_shard mapped over N shards in parallel, then build, send."""
    from netflow.config import Settings
    from netflow.installation import Installation
    from netflow.services import daily

    n = int(count)
    run_id = f"bench-shards-{n}-{time.time_ns()}"
    started = time.perf_counter()
    with get_context("fork").Pool(processes=n) as pool:
        recorded = pool.starmap(_record_shard, [(url, as_of, run_id, k, n) for k in range(n)])
    record_seconds = time.perf_counter() - started
    with Installation.from_settings(replace(Settings.from_env(), database_url=url)) as inst:
        day = date.fromisoformat(as_of)
        built = daily.build(inst, day, run_id, recorded)
        sent = daily.send(inst)
        totals = daily.summary(inst, day, run_id, recorded, built.as_counts(), sent.as_counts()).as_counts()
    return {"seconds": time.perf_counter() - started, "record": record_seconds,
            "evaluated": totals["evaluated"], "sent": totals["sent"]}


def main(argv: list[str]) -> int:
    commands: dict[str, Callable[..., dict[str, Any]]] = {"evaluate": evaluate, "dag": dag, "shards": shards}
    what, *args = argv
    print(json.dumps(commands[what](*args)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
