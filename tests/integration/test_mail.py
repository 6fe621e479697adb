"""The mail adapter against a real SMTP server (aiosmtpd): settings, messages, delivery, .eml files."""

from __future__ import annotations

import datetime as dt
import logging
import stat
import traceback
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest

from netflow.adapters.mail import (
    DeliveryError,
    FakeMailer,
    ServerUnavailable,
    SmtpMailer,
    SmtpSettings,
    build_message,
    counts_as_attempt,
    make_message_id,
    parse_address,
    parse_smtp_url,
    smtp_settings,
    write_eml,
)
from netflow.config import ConfigError, Settings
from tests.support.smtp import TEST_PASSWORD, TEST_USER, SmtpTestServer

SECRET = "Tr0ub4dor&3"
FROM = "NET surveillance <netflow@localhost>"
NAVIGATORS = ["Nurse Navigator <nav1@clinic.example.org>", "nav2@clinic.example.org"]
ATTENDING = ["Dr Ana Núñez <attending@clinic.example.org>"]


def message(n: int = 1, /, **overrides: object) -> EmailMessage:
    fields: dict[str, object] = {
        "sender": FROM,
        "to": NAVIGATORS,
        "cc": ATTENDING,
        "subject": f"NET surveillance - GI Oncology East: {n} overdue (2026-12-01)",
        "text": f"Digest {n}\nÉscalated: none\n",
        "html": f"<p>Digest {n}</p><p>&lt;b&gt;O'Brien &amp; Sons&lt;/b&gt;</p>",
        "message_id": make_message_id(n, "netflow.local", as_of=dt.date(2026, 12, 1)),
        "date": dt.datetime(2026, 12, 1, 6, 0, tzinfo=dt.UTC),
    }
    fields.update(overrides)
    return build_message(**fields)  # type: ignore[arg-type]


def settings_for(server: SmtpTestServer, password: str | None = None, with_ca: bool = True) -> SmtpSettings:
    url = server.url if password is None else f"{server.scheme}://{TEST_USER}:{password}@{server.host}:{server.port}"
    return parse_smtp_url(url, timeout=5, ca_file=server.ca_file if with_ca else None)


def parts(received: EmailMessage) -> list[tuple[str, str]]:
    """(type, content) of each part, line ends as in Python (the wire uses CRLF)."""
    return [(p.get_content_type(), p.get_content().replace("\r\n", "\n"))
            for p in received.iter_parts()]


# --- parse_smtp_url ----------------------------------------------------------------------------


@pytest.mark.parametrize(("url", "scheme", "host", "port"), [
    ("smtp://localhost", "smtp", "localhost", 25),
    ("smtp://127.0.0.1:1025", "smtp", "127.0.0.1", 1025),
    ("smtp+starttls://user:pw@mail.example.org", "smtp+starttls", "mail.example.org", 587),
    ("smtps://user:pw@mail.example.org", "smtps", "mail.example.org", 465),
    ("SMTPS://user:pw@Mail.Example.org:2465/", "smtps", "mail.example.org", 2465),
    ("smtp+starttls://[2001:db8::1]", "smtp+starttls", "2001:db8::1", 587),
], ids=["plain-localhost", "plain-port", "starttls-default-587", "smtps-default-465", "case-and-slash", "ipv6"])
def test_each_scheme_has_its_default_port(url: str, scheme: str, host: str, port: int) -> None:
    settings = parse_smtp_url(url)

    assert (settings.scheme, settings.host, settings.port) == (scheme, host, port)


def test_user_name_and_password_are_percent_decoded() -> None:
    settings = parse_smtp_url("smtps://netflow%40clinic.org:p%40ss%2Fw%3Ard%25@mail.example.org")

    assert settings.username == "netflow@clinic.org"
    assert settings.password == "p@ss/w:rd%"


def test_settings_come_from_the_installation_settings() -> None:
    config = Settings(database_url="sqlite://", smtp_url="smtps://u:pw@mail.example.org", smtp_timeout=7)

    settings = smtp_settings(config)

    assert (settings.host, settings.port, settings.timeout) == ("mail.example.org", 465, 7)


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1", "127.8.9.10", "[::1]"])
def test_plain_smtp_to_this_machine_is_allowed(host: str) -> None:
    assert parse_smtp_url(f"smtp://{host}:1025").scheme == "smtp"


