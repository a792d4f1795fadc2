"""Helpers for the billing tests over HTTP: pages and their text, CSRF tokens, the admin
CLI as a real subprocess on a server's data dir, accounts and sites written to its SQLite
file, events sent through the real ingestion route."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
from selectolax.lexbor import LexborHTMLParser

from pagepulse.control.db import open_database
from pagepulse.control.sites import create_site
from tests.support.server import Server
from tests.support.site import CHROME_UA

WEBHOOK_SECRET = "whsec_billing_tests"
PASSWORD = "a-long-password"
SAAS_ENV = {
    "PAGEPULSE_MODE": "saas",
    "PAGEPULSE_BILLING_WEBHOOK_SECRET": WEBHOOK_SECRET,
    "PAGEPULSE_USAGE_CHECK_SECONDS": "0.5",
}


def page(response: httpx.Response) -> LexborHTMLParser:
    return LexborHTMLParser(response.text)


def text(response: httpx.Response, selector: str) -> str:
    node = page(response).css_first(selector)
    assert node is not None, f"no {selector!r} in {response.url}"
    return " ".join(node.text().split())


def csrf(client: httpx.Client, url: str = "/account") -> str:
    node = page(client.get(url)).css_first("input[name=csrf_token]")
    assert node is not None
    return node.attributes["value"] or ""


def run_cli(server: Server, *args: str) -> subprocess.CompletedProcess:
    """``pagepulse ARGS`` as an admin runs it, on the server's data dir and mode."""
    env = {**os.environ, "PAGEPULSE_DATA_DIR": str(server.data_dir), **server.env}
    return subprocess.run(
        [sys.executable, "-m", "pagepulse.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def add_site(server: Server, domain: str, user_id: int) -> int:
    conn = open_database(server.data_dir / "pagepulse.sqlite3")
    try:
        return create_site(conn, domain, user_id).id
    finally:
        conn.close()


def db_rows(server: Server, sql: str, *params) -> list[tuple]:
    conn = open_database(server.data_dir / "pagepulse.sqlite3")
    try:
        return [tuple(row) for row in conn.execute(sql, params).fetchall()]
    finally:
        conn.close()


def send_events(server: Server, domain: str, pageviews: int, custom_events: int) -> None:
    """Through the real ingestion route, as a visitor's browser sends them."""
    bodies = [
        {"n": "pageview", "u": f"https://{domain}/p{i}", "d": domain} for i in range(pageviews)
    ]
    bodies += [{"n": "Signup", "u": f"https://{domain}/join", "d": domain}] * custom_events
    with httpx.Client(base_url=server.url, timeout=10) as client:
        for body in bodies:
            response = client.post(
                "/api/event",
                json=body,
                headers={"User-Agent": CHROME_UA, "Content-Type": "text/plain"},
            )
            assert response.status_code == 202 and "x-pagepulse-dropped" not in response.headers


def events_dir(server: Server) -> Path:
    return server.data_dir / "events"
