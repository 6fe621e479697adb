"""The worklist in a real Airflow: `airflow api-server` with the plugin, driven by Debian's Chromium.

A synthetic cohort (`netflow demo-data`, reminded once so runs, digests and events exist; its teams
file makes the user `nurse` a member of GI Oncology East, as `make run` does), then one overdue patient
of that team imported after the reminders (no event yet: the next remind would escalate them). A
fresh AIRFLOW_HOME with a migrated metadata database and SimpleAuthManager (admin/admin, role ADMIN;
nurse/nurse, role USER), the API server on a free port. The admin signs in, opens "NET surveillance"
from the navigation, switches team and opens a patient. The nurse signs in, sees only her team, books
a scan for that patient from the worklist and finds it on the patient page; the next day's remind
records no reminder for the patient, and once the booked date and the grace period pass without a
scan the patient comes back ("booked scan not on record"). A screenshot of each page goes to
tests/artifacts/ and the nurse's worklist to docs/worklist.png. The server's process group is killed
at the end, pass or fail.

Needs /usr/bin/chromium (`apt-get install chromium`; `make browser` does it) and the `playwright`
package; never a browser downloaded by `playwright install`.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from netflow.adapters.mail import FakeMailer
from netflow.cli import main as netflow
from netflow.config import Settings
from netflow.installation import Installation
from netflow.services.daily import remind
from tests.support.records import record, scan

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "tests" / "artifacts"
DOCS_SHOT = ROOT / "docs" / "worklist.png"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
BIN = Path(sys.executable).parent
MRN = re.compile(r"MRN\d{7}")
DESKTOP = {"width": 1440, "height": 1000}
# Overdue since 2025 and high risk, imported after the reminders: no event yet.
BOOKED_MRN = "MRN9990001"
GRACE_DAYS = 30  # the built-in rule sets' grace period
WINDOW_REMINDERS = {"due_soon", "due", "overdue", "escalated"}
TABLET = {"width": 820, "height": 1180}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    url: str
    log: Path
    database_url: str = ""


def airflow_env(home: Path, port: int, database_url: str) -> dict[str, str]:
    """The environment of the Airflow commands: nothing inherited from AIRFLOW_* or NETFLOW_* variables."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "NETFLOW_"))}
    (home / "dags").mkdir(parents=True, exist_ok=True)
    (home / "passwords.json").write_text('{"admin": "admin", "nurse": "nurse"}', encoding="utf-8")
    env.update({
        "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}",
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin,nurse:user",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "passwords.json"),
        "AIRFLOW__API_AUTH__JWT_SECRET": "netflow-browser-test-" + "0" * 32,
        "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
        "NETFLOW_DATABASE_URL": database_url,
        "NETFLOW_TIMEZONE": "UTC",
    })
    return env


@pytest.fixture(scope="module")
def tmp_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("browser")


def build_demo_database(directory: Path) -> str:
    """400 synthetic patients in 4 care teams, reminded today (events, digests to a FakeMailer, a run), then
    BOOKED_MRN imported into gi-onc-east."""
    url = f"sqlite:///{directory / 'netflow.db'}"
    today = datetime.now(UTC).date()
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setenv("NETFLOW_DATABASE_URL", url)
        assert netflow(["db", "upgrade"]) == 0
        assert netflow(["demo-data", "--patients", "400", "--seed", "7", "--as-of", today.isoformat(),
                        "--out", str(directory / "patients.jsonl"), "--teams-out", str(directory / "teams.yaml")]) == 0
        assert netflow(["teams", "load", str(directory / "teams.yaml")]) == 0
        assert netflow(["import", str(directory / "patients.jsonl")]) == 0
    with Installation.from_settings(Settings(database_url=url), mailer=FakeMailer) as inst:
        remind(inst, today, f"scheduled__{today.isoformat()}T06:00:00+00:00")
    late = record(patient_id=BOOKED_MRN, name="Nora Booked", care_team="gi-onc-east", nodes_positive=2,
                  imaging=[scan((today - timedelta(days=500)).isoformat())])
    (directory / "late.jsonl").write_text(json.dumps(late) + "\n", encoding="utf-8")
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setenv("NETFLOW_DATABASE_URL", url)
        assert netflow(["import", str(directory / "late.jsonl")]) == 0
    return url