def test_plain_smtp_to_another_machine_is_refused_with_what_to_do() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_smtp_url("smtp://mail.example.org:25")

    text = str(caught.value)
    assert "NETFLOW_SMTP_URL" in text
    assert "use smtp+starttls:// or smtps://, or set NETFLOW_SMTP_ALLOW_INSECURE=true" in text


def test_plain_smtp_to_another_machine_is_allowed_when_insecure_is_set() -> None:
    assert parse_smtp_url("smtp://relay.internal:25", allow_insecure=True).host == "relay.internal"


def test_a_password_over_plain_smtp_to_another_machine_is_refused_even_when_insecure_is_set() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_smtp_url(f"smtp://user:{SECRET}@relay.internal:25", allow_insecure=True)

    assert "unencrypted" in str(caught.value)
    assert SECRET not in str(caught.value)


@pytest.mark.parametrize("url", [
    f"smtp+ssl://user:{SECRET}@mail.example.org",
    f"smtps://user:{SECRET}@mail.example.org:port",
    f"smtps://user:{SECRET}@mail.example.org:0",
    f"smtps://user:{SECRET}@mail.example.org:70000",
    f"smtps://user:{SECRET}@mail.example.org/inbox",
    f"smtps://user:{SECRET}@",
    f"smtps://user:{SECRET}@bad_host!",
    f"smtps://:{SECRET}@mail.example.org",
    "smtps://user@mail.example.org",
    f"smtps://user:{SECRET}/x@mail.example.org",
    f"smtps://user:{SECRET}#x@mail.example.org",
    f"smtps://user:{SECRET}?x@mail.example.org",
    f"smtps://user:12345{SECRET}@mail.example.org:99999",
    f"user:{SECRET}@mail.example.org",
    "",
], ids=["unknown-scheme", "port-not-a-number", "port-zero", "port-too-big", "path", "no-host", "bad-host",
        "password-without-user", "user-without-password", "unencoded-slash", "unencoded-hash",
        "unencoded-question-mark", "digits-in-password", "no-scheme", "empty"])
def test_a_bad_url_is_refused_naming_the_variable_and_never_the_password(url: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_smtp_url(url)

    assert "NETFLOW_SMTP_URL" in str(caught.value)
    assert SECRET not in str(caught.value)
    assert SECRET not in "".join(traceback.format_exception(caught.value))


def test_the_password_never_shows_in_repr_str_or_redacted() -> None:
    settings = parse_smtp_url(f"smtps://netflow:{SECRET}@mail.example.org")

    shown = [repr(settings), str(settings), settings.redacted(), repr(SmtpMailer(settings))]

    assert all(SECRET not in text for text in shown)
    assert settings.redacted() == "smtps://netflow:***@mail.example.org:465"


def test_a_missing_ca_file_is_refused_naming_its_setting(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="NETFLOW_SMTP_CA_FILE"):
        parse_smtp_url("smtps://u:pw@mail.example.org", ca_file=str(tmp_path / "nope.pem"))


# --- build_message -----------------------------------------------------------------------------


def test_a_message_is_text_then_html_in_utf8_with_its_headers_as_given() -> None:
    built = message(42)

    assert built.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in built.iter_parts()] == ["text/plain", "text/html"]
    assert all(p.get_content_charset() == "utf-8" for p in built.iter_parts())
    assert built["Message-ID"] == "<digest-42.20261201@netflow.local>"
    assert built["Date"] == "Tue, 01 Dec 2026 06:00:00 +0000"
    assert built["Auto-Submitted"] == "auto-generated"
    assert "Bcc" not in built


def test_the_date_defaults_to_now_in_utc_and_must_be_timezone_aware() -> None:
    built = message(date=None)
    sent_at = built["Date"].datetime

    assert sent_at.utcoffset() == dt.timedelta(0)
    assert abs(dt.datetime.now(dt.UTC) - sent_at) < dt.timedelta(minutes=1)
    with pytest.raises(ValueError, match="timezone-aware"):
        message(date=dt.datetime(2026, 12, 1, 6, 0))


