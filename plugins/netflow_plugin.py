"""Registers the "NET surveillance" worklist with Airflow: the app at /netflow and an item in the navigation.

Registration only: the worklist lives in netflow_airflow.worklist, whose `app` builds itself on its
first request (nothing heavy is imported when Airflow loads plugins). Restart the API server after
changing it: Airflow never reloads plugins.

The navigation item opens the worklist inside the Airflow UI (`url_route`: an iframe at
/plugin/netflow, the sidebar kept); /netflow/ itself, the address the digest emails link to,
shows the same pages on their own. (A top-level item without `url_route` renders as a button
that does not open in Airflow 3.3.2.)
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from netflow_airflow.worklist import app

NAME = "NET surveillance"


class NetflowPlugin(AirflowPlugin):
    name = "netflow"
    fastapi_apps = [{"app": app, "url_prefix": "/netflow", "name": NAME}]  # noqa: RUF012 (Airflow's API)
    external_views = [  # noqa: RUF012
        {"name": NAME, "href": "/netflow/", "destination": "nav", "url_route": "netflow", "nav_top_level": True,
         "icon": "/netflow/icon.svg"},
    ]
