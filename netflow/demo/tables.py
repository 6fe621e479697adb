"""The numbers behind the synthetic cohort, in one place a clinician can review.

These are demo approximations shaped on published series of resected neuroendocrine tumours
(site mix, WHO grade mix, nodal involvement by site, typical sizes, how each site is resected
and followed); they are not epidemiology and no result should be quoted from them. Weights
need not sum to 1. Each number carries a one-line reason.

Tables keyed by *profile* have one entry per site, and for the stomach one per gastric type
("stomach/1", "stomach/2", "stomach/3"; plain "stomach" when the type was not recorded): the
three types are different diseases. Tables keyed by *site* have one entry per primary site.
"""

from __future__ import annotations

__all__ = [
    "FOLLOW_UP_PROFILES",
    "GASTRIC_TYPE_WEIGHTS",
    "GASTROSCOPY_CT_RATE",
    "GRADE_MIX",
    "GUIDELINE_OVERRIDES",
    "LOCAL_EXCISION_NODES",
    "LOCAL_EXCISION_RATE",
    "LVI_REPORTED_RATE",
    "LVI_TRUE_SHARE",
    "MARGIN_WEIGHTS",
    "MISSING_RATE",
    "NODES_EXAMINED",
    "NODES_MISSING_RATE",
    "NODE_POSITIVE_RATE",
    "OPTIONAL_IMAGING_RATE",
    "RECTAL_LOCAL_STUDY",
    "SITES",
    "SITE_WEIGHTS",
    "SIZE_MEDIAN_MM",
    "SYNDROMES",
    "UNINDICATED_IMAGING_RATE",
]

# Primary site, in frequency order (the spec's enum order differs): small intestine and pancreas
# most common in a resected GEP series, then rectum, appendix, stomach, colon, duodenum; lung
# and thymus carcinoids are a minority of a GEP-centred NET service (the lung is referred to it
# less often than it occurs), thymic ones rare; a little 'other' (unknown primary, ovary...).
SITES = (
    "small_intestine", "pancreas", "rectum", "appendix", "stomach", "colon", "duodenum", "lung", "thymus", "other",
)
SITE_WEIGHTS = (27, 25, 14, 12, 8, 6, 5, 6, 1, 3)

# Gastric NET type 1, 2, 3, not recorded: type 1 (atrophic gastritis) is 70-80 % of gastric NETs,
# type 2 (gastrinoma, mostly MEN1) 5-6 %, type 3 (sporadic) 15-20 %; the type is left blank in
# a few reports that give only the pathology.
GASTRIC_TYPE_WEIGHTS = (68, 5, 19, 8)

# (G1, G2, well-differentiated G3, poorly differentiated NEC) per profile. Well-differentiated
# G3 (Ki-67 > 20) comes to about 4 % overall: commonest in the pancreas, rare in the appendix.
GRADE_MIX: dict[str, tuple[float, float, float, float]] = {
    "small_intestine": (70, 27, 2, 1),  # ileal NETs are mostly G1
    "pancreas": (45, 42, 8, 5),  # PanNETs: G2 common, the largest share of NET G3
    "rectum": (80, 15, 2, 3),  # small rectal NETs are mostly G1
    "appendix": (85, 13, 1, 1),  # incidental appendiceal NETs: nearly all G1
    "stomach": (65, 22, 5, 8),  # type not recorded: the mix of the three types
    "stomach/1": (85, 13, 1, 1),  # type 1: indolent, G1 almost always
    "stomach/2": (75, 22, 2, 1),  # type 2: G1-G2
    "stomach/3": (35, 35, 15, 15),  # type 3: sporadic, often G2-G3, behaves like an adenocarcinoma
    "colon": (35, 25, 10, 30),  # colonic neoplasms include many NECs
    "duodenum": (65, 28, 4, 3),  # duodenal NETs: mostly G1
    "lung": (70, 25, 2, 3),  # typical carcinoid (G1-like) far more common than atypical; few resected LCNECs
    "thymus": (25, 55, 12, 8),  # thymic carcinoids are mostly atypical (G2) and more aggressive
    "other": (50, 30, 10, 10),  # a mixed bag
}

