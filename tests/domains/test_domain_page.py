"""The Domain page over HTTP on a real server: claim a host, read the DNS records to create,
check them, remove; bad hosts refused with a message; who may do what; the plan gate."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from selectolax.lexbor import LexborHTMLParser

from pagepulse.control import custom_domains, members
from tests.domains.helpers import (
    TARGET,
    client_of,
    database,
    domain_settings,
    server_env,
    site,
    user,
    verified_claim,
)
from tests.support.dns import DnsTestServer, dns_server
from tests.support.passwords import cheap_password_hashing
from tests.support.server import Server
from tests.support.site import form_fields

OWNER = "owner@example.test"


@dataclass
class World:
    server: Server
    dns: DnsTestServer
    settings: object
    site: int  # example.com, owned by OWNER; admin@ and viewer@ are members

    def client(self, email: str | None = OWNER) -> contextlib.AbstractContextManager[httpx.Client]:
        return client_of(self.server.url, email)

    def claim(self):
        with database(self.settings) as conn:  # type: ignore[arg-type]
            return custom_domains.get_domain(conn, self.site)


def html(response: httpx.Response) -> LexborHTMLParser:
    return LexborHTMLParser(response.text)


def text(response: httpx.Response, selector: str) -> str:
    node = html(response).css_first(selector)
    assert node is not None, f"no {selector} in the page"
    return node.text(strip=True)


def submit(client: httpx.Client, page: str, form: str, **data: str) -> httpx.Response:
    """Fill the form ``form`` of ``page`` (with its CSRF token) and post it."""
    opened = client.get(page)
    assert opened.status_code == 200, opened.status_code
    action, hidden = form_fields(opened.text, form)
    return client.post(action, data={**hidden, **data})


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    data_dir = tmp_path_factory.mktemp("page") / "data"
    with dns_server() as dns, cheap_password_hashing():
        settings = domain_settings(data_dir, dns.address)
        with database(settings) as conn:
            site_id = site(conn, "example.com", OWNER)
            for email, role in (("admin@example.test", "admin"), ("viewer@example.test", "viewer")):
                members.add_member(conn, site_id, user(conn, email), role)  # type: ignore[arg-type]
            user(conn, "stranger@example.test")
            taken = site(conn, "taken.example", "else@example.test")
            verified_claim(conn, settings, dns, taken, "stats.taken.example")
        server = Server(data_dir, env=server_env(dns.address)).start(timeout=90)
        try:
            yield World(server, dns, settings, site_id)
        finally:
            server.stop()


@pytest.fixture
def clean(world: World) -> Iterator[World]:
    """The site without a custom domain before and after the test."""
    with database(world.settings) as conn:  # type: ignore[arg-type]
        custom_domains.remove_domain(conn, world.site)
    world.dns.records.clear()
    yield world
    with database(world.settings) as conn:  # type: ignore[arg-type]
        custom_domains.remove_domain(conn, world.site)


def test_the_owner_claims_checks_and_removes_a_domain(clean: World) -> None:
    page = f"/sites/{clean.site}/domain"
    with clean.client() as client:
        assert f'href="/sites/{clean.site}/domain"' in client.get(f"/sites/{clean.site}").text
        added = submit(client, page, "form.add-domain", hostname="  Stats.Example.COM ")
        assert added.status_code == 200 and added.url.path == page
        assert text(added, ".domain-hostname") == "stats.example.com"
        assert html(added).css_first(".domain-status").attributes["data-state"] == "pending"
        txt_value = text(added, "code.txt-value")
        assert txt_value == clean.claim().txt_value
        assert "_pagepulse.stats.example.com" in text(added, "dl[data-record=txt]")
        assert text(added, "code.cname-target") == TARGET

        nothing = submit(client, page, "form.verify-domain")
        assert "stats.example.com does not exist in DNS (NXDOMAIN)" in text(
            nothing, ".domain-error"
        )
        assert html(nothing).css_first(".domain-status").attributes["data-state"] == "pending"

        clean.dns.records["_pagepulse.stats.example.com"] = {"TXT": ["pagepulse-verification=x"]}
        wrong = submit(client, page, "form.verify-domain")
        assert 'holds another token ("pagepulse-verification=x")' in text(wrong, ".domain-error")

        clean.dns.records["_pagepulse.stats.example.com"] = {"TXT": [txt_value]}
        verified = submit(client, page, "form.verify-domain")
        assert html(verified).css_first(".domain-status").attributes["data-state"] == "verified"
        assert "stats.example.com is verified" in text(verified, ".flashes")
        assert html(verified).css_first(".domain-error") is None
        snippet = client.get(f"/sites/{clean.site}/snippet")
        assert 'src="http://stats.example.com/js/script.js"' in text(snippet, "pre.snippet")
        ask = client.get("/api/tls/ask", params={"domain": "stats.example.com"})
        assert ask.status_code == 200

        removed = submit(client, page, "form.remove-domain")
        assert "Removed stats.example.com" in text(removed, ".flashes")
        assert html(removed).css_first("form.add-domain") is not None
        assert clean.claim() is None
        assert client.get("/api/tls/ask", params={"domain": "stats.example.com"}).status_code == 404
        snippet = client.get(f"/sites/{clean.site}/snippet")
        assert 'src="http://pagepulse.test/js/script.js"' in text(snippet, "pre.snippet")


@pytest.mark.parametrize(
    ("hostname", "message"),
    [
        ("192.0.2.1", "not an IP address"),
        ("pagepulse.test", "this PagePulse server's own address"),
        ("app.pulse.test", "this PagePulse server's own address"),
        ("bad_name.example.com", "Enter a full host name"),
        ("stats", "Enter a full host name"),
        ("stats.taken.example", "stats.taken.example is already the custom domain of another site"),
    ],
)
def test_hosts_that_cannot_be_claimed_are_refused_with_a_message(
    clean: World, hostname: str, message: str
) -> None:
    with clean.client() as client:
        page = f"/sites/{clean.site}/domain"
        refused = submit(client, page, "form.add-domain", hostname=hostname)
        assert refused.status_code == 400
        assert message in text(refused, ".form-errors")
        # The form keeps what was typed; nothing is stored.
        assert html(refused).css_first("#domain-hostname").attributes["value"] == hostname
        assert clean.claim() is None


def test_an_admin_manages_the_domain_like_the_owner(clean: World) -> None:
    page = f"/sites/{clean.site}/domain"
    with clean.client("admin@example.test") as client:
        added = submit(client, page, "form.add-domain", hostname="pulse.example.com")
        assert added.status_code == 200 and text(added, ".domain-hostname") == "pulse.example.com"
        clean.dns.records["pulse.example.com"] = {"CNAME": [TARGET]}
        checked = submit(client, page, "form.verify-domain")
        assert html(checked).css_first(".domain-status").attributes["data-state"] == "verified"
        assert "CNAME record" in text(checked, ".domain-status")
        removed = submit(client, page, "form.remove-domain")
        assert removed.status_code == 200 and clean.claim() is None


def _attempts(world: World, client: httpx.Client) -> list[int]:
    """Status of the page and of each form post (with a valid CSRF token of the session)."""
    token_page = client.get("/account")
    _action, hidden = form_fields(token_page.text, "form")
    statuses = [client.get(f"/sites/{world.site}/domain", follow_redirects=False).status_code]
    for suffix in ("", "/verify", "/delete"):
        response = client.post(
            f"/sites/{world.site}/domain{suffix}",
            data={**hidden, "hostname": "evil.example.com"},
            follow_redirects=False,
        )
        statuses.append(response.status_code)
    return statuses


def test_a_viewer_may_not_manage_the_domain(clean: World) -> None:
    with database(clean.settings) as conn:  # type: ignore[arg-type]
        custom_domains.add_domain(conn, clean.settings, clean.site, "stats.example.com")  # type: ignore[arg-type]
    with clean.client("viewer@example.test") as client:
        assert _attempts(clean, client) == [403, 403, 403, 403]
        nav = client.get(f"/sites/{clean.site}").text
        assert f'href="/sites/{clean.site}/domain"' not in nav
    claim = clean.claim()
    assert claim is not None and claim.hostname == "stats.example.com"


def test_a_stranger_gets_404_and_nothing_changes(clean: World) -> None:
    with database(clean.settings) as conn:  # type: ignore[arg-type]
        custom_domains.add_domain(conn, clean.settings, clean.site, "stats.example.com")  # type: ignore[arg-type]
    with clean.client("stranger@example.test") as client:
        assert _attempts(clean, client) == [404, 404, 404, 404]
    claim = clean.claim()
    assert claim is not None and claim.hostname == "stats.example.com"


def test_anonymous_visitors_are_sent_to_log_in_and_posts_need_the_csrf_token(
    clean: World,
) -> None:
    with clean.client(None) as anonymous:
        page = anonymous.get(f"/sites/{clean.site}/domain", follow_redirects=False)
        assert page.status_code == 303 and page.headers["location"].startswith("/login")
    with clean.client() as owner:
        forged = owner.post(f"/sites/{clean.site}/domain", data={"hostname": "evil.example.com"})
        assert forged.status_code == 403
    assert clean.claim() is None
