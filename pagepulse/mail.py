"""Outgoing email: one function, ``send_message``, over SMTP from ``PAGEPULSE_SMTP_URL``.

The URL says everything about the server:

- ``smtp://host:25``: plain SMTP (a local relay);
- ``smtp://user:pass@host:587?starttls=1``: upgrade with STARTTLS before logging in;
- ``smtps://user:pass@host:465``: TLS from the first byte (implicit TLS).

User and password are percent-decoded, so a password may hold ``@`` or ``:`` as
``%40`` / ``%3A``. Certificates are verified against the system's trust store
(``SSL_CERT_FILE`` points OpenSSL at another bundle). Messages without a ``From``
get ``PAGEPULSE_MAIL_FROM``. Used by email reports and team invitations.
"""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Literal
from urllib.parse import parse_qs, unquote, urlsplit

from pagepulse.config import Settings

SMTP_TIMEOUT_SECONDS = 30.0
DEFAULT_PORTS = {"smtp": 25, "smtps": 465}
TRUE_VALUES = {"1", "true", "yes", "on"}

Security = Literal["plain", "starttls", "implicit"]


class MailNotConfigured(RuntimeError):
    """``PAGEPULSE_SMTP_URL`` is empty: there is nowhere to send mail."""


@dataclass(frozen=True)
class SmtpServer:
    host: str
    port: int
    security: Security
    username: str | None = None
    password: str | None = None


def parse_smtp_url(url: str) -> SmtpServer:
    """``smtp[s]://[user[:pass]@]host[:port][?starttls=1]`` → where and how to connect."""
    parts = urlsplit(url)
    if parts.scheme not in DEFAULT_PORTS:
        raise ValueError(f"PAGEPULSE_SMTP_URL must start with smtp:// or smtps://, not {url!r}")
    if not parts.hostname:
        raise ValueError("PAGEPULSE_SMTP_URL has no host")
    try:
        port = parts.port or DEFAULT_PORTS[parts.scheme]
    except ValueError:
        raise ValueError("PAGEPULSE_SMTP_URL has an invalid port") from None
    query = parse_qs(parts.query)
    starttls = query.get("starttls", ["0"])[-1].lower() in TRUE_VALUES
    if parts.scheme == "smtps":
        security: Security = "implicit"
    else:
        security = "starttls" if starttls else "plain"
    return SmtpServer(
        host=parts.hostname,
        port=port,
        security=security,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password is not None else None,
    )


def mail_configured(settings: Settings) -> bool:
    return bool(settings.smtp_url.strip())


def send_message(settings: Settings, message: EmailMessage) -> None:
    """Hand ``message`` to the configured SMTP server; returns once it accepted it.

    Raises ``MailNotConfigured`` without an SMTP URL, ``smtplib.SMTPException`` or
    ``OSError`` when the server refuses or cannot be reached (including when every
    recipient is refused).
    """
    if not mail_configured(settings):
        raise MailNotConfigured("set PAGEPULSE_SMTP_URL to send email")
    server = parse_smtp_url(settings.smtp_url.strip())
    if "From" not in message:
        message["From"] = settings.mail_from
    with _connect(server) as smtp:
        if server.username:
            smtp.login(server.username, server.password or "")
        smtp.send_message(message)


def _connect(server: SmtpServer) -> smtplib.SMTP:
    context = ssl.create_default_context()
    if server.security == "implicit":
        return smtplib.SMTP_SSL(
            server.host, server.port, timeout=SMTP_TIMEOUT_SECONDS, context=context
        )
    smtp = smtplib.SMTP(server.host, server.port, timeout=SMTP_TIMEOUT_SECONDS)
    try:
        if server.security == "starttls":
            smtp.starttls(context=context)
            smtp.ehlo()
    except BaseException:
        smtp.close()
        raise
    return smtp
