"""Keep MRNs out of the API server's logs: the paths and query strings the worklist hides.

A patient page's path holds the patient's opaque reference (`/netflow/patients/3fJx...`, never the
MRN, but a key to a patient all the same) and a search its query (`?q=MRN00`). Airflow's access log
writes every request's path and query string once the response is sent, reading them from the ASGI
scope it shares with the mounted app; so the app
rewrites them (`redact_scope`) when it has answered: the log says `/netflow/patients/***` and
`q=***`. Links back after a login drop them the same way (`safe_next`).
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

__all__ = ["HIDDEN", "SENSITIVE_PARAMS", "redact_path", "redact_query", "redact_scope", "safe_next"]

HIDDEN = "***"
SENSITIVE_PARAMS = frozenset({"q"})
_PATIENTS = "/patients/"


def redact_path(path: str) -> str:
    """'/netflow/api/patients/MRN1' -> '/netflow/api/patients/***'; other paths unchanged."""
    head, found, _ = path.partition(_PATIENTS)
    return f"{head}{_PATIENTS}{HIDDEN}" if found else path


def redact_query(query: str) -> str:
    """The query string with the value of every sensitive parameter (the MRN search) hidden."""
    if not query:
        return query
    pairs = parse_qsl(query, keep_blank_values=True)
    return urlencode([(k, HIDDEN if k in SENSITIVE_PARAMS and v else v) for k, v in pairs])


def redact_scope(scope: MutableMapping[str, Any]) -> None:
    """Rewrite an answered request's path and query string in place, for the access log."""
    path = str(scope.get("path", ""))
    hidden = redact_path(path)
    if hidden != path:
        scope["path"] = hidden
        scope["raw_path"] = hidden.encode("utf-8")
    query = bytes(scope.get("query_string", b"")).decode("latin-1")
    hidden_query = redact_query(query)
    if hidden_query != query:
        scope["query_string"] = hidden_query.encode("latin-1")


def safe_next(url: str, home: str) -> str:
    """Where to return after the login, without patient data: a patient page returns to `home`
    (the worklist), a search loses its MRN."""
    parts = urlsplit(url)
    if redact_path(parts.path) != parts.path:
        return home
    kept = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in SENSITIVE_PARAMS]
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(kept), ""))
