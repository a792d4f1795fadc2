"""Sites: list, add, settings, snippet, delete; and nobody sees another user's site."""

from __future__ import annotations

import datetime as dt
import sqlite3

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fastapi import FastAPI

from pagepulse.config import Settings
from pagepulse.lake.layout import partition_dir, site_dir
from tests.support.forms import Browser, html


def site_rows(settings: Settings) -> list[tuple[int, str, str, int]]:
    with sqlite3.connect(settings.db_path) as conn:
        return conn.execute(
            "SELECT id, domain, timezone, enabled FROM sites ORDER BY id"
        ).fetchall()


def test_add_a_site_and_see_its_snippet(logged_in: Browser, settings: Settings) -> None:
    response = logged_in.submit(
        "/sites/new", {"domain": "https://www.Example.com/blog", "timezone": "Europe/Berlin"}
    )
    assert response.status_code == 200
    [(site_id, domain, timezone, enabled)] = site_rows(settings)
    assert (domain, timezone, enabled) == ("example.com", "Europe/Berlin", 1)
    assert response.url.path == f"/sites/{site_id}/snippet"
    page = html(response)
    assert page.css_first("pre.snippet").text() == (
        '<script defer data-domain="example.com" src="http://127.0.0.1:8000/js/script.js"></script>'
    )
    instructions = page.css_first(".instructions").text()
    assert "data-hash" in instructions
    assert "window.pagepulse('Signup', {props: {plan: 'pro'}})" in instructions

    listing = html(logged_in.get("/sites"))
    [link] = listing.css(".site-list a.site-domain")
    assert (link.text(), link.attributes["href"]) == ("example.com", f"/sites/{site_id}")


def test_add_form_defaults_to_utc_and_lists_zoneinfo_names(logged_in: Browser) -> None:
    page = html(logged_in.get("/sites/new"))
    assert page.css_first("select[name=timezone] option[selected]").attributes["value"] == "UTC"
    names = [o.attributes["value"] for o in page.css("select[name=timezone] option")]
    assert "America/New_York" in names and names == sorted(names)
    for field in page.css("main input:not([type=hidden]), main select"):
        assert page.css_first(f"label[for={field.attributes['id']}]") is not None


def test_add_form_errors_keep_the_values(logged_in: Browser, new_browser) -> None:
    response = logged_in.submit("/sites/new", {"domain": "not a domain", "timezone": "Mars/Base"})
    assert response.status_code == 400
    page = html(response)
    errors = page.css_first(".form-errors").text()
    assert "domain of your site" in errors and "timezone" in errors
    assert page.css_first("input[name=domain]").attributes["value"] == "not a domain"

    logged_in.add_site("taken.example")
    someone_else = new_browser()
    someone_else.register("other@example.com")
    response = someone_else.submit(
        "/sites/new", {"domain": "www.taken.example", "timezone": "Asia/Tokyo"}
    )
    assert response.status_code == 400
    page = html(response)
    assert "already registered" in page.css_first(".form-errors").text()
    assert page.css_first("input[name=domain]").attributes["value"] == "www.taken.example"
    selected = page.css_first("select[name=timezone] option[selected]")
    assert selected.attributes["value"] == "Asia/Tokyo"


def test_edit_settings(logged_in: Browser, settings: Settings) -> None:
    site_id = logged_in.add_site("old.example")
    other_id = logged_in.add_site("other.example")
    url = f"/sites/{site_id}/settings"
    response = logged_in.submit(url, {"domain": "new.example", "timezone": "Asia/Tokyo"})
    assert response.url.path == url
    assert html(response).css_first(".flash").text() == "Settings saved."
    assert html(response).css_first("input[name=enabled]").attributes.get("checked") is None
    assert site_rows(settings)[0] == (site_id, "new.example", "Asia/Tokyo", 0)

    response = logged_in.submit(
        url, {"domain": "new.example", "timezone": "Asia/Tokyo", "enabled": "on"}
    )
    assert site_rows(settings)[0] == (site_id, "new.example", "Asia/Tokyo", 1)

    response = logged_in.submit(url, {"domain": "other.example", "timezone": "UTC"})
    assert response.status_code == 400
    assert "already registered" in html(response).css_first(".form-errors").text()
    assert site_rows(settings) == [
        (site_id, "new.example", "Asia/Tokyo", 1),
        (other_id, "other.example", "UTC", 1),
    ]


