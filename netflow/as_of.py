"""The as-of date of a run or a command: how it is read, and which dates are taken.

    settle_as_of("2026-12-01", run_date, timezone="Europe/Oslo")   # a replay; InputError if mistyped
    check_as_of(as_of, tomorrow("Europe/Oslo"), allow_future=False, option="--as-of")

A date after tomorrow in the installation's time zone is refused unless the future is allowed, and no
date after LATEST_AS_OF is taken at all. Light on purpose (no database, no services): `netflow
evaluate` checks its --as-of with it.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from netflow.config import ConfigError
from netflow.domain.dates import parse_iso_date
from netflow.errors import InputError

__all__ = ["LATEST_AS_OF", "check_as_of", "parse_as_of", "settle_as_of", "tomorrow"]

# The latest as-of date taken at all: the engine adds a rule's months to dates up to the as-of date, and
# the calendar ends on 9999-12-31; a century of room is more than any rule's interval or horizon.
LATEST_AS_OF = date(9899, 12, 31)


def parse_as_of(text: str) -> date:
    """A run's as-of date from text (a DAG param, a command option): YYYY-MM-DD, else InputError."""
    parsed = parse_iso_date(text.strip())
    if parsed is None:
        raise InputError(f"as_of must be a date as YYYY-MM-DD, got {text!r}")
    return parsed


def tomorrow(timezone: str, now: datetime | None = None) -> date:
    """Tomorrow in the installation's time zone (NETFLOW_TIMEZONE): the latest as-of date a run takes
    unless the future is allowed. `now` defaults to this machine's clock."""
    try:
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"NETFLOW_TIMEZONE must be a time zone such as Europe/Oslo, got {timezone!r}") from None
    return (now or datetime.now(UTC)).astimezone(zone).date() + timedelta(days=1)


def check_as_of(as_of: date, latest: date, *, allow_future: bool, option: str = "as_of",
                allow: str = "the param allow_future=true") -> date:
    """`as_of` when it is usable: not after `latest` (tomorrow, see `tomorrow`) unless `allow_future`, and
    never after LATEST_AS_OF; else InputError naming `option` and how to `allow` a future date."""
    if as_of > LATEST_AS_OF:
        raise InputError(f"{option} {as_of.isoformat()}: as-of date too far in the future "
                         f"(the latest is {LATEST_AS_OF.isoformat()})")
    if as_of > latest and not allow_future:
        raise InputError(f"{option} {as_of.isoformat()} is in the future (after {latest.isoformat()}, tomorrow in "
                         f"NETFLOW_TIMEZONE); give {allow} to run on it anyway")
    return as_of


def settle_as_of(requested: str | None, run_date: date, *, timezone: str = "UTC", allow_future: bool = False,
                 now: datetime | None = None) -> date:
    """The run's as-of date: `requested` (a replay, YYYY-MM-DD; InputError if mistyped) when given, else the
    run's own date. A date after tomorrow in `timezone` is an InputError unless `allow_future`."""
    as_of = parse_as_of(requested) if requested and requested.strip() else run_date
    return check_as_of(as_of, tomorrow(timezone, now), allow_future=allow_future)
