"""The dashboard over small real Parquet files: exact numbers in the HTML (by CSS
selector), filters in the URL, breakdown cards and their details with pagination,
JSON and CSV from the one widget route, the zip export and the empty state.

The traffic (UTC site, 2026-03-10; the day before is the comparison period):

* visitor 1: / → /blog/a → /pricing, plus a Signup; Germany, Google, Chrome 120,
  Windows 11, desktop, utm_source newsletter, a formula-like utm_campaign; 2m 05s.
* visitor 2: / only (a bounce); United States, direct, Firefox 121, Linux.
* visitor 3: /blog/a → /; Germany, Twitter, Safari 17, iOS 17, mobile; 30 s.
* the day before, visitor 10: / only, Germany (a bounce).
"""

from __future__ import annotations

import datetime as dt
import io
import zipfile
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest
from selectolax.lexbor import LexborHTMLParser

from pagepulse.config import Settings
from pagepulse.query import Filter
from pagepulse.web.dashboard import formatting
from pagepulse.web.dashboard.chart import build_chart, nice_ticks
from pagepulse.web.dashboard.export import csv_text, escape_cell
from pagepulse.web.dashboard.state import DashboardState, StateError, parse_state
from pagepulse.web.dashboard.views import REALTIME_SCOPES
from tests.query.helpers import event, write_events
from tests.support.forms import Browser, html

DAY = dt.date(2026, 3, 10)
DAY_RANGE = "period=custom&from=2026-03-10&to=2026-03-10"
FORMULA = "=HYPERLINK(1)"


def at(hour: int, minute: int = 0, second: int = 0, day: dt.date = DAY) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute, second), tzinfo=dt.UTC)


def visit_columns(**overrides: str) -> dict[str, str]:
    return {"hostname": "shop.example", **overrides}


V1 = visit_columns(
    referrer_source="Google",
    referrer="https://www.google.com/",
    country="DE",
    browser="Chrome",
    browser_version="120",
    os="Windows",
    os_version="11",
    device="Desktop",
    utm_source="newsletter",
    utm_campaign=FORMULA,
)
V2 = visit_columns(country="US", browser="Firefox", browser_version="121", os="Linux")
V3 = visit_columns(
    referrer_source="Twitter",
    referrer="https://t.co/",
    country="DE",
    browser="Safari",
    browser_version="17",
    os="iOS",
    os_version="17",
    device="Mobile",
)


def traffic() -> list[dict]:
    return [
        event(at(10, 0), 1, pathname="/", **V1),
        event(at(10, 1), 1, pathname="/blog/a", **V1),
        event(at(10, 2), 1, name="Signup", pathname="/blog/a", **V1),
        event(at(10, 2, 5), 1, pathname="/pricing", **V1),
        event(at(11, 0), 2, pathname="/", **V2),
        event(at(12, 0), 3, pathname="/blog/a", **V3),
        event(at(12, 0, 30), 3, pathname="/", **V3),
        event(at(9, 0, day=DAY - dt.timedelta(days=1)), 10, pathname="/", country="DE"),
    ]


def write_traffic(settings: Settings, site_id: int, rows: list[dict] | None = None) -> None:
    write_events(settings.events_dir, site_id, traffic() if rows is None else rows)


@pytest.fixture
def site(logged_in: Browser, settings: Settings) -> int:
    site_id = logged_in.add_site("shop.example")
    write_traffic(settings, site_id)
    return site_id


def stat(page, metric: str) -> str:
    return page.css_first(f".stat[data-metric={metric}] .stat-value").text().strip()


def change(page, metric: str) -> str:
    return page.css_first(f".stat[data-metric={metric}] .change-text").text().strip()


def query_of(url: str) -> list[tuple[str, str]]:
    return parse_qsl(urlsplit(url).query, keep_blank_values=True)


# The page ---------------------------------------------------------------------------


