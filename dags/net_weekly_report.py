"""
### NET surveillance: the weekly report

Each Monday at 07:00 in the installation's time zone, every care team's leads get the team's
surveillance metrics with a chart: patients under surveillance; due, overdue and escalated;
windows closed on time in the last 90 days; the median days overdue; data-quality counts.
Then the data steward gets the digest of records still waiting in quarantine.

Reports are aggregates only: no patient appears in them. A report is sent once per team and
week: rerunning the DAG for the same week sends nothing new.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import CronTriggerTimetable, Param, dag, task

import netflow_airflow as glue

CONFIG = glue.schedule_settings()


@dag(
    dag_id="net_weekly_report",
    schedule=CronTriggerTimetable("0 7 * * 1", timezone=CONFIG.timezone),
    start_date=pendulum.datetime(2026, 1, 1, tz=CONFIG.timezone),
    catchup=False,
    max_active_runs=1,
    tags=["netflow", "report"],
    default_args=glue.default_args(CONFIG, retry_delay=timedelta(minutes=5), retry_exponential_backoff=True),
    params={
        "dry_run": Param(False, type="boolean", description="Compute and render; send nothing."),
        "as_of": Param("", type="string", description="Report as of this date (YYYY-MM-DD); empty: the run's date."),
        "allow_future": Param(False, type="boolean",
                              description="Take an as_of after tomorrow (refused otherwise, as a likely typo)."),
        "teams": Param([], type="array", items={"type": "string"}, description="Only these care team keys."),
    },
    doc_md=__doc__,
)
def net_weekly_report() -> None:
    @task
    def team_reports() -> dict[str, Any]:
        from netflow.services import reports

        with glue.current_run() as run:
            return reports.weekly_report(run.inst, run.as_of, run.run_id, dry_run=run.dry_run,
                                         teams=run.teams).as_counts()

    @task
    def steward_digest(reports: dict[str, Any]) -> dict[str, Any]:
        from netflow.services import reports as use_case

        with glue.current_run() as run:
            sent = use_case.steward_digest(run.inst, run.as_of, run.run_id, dry_run=run.dry_run)
        return {"reports": reports, "steward": sent.raise_if_undelivered().as_counts(), "dry_run": run.dry_run}

    steward_digest(team_reports())


net_weekly_report()
