"""
### NET surveillance: the daily run

Every weekday at 06:00 in the installation's time zone (`NETFLOW_TIMEZONE`) netflow evaluates
every patient in the patient database against the guideline rule sets, records what is new
(due soon, due, overdue, escalated, high-risk flags, patients needing review) and sends each
care team one digest email.

**Tasks**
1. `check`: the configuration and the patient database (migrated, reachable) are fine.
2. `record_shard` (mapped over `NETFLOW_SHARDS` patient shards): evaluate the shard and record
   its new events. Any worker can take any shard; the events are the same whatever the count.
3. `build`: one digest per care team into the outbox, in one transaction with its events.
4. `send`: the outbox over one SMTP connection; retried with exponential backoff. A message is
   marked sent only once the server accepted it, so a retry never sends a digest twice.
5. `summary`: counts by status, events, digests sent and failed (the task's XCom `return_value`).

**Trigger with parameters**: `dry_run` (evaluate and count, record and send nothing), `as_of` (replay a
date: an earlier date than one already run records nothing new), `teams` (only these care teams).

**When it fails** the operations address (`NETFLOW_OPS_EMAIL`) gets an alert with the run and task
ids only. Nothing in logs or XCom names a patient: counts, team keys and run ids only.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import CronTriggerTimetable, Param, dag, get_current_context, task

import netflow_airflow as glue

CONFIG = glue.schedule_settings()


@dag(
    dag_id="net_surveillance_daily",
    schedule=CronTriggerTimetable("0 6 * * 1-5", timezone=CONFIG.timezone),
    start_date=pendulum.datetime(2026, 1, 1, tz=CONFIG.timezone),
    catchup=False,
    max_active_runs=1,
    tags=["netflow", "surveillance"],
    default_args=glue.default_args(CONFIG, retry_delay=timedelta(minutes=2)),
    params={
        "dry_run": Param(False, type="boolean", description="Evaluate and count; record and send nothing."),
        "as_of": Param("", type="string", description="Replay this date (YYYY-MM-DD); empty: the run's date."),
        "teams": Param([], type="array", items={"type": "string"},
                       description="Only these care team keys; empty: every team."),
    },
    doc_md=__doc__,
)
def net_surveillance_daily() -> None:
    @task
    def check() -> list[int]:
        """Configuration and database are usable; returns the shard numbers to map over."""
        from netflow.services import check_installation

        config = glue.settings()
        check_installation(config)
        return list(range(config.shards))

    @task(max_active_tis_per_dagrun=16)
    def record_shard(shard: int) -> dict[str, Any]:
        from netflow.adapters.db import make_engine
        from netflow.services import record, rulebook_for

        context = get_current_context()
        config = glue.settings()
        result = record(make_engine(config.database_url), rulebook_for(config), glue.as_of(context, config),
                        glue.run_id(context), shard=shard, shards=config.shards, teams=glue.teams(context),
                        dry_run=glue.dry_run(context))
        return result.as_counts()

    @task
    def build(recorded: list[dict[str, Any]]) -> dict[str, Any]:
        from netflow.adapters.db import make_engine
        from netflow.services import build as build_digests
        from netflow.services import merge_team_totals, rulebook_for

        context = get_current_context()
        if glue.dry_run(context):
            return {"digests": 0, "dry_run": True}
        config = glue.settings()
        totals = merge_team_totals(r["teams"] for r in recorded)
        result = build_digests(make_engine(config.database_url), config, rulebook_for(config),
                               glue.as_of(context, config), glue.run_id(context), totals, teams=glue.teams(context))
        return {"digests": result.digests, "steward_digests": result.steward_digests,
                "waiting_teams": result.waiting}

    @task(retries=4, retry_delay=timedelta(minutes=1), retry_exponential_backoff=True,
          max_retry_delay=timedelta(minutes=30))
    def send(built: dict[str, Any]) -> dict[str, Any]:
        from netflow.adapters.db import make_engine
        from netflow.services import send as send_outbox

        context = get_current_context()
        if built.get("dry_run"):
            return {"sent": 0, "retrying": 0, "failed": 0}
        config = glue.settings()
        result = send_outbox(make_engine(config.database_url), config, teams=glue.teams(context))
        counts = {"sent": result.sent, "retrying": result.retrying, "failed": result.failed}
        if not result.ok:
            raise RuntimeError(f"{result.retrying + result.failed} message(s) not delivered "
                               f"({counts}); they stay in the outbox: " + "; ".join(result.problems))
        return counts

    @task
    def summary(recorded: list[dict[str, Any]], built: dict[str, Any], sent: dict[str, Any]) -> dict[str, Any]:
        from netflow.adapters.db import make_engine
        from netflow.services import finish, summarise

        context = get_current_context()
        config = glue.settings()
        totals = summarise(recorded, built, sent)
        totals["as_of"] = glue.as_of(context, config).isoformat()
        if not glue.dry_run(context):
            finish(make_engine(config.database_url), glue.run_id(context), totals)
        print(glue.summary_table(totals))
        return totals

    recorded = record_shard.expand(shard=check())
    built = build(recorded)
    summary(recorded, built, send(built))


net_surveillance_daily()
