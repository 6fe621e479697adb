"""The clinical review sheet: every rule of every rule set, in plain words, for a clinician to check and sign.

    book = netflow.installation.load_book(Settings.from_env())
    sys.stdout.write(markdown(book))      # docs/rules.md: `netflow rules --format markdown`
    sys.stdout.write(text(book))          # the same sheet as plain text: `netflow rules --format text`

Pure formatting of domain objects (no I/O): each rule is described by `rule_facts` (applies to, schedule,
what counts as a scan, what it recommends, source, project choice) and each rule set by `ruleset_facts`;
the two renderers lay the same facts out as Markdown or as plain text. Site, modality and recommendation
words come from `netflow.domain.explain`, so the sheet says what the worklist and the digests say.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Collection, Iterable, Sequence
from pathlib import PurePath

from netflow.domain.explain import REASON_WORDS, RECOMMENDATION_WORDS, REVIEW_WORDS, SCAN_WORDS, SITE_NAMES
from netflow.domain.record import MODALITIES, PRIMARY_SITES
from netflow.domain.risk import RISK_REASONS
from netflow.domain.rules import CROSS_SECTIONAL, TIERS, Rule, RuleBook, RuleSet, When

__all__ = ["FORMATS", "describe_recommendation", "describe_scans", "describe_schedule", "describe_when", "markdown",
           "rule_facts", "ruleset_facts", "terms", "text"]

Facts = list[tuple[str, str]]

TITLE = "Surveillance rules: the clinical review sheet"
SIGN_OFF = "Reviewed by / date"
PROJECT_CHOICE = "Project choice [I]"
INTRO = (
    "This sheet lists every surveillance rule netflow applies after the resection of a neuroendocrine "
    "tumour (NET), rule set by rule set: which patients each rule applies to, the imaging schedule it sets, "
    "which examinations count as the scan, what it recommends booking, and the guideline (with section or "
    "page) it comes from."
)
HOW_TO_REVIEW = (
    "Read each rule set from its first rule down: netflow uses the first rule that applies to a patient, so a "
    "rule further down only receives the patients the rules above it did not take (\"any site\" means any site "
    "not taken by an earlier rule). For each rule, check that \"Applies to\" describes the patients you expect, "
    "that the schedule and the recommendation agree with the source and section cited (\"The source, in "
    "short\" summarises what it says there), and that each \"Project choice [I]\", a value netflow chose where "
    "the source gives no number, is acceptable for your patients; then check the rule set's sites, timing and "
    "MRI age.",
    "To sign off, print this sheet (or save it as a PDF), fill in the \"Reviewed by / date\" column of the "
    "sign-off table at the end of each rule set, and keep the signed copy with your governance records. Sign "
    "the copy, not this file: a rule is changed in its rule set file, the sheet is generated again, and the "
    "rules that changed need a new signature.",
)
# Spec section 3 in words: what the risk tiers and the effective grade mean (the rules name them).
REASON_QUALIFIERS = {"nodes_unknown": "unless removed by local excision", "ki67_unknown": "unless grade 1 is stated"}
LOW_RISK = ("effective grade 1, nodes negative (or not examined after a local excision), size documented and "
            "under 20 mm, R0 margin, and no high-risk feature")
EFFECTIVE_GRADE = ("the higher of the WHO grade stated and the grade Ki-67 implies (under 3%: grade 1; "
                   "3 to 20%: grade 2; above 20%: grade 3)")


# ---- words ----------------------------------------------------------------------------------------------

def _one_line(words: str) -> str:
    return " ".join(words.split())


def _either(words: Sequence[str]) -> str:
    """'a', 'a or b', 'a, b or c' ('none' for no words)."""
    if len(words) <= 1:
        return words[0] if words else "none"
    return f"{', '.join(words[:-1])} or {words[-1]}"


def _sites(sites: Collection[str]) -> str:
    """'lung or thymus': the sites in the domain's order, in words."""
    return _either([site.replace("_", " ") for site in PRIMARY_SITES if site in sites])


def _site_names(sites: Iterable[str]) -> str:
    chosen = set(sites)
    return ", ".join(name for site, name in SITE_NAMES.items() if site in chosen)