def test_site_page_shows_snippet_and_settings(logged_in: Browser) -> None:
    site_id = logged_in.add_site("page.example")
    page = html(logged_in.get(f"/sites/{site_id}"))
    assert page.css_first("h1").text() == "page.example"
    assert 'data-domain="page.example"' in page.css_first("pre.snippet").text()
    tabs = [a.attributes["href"] for a in page.css("nav.tabs a")]
    assert tabs == [
        f"/sites/{site_id}{suffix}"
        for suffix in ("", "/reports", "/snippet", "/settings", "/domain", "/members", "/delete")
    ]
    for href in tabs:  # every link goes to a page that exists
        assert logged_in.get(href).status_code == 200


def write_event_file(settings: Settings, site_id: int) -> None:
    folder = partition_dir(settings.events_dir, site_id, dt.date(2026, 1, 2))
    folder.mkdir(parents=True)
    pq.write_table(pa.table({"ts": [1]}), folder / "part-0.parquet")


def test_delete_asks_for_the_domain_then_removes_row_and_events(
    logged_in: Browser, settings: Settings
) -> None:
    doomed = logged_in.add_site("doomed.example")
    kept = logged_in.add_site("kept.example")
    write_event_file(settings, doomed)
    write_event_file(settings, kept)

    response = logged_in.submit(f"/sites/{doomed}/delete", {"confirm": "kept.example"})
    assert response.status_code == 400
    assert "Type doomed.example exactly" in html(response).css_first(".form-errors").text()
    assert site_dir(settings.events_dir, doomed).exists()
    assert len(site_rows(settings)) == 2

    response = logged_in.submit(f"/sites/{doomed}/delete", {"confirm": "doomed.example"})
    assert response.url.path == "/sites"
    assert "Deleted doomed.example" in html(response).css_first(".flash").text()
    assert [row[0] for row in site_rows(settings)] == [kept]
    assert not site_dir(settings.events_dir, doomed).exists()
    assert site_dir(settings.events_dir, kept).exists()
    assert logged_in.get(f"/sites/{doomed}").status_code == 404


def site_routes(app: FastAPI) -> list[tuple[str, str]]:
    routes = []
    for path, operations in app.openapi()["paths"].items():
        if path.startswith("/sites/{site_id}"):
            routes += [(method.upper(), path) for method in operations]
    return routes


def test_another_users_sites_are_404_on_every_route(
    app: FastAPI, logged_in: Browser, new_browser, settings: Settings
) -> None:
    site_id = logged_in.add_site("private.example")
    intruder = new_browser()
    intruder.register("intruder@example.com")
    token = intruder.token("/sites")
    routes = site_routes(app)
    assert len(routes) >= 6
    for method, path in routes:
        for url in (path.format(site_id=site_id), path.format(site_id=999_999)):
            data = {"csrf_token": token, "confirm": "private.example", "domain": "x.example"}
            response = intruder.client.request(method, url, data=data, follow_redirects=False)
            assert response.status_code == 404, (method, url)
            assert "private.example" not in response.text
    assert site_rows(settings) == [(site_id, "private.example", "UTC", 1)]
    assert html(intruder.get("/sites")).css(".site-list") == []


def test_non_numeric_site_ids_are_404(logged_in: Browser) -> None:
    assert logged_in.get("/sites/abc").status_code == 404
    assert logged_in.get("/sites/abc/settings").status_code == 404


def test_a_scheme_without_slashes_is_not_a_host() -> None:
    from pagepulse.control.sites import normalise_domain

    assert normalise_domain("https://www.Example.com:8443/x") == "example.com"
    for value in ("JaVaScRiPt:alert(1)", "javascript:void(0)", "data:text/html,x"):
        with pytest.raises(ValueError):
            normalise_domain(value)
