"""Synthetic, deterministic NET surveillance cohorts for demos, load tests and quarantine tests.

Usage::

    cohort = build_cohort(seed=7, size=1000)          # as of 2026-12-01, 2 % malformed
    with open("patients.jsonl", "w", encoding="utf-8") as out:
        write_cohort(cohort, out, jobs=2)              # or write_records(cohort.patients(), out)
    Path("teams.yaml").write_text(teams_yaml(cohort.teams))

Everything is drawn from `random.Random` instances seeded from the seed (one per block of 10,000
patients, so blocks can be made in parallel): the same seed, size and as-of date give the same
bytes, whatever the day, the machine or the number of worker processes. No record describes a
real person.
"""

from netflow.demo.cohort import (
    BLOCK_SIZE,
    DEFAULT_AS_OF,
    DEFAULT_MALFORMED_RATE,
    MAX_PATIENTS,
    Cohort,
    DemoPatient,
    build_cohort,
    generate_patients,
)
from netflow.demo.defects import DEFECTS
from netflow.demo.teams import DemoTeam, make_care_teams, team_count, teams_yaml
from netflow.demo.writing import encode_block, write_cohort, write_records

__all__ = [
    "BLOCK_SIZE",
    "DEFAULT_AS_OF",
    "DEFAULT_MALFORMED_RATE",
    "DEFECTS",
    "MAX_PATIENTS",
    "DemoTeam",
    "Cohort",
    "DemoPatient",
    "build_cohort",
    "encode_block",
    "generate_patients",
    "make_care_teams",
    "team_count",
    "teams_yaml",
    "write_cohort",
    "write_records",
]