def _mm(value: float) -> str:
    return f"{value:g} mm"


def _duration(months: int) -> str:
    if months % 12:
        return f"{months} months"
    years = months // 12
    return "1 year" if years == 1 else f"{years} years"


def _days(n: int) -> str:
    return "1 day" if n == 1 else f"{n} days"


def describe_when(when: When) -> str:
    """'appendix, low risk, size documented and under 10 mm'; 'effective grade 3, any site'."""
    words = [_sites(when.sites)] if when.sites is not None else []
    if when.gastric_type is not None:
        words.append(f"gastric type {when.gastric_type}")
    if when.grade is not None:
        words.append(f"effective grade {when.grade}")
    if when.tiers is not None and set(when.tiers) != set(TIERS):
        words.append(f"{_either([t for t in TIERS if t in when.tiers])} risk")
    if when.size_below_mm is not None:
        words.append(f"size documented and under {_mm(when.size_below_mm)}")
    if when.size_up_to_mm is not None:
        words.append(f"size documented and at most {_mm(when.size_up_to_mm)}")
    if when.sites is None:
        words.append("any site" if words else "any site, any risk")
    return ", ".join(words)


def _noun(rule: Rule) -> str:
    return "scan" if rule.qualifying & CROSS_SECTIONAL else "examination"


def describe_schedule(rule: Rule) -> str:
    """'first scan 3-6 months after the resection; then every 3-6 months while the last scan is before month 24,
    then every 6-12 months; for 10 years', or 'no surveillance imaging'."""
    if rule.not_indicated:
        return "no surveillance imaging"
    noun = _noun(rule)
    parts = []
    if rule.first is not None:
        parts.append(f"first {noun} {rule.first.describe()} after the resection")
    later = f"every {rule.then.describe()}" if rule.then is not None else ""
    if rule.early is not None and rule.early_until_month is not None:
        later = (f"every {rule.early.describe()} while the last {noun} is before month {rule.early_until_month}"
                 + (f", then {later}" if later else ""))
    if later:
        parts.append(f"then {later}")
    parts.append("lifelong" if rule.horizon_months is None else f"for {_duration(rule.horizon_months)}")
    return "; ".join(parts)


def describe_scans(rule: Rule) -> str:
    """What counts as the rule's scan: 'CT or MRI', 'MRI or endoscopic ultrasound', 'endoscopy'."""
    if rule.not_indicated:
        return "not applicable (no imaging planned)"
    return _either([SCAN_WORDS.get(m, m) for m in MODALITIES if m in rule.qualifying])


def describe_recommendation(rule: Rule, rules: RuleSet) -> str:
    """'CT or MRI (MRI under age 50), with chest CT'; 'endoscopy with rectal MRI or endorectal ultrasound'."""
    if rule.recommends is None:
        return "nothing: no imaging planned"
    if rule.recommends != "cross_sectional":
        return RECOMMENDATION_WORDS.get(rule.recommends, rule.recommends)
    words = RECOMMENDATION_WORDS["CT_or_MRI"]
    if rules.mri_below_age > 0:
        words += f" ({RECOMMENDATION_WORDS['MRI']} under age {rules.mri_below_age})"
    sites = rules.covers if rule.when.sites is None else rule.when.sites
    chest = sites & rules.chest_ct_sites
    if chest == sites:
        return f"{words}, with chest CT"
    return f"{words}, with chest CT for {_sites(chest)}" if chest else words


def _source_parts(rule: Rule, rules: RuleSet) -> tuple[str, str]:
    """(the citation of the rule's source from the file's sources, the section or page or '')."""
    key, _, section = rule.source.partition(",")
    return _one_line(rules.sources.get(key.strip(), key.strip())), section.strip()


# ---- facts ----------------------------------------------------------------------------------------------