def test_top_stats_and_comparison(logged_in: Browser, site: int) -> None:
    response = logged_in.get(f"/sites/{site}?{DAY_RANGE}")
    assert response.status_code == 200
    page = html(response)
    assert page.css_first("h1").text() == "shop.example"
    values = {m: stat(page, m) for m in ("visitors", "visits", "pageviews")}
    assert values == {"visitors": "3", "visits": "3", "pageviews": "6"}
    assert stat(page, "views_per_visit") == "2"
    assert stat(page, "bounce_rate") == "33%"
    assert stat(page, "visit_duration") == "52s"  # (125 + 0 + 30) / 3
    # Against the day before: 1 visitor, 1 pageview, a 100% bounce rate.
    assert change(page, "visitors") == "+200%"
    assert change(page, "pageviews") == "+500%"
    assert change(page, "bounce_rate") == "−67 pp"
    bounce = page.css_first(".stat[data-metric=bounce_rate] .stat-change")
    assert "good" in bounce.attributes["class"]  # a lower bounce rate is good


def test_chart_is_hourly_svg_with_titles_and_table(logged_in: Browser, site: int) -> None:
    page = html(logged_in.get(f"/sites/{site}?{DAY_RANGE}"))
    svg = page.css_first("#chart svg.chart-svg")
    assert svg.attributes["role"] == "img"
    assert "Unique visitors per hour" in svg.attributes["aria-label"]
    titles = [t.text() for t in svg.css("g.chart-bucket title")]
    assert len(titles) == 24
    assert titles[10] == "Tue 10 Mar, 10:00: 1 unique visitors"
    cells = [row.css("td") for row in page.css(".chart-data tbody tr")]
    assert [(c[0].text(), c[1].text()) for c in cells[10:13]] == [
        ("Tue 10 Mar, 10:00", "1"),
        ("Tue 10 Mar, 11:00", "1"),
        ("Tue 10 Mar, 12:00", "1"),
    ]
    assert [t.text() for t in page.css(".chart-axis text")]  # y-axis labels exist


def test_chart_metric_switch_and_daily_buckets(logged_in: Browser, site: int) -> None:
    url = f"/sites/{site}/widget?name=timeseries&period=custom&from=2026-03-09&to=2026-03-10"
    page = html(logged_in.get(url + "&metric=pageviews", headers={"HX-Request": "true"}))
    assert page.css_first("h2").text() == "Pageviews over time"
    titles = [t.text() for t in page.css("g.chart-bucket title")]
    assert titles == ["Mon 9 Mar 2026: 1 pageviews", "Tue 10 Mar 2026: 6 pageviews"]
    current = page.css_first(".card-tabs a[aria-current]")
    assert current.text() == "Pageviews"
    assert "metric=pageviews" in current.attributes["hx-push-url"]


def test_breakdown_cards_load_lazily_from_the_widget_route(logged_in: Browser, site: int) -> None:
    page = html(logged_in.get(f"/sites/{site}?{DAY_RANGE}"))
    slots = {node.attributes["id"]: node.attributes["hx-get"] for node in page.css(".cards .card")}
    assert list(slots) == [
        "card-pages",
        "card-sources",
        "card-campaigns",
        "card-locations",
        "card-devices",
        "card-events",
    ]
    card = html(logged_in.get(slots["card-pages"], headers={"HX-Request": "true"}))
    rows = [
        (r.css_first(".bar-label").text().strip(), r.css_first("td.num").text())
        for r in card.css("tr.bar-row")
    ]
    assert rows == [("/", "3"), ("/blog/a", "2"), ("/pricing", "1")]
    bars = [r.css_first("svg.bar rect").attributes["width"] for r in card.css("tr.bar-row")]
    assert bars == ["100.0%", "66.67%", "33.33%"]
    tabs = [a.text() for a in card.css(".card-tabs a")]
    assert tabs == ["Top pages", "Entry pages", "Exit pages"]


def test_countries_show_name_and_flag_and_filter_on_click(logged_in: Browser, site: int) -> None:
    url = f"/sites/{site}/widget?name=countries&view=card&{DAY_RANGE}"
    card = html(logged_in.get(url, headers={"HX-Request": "true"}))
    first = card.css_first("tr.bar-row")
    assert first.css_first(".flag").text() == "🇩🇪"
    link = first.css_first("a.row-filter")
    assert link.text() == "Germany"
    assert ("f", "visit:country,is,DE") in query_of(link.attributes["href"])
    assert link.attributes["hx-push-url"] == "true"
    assert link.attributes["hx-target"] == "#dashboard"

    filtered = html(logged_in.get(link.attributes["href"]))
    assert stat(filtered, "visitors") == "2"
    assert stat(filtered, "pageviews") == "5"
    assert [c.text() for c in filtered.css(".chip-text")] == ["Country is Germany"]


