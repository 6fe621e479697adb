"""A real SMTP server for tests: aiosmtpd on 127.0.0.1, recording every message it accepts.

    def test_the_second_message_is_refused(smtp_server):
        smtp_server.reject(2, 550, "mailbox unavailable")
        ...send three messages to smtp_server.url...
        assert len(smtp_server.messages) == 2

Fixtures: `smtp_server` (plain SMTP), `starttls_server` and `smtps_server` (TLS with a test CA
of their own and a required login; pass `.ca_file` to the client), `dead_smtp_url` (nothing listens).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

__all__ = [
    "TEST_PASSWORD",
    "TEST_USER",
    "ReceivedMessage",
    "RecordingHandler",
    "SmtpTestServer",
    "TestCA",
    "free_port",
    "make_test_ca",
]

HOST = "127.0.0.1"
TEST_USER = "netflow"
TEST_PASSWORD = "s3cret/p@ss:w%rd"  # needs percent-encoding in a URL, on purpose


def free_port(host: str = HOST) -> int:
    """A TCP port on `host` where nothing listens right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True)
class ReceivedMessage:
    """One message the server accepted, as it arrived."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    raw: bytes
    message: EmailMessage
    peer: tuple[str, int]  # the client's end of the connection: same peer, same connection
    tls: bool
    authenticated: bool


@dataclass
class RecordingHandler:
    """aiosmtpd handler: records accepted messages; refuses the ones it is told to."""

    messages: list[ReceivedMessage] = field(default_factory=list)
    seen: int = 0  # DATA commands received, accepted or not
    refuse_nth: dict[int, str] = field(default_factory=dict)
    refuse_every: str | None = None
    refuse_recipients: dict[str, str] = field(default_factory=dict)
    drop_nth: set[int] = field(default_factory=set)
    keep_then_drop_nth: set[int] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope, address: str,
                          rcpt_options: list[str]) -> str:
        refusal = self.refuse_recipients.get(address.lower())
        if refusal is not None:
            return refusal
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        with self._lock:
            self.seen += 1
            nth = self.seen
        if nth in self.drop_nth:
            assert server.transport is not None
            server.transport.close()
            return "421 4.3.0 connection dropped by the test server"
        refusal = self.refuse_every or self.refuse_nth.get(nth)
        if refusal is not None:
            return refusal
        self._keep(server, session, envelope)
        if nth in self.keep_then_drop_nth:  # RFC 5321 6.1: the message is the server's, the reply never leaves
            assert server.transport is not None
            server.transport.close()
        return "250 2.0.0 Message accepted for delivery"

    def _keep(self, server: SMTP, session: Session, envelope: Envelope) -> None:
        raw = envelope.original_content or b""
        parsed = message_from_bytes(raw, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        transport = server.transport
        peer = session.peer
        self.messages.append(ReceivedMessage(
            mail_from=envelope.mail_from or "",
            rcpt_tos=tuple(envelope.rcpt_tos),
            raw=raw,
            message=parsed,
            peer=(str(peer[0]), int(peer[1])) if isinstance(peer, tuple) else ("", 0),
            tls=transport is not None and transport.get_extra_info("ssl_object") is not None,
            authenticated=bool(session.authenticated),
        ))


@dataclass
class SmtpTestServer:
    """A running aiosmtpd server and the knobs a test turns."""

    port: int
    handler: RecordingHandler
    scheme: str = "smtp"
    username: str | None = None
    password: str | None = None
    ca_file: str | None = None
    host: str = HOST
    controller: Controller | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        """smtp://127.0.0.1:PORT, or the TLS URL with the test user and percent-encoded password."""
        user = ""
        if self.username is not None and self.password is not None:
            user = f"{quote(self.username, safe='')}:{quote(self.password, safe='')}@"
        return f"{self.scheme}://{user}{self.host}:{self.port}"

    @property
    def messages(self) -> list[ReceivedMessage]:
        return self.handler.messages

    @property
    def connections(self) -> int:
        """How many client connections delivered the accepted messages."""
        return len({m.peer for m in self.messages})

    def reject(self, nth: int, code: int = 550, text: str = "5.1.1 mailbox unavailable") -> None:
        """Refuse the nth message (counting every DATA since the server started, from 1)."""
        self.handler.refuse_nth[nth] = f"{code} {text}"

    def reject_all(self, code: int = 550, text: str = "5.7.1 refused by the test server") -> None:
        self.handler.refuse_every = f"{code} {text}"

    def reject_recipient(self, address: str, code: int = 550, text: str = "5.1.1 no such user") -> None:
        self.handler.refuse_recipients[address.lower()] = f"{code} {text}"

    def stop(self) -> None:
        """Shut the server down (the fixture's teardown copes), as if it crashed mid-run."""
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    def drop_connection(self, nth: int) -> None:
        """Cut the connection when the nth message's data arrives, without accepting it."""
        self.handler.drop_nth.add(nth)

    def keep_then_drop(self, nth: int) -> None:
        """Keep the nth message (it is in `messages`, as a queued message is the server's), then cut the
        connection before the 250 is written: the client never learns the message was accepted."""
        self.handler.keep_then_drop_nth.add(nth)


