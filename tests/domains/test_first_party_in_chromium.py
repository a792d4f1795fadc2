"""Real Chromium on a tracked page whose snippet loads the script from the site's verified
custom domain: the tracker posts to that same host (first-party for the visitor), the
event lands in the site's partition, and the share dashboard opens and renders there.

Host-resolver rules map ``site.test`` (the tracked site) and ``stats.site.test`` (its
custom domain) to 127.0.0.1; the URLs carry each server's port.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from pagepulse.control import shares
from tests.domains.helpers import (
    database,
    domain_settings,
    server_env,
    site,
    verified_claim,
)
from tests.support.browser import launch_chromium
from tests.support.dns import dns_server
from tests.support.passwords import cheap_password_hashing
from tests.support.server import Server
from tests.support.site import CHROME_UA, static_site, tracked_page

pytestmark = pytest.mark.browser

CUSTOM_HOST = "stats.site.test"
HOST_RULES = f"MAP site.test 127.0.0.1, MAP {CUSTOM_HOST} 127.0.0.1"


def test_the_tracker_is_first_party_on_the_custom_domain(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    with dns_server() as dns, cheap_password_hashing():
        settings = domain_settings(data_dir, dns.address)
        with database(settings) as conn:
            site_id = site(conn, "site.test")
            verified_claim(conn, settings, dns, site_id, CUSTOM_HOST)
            slug = shares.create_share(conn, site_id, "public").slug
        server = Server(data_dir, env=server_env(dns.address)).start(timeout=90)
    try:
        first_party = f"http://{CUSTOM_HOST}:{server.port}"
        snippet = (
            f'<script defer data-domain="site.test" src="{first_party}/js/script.js"></script>'
        )
        root = tmp_path / "site"
        root.mkdir()
        (root / "index.html").write_text(tracked_page(snippet, "Home"))
        with static_site(root) as site_url, launch_chromium(host_rules=HOST_RULES) as browser:
            context = browser.new_context(user_agent=CHROME_UA)
            page = context.new_page()
            sent = []
            page.on("request", lambda r: sent.append(r.url) if "/api/" in r.url else None)
            page.goto(f"{site_url}/")
            page.wait_for_load_state("networkidle")
            assert sent == [f"{first_party}/api/event"]

            deadline = time.monotonic() + 10
            while not server.events(site_id) and time.monotonic() < deadline:
                time.sleep(0.1)
            assert server.events(site_id, "name, pathname, browser") == [
                ("pageview", "/", "Chrome")
            ]

            shared = context.new_page()
            errors: list[str] = []
            shared.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            response = shared.goto(f"{first_party}/share/{slug}")
            assert response is not None and response.status == 200
            shared.wait_for_load_state("networkidle")
            assert shared.inner_text("h1") == "site.test"
            # The widgets load over htmx from the same host (CSP connect-src 'self').
            shared.wait_for_selector("#top-stats [data-metric='visitors'] .stat-value")
            assert errors == []
            assert shared.goto(f"{first_party}/login").status == 404  # type: ignore[union-attr]
            context.close()
    finally:
        server.stop()
