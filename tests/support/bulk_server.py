"""A small FHIR Bulk Data server for the tests, following the Bulk Data Access IG v2.0.0 and SMART Backend
Services: a token endpoint that checks the client assertion, a Group kick-off, status polling, the manifest
and the files. A threaded stdlib http.server on a free port of 127.0.0.1.

    with BulkServer.start(client_id="netflow", public_key=pem, key_id="k1", resources=...) as server:
        server.base_url, server.token_url        # what the netflow_fhir connection names
        server.kickoff_failures.append(500)      # the next kick-off answers 500 with an OperationOutcome
        server.status_failure = 410              # the export expired
        server.kickoffs[-1]["_since"]            # what the client asked for

The token endpoint checks the JWT's signature with the registered public key, its `kid`, `typ`, `iss` and
`sub` (the client id), `aud` (the token URL), `exp` (present, at most five minutes ahead) and that its `jti`
was never seen; anything wrong is 401 invalid_client. Every other endpoint wants a token it issued.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def outcome(code: str, text: str = "something went wrong") -> dict[str, Any]:
    return {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": code, "diagnostics": text}]}


@dataclass
class BulkServer:
    client_id: str
    public_key: str
    key_id: str
    resources: dict[str, list[dict[str, Any]]]
    transaction_time: str = "2026-12-07T05:00:00.000Z"
    polls_before_ready: int = 1
    retry_after: str = "1"
    requires_access_token: bool = True
    token_lifetime: int = 300
    kickoff_failures: list[int] = field(default_factory=list)
    status_failure: int | None = None
    status_transient: int = 0  # answers 503 with a `transient` OperationOutcome this many times first
    file_failures: dict[str, int] = field(default_factory=dict)
    manifest_extra: dict[str, Any] = field(default_factory=dict)
    # what happened
    kickoffs: list[dict[str, str]] = field(default_factory=list)
    token_requests: list[str] = field(default_factory=list)  # "issued" or why it was refused
    seen_jti: set[str] = field(default_factory=set)
    tokens: set[str] = field(default_factory=set)
    deletes: list[str] = field(default_factory=list)
    downloads: list[str] = field(default_factory=list)
    polls: int = 0
    port: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    @contextmanager
    def start(cls, **kwargs: Any) -> Iterator[BulkServer]:
        server = cls(**kwargs)
        httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(server))
        server.port = httpd.server_address[1]
        thread = threading.Thread(target=httpd.serve_forever, name="bulk-server", daemon=True)
        thread.start()
        try:
            yield server
        finally:
            httpd.shutdown()
            httpd.server_close()
            thread.join(5)

    @property
    def root(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.root}/fhir"

    @property
    def token_url(self) -> str:
        return f"{self.root}/auth/token"

    # --- the token endpoint ------------------------------------------------------------------------
    def check_assertion(self, form: dict[str, str]) -> str | None:
        """None when the token request is good, else why not."""
        if form.get("grant_type") != "client_credentials":
            return "grant_type"
        if form.get("client_assertion_type") != ASSERTION_TYPE:
            return "client_assertion_type"
        if not form.get("scope"):
            return "scope"
        assertion = form.get("client_assertion", "")
        try:
            header = jwt.get_unverified_header(assertion)
            claims = jwt.decode(assertion, self.public_key, algorithms=["RS384", "ES384"], audience=self.token_url,
                                options={"require": ["iss", "sub", "aud", "exp", "jti"]})
        except jwt.PyJWTError as exc:
            return f"jwt: {type(exc).__name__}"
        if header.get("kid") != self.key_id or header.get("typ") != "JWT":
            return "kid or typ"
        if claims["iss"] != self.client_id or claims["sub"] != self.client_id:
            return "iss or sub"
        if claims["exp"] > time.time() + 300 + 5:
            return "exp more than five minutes ahead"
        with self.lock:
            if claims["jti"] in self.seen_jti:
                return "jti replayed"
            self.seen_jti.add(claims["jti"])
        return None

    def issue_token(self) -> str:
        token = secrets.token_urlsafe(24)
        with self.lock:
            self.tokens.add(token)
        return token

    # --- the export --------------------------------------------------------------------------------
    def files(self) -> dict[str, list[dict[str, Any]]]:
        """The files of the export: one per resource type that has resources, Observations in two."""
        named: dict[str, list[dict[str, Any]]] = {}
        for kind, items in self.resources.items():
            if kind == "Observation" and len(items) > 1:
                half = len(items) // 2
                named["Observation-1.ndjson"], named["Observation-2.ndjson"] = items[:half], items[half:]
            elif items:
                named[f"{kind}.ndjson"] = items
        return named

    def manifest(self) -> dict[str, Any]:
        output = [{"type": name.split(".")[0].split("-")[0], "url": f"{self.root}/files/job1/{name}",
                   "count": len(items)} for name, items in self.files().items()]
        return {"transactionTime": self.transaction_time,
                "request": f"{self.base_url}/Group/x/$export", "requiresAccessToken": self.requires_access_token,
                "output": output, "error": [], **self.manifest_extra}


def _handler(server: BulkServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

        def _send(self, status: int, body: Any = None, headers: dict[str, str] | None = None,
                  content_type: str = "application/fhir+json") -> None:
            data = b"" if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
            self.send_response(status)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _authorized(self, needed: bool = True) -> bool:
            token = self.headers.get("Authorization", "").removeprefix("Bearer ")
            if token in server.tokens or not needed:
                return True
            self._send(401, outcome("login", "no valid access token"))
            return False

        def do_POST(self) -> None:
            if urlsplit(self.path).path != "/auth/token":
                return self._send(404, outcome("not-found"))
            raw = self.rfile.read(int(self.headers.get("Content-Length", "0"))).decode()
            form = {k: v[0] for k, v in parse_qs(raw).items()}
            problem = server.check_assertion(form)
            server.token_requests.append(problem or "issued")
            if problem:
                return self._send(401, {"error": "invalid_client", "error_description": problem},
                                  content_type="application/json")
            self._send(200, {"access_token": server.issue_token(), "token_type": "bearer",
                             "expires_in": server.token_lifetime, "scope": form["scope"]},
                       content_type="application/json")

        def do_DELETE(self) -> None:
            if self._authorized():
                server.deletes.append(urlsplit(self.path).path)
                self._send(202)

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            path = parts.path
            if not self._authorized(needed=not (path.startswith("/files/") and not server.requires_access_token)):
                return
            if path.startswith("/fhir/Group/") and path.endswith("/$export"):
                return self._kick_off(parts.query)
            if path == "/status/job1":
                return self._status()
            if path.startswith("/files/job1/"):
                return self._file(path.rsplit("/", 1)[1])
            self._send(404, outcome("not-found"))

        def _kick_off(self, query: str) -> None:
            asked = {k: ",".join(v) for k, v in parse_qs(query).items()}
            server.kickoffs.append(asked)
            if self.headers.get("Prefer") != "respond-async":
                return self._send(400, outcome("required", "Prefer: respond-async"))
            if server.kickoff_failures:
                return self._send(server.kickoff_failures.pop(0), outcome("exception"))
            server.polls = 0
            self._send(202, headers={"Content-Location": f"{server.root}/status/job1"})

        def _status(self) -> None:
            if server.status_failure:
                return self._send(server.status_failure, outcome("not-found", "export expired"))
            if server.status_transient:
                server.status_transient -= 1
                return self._send(503, outcome("transient", "busy"), headers={"Retry-After": server.retry_after})
            server.polls += 1
            if server.polls <= server.polls_before_ready:
                return self._send(202, headers={"Retry-After": server.retry_after, "X-Progress": "working"})
            self._send(200, server.manifest(), headers={"Expires": "Mon, 07 Dec 2026 23:59:59 GMT"},
                       content_type="application/json")

        def _file(self, name: str) -> None:
            if name in server.file_failures:
                status = server.file_failures[name]
                return self._send(status, outcome("exception" if status >= 500 else "not-found"))
            items = server.files().get(name)
            if items is None:
                return self._send(404, outcome("not-found"))
            server.downloads.append(name)
            body = "".join(json.dumps(item) + "\n" for item in items).encode()
            self._send(200, body, content_type="application/fhir+ndjson")

    return Handler
