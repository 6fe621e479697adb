"""The patient record (spec section 1) and its validation.

`parse_record` turns one raw mapping (a JSON object, a CSV row made into one) into a
`PatientRecord`, or into the list of every problem found, one `FieldError` per problem,
each naming the field. It never raises on bad input.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import date

from netflow.domain.dates import parse_iso_date

__all__ = [
    "GEP_SITES",
    "GASTRIC_TYPES",
    "INACTIVE_STATUSES",
    "MODALITIES",
    "PATIENT_STATUSES",
    "PRIMARY_SITES",
    "RECORD_FIELDS",
    "RESECTION_TYPES",
    "THORACIC_SITES",
    "FieldError",
    "PatientRecord",
    "Scan",
    "parse_record",
    "scan_of",
]

PRIMARY_SITES = (
    "pancreas", "small_intestine", "appendix", "rectum", "colon", "stomach", "duodenum", "lung", "thymus", "other",
)
GEP_SITES = ("pancreas", "small_intestine", "appendix", "rectum", "colon", "stomach", "duodenum")
THORACIC_SITES = ("lung", "thymus")
DIFFERENTIATIONS = ("well", "poor")
GRADES = (1, 2, 3)
MARGINS = ("R0", "R1", "R2")
RESECTION_TYPES = ("local_excision", "formal_resection")
GASTRIC_TYPES = (1, 2, 3)
HEREDITARY_SYNDROMES = ("MEN1", "VHL", "NF1", "TSC")
MODALITIES = ("CT", "MRI", "SSTR_PET", "FDG_PET", "US", "EUS", "endoscopy", "other")
PATIENT_STATUSES = ("active", "recurrence", "deceased", "opted_out", "transferred")
INACTIVE_STATUSES = frozenset(("recurrence", "deceased", "opted_out", "transferred"))
RECORD_FIELDS = (
    "patient_id", "name", "birth_date", "care_team", "primary_site", "differentiation",
    "grade", "ki67_percent", "tumor_size_mm", "nodes_positive", "nodes_examined", "margin",
    "resection_type", "lymphovascular_invasion", "gastric_type",
    "hereditary_syndrome", "resection_date", "imaging", "status", "status_date", "guideline",
)
MAX_ID_LENGTH = 64
_MODALITY_SET = frozenset(MODALITIES)


@dataclass(frozen=True, slots=True)
class FieldError:
    """One problem with one field of a record."""

    field: str
    message: str

    def to_dict(self) -> dict[str, str]:
        return {"field": self.field, "message": self.message}


@dataclass(frozen=True, slots=True)
class Scan:
    """One imaging study: when, and which modality.

    `source` and `source_key` say where a stored entry came from (None: an import file; "fhir" with
    the resource, e.g. "ImagingStudy/123"; "navigator" with the follow-up id). They never change an
    evaluation and take no part in equality: the same scan from two sources is one scan.
    """

    date: date
    modality: str
    source: str | None = field(default=None, compare=False)
    source_key: str | None = field(default=None, compare=False)


@dataclass(slots=True, unsafe_hash=True)
class PatientRecord:
    """A validated patient: one index tumour, its resection, and the imaging since.

    A value: never change one after it is built. It is not a frozen dataclass only because frozen
    construction costs more than decoding the record's JSON (issue 13); build it positionally on
    hot paths, in field order.
    """

    patient_id: str
    birth_date: date
    care_team: str
    primary_site: str
    resection_date: date
    name: str | None = None
    differentiation: str = "well"
    grade: int | None = None
    ki67_percent: float | None = None
    tumor_size_mm: float | None = None
    nodes_positive: int | None = None
    nodes_examined: int | None = None
    margin: str | None = None
    resection_type: str | None = None
    lymphovascular_invasion: bool | None = None
    gastric_type: int | None = None
    hereditary_syndrome: str | None = None
    imaging: tuple[Scan, ...] = ()
    status: str = "active"
    status_date: date | None = None
    guideline: str | None = None


_SCANS: dict[tuple[date, str], Scan] = {}


def scan_of(when: date, modality: str) -> Scan:
    """The Scan for (when, modality) without a source, shared: a cohort repeats the same few thousand."""
    scan = _SCANS.get((when, modality))
    if scan is None:
        if len(_SCANS) >= 1 << 16:
            _SCANS.clear()
        scan = _SCANS[when, modality] = Scan(when, modality)
    return scan


def _describe(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _is_number(value: object) -> bool:
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(value)
    )


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


class _Checker:
    """Collects one error per problem while reading fields."""

    def __init__(self, raw: Mapping[str, object]) -> None:
        self.raw = raw
        self.errors: list[FieldError] = []

    def fail(self, field: str, message: str) -> None:
        self.errors.append(FieldError(field, message))

    def _value(self, field: str, required: bool) -> object:
        """The field's value, or None when it is missing or null (an error if it is required).

        An empty string is present, not missing: it must have the field's type like any value (a CSV
        import turns an empty cell into null before it gets here)."""
        value = self.raw.get(field)
        if value is None:
            if required:
                self.fail(field, "is required")
            return None
        return value

    def text(self, field: str, required: bool = False) -> str | None:
        value = self._value(field, required)
        if value is None or isinstance(value, str):
            return value
        self.fail(field, f"must be a string, got {_describe(value)}")
        return None

    def key(self, field: str, max_length: int | None = MAX_ID_LENGTH) -> str | None:
        """A required identifier: a non-empty string of at most `max_length` characters."""
        value = self.text(field, required=True)
        if value is not None and (not value or (max_length is not None and len(value) > max_length)):
            bounds = f"1-{max_length} characters" if max_length is not None else "at least 1 character"
            self.fail(field, f"must be {bounds}, got {len(value)}")
            return None
        return value

    def day(self, field: str, required: bool = False) -> date | None:
        value = self._value(field, required)
        if value is None:
            return None
        parsed = parse_iso_date(value)
        if parsed is None:
            self.fail(field, f"must be an ISO date YYYY-MM-DD, got {_describe(value)}")
        return parsed

    def choice(self, field: str, allowed: Collection[object], required: bool = False) -> object:
        value = self._value(field, required)
        if value is None:
            return None
        if isinstance(value, (bool, float)) or value not in allowed:
            options = ", ".join(str(a) for a in allowed)
            self.fail(field, f"must be one of {options}; got {_describe(value)}")
            return None
        return value

    def number(self, field: str, low: float, high: float | None, low_inclusive: bool) -> float | None:
        value = self._value(field, False)
        if value is None:
            return None
        if not _is_number(value):
            self.fail(field, f"must be a number, got {_describe(value)}")
            return None
        assert isinstance(value, (int, float))
        too_low = value < low if low_inclusive else value <= low
        if too_low or (high is not None and value > high):
            bounds = f"between {low:g} and {high:g}" if high is not None else f"greater than {low:g}"
            self.fail(field, f"must be {bounds}, got {value:g}")
            return None
        return float(value)

    def count(self, field: str) -> int | None:
        value = self._value(field, False)
        if value is None:
            return None
        if not _is_int(value):
            self.fail(field, f"must be a whole number, got {_describe(value)}")
            return None
        assert isinstance(value, int)
        if value < 0:
            self.fail(field, f"must not be negative, got {value}")
            return None
        return value

    def imaging(self) -> tuple[Scan, ...]:
        entries = self._value("imaging", False)
        if entries is None:
            return ()
        if not isinstance(entries, list):
            self.fail("imaging", f"must be a list of {{date, modality}} entries, got {_describe(entries)}")
            return ()
        scans: list[Scan] = []
        for index, entry in enumerate(entries):
            scan = self._scan(index, entry)
            if scan is not None:
                scans.append(scan)
        return tuple(scans)

    def _scan(self, index: int, entry: object) -> Scan | None:
        where = f"imaging[{index}]"
        if not isinstance(entry, (dict, Mapping)):  # dict first: the ABC check is slow
            self.fail(f"{where}.date", f"is missing: the entry is not an object with date and modality, "
                                       f"got {_describe(entry)}")
            self.fail(f"{where}.modality", "is missing: the entry is not an object with date and modality")
            return None
        when = parse_iso_date(entry.get("date"))
        if when is None:
            self.fail(f"{where}.date", f"must be an ISO date YYYY-MM-DD, got {_describe(entry.get('date'))}")
        modality = entry.get("modality")
        if not (isinstance(modality, str) and modality in _MODALITY_SET):
            self.fail(f"{where}.modality", f"must be one of {', '.join(MODALITIES)}; got {_describe(modality)}")
            return None
        return None if when is None else scan_of(when, modality)

    def flag(self, field: str) -> bool | None:
        """true or false only (1, "true" and "yes" are malformed)."""
        value = self._value(field, False)
        if value is None or isinstance(value, bool):
            return value
        self.fail(field, f"must be true or false, got {_describe(value)}")
        return None

    def given(self, field: str) -> bool:
        return self.raw.get(field) is not None


def parse_record(
    raw: object, guidelines: Collection[str] = ("nccn", "consensus2018", "esmo2020")
) -> tuple[PatientRecord | None, list[FieldError]]:
    """Validate one raw record: the record and no errors, or None and every error found.

    `guidelines` are the rule set ids this installation knows (a record may name one).
    """
    if not isinstance(raw, Mapping):
        return None, [FieldError("record", f"must be a JSON object, got {type(raw).__name__}")]
    c = _Checker(raw)
    patient_id = c.key("patient_id")
    name = c.text("name")
    birth_date = c.day("birth_date", required=True)
    care_team = c.key("care_team", max_length=None)  # the spec sets no length; the import does (64)
    primary_site = c.choice("primary_site", PRIMARY_SITES, required=True)
    differentiation = c.choice("differentiation", DIFFERENTIATIONS) or "well"
    grade = c.choice("grade", GRADES)
    ki67 = c.number("ki67_percent", 0, 100, low_inclusive=True)
    size = c.number("tumor_size_mm", 0, None, low_inclusive=False)
    nodes_positive = c.count("nodes_positive")
    nodes_examined = c.count("nodes_examined")
    margin = c.choice("margin", MARGINS)
    resection_type = c.choice("resection_type", RESECTION_TYPES)
    lvi = c.flag("lymphovascular_invasion")
    gastric_type = c.choice("gastric_type", GASTRIC_TYPES)
    syndrome = c.choice("hereditary_syndrome", HEREDITARY_SYNDROMES)
    resection_date = c.day("resection_date", required=True)
    imaging = c.imaging()
    status = c.choice("status", PATIENT_STATUSES) or "active"
    status_date = c.day("status_date")
    guideline = c.choice("guideline", tuple(guidelines))
    if nodes_positive is not None and nodes_examined is not None and nodes_positive > nodes_examined:
        c.fail("nodes_positive", f"cannot exceed nodes_examined ({nodes_positive} > {nodes_examined})")
    if birth_date is not None and resection_date is not None and birth_date > resection_date:
        c.fail("birth_date", "is after resection_date")
    if c.given("gastric_type") and primary_site != "stomach":
        c.fail("gastric_type", "is only for a gastric NET (primary_site stomach)")
    if c.errors:
        return None, c.errors
    assert patient_id is not None and care_team is not None
    assert birth_date is not None and resection_date is not None
    return PatientRecord(
        patient_id=patient_id,
        name=name,
        birth_date=birth_date,
        care_team=care_team,
        primary_site=str(primary_site),
        differentiation=str(differentiation),
        grade=grade if isinstance(grade, int) else None,
        ki67_percent=ki67,
        tumor_size_mm=size,
        nodes_positive=nodes_positive,
        nodes_examined=nodes_examined,
        margin=margin if isinstance(margin, str) else None,
        resection_type=resection_type if isinstance(resection_type, str) else None,
        lymphovascular_invasion=lvi,
        gastric_type=gastric_type if isinstance(gastric_type, int) else None,
        hereditary_syndrome=syndrome if isinstance(syndrome, str) else None,
        resection_date=resection_date,
        imaging=imaging,
        status=str(status),
        status_date=status_date,
        guideline=guideline if isinstance(guideline, str) else None,
    ), []
