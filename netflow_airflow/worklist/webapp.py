"""The NET surveillance worklist: a FastAPI app that the Airflow plugin mounts at /netflow.

    app = create_app()                        # settings from Airflow connections and NETFLOW_* variables
    app = create_app(settings=Settings.from_env)   # tests: the environment only

Every route sits on one router whose dependency is Airflow's own `requires_authenticated()`: a
request needs the Airflow UI's `_token` cookie or an `Authorization: Bearer` token the API server
accepts. Without one, JSON gets 401 and a browser is sent to the Airflow login page; neither gets
patient data. Read-only: GET routes only. The database engine, settings and rule book are built
on the first request, not at import or plugin load.
"""

import logging
import threading
import traceback
from collections.abc import Awaitable, Callable
from datetime import date, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from netflow.config import Settings
from netflow.domain.dates import parse_iso_date
from netflow.errors import NetflowError
from netflow_airflow.worklist import pages
from netflow_airflow.worklist.models import Overview, PatientDetail, QuarantineList, Worklist, WorklistFilters
from netflow_airflow.worklist.privacy import redact_path, safe_next
from netflow_airflow.worklist.rows import FILTER_STATUSES, RISK_TIERS, SORTS
from netflow_airflow.worklist.views import (
    Site,
    UnknownTeam,
    build_overview,
    build_patient,
    build_quarantine,
    build_worklist,
    team_list,
)

__all__ = ["create_app"]

log = logging.getLogger(__name__)

NOT_FOUND = "No patient with this MRN in the patient database."
NO_TEAM = "No care team with this key."
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


def today_in(config: Settings) -> date:
    """Today in the installation's time zone (NETFLOW_TIMEZONE): the default as-of date."""
    from zoneinfo import ZoneInfo

    return datetime.now(ZoneInfo(config.timezone)).date()


def _as_of(raw: str | None, config: Settings) -> date:
    if not raw or not raw.strip():
        return today_in(config)
    parsed = parse_iso_date(raw.strip())
    if parsed is None:
        raise HTTPException(422, "as_of must be a date written YYYY-MM-DD")
    return parsed


def _filters(status: str | None, risk: str | None, q: str | None, sort: str | None, order: str | None
             ) -> WorklistFilters:
    """The filters as asked, unknown values dropped (a form's 'All' sends an empty value)."""
    sort_key = sort if sort in SORTS else "urgency"
    return WorklistFilters(
        status=status if status in dict(FILTER_STATUSES) else None,
        risk=risk if risk in RISK_TIERS else None,
        q=(q or "").strip()[:64] or None,
        sort=sort_key,
        order=order if order in ("asc", "desc") else ("desc" if sort_key == "days_overdue" else "asc"),
    )


def _wants_html(request: Request) -> bool:
    api = request.url.path.startswith(f"{request.scope.get('root_path', '')}/api/")
    return not api and "text/html" in request.headers.get("accept", "")


