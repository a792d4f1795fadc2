"""A site owner pastes the snippet; a real Chromium visits; the events land in the lake.

The tracked site is a static page on another loopback port, reached as
``http://site.test:<port>`` (a host-resolver rule maps the name to 127.0.0.1), because
the tracker ignores localhost on purpose.
"""

from __future__ import annotations

import functools
import http.server
import threading
import time
from pathlib import Path

import pytest

from tests.support.browser import launch_chromium
from tests.support.server import Server

pytestmark = pytest.mark.browser

CHROME_UA = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
PAGE = """<!doctype html><html><head><title>Site</title>
<script defer data-domain="site.test" src="{script}"></script></head>
<body><h1>Hello</h1></body></html>"""


@pytest.fixture
def tracked_site(tmp_path):
    server = Server(tmp_path / "data", env={"PAGEPULSE_FLUSH_SECONDS": "2"})
    site_id = server.add_site("site.test")
    server.start()
    root = tmp_path / "site"
    root.mkdir()
    (root / "index.html").write_text(PAGE.format(script=f"{server.url}/js/script.js"))
    handler = functools.partial(QuietHandler, directory=str(root))
    static = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=static.serve_forever, daemon=True).start()
    yield server, site_id, f"http://site.test:{static.server_address[1]}"
    static.shutdown()
    server.stop()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # no access log in test output
        pass


def wait_for(server: Server, site_id: int, count: int, timeout: float) -> list[tuple]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = server.events(site_id, "name, pathname, browser, device, props")
        if len(rows) >= count:
            return rows
        time.sleep(0.05)
    return server.events(site_id, "name, pathname, browser, device, props")


def test_first_pageview_is_in_the_lake_within_5_seconds(tracked_site, tmp_path: Path):
    server, site_id, site_url = tracked_site
    with launch_chromium(host_rules="MAP site.test 127.0.0.1") as browser:
        owner = browser.new_context().new_page()  # logged in before the visit
        owner.goto(f"{server.url}/login")
        owner.fill("input[name=email]", "owner@pagepulse.test")
        owner.fill("input[name=password]", "owner-password")
        owner.click("button[type=submit]")
        owner.wait_for_url(f"{server.url}/sites")
        context = browser.new_context(user_agent=CHROME_UA, viewport={"width": 1280, "height": 800})
        page = context.new_page()
        beacons = []
        page.on("request", lambda r: beacons.append(r) if r.url.endswith("/api/event") else None)
        page.goto(f"{site_url}/")
        page.wait_for_load_state("networkidle")
        sent = time.monotonic()
        rows = wait_for(server, site_id, 1, timeout=5.0)
        assert time.monotonic() - sent <= 5.0
        assert rows == [("pageview", "/", "Chrome", "laptop", {})]
        assert len(beacons) == 1, "exactly one request per pageview"

        # The site owner sees that first pageview on the dashboard within 5 s of it.
        visitors = '#top-stats [data-metric="visitors"] .stat-value'
        while time.monotonic() - sent <= 5.0:
            owner.goto(f"{server.url}/sites/{site_id}?period=day")
            if owner.inner_text(visitors) == "1":
                break
            owner.wait_for_timeout(200)
        assert owner.inner_text(visitors) == "1"
        assert time.monotonic() - sent <= 5.0, "first pageview not on the dashboard within 5 s"
        owner.context.close()

        # A single-page-app navigation and a custom event.
        page.evaluate("history.pushState({}, '', '/pricing')")
        page.evaluate("window.pagepulse('Signup', {props: {plan: 'pro'}})")
        rows = wait_for(server, site_id, 3, timeout=5.0)
        assert sorted(rows) == sorted(
            [
                ("pageview", "/", "Chrome", "laptop", {}),
                ("pageview", "/pricing", "Chrome", "laptop", {}),
                ("Signup", "/pricing", "Chrome", "laptop", {"plan": "pro"}),
            ]
        )
        assert len(beacons) == 3

        # No cookie, no storage on the tracked site.
        assert context.cookies() == []
        storage = page.evaluate("[localStorage.length, sessionStorage.length]")
        assert storage == [0, 0]
        context.close()
