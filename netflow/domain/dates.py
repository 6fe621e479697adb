"""Calendar arithmetic the way the surveillance rules count: whole days, calendar months."""

from __future__ import annotations

import calendar
import re
from datetime import date

__all__ = ["add_months", "age_on", "parse_iso_date"]

_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def add_months(d: date, months: int) -> date:
    """Add calendar months, clamping to the month's last day.

    >>> add_months(date(2024, 1, 31), 1)
    datetime.date(2024, 2, 29)
    >>> add_months(date(2023, 1, 31), 1)
    datetime.date(2023, 2, 28)
    """
    total = d.year * 12 + (d.month - 1) + months
    year, month0 = divmod(total, 12)
    month = month0 + 1
    last = calendar.monthrange(year, month)[1]
    return date(year, month, min(d.day, last))


def age_on(birth: date, on: date) -> int:
    """Whole years completed on `on` (a 29 February birthday completes on 1 March in common years)."""
    years = on.year - birth.year
    if (on.month, on.day) < (birth.month, birth.day):
        years -= 1
    return years


def parse_iso_date(value: object) -> date | None:
    """Return the date for a strict ``YYYY-MM-DD`` string, else None."""
    if not isinstance(value, str) or len(value) != 10 or not _ISO_DATE.fullmatch(value):
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None