def test_versions_filter_by_version_and_browser(logged_in: Browser, site: int) -> None:
    url = f"/sites/{site}/widget?name=browser_versions&view=card&{DAY_RANGE}"
    card = html(logged_in.get(url, headers={"HX-Request": "true"}))
    labels = [r.css_first(".bar-label").text().strip() for r in card.css("tr.bar-row")]
    assert labels == ["Chrome 120", "Firefox 121", "Safari 17"]
    href = card.css_first("a.row-filter").attributes["href"]
    assert ("f", "visit:browser_version,is,120") in query_of(href)
    assert ("f", "visit:browser,is,Chrome") in query_of(href)


def test_stacked_filters_and_chip_removal(logged_in: Browser, site: int) -> None:
    url = f"/sites/{site}?{DAY_RANGE}&f=visit:country,is,DE&f=event:page,contains,/pricing"
    page = html(logged_in.get(url))
    assert stat(page, "visitors") == "1"
    chips = page.css(".chip")
    assert [c.css_first(".chip-text").text() for c in chips] == [
        "Country is Germany",
        "Page contains /pricing",
    ]
    remove_country = chips[0].css_first("a.chip-remove").attributes["href"]
    assert query_of(remove_country) == [
        ("period", "custom"),
        ("from", "2026-03-10"),
        ("to", "2026-03-10"),
        ("f", "event:page,contains,/pricing"),
    ]
    assert stat(html(logged_in.get(remove_country)), "visitors") == "1"
    clear = page.css_first("a.chips-clear").attributes["href"]
    assert stat(html(logged_in.get(clear)), "visitors") == "3"


def test_page_filter_and_is_not(logged_in: Browser, site: int) -> None:
    base = f"/sites/{site}?{DAY_RANGE}"
    assert stat(html(logged_in.get(base + "&f=event:page,contains,/blog")), "visitors") == "2"
    assert stat(html(logged_in.get(base + "&f=visit:country,is_not,DE")), "visitors") == "1"
    assert stat(html(logged_in.get(base + "&f=visit:source,is,")), "visitors") == "1"


def test_add_filter_form_redirects_to_the_canonical_url(logged_in: Browser, site: int) -> None:
    page = html(logged_in.get(f"/sites/{site}?{DAY_RANGE}"))
    form = page.css_first("form.filter-form")
    options = [o.attributes["value"] for o in form.css("select[name=fd] option")]
    assert "visit:country" in options and "event:page" in options and len(options) == 18
    assert [o.attributes["value"] for o in form.css("select[name=fo] option")] == [
        "is",
        "is_not",
        "contains",
    ]
    url = f"/sites/{site}?{DAY_RANGE}&fd=visit:country&fo=is&fv=US"
    response = logged_in.get(url, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == f"/sites/{site}?{DAY_RANGE}&f=visit:country,is,US"
    # htmx gets the dashboard at once, and the canonical URL to push.
    response = logged_in.get(url, headers={"HX-Request": "true", "HX-Target": "dashboard"})
    assert response.headers["hx-push-url"] == f"/sites/{site}?{DAY_RANGE}&f=visit:country,is,US"
    fragment = html(response)
    assert fragment.css_first("div#dashboard") is not None
    assert fragment.css_first("h1") is None  # only the dashboard element
    assert stat(fragment, "visitors") == "1"


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("f=visit:nope,is,x", "“visit:nope” is not something the dashboard can filter by"),
        ("f=visit:country,equals,DE", "“equals” is not a filter operator"),
        ("f=visit:country", "is not a filter"),
        ("period=fortnight", "“fortnight” is not a date range"),
        ("period=custom&from=2026-03-10&to=2026-03-01", "ends before it starts"),
        ("period=custom&from=yesterday&to=2026-03-01", "“yesterday” is not a date"),
        ("metric=revenue", "“revenue” is not a chart metric"),
    ],
)
def test_invalid_urls_get_a_clear_message(
    logged_in: Browser, site: int, query: str, message: str
) -> None:
    response = logged_in.get(f"/sites/{site}?{query}")
    assert response.status_code == 400
    assert message in html(response).css_first(".state-errors").text()
    widget = logged_in.get(f"/sites/{site}/widget?name=top_pages&format=json&{query}")
    assert widget.status_code == 400
    assert any(message in m for m in widget.json()["errors"])


