"""Who is asking, and which care teams they may see: the signed-in Airflow user and the teams file's `members`.

    viewer = viewer_of(user, inst)        # Viewer(name="nurse1", admin=False, teams={"gi-onc-east": ...})
    viewer.require_team("gi-onc-east")    # HTTPException 403 when the team does not list the user

An Airflow admin sees every team. Which user is an admin depends on the auth manager (docs/access.md):
the simple auth manager's role ADMIN (its user object carries `role`); FAB's role "Admin" (its user
object carries `roles`); any other auth manager (Keycloak) is asked whether the user may open the
custom view `NetflowAllTeams` (`is_authorized_custom_view`), which its administrator grants to admins.
When in doubt the answer is no: a user the auth manager cannot place sees only the teams listing them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from fastapi import HTTPException

from netflow.installation import Installation
from netflow.services.worklist import visible_teams

__all__ = ["ADMINS_ONLY", "ALL_TEAMS_VIEW", "NOT_YOUR_TEAM", "Viewer", "is_admin", "user_name", "viewer_of"]

log = logging.getLogger(__name__)

ALL_TEAMS_VIEW = "NetflowAllTeams"
ADMINS_ONLY = "Only Airflow admins may open this page."
NOT_YOUR_TEAM = "This care team does not list you as a member: ask an Airflow admin to add you to its `members`."


def user_name(user: Any) -> str:
    """The Airflow user name the teams file's `members` list (simple: username; FAB: username; Keycloak: name)."""
    name = getattr(user, "username", None)
    if isinstance(name, str) and name:
        return name
    try:
        return str(user.get_name())
    except Exception:  # an auth manager's user object without a name: nobody, sees no team
        return ""


def is_admin(user: Any) -> bool:
    """Whether the auth manager makes this user an Airflow admin (every team visible)."""
    role = getattr(user, "role", None)
    if isinstance(role, str) or (role is None and hasattr(user, "teams")):  # SimpleAuthManagerUser
        return (role or "").upper() == "ADMIN"
    roles = getattr(user, "roles", None)  # FAB's User: Role objects with a name
    if roles is not None:
        return any(getattr(r, "name", None) == "Admin" for r in roles)
    try:
        from airflow.api_fastapi.app import get_auth_manager

        return bool(get_auth_manager().is_authorized_custom_view(method="GET", resource_name=ALL_TEAMS_VIEW,
                                                                 user=user))
    except Exception as exc:  # no auth manager (tests) or one that refuses the question: not an admin
        log.info("netflow worklist: the auth manager cannot say whether a user is an admin (%s)", type(exc).__name__)
        return False


@dataclass(frozen=True)
class Viewer:
    """The signed-in user, whether an Airflow admin, and the teams (key -> name) they may see and act on."""

    name: str
    admin: bool
    teams: dict[str, str]

    def may_see(self, team: str | None) -> bool:
        return team is not None and team in self.teams

    def require_team(self, team: str | None) -> None:
        """403 unless the user may see `team` (saying nothing of the team or its patients)."""
        if not self.may_see(team):
            raise HTTPException(403, NOT_YOUR_TEAM)

    def require_admin(self) -> None:
        if not self.admin:
            raise HTTPException(403, ADMINS_ONLY)


def viewer_of(user: Any, inst: Installation) -> Viewer:
    name, admin = user_name(user), is_admin(user)
    return Viewer(name, admin, visible_teams(inst, name, admin=admin))
