"""The lean path: a well-formed record read in one pass, for `netflow evaluate` over a whole file.

    record = quick_record(raw, book.ids)         # None: not plainly well-formed
    if record is None:
        record, errors = parse_record(raw, book.ids)   # the full check decides, naming each field

`quick_record` accepts only a JSON object whose every field already has its exact type and an
allowed value (what nearly every record of a cohort is) and builds the same `PatientRecord`
`parse_record` would. Anything else, however harmless, gives None: `parse_record` stays the one
place that decides what is invalid and says why. tests/unit/test_lean_record.py checks the two
agree on random records, malformed ones included.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from datetime import date

from netflow.domain.dates import parse_iso_date
from netflow.domain.record import (
    GASTRIC_TYPES,
    HEREDITARY_SYNDROMES,
    MARGINS,
    MAX_ID_LENGTH,
    MODALITIES,
    PATIENT_STATUSES,
    PRIMARY_SITES,
    RESECTION_TYPES,
    PatientRecord,
    Scan,
    scan_of,
)

__all__ = ["quick_record"]

_SITES = frozenset(PRIMARY_SITES)
_DIFFERENTIATIONS = frozenset(("well", "poor"))
_MARGINS = frozenset(MARGINS)
_RESECTION_TYPES = frozenset(RESECTION_TYPES)
_SYNDROMES = frozenset(HEREDITARY_SYNDROMES)
_STATUSES = frozenset(PATIENT_STATUSES)
_MODALITIES = frozenset(MODALITIES)
_ONE_TO_THREE = frozenset(GASTRIC_TYPES)  # grade and gastric type: 1, 2 or 3


_DATES: dict[str, date] = {}
_SCANS: dict[tuple[str, str], Scan] = {}
_CACHED = 1 << 16  # entries kept in each cache: a cohort repeats the same few thousand dates


def _day(text: object) -> date | None:
    """The date of a strict YYYY-MM-DD string (None for anything else), each text parsed once."""
    if type(text) is not str:
        return None
    day = _DATES.get(text)
    if day is None:
        day = parse_iso_date(text)
        if day is not None:
            if len(_DATES) >= _CACHED:
                _DATES.clear()
            _DATES[text] = day
    return day


def _imaging(entries: object) -> tuple[Scan, ...] | None:
    if entries is None:
        return ()
    if type(entries) is not list:
        return None
    try:  # every entry seen before (the cache holds valid ones only): the common case, in one pass
        return tuple([_SCANS[entry["date"], entry["modality"]] for entry in entries])
    except (KeyError, TypeError, IndexError):
        pass
    scans = []
    for entry in entries:
        if type(entry) is not dict:
            return None
        text, modality = entry.get("date"), entry.get("modality")
        if type(text) is not str or type(modality) is not str:
            return None
        scan = _SCANS.get((text, modality))
        if scan is None:
            when = parse_iso_date(text)
            if when is None or modality not in _MODALITIES:
                return None
            if len(_SCANS) >= _CACHED:
                _SCANS.clear()
            scan = _SCANS[text, modality] = scan_of(when, modality)
        scans.append(scan)
    return tuple(scans)


def _measure(value: object, high: float | None) -> float | bool | None:
    """float for a finite number in range (ki67: [0, high]; size: > 0), None when absent, False when not."""
    if value is None:
        return None
    if type(value) is float or type(value) is int:
        if not math.isfinite(value):
            return False
        if high is None:
            return float(value) if value > 0 else False
        return float(value) if 0 <= value <= high else False
    return False


def quick_record(raw: object, guidelines: Collection[str]) -> PatientRecord | None:
    """The record, when `raw` is a JSON object whose every field is plainly well-formed; else None."""
    if type(raw) is not dict:
        return None
    get = raw.get
    patient_id, care_team, site = get("patient_id"), get("care_team"), get("primary_site")
    if (type(patient_id) is not str or not 0 < len(patient_id) <= MAX_ID_LENGTH
            or type(care_team) is not str or not care_team or type(site) is not str or site not in _SITES):
        return None
    name = get("name")
    if name is not None and type(name) is not str:
        return None
    birth_date, resection_date = _day(get("birth_date")), _day(get("resection_date"))
    if birth_date is None or resection_date is None or birth_date > resection_date:
        return None
    status_text = get("status_date")
    status_date = None if status_text is None else _day(status_text)
    if status_text is not None and status_date is None:
        return None
    differentiation, margin, resection_type = get("differentiation"), get("margin"), get("resection_type")
    syndrome, status = get("hereditary_syndrome"), get("status")
    if not ((differentiation is None or (type(differentiation) is str and differentiation in _DIFFERENTIATIONS))
            and (margin is None or (type(margin) is str and margin in _MARGINS))
            and (resection_type is None or (type(resection_type) is str and resection_type in _RESECTION_TYPES))
            and (syndrome is None or (type(syndrome) is str and syndrome in _SYNDROMES))
            and (status is None or (type(status) is str and status in _STATUSES))):
        return None
    grade, gastric_type, lvi = get("grade"), get("gastric_type"), get("lymphovascular_invasion")
    if not ((grade is None or (type(grade) is int and grade in _ONE_TO_THREE))
            and (gastric_type is None or (type(gastric_type) is int and gastric_type in _ONE_TO_THREE
                                          and site == "stomach"))
            and (lvi is None or type(lvi) is bool)):
        return None
    nodes_positive, nodes_examined = get("nodes_positive"), get("nodes_examined")
    if not ((nodes_positive is None or (type(nodes_positive) is int and nodes_positive >= 0))
            and (nodes_examined is None or (type(nodes_examined) is int and nodes_examined >= 0))):
        return None
    if nodes_positive is not None and nodes_examined is not None and nodes_positive > nodes_examined:
        return None
    ki67, size = _measure(get("ki67_percent"), 100.0), _measure(get("tumor_size_mm"), None)
    if ki67 is False or size is False:
        return None
    guideline = get("guideline")
    if guideline is not None and (type(guideline) is not str or guideline not in guidelines):
        return None
    imaging = _imaging(get("imaging"))
    if imaging is None:
        return None
    return PatientRecord(
        patient_id, birth_date, care_team, site, resection_date, name, differentiation or "well", grade,
        ki67, size, nodes_positive, nodes_examined, margin, resection_type, lvi, gastric_type, syndrome,
        imaging, status or "active", status_date, guideline,
    )