def rule_facts(rule: Rule, rules: RuleSet) -> Facts:
    """(label, words) for one rule, in the order the sheet prints them; the project choice only where set."""
    citation, section = _source_parts(rule, rules)
    facts = [("Applies to", describe_when(rule.when)), ("Schedule", describe_schedule(rule)),
             ("Counts as the scan", describe_scans(rule)), ("Recommends", describe_recommendation(rule, rules)),
             ("Source", citation)]
    if section:
        facts.append(("Section or page", section))
    if rule.summary:
        facts.append(("The source, in short", _one_line(rule.summary)))
    if rule.project_choice:
        facts.append((PROJECT_CHOICE, _one_line(rule.project_choice)))
    return facts


def _mri(rules: RuleSet) -> str:
    if rules.mri_below_age <= 0:
        return "no age threshold: CT or MRI at any age"
    return f"MRI (rather than CT or MRI) for patients under {rules.mri_below_age} on the day the window opens"


def ruleset_facts(rules: RuleSet, book: RuleBook) -> Facts:
    """(label, words) for a rule set: identity, sites, timing, MRI age, chest CT."""
    default = " (the default: used when neither the patient's record nor the care team names a rule set)"
    others = [site for site in PRIMARY_SITES if site not in rules.covers]
    facts = [("Identifier", rules.id + (default if rules.id == book.default else "")),
             ("Version", rules.version),
             ("Rule set file", PurePath(rules.path).name if rules.path else "not recorded"),
             ("Sites covered", _site_names(rules.covers))]
    if others:
        facts.append(("Sent to clinician review instead", _site_names(others)))
    facts += [("Reminders", f"start {_days(rules.lead_days)} before a window opens"),
              ("Overdue", f"{_days(rules.grace_days)} after a window closes (the grace period)"),
              ("Escalated", f"when {_days(rules.escalation_days)} or more overdue"),
              ("Cross-sectional imaging", _mri(rules))]
    if rules.chest_ct_sites:
        chest = _sites(rules.chest_ct_sites)
        facts.append(("Chest CT", f"added to the abdominal CT or MRI when the primary is {chest}"))
    return facts


def _reason(reason: str) -> str:
    qualifier = REASON_QUALIFIERS.get(reason)
    return REASON_WORDS[reason] + (f" ({qualifier})" if qualifier else "")


def terms() -> Facts:
    """The words the rules use, defined once for the whole sheet."""
    high = [_reason(reason) for reason in RISK_REASONS]
    review = [REVIEW_WORDS[r] for r in ("poorly_differentiated", "hereditary_syndrome", "margin_r2")]
    return [
        ("High risk", f"any of: {'; '.join(high)}"),
        ("Low risk", LOW_RISK),
        ("Standard risk", "every other patient"),
        ("Effective grade", EFFECTIVE_GRADE),
        ("Windows", "\"3-6 months\" is a window that opens at 3 months and closes at 6: reminders start before "
                    "it opens, and the patient counts as overdue once the grace period after it has passed. The "
                    "first scan counts from the resection; later ones from the last examination that counts as "
                    "the scan; \"month 24\" is 24 months after the resection."),
        ("Length of the course", "\"for 10 years\": no window is planned that would open more than 10 years "
                                 "after the resection; \"lifelong\": follow-up never ends."),
        ("Clinician review", "whatever the rule set, no schedule is set for a patient with any of: "
                             f"{'; '.join(review)}; a primary site the rule set does not cover. A clinician sets "
                             "the follow-up plan."),
    ]


# ---- Markdown -------------------------------------------------------------------------------------------

def _cell(words: str) -> str:
    return words.replace("|", "\\|")


def _md_facts(facts: Facts) -> list[str]:
    return [f"- **{label}:** {words}" for label, words in facts] + [""]


def _md_table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return [*lines, ""]


def _md_ruleset(number: int, rules: RuleSet, book: RuleBook) -> list[str]:
    lines = [f"## {number}. {rules.title}", "", *_md_facts(ruleset_facts(rules, book)),
             "Sources named in the rule set:", ""]
    lines += [f"- {_one_line(citation)}" for citation in rules.sources.values()]
    lines += ["", f"### Rules of {rules.short_name}, in order (the first that applies is used)", ""]
    for index, rule in enumerate(rules.rules, start=1):
        lines += [f"#### {number}.{index} `{rule.id}`", "", *_md_facts(rule_facts(rule, rules))]
    rows = [(str(i), f"`{rule.id}`", describe_when(rule.when), "yes" if rule.project_choice else "", "")
            for i, rule in enumerate(rules.rules, start=1)]
    rows.append(("", "the rule set's sites, timing and MRI age", "", "", ""))
    lines += [f"### Sign-off: {rules.short_name}", ""]
    return lines + _md_table(("#", "Rule", "Applies to", PROJECT_CHOICE, SIGN_OFF), rows)


