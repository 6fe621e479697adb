"""The worklist tests import Airflow's API security module: give Airflow a throwaway AIRFLOW_HOME first.

Set before anything imports Airflow (tests/dags/conftest.py sets the same when those tests run too).
"""

from __future__ import annotations

import os
import tempfile

os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="netflow-ui-airflow-"))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
