"""The lean path: a well-formed record read in one pass, for `netflow evaluate` over a whole file.

    record = quick_record(raw, book.ids)         # None: not plainly well-formed
    if record is None:
        record, errors = parse_record(raw, book.ids)   # the full check decides, naming each field

`quick_record` accepts only a JSON object whose every field already has its exact type and an
allowed value (what nearly every record of a cohort is) and builds the same `PatientRecord`
`parse_record` would. Anything else, however harmless, gives None: `parse_record` stays the one
place that decides what is invalid and says why. `decode_record` does the same from a line of JSON
text, decoded straight into typed fields (msgspec: no dict of the record is ever built); None
for a line it does not accept, which the caller then reads with the stdlib `json` and checks as
above. tests/unit/test_lean_record.py checks them against `parse_record` on random records,
malformed ones and malformed JSON included.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Collection
from datetime import date
from typing import TYPE_CHECKING, Annotated, Literal, TypeAlias

import msgspec

from netflow.domain.dates import parse_iso_date
from netflow.domain.record import (
    DIFFERENTIATIONS,
    GASTRIC_TYPES,
    GRADES,
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

__all__ = ["decode_record", "quick_record"]

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


# --- decode_record: a line of JSON text decoded into typed fields ------------------------------------------
# Each field admits exactly what quick_record admits (the same tuples of record.py as Literal types; ints for
# ints, bools for bools, no float for an int, no bool for a number; msgspec's dates are parse_iso_date's:
# YYYY-MM-DD, a real day). What a type cannot say (the order of the dates and of the node counts, gastric_type
# for the stomach only, the installation's guidelines) is checked after decoding, as quick_record checks it.

if TYPE_CHECKING:  # mypy sees the plain types; msgspec, reading the annotations at run time, the Literals
    _Site: TypeAlias = str
    _Differentiation: TypeAlias = str
    _Margin: TypeAlias = str
    _ResectionType: TypeAlias = str
    _Syndrome: TypeAlias = str
    _Status: TypeAlias = str
    _Modality: TypeAlias = str
    _OneToThree: TypeAlias = int
else:
    _Site, _Differentiation = Literal[PRIMARY_SITES], Literal[DIFFERENTIATIONS]
    _Margin, _ResectionType = Literal[MARGINS], Literal[RESECTION_TYPES]
    _Syndrome, _Status, _Modality = Literal[HEREDITARY_SYNDROMES], Literal[PATIENT_STATUSES], Literal[MODALITIES]
    _OneToThree = Literal[GRADES]
    assert GRADES == GASTRIC_TYPES


class _Entry(msgspec.Struct, gc=False):
    date: date
    modality: _Modality


class _Fields(msgspec.Struct, gc=False):
    """A record's fields as JSON text gives them; a field of another type or value fails the decoding."""

    patient_id: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_ID_LENGTH)]
    birth_date: date
    care_team: Annotated[str, msgspec.Meta(min_length=1)]
    primary_site: _Site
    resection_date: date
    name: str | None = None
    differentiation: _Differentiation | None = None
    grade: _OneToThree | None = None
    ki67_percent: Annotated[float, msgspec.Meta(ge=0, le=100)] | None = None
    tumor_size_mm: Annotated[float, msgspec.Meta(gt=0, le=sys.float_info.max)] | None = None  # finite
    nodes_positive: Annotated[int, msgspec.Meta(ge=0)] | None = None
    nodes_examined: Annotated[int, msgspec.Meta(ge=0)] | None = None
    margin: _Margin | None = None
    resection_type: _ResectionType | None = None
    lymphovascular_invasion: bool | None = None
    gastric_type: _OneToThree | None = None
    hereditary_syndrome: _Syndrome | None = None
    imaging: list[_Entry] | None = None
    status: _Status | None = None
    status_date: date | None = None
    guideline: str | None = None


_DECODE = msgspec.json.Decoder(_Fields).decode
_SHARED: dict[tuple[date, str], Scan] = {}  # scan_of's Scans, looked up without a call


def _decoded_imaging(entries: list[_Entry] | None) -> tuple[Scan, ...]:
    if entries is None:
        return ()
    try:
        return tuple([_SHARED[entry.date, entry.modality] for entry in entries])
    except KeyError:
        if len(_SHARED) >= _CACHED:
            _SHARED.clear()
        for entry in entries:
            _SHARED[entry.date, entry.modality] = scan_of(entry.date, entry.modality)
        return tuple([_SHARED[entry.date, entry.modality] for entry in entries])


def decode_record(line: bytes | str, guidelines: Collection[str]) -> PatientRecord | None:
    """The record of one line of JSON text holding a plainly well-formed record (what `quick_record` would
    build from the line read by the stdlib `json`); else None: not JSON, not UTF-8, a field of another type
    or value, a date that is not one, anything else quick_record would leave to parse_record."""
    try:
        f = _DECODE(line)
    except (ValueError, RecursionError):  # msgspec.DecodeError, UnicodeDecodeError; nested too deeply
        return None
    nodes_positive, nodes_examined, gastric_type, guideline = (f.nodes_positive, f.nodes_examined, f.gastric_type,
                                                               f.guideline)
    if (f.birth_date > f.resection_date
            or (nodes_positive is not None and nodes_examined is not None and nodes_positive > nodes_examined)
            or (gastric_type is not None and f.primary_site != "stomach")
            or (guideline is not None and guideline not in guidelines)):
        return None
    return PatientRecord(
        f.patient_id, f.birth_date, f.care_team, f.primary_site, f.resection_date, f.name,
        f.differentiation or "well", f.grade, f.ki67_percent, f.tumor_size_mm, nodes_positive, nodes_examined,
        f.margin, f.resection_type, f.lymphovascular_invasion, gastric_type, f.hereditary_syndrome,
        _decoded_imaging(f.imaging), f.status or "active", f.status_date, guideline,
    )
