"""The overview and the quarantine as data: every visible team's metrics, the daily runs, the outbox,
and the imported rows awaiting a fix (the models the JSON endpoints return and the templates render).

    overview = build_overview(site, date(2026, 12, 1), ui_root="", colours=BAR_COLOURS, visible={"gi-onc-east": ...})
    rows = build_quarantine(site)

Counts only in the overview: no patient data. Read-only.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from urllib.parse import quote

from netflow.domain.metrics import WORKLIST_BARS, TeamMetrics
from netflow.services import outbox
from netflow.services import worklist as queries
from netflow_airflow.worklist.models import Bar, Overview, QuarantineList, RunModel, Team, TeamOverview
from netflow_airflow.worklist.views import Site, quarantined, team_list

__all__ = ["DAILY_DAG", "build_overview", "build_quarantine"]

DAILY_DAG = "net_surveillance_daily"


def _team_overview(team: Team, m: TeamMetrics, colours: Mapping[str, str]) -> TeamOverview:
    return TeamOverview(
        team=team, patients=m.patients, under_surveillance=m.under_surveillance,
        worklist={key: m.count(key) for key, _ in WORKLIST_BARS},
        bars=[Bar(key=key, label=label, count=m.count(key), colour=colours.get(key, "#667085"))
              for key, label in WORKLIST_BARS],
        median_days_overdue=m.median_days_overdue, closed=m.closed, closed_on_time=m.closed_on_time,
        on_time_rate=m.on_time_rate, with_data_issues=m.with_data_issues, data_issues=dict(m.data_issues),
        invalid=m.invalid)


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _run(entry: queries.RunEntry, ui_root: str) -> RunModel:
    summary = entry.summary
    events = summary.get("events")
    from_cli = entry.run_id.startswith("cli-")
    return RunModel(
        run_id=entry.run_id, as_of=entry.as_of, started_at=entry.started_at, finished_at=entry.finished_at,
        evaluated=_int(summary.get("evaluated")),
        events={str(k): int(v) for k, v in events.items()} if isinstance(events, dict) else {},
        digests=_int(summary.get("digests")), sent=_int(summary.get("sent")),
        retrying=_int(summary.get("retrying")), failed=_int(summary.get("failed")),
        dry_run=bool(summary.get("dry_run")),
        airflow_url=None if from_cli else f"{ui_root}/dags/{DAILY_DAG}/runs/{quote(entry.run_id, safe='')}",
    )


def build_overview(site: Site, as_of: date, ui_root: str = "", colours: Mapping[str, str] | None = None,
                   visible: Mapping[str, str] | None = None) -> Overview:
    """Every care team's surveillance metrics on `as_of`, the latest daily runs, and the outbox's pending and
    failed messages (now, whatever `as_of`).

    `ui_root` is where the Airflow UI lives (for the links to runs); `colours` the bar colour by bucket;
    `visible` the team keys to show (default: every team)."""
    found = queries.overview(site.inst, as_of)
    teams = [_team_overview(team, found.metrics.get(team.key) or TeamMetrics(team.key, as_of), colours or {})
             for team in team_list(site) if visible is None or team.key in visible]
    runs = [_run(entry, ui_root) for entry in found.runs]
    messages = outbox.counts(site.inst)
    return Overview(as_of=as_of, teams=teams, runs=runs, open_quarantine=found.open_quarantine,
                    pending_messages=messages["pending"], failed_messages=messages["failed"])


def build_quarantine(site: Site) -> QuarantineList:
    return QuarantineList(rows=[quarantined(row) for row in queries.quarantine(site.inst)])
