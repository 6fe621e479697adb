"""The worklist's JSON endpoints (in the app's OpenAPI schema at /netflow/openapi.json).

    GET  /api/teams/{team}/worklist?as_of=D&status=S&page=N&page_size=M   one page of a team's whole worklist
    GET  /api/teams/{team}/worklist.csv?...                               the filtered view as CSV (audited)
    GET  /api/patients/{ref}                                              a patient, its evaluation, follow-ups
    POST /api/patients/{ref}/follow-ups                                   record an action: 201, or 422 naming
                                                                          the field
    POST /api/patients/{ref}/follow-ups/{follow_up_id}/withdraw           withdraw one: 201
    GET  /api/audit?since=D                                               the audit trail (Airflow admins)
    GET  /api/worklist, /api/overview, /api/quarantine                    the digest's sections, metrics, quarantine

A POST authenticated by the UI's cookie must carry X-CSRF-Token (netflow_airflow.worklist.csrf).
"""

import csv
import io
from collections.abc import Callable, Iterable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from netflow.domain.followups import FollowUpError
from netflow.services import audit as audit_trail
from netflow.services import followups
from netflow_airflow.worklist import csrf, pages
from netflow_airflow.worklist.context import NOT_FOUND, Ctx, filters_of, parse_day
from netflow_airflow.worklist.models import (
    AuditEntryModel,
    AuditList,
    FollowUpModel,
    Overview,
    PatientDetail,
    QuarantineList,
    TeamWorklist,
    Worklist,
    WorklistRow,
)
from netflow_airflow.worklist.overview import build_overview, build_quarantine
from netflow_airflow.worklist.rows import FILTER_STATUSES, SORTS, follow_up_model
from netflow_airflow.worklist.views import build_patient, build_team_worklist, build_worklist

__all__ = ["FollowUpRequest", "api_router", "audit_list", "export_csv", "follow_up_error", "patient_detail"]

CSV_COLUMNS = ("mrn", "name", "team", "status", "window_open", "window_close", "days_overdue", "risk_tier",
               "next_scan", "last_scan", "follow_up")
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


class FollowUpRequest(BaseModel):
    """A follow-up action: `action` and the fields it needs (scan_booked: date; done_elsewhere: date and
    modality; deferred: until and reason; note: note; contacted: none). Dates are YYYY-MM-DD."""

    action: str = Field(description="scan_booked, done_elsewhere, deferred, contacted or note")
    date: str | None = None
    until: str | None = None
    modality: str | None = None
    reason: str | None = None
    note: str | None = None
    as_of: str | None = Field(default=None, description="the day the action is recorded for (default today)")


def follow_up_error(error: FollowUpError) -> JSONResponse:
    """422 naming the field at fault, in FastAPI's own validation shape."""
    return JSONResponse({"detail": [{"loc": ["body", error.field], "msg": error.problem, "type": "value_error"}]},
                        status_code=422)


def patient_detail(ctx: Ctx, ref: str, as_of: str | None) -> PatientDetail:
    """The patient behind `ref` (403 for another team's, 404 for none), its view written to the audit trail."""
    patient_id = ctx.patient_id(ref)
    found = build_patient(ctx.site, patient_id, ctx.as_of(as_of))
    if found is None:
        raise HTTPException(404, NOT_FOUND)
    audit_trail.audit(ctx.site.inst, user=ctx.viewer.name, action="view_patient", patient_id=patient_id,
                      team=found.team.key)
    return found


def _cell(value: object) -> str:
    text = "" if value is None else str(value)
    return f"'{text}" if text.startswith(FORMULA_START) else text


