"""A FHIR Bulk Data Access (v2.0.0) client, authorized with SMART Backend Services: kick off a Group export,
wait for it, download its files. httpx and PyJWT; no Airflow, no database.

    server = FhirServer(base_url="https://ehr.example/fhir", token_url="https://ehr.example/token",
                        client_id="netflow", private_key=pem, key_id="netflow-2026")
    with BulkDataClient(server) as client:
        job = client.kick_off("all-net-patients", ["Patient", "Condition"], since="2026-12-01T05:00:00Z")
        manifest = client.wait(job, max_wait=6 * 3600)
        for number, item in enumerate(manifest.output, 1):
            client.download(item, folder / f"{item.type}.{number:03d}.ndjson", manifest.requires_access_token)

Authorization: a JWT client assertion (RS384 for an RSA key, ES384 for an EC key; `kid` and `typ` in its
header; iss = sub = the client id, aud = the token URL, exp five minutes ahead, a fresh `jti`) traded for an
access token with the `client_credentials` grant. Tokens are short-lived: a new one is fetched when the
last is about to expire, and once more when the server answers 401.

Every failure is a BulkDataError whose message is one line: the step, the HTTP status, the OperationOutcome
issue codes (never its free text), what to do. Never a URL (a server may put anything in one) or a token.
"""

from __future__ import annotations

import contextlib
import json
import re
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urljoin, urlsplit

import httpx
import jwt

from netflow.errors import ConfigurationError, NetflowError

__all__ = ["BulkDataClient", "BulkDataError", "CredentialsRefused", "ExportExpired", "ExportJob", "FhirServer",
           "Manifest", "ManifestFile", "issue_codes", "outcome_codes"]

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ASSERTION_LIFETIME = 300  # SMART: exp no more than five minutes in the future
TOKEN_MARGIN = 30  # seconds before expiry when a token is renewed
FIRST_POLL, MAX_POLL = 1.0, 120.0  # seconds between status requests without Retry-After, and at most
CHUNK = 1 << 20


class BulkDataError(NetflowError):
    """The EHR's Bulk Data server could not give netflow an export (one line, no URL, no token)."""


class CredentialsRefused(BulkDataError):
    """The token endpoint refused netflow's client assertion, or the server refused its access token."""


class ExportExpired(BulkDataError):
    """The export is gone at the server (404 or 410 on its status or a file): a new export is needed."""


@dataclass(frozen=True)
class FhirServer:
    """Where and as whom netflow pulls: the FHIR base URL, the token URL, the registered client id, the
    private key (PEM) whose public key the EHR holds, and its key id."""

    base_url: str
    token_url: str
    client_id: str
    private_key: str
    key_id: str
    scope: str = "system/*.read"
    timeout: float = 60.0

    def __repr__(self) -> str:  # never the private key
        return f"FhirServer(base_url={self.base_url!r}, client_id={self.client_id!r}, key_id={self.key_id!r})"


@dataclass(frozen=True)
class ExportJob:
    """A kicked-off export: the status URL to poll (keep it out of logs)."""

    status_url: str


@dataclass(frozen=True)
class ManifestFile:
    type: str
    url: str
    count: int | None = None


@dataclass(frozen=True)
class Manifest:
    """The complete-status body: what the export holds."""

    transaction_time: str
    requires_access_token: bool
    output: tuple[ManifestFile, ...]
    error: tuple[ManifestFile, ...]
    deleted: tuple[ManifestFile, ...]


OAUTH_ERRORS = frozenset({"invalid_request", "invalid_client", "invalid_grant", "unauthorized_client",
                          "unsupported_grant_type", "invalid_scope"})  # RFC 6749 section 5.2


def _body(response: httpx.Response) -> dict[str, Any]:
    try:
        body = json.loads(response.read()[:1_000_000])
    except (ValueError, httpx.HTTPError):
        return {}
    return body if isinstance(body, dict) else {}


