"""Care teams: who receives a team's reminders, by role.

>>> team = CareTeam("gi-onc-east", "GI Oncology East", navigators=("nav.one@hospital.example",))
>>> team.members()
(('navigator', 'nav.one@hospital.example'),)

A team is checked before it is built (netflow.guidelines.teams parses and checks the teams file),
so its addresses are plain ASCII addresses, never with a display name, CR or LF.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ROLES", "CareTeam"]

# The teams file's field for each role -> the role as stored.
ROLES = {"navigators": "navigator", "attendings": "attending", "leads": "lead"}


@dataclass(frozen=True, slots=True)
class CareTeam:
    """A care team and the addresses its reminders go to."""

    key: str
    name: str
    navigators: tuple[str, ...]
    attendings: tuple[str, ...] = ()
    leads: tuple[str, ...] = ()
    guideline: str | None = None
    # The Airflow user names who may see and act on the team's patients (the teams file's `members`).
    users: tuple[str, ...] = ()
    # The team's identifiers in the EHR, matched against a FHIR CareTeam's identifiers
    # ("system|value", or a bare value matching any system): the teams file's `fhir`.
    fhir: tuple[str, ...] = ()

    def members(self) -> tuple[tuple[str, str], ...]:
        """(role, address) pairs, roles as stored: navigator, attending, lead."""
        return tuple((ROLES[field], address) for field in ROLES for address in getattr(self, field))
