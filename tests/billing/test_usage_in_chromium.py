"""The usage page, a statement and an upgrade hint in a real Chromium under the real CSP:
the bars are drawn (each with a size), the hint's link leads to the plan, and no page
logs an error or a CSP violation. Screenshots go to ``test-artifacts/billing/``."""

from __future__ import annotations

import datetime as dt

import pytest

from pagepulse.control import usage
from tests.billing.helpers import import_month
from tests.billing.servers import PASSWORD, add_site, events_dir
from tests.support.browser import launch_chromium
from tests.support.site import ARTIFACTS_DIR, ensure_user

pytestmark = pytest.mark.browser

SHOTS = ARTIFACTS_DIR / "billing"


def test_usage_statement_and_hint_in_chromium(saas_server):
    email = "chromium@example.com"
    user_id = ensure_user(saas_server.data_dir, email, PASSWORD)
    site = add_site(saas_server, "chromium.example", user_id)
    this_month = usage.month_of(dt.datetime.now(dt.UTC))
    for back, pageviews in ((3, 4_000), (2, 9_000), (1, 14_000)):
        import_month(
            events_dir(saas_server), site, usage.add_months(this_month, -back), pageviews, 500
        )

    errors: list[str] = []
    SHOTS.mkdir(parents=True, exist_ok=True)
    with launch_chromium() as browser:
        page = browser.new_page(viewport={"width": 1100, "height": 900})
        page.on("pageerror", lambda exc: errors.append(f"pageerror: {exc}"))
        page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        page.goto(f"{saas_server.url}/login")
        page.fill("input[name=email]", email)
        page.fill("input[name=password]", PASSWORD)
        page.click("main form button[type=submit]")
        page.wait_for_url("**/sites")

        page.goto(f"{saas_server.url}/account/api-keys")
        hint = page.locator(".upgrade-hint[data-feature=api_keys]")
        assert hint.is_visible() and "Business plan" in hint.inner_text()
        hint.locator("a").click()
        page.wait_for_url("**/account/usage")

        bars = page.locator("g.usage-bar rect.usage-pageviews")
        assert bars.count() == 12
        heights = [bars.nth(i).bounding_box()["height"] for i in range(12)]
        assert heights[-4] < heights[-3] < heights[-2]  # 4,000 < 9,000 < 14,000
        limit = page.locator("g.usage-limit line").bounding_box()
        assert limit is not None and limit["width"] > 500
        assert "over your plan's pageview limit" not in page.inner_text("main")
        page.screenshot(path=str(SHOTS / "usage.png"), full_page=True)

        last = usage.month_key(usage.add_months(this_month, -1))
        page.click(f'tr[data-month="{last}"] a')
        page.wait_for_url(f"**/account/statement?month={last}")
        assert page.inner_text("dd.extra") == "4,000"
        assert page.inner_text("dd.total") == "$0.00"  # Free is not billed
        page.screenshot(path=str(SHOTS / "statement.png"), full_page=True)
    assert errors == []
