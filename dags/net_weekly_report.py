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
from airflow.sdk import CronTriggerTimetable, Param, dag, get_current_context, task

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
        "teams": Param([], type="array", items={"type": "string"}, description="Only these care team keys."),
    },
    doc_md=__doc__,
)
def net_weekly_report() -> None:
    @task
    def team_reports() -> dict[str, Any]:
        from netflow.adapters.db import make_engine
        from netflow.reports import weekly_report
        from netflow.services import rulebook_for

        context = get_current_context()
        config = glue.settings()
        result = weekly_report(make_engine(config.database_url), config, rulebook_for(config),
                               glue.as_of(context, config), glue.run_id(context), dry_run=glue.dry_run(context),
                               teams=glue.teams(context))
        return result.as_counts()

    @task
    def steward_digest(reports: dict[str, Any]) -> dict[str, Any]:
        from netflow.adapters.db import make_engine
        from netflow.services import steward_digest as send_steward_digest

        context = get_current_context()
        config = glue.settings()
        if glue.dry_run(context):
            return {"reports": reports, "steward_digests": 0, "dry_run": True}
        sent = send_steward_digest(make_engine(config.database_url), config, glue.as_of(context, config),
                                   glue.run_id(context))
        if not sent.ok:
            raise RuntimeError("the data steward digest was not delivered: " + "; ".join(sent.problems))
        return {"reports": reports, "steward_sent": sent.sent}

    steward_digest(team_reports())


net_weekly_report()
