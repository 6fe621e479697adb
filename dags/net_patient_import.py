"""
### NET surveillance: patient import

Every 15 minutes, imports the export files dropped in the inbox folder (`NETFLOW_INBOX`):
patients as JSON Lines or CSV, imaging as CSV (`patient_id,date,modality`). Each file is
imported in chunks (one transaction each) and moved to `processed/`; a file that cannot be read
at all goes to `failed/` with a `.error.txt` that says why. Rows that fail validation are kept in
quarantine with their errors (the data steward gets them in a digest); nothing is dropped.

A file still being written should be named `*.part` or `*.tmp` and renamed when complete.
Each successful import updates the `netflow_patients` asset. Task results hold file names and
counts only, never patient data.

It also runs as soon as `net_fhir_export` lands a FHIR Bulk Data export (the `netflow_fhir_export`
asset): each `fhir-export-*` folder of the inbox is imported as one export, after the files, and
moved to `processed/` (or to `failed/` with why).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import Asset, AssetOrTimeSchedule, CronTriggerTimetable, dag, task

import netflow_airflow as glue

CONFIG = glue.schedule_settings()
PATIENTS = Asset("netflow_patients")
FHIR_EXPORT = Asset("netflow_fhir_export")  # updated by net_fhir_export when an export landed


@dag(
    dag_id="net_patient_import",
    schedule=AssetOrTimeSchedule(timetable=CronTriggerTimetable("*/15 * * * *", timezone=CONFIG.timezone),
                                 assets=FHIR_EXPORT),
    start_date=pendulum.datetime(2026, 1, 1, tz=CONFIG.timezone),
    catchup=False,
    max_active_runs=1,
    tags=["netflow", "import"],
    default_args=glue.default_args(CONFIG, retry_delay=timedelta(minutes=1)),
    doc_md=__doc__,
)
def net_patient_import() -> None:
    @task
    def list_inbox() -> list[str]:
        from netflow.services import imports

        with glue.current_run() as run:
            return imports.inbox_files(run.inst)

    @task(outlets=[PATIENTS], max_active_tis_per_dagrun=1)
    def import_file(name: str) -> dict[str, Any]:
        from netflow.services import imports

        with glue.current_run() as run:
            return imports.import_inbox_file(run.inst, name)

    @task(trigger_rule="all_done")  # after the files, even when one of them failed
    def list_exports() -> list[str]:
        from netflow.services import fhir_export

        with glue.current_run() as run:
            return fhir_export.landed_exports(run.inst)

    @task(outlets=[PATIENTS], max_active_tis_per_dagrun=1)
    def import_export(name: str) -> dict[str, Any]:
        from netflow.services import fhir_export

        with glue.current_run() as run:
            return fhir_export.import_landed(run.inst, name)

    exports = list_exports()
    import_file.expand(name=list_inbox()) >> exports
    import_export.expand(name=exports)


net_patient_import()
