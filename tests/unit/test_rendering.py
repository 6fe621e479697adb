"""Rendering digests to plain text and HTML: escaping, parity, strictness and the golden files.

Set NETFLOW_UPDATE_GOLDEN=1 to rewrite tests/golden/ from the current templates, then look at
the difference (and at the HTML in a browser) before committing it.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import jinja2
import pytest
from markupsafe import escape

from netflow.adapters.rendering import environment, render_digest, render_steward, render_template
from netflow.domain.record import FieldError
from netflow.domain.steward import StewardItem, build_steward_digest
from tests.support.digests import AS_OF, WORKLIST_URL, item, sample_digest

GOLDEN = Path(__file__).resolve().parent.parent / "golden"
HOSTILE = "<b>O'Brien & Sons</b>"


@pytest.mark.parametrize("suffix", ["txt", "html"])
def test_the_sample_digest_renders_exactly_as_the_golden_file(suffix: str) -> None:
    text, html = render_digest(sample_digest())
    rendered = text if suffix == "txt" else html
    golden = GOLDEN / f"digest.{suffix}"

    if os.environ.get("NETFLOW_UPDATE_GOLDEN") == "1":
        golden.write_text(rendered, encoding="utf-8")
    assert rendered == golden.read_text(encoding="utf-8"), (
        f"{golden} differs; if the change is intended, rerun with NETFLOW_UPDATE_GOLDEN=1 and review it")


def test_html_escapes_hostile_names_and_the_text_keeps_them_intact() -> None:
    digest = sample_digest("full")

    text, html = render_digest(digest)

    assert "&lt;b&gt;O&#39;Brien &amp; Sons&lt;/b&gt;" in html
    assert HOSTILE not in html and "<b>O'Brien" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script" not in html
    assert f"Patient       {HOSTILE}" in text
    assert "Mehmet <script>alert(1)</script> Öz" in text


def test_non_ascii_names_and_words_survive_in_both_parts() -> None:
    text, html = render_digest(sample_digest("full"))

    for words in ("Ana María O'Brien-Smith".replace("'", "&#39;"), "李小龍", "Zoë Saldaña", "Søren"):
        assert words in html
    for words in ("Ana María O'Brien-Smith", "李小龍", "Zoë Saldaña", "Søren", "2024-06-10 – 2025-06-10"):
        assert words in text


def test_text_and_html_carry_the_same_rows() -> None:
    digest = sample_digest("full")

    text, html = render_digest(digest)

    rows = [row for section in digest.sections for row in section.rows]
    assert len(rows) == 9
    for row in rows:
        for cell in (row.mrn, row.status, row.window, row.risk, row.modality, row.rule, row.explanation):
            assert cell in text, cell
            assert escape(cell) in html, cell
    for section in digest.shown:
        assert section.title.upper() in text
        assert str(escape(section.title)) in html


def test_each_patient_appears_once_in_each_part() -> None:
    text, html = render_digest(sample_digest())

    for mrn in ("MRN-1001", "MRN-1005", "MRN-1009"):
        assert text.count(mrn) == 1
        assert html.count(mrn) == 1


def test_empty_sections_are_left_out_of_both_parts() -> None:
    digest = sample_digest(items=[item("due", "MRN-1", "Ana", status="due", window_open="2026-11-20",
                                       window_close="2026-11-20", explanation="Due now.")])

    text, html = render_digest(digest)

    assert "DUE NOW · 1" in text and "Due now" in html
    for title in ("Escalated", "Overdue", "Due in the next 30 days", "High-risk flags",
                  "Needs clinician review", "No surveillance planned (confirm)"):
        assert title.upper() not in text
        assert title not in html


def test_the_footer_has_totals_sources_rule_sets_the_reason_and_the_worklist_link() -> None:
    digest = sample_digest()

    text, html = render_digest(digest)

    for part in (text, html):
        assert "142 under surveillance" in part
        assert "Singh S, Moody L, Chan DL" in part
        assert "netflow rules v1" in part
        assert "Sent to the nurse navigators of GI Oncology East" in part
        assert WORKLIST_URL in part
    assert f'href="{digest.team_url}"' in html


def test_the_html_relies_on_inline_styles_only_and_loads_nothing() -> None:
    _, html = render_digest(sample_digest())

    assert not re.search(r"<(style|link|script|img|iframe)\b", html, re.IGNORECASE)
    assert not re.search(r"\b(src|class)=", html)
    urls = re.findall(r'https?://[^"<\s]+', html)
    assert urls and all(url.startswith(WORKLIST_URL) and "MRN" not in url for url in urls)
    assert "max-width:680px" in html


def test_strict_undefined_makes_a_missing_variable_an_error() -> None:
    with pytest.raises(jinja2.UndefinedError):
        render_template("email/digest.txt", {})
    with pytest.raises(jinja2.UndefinedError):
        render_template("email/digest.html", {})


def test_a_template_using_a_field_the_digest_lacks_raises(tmp_path: Path) -> None:
    (tmp_path / "email").mkdir()
    (tmp_path / "email" / "digest.txt").write_text("{{ digest.team_nmae }}\n", encoding="utf-8")
    (tmp_path / "email" / "digest.html").write_text("{{ digest.team_name }}\n", encoding="utf-8")

    with pytest.raises(jinja2.UndefinedError, match="team_nmae"):
        render_digest(sample_digest(), templates_dir=tmp_path)


def test_autoescape_is_on_for_html_templates_only(tmp_path: Path) -> None:
    (tmp_path / "a.html").write_text("{{ x }}", encoding="utf-8")
    (tmp_path / "a.txt").write_text("{{ x }}", encoding="utf-8")

    assert render_template("a.html", {"x": "<&>"}, templates_dir=tmp_path) == "&lt;&amp;&gt;"
    assert render_template("a.txt", {"x": "<&>"}, templates_dir=tmp_path) == "<&>"


def test_the_environment_is_built_once_per_templates_folder(tmp_path: Path) -> None:
    assert environment() is environment()
    assert environment(tmp_path) is environment(str(tmp_path))
    assert environment(tmp_path) is not environment()


def test_a_missing_templates_folder_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="templates_dir="):
        environment(tmp_path / "nowhere")


def test_the_steward_digest_shows_every_problem_escaped_in_html_and_intact_in_text() -> None:
    items = [StewardItem("imports/2026-12-01 <east>.jsonl", 12, "MRN-<7>",
                         [FieldError("birth_date", "is not a date: '1960-13-45'"),
                          FieldError("grade", "must be 1, 2 or 3 & not \"G4\"")]),
             StewardItem("imports/west.csv", None, None, [FieldError("line", "3 is not valid JSON")])]
    digest = build_steward_digest(as_of=AS_OF, run_id="run-9", items=items, worklist_url=WORKLIST_URL)

    text, html = render_steward(digest)

    assert "2 records failed validation on import" in text and "2 records failed validation" in html
    assert "imports/2026-12-01 <east>.jsonl" in text and "imports/2026-12-01 &lt;east&gt;.jsonl" in html
    assert "- grade: must be 1, 2 or 3 & not \"G4\"" in text
    assert "must be 1, 2 or 3 &amp; not &#34;G4&#34;" in html
    assert "Record (MRN)  —" in text
    assert "MRN-&lt;7&gt;" in html and "<7>" not in html
    assert WORKLIST_URL in text and f'href="{WORKLIST_URL}"' in html


def test_rows_left_out_of_a_long_section_are_counted_in_both_parts_with_the_worklist_link() -> None:
    from datetime import date

    from netflow.adapters.rendering import render_digest
    from netflow.domain.digest import DigestItem, WorklistTotals, build_digest
    from netflow.guidelines import load_rulebook

    items = [DigestItem("due", f"MRN{i:04d}", None,
                        {"status": "due", "window_open": "2026-11-01", "window_close": "2027-01-01",
                         "risk_tier": "standard", "risk_reasons": [], "guideline": "nccn",
                         "rule_id": "nccn/pancreas/standard", "explanation": "due"}) for i in range(5)]
    digest = build_digest(team_key="t", team_name="T", as_of=date(2026, 12, 1), run_id="r", items=items,
                          totals=WorklistTotals(), rulesets=[load_rulebook()["nccn"]],
                          worklist_url="https://w.example/list", max_rows=2)

    text, html = render_digest(digest)

    assert "... and 3 more in this section" in text and "https://w.example/list" in text
    assert "and <b>3</b> more in this section" in html
    assert text.count("MRN000") == html.count("MRN000") == 2