def test_range_picker_links_every_dashboard_range(logged_in: Browser, site: int) -> None:
    page = html(logged_in.get(f"/sites/{site}?{DAY_RANGE}&f=visit:country,is,DE"))
    links = page.css(".range-list a")
    periods = [dict(query_of(a.attributes["href"]))["period"] for a in links]
    assert periods == [
        "realtime",
        "day",
        "yesterday",
        "7d",
        "30d",
        "month",
        "last_month",
        "12mo",
        "all",
    ]
    for link in links:  # the filters stay, the range changes, the URL is pushed
        assert ("f", "visit:country,is,DE") in query_of(link.attributes["href"])
        assert link.attributes["hx-push-url"] == "true"
    custom = page.css_first("form.custom-range")
    assert custom.css_first("input[name=from]").attributes["value"] == "2026-03-10"
    assert page.css_first(".range-picker summary").text().strip().endswith("10 Mar 2026")


def test_all_time_starts_at_the_first_day_with_data(logged_in: Browser, site: int) -> None:
    response = logged_in.get(f"/sites/{site}/widget?name=top_stats&period=all&format=json")
    body = response.json()
    assert body["period"]["start"] == "2026-03-09"
    assert body["top_stats"]["visitors"] == 4
    assert body["previous_top_stats"] is None


# The widget route: details, pagination, JSON, CSV -----------------------------------


def test_details_pagination_and_load_more(logged_in: Browser, site: int) -> None:
    url = f"/sites/{site}/widget?name=top_pages&view=details&limit=2&{DAY_RANGE}"
    page = html(logged_in.get(url))
    assert page.css_first("h2").text() == "Top pages"
    assert [r.css_first(".bar-label").text().strip() for r in page.css("tr.bar-row")] == [
        "/",
        "/blog/a",
    ]
    headers = [th.text() for th in page.css(".details-table th")]
    assert headers == ["Page", "Visitors", "Pageviews", "Bounce rate"]
    more = page.css_first("tr.load-more a")
    assert dict(query_of(more.attributes["hx-get"]))["view"] == "rows"
    assert dict(query_of(more.attributes["hx-get"]))["offset"] == "2"
    assert dict(query_of(more.attributes["href"]))["view"] == "details"

    rows = logged_in.get(more.attributes["hx-get"], headers={"HX-Request": "true"})
    fragment = LexborHTMLParser(f"<table>{rows.text}</table>")
    assert [r.css_first(".bar-label").text().strip() for r in fragment.css("tr.bar-row")] == [
        "/pricing"
    ]
    assert fragment.css("tr.load-more") == []  # no more rows
    assert "<html" not in rows.text


def test_json_format(logged_in: Browser, site: int) -> None:
    body = logged_in.get(f"/sites/{site}/widget?name=countries&format=json&{DAY_RANGE}").json()
    assert body["widget"] == "countries"
    assert body["period"] == {
        "range": "custom",
        "start": "2026-03-10",
        "end": "2026-03-10",
        "timezone": "UTC",
    }
    assert [(r["name"], r["visitors"], r["visits"]) for r in body["rows"]] == [
        ("DE", 2, 2),
        ("US", 1, 1),
    ]
    assert body["has_more"] is False
    paged = logged_in.get(
        f"/sites/{site}/widget?name=top_pages&format=json&limit=1&offset=1&{DAY_RANGE}"
    ).json()
    assert [r["name"] for r in paged["rows"]] == ["/blog/a"]
    assert paged["has_more"] is True
    events = logged_in.get(
        f"/sites/{site}/widget?name=custom_events&format=json&{DAY_RANGE}"
    ).json()
    assert [(r["name"], r["visitors"], r["events"]) for r in events["rows"]] == [("Signup", 1, 1)]
    totals = logged_in.get(f"/sites/{site}/widget?name=top_stats&format=json&{DAY_RANGE}")
    assert totals.json()["top_stats"]["pageviews"] == 6
    assert totals.json()["previous_top_stats"]["pageviews"] == 1


