"""The worklist's HTML pages (not in the OpenAPI schema): what a nurse opens from the Airflow UI or a digest.

    GET  /                      the team's whole worklist, paged (?team=&status=&risk=&follow_up=&q=&page=)
    GET  /patients/{ref}        one patient, its follow-ups and a form per action (the view is audited)
    POST /patients/{ref}/follow-ups                    a form's action; back to `back` or the patient page
    POST /patients/{ref}/follow-ups/{id}/withdraw      withdraw one
    GET  /overview, /quarantine, /audit                metrics, rows awaiting a fix, the audit trail (admins)

The forms run no script: they carry the CSRF token in the field `csrf_token` (netflow_airflow.worklist.csrf).
"""

from collections.abc import Callable
from datetime import timedelta
from typing import Annotated
from urllib.parse import parse_qsl

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from netflow.domain.followups import REQUEST_FIELDS, FollowUpError
from netflow.services import followups
from netflow_airflow.worklist import csrf, pages
from netflow_airflow.worklist.api import audit_list, patient_detail
from netflow_airflow.worklist.context import Ctx, filters_of
from netflow_airflow.worklist.models import Team
from netflow_airflow.worklist.overview import build_overview, build_quarantine
from netflow_airflow.worklist.views import build_search, build_team_worklist

__all__ = ["page_router"]

FORM_BYTES = 64 * 1024


async def form_data(request: Request) -> dict[str, str]:
    """The URL-encoded form of a POST (the first value of each field), at most 64 KB."""
    body = await request.body()
    if len(body) > FORM_BYTES:
        raise HTTPException(413, "The form is too large.")
    fields: dict[str, str] = {}
    for key, value in parse_qsl(body.decode("utf-8", errors="replace"), keep_blank_values=True):
        fields.setdefault(key, value)
    return fields


def _back(request: Request, wanted: str | None, default: str) -> str:
    """Where a form returns: a path inside the app (never another site), else `default`."""
    base = pages.base_path(request) + "/"
    if wanted and wanted.startswith(base) and "//" not in wanted and "\\" not in wanted:
        return wanted
    return default


def html(request: Request, body: str, status: int = 200) -> Response:
    return csrf.remember(request, HTMLResponse(body, status_code=status), pages.base_path(request))


def page_router(context: Callable[..., Ctx]) -> APIRouter:
    CtxDep = Annotated[Ctx, Depends(context)]
    Form = Annotated[dict[str, str], Depends(form_data)]
    router = APIRouter(include_in_schema=False)

    @router.get("/", response_class=HTMLResponse)
    def worklist_page(request: Request, ctx: CtxDep, team: str | None = None, as_of: str | None = None,
                      status: str | None = None, risk: str | None = None, follow_up: str | None = None,
                      overdue_min_days: str | None = None, q: str | None = None, sort: str | None = None,
                      order: str | None = None, page: str | None = None, page_size: str | None = None) -> Response:
        key, day = ctx.team(team), ctx.as_of(as_of)
        filters = filters_of(status, risk, q, sort, order, follow_up, overdue_min_days, page, page_size)
        found = build_team_worklist(ctx.site, key, day, filters)
        teams = [Team(key=k, name=n) for k, n in ctx.viewer.teams.items()]
        matches = build_search(ctx.site, filters.q, ctx.viewer.teams, day) if filters.q else []
        return html(request, pages.worklist_page(request, ctx, found, teams, matches))

    @router.get("/patients/{ref}", response_class=HTMLResponse)
    def patient_page(request: Request, ctx: CtxDep, ref: str, as_of: str | None = None) -> Response:
        return html(request, pages.patient_page(request, ctx, patient_detail(ctx, ref, as_of)))

    @router.post("/patients/{ref}/follow-ups")
    def record_follow_up(request: Request, ctx: CtxDep, ref: str, form: Form) -> Response:
        csrf.check(request, form.get(csrf.FIELD))
        patient_id = ctx.patient_id(ref)
        day = ctx.as_of(form.get("as_of"))
        fields = {name: value.strip() for name in REQUEST_FIELDS if (value := form.get(name, "")).strip()}
        try:
            followups.record_follow_up(ctx.site.inst, patient_id=patient_id, request=fields, user=ctx.viewer.name,
                                       as_of=day)
        except FollowUpError as error:
            detail = patient_detail(ctx, ref, day.isoformat())
            errors = {fields.get("action", ""): {error.field: error.problem}}
            return html(request, pages.patient_page(request, ctx, detail, errors=errors, values=form), 422)
        here = pages.Ui.patient_path(request, ref, day)
        return RedirectResponse(_back(request, form.get("back"), here), status_code=303)

    @router.post("/patients/{ref}/follow-ups/{follow_up_id}/withdraw")
    def withdraw(request: Request, ctx: CtxDep, ref: str, follow_up_id: int, form: Form) -> Response:
        csrf.check(request, form.get(csrf.FIELD))
        patient_id = ctx.patient_id(ref)
        try:
            followups.withdraw_follow_up(ctx.site.inst, patient_id=patient_id, follow_up_id=follow_up_id,
                                         user=ctx.viewer.name)
        except FollowUpError as error:
            raise HTTPException(422, error.problem) from None
        day = ctx.as_of(form.get("as_of"))
        return RedirectResponse(pages.Ui.patient_path(request, ref, day) + "#follow-ups", status_code=303)

    @router.get("/overview", response_class=HTMLResponse)
    def overview_page(request: Request, ctx: CtxDep, as_of: str | None = None) -> Response:
        found = build_overview(ctx.site, ctx.as_of(as_of), pages.airflow_root(request), pages.BAR_COLOURS,
                               visible=ctx.viewer.teams)
        return html(request, pages.overview_page(request, ctx, found))

    @router.get("/quarantine", response_class=HTMLResponse)
    def quarantine_page(request: Request, ctx: CtxDep) -> Response:
        ctx.viewer.require_admin()
        return html(request, pages.quarantine_page(request, ctx, build_quarantine(ctx.site)))

    @router.get("/audit", response_class=HTMLResponse)
    def audit_page(request: Request, ctx: CtxDep, since: str | None = None) -> Response:
        ctx.viewer.require_admin()
        day = since or (ctx.as_of(None) - timedelta(days=30)).isoformat()
        return html(request, pages.audit_page(request, ctx, audit_list(ctx, day)))

    @router.get("/openapi.json")
    def openapi(request: Request) -> JSONResponse:
        return JSONResponse(request.app.openapi())

    @router.get("/icon.svg")
    def icon() -> Response:
        return Response(pages.ICON, media_type="image/svg+xml", headers={"Cache-Control": "max-age=86400"})

    return router