@dataclass(frozen=True)
class TestCA:
    """A throwaway CA and a server certificate it signed, for localhost and 127.0.0.1."""

    __test__ = False  # not a test class, whatever pytest thinks of the name

    ca_file: str
    cert_file: str
    key_file: str

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert_file, self.key_file)
        return context


def make_test_ca(directory: Path) -> TestCA:
    """Write ca.pem, server.pem and server.key into `directory` (EC P-256, valid one day)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "netflow test CA")])
    key_usage = dict.fromkeys(("content_commitment", "key_encipherment", "data_encipherment",
                               "encipher_only", "decipher_only"), False)
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                     key_agreement=False, **key_usage), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([
            x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address(HOST))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=False, crl_sign=False,
                                     key_agreement=True, **key_usage), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    paths = TestCA(str(directory / "ca.pem"), str(directory / "server.pem"), str(directory / "server.key"))
    Path(paths.ca_file).write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    Path(paths.cert_file).write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    Path(paths.key_file).write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return paths


def _authenticator(username: str, password: str) -> Any:
    def check(server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any) -> AuthResult:
        ok = (isinstance(auth_data, LoginPassword) and auth_data.login == username.encode()
              and auth_data.password == password.encode())
        return AuthResult(success=ok, handled=False)
    return check


def _serve(server: SmtpTestServer, **kwargs: Any) -> Iterator[SmtpTestServer]:
    controller = Controller(server.handler, hostname=server.host, port=server.port, ready_timeout=5.0,
                            server_hostname="smtp.test", **kwargs)
    controller.start()
    server.controller = controller
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def smtp_server() -> Iterator[SmtpTestServer]:
    """Plain SMTP on 127.0.0.1, no login."""
    yield from _serve(SmtpTestServer(free_port(), RecordingHandler()))


@pytest.fixture
def dead_smtp_url() -> str:
    """smtp://127.0.0.1:PORT where nothing listens: a server that is down."""
    return f"smtp://{HOST}:{free_port()}"


@pytest.fixture(scope="session")
def smtp_test_ca(tmp_path_factory: pytest.TempPathFactory) -> TestCA:
    return make_test_ca(tmp_path_factory.mktemp("smtp-ca"))


@pytest.fixture
def starttls_server(smtp_test_ca: TestCA) -> Iterator[SmtpTestServer]:
    """SMTP with required STARTTLS and login (TEST_USER / TEST_PASSWORD), certificate from `smtp_test_ca`."""
    server = SmtpTestServer(free_port(), RecordingHandler(), "smtp+starttls", TEST_USER, TEST_PASSWORD,
                            smtp_test_ca.ca_file)
    yield from _serve(server, tls_context=smtp_test_ca.server_context(), require_starttls=True,
                      auth_required=True, auth_require_tls=True,
                      authenticator=_authenticator(TEST_USER, TEST_PASSWORD))


@pytest.fixture
def smtps_server(smtp_test_ca: TestCA) -> Iterator[SmtpTestServer]:
    """SMTP over implicit TLS with login (TEST_USER / TEST_PASSWORD), certificate from `smtp_test_ca`."""
    server = SmtpTestServer(free_port(), RecordingHandler(), "smtps", TEST_USER, TEST_PASSWORD, smtp_test_ca.ca_file)
    # aiosmtpd's TLS checks only see STARTTLS, not a connection that is TLS from the start: turn them
    # off (requiring AUTH without them only warns). The client logs in anyway; messages record it.
    yield from _serve(server, ssl_context=smtp_test_ca.server_context(), auth_require_tls=False,
                      authenticator=_authenticator(TEST_USER, TEST_PASSWORD))
