"""A real SMTP server on loopback (aiosmtpd) that keeps what it receives, for email tests.

    with SmtpServer() as server:
        settings = Settings(..., smtp_url=server.url)
        ...send...
        [mail] = server.wait_for(1)
        assert mail.message["To"] == "a@example.com"

``tls="starttls"`` or ``tls="implicit"`` serve a self-signed certificate for 127.0.0.1
made with ``openssl``; point ``SSL_CERT_FILE`` at ``server.ca_file`` so the client
trusts it. ``users={"name": "password"}`` requires SMTP AUTH. ``fail_next(n)``
answers the next n messages with a temporary failure (451), as a busy server would.
The ``smtp_server`` fixture in tests/conftest.py starts a plain one per test.
"""

from __future__ import annotations

import email.policy
import ssl
import subprocess
import tempfile
import threading
import time
import warnings
from dataclasses import dataclass
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Literal

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from tests.support.server import free_port

Tls = Literal["none", "starttls", "implicit"]


@dataclass(frozen=True)
class ReceivedMail:
    message: EmailMessage
    mail_from: str
    rcpt_tos: tuple[str, ...]
    login: str | None  # the AUTH user name, when the client logged in
    tls: bool  # whether the session was encrypted when the message arrived


class _Handler:
    def __init__(self, server: SmtpServer) -> None:
        self.server = server

    async def handle_DATA(self, smtp, session, envelope) -> str:
        encrypted = smtp.transport.get_extra_info("ssl_object") is not None
        return self.server._receive(session, envelope, encrypted)


class _Controller(Controller):
    def factory(self):
        with warnings.catch_warnings():
            # Plain-text AUTH is what the tests mean to exercise (a relay on loopback).
            warnings.filterwarnings("ignore", "Requiring AUTH while not requiring TLS")
            return super().factory()


class SmtpServer:
    def __init__(self, *, tls: Tls = "none", users: dict[str, str] | None = None) -> None:
        self.tls = tls
        self.users = users
        self.host = "127.0.0.1"
        self.port = 0
        self.received: list[ReceivedMail] = []
        self._cond = threading.Condition()
        self._failures_left = 0
        self._tmp: tempfile.TemporaryDirectory | None = None
        self._controller: Controller | None = None

    # -- the URL a client should use -------------------------------------------------------
    @property
    def url(self) -> str:
        scheme = "smtps" if self.tls == "implicit" else "smtp"
        auth = ""
        if self.users:
            name, password = next(iter(self.users.items()))
            auth = f"{name}:{password}@"
        query = "?starttls=1" if self.tls == "starttls" else ""
        return f"{scheme}://{auth}{self.host}:{self.port}{query}"

    @property
    def ca_file(self) -> Path:
        assert self._tmp is not None and self.tls != "none", "only a TLS server has a CA file"
        return Path(self._tmp.name) / "cert.pem"

    # -- life cycle ---------------------------------------------------------------------------
    def start(self) -> SmtpServer:
        context = self._tls_context() if self.tls != "none" else None
        kwargs: dict = {}
        if self.tls == "starttls":
            kwargs.update(tls_context=context, require_starttls=True)
        elif self.tls == "implicit":
            kwargs.update(ssl_context=context)
        if self.users is not None:
            kwargs.update(
                authenticator=self._authenticate,
                auth_required=True,
                # aiosmtpd only counts STARTTLS as TLS; implicit TLS is encrypted anyway.
                auth_require_tls=self.tls == "starttls",
            )
        for _attempt in range(5):  # a free port may be taken between asking and binding
            self.port = free_port()
            controller = _Controller(_Handler(self), hostname=self.host, port=self.port, **kwargs)
            try:
                controller.start()
            except (OSError, RuntimeError):
                continue
            self._controller = controller
            return self
        raise RuntimeError("could not start the SMTP server")

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> SmtpServer:
        return self.start()

    def __exit__(self, *_exc) -> None:
        self.stop()

    # -- what arrived ---------------------------------------------------------------------
    @property
    def messages(self) -> list[EmailMessage]:
        with self._cond:
            return [mail.message for mail in self.received]

    def wait_for(self, count: int, timeout: float = 10.0) -> list[ReceivedMail]:
        """Block until at least ``count`` messages arrived; fail the test after ``timeout``."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self.received) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"expected {count} messages within {timeout} s, got {len(self.received)}"
                    )
                self._cond.wait(left)
            return list(self.received)

    def fail_next(self, count: int = 1) -> None:
        with self._cond:
            self._failures_left = count

    def _receive(self, session, envelope, encrypted: bool) -> str:
        with self._cond:
            if self._failures_left > 0:
                self._failures_left -= 1
                return "451 4.3.0 Try again later"
            parser = BytesParser(policy=email.policy.default)
            # Lines arrive CRLF-terminated; as a mail client would, read them as text lines.
            raw = (envelope.original_content or envelope.content).replace(b"\r\n", b"\n")
            message = parser.parsebytes(raw)
            assert isinstance(message, EmailMessage)
            login = session.auth_data.login.decode() if session.authenticated else None
            self.received.append(
                ReceivedMail(
                    message=message,
                    mail_from=envelope.mail_from,
                    rcpt_tos=tuple(envelope.rcpt_tos),
                    login=login,
                    tls=encrypted,
                )
            )
            self._cond.notify_all()
        return "250 OK"

    def _authenticate(self, _server, _session, _envelope, mechanism, auth_data) -> AuthResult:
        if not isinstance(auth_data, LoginPassword) or self.users is None:
            return AuthResult(success=False, handled=False)
        name, password = auth_data.login.decode(), auth_data.password.decode()
        ok = self.users.get(name) == password
        return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)

    def _tls_context(self) -> ssl.SSLContext:
        self._tmp = tempfile.TemporaryDirectory(prefix="pagepulse-smtp-")
        cert = Path(self._tmp.name) / "cert.pem"
        key = Path(self._tmp.name) / "key.pem"
        subprocess.run(
            [
                *("openssl", "req", "-x509", "-nodes", "-days", "1"),
                *("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"),
                *("-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1"),
                *("-addext", "subjectAltName=IP:127.0.0.1"),
            ],
            check=True,
            capture_output=True,
        )
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, key)
        return context
