"""Email reports through a real server (``pagepulse serve`` over HTTP) and a real SMTP
server (aiosmtpd): the opt-in page per member and role, the scheduler inside the server
(once with two workers and across a restart), the unsubscribe link (confirm page,
tampered links, RFC 8058 one-click POST without cookies), and the report's numbers
against the dashboard's own JSON for the same period."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from selectolax.lexbor import LexborHTMLParser

from pagepulse.config import Settings
from pagepulse.control.db import open_database
from pagepulse.reports import subscriptions
from pagepulse.reports.sender import send_due_reports
from pagepulse.web.dashboard import formatting
from tests.reports import report_data as data
from tests.support.server import Server
from tests.support.site import form_fields, log_in
from tests.support.smtp import SmtpServer

LONG_AGO = data.SUBSCRIBED_AT.replace(year=2020)


def db(server: Server) -> sqlite3.Connection:
    return open_database(server.data_dir / "pagepulse.sqlite3")


@pytest.fixture
def world(tmp_path: Path):
    """A Berlin site with an owner, an admin, a viewer and a stranger, and its traffic."""
    data_dir = tmp_path / "data"
    conn = open_database(data_dir / "pagepulse.sqlite3")
    people = {
        name: data.add_user(conn, f"{name}@example.com")
        for name in ("owner", "admin", "viewer", "stranger")
    }
    site = data.add_site(conn, people["owner"])
    data.add_member(conn, site, people["admin"], "admin")
    data.add_member(conn, site, people["viewer"], "viewer")
    conn.close()
    data.import_traffic(data_dir / "events", site.id, tmp_path)
    return data_dir, site, people


class Servers:
    """Real servers and logged-in HTTP clients; a server stops after its clients close
    (uvicorn waits for open keep-alive connections when it shuts down)."""

    def __init__(self) -> None:
        self.clients: dict[Server, list[httpx.Client]] = {}

    def start(self, data_dir: Path, smtp: SmtpServer | None = None, workers: int = 1, **env):
        server = Server(data_dir, workers=workers, env=env)
        server.env["PAGEPULSE_BASE_URL"] = server.url
        if smtp is not None:
            server.env["PAGEPULSE_SMTP_URL"] = smtp.url
        self.clients[server] = []
        return server.start()

    def client(self, server: Server, person: str | None = None) -> httpx.Client:
        client = httpx.Client(base_url=server.url, follow_redirects=True, timeout=30)
        self.clients[server].append(client)
        if person:
            log_in(client, f"{person}@example.com", data.PASSWORD)
        return client

    def stop(self, server: Server) -> None:
        for client in self.clients[server]:
            client.close()
        self.clients[server] = []
        server.stop()


@pytest.fixture
def servers() -> Iterator[Servers]:
    running = Servers()
    yield running
    for server in running.clients:
        running.stop(server)


def save_choices(client: httpx.Client, site_id: int, **choices: str) -> httpx.Response:
    page = client.get(f"/sites/{site_id}/reports")
    assert page.status_code == 200
    action, hidden = form_fields(page.text, "form.reports-form")
    return client.post(action, data={**hidden, **choices})


def checked(page: httpx.Response) -> dict[str, bool]:
    tree = LexborHTMLParser(page.text)
    return {
        kind: "checked" in tree.css_first(f"#report-{kind}").attributes
        for kind in ("weekly", "monthly")
    }


def test_each_member_opts_in_for_themselves(world, smtp_server, servers):
    data_dir, site, _people = world
    server = servers.start(data_dir, smtp_server)
    owner = servers.client(server, "owner")
    viewer = servers.client(server, "viewer")
    admin = servers.client(server, "admin")
    page = owner.get(f"/sites/{site.id}/reports")
    assert checked(page) == {"weekly": False, "monthly": False}
    assert "Mondays at 09:00 Europe/Berlin" in page.text
    saved = save_choices(owner, site.id, weekly="on")
    assert saved.url.path == f"/sites/{site.id}/reports"
    assert "You will receive the weekly report of shop.example" in saved.text
    assert checked(saved) == {"weekly": True, "monthly": False}
    # The viewer sees their own (empty) choice, and may subscribe: viewing is enough.
    assert checked(viewer.get(f"/sites/{site.id}/reports")) == {
        "weekly": False,
        "monthly": False,
    }
    both = save_choices(viewer, site.id, weekly="on", monthly="on")
    assert checked(both) == {"weekly": True, "monthly": True}
    save_choices(admin, site.id, monthly="on")
    # Turning one off keeps the other.
    only_monthly = save_choices(viewer, site.id, monthly="on")
    assert checked(only_monthly) == {"weekly": False, "monthly": True}
    conn = db(server)
    assert {(s.email, s.kind) for s in subscriptions.subscriptions(conn)} == {
        ("owner@example.com", "weekly"),
        ("viewer@example.com", "monthly"),
        ("admin@example.com", "monthly"),
    }
    conn.close()
    # The site's tabs lead here for every role.
    for client in (owner, viewer):
        tabs = LexborHTMLParser(client.get(f"/sites/{site.id}").text)
        assert tabs.css_first(f'nav.tabs a[href="/sites/{site.id}/reports"]') is not None
    # Subscribing from the page is for the next slot: nothing was sent now.
    assert smtp_server.received == []


def test_strangers_get_404_and_forms_need_their_token(world, servers):
    data_dir, site, _people = world
    server = servers.start(data_dir)
    stranger = servers.client(server, "stranger")
    assert stranger.get(f"/sites/{site.id}/reports").status_code == 404
    token = form_fields(stranger.get("/sites").text, "form.logout-form")[1]["csrf_token"]
    posted = stranger.post(f"/sites/{site.id}/reports", data={"csrf_token": token, "weekly": "on"})
    assert posted.status_code == 404
    anonymous = servers.client(server)
    assert anonymous.get(f"/sites/{site.id}/reports").url.path == "/login"
    owner = servers.client(server, "owner")
    no_token = owner.post(f"/sites/{site.id}/reports", data={"weekly": "on"})
    assert no_token.status_code == 403
    assert "security token" in no_token.text
    page = LexborHTMLParser(owner.get(f"/sites/{site.id}/reports").text)
    assert page.css_first(".mail-off") is not None  # no SMTP URL on this server
    conn = db(server)
    assert subscriptions.subscriptions(conn) == []
    conn.close()


def test_saas_plan_without_email_reports_shows_the_upgrade_hint(world, servers):
    data_dir, site, _people = world
    server = servers.start(data_dir, PAGEPULSE_MODE="saas")  # the owner is on the free plan
    owner = servers.client(server, "owner")
    page = LexborHTMLParser(owner.get(f"/sites/{site.id}/reports").text)
    assert page.css_first('.upgrade-hint[data-feature="email_reports"]') is not None
    assert page.css_first("form.reports-form") is None
    token = form_fields(owner.get("/sites").text, "form.logout-form")[1]["csrf_token"]
    refused = owner.post(f"/sites/{site.id}/reports", data={"csrf_token": token, "weekly": "on"})
    assert refused.status_code == 403
    detail = LexborHTMLParser(refused.text).css_first(".error-detail").text()
    assert "not part of the site owner's plan" in detail
    conn = db(server)
    assert subscriptions.subscriptions(conn) == []
    conn.close()


def test_the_server_sends_once_with_two_workers_and_after_a_restart(world, smtp_server, servers):
    data_dir, site, people = world
    conn = open_database(data_dir / "pagepulse.sqlite3")
    data.subscribe(conn, site, people["owner"], "weekly", at=LONG_AGO)
    conn.close()

    server = servers.start(data_dir, smtp_server, workers=2)
    # Generous: the first check builds the report cold, on a machine that may be busy.
    [first] = smtp_server.wait_for(1, timeout=60)
    assert first.message["To"] == "owner@example.com"
    servers.stop(server)  # both workers checked at start-up, before serving
    assert "Traceback" not in server.logs(), server.logs()[-3000:]

    # Restarted, with one more subscriber: only the new one gets this week's report.
    conn = open_database(data_dir / "pagepulse.sqlite3")
    data.subscribe(conn, site, people["viewer"], "weekly", at=LONG_AGO)
    conn.close()
    server.start()
    smtp_server.wait_for(2, timeout=60)
    assert sorted(m["To"] for m in smtp_server.messages) == [
        "owner@example.com",
        "viewer@example.com",
    ]
    link = first.message["List-Unsubscribe"].strip("<>")
    assert link.startswith(f"{server.url}/reports/unsubscribe/")
    check_unsubscribe_link(servers, server, link, site.id, people["owner"].id)
    assert len(smtp_server.messages) == 2


def check_unsubscribe_link(servers: Servers, server: Server, link: str, site_id, user_id):
    anonymous = servers.client(server)  # a mail client: no session, no CSRF token
    confirm = anonymous.get(link)
    assert confirm.status_code == 200
    page = LexborHTMLParser(confirm.text)
    assert "Stop receiving the weekly report of shop.example?" in page.css_first("main").text()
    assert page.css_first("main form button").text() == "Unsubscribe"

    token = link.rsplit("/", 1)[1]
    # The signature's first character (its last one's low bits are base64 padding).
    value, signature = token.rsplit(".", 1)
    other_signature = ("A" if signature[0] != "A" else "Q") + signature[1:]
    tampered = [
        link.replace(token, f"{value}.{other_signature}"),  # signature changed
        link.replace(token, token.replace(".", "x.", 1)),  # payload changed
        f"{server.url}/reports/unsubscribe/not-a-token",
    ]
    for bad in tampered:
        assert anonymous.get(bad).status_code == 404
        response = anonymous.post(bad, data={"List-Unsubscribe": "One-Click"})
        assert response.status_code == 404
        assert "not valid" in LexborHTMLParser(response.text).css_first(".error-detail").text()
    conn = db(server)
    assert subscriptions.kinds_of(conn, site_id, user_id) == {"weekly"}

    # What RFC 8058 mail clients send: a bare form POST, no cookies, no token.
    one_click = httpx.post(link, data={"List-Unsubscribe": "One-Click"}, timeout=30)
    assert one_click.status_code == 200
    assert "You are unsubscribed" in one_click.text
    assert subscriptions.kinds_of(conn, site_id, user_id) == set()
    # The link keeps working (a second click, or the confirm page later).
    again = httpx.post(link, data={"List-Unsubscribe": "One-Click"}, timeout=30)
    assert again.status_code == 200
    assert "nothing to unsubscribe from" in anonymous.get(link).text
    conn.close()


def test_report_numbers_equal_the_dashboards(world, smtp_server, servers):
    data_dir, site, people = world
    server = servers.start(data_dir)
    owner = servers.client(server, "owner")

    def dashboard(name: str, start: str, end: str) -> dict:
        query = {"name": name, "format": "json", "period": "custom", "from": start, "to": end}
        response = owner.get(f"/sites/{site.id}/widget", params=query)
        assert response.status_code == 200, response.text
        return response.json()

    week = dashboard("top_stats", "2026-06-01", "2026-06-07")["top_stats"]
    before = dashboard("top_stats", "2026-05-25", "2026-05-31")["top_stats"]
    lists = {
        name: dashboard(name, "2026-06-01", "2026-06-07")["rows"][:5]
        for name in ("top_pages", "sources", "countries")
    }
    servers.stop(server)
    assert week["visits"] == 4 and before["visits"] == 2  # the data is what we think

    settings = Settings(
        data_dir=data_dir, secret_key="test-secret", smtp_url=smtp_server.url, base_url=server.url
    )
    conn = open_database(settings.db_path)
    data.subscribe(conn, site, people["owner"], "weekly")
    conn.close()
    [outcome] = send_due_reports(settings, now=data.DUE)
    assert outcome.status == "sent"
    [mail] = smtp_server.wait_for(1)
    page = LexborHTMLParser(mail.message.get_body(("html",)).get_content())

    for metric, (value, change_text) in data.stat_rows(page).items():
        assert value == formatting.metric_value(week[metric], metric)
        change = formatting.change(metric, week[metric], before[metric])
        assert change_text == (change.text if change else "–")

    shown = data.ranked_lists(page)
    assert shown["Top pages"] == [
        (row["name"].replace("\r\n", ""), str(row["visitors"])) for row in lists["top_pages"]
    ]
    assert shown["Top sources"] == [
        (row["name"] or "Direct / None", str(row["visitors"])) for row in lists["sources"]
    ]
    assert shown["Top countries"] == [
        (
            f"{formatting.flag(row['name'])} {formatting.country_name(row['name'])}",
            str(row["visitors"]),
        )
        for row in lists["countries"]
    ]