@pytest.fixture(scope="module")
def airflow(tmp_dir: Path) -> Iterator[Server]:
    """`airflow api-server` with the netflow plugin on a free port, on a demo patient database; the server's
    process group is stopped afterwards. The metadata database migrates while the demo data is built."""
    port = free_port()
    database_url = f"sqlite:///{tmp_dir / 'netflow.db'}"
    env = airflow_env(tmp_dir / "airflow", port, database_url)
    migrating = subprocess.Popen([str(BIN / "airflow"), "db", "migrate"], env=env, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.PIPE, start_new_session=True)
    try:
        assert build_demo_database(tmp_dir) == database_url
        _, errors = migrating.communicate(timeout=120)
    finally:
        _stop(migrating)
    assert migrating.returncode == 0, errors.decode(errors="replace")[-2000:]
    log = tmp_dir / "api-server.log"
    with open(log, "wb") as out:
        process = subprocess.Popen([str(BIN / "airflow"), "api-server", "--port", str(port), "--workers", "1",
                                    "--apps", "core"],
                                   env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/api/v2/monitor/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the API server did not start:\n{log.read_text(errors='replace')[-3000:]}")
            time.sleep(0.25)
        yield Server(url, log, database_url)
    finally:
        _stop(process)


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the process group, SIGKILL if it is still there after 10 seconds."""
    if process.poll() is not None:
        return
    for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 10)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def browser() -> Any:
    if not CHROMIUM.exists():
        pytest.fail("Debian's Chromium is missing at /usr/bin/chromium: run `make browser` "
                    "(apt-get install chromium); never `playwright install`")
    from playwright.sync_api import sync_playwright

    return sync_playwright()


def shot(page: Any, name: str, **options: Any) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), **options)
    return path


def sign_in(page: Any, url: str, name: str) -> None:
    """Airflow's login page; the demo's passwords are the user names."""
    page.goto(url)
    page.get_by_label("Username").fill(name)
    page.get_by_label("Password").fill(name)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{url}/")


def test_an_admin_signs_in_opens_the_worklist_switches_team_and_opens_a_patient(airflow: Server) -> None:
    with browser() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            context = chromium.new_context(viewport=DESKTOP)
            context.set_default_timeout(15_000)
            page = context.new_page()

            # Anonymous: the worklist sends the browser to Airflow's login page.
            page.goto(f"{airflow.url}/netflow/")
            assert "/auth/login" in page.url
            assert not MRN.search(page.content())

            sign_in(page, airflow.url, "admin")

            page.get_by_role("link", name="NET surveillance").click()
            page.wait_for_url(re.compile(r"/plugin/netflow"))
            worklist = page.frame_locator('iframe[title="NET surveillance"]')
            first_team = worklist.get_by_label("Care team").locator("option[selected]").inner_text()
            assert worklist.locator("h1").inner_text() == first_team
            assert worklist.locator(".tile", has_text="Escalated").first.is_visible()
            assert worklist.get_by_role("heading", name=re.compile(r"^\d+ patients")).is_visible()
            shot(page, "worklist-in-airflow")

            teams = worklist.get_by_label("Care team").locator("option").all_inner_texts()
            other = teams[1]
            worklist.get_by_label("Care team").select_option(label=other)
            worklist.get_by_role("button", name="Show").click()
            worklist.locator("h1", has_text=other).wait_for()
            shot(page, "worklist-other-team")

            mrn = worklist.locator("table.rows tbody th a").first.inner_text()
            worklist.get_by_role("link", name=mrn).first.click()
            worklist.locator("h1", has_text=mrn).wait_for()
            assert worklist.get_by_role("heading", name="Surveillance windows and reminders").is_visible()
            shot(page, "patient-in-airflow")

            worklist.get_by_role("link", name="Overview").click()
            worklist.get_by_role("heading", name="Care teams side by side").wait_for()
            shot(page, "overview-in-airflow")
            worklist.get_by_role("link", name="Data quality").click()
            worklist.get_by_role("heading", name="Imported rows awaiting a fix").wait_for()
            shot(page, "quarantine-in-airflow")

            # The same pages on their own (the digest emails link there), on a laptop and a tablet.
            page.goto(f"{airflow.url}/netflow/")
            shot(page, "worklist")
            page.keyboard.press("Tab")
            assert page.evaluate("document.activeElement.textContent") == "Skip to content"
            page.goto(f"{airflow.url}/netflow/overview")
            shot(page, "overview", full_page=True)
            tablet = context.new_page()
            tablet.set_viewport_size(TABLET)
            tablet.goto(f"{airflow.url}/netflow/")
            shot(tablet, "worklist-tablet")
            width = tablet.evaluate("document.documentElement.scrollWidth")
            assert width <= TABLET["width"], "the worklist must not scroll sideways on a tablet"
        finally:
            chromium.close()

    assert not MRN.search(airflow.log.read_text(errors="replace")), "the API server log names a patient"


def test_the_api_refuses_a_missing_or_forged_token_and_accepts_a_real_one(airflow: Server) -> None:
    anonymous = httpx.get(f"{airflow.url}/netflow/api/worklist")
    forged = httpx.get(f"{airflow.url}/netflow/api/worklist", headers={"Authorization": "Bearer forged.token.value"})
    token = httpx.post(f"{airflow.url}/auth/token", json={"username": "admin", "password": "admin"}).json()
    signed_in = httpx.get(f"{airflow.url}/netflow/api/worklist",
                          headers={"Authorization": f"Bearer {token['access_token']}"})

    assert anonymous.status_code == 401 and not MRN.search(anonymous.text)
    assert forged.status_code in (401, 403) and not MRN.search(forged.text)
    assert signed_in.status_code == 200
    assert MRN.search(signed_in.text)


def events_of(database_url: str, patient_id: str, on: date) -> list[str]:
    """The kinds of the events recorded for the patient by a run on `on`."""
    with Installation.from_settings(Settings(database_url=database_url), mailer=FakeMailer) as inst:
        return [e.kind for e in inst.db.ledger.patient_events(patient_id) if e.as_of == on]


def reminded(database_url: str, on: date) -> dict[str, int]:
    with Installation.from_settings(Settings(database_url=database_url), mailer=FakeMailer) as inst:
        return dict(remind(inst, on, f"cli-{on.isoformat()}").as_counts().get("events", {}))


def test_a_nurse_sees_only_her_team_books_a_scan_and_the_reminders_follow_the_booking(airflow: Server) -> None:
    today = datetime.now(UTC).date()
    booked = today + timedelta(days=14)
    with browser() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            context = chromium.new_context(viewport=DESKTOP)
            context.set_default_timeout(15_000)
            page = context.new_page()
            sign_in(page, airflow.url, "nurse")

            page.goto(f"{airflow.url}/netflow/")
            assert page.get_by_label("Care team").locator("option").all_inner_texts() == ["GI Oncology East"]
            assert page.locator("h1").inner_text() == "GI Oncology East"
            assert "Audit trail" not in page.content()
            other = page.goto(f"{airflow.url}/netflow/?team=endo-north")
            assert other is not None and other.status == 403
            assert "does not list you" in page.content() and not MRN.search(page.content())

            page.goto(f"{airflow.url}/netflow/?team=gi-onc-east&q={BOOKED_MRN[3:]}")
            row = page.locator("#worklist tbody.patient", has_text=BOOKED_MRN)
            row.get_by_text("Book a scan").click()
            row.get_by_label("Booked scan date").fill(booked.isoformat())
            row.get_by_role("button", name="Book").click()
            page.wait_for_load_state()
            text = f"booked for {booked.isoformat()} by nurse"
            page.locator("#worklist tbody.patient", has_text=text).wait_for()
            assert "q=" in page.url  # back on the worklist she booked from

            page.goto(f"{airflow.url}/netflow/?team=gi-onc-east&sort=mrn&order=desc")  # hers near the top
            page.locator("#worklist tbody.patient").nth(1).get_by_text("Book a scan").click()
            DOCS_SHOT.parent.mkdir(exist_ok=True)
            shutil.copyfile(shot(page, "nurse-worklist"), DOCS_SHOT)
            page.goto(f"{airflow.url}/netflow/?team=gi-onc-east&q={BOOKED_MRN[3:]}")
            page.locator("#worklist").get_by_role("link", name=BOOKED_MRN).click()
            page.locator("h1", has_text=BOOKED_MRN).wait_for()
            assert f"In force: {text}" in page.content()
            assert BOOKED_MRN not in page.url  # the page's address is the patient's reference
            shot(page, "nurse-patient-booked", full_page=True)
        finally:
            chromium.close()

    # The next day's remind: without the booking the patient would be escalated (no event yet).
    tomorrow = today + timedelta(days=1)
    counts = reminded(airflow.database_url, tomorrow)
    assert not WINDOW_REMINDERS & set(events_of(airflow.database_url, BOOKED_MRN, tomorrow))  # high_risk may come
    assert counts.get("suppressed_by_follow_up", 0) >= 1
    # The booked date and the grace period pass with no scan on record: the patient comes back.
    lapsed = booked + timedelta(days=GRACE_DAYS + 1)
    reminded(airflow.database_url, lapsed)
    kinds = events_of(airflow.database_url, BOOKED_MRN, lapsed)
    assert "booking_lapsed" in kinds and (WINDOW_REMINDERS & set(kinds))
    assert not MRN.search(airflow.log.read_text(errors="replace")), "the API server log names a patient"
