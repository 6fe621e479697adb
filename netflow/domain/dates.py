"""Calendar arithmetic the way the surveillance rules count: whole days, calendar months."""

from __future__ import annotations

import re
from datetime import date
from functools import lru_cache

__all__ = ["add_months", "age_on", "parse_iso_date"]

_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_MONTH_DAYS = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def _days_in_month(year: int, month: int) -> int:
    if month == 2 and year % 4 == 0 and (year % 100 != 0 or year % 400 == 0):
        return 29
    return _MONTH_DAYS[month - 1]


def add_months(d: date, months: int) -> date:
    """Add calendar months, clamping to the month's last day.

    >>> add_months(date(2024, 1, 31), 1)
    datetime.date(2024, 2, 29)
    >>> add_months(date(2023, 1, 31), 1)
    datetime.date(2023, 2, 28)
    """
    year, month0 = divmod(d.year * 12 + d.month - 1 + months, 12)
    day = d.day
    if day > 28:
        day = min(day, _days_in_month(year, month0 + 1))
    return date(year, month0 + 1, day)


def age_on(birth: date, on: date) -> int:
    """Whole years completed on `on` (a 29 February birthday completes on 1 March in common years)."""
    years = on.year - birth.year
    if (on.month, on.day) < (birth.month, birth.day):
        years -= 1
    return years


def parse_iso_date(value: object) -> date | None:
    """Return the date for a strict ``YYYY-MM-DD`` string, else None."""
    if not isinstance(value, str) or len(value) != 10:
        return None
    return _parse_date_text(value)


@lru_cache(maxsize=1 << 16)
def _parse_date_text(text: str) -> date | None:
    """Cohorts repeat the same few thousand dates: each text is checked and parsed once."""
    if not _ISO_DATE.fullmatch(text):
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None