def test_unknown_widget_and_bad_parameters(logged_in: Browser, site: int) -> None:
    assert logged_in.get(f"/sites/{site}/widget?name=nope").status_code == 400
    assert logged_in.get(f"/sites/{site}/widget?name=top_pages&limit=0").status_code == 400
    assert logged_in.get(f"/sites/{site}/widget?name=top_pages&offset=x").status_code == 400
    assert logged_in.get(f"/sites/{site}/widget?name=top_pages&format=xml").status_code == 400


def test_csv_of_a_breakdown_escapes_formulas(logged_in: Browser, site: int) -> None:
    response = logged_in.get(f"/sites/{site}/widget?name=utm_campaigns&format=csv&{DAY_RANGE}")
    assert response.headers["content-type"].startswith("text/csv")
    assert 'filename="utm_campaigns.csv"' in response.headers["content-disposition"]
    lines = response.text.splitlines()
    assert lines[0] == "parent,name,visitors,visits,bounce_rate,visit_duration"
    assert lines[1] == ",'=HYPERLINK(1),1,1,0,125"


def test_escape_cell() -> None:
    for dangerous in ("=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx"):
        assert escape_cell(dangerous) == "'" + dangerous
    assert escape_cell("/blog") == "/blog"
    assert escape_cell(-3) == -3  # numbers are numbers
    assert csv_text(["a"], [{"a": "=x"}]) == "a\r\n'=x\r\n"


def test_export_zip_has_every_widget_and_the_timeseries(logged_in: Browser, site: int) -> None:
    page = html(logged_in.get(f"/sites/{site}?{DAY_RANGE}&f=visit:country,is,DE"))
    export_url = page.css_first(".control-actions a[download]").attributes["href"]
    response = logged_in.get(export_url)
    assert response.headers["content-type"] == "application/zip"
    assert (
        "pagepulse-shop.example-2026-03-10-2026-03-10.zip"
        in response.headers["content-disposition"]
    )
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    names = set(archive.namelist())
    assert {"top_stats.csv", "timeseries.csv", "top_pages.csv", "countries.csv"} <= names
    assert len(names) == 2 + 17
    top = archive.read("top_stats.csv").decode().splitlines()
    assert "visitors,2,1" in top  # filtered to Germany; the day before had 1
    assert "'=HYPERLINK(1)" in archive.read("utm_campaigns.csv").decode()
    assert len(archive.read("timeseries.csv").decode().splitlines()) == 1 + 24


# Current visitors, realtime, empty state ---------------------------------------------


def test_current_visitors_widget(logged_in: Browser, settings: Settings) -> None:
    site_id = logged_in.add_site("live.example")
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    write_traffic(
        settings,
        site_id,
        [
            event(now - dt.timedelta(minutes=1), 1, pathname="/"),
            event(now - dt.timedelta(minutes=2), 2, pathname="/"),
            event(now - dt.timedelta(minutes=20), 3, pathname="/"),
        ],
    )
    fragment = html(logged_in.get(f"/sites/{site_id}/widget?name=current_visitors"))
    node = fragment.css_first("#current-visitors")
    assert node.css_first(".current-count").text() == "2"
    assert node.attributes["hx-trigger"] == "every 30s"
    page = html(logged_in.get(f"/sites/{site_id}?period=realtime"))
    assert page.css_first("#current-visitors .current-count").text() == "2"
    assert page.css_first("#top-stats").attributes["hx-trigger"] == "every 30s"
    # The last 30 minutes hold all three; "today" would too unless the day just began.
    assert stat(page, "visitors") == "3"


def test_realtime_is_the_last_30_minutes(logged_in: Browser, settings: Settings) -> None:
    site_id = logged_in.add_site("realtime.example")
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    rows = [event(now - dt.timedelta(minutes=5), 1, pathname="/")]
    earlier = now - dt.timedelta(minutes=45)
    if earlier.date() == now.date():
        rows.append(event(earlier, 2, pathname="/"))
    write_traffic(settings, site_id, rows)
    body = logged_in.get(f"/sites/{site_id}/widget?name=top_stats&period=realtime&format=json")
    expected = 1 if REALTIME_SCOPES else len(rows)
    assert body.json()["top_stats"]["visitors"] == expected
    assert body.json()["previous_top_stats"] is None


