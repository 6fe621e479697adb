"""The NET surveillance worklist: a FastAPI app that the Airflow plugin mounts at /netflow.

    app = create_app()                        # settings from Airflow connections and NETFLOW_* variables
    app = create_app(settings=Settings.from_env)   # tests: the environment only

Every route sits behind Airflow's own `requires_authenticated()`: a request needs the Airflow UI's
`_token` cookie or an `Authorization: Bearer` token the API server accepts. Without one, JSON gets
401 and a browser is sent to the Airflow login page; neither gets patient data. A signed-in user
sees and acts on the care teams whose `members` list them (every team for an Airflow admin:
netflow_airflow.worklist.access); another team's worklist, patient or export is a 403 that shows
nothing of it. State-changing requests authenticated by the cookie need the CSRF token
(netflow_airflow.worklist.csrf). Patient pages are addressed by an opaque reference, never the MRN.
Routes: netflow_airflow.worklist.api (JSON) and netflow_airflow.worklist.routes (pages). The
database engine, settings and rule book are built on the first request, not at import.
"""

import logging
import threading
import traceback
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from netflow.config import Settings
from netflow.errors import NetflowError
from netflow_airflow.worklist import pages
from netflow_airflow.worklist.access import viewer_of
from netflow_airflow.worklist.context import OWN_REFUSALS, Ctx, today_in
from netflow_airflow.worklist.privacy import redact_path, safe_next
from netflow_airflow.worklist.views import Site, UnknownTeam

__all__ = ["create_app", "today_in"]

log = logging.getLogger(__name__)

# Messages these errors carry name settings, files and team keys, never patient data (netflow.errors).
SAFE_ERRORS = (NetflowError, UnknownTeam)


class _Lazy:
    """The Site (engine, settings, rule book), built once, on the first request that needs it."""

    def __init__(self, settings: Callable[[], Settings]) -> None:
        self._settings = settings
        self._site: Site | None = None
        self._lock = threading.Lock()

    def __call__(self) -> Site:
        if self._site is None:
            with self._lock:
                if self._site is None:
                    from netflow.installation import Installation

                    self._site = Site(Installation.from_settings(self._settings()))
        return self._site


def _default_settings() -> Settings:
    from netflow_airflow import settings

    return settings()


def _wants_html(request: Request) -> bool:
    api = request.url.path.startswith(f"{request.scope.get('root_path', '')}/api/")
    return not api and "text/html" in request.headers.get("accept", "")


async def _http_error(request: Request, exc: Exception) -> Response:
    """401 (and Airflow's 403s): a browser goes to the Airflow login page, an API client gets the status.
    Other errors: an HTML page for a browser, JSON otherwise. No page echoes patient data."""
    assert isinstance(exc, StarletteHTTPException)
    if not _wants_html(request):
        return await http_exception_handler(request, exc)
    if exc.status_code == 401 or (exc.status_code == 403 and exc.detail not in OWN_REFUSALS):
        login = _login_url(request)
        if login is not None:
            return RedirectResponse(login, status_code=303)
    return HTMLResponse(pages.error_page(request, exc.status_code, str(exc.detail)), status_code=exc.status_code)


def _login_url(request: Request) -> str | None:
    try:
        from airflow.api_fastapi.app import get_auth_manager

        home = request.url.replace(path=f"{pages.base_path(request)}/", query="", fragment="")
        back = safe_next(str(request.url), home=str(home))
        return str(get_auth_manager().get_url_login(next_url=back))
    except RuntimeError:  # no auth manager: the app runs outside the Airflow API server (tests)
        return None


async def _contain_errors(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
    """An unexpected error becomes a 500 without its message (which could quote data); the log
    gets the error's type and where it happened."""
    try:
        response = await call_next(request)
    except Exception as exc:
        where = "".join(traceback.format_tb(exc.__traceback__)[-3:])
        text = str(exc) if isinstance(exc, SAFE_ERRORS) else type(exc).__name__
        log.error("netflow worklist: %s failed: %s\n%s", redact_path(request.url.path), text, where)
        detail = "netflow could not answer this request; the API server log says why."
        if _wants_html(request):
            response = HTMLResponse(pages.error_page(request, 500, detail), status_code=500)
        else:
            response = JSONResponse({"detail": detail}, status_code=500)
    for name, value in pages.SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def create_app(settings: Callable[[], Settings] | None = None) -> FastAPI:
    """The worklist app. `settings` gives the installation's Settings (default: Airflow connections
    and NETFLOW_* variables, read on the first request)."""
    from airflow.api_fastapi.core_api.security import GetUserDep, requires_authenticated

    from netflow_airflow.worklist.api import api_router
    from netflow_airflow.worklist.routes import page_router

    site_of = _Lazy(settings or _default_settings)

    def context(site: Annotated[Site, Depends(site_of)], user: GetUserDep) -> Ctx:
        return Ctx(site, user, viewer_of(user, site.inst))

    app = FastAPI(title="NET surveillance worklist", version="2",
                  description="The worklist of netflow, behind the Airflow login: each user sees the care teams "
                              "whose members list them (Airflow admins: every team).",
                  openapi_url=None, docs_url=None, redoc_url=None)
    auth = [Depends(requires_authenticated())]
    app.include_router(api_router(context), dependencies=auth)
    app.include_router(page_router(context), dependencies=auth)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.middleware("http")(_contain_errors)
    return app
