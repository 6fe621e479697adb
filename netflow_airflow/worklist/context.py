"""What every worklist route works with: the site, the signed-in user and what they may see, the filters.

    ctx.team("gi-onc-east")     # the key, or 403 (not a member) / 404 (an admin asking for no such team)
    ctx.patient_id(ref)         # the patient behind a page reference, or 403 / 404
    ctx.as_of("2026-12-01")     # a date, or 422 saying how to write it
    filters_of(status="overdue", page="2")    # unknown values dropped
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from fastapi import HTTPException

from netflow.config import Settings
from netflow.domain.dates import parse_iso_date
from netflow.services import worklist as queries
from netflow_airflow.worklist.access import ADMINS_ONLY, NOT_YOUR_TEAM, Viewer
from netflow_airflow.worklist.models import WorklistFilters
from netflow_airflow.worklist.rows import FILTER_STATUSES, RISK_TIERS, SORTS
from netflow_airflow.worklist.views import Site

__all__ = ["NOT_FOUND", "NO_TEAM", "NO_TEAMS", "OWN_REFUSALS", "PAGE_SIZES", "Ctx", "filters_of", "parse_day",
           "today_in"]

NOT_FOUND = "No patient with this reference."
NO_TEAM = "No care team with this key."
NO_TEAMS = "No care team lists you as a member: ask an Airflow admin to add you to a team's `members`."
PAGE_SIZES = (25, 50, 100, 200, 500)
# 403s of netflow's own (the user is signed in): shown as a page, not sent back to the login.
OWN_REFUSALS = frozenset({NOT_YOUR_TEAM, NO_TEAMS, ADMINS_ONLY})


def parse_day(raw: str | None, name: str) -> date | None:
    """A YYYY-MM-DD parameter (None when empty), or 422 naming it."""
    if not raw or not raw.strip():
        return None
    parsed = parse_iso_date(raw.strip())
    if parsed is None:
        raise HTTPException(422, f"{name} must be a date written YYYY-MM-DD")
    return parsed


def today_in(config: Settings) -> date:
    """Today in the installation's time zone (NETFLOW_TIMEZONE): the default as-of date."""
    from zoneinfo import ZoneInfo

    return datetime.now(ZoneInfo(config.timezone)).date()


@dataclass(frozen=True)
class Ctx:
    """What a route works with: the site, the signed-in Airflow user, and what that user may see."""

    site: Site
    user: Any
    viewer: Viewer

    def as_of(self, raw: str | None) -> date:
        return parse_day(raw, "as_of") or today_in(self.site.config)

    def team(self, key: str | None) -> str:
        """The team asked for (default: the first the user may see), or 403/404."""
        if not key:
            first = next(iter(self.viewer.teams), None)
            if first is None:
                if not queries.team_names(self.site.inst):
                    raise HTTPException(404, "No care team is configured yet: load them with 'netflow teams load'.")
                raise HTTPException(403, NO_TEAMS)
            return first
        if self.viewer.admin and key not in self.viewer.teams:
            raise HTTPException(404, NO_TEAM)
        self.viewer.require_team(key)
        return key

    def patient_id(self, ref: str) -> str:
        """The patient behind `ref` if the user may see its team: 404 for no such reference, 403 otherwise."""
        patient_id = queries.patient_id_for_ref(self.site.inst, ref)
        team = None if patient_id is None else queries.patient_team(self.site.inst, patient_id)
        if patient_id is None or team is None:
            raise HTTPException(404, NOT_FOUND)
        self.viewer.require_team(team)
        return patient_id


def filters_of(status: str | None = None, risk: str | None = None, q: str | None = None, sort: str | None = None,
               order: str | None = None, follow_up: str | None = None, overdue_min_days: str | None = None,
               page: str | None = None, page_size: str | None = None) -> WorklistFilters:
    """The filters as asked, unknown values dropped (a form's 'All' sends an empty value)."""
    sort_key = sort if sort in SORTS else "urgency"
    return WorklistFilters(
        status=status if status in dict(FILTER_STATUSES) else None,
        risk=risk if risk in RISK_TIERS else None,
        q=(q or "").strip()[:64] or None,
        sort=sort_key,
        order=order if order in ("asc", "desc") else ("desc" if sort_key == "days_overdue" else "asc"),
        follow_up=follow_up if follow_up in queries.FOLLOW_UP_FILTERS else None,
        overdue_min_days=_int(overdue_min_days, 0, 36500, None),
        page=_int(page, 1, 1_000_000, 1) or 1,
        page_size=_int(page_size, 1, max(PAGE_SIZES), 50) or 50,
    )


def _int(raw: str | None, low: int, high: int, default: int | None) -> int | None:
    try:
        value = int((raw or "").strip())
    except ValueError:
        return default
    return min(max(value, low), high)
