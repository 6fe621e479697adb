"""Synthetic care teams: who gets the reminders, and which patients each team follows."""

from __future__ import annotations

from bisect import bisect
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import accumulate
from random import Random

from netflow.demo.names import email_local_part, person_name
from netflow.demo.tables import SITES

__all__ = ["DemoTeam", "TeamPicker", "make_care_teams", "team_count", "teams_yaml"]

DOMAIN = "hospital.example"
# The demo's Airflow user who works the first team's worklist (scripts/run.sh signs them up: nurse / nurse).
DEMO_MEMBERS = ("nurse",)

# (key prefix, service name, sites the service sees more of)
_SERVICES = (
    ("gi-onc", "GI Oncology", ("small_intestine", "pancreas", "colon", "stomach")),
    ("endo-surg", "Endocrine Surgery", ("pancreas", "duodenum")),
    ("surg-onc", "Surgical Oncology", ("small_intestine", "pancreas")),
    ("colorectal", "Colorectal Surgery", ("rectum", "colon", "appendix")),
    ("hpb-surg", "Hepatobiliary Surgery", ("pancreas", "duodenum")),
    ("net-clinic", "NET Clinic", SITES),
    ("endo-onc", "Endocrine Oncology", ("pancreas", "stomach", "duodenum")),
    ("upper-gi", "Upper GI Surgery", ("stomach", "duodenum")),
    ("med-onc", "Medical Oncology", ("small_intestine", "colon", "lung", "thymus", "other")),
)
_REGIONS = ("East", "West", "North", "South", "Central", "Riverside", "Lakeside", "Valley")


@dataclass(frozen=True, slots=True)
class DemoTeam:
    """One care team as the teams YAML describes it, plus the sites it sees more of."""

    key: str
    name: str
    navigators: tuple[str, ...]
    attendings: tuple[str, ...]
    leads: tuple[str, ...]
    guideline: str | None = None
    focus_sites: tuple[str, ...] = ()
    members: tuple[str, ...] = ()  # Airflow user names who see the team's worklist (the demo's nurse)

    def to_dict(self) -> dict[str, object]:
        """The YAML mapping for this team (without its key)."""
        entry: dict[str, object] = {"name": self.name}
        if self.guideline is not None:
            entry["guideline"] = self.guideline
        entry["navigators"] = list(self.navigators)
        entry["attendings"] = list(self.attendings)
        entry["leads"] = list(self.leads)
        if self.members:
            entry["members"] = list(self.members)
        return entry


def team_count(patients: int) -> int:
    """4 teams for a small cohort, one more per tenfold, up to 8."""
    return max(4, min(8, len(str(max(patients, 1))) + 1))


def make_care_teams(rng: Random, count: int) -> tuple[DemoTeam, ...]:
    """`count` (1-9) teams; the first is always GI Oncology East (gi-onc-east)."""
    if not 1 <= count <= len(_SERVICES):
        raise ValueError(f"count must be 1-{len(_SERVICES)}, got {count}")
    services = [_SERVICES[0], *rng.sample(_SERVICES[1:], count - 1)]
    regions = ["East", *rng.sample(_REGIONS[1:], len(_REGIONS) - 1)]
    consensus_team = rng.randrange(1, count) if count > 1 and rng.random() < 0.7 else None
    used: set[str] = set()
    teams: list[DemoTeam] = []
    for index, (prefix, service, focus) in enumerate(services):
        region = regions[index % len(regions)]
        teams.append(DemoTeam(
            key=f"{prefix}-{region.lower()}",
            name=f"{service} {region}",
            navigators=_addresses(rng, rng.randint(1, 2), "", used),
            attendings=_addresses(rng, rng.randint(1, 3), "dr.", used),
            leads=_addresses(rng, 1, "", used),
            guideline="consensus2018" if index == consensus_team else None,
            focus_sites=focus,
            members=DEMO_MEMBERS if index == 0 else (),
        ))
    return tuple(teams)


def _addresses(rng: Random, count: int, prefix: str, used: set[str]) -> tuple[str, ...]:
    found: list[str] = []
    while len(found) < count:
        local = prefix + email_local_part(*person_name(rng))
        if local not in used:
            used.add(local)
            found.append(f"{local}@{DOMAIN}")
    return tuple(found)


class TeamPicker:
    """Assigns a patient to a team: uneven team sizes, more patients of a team's focus sites."""

    def __init__(self, rng: Random, teams: Sequence[DemoTeam]) -> None:
        if not teams:
            raise ValueError("at least one care team is needed")
        self._keys = [team.key for team in teams]
        sizes = [rng.uniform(0.5, 1.5) for _ in teams]
        self._cumulative = {
            site: list(accumulate(
                size * (3.0 if site in team.focus_sites else 1.0) for size, team in zip(sizes, teams, strict=True)
            ))
            for site in SITES
        }

    def pick(self, rng: Random, site: str) -> str:
        cumulative = self._cumulative.get(site, self._cumulative["other"])
        index = bisect(cumulative, rng.random() * cumulative[-1])
        return self._keys[min(index, len(self._keys) - 1)]


def teams_yaml(teams: Sequence[DemoTeam], header: str = "") -> str:
    """The care teams YAML: one mapping per team key; `header` becomes leading comment lines."""
    import yaml

    comments = "".join(f"# {line}\n" if line else "#\n" for line in header.splitlines())
    body = yaml.safe_dump(
        {team.key: team.to_dict() for team in teams},
        sort_keys=False, default_flow_style=None, allow_unicode=True, width=1000,
    )
    return comments + body