def markdown(book: RuleBook) -> str:
    """The review sheet as Markdown (docs/rules.md)."""
    lines = [f"# {TITLE}", "",
             "> Generated by `netflow rules --format markdown` from the rule set files: do not edit this file by "
             "hand. To change a rule, change its rule set file, then run "
             "`netflow rules --format markdown > docs/rules.md` with `NETFLOW_RULESETS` and `NETFLOW_GUIDELINE` "
             "unset.", "",
             INTRO, ""]
    lines += _md_table(("Rule set", "Title", "Version", "Rules"),
                       [(f"`{i}`", book[i].title, book[i].version, str(len(book[i].rules))) for i in book.ids])
    lines += ["## How to review", ""]
    lines += [line for paragraph in HOW_TO_REVIEW for line in (paragraph, "")]
    lines += ["Terms the rules use:", "", *_md_facts(terms())]
    for number, ruleset_id in enumerate(book.ids, start=1):
        lines += _md_ruleset(number, book[ruleset_id], book)
    return "\n".join(lines).rstrip("\n") + "\n"


# ---- plain text -----------------------------------------------------------------------------------------

WIDTH = 100


def _wrap(words: str, first: str = "", rest: str = "") -> list[str]:
    """`words` filled to WIDTH, the first line starting with `first`, the others with `rest`."""
    return textwrap.wrap(words, WIDTH, initial_indent=first, subsequent_indent=rest, break_on_hyphens=False)


def _heading(words: str, underline: str) -> list[str]:
    return [words, underline * len(words), ""]


def _text_facts(facts: Facts, indent: str) -> list[str]:
    lines = [line for label, words in facts for line in _wrap(f"{label}: {words}", indent, indent + "    ")]
    return [*lines, ""]


def _text_ruleset(number: int, rules: RuleSet, book: RuleBook) -> list[str]:
    lines = [*_heading(f"{number}. {rules.title}", "-"), *_text_facts(ruleset_facts(rules, book), "")]
    lines += ["Sources named in the rule set:"]
    lines += [line for citation in rules.sources.values() for line in _wrap(_one_line(citation), "  - ", "    ")]
    lines += ["", f"Rules of {rules.short_name}, in order (the first that applies is used):", ""]
    for index, rule in enumerate(rules.rules, start=1):
        lines += [f"{number}.{index} {rule.id}", *_text_facts(rule_facts(rule, rules), "    ")]
    lines += [f"Sign-off: {rules.short_name} ({SIGN_OFF} beside each line)", ""]
    lines += [f"  {index:>2}. {rule.id:<44} ______________________" for index, rule in enumerate(rules.rules, 1)]
    return [*lines, f"      {'the rule set settings':<44} ______________________", ""]


def text(book: RuleBook) -> str:
    """The review sheet as plain text (`netflow rules --format text`)."""
    lines = [*_heading(TITLE, "="),
             *_wrap("Generated by netflow rules --format text from the rule set files: do not edit it by hand; "
                    "change the rule set file and run the command again."), "",
             *_wrap(INTRO), "",
             *_heading("How to review", "-")]
    lines += [line for paragraph in HOW_TO_REVIEW for line in (*_wrap(paragraph), "")]
    lines += ["Terms the rules use:", *_text_facts(terms(), "  ")]
    for number, ruleset_id in enumerate(book.ids, start=1):
        lines += _text_ruleset(number, book[ruleset_id], book)
    return "\n".join(lines).rstrip("\n") + "\n"


FORMATS: dict[str, Callable[[RuleBook], str]] = {"markdown": markdown, "text": text}