def issue_codes(response: httpx.Response) -> list[str]:
    """The issue codes of an OperationOutcome body (FHIR IssueType codes, e.g. "processing"), sorted."""
    body = _body(response)
    if body.get("resourceType") != "OperationOutcome":
        return []
    codes = {i.get("code") for i in body.get("issue") or [] if isinstance(i, dict)}
    return sorted(c if re.fullmatch(r"[a-z-]{1,40}", c) else "?" for c in codes if isinstance(c, str))


def outcome_codes(response: httpx.Response) -> str:
    """What an error body may say in a message: "; OperationOutcome: exception" (its issue codes, never its
    text, which may quote a patient) or "; OAuth error: invalid_client" (a code of RFC 6749), else ""."""
    if _body(response).get("resourceType") == "OperationOutcome":
        return f"; OperationOutcome: {', '.join(issue_codes(response)) or 'no issue code'}"
    error = _body(response).get("error")
    if isinstance(error, str):
        return f"; OAuth error: {error if error in OAUTH_ERRORS else 'other'}"
    return ""


class BulkDataClient:
    """One export conversation with one server. `clock` and `sleep` are time.time and time.sleep unless a
    test gives others; `transport` an httpx transport (e.g. httpx.MockTransport)."""

    def __init__(self, server: FhirServer, *, clock: Callable[[], float] = time.time,
                 sleep: Callable[[float], None] = time.sleep, transport: httpx.BaseTransport | None = None) -> None:
        self.server = server
        self._clock, self._sleep = clock, sleep
        self._http = httpx.Client(timeout=server.timeout, transport=transport, follow_redirects=False)
        self._token: tuple[str, float] | None = None
        self._algorithm = _algorithm(server.private_key)

    def __enter__(self) -> BulkDataClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self._http.close()

    # --- authorization -------------------------------------------------------------------------------
    def assertion(self) -> str:
        """A signed SMART Backend Services client assertion, valid five minutes, with a fresh jti."""
        now = int(self._clock())
        claims = {"iss": self.server.client_id, "sub": self.server.client_id, "aud": self.server.token_url,
                  "exp": now + ASSERTION_LIFETIME, "iat": now, "jti": uuid.uuid4().hex}
        return jwt.encode(claims, self.server.private_key, algorithm=self._algorithm,
                          headers={"kid": self.server.key_id, "typ": "JWT"})

    def access_token(self) -> str:
        """A valid access token: the last one, or a new one when it is about to expire."""
        if self._token is not None and self._token[1] > self._clock() + TOKEN_MARGIN:
            return self._token[0]
        form = {"scope": self.server.scope, "grant_type": "client_credentials",
                "client_assertion_type": ASSERTION_TYPE, "client_assertion": self.assertion()}
        response = self._request("token request", "POST", self.server.token_url, data=form)
        if response.status_code in (400, 401, 403):
            raise CredentialsRefused(
                f"the EHR refused netflow's credentials (token request: HTTP {response.status_code}"
                f"{outcome_codes(response)}): check the client id, private key and key id of the FHIR connection "
                "and the public key registered with the EHR")
        body = self._json(response, "token request")
        token = body.get("access_token")
        if not isinstance(token, str) or not token:
            raise BulkDataError("the EHR's token response has no access_token: check the token URL of the FHIR "
                                "connection")
        lifetime = body.get("expires_in")
        lifetime = float(lifetime) if isinstance(lifetime, int | float) and lifetime > 0 else float(ASSERTION_LIFETIME)
        self._token = (token, self._clock() + lifetime)
        return token

    # --- the export ----------------------------------------------------------------------------------
    def kick_off(self, group_id: str, types: Sequence[str], since: str | None = None) -> ExportJob:
        """Start a Group export of these resource types (changed after `since`, a FHIR instant, if given)."""
        params = {"_type": ",".join(types), **({"_since": since} if since else {})}
        url = f"{self.server.base_url.rstrip('/')}/Group/{quote(group_id, safe='')}/$export"
        response = self._authorized("kick-off", "GET", url, params=params,
                                    headers={"Accept": "application/fhir+json", "Prefer": "respond-async"})
        if response.status_code == 429:
            raise BulkDataError(f"the EHR is still busy with an earlier export (kick-off: HTTP 429"
                                f"{outcome_codes(response)}); the task is retried later")
        if response.status_code != 202:
            raise self._failure("kick-off", response)
        location = response.headers.get("Content-Location")
        if not location:
            raise BulkDataError("the EHR accepted the export but gave no Content-Location to poll (kick-off): "
                                "it does not follow the Bulk Data Access IG")
        return ExportJob(urljoin(url, location))  # absolute per the IG; a relative one is read against the kick-off

    def wait(self, job: ExportJob, *, max_wait: float) -> Manifest:
        """Poll the status until the manifest is there, as often as Retry-After asks (at most every MAX_POLL
        seconds), for at most `max_wait` seconds; then the export is cancelled and BulkDataError raised."""
        deadline, backoff = self._clock() + max_wait, FIRST_POLL
        while True:
            response = self._authorized("status", "GET", job.status_url, headers={"Accept": "application/json"})
            if response.status_code == 200:
                return self._manifest(response)
            if response.status_code in (404, 410):
                raise ExportExpired(f"the export expired or was deleted at the EHR (status: HTTP "
                                    f"{response.status_code}{outcome_codes(response)}); the next attempt starts "
                                    "a new export")
            if response.status_code not in (202, 429) and "transient" not in issue_codes(response):
                raise self._failure("status", response, "the EHR reports that the export failed")
            delay = self._retry_after(response, backoff)
            backoff = min(backoff * 2, MAX_POLL)
            if self._clock() + delay > deadline:
                self.delete(job)
                raise BulkDataError(f"the export was not ready after {max_wait / 60:.0f} minutes; it was cancelled "
                                    "and the next attempt starts a new one")
            self._sleep(delay)

    def download(self, item: ManifestFile, target: Path, requires_access_token: bool,
                 step: str = "file") -> tuple[int, int]:
        """Stream one file of the manifest to `target`; (lines, bytes). A bearer token only when the manifest
        says the file server wants one, and never over plain http when the FHIR server uses https."""
        headers = {"Accept": "application/fhir+ndjson"}
        if requires_access_token:
            if urlsplit(item.url).scheme != "https" and urlsplit(self.server.base_url).scheme == "https":
                raise BulkDataError(f"{step} would need the access token sent over plain http; netflow refuses")
            headers["Authorization"] = f"Bearer {self.access_token()}"
        lines = size = 0
        try:
            with self._http.stream("GET", item.url, headers=headers) as response:
                if response.status_code == 401 and requires_access_token:
                    raise CredentialsRefused(f"the EHR refused netflow's access token for {step} (HTTP 401): check "
                                             "the scopes granted to netflow's client")
                if response.status_code in (404, 410):
                    raise ExportExpired(f"{step} is gone at the EHR (HTTP {response.status_code}): the export "
                                        "expired; the next attempt starts a new export")
                if response.status_code != 200:
                    raise self._failure(step, response)
                last = b"\n"
                with target.open("wb") as out:
                    for chunk in response.iter_bytes(CHUNK):
                        out.write(chunk)
                        lines += chunk.count(b"\n")
                        size += len(chunk)
                        last = chunk[-1:] or last
                lines += last != b"\n"  # a last line without its newline
        except httpx.HTTPError as exc:
            raise BulkDataError(f"{step} broke off ({type(exc).__name__}); the next attempt downloads it again") \
                from None
        return lines, size

    def delete(self, job: ExportJob) -> None:
        """Tell the server netflow is done with the export (or cancels it); best effort, errors ignored."""
        with contextlib.suppress(BulkDataError):
            self._authorized("delete", "DELETE", job.status_url, headers={"Accept": "application/fhir+json"})

    # --- plumbing ------------------------------------------------------------------------------------
    def _authorized(self, step: str, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """A request with the bearer token; on 401 once more with a new token, then CredentialsRefused."""
        headers = dict(kwargs.pop("headers", {}))
        headers["Authorization"] = f"Bearer {self.access_token()}"
        response = self._request(step, method, url, headers=headers, **kwargs)
        if response.status_code == 401:  # expired early, or revoked: one new token
            self._token = None
            headers["Authorization"] = f"Bearer {self.access_token()}"
            response = self._request(step, method, url, headers=headers, **kwargs)
        if response.status_code == 401:
            raise CredentialsRefused(f"the EHR refused netflow's access token ({step}: HTTP 401"
                                     f"{outcome_codes(response)}): check the scopes granted to netflow's client")
        return response

    def _request(self, step: str, method: str, url: str, **kwargs: Any) -> httpx.Response:
        try:
            return self._http.request(method, url, **kwargs)
        except httpx.HTTPError as exc:  # its message holds the URL: the class name only
            raise BulkDataError(f"cannot reach the EHR ({step}: {type(exc).__name__}); check the FHIR connection's "
                                "URLs and that the server is up") from None

    @staticmethod
    def _failure(step: str, response: httpx.Response, what: str = "the EHR refused the request") -> BulkDataError:
        return BulkDataError(f"{what} ({step}: HTTP {response.status_code}{outcome_codes(response)})")

    @staticmethod
    def _json(response: httpx.Response, step: str) -> dict[str, Any]:
        if response.status_code != 200:
            raise BulkDataClient._failure(step, response)
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise BulkDataError(f"the EHR's answer is not a JSON object ({step})")
        return body

    def _manifest(self, response: httpx.Response) -> Manifest:
        body = self._json(response, "status")
        if body.get("resourceType") == "OperationOutcome":
            raise self._failure("status", response, "the EHR answered with an OperationOutcome instead of the manifest")
        when, token = body.get("transactionTime"), body.get("requiresAccessToken")
        if not isinstance(when, str) or not when:
            raise BulkDataError("the export's manifest has no transactionTime: the EHR does not follow the IG")
        if not isinstance(token, bool):
            raise BulkDataError("the export's manifest has no requiresAccessToken (true or false): the EHR does not "
                                "follow the IG")
        return Manifest(when, token, _files(body, "output"), _files(body, "error"), _files(body, "deleted"))

    def _retry_after(self, response: httpx.Response, backoff: float) -> float:
        """Retry-After in seconds or as an HTTP date, kept within 1 s and MAX_POLL; else the backoff."""
        value = response.headers.get("Retry-After", "").strip()
        if not value:
            return backoff
        try:
            delay = float(value)
        except ValueError:
            try:
                delay = parsedate_to_datetime(value).timestamp() - self._clock()
            except (TypeError, ValueError):
                return backoff
        return min(max(delay, 1.0), MAX_POLL)


def _files(body: dict[str, Any], key: str) -> tuple[ManifestFile, ...]:
    items: Iterable[Any] = body.get(key) or []
    if not isinstance(items, list):
        raise BulkDataError(f"the export's manifest field {key} is not a list")
    files = []
    for item in items:
        if not (isinstance(item, dict) and isinstance(item.get("type"), str) and isinstance(item.get("url"), str)):
            raise BulkDataError(f"an entry of the export's manifest field {key} has no type or url")
        count = item.get("count")
        files.append(ManifestFile(item["type"], item["url"], count if isinstance(count, int) else None))
    return tuple(files)


def _algorithm(private_key: str) -> str:
    """RS384 for an RSA key, ES384 for an EC key (the two SMART asks clients to support)."""
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    try:
        key = load_pem_private_key(private_key.encode(), password=None)
    except (ValueError, TypeError):
        raise ConfigurationError("the FHIR connection's private key is not an unencrypted PEM private key") from None
    if isinstance(key, rsa.RSAPrivateKey):
        return "RS384"
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return "ES384"
    raise ConfigurationError("the FHIR connection's private key is neither RSA nor EC: SMART asks for RS384 or ES384")
