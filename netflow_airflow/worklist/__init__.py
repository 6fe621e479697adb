"""The "NET surveillance" worklist inside the Airflow UI (a FastAPI app behind the Airflow login).

    from netflow_airflow.worklist import app          # what plugins/netflow_plugin.py mounts at /netflow
    from netflow_airflow.worklist.webapp import create_app

`app` is a small ASGI shim: importing this package imports neither FastAPI, netflow's database
code nor Airflow's API modules, so the plugin loads instantly wherever Airflow loads plugins
(scheduler, workers, DAG processor). The real app is built on the first request the API server
sends it, and once a request is answered it hides the MRN in the path and query string that
Airflow's access log is about to write (netflow_airflow.worklist.privacy). Pages and JSON: see
netflow_airflow.worklist.webapp.
"""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

__all__ = ["LazyApp", "app"]

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class LazyApp:
    """An ASGI app that builds `factory()` on its first request and hands every request to it."""

    def __init__(self, factory: Callable[[], ASGIApp]) -> None:
        self._factory = factory
        self._app: ASGIApp | None = None
        self._lock = threading.Lock()

    def _built(self) -> ASGIApp:
        if self._app is None:
            with self._lock:
                if self._app is None:
                    self._app = self._factory()
        return self._app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":  # only when served on its own; a mounted app gets no lifespan
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        try:
            await self._built()(scope, receive, send)
        finally:
            if scope["type"] == "http":
                from netflow_airflow.worklist.privacy import redact_scope

                redact_scope(scope)  # Airflow's access log reads the path afterwards: no MRN in it


def _create() -> ASGIApp:
    from netflow_airflow.worklist.webapp import create_app

    return create_app()


app = LazyApp(_create)
