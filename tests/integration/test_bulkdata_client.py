"""The Bulk Data client against the test server: SMART Backend Services, kick-off, polling, files, errors."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from netflow.adapters.bulkdata import BulkDataClient, BulkDataError, CredentialsRefused, ExportExpired, FhirServer
from netflow.errors import ConfigurationError
from tests.support.bulk_server import BulkServer

TYPES = ["Patient", "Condition", "Observation"]


def pem_pair(key: Any) -> tuple[str, str]:
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return private, public


@pytest.fixture(scope="module")
def rsa_keys() -> tuple[str, str]:
    return pem_pair(rsa.generate_private_key(public_exponent=65537, key_size=2048))


def resources() -> dict[str, list[dict[str, Any]]]:
    return {"Patient": [{"resourceType": "Patient", "id": f"p{i}"} for i in range(3)],
            "Condition": [{"resourceType": "Condition", "id": "c1", "subject": {"reference": "Patient/p0"}}],
            "Observation": [{"resourceType": "Observation", "id": f"o{i}"} for i in range(4)]}


@pytest.fixture
def server(rsa_keys: tuple[str, str]) -> Iterator[BulkServer]:
    with BulkServer.start(client_id="netflow", public_key=rsa_keys[1], key_id="k1", resources=resources()) as s:
        yield s


def fhir(server: BulkServer, private_key: str, **kwargs: Any) -> FhirServer:
    return FhirServer(base_url=server.base_url, token_url=server.token_url, client_id="netflow",
                      private_key=private_key, key_id=kwargs.pop("key_id", "k1"), **kwargs)


def client(server: BulkServer, private_key: str, slept: list[float] | None = None, **kwargs: Any) -> BulkDataClient:
    naps = slept if slept is not None else []
    return BulkDataClient(fhir(server, private_key, **kwargs), sleep=naps.append)


def assert_safe(message: str) -> None:
    assert "127.0.0.1" not in message and "http" not in message and "Bearer" not in message
    assert "\n" not in message


def test_an_export_is_kicked_off_polled_as_retry_after_asks_and_its_files_downloaded(
        server: BulkServer, rsa_keys: tuple[str, str], tmp_path: Path) -> None:
    server.polls_before_ready, server.retry_after = 2, "3"
    slept: list[float] = []
    with client(server, rsa_keys[0], slept) as bulk:
        job = bulk.kick_off("net group/1", TYPES, since="2026-12-01T05:00:00Z")
        manifest = bulk.wait(job, max_wait=600)
        got = [bulk.download(item, tmp_path / f"{n}.ndjson", manifest.requires_access_token)
               for n, item in enumerate(manifest.output)]

    assert server.kickoffs == [{"_type": "Patient,Condition,Observation", "_since": "2026-12-01T05:00:00Z"}]
    assert slept == [3.0, 3.0]
    assert manifest.transaction_time == "2026-12-07T05:00:00.000Z" and manifest.requires_access_token
    assert [item.type for item in manifest.output] == ["Patient", "Condition", "Observation", "Observation"]
    assert [lines for lines, _ in got] == [3, 1, 2, 2]
    assert json.loads((tmp_path / "0.ndjson").read_text().splitlines()[2]) == {"resourceType": "Patient", "id": "p2"}
    assert server.token_requests == ["issued"]  # one token for the whole conversation


def test_an_ec_key_signs_with_es384(tmp_path: Path) -> None:
    private, public = pem_pair(ec.generate_private_key(ec.SECP384R1()))
    with BulkServer.start(client_id="netflow", public_key=public, key_id="k1", resources=resources()) as server, \
            client(server, private) as bulk:
        assert bulk.wait(bulk.kick_off("g", TYPES), max_wait=60).output
        assert server.token_requests == ["issued"]


def test_a_token_about_to_expire_is_renewed_with_a_fresh_jti(server: BulkServer, rsa_keys: tuple[str, str]) -> None:
    server.token_lifetime, server.polls_before_ready = 10, 2
    with client(server, rsa_keys[0]) as bulk:
        bulk.wait(bulk.kick_off("g", TYPES), max_wait=60)
    assert server.token_requests == ["issued"] * 4 and len(server.seen_jti) == 4


def test_a_key_the_ehr_does_not_know_says_the_credentials_are_wrong(server: BulkServer) -> None:
    stranger = pem_pair(rsa.generate_private_key(public_exponent=65537, key_size=2048))[0]
    with client(server, stranger) as bulk, pytest.raises(CredentialsRefused) as caught:
        bulk.kick_off("g", TYPES)
    assert str(caught.value).startswith("the EHR refused netflow's credentials (token request: HTTP 401; "
                                        "OAuth error: invalid_client): check the client id, private key and key id")
    assert_safe(str(caught.value))
    assert server.token_requests == ["jwt: InvalidSignatureError"] and server.kickoffs == []


def test_a_wrong_key_id_is_refused(server: BulkServer, rsa_keys: tuple[str, str]) -> None:
    with client(server, rsa_keys[0], key_id="other") as bulk, pytest.raises(CredentialsRefused):
        bulk.kick_off("g", TYPES)
    assert server.token_requests == ["kid or typ"]


def test_a_key_that_is_not_pem_is_a_configuration_error(server: BulkServer) -> None:
    with pytest.raises(ConfigurationError, match="not an unencrypted PEM private key"):
        client(server, "not a key")


def test_a_500_at_kick_off_names_the_step_the_status_and_the_outcome_codes(
        server: BulkServer, rsa_keys: tuple[str, str]) -> None:
    server.kickoff_failures.append(500)
    with client(server, rsa_keys[0]) as bulk, pytest.raises(BulkDataError) as caught:
        bulk.kick_off("g", TYPES)
    assert str(caught.value) == "the EHR refused the request (kick-off: HTTP 500; OperationOutcome: exception)"


def test_an_expired_export_is_export_expired(server: BulkServer, rsa_keys: tuple[str, str]) -> None:
    server.status_failure = 410
    with client(server, rsa_keys[0]) as bulk:
        job = bulk.kick_off("g", TYPES)
        with pytest.raises(ExportExpired) as caught:
            bulk.wait(job, max_wait=60)
    assert str(caught.value).startswith("the export expired or was deleted at the EHR (status: HTTP 410; "
                                        "OperationOutcome: not-found)")
    assert_safe(str(caught.value))


def test_an_expired_file_is_export_expired(server: BulkServer, rsa_keys: tuple[str, str], tmp_path: Path) -> None:
    server.file_failures["Condition.ndjson"] = 404
    with client(server, rsa_keys[0]) as bulk:
        manifest = bulk.wait(bulk.kick_off("g", TYPES), max_wait=60)
        with pytest.raises(ExportExpired, match=r"^file 2 of 4, Condition is gone at the EHR \(HTTP 404\)"):
            bulk.download(manifest.output[1], tmp_path / "c.ndjson", True, step="file 2 of 4, Condition")


def test_an_export_never_ready_is_cancelled_after_the_longest_wait(
        server: BulkServer, rsa_keys: tuple[str, str]) -> None:
    server.polls_before_ready, server.retry_after = 10**6, "Wed, 21 Oct 2015 07:28:00 GMT"  # a date long past: 1 s
    slept: list[float] = []
    with client(server, rsa_keys[0], slept) as bulk:
        job = bulk.kick_off("g", TYPES)
        with pytest.raises(BulkDataError, match="not ready after 0 minutes; it was cancelled"):
            bulk.wait(job, max_wait=0.5)
    assert slept == [] and server.deletes == ["/status/job1"]


def test_a_manifest_without_requires_access_token_is_refused(server: BulkServer, rsa_keys: tuple[str, str]) -> None:
    server.manifest_extra = {"requiresAccessToken": None}
    with client(server, rsa_keys[0]) as bulk, pytest.raises(BulkDataError, match="no requiresAccessToken"):
        bulk.wait(bulk.kick_off("g", TYPES), max_wait=60)


def test_files_that_need_no_token_are_fetched_without_one(
        server: BulkServer, rsa_keys: tuple[str, str], tmp_path: Path) -> None:
    server.requires_access_token = False
    with client(server, rsa_keys[0]) as bulk:
        manifest = bulk.wait(bulk.kick_off("g", TYPES), max_wait=60)
        server.tokens.clear()  # a bearer token now would be refused: none is sent
        assert bulk.download(manifest.output[0], tmp_path / "p.ndjson", manifest.requires_access_token)[0] == 3


def test_a_transient_outcome_while_polling_is_waited_out(server: BulkServer, rsa_keys: tuple[str, str]) -> None:
    server.status_transient, server.retry_after = 2, "5"
    slept: list[float] = []
    with client(server, rsa_keys[0], slept) as bulk:
        manifest = bulk.wait(bulk.kick_off("g", TYPES), max_wait=600)
    assert manifest.output and slept == [5.0, 5.0, 5.0]


def test_a_revoked_token_is_replaced_once_and_the_request_repeated(
        server: BulkServer, rsa_keys: tuple[str, str]) -> None:
    with client(server, rsa_keys[0]) as bulk:
        job = bulk.kick_off("g", TYPES)
        server.tokens.clear()  # the EHR forgot the token before it expired
        assert bulk.wait(job, max_wait=60).output
    assert server.token_requests == ["issued", "issued"]


def test_an_error_body_gives_its_issue_codes_never_its_text(server: BulkServer, rsa_keys: tuple[str, str]) -> None:
    server.kickoff_failures.append(400)
    with client(server, rsa_keys[0]) as bulk, pytest.raises(BulkDataError) as caught:
        bulk.kick_off("g", TYPES)
    assert "something went wrong" not in str(caught.value) and "OperationOutcome: exception" in str(caught.value)


def test_the_last_landed_transaction_time_is_kept_per_group_and_a_failure_leaves_it(migrated_engine: Any) -> None:
    from datetime import UTC, datetime

    from netflow.adapters.fhir_exports import FhirExportStore

    store, at = FhirExportStore(migrated_engine), datetime(2026, 12, 7, 5, 0, tzinfo=UTC)
    assert store.since("a") is None
    store.landed("a", "2026-12-07T05:00:00.123+01:00", "fhir-export-a-1", at=at)
    store.failed("a", "the EHR refused the request (kick-off: HTTP 500)", at=at)
    store.landed("b", "2026-12-01T00:00:00Z", "fhir-export-b-1", at=at)

    assert store.since("a") == "2026-12-07T05:00:00.123+01:00" and store.since("b") == "2026-12-01T00:00:00Z"
    state = store.state("a")
    assert state is not None and state.last_status == "failed" and state.last_folder == "fhir-export-a-1"
    assert state.last_error == "the EHR refused the request (kick-off: HTTP 500)" and state.updated_at == at
