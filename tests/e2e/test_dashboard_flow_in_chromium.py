"""A site owner's whole day in a real Chromium, against a real server and a real site.

Register, add the site, paste the snippet into a static site, visit it (a page load,
a pushState navigation, a custom event), watch the dashboard's numbers change, filter
by clicking a breakdown row, change the date range, share the dashboard and open the
link logged out, log out. Every page the owner and the visitor of the share link see
runs under the real CSP: a violation or a JavaScript error fails the test.

Screenshots of the dashboard go to ``test-artifacts/e2e/`` (git-ignored).
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.support.browser import launch_chromium
from tests.support.server import Server
from tests.support.site import (
    ARTIFACTS_DIR,
    CHROME_UA,
    FIREFOX_UA,
    SITE_HOST,
    SITE_HOST_RULES,
    static_site,
    tracked_page,
)

pytestmark = pytest.mark.browser

EMAIL = "flow@example.com"
PASSWORD = "a long enough password"
SHOTS = ARTIFACTS_DIR / "e2e"


class PageErrors:
    """JavaScript errors, CSP violations and failed requests seen by a page."""

    def __init__(self) -> None:
        self.messages: list[str] = []

    def watch(self, page) -> None:
        page.on("pageerror", lambda exc: self.messages.append(f"pageerror: {exc}"))
        page.on("console", lambda msg: self._console(page, msg))

    def _console(self, page, msg) -> None:
        # No favicon is served: the browser's own request for one is not the page's error.
        if msg.type == "error" and not msg.location.get("url", "").endswith("/favicon.ico"):
            self.messages.append(f"console on {page.url}: {msg.text[:300]}")


def wait_for_lake(server: Server, site_id: int, count: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len(server.events(site_id)) >= count:
            return
        time.sleep(0.1)
    raise AssertionError(f"{count} events not in the lake after {timeout} s")


def stat(page, metric: str) -> str:
    return page.locator(f'#top-stats [data-metric="{metric}"] .stat-value').inner_text().strip()


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def wait_for_cards(page) -> None:
    """Every breakdown card has replaced its loading placeholder."""
    expect(page.locator('.card.breakdown[hx-trigger="load"]')).to_have_count(0)
    expect(page.locator(".card.breakdown")).to_have_count(6)


def test_register_track_filter_share_and_log_out(tmp_path: Path) -> None:
    server = Server(tmp_path / "data")
    server.env["PAGEPULSE_BASE_URL"] = server.url  # the snippet points at this server
    server.start()
    root = tmp_path / "site"
    root.mkdir()
    errors = PageErrors()
    try:
        with (
            static_site(root) as site_url,
            launch_chromium(host_rules=SITE_HOST_RULES) as browser,
        ):
            owner_context = browser.new_context(
                user_agent=CHROME_UA, viewport={"width": 1280, "height": 900}
            )
            owner = owner_context.new_page()
            errors.watch(owner)

            # Register and add the site through the forms.
            owner.goto(f"{server.url}/register")
            owner.fill("#email", EMAIL)
            owner.fill("#password", PASSWORD)
            owner.fill("#confirm", PASSWORD)
            owner.click("button:has-text('Create account')")
            owner.wait_for_url(f"{server.url}/sites")
            assert "Welcome to PagePulse" in owner.locator(".flash").inner_text()
            owner.click("a:has-text('Add a site')")
            owner.fill("#domain", f"https://www.{SITE_HOST}/")
            owner.click("button:has-text('Add site')")
            owner.wait_for_url(re.compile(r"/sites/\d+/snippet$"))
            site_id = int(owner.url.split("/")[-2])
            snippet = owner.locator("pre.snippet code").inner_text()
            assert snippet == (
                f'<script defer data-domain="{SITE_HOST}" src="{server.url}/js/script.js"></script>'
            )
            (root / "index.html").write_text(tracked_page(snippet, "Home"))

            # Before any visit, the dashboard is the empty state with the snippet.
            owner.goto(f"{server.url}/sites/{site_id}")
            assert (
                owner.locator(".empty-dashboard h2").inner_text() == "Waiting for the first visit"
            )

            # A first visitor loads the home page.
            first = browser.new_context(user_agent=CHROME_UA)
            first.new_page().goto(f"{site_url}/")
            wait_for_lake(server, site_id, 1)
            owner.reload()
            assert (stat(owner, "visitors"), stat(owner, "pageviews")) == ("1", "1")
            wait_for_cards(owner)
            shot(owner, "dashboard-first-visit")

            # A second visitor (another browser) arrives from a campaign, then moves on
            # by a real page load, a pushState navigation and a custom event.
            second = browser.new_context(user_agent=FIREFOX_UA)
            visitor = second.new_page()
            visitor.goto(f"{site_url}/?utm_source=newsletter&utm_campaign=spring")
            visitor.goto(f"{site_url}/about")
            visitor.evaluate("history.pushState({}, '', '/pricing')")
            visitor.evaluate("window.pagepulse('Signup', {props: {plan: 'pro'}})")
            wait_for_lake(server, site_id, 5)
            assert second.cookies() == []
            first.close()
            second.close()

            owner.reload()
            assert stat(owner, "visitors") == "2"
            assert stat(owner, "visits") == "2"
            assert stat(owner, "pageviews") == "4"
            wait_for_cards(owner)
            pages = owner.locator("#card-pages .bar-row .bar-label")
            assert sorted(pages.all_inner_texts()) == ["/", "/about", "/pricing"]
            events = owner.locator("#card-events .bar-row .bar-label").all_inner_texts()
            assert events == ["Signup"]
            shot(owner, "dashboard-two-visitors")

            # A click on a breakdown row filters the whole dashboard in place.
            owner.locator("#card-pages a.row-filter", has_text="/pricing").click()
            owner.wait_for_url(re.compile(r"f=event:page,is,/pricing"))
            owner.wait_for_selector(".chip-text")
            assert owner.locator(".chip-text").inner_text() == "Page is /pricing"
            assert stat(owner, "visitors") == "1"
            wait_for_cards(owner)
            assert owner.locator("#card-events .bar-row .bar-label").all_inner_texts() == ["Signup"]
            shot(owner, "dashboard-filtered")

            # Another date range keeps the filter.
            owner.click(".range-picker summary")
            owner.click(".range-list a:has-text('Last 7 days')")
            owner.wait_for_url(re.compile(r"period=7d"))
            assert "f=event:page,is,/pricing" in owner.url
            expect(owner.locator(".range-picker summary")).to_contain_text("Last 7 days")
            assert stat(owner, "visitors") == "1"
            # A range that holds none of today's visits empties the numbers.
            owner.click(".range-picker summary")
            owner.click(".range-list a:has-text('Last month')")
            owner.wait_for_url(re.compile(r"period=last_month"))
            expect(owner.locator('#top-stats [data-metric="visitors"] .stat-value')).to_have_text(
                "0"
            )

            # Share the dashboard; the link opens logged out, read-only.
            owner.goto(f"{server.url}/sites/{site_id}")
            owner.click(".control-actions a:has-text('Share')")
            owner.wait_for_url(f"{server.url}/sites/{site_id}/shares")
            owner.fill("#share-name", "for the team")
            owner.click("button:has-text('Create share link')")
            owner.wait_for_selector(".share-url code")
            share_url = owner.locator(".share-url code").inner_text().strip()
            assert re.fullmatch(rf"{re.escape(server.url)}/share/[\w-]{{20,}}", share_url)

            public = browser.new_context(
                user_agent=CHROME_UA, viewport={"width": 1280, "height": 900}
            )
            assert public.cookies() == []
            shared = public.new_page()
            errors.watch(shared)
            shared.goto(share_url)
            assert shared.locator("h1").inner_text() == SITE_HOST
            assert (
                "shared by its owner: for the team" in shared.locator(".shared-note").inner_text()
            )
            assert stat(shared, "visitors") == "2"
            wait_for_cards(shared)
            assert shared.locator("button:has-text('Log out')").count() == 0
            assert shared.locator("a[href^='/sites']").count() == 0
            shot(shared, "shared-dashboard")
            # Filtering works on the share page too, and stays on its slug.
            shared.locator("#card-pages a.row-filter", has_text="/about").click()
            shared.wait_for_url(re.compile(r"/share/[\w-]+\?.*f=event:page,is,/about"))
            assert stat(shared, "visitors") == "1"
            public.close()

            # Log out: the dashboard is closed to this browser again.
            owner.goto(f"{server.url}/sites/{site_id}")
            owner.click("button:has-text('Log out')")
            owner.wait_for_url(f"{server.url}/login")
            assert "You are logged out." in owner.locator(".flash").inner_text()
            owner.goto(f"{server.url}/sites/{site_id}")
            assert owner.url == f"{server.url}/login?next=%2Fsites%2F{site_id}"
            owner_context.close()
    finally:
        server.stop()
    assert errors.messages == [], "\n".join(errors.messages)
