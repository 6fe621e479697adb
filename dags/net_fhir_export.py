"""
### NET surveillance: pull the EHR's FHIR Bulk Data export

Every day at 05:00 in the installation's time zone, before the daily run, netflow asks the EHR for a
FHIR Bulk Data export (`Group/[id]/$export`) of the NET patients' Group: the resource types netflow
reads (Patient, Condition, Procedure, Observation, ImagingStudy, DiagnosticReport, CareTeam), changed
since the last export that arrived (`_since`, kept per Group in the patient database; everything the
first time). It authorizes with SMART Backend Services (a signed JWT client assertion), waits for the
export as the server's `Retry-After` asks (at most `max_wait_minutes`, 6 hours by default), downloads
every file into a new folder of the inbox (`fhir-export-<group>-<time>`) and updates the
`netflow_fhir_export` asset: the import DAG (`net_patient_import`) then imports the folder.

The folder appears whole or not at all: files are downloaded into a hidden staging folder that no
import reads, and it is renamed into place only once every file arrived.

**Configuration**: the Airflow connection `netflow_fhir` (docs/fhir-export.md): host = the FHIR base
URL, login = the client id registered with the EHR, password = the private key (PEM), extra =
`token_url`, `kid`, `group_id`. The DAG is created paused: unpause it once the connection is there.

**When it fails** (the server answers 4xx/5xx or an OperationOutcome, the export expired, the
credentials are refused) the task fails with one line saying what happened, without URLs or tokens,
and is retried (3 times, 15 minutes apart); each attempt starts a new export with the same `_since`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pendulum
from airflow.sdk import Asset, CronTriggerTimetable, dag, task

import netflow_airflow as glue

CONFIG = glue.schedule_settings()
FHIR_EXPORT = Asset("netflow_fhir_export")


@dag(
    dag_id="net_fhir_export",
    schedule=CronTriggerTimetable("0 5 * * *", timezone=CONFIG.timezone),
    start_date=pendulum.datetime(2026, 1, 1, tz=CONFIG.timezone),
    catchup=False,
    max_active_runs=1,
    is_paused_upon_creation=True,  # it needs the netflow_fhir connection: unpause once it is configured
    tags=["netflow", "import", "fhir"],
    default_args=glue.default_args(CONFIG, retries=3, retry_delay=timedelta(minutes=15)),
    doc_md=__doc__,
)
def net_fhir_export() -> None:
    @task(outlets=[FHIR_EXPORT], execution_timeout=timedelta(hours=8))
    def export() -> dict[str, Any]:
        """Kick off, wait, download, land the folder; counts by resource type only."""
        from netflow.services import fhir_export

        with glue.current_run() as run:
            source = glue.fhir_source(run.inst.settings)
            return fhir_export.export_group(run.inst, source, at=datetime.now(UTC)).as_counts()

    export()


net_fhir_export()