def test_empty_site_shows_snippet_and_verifies_installation(
    logged_in: Browser, settings: Settings
) -> None:
    site_id = logged_in.add_site("new.example")
    page = html(logged_in.get(f"/sites/{site_id}"))
    snippet = page.css_first("pre.snippet").text()
    assert '<script defer data-domain="new.example"' in snippet
    assert "/js/script.js" in snippet
    form = page.css_first(".verify form")
    assert form.attributes["hx-get"] == f"/sites/{site_id}/verify"
    assert page.css(".top-stats") == []

    verify = logged_in.get(f"/sites/{site_id}/verify", headers={"HX-Request": "true"})
    assert "No events from new.example" in html(verify).css_first(".verify-none").text()

    write_traffic(settings, site_id, [event(dt.datetime.now(dt.UTC), 1, pathname="/")])
    verify = logged_in.get(f"/sites/{site_id}/verify", headers={"HX-Request": "true"})
    assert "1 since yesterday" in html(verify).css_first(".verify-ok").text()
    # Without JavaScript: back to the dashboard with the answer as a message.
    response = logged_in.get(f"/sites/{site_id}/verify")
    assert "Events are arriving" in html(response).css_first(".flash").text()
    assert html(response).css_first(".top-stats") is not None


# Units: state, formatting, chart -------------------------------------------------------


def test_state_round_trips_through_the_query_string() -> None:
    state = DashboardState(
        "custom",
        dt.date(2026, 1, 1),
        dt.date(2026, 1, 31),
        (Filter.of("visit:country", "is", "DE"), Filter.of("event:page", "contains", "/a,b")),
        "visits",
    )
    query = state.query()
    assert query == (
        "period=custom&from=2026-01-01&to=2026-01-31"
        "&f=visit:country,is,DE&f=event:page,contains,/a,b&metric=visits"
    )
    assert parse_state(parse_qsl(query, keep_blank_values=True)) == state
    assert parse_state([]) == DashboardState()
    with pytest.raises(StateError) as info:
        parse_state([("period", "nope"), ("f", "x")])
    assert len(info.value.messages) == 2


def test_with_filter_replaces_the_same_dimension_and_operator() -> None:
    state = DashboardState().with_filter(Filter.of("visit:country", "is", "DE"))
    state = state.with_filter(Filter.of("visit:country", "is", "US"))
    state = state.with_filter(Filter.of("visit:country", "is_not", "FR"))
    assert [f.values[0] for f in state.filters] == ["US", "FR"]


def test_number_formats() -> None:
    assert [formatting.compact(v) for v in (0, 999, 1000, 1234, 12_345, 999_999, 3_400_000)] == [
        "0",
        "999",
        "1k",
        "1.2k",
        "12.3k",
        "1M",
        "3.4M",
    ]
    assert [formatting.duration(v) for v in (0, 9, 65, 600, 3725)] == [
        "0s",
        "9s",
        "1m 05s",
        "10m 00s",
        "1h 02m",
    ]
    assert formatting.country_name("GB") == "United Kingdom"
    assert formatting.country_name("DE") == "Germany"
    assert formatting.flag("fr") == "🇫🇷"
    assert formatting.flag("") == ""
    assert formatting.change("visitors", 0, 0).text == "0%"
    assert formatting.change("visitors", 5, 0).text == "new"
    assert formatting.change("visit_duration", 90, 100).text == "−10%"


def test_chart_geometry() -> None:
    assert nice_ticks(0, integer=True) == [0, 1]
    assert nice_ticks(7, integer=True) == [0, 2, 4, 6, 8]
    assert nice_ticks(4600, integer=True) == [0, 2000, 4000, 6000]
    rows = [{"bucket": dt.datetime(2026, 3, d), "visitors": v} for d, v in ((1, 2), (2, 4))]
    chart = build_chart(rows, "visitors", "Visitors", "day")
    assert [b.height for b in chart.bars] == [95.0, 190.0]
    assert [b.x for b in chart.bars] == [0, 50]
    assert (
        chart.summary
        == "Visitors per day, Sun 1 Mar 2026 to Mon 2 Mar 2026; highest 4 (Mon 2 Mar 2026)"
    )


def test_templates_link_only_their_own_static_files() -> None:
    css = Path(__file__).resolve().parents[2] / "pagepulse/web/static/dashboard.css"
    assert "url(" not in css.read_text()  # no fonts or images from elsewhere
