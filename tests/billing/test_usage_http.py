"""The usage page and statements over HTTP: numbers equal the events sent through the
real ingestion route and imported with the importer; the current month is projected; a
statement bills ceil(extra / 10K) x the plan's overage price at the plan of the month."""

from __future__ import annotations

import datetime as dt
import time
from urllib.parse import urlencode

import httpx

from pagepulse.control import usage
from tests.billing.helpers import import_month
from tests.billing.servers import add_site, db_rows, events_dir, page, send_events, text


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def wait_for_usage(client, month: str, pageviews: str, timeout: float = 15.0):
    """The usage page once the current month shows ``pageviews`` (events are published
    to the lake every flush interval)."""
    deadline = time.monotonic() + timeout
    while True:
        response = client.get("/account/usage")
        shown = text(response, f'tr[data-month="{month}"] .pageviews')
        if shown == pageviews or time.monotonic() > deadline:
            return response
        time.sleep(0.2)


def test_usage_page_counts_ingested_and_imported_events(saas_server, account):
    user_id, client = account(saas_server, "usage@example.com")
    first = add_site(saas_server, "usage-one.example", user_id)
    add_site(saas_server, "usage-two.example", user_id)
    other_id, _ = account(saas_server, "usage-other@example.com")
    foreign = add_site(saas_server, "usage-foreign.example", other_id)

    send_events(saas_server, "usage-one.example", pageviews=7, custom_events=3)
    send_events(saas_server, "usage-two.example", pageviews=4, custom_events=0)
    send_events(saas_server, "usage-foreign.example", pageviews=5, custom_events=5)
    this_month = usage.month_of(now())
    two_ago = usage.add_months(this_month, -2)
    import_month(events_dir(saas_server), first, two_ago, pageviews=1234, custom_events=56)
    import_month(events_dir(saas_server), foreign, two_ago, pageviews=999, custom_events=1)

    before = now()
    response = wait_for_usage(client, usage.month_key(this_month), "11")
    after = now()
    rows = {
        row.attributes["data-month"]: (
            row.css_first(".pageviews").text(),
            row.css_first(".custom-events").text(),
        )
        for row in page(response).css(".usage-table tbody tr")
    }
    assert len(rows) == 12
    assert rows[usage.month_key(this_month)] == ("11", "3")
    assert rows[usage.month_key(two_ago)] == ("1,234", "56")
    assert rows[usage.month_key(usage.add_months(this_month, -1))] == ("0", "0")

    # The projection: this month's pace over the whole month, at the moment of the page.
    low, high = usage.projected(11, this_month, after), usage.projected(11, this_month, before)
    projected = int(text(response, ".projected-pageviews").split()[0].replace(",", ""))
    assert low <= projected <= high
    assert projected >= 11
    assert text(response, ".pageview-usage") == "11 of 10,000"
    assert text(response, ".site-usage") == "2 of 1"  # added by an admin before the limit

    # One bar per month, the plan's limit drawn across them.
    bars = page(response).css("g.usage-bar")
    assert [b.attributes["data-month"] for b in bars][-1] == usage.month_key(this_month)
    assert len(bars) == 12
    assert page(response).css_first("g.usage-limit line") is not None
    if usage.projected(14, this_month, after) > 14:  # all events, projected: a dashed outline
        assert bars[-1].css_first("rect.usage-projection") is not None
    heights = {
        b.attributes["data-month"]: float(b.css_first("rect.usage-pageviews").attributes["height"])
        for b in bars
    }
    assert heights[usage.month_key(two_ago)] > heights[usage.month_key(this_month)] > 0


def test_statement_bills_the_overage_at_the_plans_price(saas_server, account):
    user_id, client = account(saas_server, "statement@example.com")
    site = add_site(saas_server, "statement.example", user_id)
    last = usage.add_months(usage.month_of(now()), -1)
    # On Pro since before last month ended (as a webhook or the CLI would have recorded).
    changed = (dt.datetime(last.year, last.month, 2, tzinfo=dt.UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    db_rows(
        saas_server,
        "INSERT INTO plan_changes (user_id, plan, source, changed_at) "
        "VALUES (?, 'pro', 'cli', ?) RETURNING id",
        user_id,
        changed,
    )
    db_rows(saas_server, "UPDATE users SET plan = 'pro' WHERE id = ? RETURNING id", user_id)
    import_month(events_dir(saas_server), site, last, pageviews=120_001, custom_events=50, days=5)

    statement = client.get(f"/account/statement?month={usage.month_key(last)}")
    assert statement.status_code == 200
    assert text(statement, "dd.plan") == "Pro"
    assert text(statement, "dd.pageviews") == "120,001"
    assert text(statement, "dd.custom-events") == "50"
    assert text(statement, "dd.limit") == "100,000"
    assert text(statement, "dd.extra") == "20,001"
    assert text(statement, "dd.overage") == "$3.00 (3 × 10,000 at $1.00)"
    assert text(statement, "dd.total") == "$12.00"
    assert page(statement).css_first(".statement-open") is None  # the month is over
    assert text(statement, ".statement-sites tr[data-site] td:nth-child(2)") == "120,001"

    as_json = client.get(f"/account/statement?month={usage.month_key(last)}&format=json").json()
    assert as_json == {
        "month": usage.month_key(last),
        "closed": True,
        "plan": "pro",
        "pageviews": 120_001,
        "custom_events": 50,
        "pageview_limit": 100_000,
        "extra_pageviews": 20_001,
        "overage_units": 3,
        "price_cents": 900,
        "overage_cents": 300,
        "total_cents": 1200,
        "projected_pageviews": 120_001,
        "sites": [{"domain": "statement.example", "pageviews": 120_001, "custom_events": 50}],
    }

    # The month before that: still on Free then, nothing used, nothing owed.
    earlier = client.get(f"/account/statement?month={usage.month_key(usage.add_months(last, -1))}")
    assert text(earlier, "dd.plan") == "Free" and text(earlier, "dd.total") == "$0.00"
    # This month: open, on Pro, with a projection.
    current = client.get("/account/statement")
    assert text(current, "dd.plan") == "Pro"
    assert page(current).css_first(".statement-open") is not None


def test_statement_input_is_checked(saas_server, account):
    _user_id, client = account(saas_server, "statement-input@example.com")
    for month, status in (("2025-13", 400), ("next", 400), ("2999-01", 400), ("2025-01", 200)):
        assert client.get(f"/account/statement?month={month}").status_code == status, month
    assert client.get("/account/statement?format=xml").status_code == 400
    for path in ("/account/statement", "/account/usage"):
        anonymous = httpx.get(f"{saas_server.url}{path}", follow_redirects=False)
        assert (anonymous.status_code, anonymous.headers["location"]) == (
            303,
            "/login?" + urlencode({"next": path}),
        )
