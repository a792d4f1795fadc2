"""Shared set-up for the custom-domain tests: one naming of the hosts, settings that
match the server's environment, claims verified against the real test DNS server."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from pagepulse.config import Settings
from pagepulse.control import custom_domains, sites
from pagepulse.control.db import open_database
from pagepulse.control.users import create_user, get_user_by_email
from tests.support.dns import DnsTestServer
from tests.support.server import Server
from tests.support.site import CHROME_UA, log_in

BASE_URL = "http://pagepulse.test"  # the app's own host: pagepulse.test
TARGET = "pulse.test"  # the CNAME target
PASSWORD = "a long enough password"


def domain_settings(data_dir: Path, dns_address: str, **extra: object) -> Settings:
    """Settings as the test server sees them (``server_env`` with the same values)."""
    values = {
        "data_dir": data_dir,
        "secret_key": "test-secret",
        "base_url": BASE_URL,
        "custom_domain_target": TARGET,
        "dns_nameserver": dns_address,
        "dns_timeout": 2.0,
        **extra,
    }
    return Settings(**values)  # type: ignore[arg-type]


def server_env(dns_address: str, **extra: str) -> dict[str, str]:
    return {
        "PAGEPULSE_BASE_URL": BASE_URL,
        "PAGEPULSE_CUSTOM_DOMAIN_TARGET": TARGET,
        "PAGEPULSE_DNS_NAMESERVER": dns_address,
        "PAGEPULSE_DNS_TIMEOUT": "2",
        **extra,
    }


@contextlib.contextmanager
def database(settings: Settings) -> Iterator[sqlite3.Connection]:
    conn = open_database(settings.db_path)
    try:
        yield conn
    finally:
        conn.close()


def user(conn: sqlite3.Connection, email: str) -> int:
    found = get_user_by_email(conn, email) or create_user(conn, email, PASSWORD)
    return found.id


def site(conn: sqlite3.Connection, domain: str, owner_email: str = "owner@example.test") -> int:
    return sites.create_site(conn, domain, user(conn, owner_email)).id


def txt_record(domain: custom_domains.CustomDomain) -> dict[str, list[str]]:
    return {"TXT": [domain.txt_value]}


def verified_claim(
    conn: sqlite3.Connection,
    settings: Settings,
    dns: DnsTestServer,
    site_id: int,
    hostname: str,
) -> custom_domains.CustomDomain:
    """Claim ``hostname`` for the site and verify it through the DNS by its TXT record."""
    domain = custom_domains.add_domain(conn, settings, site_id, hostname)
    dns.records[domain.txt_name] = txt_record(domain)
    checked = custom_domains.verify(conn, settings, domain)
    assert checked.verified, checked.last_error
    return checked


def beacon(domain: str, path: str = "/pricing") -> dict[str, object]:
    return {"n": "pageview", "u": f"https://{domain}{path}", "d": domain, "r": None, "w": 1280}


def post_event(base_url: str, host: str, body: dict[str, object]) -> httpx.Response:
    headers = {"host": host, "user-agent": CHROME_UA, "content-type": "text/plain"}
    return httpx.post(f"{base_url}/api/event", json=body, headers=headers, timeout=10)


@contextlib.contextmanager
def client_of(server_url: str, email: str | None) -> Iterator[httpx.Client]:
    """An HTTP client of the server, logged in as ``email`` through the form (None:
    anonymous); it follows redirects."""
    with httpx.Client(base_url=server_url, follow_redirects=True, timeout=10) as client:
        if email:
            log_in(client, email, PASSWORD)
        yield client


def get_on_host(server: Server, path: str, host: str, **kwargs: Any) -> httpx.Response:
    """GET ``path`` from the server as if it were reached as ``host``."""
    headers = {"host": host, **kwargs.pop("headers", {})}
    return httpx.get(f"{server.url}{path}", headers=headers, timeout=10, **kwargs)


def tls_ask(server: Server, domain: str) -> int:
    """What the ``ask`` endpoint answers the reverse proxy (on the server's own address)."""
    params = {"domain": domain}
    return get_on_host(
        server, "/api/tls/ask", f"127.0.0.1:{server.port}", params=params
    ).status_code
