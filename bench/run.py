"""`make bench`: netflow's performance figures beside the targets of issue 7, on one machine, in one run.

    python bench/run.py                       # 100k and 1M patients, SQLite and PostgreSQL, 3 runs each
    python bench/run.py --quick               # 100k only, 1 run each
    python bench/run.py --sizes 100000 --runs 5 --backends sqlite

Writes bench/results.md and bench/results.json and prints the table. Cohorts (made by
`netflow demo-data`, seeded) are kept in --workdir and reused; the databases are created and
dropped (PostgreSQL: netflow_bench_*; the server at 127.0.0.1:5432, user postgres). Every figure
is measured on child processes running the real commands; none is a timed test.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script (python bench/run.py): make `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import figures
from bench.cohorts import cohort_files, server_version
from bench.measure import python_env
from bench.report import Results, machine

ROOT = Path(__file__).resolve().parent.parent
SIZES = (100_000, 1_000_000)


def _sizes(text: str) -> list[int]:
    try:
        sizes = sorted({int(part.replace("_", "").replace("k", "000").replace("M", "000000"))
                        for part in text.split(",") if part.strip()})
    except ValueError:
        raise argparse.ArgumentTypeError(f"sizes are whole numbers separated by commas, got {text!r}") from None
    if not sizes or sizes[0] < 1000:
        raise argparse.ArgumentTypeError("each size must be at least 1000 patients")
    return sizes


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench/run.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="1 run of each figure, 100k patients only")
    parser.add_argument("--sizes", type=_sizes, help="cohort sizes, e.g. 100000,1000000 (default both)")
    parser.add_argument("--runs", type=int, help="runs per figure, the median is reported (default 3)")
    parser.add_argument("--backends", default="sqlite,postgresql",
                        help="sqlite, postgresql or both (default both)")
    parser.add_argument("--seed", type=int, default=7, help="cohort seed (default 7)")
    parser.add_argument("--as-of", default="2026-12-01", help="evaluation date (default 2026-12-01)")
    parser.add_argument("--workdir", type=Path, default=ROOT / "var" / "bench",
                        help="where cohorts are kept between runs (default var/bench)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench", help="where results.md/.json go")
    parser.add_argument("--pg-import-budget", type=float, default=900.0, metavar="SECONDS",
                        help="skip a PostgreSQL size whose import would take longer than this, estimated "
                             "from the smallest size (default 900)")
    parser.add_argument("--shards", default="1,2,4", help="NETFLOW_SHARDS values for the scale-out figure")
    parser.add_argument("--celery-workers", default="1,2,4",
                        help="Celery worker counts for the daily DAG on a real CeleryExecutor cluster (PostgreSQL, "
                             "Redis; at the scale-out size; default 1,2,4)")
    parser.add_argument("--shards-backends", default="postgresql",
                        help="backends of the scale-out figure (default postgresql: SQLite has one writer at a time)")
    parser.add_argument("--shards-size", type=int, help="the cohort size of the scale-out figure (default: the "
                                                       "smallest; each run is a whole first daily run)")
    parser.add_argument("--remind-runs", type=int, help="runs of each remind and scale-out figure (default: --runs; "
                                                       "at 1M always 1)")
    parser.add_argument("--remind-timeout", type=float, default=1200.0, metavar="SECONDS",
                        help="stop a remind run after this long and report it as not finished (default 1200)")
    parser.add_argument("--max-rss-mb", type=float, default=6000.0, metavar="MB",
                        help="stop a remind run that grows past this and report it as not finished (default 6000)")
    parser.add_argument("--skip", default="", help="comma-separated parts to leave out: evaluate, import, "
                                                   "fhir, scan, remind, worklist, shards, celery, dags")
    args = parser.parse_args(argv)
    args.sizes = args.sizes or ([SIZES[0]] if args.quick else list(SIZES))
    args.runs = args.runs or (1 if args.quick else 3)
    args.remind_runs = args.remind_runs or args.runs
    args.backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    args.skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    args.shards = [int(s) for s in args.shards.split(",") if s.strip()]
    args.celery_workers = [int(s) for s in args.celery_workers.split(",") if s.strip()]
    args.shards_size = args.shards_size or args.sizes[0]
    args.shards_backends = {b.strip() for b in args.shards_backends.split(",") if b.strip()}
    return args


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_mailcatcher(folder: Path, env: dict[str, str]) -> tuple[subprocess.Popen[bytes], int]:
    port = _free_port()
    catcher = subprocess.Popen([sys.executable, "-m", "netflow", "mailcatcher", "--port", str(port),
                                "--dir", str(folder)], env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return catcher, port
        time.sleep(0.1)
    catcher.terminate()
    raise RuntimeError("the mail catcher did not start within 30 s")


def _stop(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)  # run the clean-up: children, catcher, databases, results


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _stop)
    args.workdir.mkdir(parents=True, exist_ok=True)
    args.out.mkdir(parents=True, exist_ok=True)
    env = python_env(os.environ, AIRFLOW_HOME=str(args.workdir / "airflow-home"),
                     AIRFLOW__CORE__LOAD_EXAMPLES="False")
    pg = server_version() if "postgresql" in args.backends else "not used"
    results = Results(machine(pg), out=args.out, options={
        "command": "python bench/run.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "sizes": args.sizes, "runs": args.runs, "backends": args.backends, "seed": args.seed, "as_of": args.as_of})
    print(f"netflow bench: sizes {args.sizes}, {args.runs} run(s) per figure, backends {args.backends}", flush=True)
    cohorts = {size: cohort_files(args.workdir, size, args.seed, env) for size in args.sizes}
    mail = Path(tempfile.mkdtemp(prefix="netflow-bench-mail-"))
    catcher, port = start_mailcatcher(mail, env)
    env["NETFLOW_SMTP_URL"] = f"smtp://127.0.0.1:{port}"
    bench = figures.Bench(args, env, results, cohorts)
    try:
        bench.run_all()
    finally:
        catcher.send_signal(signal.SIGTERM)
        catcher.wait(timeout=30)
        shutil.rmtree(mail, ignore_errors=True)
        bench.cleanup()
        results.write(args.out)
    print()
    print(results.markdown())
    return 0


if __name__ == "__main__":
    sys.exit(main())
