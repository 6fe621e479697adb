"""Realistic data-entry defects, one per malformed record, each one that validation must catch."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from random import Random

__all__ = ["DEFECTS", "apply_defect"]

Record = dict[str, object]


def _day(record: Record, field: str, fallback: date) -> date:
    value = record.get(field)
    return date.fromisoformat(value) if isinstance(value, str) else fallback


def _ki67_over_100(rng: Random, record: Record, as_of: date) -> None:
    record["ki67_percent"] = rng.choice((105.0, 120, 150, 250, 1000))


def _nodes_positive_over_examined(rng: Random, record: Record, as_of: date) -> None:
    examined = rng.randint(0, 12)
    record["nodes_examined"] = examined
    record["nodes_positive"] = examined + rng.randint(1, 4)


def _bad_date(rng: Random, record: Record, as_of: date) -> None:
    field = rng.choice(("birth_date", "resection_date", "resection_date"))
    day = _day(record, field, as_of)
    formats = (
        f"{day.month:02d}/{day.day:02d}/{day.year}",
        f"{day.day:02d}.{day.month:02d}.{day.year}",
        f"{day.year}-{day.month}-{day.day}x",
        f"{day.year}{day.month:02d}{day.day:02d}",
        f"{day.year}-02-30",
    )
    record[field] = rng.choice(formats)


def _unknown_site(rng: Random, record: Record, as_of: date) -> None:
    record["primary_site"] = rng.choice(("ileum", "jejunum", "bronchus", "small bowel", "Pancreas", "caecum"))


def _missing_resection_date(rng: Random, record: Record, as_of: date) -> None:
    record["resection_date"] = rng.choice((None, ""))


def _birth_after_resection(rng: Random, record: Record, as_of: date) -> None:
    resection = _day(record, "resection_date", as_of)
    record["birth_date"] = (resection + timedelta(days=rng.randint(1, 3000))).isoformat()


def _bad_size(rng: Random, record: Record, as_of: date) -> None:
    size = record.get("tumor_size_mm")
    record["tumor_size_mm"] = -size if isinstance(size, (int, float)) and size > 0 else rng.choice((0, -12))


def _imaging_entry(rng: Random, record: Record, as_of: date) -> dict[str, object]:
    imaging = record.get("imaging")
    if not isinstance(imaging, list):
        imaging = record["imaging"] = []
    if not imaging:
        resection = _day(record, "resection_date", as_of)
        when = min(as_of, resection + timedelta(days=rng.randint(60, 200)))
        imaging.append({"date": when.isoformat(), "modality": "CT"})
    entry: dict[str, object] = imaging[rng.randrange(len(imaging))]
    return entry


def _unknown_modality(rng: Random, record: Record, as_of: date) -> None:
    _imaging_entry(rng, record, as_of)["modality"] = rng.choice(
        ("PET-CT", "CT scan", "ct", "X-ray", "Octreoscan", "gastroscopy", "colonoscopy", "Endoscopy")
    )


def _bad_imaging_date(rng: Random, record: Record, as_of: date) -> None:
    entry = _imaging_entry(rng, record, as_of)
    day = entry["date"]
    text = day if isinstance(day, str) else as_of.isoformat()
    entry["date"] = rng.choice((text[:4] + "-13-" + text[8:], text.replace("-", "/"), ""))


def _unknown_grade(rng: Random, record: Record, as_of: date) -> None:
    record["grade"] = rng.choice(("G2", "2", 4, "low"))


def _unknown_margin(rng: Random, record: Record, as_of: date) -> None:
    record["margin"] = rng.choice(("RX", "R0/R1", "negative", "clear"))


def _blank_patient_id(rng: Random, record: Record, as_of: date) -> None:
    mrn = record.get("patient_id")
    record["patient_id"] = rng.choice(("", f"{mrn}-" * 8)) if isinstance(mrn, str) else ""  # empty, or over 64


def _gastric_type_off_the_stomach(rng: Random, record: Record, as_of: date) -> None:
    """A gastric type on a tumour that is not gastric: typed into the wrong patient, or the site miscoded."""
    record["gastric_type"] = rng.choice((1, 1, 2, 3))
    if record.get("primary_site") == "stomach":
        record["primary_site"] = rng.choice(("duodenum", "small_intestine", "pancreas"))


def _bad_gastric_type(rng: Random, record: Record, as_of: date) -> None:
    """The type written as text, a Roman numeral or out of range (only stomach records carry one)."""
    record["primary_site"] = "stomach"
    record["gastric_type"] = rng.choice(("1", "type 1", "I", "III", 4, 0, 1.0))


def _lvi_not_boolean(rng: Random, record: Record, as_of: date) -> None:
    """Lymphovascular invasion as the report words it, not true or false."""
    record["lymphovascular_invasion"] = rng.choice(("yes", "no", "L1", "V0", "true", 1, 0, "not reported"))


def _unknown_resection_type(rng: Random, record: Record, as_of: date) -> None:
    record["resection_type"] = rng.choice(("appendectomy", "EMR", "local", "Formal resection", "TME", 1))


Defect = Callable[[Random, Record, date], None]

# (name, how to make it, relative frequency)
DEFECTS: tuple[tuple[str, Defect, int], ...] = (
    ("ki67_over_100", _ki67_over_100, 3),
    ("nodes_positive_over_examined", _nodes_positive_over_examined, 3),
    ("bad_date", _bad_date, 3),
    ("unknown_site", _unknown_site, 2),
    ("missing_resection_date", _missing_resection_date, 2),
    ("birth_after_resection", _birth_after_resection, 2),
    ("bad_size", _bad_size, 2),
    ("unknown_modality", _unknown_modality, 2),
    ("bad_imaging_date", _bad_imaging_date, 1),
    ("unknown_grade", _unknown_grade, 1),
    ("unknown_margin", _unknown_margin, 1),
    ("blank_patient_id", _blank_patient_id, 1),
    ("gastric_type_off_the_stomach", _gastric_type_off_the_stomach, 1),
    ("bad_gastric_type", _bad_gastric_type, 1),
    ("lvi_not_boolean", _lvi_not_boolean, 2),
    ("unknown_resection_type", _unknown_resection_type, 1),
)
_TOTAL = sum(weight for _, _, weight in DEFECTS)


def apply_defect(rng: Random, record: Record, as_of: date) -> str:
    """Damage `record` in place with one defect; return the defect's name."""
    roll = rng.randrange(_TOTAL)
    for name, damage, weight in DEFECTS:
        if roll < weight:
            damage(rng, record, as_of)
            return name
        roll -= weight
    raise AssertionError("unreachable")  # pragma: no cover
