"""pagepulse.mail against a real SMTP server on loopback: plain, STARTTLS, implicit TLS,
login, refusals, and what the URL parser accepts."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage

import pytest

from pagepulse.config import Settings
from pagepulse.mail import (
    MailNotConfigured,
    SmtpServer,
    mail_configured,
    parse_smtp_url,
    send_message,
)
from tests.support import smtp as loopback


def _message(to: str = "reader@example.com") -> EmailMessage:
    message = EmailMessage()
    message["To"] = to
    message["Subject"] = "Grüße from PagePulse"
    message.set_content("Plain body ✓\n")
    message.add_alternative("<p>HTML body ✓</p>", subtype="html")
    return message


def test_a_message_arrives_with_the_default_sender(settings: Settings, smtp_server):
    settings = settings.model_copy(update={"smtp_url": smtp_server.url})
    send_message(settings, _message())
    [mail] = smtp_server.wait_for(1)
    assert mail.rcpt_tos == ("reader@example.com",)
    assert mail.mail_from == "pagepulse@localhost"
    assert mail.message["From"] == "PagePulse <pagepulse@localhost>"
    assert mail.message["Subject"] == "Grüße from PagePulse"
    assert mail.message.get_body(("plain",)).get_content() == "Plain body ✓\n"
    assert mail.message.get_body(("html",)).get_content().strip() == "<p>HTML body ✓</p>"
    assert mail.login is None and mail.tls is False


def test_mail_from_setting_and_an_explicit_from_header(settings: Settings, smtp_server):
    settings = settings.model_copy(
        update={"smtp_url": smtp_server.url, "mail_from": "Stats <stats@example.org>"}
    )
    send_message(settings, _message())
    explicit = _message()
    explicit["From"] = "Other <other@example.org>"
    send_message(settings, explicit)
    first, second = smtp_server.wait_for(2)
    assert first.mail_from == "stats@example.org"
    assert second.message["From"] == "Other <other@example.org>"


@pytest.mark.parametrize("tls", ["starttls", "implicit"])
def test_tls_and_login(settings: Settings, monkeypatch: pytest.MonkeyPatch, tls):
    with loopback.SmtpServer(tls=tls, users={"mailer": "p@ss:word"}) as server:
        monkeypatch.setenv("SSL_CERT_FILE", str(server.ca_file))
        url = server.url.replace("p@ss:word", "p%40ss%3Aword")
        send_message(settings.model_copy(update={"smtp_url": url}), _message())
        [mail] = server.wait_for(1)
    assert mail.tls is True
    assert mail.login == "mailer"


def test_an_untrusted_certificate_is_refused(settings: Settings):
    with loopback.SmtpServer(tls="implicit") as server:  # SSL_CERT_FILE not pointed at it
        with pytest.raises(OSError, match="CERTIFICATE_VERIFY_FAILED"):
            send_message(settings.model_copy(update={"smtp_url": server.url}), _message())
        assert server.received == []


def test_a_wrong_password_raises_and_nothing_is_delivered(settings: Settings):
    with loopback.SmtpServer(users={"mailer": "right"}) as server:
        url = server.url.replace(":right@", ":wrong@")
        with pytest.raises(smtplib.SMTPAuthenticationError):
            send_message(settings.model_copy(update={"smtp_url": url}), _message())
        assert server.received == []


def test_a_temporary_failure_raises(settings: Settings, smtp_server):
    smtp_server.fail_next(1)
    settings = settings.model_copy(update={"smtp_url": smtp_server.url})
    with pytest.raises(smtplib.SMTPDataError):
        send_message(settings, _message())
    send_message(settings, _message())
    assert len(smtp_server.wait_for(1)) == 1


def test_no_smtp_url_means_no_mail(settings: Settings):
    assert not mail_configured(settings)
    with pytest.raises(MailNotConfigured):
        send_message(settings, _message())


def test_unreachable_server_raises_oserror(settings: Settings):
    from tests.support.server import free_port

    url = f"smtp://127.0.0.1:{free_port()}"
    with pytest.raises(OSError):
        send_message(settings.model_copy(update={"smtp_url": url}), _message())


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("smtp://relay", SmtpServer("relay", 25, "plain")),
        (
            "smtp://u:p@mail.example.com:587?starttls=1",
            SmtpServer("mail.example.com", 587, "starttls", "u", "p"),
        ),
        ("smtp://u@host:2525?starttls=true", SmtpServer("host", 2525, "starttls", "u", None)),
        ("smtps://a%40b.c:x%2Fy@host", SmtpServer("host", 465, "implicit", "a@b.c", "x/y")),
        ("smtp://u:@host", SmtpServer("host", 25, "plain", "u", "")),
    ],
)
def test_parse_smtp_url(url, expected):
    assert parse_smtp_url(url) == expected


@pytest.mark.parametrize("url", ["http://host", "smtp://", "smtp://host:notaport", "host:25"])
def test_parse_smtp_url_rejects(url):
    with pytest.raises(ValueError, match="PAGEPULSE_SMTP_URL"):
        parse_smtp_url(url)
