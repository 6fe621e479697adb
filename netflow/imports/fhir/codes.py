"""The codes netflow reads from FHIR resources, and what each one means for a netflow record.

Every code here is listed, with its source, in docs/fhir.md; change both together. Where no standard
code exists (the somatostatin-receptor tracer of a PET, the gastric NET type, an opt-out), netflow
reads the text or its own extension named below, and docs/fhir.md says so.
"""

from __future__ import annotations

__all__ = [
    "DICOM", "ICD10CM", "LOINC", "MR_TYPE", "NETFLOW_CODES", "NETFLOW_EXTENSION", "SNOMED",
    "V2_0203", "net_condition", "observation_field", "resection_type", "secondary_net", "syndrome_of",
]

ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
DICOM = "http://dicom.nema.org/resources/ontology/DCM"
V2_0203 = "http://terminology.hl7.org/CodeSystem/v2-0203"
MR_TYPE = "MR"  # v2-0203: Medical record number
MCODE = "http://hl7.org/fhir/us/mcode/StructureDefinition/"
PRIMARY_CANCER_PROFILE = MCODE + "mcode-primary-cancer-condition"
SURGICAL_PROFILE = MCODE + "mcode-cancer-related-surgical-procedure"
# netflow's own extension, for values no standard code carries (docs/fhir.md, "netflow's extension").
NETFLOW_EXTENSION = "https://netflow.example/fhir/StructureDefinition/surveillance"

# ICD-10-CM malignant neuroendocrine tumours (C7A) and the endocrine pancreas (C25.4): the primary site.
_NET_SITES = {
    "C7A.010": "duodenum", "C7A.011": "small_intestine", "C7A.012": "small_intestine",
    "C7A.019": "small_intestine", "C7A.020": "appendix", "C7A.021": "colon", "C7A.022": "colon",
    "C7A.023": "colon", "C7A.024": "colon", "C7A.025": "colon", "C7A.029": "colon", "C7A.026": "rectum",
    "C7A.090": "lung", "C7A.091": "thymus", "C7A.092": "stomach", "C7A.093": "other", "C7A.094": "other",
    "C7A.095": "other", "C7A.096": "other", "C7A.098": "other", "C7A.00": "other", "C7A.8": "other",
    "C25.4": "pancreas",
}
POORLY_DIFFERENTIATED = "C7A.1"  # malignant poorly differentiated neuroendocrine tumours (no site)
# Secondary neuroendocrine tumours (C7B.0x carcinoid, C7B.8 other; not C7B.1 Merkel cell): a recurrence.
SECONDARY_NET_PREFIXES = ("C7B.0", "C7B.8")
_SYNDROMES = {"E31.21": "MEN1", "Q85.83": "VHL", "Q85.01": "NF1", "Q85.1": "TSC"}

# SNOMED CT body structures, read when the NET code has no site (C7A.1, C7A.8, C7A.00).
BODY_SITES = {
    "15776009": "pancreas", "30315005": "small_intestine", "66754008": "appendix", "34402009": "rectum",
    "71854001": "colon", "69695003": "stomach", "38848004": "duodenum", "39607008": "lung", "9875009": "thymus",
}

# SNOMED CT procedures -> resection_type. A cancer-related surgical procedure coded otherwise takes its type
# from a coding in netflow's own system (RESECTION_CODES), else its resection_type is unknown.
_RESECTIONS = {
    "80146002": "local_excision",     # Appendectomy (Excision of appendix): a simple appendectomy
    "78133002": "local_excision",     # Endoscopic excision of lesion of large intestine
    "23968004": "formal_resection",   # Colectomy (Excision of colon)
    "173171007": "formal_resection",  # Lobectomy of lung
}
RESECTION_CODES = "https://netflow.example/fhir/CodeSystem/resection-type"  # local_excision, formal_resection

# LOINC pathology observations -> the record field they fill.
_OBSERVATIONS = {
    "21893-3": "nodes_positive",           # Regional lymph nodes positive [#] Specimen
    "21894-1": "nodes_examined",           # Regional lymph nodes examined [#] Specimen
    "21889-1": "tumor_size_mm",            # Size Tumor (mCODE Tumor Size)
    "33728-7": "tumor_size_mm",            # Size.maximum dimension in Tumor
    "33732-9": "grade",                    # Histology grade [Identifier] in Cancer specimen (mCODE Histologic Grade)
    "29593-1": "ki67_percent",             # Cells.Ki-67 nuclear Ag/cells in Tissue by Immune stain
    "97509-4": "disease_status",           # Cancer disease progression (mCODE Cancer Disease Status)
}
# Text and codes of a histologic grade value -> netflow's grade (1-3).
GRADE_VALUES = {"G1": 1, "G2": 2, "G3": 3, "1": 1, "2": 2, "3": 3, "1155708003": 1, "1286893008": 2,
                "1155707008": 3}
WORSENED = "271299001"  # SNOMED: Patient's condition worsened (mCODE Cancer Disease Status value)
# Margin (R0/R1/R2) and lymphovascular invasion: read from Observations coded in netflow's own system.
NETFLOW_CODES = "https://netflow.example/fhir/CodeSystem/pathology"
_NETFLOW_OBSERVATIONS = {"margin": "margin", "lymphovascular-invasion": "lymphovascular_invasion"}
PRESENT, ABSENT = "52101004", "2667000"  # SNOMED CT qualifier values Present / Absent

# DICOM CID 29 acquisition modality -> netflow modality (PT: by tracer, see `pet_modality`).
MODALITIES = {"CT": "CT", "MR": "MRI", "US": "US", "ES": "endoscopy"}
SSTR_TRACERS = ("dotatate", "dotatoc", "dotanoc", "ga-68", "68ga", "cu-64", "64cu", "somatostatin", "sstr")
FDG_TRACERS = ("fdg", "fluorodeoxyglucose")


def net_condition(code: str) -> tuple[str | None, bool] | None:
    """(primary site or None when the code has none, poorly differentiated) for a NET ICD-10-CM code."""
    if code == POORLY_DIFFERENTIATED:
        return None, True
    site = _NET_SITES.get(code)
    if site is None:
        return None
    return (None if code in ("C7A.00", "C7A.8") else site), False


def secondary_net(code: str) -> bool:
    return code.startswith(SECONDARY_NET_PREFIXES)


def syndrome_of(code: str) -> str | None:
    return _SYNDROMES.get(code)


def resection_type(system: str, code: str) -> str | None:
    if system == SNOMED:
        return _RESECTIONS.get(code)
    return code if system == RESECTION_CODES and code in ("local_excision", "formal_resection") else None


def observation_field(system: str, code: str) -> str | None:
    """The record field a pathology Observation fills (LOINC, or netflow's own code system)."""
    if system == LOINC:
        return _OBSERVATIONS.get(code)
    return _NETFLOW_OBSERVATIONS.get(code) if system == NETFLOW_CODES else None


def known_resection(code: str) -> bool:
    return code in _RESECTIONS


def pet_modality(text: str) -> str:
    """SSTR_PET or FDG_PET from the tracer named in a study's text; 'other' when none is named."""
    lowered = text.casefold()
    if any(word in lowered for word in SSTR_TRACERS):
        return "SSTR_PET"
    if any(word in lowered for word in FDG_TRACERS):
        return "FDG_PET"
    return "other"