async def _http_error(request: Request, exc: Exception) -> Response:
    """401/403: a browser goes to the Airflow login page, an API client gets the status. Other
    errors: an HTML page for a browser, JSON otherwise. No page echoes patient data."""
    assert isinstance(exc, StarletteHTTPException)
    if not _wants_html(request):
        return await http_exception_handler(request, exc)
    if exc.status_code in (401, 403):
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

    site_of = _Lazy(settings or _default_settings)
    SiteDep = Annotated[Site, Depends(site_of)]
    app = FastAPI(title="NET surveillance worklist", version="1",
                  description="Read-only worklist of netflow, behind the Airflow login.",
                  openapi_url=None, docs_url=None, redoc_url=None)
    router = APIRouter(dependencies=[Depends(requires_authenticated())])

    TeamKey = Annotated[str | None, Query(description="care team key (default: the first team by name)")]
    AsOf = Annotated[str | None, Query(description="YYYY-MM-DD (default: today in NETFLOW_TIMEZONE)")]
    Status = Annotated[str | None, Query(description=", ".join(k for k, _ in FILTER_STATUSES))]
    Risk = Annotated[str | None, Query(description="high, standard or low")]
    Search = Annotated[str | None, Query(description="part of an MRN")]
    Sort = Annotated[str | None, Query(description=", ".join(SORTS))]
    Order = Annotated[str | None, Query(description="asc or desc")]

    def worklist(site: Site, team: str | None, as_of: str | None, filters: WorklistFilters) -> Worklist:
        key = team or next((t.key for t in team_list(site)), None)
        if key is None:
            raise HTTPException(404, "No care team is configured yet: load them with 'netflow teams load'.")
        try:
            return build_worklist(site, key, _as_of(as_of, site.config), filters)
        except UnknownTeam:
            raise HTTPException(404, NO_TEAM) from None

    def patient(site: Site, patient_id: str, as_of: str | None) -> PatientDetail:
        found = build_patient(site, patient_id, _as_of(as_of, site.config))
        if found is None:
            raise HTTPException(404, NOT_FOUND)
        return found

    @router.get("/api/worklist", response_model=Worklist, tags=["worklist"],
                summary="A care team's worklist in the digest's sections")
    def api_worklist(site: SiteDep, team: TeamKey = None, as_of: AsOf = None, status: Status = None,
                     risk: Risk = None, q: Search = None, sort: Sort = None, order: Order = None) -> Worklist:
        return worklist(site, team, as_of, _filters(status, risk, q, sort, order))

    @router.get("/api/patients/{patient_id}", response_model=PatientDetail, tags=["worklist"],
                summary="One patient: evaluation, scans, windows and their reminders",
                responses={404: {"description": "no patient with this MRN"}})
    def api_patient(site: SiteDep, patient_id: str, as_of: AsOf = None) -> PatientDetail:
        return patient(site, patient_id, as_of)

    @router.get("/api/overview", response_model=Overview, tags=["worklist"],
                summary="Surveillance metrics per care team and the latest daily runs")
    def api_overview(request: Request, site: SiteDep, as_of: AsOf = None) -> Overview:
        return build_overview(site, _as_of(as_of, site.config), pages.airflow_root(request), pages.BAR_COLOURS)

    @router.get("/api/quarantine", response_model=QuarantineList, tags=["worklist"],
                summary="Imported rows that failed validation and await a fix")
    def api_quarantine(site: SiteDep) -> QuarantineList:
        return build_quarantine(site)

    @router.get("/openapi.json", include_in_schema=False)
    def openapi(request: Request) -> JSONResponse:
        return JSONResponse(request.app.openapi())

    @router.get("/", include_in_schema=False, response_class=HTMLResponse)
    def worklist_page(request: Request, site: SiteDep, user: GetUserDep, team: str | None = None,
                      as_of: str | None = None, status: str | None = None, risk: str | None = None,
                      q: str | None = None, sort: str | None = None, order: str | None = None,
                      limit: int = 100) -> HTMLResponse:
        page = worklist(site, team, as_of, _filters(status, risk, q, sort, order))
        return HTMLResponse(pages.worklist_page(request, site, user, page, max(limit, 0)))

    @router.get("/patients/{patient_id}", include_in_schema=False, response_class=HTMLResponse)
    def patient_page(request: Request, site: SiteDep, user: GetUserDep, patient_id: str,
                     as_of: str | None = None) -> HTMLResponse:
        return HTMLResponse(pages.patient_page(request, site, user, patient(site, patient_id, as_of)))

    @router.get("/overview", include_in_schema=False, response_class=HTMLResponse)
    def overview_page(request: Request, site: SiteDep, user: GetUserDep, as_of: str | None = None) -> HTMLResponse:
        found = build_overview(site, _as_of(as_of, site.config), pages.airflow_root(request), pages.BAR_COLOURS)
        return HTMLResponse(pages.overview_page(request, site, user, found))

    @router.get("/quarantine", include_in_schema=False, response_class=HTMLResponse)
    def quarantine_page(request: Request, site: SiteDep, user: GetUserDep) -> HTMLResponse:
        return HTMLResponse(pages.quarantine_page(request, site, user, build_quarantine(site)))

    @router.get("/icon.svg", include_in_schema=False)
    def icon() -> Response:
        return Response(pages.ICON, media_type="image/svg+xml", headers={"Cache-Control": "max-age=86400"})

    app.include_router(router)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.middleware("http")(_contain_errors)
    return app

