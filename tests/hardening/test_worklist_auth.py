"""The worklist as deployed: Airflow's own API server app (airflow.api_fastapi.app.create_app) with the
netflow plugin mounted at /netflow and Airflow's auth manager. Every route of the worklist app (the
follow-up POSTs included), asked without a session, with a forged token, a forged cookie or an expired
token, answers 401, 403 or a redirect to the Airflow login, and never with an MRN or a name; the same
routes answer a signed-in admin (so the refusals are the login's doing, not a broken mount).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from netflow.adapters.db import make_engine
from netflow.adapters.tables import patients
from netflow.config import Settings
from tests.dags.conftest import AIRFLOW_HOME
from tests.hardening.conftest import DemoFiles, copy_database, identifiers


@pytest.fixture
def airflow_api(airflow_db: Path, demo_sqlite: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                ) -> Iterator[TestClient]:
    """Airflow's API server app in this process, its worklist on a copy of the demo cohort.

    The plugin's registration gets a fresh LazyApp, built on its first request, so on this test's
    database rather than on one an earlier test built it for. Afterwards the auth manager Airflow
    keeps in global state is dropped again (purge_cached_app)."""
    from airflow import plugins_manager
    from airflow.api_fastapi.app import create_app, purge_cached_app

    from netflow_airflow.worklist import LazyApp
    from netflow_airflow.worklist.webapp import create_app as create_worklist

    monkeypatch.setenv("NETFLOW_DATABASE_URL", copy_database(demo_sqlite, tmp_path / "db"))
    registrations, _ = plugins_manager.get_fastapi_plugins()  # plugins/netflow_plugin.py, loaded as Airflow does
    netflow = [r for r in registrations if r.get("url_prefix") == "/netflow"]
    assert len(netflow) == 1, registrations
    monkeypatch.setitem(netflow[0], "app", LazyApp(create_worklist))
    try:
        with TestClient(create_app(apps="core"), raise_server_exceptions=False) as client:
            yield client
    finally:
        purge_cached_app()


def routes(ref: str, team: str) -> list[tuple[str, str]]:
    """Every (method, path) of the worklist app, as mounted at /netflow, with a stored patient's reference,
    its team and a follow-up id in it."""
    from netflow_airflow.worklist.webapp import create_app

    found = [(method, route.path) for route in create_app(Settings.from_env).routes  # type: ignore[attr-defined]
             for method in route.methods]  # type: ignore[attr-defined]
    assert len(found) >= 18
    return [(method, "/netflow" + p.replace("{ref}", ref).replace("{team}", team).replace("{follow_up_id}", "1"))
            for method, p in found]


def a_stored_patient() -> tuple[str, str]:
    """The reference and team of the first stored patient."""
    engine = make_engine(Settings.from_env().database_url)
    try:
        with engine.connect() as conn:
            row = conn.execute(select(patients.c.ref, patients.c.care_team).order_by(patients.c.patient_id)).first()
            assert row is not None
            return str(row.ref), str(row.care_team)
    finally:
        engine.dispose()


def signed_in_token(client: TestClient) -> str:
    passwords = json.loads(next(AIRFLOW_HOME.glob("simple_auth_manager_passwords.json*")).read_text())
    user, password = next(iter(passwords.items()))
    response = client.post("/auth/token", json={"username": user, "password": password})
    assert response.status_code == 201, response.text
    token: str = response.json()["access_token"]
    return token


def resigned(token: str, **claims: Any) -> str:
    """The token with some claims changed, signed again with the API server's own secret."""
    from airflow.configuration import conf

    header = jwt.get_unverified_header(token)
    payload = {**jwt.decode(token, options={"verify_signature": False}), **claims}
    return jwt.encode(payload, conf.get("api_auth", "jwt_secret"), algorithm=header["alg"],
                      headers={"kid": header.get("kid")})


def test_every_worklist_route_refuses_requests_without_a_valid_airflow_session_and_shows_no_patient(
        airflow_api: TestClient, demo_files: DemoFiles) -> None:
    cohort = identifiers(demo_files.cohort)
    ref, team = a_stored_patient()
    token = signed_in_token(airflow_api)
    now = int(time.time())
    forged = jwt.encode({"sub": "admin", "role": "ADMIN", "exp": now + 3600}, "not-the-secret", algorithm="HS512")
    attempts: dict[str, dict[str, Any]] = {
        "no session": {},
        "browser, no session": {"headers": {"Accept": "text/html"}},
        "forged bearer token": {"headers": {"Authorization": f"Bearer {forged}"}},
        "forged cookie": {"cookies": {"_token": forged}},
        "expired token": {"headers": {"Authorization": f"Bearer {resigned(token, exp=now - 60)}"}},
        "basic auth": {"headers": {"Authorization": "Basic YWRtaW46YWRtaW4="}},
        "garbage token": {"headers": {"Authorization": "Bearer x.y.z"}},
    }
    refused: dict[str, int] = {}

    for method, path in routes(ref, team):
        for name, how in attempts.items():
            airflow_api.cookies.clear()
            for key, value in how.get("cookies", {}).items():
                airflow_api.cookies.set(key, value)
            response = airflow_api.request(method, path, headers=how.get("headers", {}), follow_redirects=False,
                                           params={"since": "2026-01-01"}, json={"action": "note", "note": "x"})
            refused[f"{path} ({name})"] = response.status_code
            assert response.status_code in (401, 403, 303, 307), (path, name, response.status_code)
            if response.status_code in (303, 307):
                assert re.search(r"/auth/login\b", response.headers["location"]), response.headers
            assert cohort.found_in(response.text) == [], (path, name)
        airflow_api.cookies.clear()
        signed_in = airflow_api.request(method, path, params={"since": "2026-01-01"}, json={},
                                        headers={"Authorization": f"Bearer {resigned(token, exp=now + 600)}"})
        # a GET answers; a POST gets as far as checking its (empty) request: 422, not a refusal
        assert signed_in.status_code == (200 if method == "GET" else 422), (path, signed_in.status_code,
                                                                             signed_in.text[:300])

    assert {code for key, code in refused.items() if "(no session)" in key} == {401}
