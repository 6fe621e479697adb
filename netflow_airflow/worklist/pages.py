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
from typing import Any
from urllib.parse import quote, urlencode
from zoneinfo import ZoneInfo

from starlette.requests import Request

from netflow.adapters.rendering import environment
from netflow_airflow.worklist.models import Overview, PatientDetail, QuarantineList, Worklist
from netflow_airflow.worklist.rows import FILTER_STATUSES, RISK_TIERS, SORTS
from netflow_airflow.worklist.views import Site

__all__ = ["BAR_COLOURS", "ICON", "SECURITY_HEADERS", "TEMPLATES", "TONES", "airflow_root", "error_page",
           "overview_page", "patient_page", "quarantine_page", "worklist_page"]

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

    def url(self, path: str = "/", **params: Any) -> str:
        """A link inside the app; parameters that are None or empty are left out."""
        query = urlencode({k: v for k, v in params.items() if v not in (None, "")})
        return f"{self.base}{path}" + (f"?{query}" if query else "")

    def patient_url(self, patient_id: str, as_of: date | None = None) -> str:
        return self.url(f"/patients/{quote(patient_id, safe='')}", as_of=as_of.isoformat() if as_of else None)

    def local(self, moment: datetime | None) -> str:
        """A stored UTC timestamp in the installation's time zone, to the minute."""
        if moment is None:
            return "—"
        aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        return aware.astimezone(ZoneInfo(self.timezone)).strftime("%Y-%m-%d %H:%M")

    def tone(self, key: str) -> tuple[str, str, str]:
        return TONES.get(key, TONES["needs_review"])


def _user_name(user: Any) -> str:
    try:
        return str(user.get_name())
    except Exception:  # any user object the auth manager gives; the name is decoration only
        return ""


def _ui(request: Request, site: Site | None, user: Any, active: str) -> Ui:
    config = site.config if site is not None else None
    return Ui(base=base_path(request), user=_user_name(user), timezone=config.timezone if config else "UTC",
              phi_level=config.phi_level if config else "minimal", active=active,
              framed=request.headers.get("sec-fetch-dest") == "iframe")


def _render(name: str, context: Mapping[str, Any]) -> str:
    return environment(TEMPLATES).get_template(name).render(context)


@dataclass(frozen=True)
class WorklistLinks:
    """Links of the worklist page that keep the team, date and filters while changing one thing."""

    ui: Ui
    page: Worklist
    limit: int

    def _params(self, **changes: Any) -> dict[str, Any]:
        f = self.page.filters
        params: dict[str, Any] = {"team": self.page.team.key, "as_of": self.page.as_of.isoformat(),
                                  "status": f.status, "risk": f.risk, "q": f.q,
                                  "sort": None if f.sort == "urgency" else f.sort,
                                  "order": None if f.sort == "urgency" else f.order}
        params.update(changes)
        return params

    def sort(self, key: str) -> str:
        """Sort by `key`; asking again for the current key reverses the order."""
        f = self.page.filters
        default = "desc" if key == "days_overdue" else "asc"
        order = ("asc" if f.order == "desc" else "desc") if f.sort == key else default
        return self.ui.url("/", **self._params(sort=key, order=order)) + "#worklist"

    def aria_sort(self, key: str) -> str:
        f = self.page.filters
        return ("ascending" if f.order == "asc" else "descending") if f.sort == key else "none"

    def show_all(self, section: str) -> str:
        return self.ui.url("/", **self._params(limit=0)) + f"#{section}"


def worklist_page(request: Request, site: Site, user: Any, page: Worklist, limit: int) -> str:
    ui = _ui(request, site, user, "worklist")
    counts = {s.key: s.count for s in page.sections}
    return _render("worklist.html", {
        "ui": ui, "page": page, "links": WorklistLinks(ui, page, limit), "limit": limit, "counts": counts,
        "statuses": FILTER_STATUSES, "risk_tiers": RISK_TIERS, "sorts": SORTS,
        "filtered": bool(page.filters.status or page.filters.risk or page.filters.q),
    })


def patient_page(request: Request, site: Site, user: Any, page: PatientDetail) -> str:
    return _render("patient.html", {"ui": _ui(request, site, user, "worklist"), "page": page})


def overview_page(request: Request, site: Site, user: Any, page: Overview) -> str:
    top = max((bar.count for team in page.teams for bar in team.bars), default=0)
    return _render("overview.html", {"ui": _ui(request, site, user, "overview"), "page": page,
                                     "scale": max(top, 1)})


def quarantine_page(request: Request, site: Site, user: Any, page: QuarantineList) -> str:
    return _render("quarantine.html", {"ui": _ui(request, site, user, "quarantine"), "page": page})


def error_page(request: Request, status: int, detail: str) -> str:
    titles = {401: "Sign in to Airflow", 403: "Sign in to Airflow", 404: "Not found", 422: "Check the request",
              500: "Something went wrong"}
    return _render("error.html", {"ui": _ui(request, None, None, ""), "status": status,
                                  "title": titles.get(status, "Error"), "detail": detail,
                                  "airflow": airflow_root(request) or "/"})