# Pathological size: log-normal, (median mm, sigma) per profile.
SIZE_MEDIAN_MM: dict[str, tuple[float, float]] = {
    "small_intestine": (17, 0.45),  # ileal primaries are small, 1-2 cm
    "pancreas": (22, 0.6),  # resected PanNETs around 2 cm, wide spread
    "rectum": (7, 0.55),  # about three in four under 1 cm (screening colonoscopy)
    "appendix": (9, 0.55),  # about six in ten under 1 cm, 5-10 % over 2 cm
    "stomach": (10, 0.6),  # type not recorded
    "stomach/1": (6, 0.5),  # type 1: small polyps, nearly all under 1-2 cm
    "stomach/2": (8, 0.5),  # type 2: small, often multiple
    "stomach/3": (22, 0.55),  # type 3: solitary and larger
    "colon": (35, 0.5),  # colonic NETs present late and large
    "duodenum": (10, 0.5),  # mostly small, about 1 cm
    "lung": (20, 0.5),  # resected bronchial carcinoids around 2 cm
    "thymus": (50, 0.45),  # thymic carcinoids are large at diagnosis
    "other": (25, 0.6),
}

# Share of patients with >= 1 positive node among those whose nodes were examined (formal
# resections only; appendiceal and rectal tumours over 20 mm and NECs get more, pathology.py).
NODE_POSITIVE_RATE: dict[str, float] = {
    "small_intestine": 0.66,  # ileal NETs have mesenteric nodes in most resections
    "pancreas": 0.30,
    "rectum": 0.15,  # formal resection of a 1-2 cm rectal NET finds nodes in 10-20 %
    "appendix": 0.15,  # completion hemicolectomy for 1-2 cm finds nodes in 10-20 %
    "stomach": 0.15,  # type not recorded
    "stomach/1": 0.03,  # type 1: nodes are exceptional
    "stomach/2": 0.10,
    "stomach/3": 0.45,  # type 3: nodal disease in about half
    "colon": 0.45,
    "duodenum": 0.35,
    "lung": 0.15,  # typical carcinoids about 10 %, atypical about 40 %
    "thymus": 0.30,
    "other": 0.30,
}

# Lymph nodes retrieved by a formal resection (min, max), per site.
NODES_EXAMINED: dict[str, tuple[int, int]] = {
    "small_intestine": (6, 30),  # segmental resection with mesenteric lymphadenectomy
    "pancreas": (3, 25),  # few nodes after a distal pancreatectomy, more after a Whipple
    "rectum": (2, 18),  # anterior resection or TME
    "appendix": (1, 8),  # few nodes from a mesoappendix; more from a hemicolectomy
    "stomach": (2, 20),  # partial gastrectomy
    "colon": (10, 30),  # hemicolectomy
    "duodenum": (2, 15),
    "lung": (4, 20),  # lobectomy with systematic nodal dissection
    "thymus": (1, 10),  # thymectomy, nodes sampled
    "other": (2, 15),
}

# A formal resection whose nodal status was still not documented (report incomplete, lost in
# transfer): the data issue nodes_missing. Per site.
NODES_MISSING_RATE: dict[str, float] = {
    "small_intestine": 0.04,
    "pancreas": 0.06,  # an enucleation filed as a formal resection
    "rectum": 0.04,
    "appendix": 0.04,
    "stomach": 0.05,
    "colon": 0.03,
    "duodenum": 0.06,
    "lung": 0.05,
    "thymus": 0.15,  # thymectomy reports often omit nodes
    "other": 0.08,
}