@pytest.mark.parametrize("overrides", [
    {"subject": "Digest\r\nBcc: x@y.org"},
    {"subject": "Digest\nBcc: x@y.org"},
    {"subject": "Digest\u2028Bcc: x@y.org"},
    {"to": ["nav@clinic.example.org\r\nBcc: x@y.org"]},
    {"to": ["nav@clinic.example.org\n"]},
    {"cc": ["Dr X <x@clinic.example.org>\nBcc: y@z.org"]},
    {"sender": "netflow@localhost\r\nBcc: x@y.org"},
    {"to": ["nav@clinic.example.org, other@evil.example"]},
    {"to": ["nav@clinic.example.org <other@evil.example>"]},
    {"to": ["alice@example.org)<bob@example.org>"]},
    {"to": ["not an address"]},
    {"to": "nav@clinic.example.org"},
    {"to": []},
    {"headers": {"X-Team": "GI\r\nBcc: x@y.org"}},
    {"headers": {"Bcc": "x@y.org"}},
    {"headers": {"X Team": "GI"}},
    {"message_id": "<digest-1@netflow.local>\r\nBcc: x@y.org"},
    {"message_id": "digest-1@netflow.local"},
], ids=["subject-crlf", "subject-lf", "subject-line-separator", "to-crlf", "to-trailing-lf", "cc-lf",
        "from-crlf", "two-addresses", "address-as-display-name", "parser-confusion", "not-an-address",
        "to-as-string", "no-to", "extra-header-crlf", "extra-header-bcc", "bad-header-name",
        "message-id-crlf", "message-id-without-brackets"])
