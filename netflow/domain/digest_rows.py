"""A digest's patient rows in words: names by PHI level, status, window, risk, rule, the booking of a
lapsed booked scan, the high-risk mark, and the link to the patient's page.

    row = digest_row(item, labels={"nccn": "NCCN"}, phi_level="minimal",
                     patient_url="https://netflow.example.org/netflow/patients/")
    row.status, row.url   # 'Overdue, escalated', 'https://netflow.example.org/netflow/patients/Zx3...'

Free text is cleaned of control characters on the way in; escaping for HTML is the renderer's job.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from netflow.domain.digest_sections import DigestItem, payload_date
from netflow.domain.explain import REASON_WORDS, RECOMMENDATION_WORDS

__all__ = ["HIGH_RISK_MARK", "NO_NAME", "PHI_LEVELS", "DigestRow", "clean_text", "digest_row", "display_name"]

HIGH_RISK_MARK = "New high-risk flag"

PHI_LEVELS = ("minimal", "full")
NO_NAME = "—"
STATUS_WORDS = {
    "not_due": "Not due yet",
    "due_soon": "Due soon",
    "due": "Due now",
    "overdue": "Overdue",
    "needs_review": "Needs clinician review",
    "not_indicated": "No surveillance planned",
    "completed": "Surveillance completed",
    "inactive": "Not under surveillance",
    "invalid": "Record needs correcting",
}
# Control characters, line and paragraph separators, and bidirectional overrides (which can
# make a name display as something else) become spaces.
_UNSAFE = re.compile("[\u202a-\u202e\u2066-\u2069]")


def clean_text(value: object) -> str:
    """`value` as one line of text: control characters and line breaks become spaces, runs of
    whitespace one space. HTML characters are kept: escaping is the renderer's job."""
    text = _UNSAFE.sub(" ", "" if value is None else str(value))
    text = "".join(" " if unicodedata.category(ch) in ("Cc", "Zl", "Zp") else ch for ch in text)
    return " ".join(text.split())


def _initials(name: str) -> str:
    parts = [p for p in name.split() if any(ch.isalpha() for ch in p)]
    # Particles written in lower case ("de", "van", "bin") are skipped, unless every part is.
    capitalised = [p for p in parts if not next(ch for ch in p if ch.isalpha()).islower()]
    return " ".join(f"{next(ch for ch in p if ch.isalpha()).upper()}." for p in capitalised or parts)


def display_name(name: str | None, phi_level: str = "minimal") -> str:
    """The patient's name as the digest shows it.

    'full': the name as recorded (cleaned to one line). 'minimal': initials, one per part of the
    name separated by spaces, each the part's first letter, upper-cased, with a full stop. A
    hyphenated or apostrophised part gives one initial, parts with no letter are skipped, and so
    are particles written in lower case: "Ana María O'Brien-Smith" -> "A. M. O.",
    "Ludwig van Beethoven" -> "L. B.". A missing or empty name shows as "—".
    """
    if phi_level not in PHI_LEVELS:
        raise ValueError(f"phi_level must be minimal or full, got {phi_level!r} (see NETFLOW_PHI_LEVEL)")
    text = clean_text(name)
    shown = text if phi_level == "full" else _initials(text)
    return shown or NO_NAME


@dataclass(frozen=True, slots=True)
class DigestRow:
    """One patient line of a section, every cell already in words; `url` opens the patient's page
    ("" when the patient has no reference), `marks` are flags on the row (a new high-risk flag),
    `booking` says which booked scan is not on record (booking_lapsed rows)."""

    mrn: str
    display_name: str
    status: str
    window: str
    days_overdue: int
    risk: str
    modality: str
    rule: str
    explanation: str
    url: str = ""
    marks: tuple[str, ...] = ()
    booking: str = ""


def _risk(tier: Any, reasons: Iterable[str]) -> str:
    if not tier:
        return ""
    if tier != "high":
        return str(tier).capitalize()
    words = [REASON_WORDS.get(code, code.replace("_", " ")) for code in reasons]
    return f"High: {', '.join(words)}" if words else "High"


def _status(evaluation: Mapping[str, Any]) -> str:
    status = str(evaluation.get("status") or "")
    if status == "overdue" and evaluation.get("escalation_level") == 2:
        return "Overdue, escalated"
    return STATUS_WORDS.get(status, status.replace("_", " ").capitalize())


def _window(evaluation: Mapping[str, Any]) -> str:
    opens, closes = payload_date(evaluation.get("window_open")), payload_date(evaluation.get("window_close"))
    if opens is None or closes is None:
        return ""
    return f"{opens.isoformat()} – {closes.isoformat()}"


def _rule(evaluation: Mapping[str, Any], labels: Mapping[str, str]) -> str:
    guideline = evaluation.get("guideline")
    rule_id = evaluation.get("rule_id")
    label = labels.get(str(guideline), str(guideline)) if guideline else ""
    return clean_text(" · ".join(part for part in (label, rule_id or "") if part))


def _booking(evaluation: Mapping[str, Any]) -> str:
    """'Booked for 2027-01-10 by jdoe' from a booking_lapsed event, whatever of it the payload holds.

    Read defensively: the payload may name the booking under `booking` or `follow_up`, or at its
    top level; a missing or malformed part is left out, never an error."""
    nested = next((v for k in ("booking", "follow_up") if isinstance(v := evaluation.get(k), Mapping)), {})

    def first(*keys: str) -> str:
        for source in (nested, evaluation):
            for key in keys:
                value = source.get(key)
                if value not in (None, "") and not isinstance(value, (Mapping, list)):
                    return clean_text(value)
        return ""

    booked = first("booked_date", "booked_for", "scan_date", "date")
    who = first("booked_by", "user", "recorded_by")
    words = "Booked" + (f" for {booked}" if booked else "") + (f" by {who}" if who else "")
    return words if booked or who else "Booked (date not recorded)"


def digest_row(item: DigestItem, labels: Mapping[str, str], phi_level: str, patient_url: str,
               marked: bool = False) -> DigestRow:
    """The row of one item; `patient_url` is the address patient pages are under (ends with '/')."""
    ev = item.evaluation
    return DigestRow(
        mrn=clean_text(item.patient_id),
        display_name=display_name(item.name, phi_level),
        status=_status(ev),
        window=_window(ev),
        days_overdue=int(ev.get("days_overdue") or 0),
        risk=_risk(ev.get("risk_tier"), ev.get("risk_reasons") or ()),
        modality=RECOMMENDATION_WORDS.get(str(ev.get("recommended_modality")), ""),
        rule=_rule(ev, labels),
        explanation=clean_text(ev.get("explanation")),
        url=f"{patient_url}{quote(item.ref, safe='')}" if item.ref else "",
        marks=(HIGH_RISK_MARK,) if marked else (),
        booking=_booking(ev) if item.kind == "booking_lapsed" else "",
    )