# Local excision (simple appendectomy, endoscopic or transanal excision) by size band: under
# 10 mm, 10-20 mm (or size not documented), over 20 mm (or G3/NEC). Per site; every other site
# is formally resected. NCCN NET-3/NET-4 and ESMO: simple appendectomy and endoscopic excision
# below 1 cm; many 1-2 cm tumours too; a completion or formal resection above 2 cm.
LOCAL_EXCISION_RATE: dict[str, tuple[float, float, float]] = {
    "appendix": (0.95, 0.70, 0.15),  # appendectomy for appendicitis finds the NET; hemicolectomy for > 2 cm
    "rectum": (0.97, 0.80, 0.20),  # EMR/ESD or TAMIS for most under 2 cm; TME above
    "stomach/1": (0.95, 0.85, 0.30),  # NET-5: endoscopic resection of type 1 tumours; gastrectomy is rare
    "stomach/2": (0.85, 0.70, 0.30),  # NET-5: endoscopic resection, the gastrinoma treated apart
}

# After a local excision no node is examined by design: how the report says so, as weights of
# (nodes_positive, nodes_examined) = (null, null), (0, 0), (null, 0).
LOCAL_EXCISION_NODES = (55, 35, 10)  # most leave the node fields blank; some write 0 of 0

# Lymphovascular invasion reported (true or false) after a local excision, after a formal
# resection; otherwise null. Pathology reports of NETs often omit it (spec section 3).
LVI_REPORTED_RATE = {"local_excision": 0.25, "formal_resection": 0.35}

# Share of reported LVI that is true: without, with adverse features (positive nodes, G3 or
# NEC, over 20 mm). L1/V1 is uncommon in small G1 tumours and common in nodal disease.
LVI_TRUE_SHARE = (0.06, 0.30)

# Hereditary syndromes by profile, as (syndrome, share of patients).
SYNDROMES: dict[str, tuple[tuple[str, float], ...]] = {
    "pancreas": (("MEN1", 0.04), ("VHL", 0.015), ("TSC", 0.003), ("NF1", 0.002)),  # MEN1 the commonest
    "duodenum": (("NF1", 0.03), ("MEN1", 0.03)),  # NF1 somatostatinomas, MEN1 gastrinomas
    "stomach": (("MEN1", 0.02),),  # type not recorded
    "stomach/2": (("MEN1", 0.5),),  # type 2 arises from MEN1 gastrinomas; not always recorded yet
    "thymus": (("MEN1", 0.05),),  # thymic carcinoid is a known MEN1 tumour
}

# Resection margin: R0, R1, R2, not documented.
MARGIN_WEIGHTS = (85.5, 9.0, 1.5, 4.0)

# Fields left blank in the source system.
MISSING_RATE = {
    "grade": 0.06,
    "ki67_percent": 0.10,  # Ki-67 missing more often than the grade (older reports)
    "tumor_size_mm": 0.05,
    "resection_type": 0.03,  # the operation not coded: counts as not a local excision (spec section 3)
}

# Per-patient guideline override (the rest follow their care team or the installation), as
# (guideline, share of patients).
GUIDELINE_OVERRIDES = (
    ("esmo2020", 0.10),  # patients seen in a European-trained clinician's NET clinic
    ("consensus2018", 0.03),  # a clinician who follows the CommNETS/NANETS panel
    ("nccn", 0.01),  # pinned to NCCN inside a consensus2018 team
)

# How patients keep to their surveillance: adherent (scans near each due date), drifting
# (later and later), lost to follow-up (scans stop), never imaged after surgery, erratic.
FOLLOW_UP_PROFILES = (("adherent", 50), ("drifting", 22), ("lost", 15), ("never", 5), ("erratic", 8))

# Share of small (< 10 mm) appendiceal and rectal tumours imaged after all (once or twice),
# though no follow-up is advised: some clinicians order a CT anyway.
UNINDICATED_IMAGING_RATE = 0.25

# Share of 10-20 mm appendiceal tumours followed at 2- to 5-year intervals (NCCN: optional).
OPTIONAL_IMAGING_RATE = 0.5

# The local study at each visit of the rectal 6- and 12-month course, with the endoscopy:
# EUS or rectal MRI, as weights (EUS where the endoscopist does it, MRI elsewhere).
RECTAL_LOCAL_STUDY = (("EUS", 55), ("MRI", 45))

# Share of yearly gastroscopies (gastric type 1 and 2) with a CT as well, though not advised.
GASTROSCOPY_CT_RATE = 0.08
