"""A real server over HTTP, asked with the Host header of a site's custom domain: what a
verified, a pending and an unknown host serve, events landing in the right Parquet
partition, the share dashboards, the snippet, and the ``ask`` endpoint for TLS."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from selectolax.lexbor import LexborHTMLParser

from pagepulse.control import custom_domains, shares
from tests.domains.helpers import (
    BASE_URL,
    TARGET,
    beacon,
    database,
    domain_settings,
    get_on_host,
    post_event,
    server_env,
    tls_ask,
    verified_claim,
)
from tests.support.dns import dns_server
from tests.support.passwords import cheap_password_hashing
from tests.support.server import Server
from tests.support.site import form_fields, log_in

VERIFIED = "stats.example.com"  # verified by TXT for example.com
BY_CNAME = "stats.other.example"  # verified by CNAME for other.example
PENDING = "stats.pending.example"  # claimed by pending.example, no record


@dataclass
class World:
    server: Server
    example: int
    other: int
    pending: int
    share: str  # example.com's public link
    locked_share: str  # example.com's link with a password
    other_share: str
    pending_share: str

    def get(self, path: str, host: str, **kwargs) -> httpx.Response:
        return get_on_host(self.server, path, host, **kwargs)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    data_dir = tmp_path_factory.mktemp("serving") / "data"
    with dns_server() as dns, cheap_password_hashing():
        server = Server(data_dir, env=server_env(dns.address))
        example = server.add_site("example.com")
        other = server.add_site("other.example")
        pending = server.add_site("pending.example")
        settings = domain_settings(data_dir, dns.address)
        with database(settings) as conn:
            verified_claim(conn, settings, dns, example, VERIFIED)
            dns.records[BY_CNAME] = {"CNAME": [TARGET]}
            by_cname = custom_domains.add_domain(conn, settings, other, BY_CNAME)
            assert custom_domains.verify(conn, settings, by_cname).verified_by == "cname"
            custom_domains.add_domain(conn, settings, pending, PENDING)
            links = [
                shares.create_share(conn, example, "public").slug,
                shares.create_share(conn, example, "locked", "open sesame").slug,
                shares.create_share(conn, other, "other").slug,
                shares.create_share(conn, pending, "pending").slug,
            ]
        server.start(timeout=90)
        try:
            yield World(server, example, other, pending, *links)
        finally:
            server.stop()


def test_a_verified_host_serves_the_tracker(world: World) -> None:
    for path in ("/js/script.js", "/js/p.js"):
        response = world.get(path, VERIFIED)
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("application/javascript")
        assert "/api/event" in response.text


def test_an_event_sent_to_the_custom_host_lands_in_its_sites_partition(world: World) -> None:
    response = post_event(world.server.url, VERIFIED, beacon("example.com", "/from-custom-host"))
    assert response.status_code == 202
    assert "x-pagepulse-dropped" not in response.headers
    rows = world.server.wait_for_events(world.example, 1)
    paths = [row[0] for row in world.server.events(world.example, "pathname")]
    assert "/from-custom-host" in paths, rows
    files = list((world.server.data_dir / "events" / f"site_id={world.example}").rglob("*.parquet"))
    assert files, "the event is in example.com's partition"


def test_events_are_attributed_by_their_domain_whatever_the_host(world: World) -> None:
    # The ingestion route is unchanged: the payload's domain decides, not the Host.
    response = post_event(world.server.url, VERIFIED, beacon("other.example", "/cross-posted"))
    assert response.status_code == 202
    world.server.wait_for_events(world.other, 1)
    assert ("/cross-posted",) in world.server.events(world.other, "pathname")
    assert ("/cross-posted",) not in world.server.events(world.example, "pathname")


def test_a_verified_host_serves_its_sites_share_dashboard(world: World) -> None:
    page = world.get(f"/share/{world.share}", VERIFIED)
    assert page.status_code == 200
    tree = LexborHTMLParser(page.text)
    assert tree.css_first("h1").text() == "example.com"
    # No links into the app on a customer's domain: its log-in pages are not served here.
    assert tree.css_first("nav.main-nav") is None
    assert not tree.css('a[href="/login"], a[href="/"]')
    assert page.headers["content-security-policy"].startswith("default-src 'self'")
    widget = world.get(f"/share/{world.share}/widget", VERIFIED, params={"name": "top_pages"})
    assert widget.status_code == 200
    for asset in ("/static/app.css", "/static/vendor/htmx.min.js", "/static/favicon.svg"):
        assert world.get(asset, VERIFIED).status_code == 200, asset


def test_other_sites_shares_are_not_served_on_a_custom_host(world: World) -> None:
    assert world.get(f"/share/{world.other_share}", VERIFIED).status_code == 404
    assert world.get(f"/share/{world.other_share}/widget", VERIFIED).status_code == 404
    assert world.get(f"/share/{world.share}", BY_CNAME).status_code == 404
    assert world.get(f"/share/{world.other_share}", BY_CNAME).status_code == 200
    # Both still open on PagePulse's own host.
    for slug in (world.share, world.other_share):
        assert world.get(f"/share/{slug}", "pagepulse.test").status_code == 200


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/login",
        "/register",
        "/sites",
        f"/sites/{1}",
        "/account",
        "/health",
        "/api/tls/ask?domain=stats.example.com",
        "/docs",
        "/share",
        "/favicon.ico",
    ],
)
def test_every_other_path_is_a_404_on_a_custom_host(world: World, path: str) -> None:
    response = world.get(path, VERIFIED, follow_redirects=False)
    assert response.status_code == 404
    assert response.text == "Not found"
    assert response.headers["x-content-type-options"] == "nosniff"


def test_forms_and_apis_are_not_served_on_a_custom_host(world: World) -> None:
    url = world.server.url
    headers = {"host": VERIFIED}
    login = httpx.post(f"{url}/login", data={"email": "a@b.c"}, headers=headers)
    query = httpx.post(f"{url}/api/v2/query", json={}, headers=headers)
    assert (login.status_code, query.status_code) == (404, 404)


def test_the_host_header_is_matched_without_case_port_or_final_dot(world: World) -> None:
    for host in ("STATS.Example.COM", "stats.example.com:443", "stats.example.com."):
        assert world.get(f"/share/{world.share}", host).status_code == 200, host
        assert world.get("/login", host).status_code == 404, host


def test_a_pending_host_serves_only_the_tracker_and_the_event_route(world: World) -> None:
    assert world.get("/js/script.js", PENDING).status_code == 200
    response = post_event(world.server.url, PENDING, beacon("pending.example", "/pending"))
    assert response.status_code == 202
    world.server.wait_for_events(world.pending, 1)
    assert ("/pending",) in world.server.events(world.pending, "pathname")
    assert world.get(f"/share/{world.pending_share}", PENDING).status_code == 404
    assert world.get("/static/app.css", PENDING).status_code == 404
    assert world.get("/login", PENDING).status_code == 404


def test_hosts_nobody_claimed_serve_the_whole_app(world: World) -> None:
    port = world.server.port
    for host in ("pagepulse.test", f"127.0.0.1:{port}", "unclaimed.example"):
        assert world.get("/login", host).status_code == 200, host
        assert world.get(f"/share/{world.pending_share}", host).status_code == 200, host


def test_a_password_protected_share_unlocks_on_the_custom_host(world: World) -> None:
    with httpx.Client(base_url=world.server.url, headers={"host": VERIFIED}) as client:
        locked = client.get(f"/share/{world.locked_share}")
        assert locked.status_code == 401
        action, hidden = form_fields(locked.text, "form")
        assert action == f"/share/{world.locked_share}/unlock"
        wrong = client.post(action, data={**hidden, "password": "wrong"})
        assert wrong.status_code == 400
        unlocked = client.post(action, data={**hidden, "password": "open sesame"})
        assert unlocked.status_code == 303
        assert unlocked.headers["location"] == f"/share/{world.locked_share}"
        page = client.get(f"/share/{world.locked_share}")
        assert page.status_code == 200
        assert LexborHTMLParser(page.text).css_first("h1").text() == "example.com"


@pytest.mark.parametrize(
    ("domain", "status"),
    [
        ("pagepulse.test", 200),
        (VERIFIED, 200),
        ("Stats.Example.com.", 200),
        (BY_CNAME, 200),
        (PENDING, 404),
        ("unclaimed.example", 404),
        ("127.0.0.1", 404),
        ("", 404),
    ],
)
def test_the_tls_ask_endpoint(world: World, domain: str, status: int) -> None:
    assert tls_ask(world.server, domain) == status


def test_the_snippet_and_share_links_use_the_custom_host_once_verified(world: World) -> None:
    with httpx.Client(base_url=world.server.url, follow_redirects=True) as client:
        log_in(client, "owner@pagepulse.test", "owner-password")
        snippet = client.get(f"/sites/{world.example}/snippet").text
        assert (
            f'src="http://{VERIFIED}/js/script.js"'
            in LexborHTMLParser(snippet).css_first("pre.snippet").text()
        )
        pending = client.get(f"/sites/{world.pending}/snippet").text
        assert (
            f'src="{BASE_URL}/js/script.js"'
            in LexborHTMLParser(pending).css_first("pre.snippet").text()
        )
        links = LexborHTMLParser(client.get(f"/sites/{world.example}/shares").text)
        addresses = {node.text() for node in links.css("pre.share-url code")}
        assert f"http://{VERIFIED}/share/{world.share}" in addresses
