"""Double-submit CSRF protection for the worklist's state-changing requests.

    value = csrf.token(request)                 # pages: put it in their forms ...
    csrf.remember(request, response, "/netflow")  # ... and set the cookie `netflow_csrf` once per browser
    csrf.check(request, form_token)             # POST routes: 403 unless the request proves it

A request authenticated only by the Airflow UI's `_token` cookie (a browser) must carry the value of
the cookie `netflow_csrf` back, in the header `X-CSRF-Token` (API clients) or the form field
`csrf_token` (the pages' forms, which run no script): a page on another site can make the browser
send the cookies but can neither read them nor set that header. A request with an
`Authorization: Bearer` token needs neither: the token is its own proof and Airflow prefers it to
the cookie.
"""

from __future__ import annotations

import hmac
import secrets

from fastapi import HTTPException
from starlette.requests import Request
from starlette.responses import Response

__all__ = ["COOKIE", "FIELD", "HEADER", "check", "remember", "token"]

COOKIE = "netflow_csrf"
HEADER = "X-CSRF-Token"
FIELD = "csrf_token"
REFUSED = "This request needs the X-CSRF-Token header (or csrf_token field) equal to the netflow_csrf cookie."


def token(request: Request) -> str:
    """The browser's CSRF token: its `netflow_csrf` cookie, or a new one that `remember` sets."""
    known = getattr(request.state, "netflow_csrf", None)
    if isinstance(known, str):
        return known
    cookie = request.cookies.get(COOKIE, "")
    fresh = cookie if len(cookie) >= 32 else secrets.token_urlsafe(32)
    request.state.netflow_csrf = fresh
    request.state.netflow_csrf_new = fresh != cookie
    return fresh


def remember(request: Request, response: Response, base_path: str) -> Response:
    """Set the cookie on `response` when this request's token is new (SameSite=Strict, the app's path)."""
    if getattr(request.state, "netflow_csrf_new", False):
        response.set_cookie(COOKIE, token(request), path=f"{base_path}/", samesite="strict",
                            secure=request.url.scheme == "https", httponly=False)
    return response


def _bearer(request: Request) -> bool:
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and bool(credentials.strip())


def check(request: Request, form_token: str | None = None) -> None:
    """403 unless the request is a bearer request or echoes the `netflow_csrf` cookie."""
    if _bearer(request):
        return
    cookie = request.cookies.get(COOKIE, "")
    sent = request.headers.get(HEADER) or form_token or ""
    if not cookie or not hmac.compare_digest(cookie.encode(), sent.encode()):
        raise HTTPException(403, REFUSED)
