"""What a message looks like: checked addresses and headers, multipart text and HTML, stable Message-IDs.

    message = build_message(sender=config.mail_from, to=navigators, cc=attendings, subject=subject,
                            text=text, html=html, message_id=make_message_id(outbox_id, "netflow.example.org"))
    write_eml("var/mail", message, "2026-12-01-001-gi-onc-east")    # a dry run's file a person can open

No header is built from text that was not checked here.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import tempfile
from collections.abc import Mapping, Sequence
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, getaddresses
from pathlib import Path

__all__ = ["DOMAIN", "build_message", "make_message_id", "parse_address", "write_eml"]

_LINE_BREAKS = frozenset("\r\n\x00\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
DOMAIN = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_ADDR_SPEC = re.compile(rf"{_ATOM}(?:\.{_ATOM})*@{_LABEL}(?:\.{_LABEL})*")
_MESSAGE_ID = re.compile(rf"<{_ATOM}(?:\.{_ATOM})*@{_LABEL}(?:\.{_LABEL})*>")
_HEADER_NAME = re.compile(r"[!-9;-~]+")
_RESERVED_HEADERS = frozenset((
    "from", "sender", "reply-to", "to", "cc", "bcc", "subject", "message-id", "date", "mime-version",
))
_FILE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,150}")


def parse_address(text: str) -> Address:
    """One email address, `a@b.org` or `Display Name <a@b.org>`, checked strictly; ValueError otherwise.

    Use it when a configuration is loaded, so that bad addresses are found before any run."""
    if not isinstance(text, str) or _LINE_BREAKS.intersection(text):
        raise ValueError("an email address must be one line of text")
    pairs = getaddresses([text])
    name, spec = pairs[0] if len(pairs) == 1 else ("", "")
    stripped = text.strip()
    well_formed = (
        len(pairs) == 1
        and len(spec) <= 254
        and _ADDR_SPEC.fullmatch(spec) is not None
        and (stripped == spec or stripped.endswith(f"<{spec}>"))
        and not set("<>@").intersection(name)
    )
    problem = f"{text!r} is not a single valid email address (expected a@example.org or Name <a@example.org>)"
    if not well_formed:
        raise ValueError(problem)
    try:
        return Address(display_name=name, addr_spec=spec)
    except Exception:  # HeaderParseError is not a ValueError
        raise ValueError(problem) from None


def make_message_id(outbox_id: int, domain: str, *, as_of: dt.date | None = None) -> str:
    """The stable Message-ID of one outbox entry, e.g. <digest-42.20261201@netflow.local>.

    The same entry always gets the same id, so a mail system can drop a resent duplicate."""
    if isinstance(outbox_id, bool) or not isinstance(outbox_id, int) or outbox_id < 1:
        raise ValueError(f"outbox_id must be a positive whole number, got {outbox_id!r}")
    if not isinstance(domain, str) or not DOMAIN.fullmatch(domain):
        raise ValueError(f"message id domain must be a host name such as netflow.example.org, got {domain!r}")
    day = f".{as_of:%Y%m%d}" if as_of is not None else ""
    return f"<digest-{outbox_id}{day}@{domain}>"


def build_message(*, sender: str, to: Sequence[str], cc: Sequence[str] = (), subject: str, text: str,
                  html: str, message_id: str, date: dt.datetime | None = None,
                  headers: Mapping[str, str] | None = None, reply_to: Sequence[str] = ()) -> EmailMessage:
    """A multipart/alternative message, plain text first and HTML second, both UTF-8.

    Every address and header value is checked (ValueError): one address per entry, no line
    breaks anywhere, so no header can be injected. `date` must be timezone-aware (default: now, UTC)."""
    if isinstance(to, str) or isinstance(cc, str) or isinstance(reply_to, str):
        raise ValueError("to, cc and reply_to must be lists of addresses, not a single string")
    if not to:
        raise ValueError("a message needs at least one To address")
    if not _MESSAGE_ID.fullmatch(message_id or ""):
        raise ValueError(f"message_id must look like <digest-42@netflow.example.org>, got {message_id!r}")
    when = date if date is not None else dt.datetime.now(dt.UTC)
    if when.tzinfo is None or when.utcoffset() is None:
        raise ValueError("date must be timezone-aware")
    msg = EmailMessage(policy=policy.default)
    msg["From"] = parse_address(sender)
    msg["To"] = [parse_address(a) for a in to]
    if cc:
        msg["Cc"] = [parse_address(a) for a in cc]
    if reply_to:
        msg["Reply-To"] = [parse_address(a) for a in reply_to]
    msg["Subject"] = _one_line("Subject", subject)
    msg["Date"] = format_datetime(when)
    msg["Message-ID"] = message_id
    extra = {"Auto-Submitted": "auto-generated", **(headers or {})}
    for name, value in extra.items():
        if not isinstance(name, str) or not _HEADER_NAME.fullmatch(name):
            raise ValueError(f"{name!r} is not a valid header name")
        lowered = name.lower()
        if lowered in _RESERVED_HEADERS or lowered.startswith(("content-", "resent-")):
            raise ValueError(f"header {name} is set by build_message itself; pass it as an argument")
        msg[name] = _one_line(name, value)
    msg.set_content(text, subtype="plain", charset="utf-8", cte="quoted-printable")
    msg.add_alternative(html, subtype="html", charset="utf-8", cte="quoted-printable")
    for part in msg.iter_parts():
        del part["MIME-Version"]
    return msg


def _one_line(name: str, value: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"the {name} header must be text")
    if _LINE_BREAKS.intersection(value):
        raise ValueError(f"the {name} header contains a line break; header values must be one line")
    return value


def write_eml(directory: str | os.PathLike[str], message: EmailMessage, name: str) -> Path:
    """Write `message` to directory/name.eml (created 0600, replaced atomically); return the path.

    `name` is a plain file name (letters, digits, . _ -), e.g. a team key and the run date."""
    stem = name[:-4] if name.lower().endswith(".eml") else name
    if not _FILE_NAME.fullmatch(stem) or ".." in stem:
        raise ValueError(f"{name!r} is not a plain file name (letters, digits, . _ -)")
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{stem}.eml"
    data = message.as_bytes(policy=policy.SMTP)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{stem}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path

