"""The worklist page of a team of 50,000 patients (issue 13: <= 300 ms a page), read from the kept standings.

    python -m bench.worklist URL TEAM AS_OF RUNS     # in a fresh process; prints one line of JSON

After the daily runs of the remind figure, `make_team` moves 50,000 patients (of teams without a guideline
of their own, so that no evaluation changes) into one team, in the patients table and in the standings the
runs kept, as if the team had always been that large (no stamp changes); `restore_team` puts them back.
On PostgreSQL the tables are vacuumed first, as autovacuum would have done in service (index-only counts).
The child then times the page as the worklist serves it (netflow_airflow.worklist.views.build_team_worklist:
the service, the page's rows and their words): the first page in the default order, and one filtered page;
and, once, the same first page from the team evaluated as a whole (what every page cost before the standings).
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from datetime import date
from typing import Any

__all__ = ["FILTERED", "TEAM", "TEAM_SIZE", "make_team", "measure", "restore_team", "vacuum"]

TEAM = "bench-50k"
TEAM_SIZE = 50_000
FILTERED: dict[str, Any] = {"status": "overdue", "risk": "high", "sort": "days_overdue", "order": "desc", "page": 2}


def make_team(size: int = TEAM_SIZE, team: str = TEAM) -> list[str]:
    """The SQL that moves `size` patients (by bucket: spread over the tables as a real team is; of teams without
    a guideline) and their standings into `team`; the standings first, while the choice still reads the same rows."""
    chosen = (f"SELECT patient_id, care_team FROM patients WHERE care_team IN (SELECT key FROM care_teams WHERE "
              f"guideline IS NULL) ORDER BY bucket, patient_id LIMIT {int(size)}")
    moved = "patient_id IN (SELECT patient_id FROM bench_team_moved)"
    return [f"CREATE TABLE bench_team_moved AS {chosen}",
            f"UPDATE patient_state SET care_team = '{team}' WHERE {moved}",
            f"UPDATE patients SET care_team = '{team}' WHERE {moved}"]


def restore_team() -> list[str]:
    """The SQL that puts the patients make_team moved back into their teams."""
    return [f"UPDATE {table} SET care_team = m.care_team FROM bench_team_moved m WHERE {table}.patient_id = "
            f"m.patient_id" for table in ("patients", "patient_state")] + ["DROP TABLE bench_team_moved"]


def vacuum(dbname: str) -> None:
    """VACUUM ANALYZE the tables a page reads (PostgreSQL; outside a transaction, as VACUUM must be)."""
    import psycopg

    with psycopg.connect(f"host=127.0.0.1 port=5432 user=postgres dbname={dbname}", autocommit=True) as conn:
        for table in ("patients", "patient_state", "imaging_studies", "follow_ups"):
            conn.execute(f"VACUUM ANALYZE {table}".encode())


def _timed(call: Any, runs: int, cpu: list[float] | None = None) -> list[float]:
    """Wall seconds of each run (after one to warm: imports, connections, the rule book's caches); the
    process's CPU seconds of each run are added to `cpu` (beside the wall time on a busy machine)."""
    call()
    seconds = []
    for _ in range(runs):
        started, used = time.perf_counter(), time.process_time()
        call()
        seconds.append(time.perf_counter() - started)
        if cpu is not None:
            cpu.append(time.process_time() - used)
    return seconds


def measure(url: str, team: str, as_of: date, runs: int) -> dict[str, Any]:
    """Seconds of each run of the first page, the filtered page, and one page of the team evaluated whole."""
    from netflow.config import Settings
    from netflow.installation import Installation
    from netflow.services import worklist as queries
    from netflow_airflow.worklist.models import WorklistFilters
    from netflow_airflow.worklist.views import Site, build_team_worklist

    with Installation.from_settings(Settings(database_url=url)) as inst:
        site = Site(inst)
        cpu: list[float] = []
        first = _timed(lambda: build_team_worklist(site, team, as_of, WorklistFilters()), runs, cpu)
        filtered = _timed(lambda: build_team_worklist(site, team, as_of, WorklistFilters(**FILTERED)), runs)
        page = build_team_worklist(site, team, as_of, WorklistFilters())
        started = time.perf_counter()
        whole = queries._evaluated(inst, team, as_of, queries.WorklistQuery())
        evaluated = time.perf_counter() - started
        kept = queries._from_standings(inst, team, as_of, queries.WorklistQuery())
    return {"first": first, "first_cpu": cpu, "filtered": filtered, "evaluated": evaluated, "patients": page.total,
            "same": kept is not None and [e.evaluation.to_dict() for e in kept.entries]
            == [e.evaluation.to_dict() for e in whole.entries] and kept.counts == whole.counts,
            "from_standings": kept is not None}


def main(argv: list[str]) -> int:
    url, team, as_of, runs = argv
    result = measure(url, team, date.fromisoformat(as_of), int(runs))
    result["first_ms"] = statistics.median(result["first"]) * 1000
    result["filtered_ms"] = statistics.median(result["filtered"]) * 1000
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
