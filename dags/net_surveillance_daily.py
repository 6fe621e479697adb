"""
### NET surveillance: the daily run

Every weekday at 06:00 in the installation's time zone (`NETFLOW_TIMEZONE`) netflow evaluates
every patient in the patient database against the guideline rule sets, records what is new
(due soon, due, overdue, escalated, high-risk flags, patients needing review) and sends each
care team one digest email.

**Tasks**
1. `check`: the configuration and the patient database (migrated, reachable) are fine, and the
   run's as-of date is valid (a mistyped `as_of` fails here, once, not in every shard).
2. `record_shard` (mapped over `NETFLOW_SHARDS` patient shards): evaluate the shard and record
   its new events. Any worker can take any shard; the events are the same whatever the count.
3. `build`: one digest per care team into the outbox, in one transaction with its events.
4. `send`: the outbox over one SMTP connection. A message is marked sent only once the server
   accepted it, so a retry never sends a digest twice. Only the server refusing a message counts as
   one of its `NETFLOW_MAX_ATTEMPTS`; when the server cannot be reached (or TLS or the login fails)
   every message stays pending as it was and the task fails with what is wrong. It is retried 12
   times with exponential backoff (5 min, doubling, at most 2 h apart: about 16 to 18 hours in all),
   so a mail outage of a night loses nothing: the first retry after the server is back sends it all.
5. `summary`: counts by status, events, digests sent and failed (the task's XCom `return_value`).

**Trigger with parameters**: `dry_run` (evaluate and count, record and send nothing), `as_of` (replay a
date: an earlier date than one already run records nothing new; a date after tomorrow only with
`allow_future`), `teams` (only these care teams), `full` (evaluate every patient: by default a run
evaluates only the patients whose data changed or whose next boundary date has come, and counts the
others from where they stood; after a rules change or to check, evaluate everyone).

**When it fails** the operations address (`NETFLOW_OPS_EMAIL`) gets an alert with the run and task
ids only, once the task has failed for good (after its retries). That alert goes by email: while the
mail server is down it cannot arrive, so watch the failed or retrying `send` task here, and
`netflow outbox list`. Nothing in logs or XCom names a patient: counts, team keys and run ids only.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pendulum
from airflow.sdk import CronTriggerTimetable, Param, dag, task

import netflow_airflow as glue

CONFIG = glue.schedule_settings()
# `send` is retried 12 times: 5, 10, 20, 40, 80 min, then every 2 h (Airflow adds up to as much again, below
# the cap): at least 16.5 hours of retries, so a mail outage of a night loses no digest.
SEND_RETRIES = 12
SEND_RETRY_DELAY = timedelta(minutes=5)
SEND_MAX_RETRY_DELAY = timedelta(hours=2)


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
        "allow_future": Param(False, type="boolean",
                              description="Take an as_of after tomorrow (refused otherwise, as a likely typo)."),
        "teams": Param([], type="array", items={"type": "string"},
                       description="Only these care team keys; empty: every team."),
        "full": Param(False, type="boolean",
                      description="Evaluate every patient, not only those whose evaluation can have changed "
                                  "(after a rules change, or to check)."),
    },
    doc_md=__doc__,
)
def net_surveillance_daily() -> None:
    @task
    def check() -> list[dict[str, Any]]:
        """Configuration and database are usable; settles the run's as-of date. One entry per shard."""
        from netflow.services import daily

        with glue.current_run() as run:
            return daily.check(run.inst, run.requested_as_of, run.run_date,
                               allow_future=run.allow_future).as_counts()

    @task(max_active_tis_per_dagrun=16)
    def record_shard(as_of: str, shard: int, shards: int) -> dict[str, Any]:
        from netflow.services import daily

        with glue.current_run() as run:
            return daily.record(run.inst, date.fromisoformat(as_of), run.run_id, shard=shard, shards=shards,
                                teams=run.teams, dry_run=run.dry_run, full=run.full).as_counts()

    @task
    def build(recorded: list[dict[str, Any]]) -> dict[str, Any]:
        from netflow.services import daily

        recorded = glue.mapped_results(recorded)  # one request, not one per shard and a 404 past the last
        with glue.current_run() as run:
            return daily.build(run.inst, daily.recorded_on(recorded), run.run_id, recorded, teams=run.teams,
                               dry_run=run.dry_run).as_counts()

    @task(retries=SEND_RETRIES, retry_delay=SEND_RETRY_DELAY, retry_exponential_backoff=2.0,
          max_retry_delay=SEND_MAX_RETRY_DELAY)
    def send(built: dict[str, Any]) -> dict[str, Any]:
        """Fails (and is retried for hours) while a message is not delivered; what was sent is never sent again.
        An outage (no SMTP session) leaves every message pending, its attempts unchanged."""
        from netflow.services import daily

        with glue.current_run() as run:
            return daily.send(run.inst, run.teams, dry_run=run.dry_run).raise_if_undelivered().as_counts()

    @task
    def summary(recorded: list[dict[str, Any]], built: dict[str, Any], sent: dict[str, Any]) -> dict[str, Any]:
        from netflow.services import daily

        recorded = glue.mapped_results(recorded)
        with glue.current_run() as run:
            result = daily.summary(run.inst, daily.recorded_on(recorded), run.run_id, recorded, built, sent,
                                   dry_run=run.dry_run)
        print(result.table())
        return result.as_counts()

    recorded = record_shard.expand_kwargs(check())
    built = build(recorded)
    summary(recorded, built, send(built))


net_surveillance_daily()
