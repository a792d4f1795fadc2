"""In saas mode a custom domain needs the site owner's plan to include it: the page shows
the upgrade hint instead of the buttons, the routes refuse, and a verified domain of an
account without the feature is not served (nor offered a certificate) until it upgrades."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from selectolax.lexbor import LexborHTMLParser

from pagepulse.control import shares
from tests.domains.helpers import (
    BASE_URL,
    client_of,
    database,
    domain_settings,
    get_on_host,
    server_env,
    site,
    tls_ask,
    verified_claim,
)
from tests.support.dns import dns_server
from tests.support.passwords import cheap_password_hashing
from tests.support.server import Server
from tests.support.site import form_fields

FREE = "free@example.test"
BUSINESS = "business@example.test"
UPGRADING = "upgrading@example.test"


@dataclass
class World:
    server: Server
    sites: dict[str, int]  # owner email -> site id
    shares: dict[str, str]  # owner email -> share slug

    def get(self, path: str, host: str, **kwargs) -> httpx.Response:
        return get_on_host(self.server, path, host, **kwargs)

    def ask(self, domain: str) -> int:
        return tls_ask(self.server, domain)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    data_dir = tmp_path_factory.mktemp("saas") / "data"
    with dns_server() as dns, cheap_password_hashing():
        settings = domain_settings(data_dir, dns.address, mode="saas")
        sites, links = {}, {}
        with database(settings) as conn:
            for email, domain in ((FREE, "free.example"), (BUSINESS, "biz.example")):
                sites[email] = site(conn, domain, email)
            sites[UPGRADING] = site(conn, "up.example", UPGRADING)
            conn.execute("UPDATE users SET plan = 'business' WHERE email = ?", (BUSINESS,))
            # Verified while on a plan with the feature; both accounts are on Free now.
            verified_claim(conn, settings, dns, sites[FREE], "stats.free.example")
            verified_claim(conn, settings, dns, sites[UPGRADING], "stats.up.example")
            for email, site_id in sites.items():
                links[email] = shares.create_share(conn, site_id, "public").slug
        env = server_env(dns.address, PAGEPULSE_MODE="saas")
        server = Server(data_dir, env=env).start(timeout=90)
        try:
            yield World(server, sites, links)
        finally:
            server.stop()


def logged_in(world: World, email: str) -> contextlib.AbstractContextManager[httpx.Client]:
    return client_of(world.server.url, email)


def test_without_the_feature_the_page_shows_the_upgrade_hint(world: World) -> None:
    site_id = world.sites[FREE]
    with logged_in(world, FREE) as client:
        page = client.get(f"/sites/{site_id}/domain")
        tree = LexborHTMLParser(page.text)
        hint = tree.css_first('.upgrade-hint[data-feature="custom_domains"]')
        assert hint is not None and "Business" in hint.text()
        assert tree.css_first("form.verify-domain") is None
        assert tree.css_first("form.add-domain") is None
        # Removing stays possible, and its CSRF token lets us try the refused routes.
        action, hidden = form_fields(page.text, "form.remove-domain")
        assert action == f"/sites/{site_id}/domain/delete"
        for suffix in ("", "/verify"):
            refused = client.post(f"/sites/{site_id}/domain{suffix}", data=hidden)
            assert refused.status_code == 403
            detail = LexborHTMLParser(refused.text).css_first(".error-detail").text()
            assert detail == "Custom domains are not part of this site owner's plan."


def test_a_verified_domain_without_the_feature_is_not_served(world: World) -> None:
    assert world.ask("stats.free.example") == 404
    assert world.get(f"/share/{world.shares[FREE]}", "stats.free.example").status_code == 404
    assert world.get("/js/script.js", "stats.free.example").status_code == 200
    with logged_in(world, FREE) as client:
        snippet = LexborHTMLParser(client.get(f"/sites/{world.sites[FREE]}/snippet").text)
        assert f'src="{BASE_URL}/js/script.js"' in snippet.css_first("pre.snippet").text()


def test_with_the_feature_the_owner_adds_a_domain(world: World) -> None:
    site_id = world.sites[BUSINESS]
    with logged_in(world, BUSINESS) as client:
        page = client.get(f"/sites/{site_id}/domain")
        assert LexborHTMLParser(page.text).css_first(".upgrade-hint") is None
        action, hidden = form_fields(page.text, "form.add-domain")
        added = client.post(action, data={**hidden, "hostname": "stats.biz.example"})
        assert added.status_code == 200
        assert LexborHTMLParser(added.text).css_first(".domain-hostname").text() == (
            "stats.biz.example"
        )


def test_upgrading_serves_the_verified_domain(world: World) -> None:
    host, slug = "stats.up.example", world.shares[UPGRADING]
    assert world.ask(host) == 404
    with database(domain_settings(world.server.data_dir, "127.0.0.1")) as conn:
        conn.execute("UPDATE users SET plan = 'business' WHERE email = ?", (UPGRADING,))
    assert world.ask(host) == 200
    # Each worker re-reads its host map within a few seconds.
    deadline = time.monotonic() + 10
    while world.get(f"/share/{slug}", host).status_code != 200:
        assert time.monotonic() < deadline, "the upgraded domain is not served"
        time.sleep(0.2)
