"""HTML for the worklist pages: the models of `views` rendered with the Jinja2 templates next to this file.

Templates autoescape and fail on a missing variable (netflow.adapters.rendering builds the
Environment); they only lay out what the models say. Links are built here, relative to where the
app is mounted (`/netflow` in Airflow), so the pages work under any prefix.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode
from zoneinfo import ZoneInfo

from starlette.requests import Request

from netflow.adapters.rendering import environment
from netflow.domain.followups import ACTIONS
from netflow.domain.record import MODALITIES
from netflow_airflow.worklist import csrf
from netflow_airflow.worklist.models import (
    AuditList,
    Overview,
    PatientDetail,
    QuarantineList,
    Team,
    TeamWorklist,
    WorklistRow,
)
from netflow_airflow.worklist.rows import FILTER_STATUSES, FOLLOW_UP_WORDS, RISK_TIERS, SORTS

if TYPE_CHECKING:
    from netflow_airflow.worklist.context import Ctx

__all__ = ["ACTION_FORMS", "BAR_COLOURS", "ICON", "SECURITY_HEADERS", "TEMPLATES", "TONES", "Ui", "airflow_root",
           "audit_page", "error_page", "overview_page", "patient_page", "quarantine_page", "worklist_page"]

TEMPLATES = Path(__file__).resolve().parent / "templates"
# No script may run, nothing loads from elsewhere, and only Airflow (same origin) may frame the pages.
SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": ("default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
                                "form-action 'self'; base-uri 'none'; frame-ancestors 'self'"),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}
# Text colour and tint of each status, as in the digest email (templates/email/digest.html), and a
# bar colour in the same hue for the charts.
TONES: dict[str, tuple[str, str, str]] = {
    "escalated": ("#b42318", "#fef3f2", "#b42318"),
    "overdue": ("#b93815", "#fef6ee", "#ef6820"),
    "due": ("#8a4b00", "#fffaeb", "#fdb022"),
    "due_now": ("#8a4b00", "#fffaeb", "#fdb022"),
    "due_soon": ("#1849a9", "#eff8ff", "#2e90fa"),
    "not_due": ("#067647", "#ecfdf3", "#17b26a"),
    "high_risk": ("#5925dc", "#f4f3ff", "#7a5af8"),
    "needs_review": ("#344054", "#f2f4f7", "#667085"),
    "not_indicated": ("#344054", "#f2f4f7", "#98a2b3"),
    "completed": ("#344054", "#f2f4f7", "#98a2b3"),
    "inactive": ("#344054", "#f2f4f7", "#98a2b3"),
    "invalid": ("#b42318", "#fef3f2", "#b42318"),
}
BAR_COLOURS = {key: bar for key, (_, _, bar) in TONES.items()}
ICON = ('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24" fill="none" stroke="#1d3a5c" '
        'stroke-width="2" stroke-linecap="round" stroke-linejoin="round"><rect x="4" y="3" width="16" '
        'height="18" rx="2"/><path d="M8 8h8M8 12h8M8 16h5"/><circle cx="17.5" cy="17.5" r="3.5" '
        'fill="#b42318" stroke="#fff"/></svg>')
MOUNT = "/netflow"


def base_path(request: Request) -> str:
    """Where the app is mounted, e.g. '/netflow' (the scope's root_path)."""
    return str(request.scope.get("root_path", "")).rstrip("/")


def airflow_root(request: Request) -> str:
    """The Airflow UI's own root: the mount point without its last segment."""
    base = base_path(request)
    return base.rsplit("/", 1)[0] if "/" in base else ""


@dataclass(frozen=True)
class Ui:
    """The page chrome and helpers every template gets as `ui`."""

    base: str
    user: str
    timezone: str
    phi_level: str
    active: str
    framed: bool = False  # shown in the Airflow UI's iframe, which may not navigate the whole window
    csrf: str = ""  # the token the forms send back (netflow_airflow.worklist.csrf)
    admin: bool = False

    def url(self, path: str = "/", **params: Any) -> str:
        """A link inside the app; parameters that are None or empty are left out."""
        query = urlencode({k: v for k, v in params.items() if v not in (None, "")})
        return f"{self.base}{path}" + (f"?{query}" if query else "")

    def patient_url(self, ref: str | None, as_of: date | None = None) -> str:
        """A patient's page, by its opaque reference (never the MRN)."""
        return self.url(f"/patients/{quote(ref or '-', safe='')}", as_of=as_of.isoformat() if as_of else None)

    def follow_up_url(self, ref: str | None, follow_up_id: int | None = None) -> str:
        path = f"/patients/{quote(ref or '-', safe='')}/follow-ups"
        return self.url(path if follow_up_id is None else f"{path}/{follow_up_id}/withdraw")

    @staticmethod
    def patient_path(request: Request, ref: str, as_of: date | None = None) -> str:
        query = f"?as_of={as_of.isoformat()}" if as_of else ""
        return f"{base_path(request)}/patients/{quote(ref, safe='')}{query}"

    def local(self, moment: datetime | None) -> str:
        """A stored UTC timestamp in the installation's time zone, to the minute."""
        if moment is None:
            return "—"
        aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        return aware.astimezone(ZoneInfo(self.timezone)).strftime("%Y-%m-%d %H:%M")

    def tone(self, key: str) -> tuple[str, str, str]:
        return TONES.get(key, TONES["needs_review"])


def _ui(request: Request, ctx: Ctx | None, active: str) -> Ui:
    config = ctx.site.config if ctx is not None else None
    return Ui(base=base_path(request), user=ctx.viewer.name if ctx else "",
              timezone=config.timezone if config else "UTC",
              phi_level=config.phi_level if config else "minimal", active=active,
              framed=request.headers.get("sec-fetch-dest") == "iframe",
              csrf=csrf.token(request) if ctx else "", admin=bool(ctx and ctx.viewer.admin))


def _render(name: str, context: Mapping[str, Any]) -> str:
    return environment(TEMPLATES).get_template(name).render(context)


@dataclass(frozen=True)
class WorklistLinks:
    """Links of the worklist page that keep the team, date and filters while changing one thing."""

    ui: Ui
    page: TeamWorklist

    def params(self, **changes: Any) -> dict[str, Any]:
        f = self.page.filters
        params: dict[str, Any] = {"team": self.page.team.key, "as_of": self.page.as_of.isoformat(),
                                  "status": f.status, "risk": f.risk, "follow_up": f.follow_up,
                                  "overdue_min_days": f.overdue_min_days, "q": f.q,
                                  "sort": None if f.sort == "urgency" else f.sort,
                                  "order": None if f.sort == "urgency" else f.order,
                                  "page_size": None if f.page_size == 50 else f.page_size,
                                  "page": None if f.page == 1 else f.page}
        params.update(changes)
        return params

    def here(self) -> str:
        return self.ui.url("/", **self.params())

    def sort(self, key: str) -> str:
        """Sort by `key`; asking again for the current key reverses the order."""
        f = self.page.filters
        default = "desc" if key == "days_overdue" else "asc"
        order = ("asc" if f.order == "desc" else "desc") if f.sort == key else default
        return self.ui.url("/", **self.params(sort=key, order=order, page=None)) + "#worklist"

    def aria_sort(self, key: str) -> str:
        f = self.page.filters
        return ("ascending" if f.order == "asc" else "descending") if f.sort == key else "none"

    def page_url(self, number: int) -> str:
        return self.ui.url("/", **self.params(page=None if number == 1 else number)) + "#worklist"

    def status(self, status: str | None, risk: str | None = None) -> str:
        """The team's worklist filtered to one status (or risk tier), other filters dropped."""
        return self.ui.url("/", team=self.page.team.key, as_of=self.page.as_of.isoformat(), status=status,
                           risk=risk) + "#worklist"

    def export(self) -> str:
        params = self.params(page=None, page_size=None)
        team = quote(str(params.pop("team")), safe="")
        return self.ui.url(f"/api/teams/{team}/worklist.csv", **params)


TILES = (("escalated", None), ("overdue", None), ("due", None), ("due_soon", None), ("high_risk", "high"),
         ("needs_review", None), ("not_indicated", None), ("not_due", None))
TILE_WORDS = {**dict(FILTER_STATUSES), "high_risk": "High risk", "due": "Due now"}
# The fields of each action's form: (field, label, input type); a select for the modality.
ACTION_FORMS: dict[str, tuple[str, tuple[tuple[str, str, str, bool], ...]]] = {
    "scan_booked": ("Scan booked", (("date", "Date of the booked scan", "date", True),
                                    ("note", "Note (optional)", "text", False))),
    "done_elsewhere": ("Scan done elsewhere", (("date", "Date of the scan", "date", True),
                                               ("modality", "Modality", "select", True),
                                               ("note", "Note (optional)", "text", False))),
    "deferred": ("Deferred", (("until", "No reminders until", "date", True),
                              ("reason", "Reason", "text", True), ("note", "Note (optional)", "text", False))),
    "contacted": ("Patient contacted", (("note", "Note (optional)", "text", False),)),
    "note": ("Note", (("note", "Note", "text", True),)),
}
assert tuple(ACTION_FORMS) == ACTIONS


def worklist_page(request: Request, ctx: Ctx, page: TeamWorklist, teams: list[Team],
                  matches: list[WorklistRow]) -> str:
    ui = _ui(request, ctx, "worklist")
    f = page.filters
    return _render("worklist.html", {
        "ui": ui, "page": page, "teams": teams, "matches": matches, "links": WorklistLinks(ui, page),
        "statuses": FILTER_STATUSES, "risk_tiers": RISK_TIERS, "sorts": SORTS, "follow_ups": FOLLOW_UP_WORDS,
        "tiles": TILES, "tile_words": TILE_WORDS, "page_sizes": (25, 50, 100, 200, 500),
        "filtered": bool(f.status or f.risk or f.q or f.follow_up or f.overdue_min_days is not None),
        "first": (page.page - 1) * page.page_size + 1 if page.rows else 0,
        "last": (page.page - 1) * page.page_size + len(page.rows),
    })


def patient_page(request: Request, ctx: Ctx, page: PatientDetail, *,
                 errors: Mapping[str, Mapping[str, str]] | None = None, values: Mapping[str, str] | None = None
                 ) -> str:
    """`errors`: the failed form's action -> {field: problem}; `values`: what it sent, shown again. A problem
    with a field the form has no input for (the action itself) is shown above the form's button."""
    shown: dict[str, dict[str, str]] = {}
    for action, problems in (errors or {}).items():
        inputs = {name for name, *_ in ACTION_FORMS.get(action, ("", ()))[1]}
        form = shown.setdefault(action if action in ACTION_FORMS else ACTIONS[0], {})
        for field, problem in problems.items():
            form[field if field in inputs else "_general"] = problem if field in inputs else f"{field}: {problem}"
    return _render("patient.html", {"ui": _ui(request, ctx, "worklist"), "page": page, "forms": ACTION_FORMS,
                                    "modalities": MODALITIES, "errors": shown, "values": values or {}})


def overview_page(request: Request, ctx: Ctx, page: Overview) -> str:
    top = max((bar.count for team in page.teams for bar in team.bars), default=0)
    return _render("overview.html", {"ui": _ui(request, ctx, "overview"), "page": page, "scale": max(top, 1)})


def quarantine_page(request: Request, ctx: Ctx, page: QuarantineList) -> str:
    return _render("quarantine.html", {"ui": _ui(request, ctx, "quarantine"), "page": page})


def audit_page(request: Request, ctx: Ctx, page: AuditList) -> str:
    return _render("audit.html", {"ui": _ui(request, ctx, "audit"), "page": page})


def error_page(request: Request, status: int, detail: str) -> str:
    titles = {401: "Sign in to Airflow", 403: "Not for you", 404: "Not found", 422: "Check the request",
              500: "Something went wrong"}
    return _render("error.html", {"ui": _ui(request, None, ""), "status": status,
                                  "title": titles.get(status, "Error"), "detail": detail,
                                  "airflow": airflow_root(request) or "/"})