def test_header_injection_and_bad_addresses_are_refused(overrides: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        message(**overrides)


def test_addresses_with_display_names_are_kept_and_encoded() -> None:
    address = parse_address('"Smith, John" <j.smith@clinic.example.org>')

    assert (address.display_name, address.addr_spec) == ("Smith, John", "j.smith@clinic.example.org")
    assert str(message()["Cc"]) == "Dr Ana Núñez <attending@clinic.example.org>"


@pytest.mark.parametrize(("args", "expected"), [
    ((42, "netflow.local"), "<digest-42@netflow.local>"),
    ((42, "netflow.example.org", dt.date(2026, 12, 1)), "<digest-42.20261201@netflow.example.org>"),
], ids=["plain", "with-run-date"])
def test_message_ids_are_stable(args: tuple[int, str, dt.date], expected: str) -> None:
    as_of = args[2] if len(args) == 3 else None

    assert make_message_id(args[0], args[1], as_of=as_of) == expected
    assert make_message_id(args[0], args[1], as_of=as_of) == expected


@pytest.mark.parametrize(("outbox_id", "domain"), [(0, "netflow.local"), (True, "netflow.local"),
                                                   (1, "netflow.local>\r\nBcc: x"), (1, "")])
def test_message_ids_refuse_bad_parts(outbox_id: int, domain: str) -> None:
    with pytest.raises(ValueError):
        make_message_id(outbox_id, domain)


# --- SmtpMailer against a real server ----------------------------------------------------------


def test_three_messages_go_over_one_connection_with_both_parts(smtp_server: SmtpTestServer) -> None:
    with SmtpMailer(settings_for(smtp_server)) as mailer:
        for n in (1, 2, 3):
            mailer.send(message(n))

    received = smtp_server.messages
    assert len(received) == 3
    assert smtp_server.connections == 1
    first = received[0]
    assert first.mail_from == "netflow@localhost"
    assert first.rcpt_tos == ("nav1@clinic.example.org", "nav2@clinic.example.org", "attending@clinic.example.org")
    assert str(first.message["To"]) == "Nurse Navigator <nav1@clinic.example.org>, nav2@clinic.example.org"
    assert str(first.message["Cc"]) == ATTENDING[0]
    assert [r.message["Message-ID"] for r in received] == [make_message_id(n, "netflow.local",
                                                           as_of=dt.date(2026, 12, 1)) for n in (1, 2, 3)]
    assert parts(first.message) == [
        ("text/plain", "Digest 1\nÉscalated: none\n"),
        ("text/html", "<p>Digest 1</p><p>&lt;b&gt;O'Brien &amp; Sons&lt;/b&gt;</p>\n"),
    ]


def test_a_permanent_refusal_fails_that_message_and_the_next_still_goes(smtp_server: SmtpTestServer) -> None:
    smtp_server.reject(2, 550, "5.7.1 rejected")

    with SmtpMailer(settings_for(smtp_server)) as mailer:
        mailer.send(message(1))
        with pytest.raises(DeliveryError) as caught:
            mailer.send(message(2))
        mailer.send(message(3))

    assert caught.value.temporary is False
    assert caught.value.code == 550
    assert "550 5.7.1 rejected" in caught.value.text
    assert [r.message["Message-ID"] for r in smtp_server.messages] == [message(1)["Message-ID"],
                                                                       message(3)["Message-ID"]]
    assert smtp_server.connections == 1


def test_a_4xx_refusal_is_temporary(smtp_server: SmtpTestServer) -> None:
    smtp_server.reject(1, 451, "4.3.0 try again later")

    with SmtpMailer(settings_for(smtp_server)) as mailer, pytest.raises(DeliveryError) as caught:
        mailer.send(message(1))

    assert caught.value.temporary is True
    assert caught.value.code == 451


def test_a_server_refusing_everything_fails_every_message(smtp_server: SmtpTestServer) -> None:
    smtp_server.reject_all(554)
    failures = []

    with SmtpMailer(settings_for(smtp_server)) as mailer:
        for n in (1, 2):
            with pytest.raises(DeliveryError) as caught:
                mailer.send(message(n))
            failures.append(caught.value.temporary)

    assert failures == [False, False]
    assert smtp_server.messages == []


def test_a_message_whose_every_recipient_is_refused_fails(smtp_server: SmtpTestServer) -> None:
    for address in ("nav1@clinic.example.org", "nav2@clinic.example.org", "attending@clinic.example.org"):
        smtp_server.reject_recipient(address, 550)

    with SmtpMailer(settings_for(smtp_server)) as mailer, pytest.raises(DeliveryError) as caught:
        mailer.send(message(1))

    assert caught.value.temporary is False
    assert "refused every recipient" in caught.value.text


def test_a_message_with_some_recipients_refused_is_delivered_to_the_rest_with_a_warning(
        smtp_server: SmtpTestServer, caplog: pytest.LogCaptureFixture) -> None:
    smtp_server.reject_recipient("nav2@clinic.example.org", 550)

    with caplog.at_level(logging.WARNING), SmtpMailer(settings_for(smtp_server)) as mailer:
        mailer.send(message(1))

    assert smtp_server.messages[0].rcpt_tos == ("nav1@clinic.example.org", "attending@clinic.example.org")
    assert "refused 1 of its recipients" in caplog.text
    assert "nav2@" not in caplog.text


def test_a_server_that_is_down_fails_on_enter_naming_host_and_port(dead_smtp_url: str) -> None:
    settings = parse_smtp_url(dead_smtp_url, timeout=5)

    with pytest.raises(DeliveryError) as caught, SmtpMailer(settings):
        pass

    assert caught.value.temporary is True
    assert f"127.0.0.1:{settings.port}" in caught.value.text
    assert "NETFLOW_SMTP_URL" in caught.value.text


def test_a_dropped_connection_is_temporary_and_the_next_send_reconnects(smtp_server: SmtpTestServer) -> None:
    smtp_server.drop_connection(2)

    with SmtpMailer(settings_for(smtp_server)) as mailer:
        mailer.send(message(1))
        with pytest.raises(DeliveryError) as caught:
            mailer.send(message(2))
        mailer.send(message(3))

    assert caught.value.temporary is True
    assert [r.message["Message-ID"] for r in smtp_server.messages] == [message(1)["Message-ID"],
                                                                       message(3)["Message-ID"]]
    assert smtp_server.connections == 2


def test_a_server_gone_mid_run_fails_the_rest_at_once_after_one_reconnect(smtp_server: SmtpTestServer) -> None:
    with SmtpMailer(settings_for(smtp_server)) as mailer:
        mailer.send(message(1))
        smtp_server.stop()
        errors = []
        for n in (2, 3):
            with pytest.raises(DeliveryError) as caught:
                mailer.send(message(n))
            errors.append(caught.value)

    assert [e.temporary for e in errors] == [True, True]
    assert "not trying again" in errors[1].text


# --- what counts as an attempt (issue 16) -------------------------------------------------------------


def test_a_refusal_of_the_message_counts_as_an_attempt_and_says_so(smtp_server: SmtpTestServer) -> None:
    smtp_server.reject(1, 554, "5.7.1 refused")
    smtp_server.reject_recipient("nav1@clinic.example.org", 550)
    smtp_server.reject_recipient("nav2@clinic.example.org", 550)
    smtp_server.reject_recipient("attending@clinic.example.org", 550)

    with SmtpMailer(settings_for(smtp_server)) as mailer, pytest.raises(DeliveryError) as caught:
        mailer.send(message(1))

    assert counts_as_attempt(caught.value) and not isinstance(caught.value, ServerUnavailable)


def test_a_server_that_is_down_is_unreachable_and_not_an_attempt(dead_smtp_url: str) -> None:
    with pytest.raises(ServerUnavailable) as caught, SmtpMailer(parse_smtp_url(dead_smtp_url, timeout=5)):
        pass

    error = caught.value
    assert (error.kind, error.temporary, counts_as_attempt(error), error.ends_session) == (
        "unreachable", True, False, True)
    assert error.reason.endswith("(connection refused)") and error.fix.startswith("fix NETFLOW_SMTP_URL")


@pytest.mark.parametrize("server_fixture", ["starttls_server", "smtps_server"])
def test_tls_and_login_failures_are_not_attempts(server_fixture: str, request: pytest.FixtureRequest) -> None:
    server: SmtpTestServer = request.getfixturevalue(server_fixture)

    with pytest.raises(ServerUnavailable) as no_ca, SmtpMailer(settings_for(server, with_ca=False)):
        pass
    with pytest.raises(ServerUnavailable) as wrong, SmtpMailer(settings_for(server, password=SECRET)):
        pass

    assert (no_ca.value.kind, wrong.value.kind) == ("tls", "auth")
    assert not counts_as_attempt(no_ca.value) and not counts_as_attempt(wrong.value)


def test_starttls_missing_is_a_configuration_failure_not_an_attempt(smtp_server: SmtpTestServer) -> None:
    settings = parse_smtp_url(f"smtp+starttls://127.0.0.1:{smtp_server.port}", timeout=5)

    with pytest.raises(ServerUnavailable) as caught, SmtpMailer(settings):
        pass

    assert caught.value.kind == "config"


def test_a_connection_lost_mid_send_is_dropped_not_an_attempt_and_the_next_send_reconnects(
        smtp_server: SmtpTestServer) -> None:
    smtp_server.drop_connection(1)
    smtp_server.reject(2, 421, "4.3.2 service shutting down")

    with SmtpMailer(settings_for(smtp_server)) as mailer:
        errors = []
        for n in (1, 2):
            with pytest.raises(ServerUnavailable) as caught:
                mailer.send(message(n))
            errors.append(caught.value)
        mailer.send(message(3))

    assert [(e.kind, e.ends_session, counts_as_attempt(e)) for e in errors] == [("dropped", False, False)] * 2
    assert "421 4.3.2 service shutting down" in errors[1].text
    assert [r.message["Message-ID"] for r in smtp_server.messages] == [message(3)["Message-ID"]]


def test_a_server_that_keeps_the_message_and_drops_before_replying_looks_like_a_lost_message(
        smtp_server: SmtpTestServer) -> None:
    """RFC 5321 6.1: the server is responsible for the message once it has it, but the client never hears."""
    smtp_server.keep_then_drop(1)

    with SmtpMailer(settings_for(smtp_server)) as mailer, pytest.raises(ServerUnavailable) as caught:
        mailer.send(message(1))

    assert caught.value.kind == "dropped" and "was lost while sending" in caught.value.text
    assert [r.message["Message-ID"] for r in smtp_server.messages] == [message(1)["Message-ID"]]


def test_the_server_gone_after_a_reconnect_is_unreachable_and_ends_the_session(smtp_server: SmtpTestServer) -> None:
    with SmtpMailer(settings_for(smtp_server)) as mailer:
        mailer.send(message(1))
        smtp_server.stop()
        with pytest.raises(ServerUnavailable) as caught:
            mailer.send(message(2))

    assert (caught.value.kind, caught.value.ends_session) == ("unreachable", True)


def test_sending_outside_a_with_block_is_a_programming_error(smtp_server: SmtpTestServer) -> None:
    with pytest.raises(RuntimeError, match="with-block"):
        SmtpMailer(settings_for(smtp_server)).send(message(1))


# --- TLS and login -----------------------------------------------------------------------------


@pytest.mark.parametrize("server_fixture", ["starttls_server", "smtps_server"])
def test_tls_with_the_servers_own_ca_logs_in_and_delivers(server_fixture: str,
                                                          request: pytest.FixtureRequest) -> None:
    server: SmtpTestServer = request.getfixturevalue(server_fixture)
    settings = settings_for(server)
    assert (settings.username, settings.password) == (TEST_USER, TEST_PASSWORD)

    with SmtpMailer(settings) as mailer:
        mailer.send(message(1))
        mailer.send(message(2))

    assert [(r.tls, r.authenticated) for r in server.messages] == [(True, True), (True, True)]
    assert server.connections == 1


@pytest.mark.parametrize("server_fixture", ["starttls_server", "smtps_server"])
def test_a_certificate_from_an_unknown_ca_is_refused_with_a_hint(server_fixture: str,
                                                                 request: pytest.FixtureRequest) -> None:
    server: SmtpTestServer = request.getfixturevalue(server_fixture)

    with pytest.raises(DeliveryError) as caught, SmtpMailer(settings_for(server, with_ca=False)):
        pass

    assert caught.value.temporary is False
    assert "NETFLOW_SMTP_CA_FILE" in caught.value.text
    assert server.messages == []


@pytest.mark.parametrize("server_fixture", ["starttls_server", "smtps_server"])
def test_a_wrong_password_is_permanent_and_never_shown(server_fixture: str,
                                                        request: pytest.FixtureRequest) -> None:
    server: SmtpTestServer = request.getfixturevalue(server_fixture)
    settings = settings_for(server, password=SECRET)

    with pytest.raises(DeliveryError) as caught, SmtpMailer(settings):
        pass

    assert caught.value.temporary is False
    assert "refused the login of user 'netflow'" in caught.value.text
    assert SECRET not in "".join(traceback.format_exception(caught.value))
    assert SECRET not in repr(caught.value)


def test_starttls_to_a_server_without_it_is_refused_clearly(smtp_server: SmtpTestServer) -> None:
    settings = parse_smtp_url(f"smtp+starttls://127.0.0.1:{smtp_server.port}", timeout=5)

    with pytest.raises(DeliveryError) as caught, SmtpMailer(settings):
        pass

    assert caught.value.temporary is False
    assert "does not offer STARTTLS" in caught.value.text


# --- FakeMailer and .eml files -----------------------------------------------------------------


def test_the_fake_mailer_keeps_messages_and_fails_the_nth() -> None:
    mailer = FakeMailer().fail(2, temporary=True, text="451 later")

    with mailer:
        mailer.send(message(1))
        with pytest.raises(DeliveryError) as caught:
            mailer.send(message(2))
        mailer.send(message(3))

    assert caught.value.temporary is True
    assert [m["Message-ID"] for m in mailer.sent] == [message(1)["Message-ID"], message(3)["Message-ID"]]
    assert (mailer.attempts, mailer.connections) == (3, 1)


def test_the_fake_mailer_can_be_down() -> None:
    with pytest.raises(DeliveryError) as caught, FakeMailer().fail_connect():
        pass

    assert caught.value.temporary is True
    assert isinstance(caught.value, ServerUnavailable) and not counts_as_attempt(caught.value)


def test_the_fake_mailer_can_drop_a_connection() -> None:
    mailer = FakeMailer().drop(1)

    with mailer, pytest.raises(ServerUnavailable) as caught:
        mailer.send(message(1))

    assert caught.value.kind == "dropped" and mailer.sent == []


def test_an_eml_file_round_trips(tmp_path: Path) -> None:
    original = message(7)

    path = write_eml(tmp_path / "dry-run", original, "gi-onc-east-2026-12-01")

    assert path == tmp_path / "dry-run" / "gi-onc-east-2026-12-01.eml"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    parsed = message_from_bytes(path.read_bytes(), policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    for header in ("From", "To", "Cc", "Subject", "Date", "Message-ID"):
        assert str(parsed[header]) == str(original[header])
    assert parts(parsed) == parts(original)
    assert list(tmp_path.joinpath("dry-run").iterdir()) == [path]


@pytest.mark.parametrize("name", ["../escape", "a/b", "", ".hidden", "team key"])
def test_an_eml_name_must_be_a_plain_file_name(tmp_path: Path, name: str) -> None:
    with pytest.raises(ValueError):
        write_eml(tmp_path, message(1), name)
