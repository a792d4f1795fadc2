"""The settings page's raw-event section: the retention form (owner only, CSRF) and the
export download (a zip of the site's live files; 404 for anybody else)."""

from __future__ import annotations

import datetime as dt
import io
import sqlite3
import zipfile

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from pagepulse.config import Settings
from pagepulse.lake.compaction import compact_lake
from pagepulse.lake.layout import partition_dir, partition_files, publish_table
from pagepulse.lake.retention import RETENTION_CHOICES
from pagepulse.lake.schema import EVENT_SCHEMA, STRING_COLUMNS
from tests.support.forms import Browser, html

DAYS = [dt.date(2026, 2, 27), dt.date(2026, 2, 28)]
RETENTION_FORM = "form.retention-form"


def retention(settings: Settings, site_id: int) -> int | None:
    with sqlite3.connect(settings.db_path) as conn:
        return conn.execute(
            "SELECT retention_months FROM sites WHERE id = ?", (site_id,)
        ).fetchone()[0]


def write_events(settings: Settings, site_id: int, day: dt.date, name: str) -> None:
    base = dt.datetime.combine(day, dt.time(9), tzinfo=dt.UTC)
    rows = [
        {**dict.fromkeys(STRING_COLUMNS, ""), "ts": base + dt.timedelta(minutes=i),
         "visitor_id": i, "name": "pageview", "pathname": f"/{name}/{i}",
         "screen_width": 0, "props": []}
        for i in range(4)
    ]  # fmt: skip
    table = pa.Table.from_pylist(rows, schema=EVENT_SCHEMA)
    publish_table(table, partition_dir(settings.events_dir, site_id, day) / f"{name}.parquet")


def test_the_settings_page_offers_retention_and_export(logged_in: Browser) -> None:
    site_id = logged_in.add_site("data.example")
    page = html(logged_in.get(f"/sites/{site_id}/settings"))
    form = page.css_first(RETENTION_FORM)
    assert form.attributes["action"] == f"/sites/{site_id}/retention"
    options = [o.attributes["value"] for o in form.css("select[name=months] option")]
    assert options == ["forever", *map(str, RETENTION_CHOICES)]
    assert form.css_first("option[selected]").attributes["value"] == "forever"
    assert page.css_first("label[for=retention-months]") is not None
    link = page.css_first("a.export-download")
    assert link.attributes["href"] == f"/sites/{site_id}/events.zip"
    assert link.text() == "Download export"


def test_the_owner_sets_retention(logged_in: Browser, settings: Settings) -> None:
    site_id = logged_in.add_site("data.example")
    other = logged_in.add_site("other.example")
    url = f"/sites/{site_id}/settings"
    response = logged_in.submit(url, {"months": "12"}, form=RETENTION_FORM)
    assert response.url.path == url
    assert "kept 12 months" in html(response).css_first(".flash").text()
    assert html(response).css_first(f"{RETENTION_FORM} option[selected]").text() == "12 months"
    assert (retention(settings, site_id), retention(settings, other)) == (12, None)

    response = logged_in.submit(url, {"months": "forever"}, form=RETENTION_FORM)
    assert "kept forever" in html(response).css_first(".flash").text()
    assert retention(settings, site_id) is None

    for bad in ("7", "0", "-6", "", "twelve"):
        response = logged_in.submit(url, {"months": bad}, form=RETENTION_FORM)
        assert response.status_code == 400, bad
    assert retention(settings, site_id) is None


def test_retention_needs_the_csrf_token_and_the_owner(
    logged_in: Browser, new_browser, settings: Settings
) -> None:
    site_id = logged_in.add_site("data.example")
    url = f"/sites/{site_id}/retention"
    response = logged_in.client.post(url, data={"months": "6"}, follow_redirects=False)
    assert response.status_code == 403
    intruder = new_browser()
    intruder.register("intruder@example.com")
    data = {"months": "6", "csrf_token": intruder.token("/sites")}
    assert intruder.client.post(url, data=data, follow_redirects=False).status_code == 404
    assert retention(settings, site_id) is None


def test_the_download_is_a_zip_of_the_live_files(logged_in: Browser, settings: Settings) -> None:
    site_id = logged_in.add_site("data.example")
    other = logged_in.add_site("other.example")
    for day in DAYS:
        for name in ("wal-a", "wal-b"):
            write_events(settings, site_id, day, name)
        write_events(settings, other, day, "wal-other")
    compact_lake(settings.events_dir, site_id=site_id, day=DAYS[0])  # replaced files stay

    response = logged_in.get(f"/sites/{site_id}/events.zip")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/zip"
    assert response.headers["content-disposition"].startswith(
        'attachment; filename="pagepulse-data.example-events-'
    )
    assert int(response.headers["content-length"]) == len(response.content)
    live = partition_files(settings.events_dir, site_id, DAYS)
    expected = {f"events/site_id={site_id}/date={p.parent.name[5:]}/{p.name}" for p in live}
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        assert archive.testzip() is None
        assert set(archive.namelist()) == expected | {"README.md"}
        assert len(expected) == 1 + 2  # the compacted day, then the other day's two files
        for name in expected:
            local = settings.events_dir / name.removeprefix("events/")
            assert archive.read(name) == local.read_bytes()
        tables = [pq.read_table(io.BytesIO(archive.read(name))) for name in sorted(expected)]
    with duckdb.connect() as conn:
        want = conn.execute(
            "SELECT count(*) FROM read_parquet($f)", {"f": [str(p) for p in live]}
        ).fetchone()[0]
    assert sum(t.num_rows for t in tables) == want == 16


def test_the_download_is_404_for_anybody_else(logged_in: Browser, new_browser) -> None:
    site_id = logged_in.add_site("data.example")
    intruder = new_browser()
    intruder.register("intruder@example.com")
    for url in (f"/sites/{site_id}/events.zip", "/sites/999999/events.zip"):
        response = intruder.get(url)
        assert response.status_code == 404
        assert "data.example" not in response.text
    anonymous = new_browser()
    response = anonymous.get(f"/sites/{site_id}/events.zip", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"].startswith("/login")


def test_the_download_of_a_site_without_events_is_a_readme(logged_in: Browser) -> None:
    site_id = logged_in.add_site("empty.example")
    response = logged_in.get(f"/sites/{site_id}/events.zip")
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        assert archive.namelist() == ["README.md"]
        assert "0 days in 0 Parquet files" in archive.read("README.md").decode()
