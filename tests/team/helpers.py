"""The team tests' world: a real server (``pagepulse serve`` over HTTP), accounts and
sites written straight into its SQLite file, and clients that log in through the form.

``Team`` holds one site with an owner, an admin and a viewer, a stranger with a site
of their own, and an anonymous client; ``team.reset()`` puts the roles back between
requests that may change them (leave, remove, transfer).
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from selectolax.lexbor import LexborHTMLParser

from pagepulse.control import members, sites, users
from pagepulse.control.db import open_database
from tests.support.server import Server
from tests.support.site import form_fields, log_in
from tests.support.smtp import ReceivedMail, SmtpServer

PASSWORD = "team-password-1"
ROLES = ("owner", "admin", "viewer")
EVERYONE = (*ROLES, "stranger", "anonymous")
NO_SUCH_SITE = "No such site."


@contextlib.contextmanager
def database(data_dir: Path) -> Iterator[sqlite3.Connection]:
    conn = open_database(data_dir / "pagepulse.sqlite3")
    try:
        yield conn
    finally:
        conn.close()


def html(response: httpx.Response) -> LexborHTMLParser:
    return LexborHTMLParser(response.text)


def start_server(data_dir: Path, env: dict[str, str] | None = None) -> Server:
    server = Server(data_dir, env=env)
    server.env["PAGEPULSE_BASE_URL"] = server.url  # invitation links point at it
    return server.start()


def new_user(data_dir: Path, email: str) -> int:
    with database(data_dir) as conn:
        user = users.get_user_by_email(conn, email) or users.create_user(conn, email, PASSWORD)
        return user.id


def new_site(data_dir: Path, domain: str, owner_id: int) -> int:
    with database(data_dir) as conn:
        return sites.create_site(conn, domain, owner_id).id


def client(server: Server) -> httpx.Client:
    return httpx.Client(base_url=server.url, follow_redirects=True, timeout=30.0)


def logged_in(server: Server, email: str) -> httpx.Client:
    browser = client(server)
    log_in(browser, email, PASSWORD)
    return browser


def csrf_token(browser: httpx.Client, page: str = "/login") -> str:
    """The token the page's forms carry (bound to the session, or the pre-session)."""
    node = html(browser.get(page)).css_first("input[name=csrf_token]")
    assert node is not None, f"no csrf_token on {page}"
    return node.attributes.get("value") or ""


def submit(
    browser: httpx.Client, page: str, form: str, data: dict[str, str], **kwargs
) -> httpx.Response:
    """Open ``page``, fill the form matched by ``form`` (keeping its hidden fields), post it."""
    response = browser.get(page)
    assert response.status_code == 200, (page, response.status_code)
    action, hidden = form_fields(response.text, form)
    return browser.post(action or page, data={**hidden, **data}, **kwargs)


def mail_to(smtp: SmtpServer, address: str, timeout: float = 10.0) -> ReceivedMail:
    """The first message the SMTP server received for ``address``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for mail in list(smtp.received):
            if address in mail.rcpt_tos:
                return mail
        time.sleep(0.05)
    raise AssertionError(f"no mail to {address}; got {[m.rcpt_tos for m in smtp.received]}")


@dataclass
class Team:
    server: Server
    site_id: int
    stranger_site_id: int
    user_ids: dict[str, int]
    clients: dict[str, httpx.Client] = field(default_factory=dict)

    @property
    def data_dir(self) -> Path:
        return self.server.data_dir

    def email(self, who: str) -> str:
        return f"{who}@team.test"

    def db(self) -> contextlib.AbstractContextManager[sqlite3.Connection]:
        return database(self.data_dir)

    def reset(self) -> None:
        """Owner, admin and viewer as at the start, whatever a request changed."""
        with self.db() as conn:
            conn.execute(
                "UPDATE sites SET owner_id = ? WHERE id = ?",
                (self.user_ids["owner"], self.site_id),
            )
            conn.execute("DELETE FROM site_members WHERE site_id = ?", (self.site_id,))
            members.add_member(conn, self.site_id, self.user_ids["admin"], "admin")
            members.add_member(conn, self.site_id, self.user_ids["viewer"], "viewer")

    def close(self) -> None:
        for browser in self.clients.values():
            browser.close()


def build_team(server: Server, domain: str = "team.example") -> Team:
    ids = {who: new_user(server.data_dir, f"{who}@team.test") for who in (*ROLES, "stranger")}
    team = Team(
        server=server,
        site_id=new_site(server.data_dir, domain, ids["owner"]),
        stranger_site_id=new_site(server.data_dir, f"stranger-{domain}", ids["stranger"]),
        user_ids=ids,
    )
    team.reset()
    for who in (*ROLES, "stranger"):
        team.clients[who] = logged_in(server, team.email(who))
    team.clients["anonymous"] = client(server)
    return team