def _csv_lines(rows: Iterable[WorklistRow]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for r in rows:
        writer.writerow([_cell(v) for v in (
            r.mrn, r.name, r.care_team, r.status, r.window_open, r.window_close, r.days_overdue, r.risk_tier,
            r.modality, r.last_scan, r.follow_up.text if r.follow_up else "")])
    return out.getvalue()


def export_csv(ctx: Ctx, team: str, as_of: str | None, params: dict[str, str | None]) -> Response:
    """Every row of the team's filtered worklist as CSV, the export written to the audit trail first."""
    key, day = ctx.team(team), ctx.as_of(as_of)
    filters = filters_of(**params)
    page = build_team_worklist(ctx.site, key, day, filters, paged=False)
    shown = {k: v for k, v in filters.model_dump().items() if v not in (None, "") and k not in ("page", "page_size")}
    audit_trail.audit(ctx.site.inst, user=ctx.viewer.name, action="export", team=key,
                      detail=f"worklist csv as of {day.isoformat()}: {page.total} rows; "
                             + ", ".join(f"{k}={'***' if k == 'q' else v}" for k, v in sorted(shown.items())))
    name = f"worklist-{key}-{day.isoformat()}.csv"
    return Response(_csv_lines(page.rows), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


def audit_list(ctx: Ctx, since: str | None) -> AuditList:
    """The audit trail from `since` on (Airflow admins only); the look itself is audited first."""
    ctx.viewer.require_admin()
    day = parse_day(since, "since")
    if day is None:
        raise HTTPException(422, "since must be a date written YYYY-MM-DD")
    audit_trail.audit(ctx.site.inst, user=ctx.viewer.name, action="view_audit", detail=f"since {day.isoformat()}")
    entries = [AuditEntryModel(at=e.at, user=e.user, action=e.action, patient_id=e.patient_id, team=e.team,
                               detail=e.detail) for e in audit_trail.audit_since(ctx.site.inst, day)]
    return AuditList(since=day, entries=entries)


def api_router(context: Callable[..., Ctx]) -> APIRouter:
    CtxDep = Annotated[Ctx, Depends(context)]
    router = APIRouter(prefix="/api", tags=["worklist"])
    TeamKey = Annotated[str | None, Query(description="care team key (default: the first team you may see)")]
    Team = Annotated[str, Path(description="care team key")]
    AsOf = Annotated[str | None, Query(description="YYYY-MM-DD (default: today in NETFLOW_TIMEZONE)")]
    Status = Annotated[str | None, Query(description=", ".join(k for k, _ in FILTER_STATUSES))]
    Risk = Annotated[str | None, Query(description="high, standard or low")]
    FollowUp = Annotated[str | None, Query(description="none, any, scan_booked, done_elsewhere, deferred, "
                                                       "contacted or note")]
    Overdue = Annotated[str | None, Query(description="only patients overdue at least this many days")]
    Search = Annotated[str | None, Query(description="part of an MRN")]
    Sort = Annotated[str | None, Query(description=", ".join(SORTS))]
    Order = Annotated[str | None, Query(description="asc or desc")]
    PageNo = Annotated[str | None, Query(description="page number, from 1")]
    PageSize = Annotated[str | None, Query(description="rows per page (1-500, default 50)")]
    Ref = Annotated[str, Path(description="the patient's page reference (never the MRN)")]

    @router.get("/teams/{team}/worklist", response_model=TeamWorklist,
                summary="One page of a care team's whole worklist, filtered and sorted on the server",
                responses={403: {"description": "the team does not list you"}})
    def team_worklist(ctx: CtxDep, team: Team, as_of: AsOf = None, status: Status = None, risk: Risk = None,
                      follow_up: FollowUp = None, overdue_min_days: Overdue = None, q: Search = None,
                      sort: Sort = None, order: Order = None, page: PageNo = None,
                      page_size: PageSize = None) -> TeamWorklist:
        filters = filters_of(status, risk, q, sort, order, follow_up, overdue_min_days, page, page_size)
        return build_team_worklist(ctx.site, ctx.team(team), ctx.as_of(as_of), filters)

    @router.get("/teams/{team}/worklist.csv", summary="The filtered worklist as CSV (every page; audited)",
                response_class=Response, responses={200: {"content": {"text/csv": {}}}})
    def team_worklist_csv(ctx: CtxDep, team: Team, as_of: AsOf = None, status: Status = None, risk: Risk = None,
                          follow_up: FollowUp = None, overdue_min_days: Overdue = None, q: Search = None,
                          sort: Sort = None, order: Order = None) -> Response:
        return export_csv(ctx, team, as_of, {"status": status, "risk": risk, "follow_up": follow_up,
                                             "overdue_min_days": overdue_min_days, "q": q, "sort": sort,
                                             "order": order})

    @router.get("/worklist", response_model=Worklist,
                summary="A care team's worklist in the digest's sections (every patient of each section)")
    def api_worklist(ctx: CtxDep, team: TeamKey = None, as_of: AsOf = None, status: Status = None,
                     risk: Risk = None, q: Search = None, sort: Sort = None, order: Order = None,
                     overdue_min_days: Overdue = None) -> Worklist:
        filters = filters_of(status, risk, q, sort, order, overdue_min_days=overdue_min_days)
        key = ctx.team(team)
        found = build_worklist(ctx.site, key, ctx.as_of(as_of), filters)
        found.teams = [t for t in found.teams if t.key in ctx.viewer.teams]
        return found

    @router.get("/patients/{ref}", response_model=PatientDetail,
                summary="One patient: evaluation, scans, windows, reminders and follow-up actions (audited)",
                responses={403: {"description": "another team's patient"}, 404: {"description": "no such ref"}})
    def api_patient(ctx: CtxDep, ref: Ref, as_of: AsOf = None) -> PatientDetail:
        return patient_detail(ctx, ref, as_of)

    @router.post("/patients/{ref}/follow-ups", status_code=201, response_model=FollowUpModel,
                 summary="Record a follow-up action for the patient",
                 responses={403: {"description": "another team's patient, or a cookie without X-CSRF-Token"},
                            422: {"description": "a field is missing or wrong: `detail[0].loc` names it"}})
    def api_follow_up(request: Request, ctx: CtxDep, ref: Ref, body: FollowUpRequest) -> Any:
        csrf.check(request)
        patient_id = ctx.patient_id(ref)
        fields = body.model_dump(exclude={"as_of"}, exclude_none=True)
        try:
            return follow_up_model(followups.record_follow_up(ctx.site.inst, patient_id=patient_id, request=fields,
                                                              user=ctx.viewer.name, as_of=ctx.as_of(body.as_of)))
        except FollowUpError as error:
            return follow_up_error(error)

    @router.post("/patients/{ref}/follow-ups/{follow_up_id}/withdraw", status_code=201,
                 response_model=FollowUpModel, summary="Withdraw a follow-up action (a new record)",
                 responses={403: {"description": "another team's patient, or a cookie without X-CSRF-Token"},
                            422: {"description": "no such action, or withdrawn already"}})
    def api_withdraw(request: Request, ctx: CtxDep, ref: Ref, follow_up_id: int) -> Any:
        csrf.check(request)
        patient_id = ctx.patient_id(ref)
        try:
            return follow_up_model(followups.withdraw_follow_up(ctx.site.inst, patient_id=patient_id,
                                                                follow_up_id=follow_up_id, user=ctx.viewer.name))
        except FollowUpError as error:
            return follow_up_error(error)

    @router.get("/audit", response_model=AuditList, summary="The audit trail from a date on (Airflow admins only)",
                responses={403: {"description": "not an Airflow admin"}})
    def api_audit(ctx: CtxDep, since: Annotated[str | None, Query(description="YYYY-MM-DD")] = None) -> AuditList:
        return audit_list(ctx, since)

    @router.get("/overview", response_model=Overview,
                summary="Surveillance metrics of the care teams you may see, and the latest daily runs")
    def api_overview(request: Request, ctx: CtxDep, as_of: AsOf = None) -> Overview:
        return build_overview(ctx.site, ctx.as_of(as_of), pages.airflow_root(request), pages.BAR_COLOURS,
                              visible=ctx.viewer.teams)

    @router.get("/quarantine", response_model=QuarantineList,
                summary="Imported rows that failed validation and await a fix (Airflow admins only)")
    def api_quarantine(ctx: CtxDep) -> QuarantineList:
        ctx.viewer.require_admin()
        return build_quarantine(ctx.site)

    return router
