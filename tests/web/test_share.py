"""Share links: created and deleted by the owner, opened by anyone with the slug,
read-only, scoped to one site, optionally behind a password remembered per slug."""

from __future__ import annotations

import re

import httpx
import pytest
from fastapi import FastAPI
from passlib.context import CryptContext
from test_dashboard import DAY_RANGE, write_traffic

from pagepulse.config import Settings
from pagepulse.control import shares
from pagepulse.web.routes.share import UNLOCK_COOKIE
from tests.support.forms import Browser, html


@pytest.fixture(autouse=True)
def cheap_share_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    cheap = CryptContext(
        schemes=["argon2"], argon2__memory_cost=8, argon2__rounds=1, argon2__parallelism=1
    )
    monkeypatch.setattr(shares, "_passwords", cheap)


def create_link(owner: Browser, site_id: int, name: str = "", password: str = "") -> str:
    response = owner.submit(
        f"/sites/{site_id}/shares",
        {"name": name, "password": password},
        form="form.create-share",
    )
    assert response.status_code == 200
    assert response.url.path == f"/sites/{site_id}/shares"
    urls = [node.text() for node in html(response).css(".share-url code")]
    return urls[-1].rsplit("/share/", 1)[1]


@pytest.fixture
def shop(logged_in: Browser, settings: Settings) -> int:
    site_id = logged_in.add_site("shop.example")
    write_traffic(settings, site_id)
    return site_id


def unlock(visitor: Browser, slug: str, password: str, **kwargs) -> httpx.Response:
    """Fill in the password form as a browser would (its page answers 401)."""
    form = html(visitor.get(f"/share/{slug}")).css_first("main form")
    token = form.css_first("input[name=csrf_token]").attributes["value"]
    data = {"csrf_token": token, "password": password}
    return visitor.client.post(form.attributes["action"], data=data, **kwargs)


def share_paths(app: FastAPI) -> list[tuple[str, str]]:
    return [
        (method.upper(), path)
        for path, operations in app.openapi()["paths"].items()
        if path.startswith("/share/")
        for method in operations
    ]


def test_create_open_and_delete_a_share_link(logged_in: Browser, new_browser, shop: int) -> None:
    slug = create_link(logged_in, shop, name="Investors")
    assert len(slug) >= 22 and re.fullmatch(r"[A-Za-z0-9_-]+", slug)
    manage = html(logged_in.get(f"/sites/{shop}/shares"))
    assert manage.css_first(".share-item strong").text() == "Investors"
    # The dashboard links to the page that makes them.
    dashboard = html(logged_in.get(f"/sites/{shop}?{DAY_RANGE}"))
    assert f"/sites/{shop}/shares" in [a.attributes["href"] for a in dashboard.css("a")]

    visitor = new_browser()
    page = html(visitor.get(f"/share/{slug}?{DAY_RANGE}"))
    assert page.css_first("h1").text() == "shop.example"
    visitors = page.css_first(".stat[data-metric=visitors] .stat-value").text()
    assert visitors == "3"
    assert page.css_first("#chart svg.chart-svg") is not None
    # Read-only: no site navigation, no settings, share or delete links, no forms
    # that post; every dashboard link stays under this slug.
    assert page.css("nav.tabs") == []
    hrefs = [a.attributes.get("href") or "" for a in page.css("#dashboard a")]
    hrefs += [n.attributes.get("hx-get") or "" for n in page.css("#dashboard [hx-get]")]
    assert hrefs and all(h.startswith(f"/share/{slug}") for h in hrefs), hrefs
    assert page.css("#dashboard form[method=post]") == []
    assert "/sites/" not in page.css_first("#dashboard").html

    card_url = page.css_first("#card-pages").attributes["hx-get"]
    card = html(visitor.get(card_url, headers={"HX-Request": "true"}))
    assert [r.css_first("td.num").text() for r in card.css("tr.bar-row")] == ["3", "2", "1"]
    export = visitor.get(page.css_first(".control-actions a[download]").attributes["href"])
    assert export.headers["content-type"] == "application/zip"
    body = visitor.get(f"/share/{slug}/widget?name=countries&format=json&{DAY_RANGE}").json()
    assert body["site"] == "shop.example"
    assert [r["name"] for r in body["rows"]] == ["DE", "US"]

    link_id = manage.css_first(".share-item").attributes["data-share-id"]
    response = logged_in.submit(
        f"/sites/{shop}/shares", {"share_id": link_id}, form="form.inline-form"
    )
    assert "Deleted the share link" in html(response).css_first(".flash").text()
    assert visitor.get(f"/share/{slug}").status_code == 404
    assert visitor.get(f"/share/{slug}/widget?name=top_pages").status_code == 404


def test_share_routes_only_read_and_unknown_slugs_are_404(
    app: FastAPI, logged_in: Browser, new_browser, shop: int, settings: Settings
) -> None:
    routes = share_paths(app)
    assert ("GET", "/share/{slug}") in routes
    assert {method for method, _ in routes} == {"GET", "POST"}
    assert [path for method, path in routes if method == "POST"] == ["/share/{slug}/unlock"]

    other_site = logged_in.add_site("other.example")
    write_traffic(settings, other_site)
    slug = create_link(logged_in, shop)
    other_slug = create_link(logged_in, other_site)
    visitor = new_browser()
    token = visitor.token("/login")
    # Neither another site's id nor a made-up or altered slug opens anything.
    for bad in (str(other_site), str(shop), "nope", slug[:-1], slug + "x", slug.upper()):
        for method, path in routes:
            url = path.format(slug=bad)
            data = {"csrf_token": token, "password": "x"}
            response = visitor.client.request(method, url, data=data, follow_redirects=False)
            assert response.status_code == 404, (method, url, response.status_code)
            assert "shop.example" not in response.text
    # A site id in the query string changes nothing: the slug alone picks the site.
    body = visitor.get(
        f"/share/{slug}/widget?name=top_stats&format=json&site_id={other_site}&{DAY_RANGE}"
    ).json()
    assert body["site"] == "shop.example"
    assert (
        visitor.get(f"/share/{other_slug}/widget?name=top_stats&format=json").json()["site"]
        == "other.example"
    )


def test_another_sites_link_cannot_be_deleted_through_mine(
    logged_in: Browser, new_browser, shop: int
) -> None:
    slug = create_link(logged_in, shop)
    link_id = html(logged_in.get(f"/sites/{shop}/shares")).css_first(".share-item")
    intruder = new_browser()
    intruder.register("intruder@example.com")
    own_site = intruder.add_site("intruder.example")
    token = intruder.token("/sites")
    response = intruder.client.post(
        f"/sites/{own_site}/shares/delete",
        data={"csrf_token": token, "share_id": link_id.attributes["data-share-id"]},
    )
    assert response.status_code == 404
    assert new_browser().get(f"/share/{slug}?{DAY_RANGE}").status_code == 200


def test_password_protected_link(logged_in: Browser, new_browser, shop: int) -> None:
    slug = create_link(logged_in, shop, password="open sesame")
    second = create_link(logged_in, shop, password="open sesame")
    manage = html(logged_in.get(f"/sites/{shop}/shares"))
    assert [b.text() for b in manage.css(".share-item .badge")] == ["password", "password"]

    visitor = new_browser()
    locked = visitor.get(f"/share/{slug}")
    assert locked.status_code == 401
    assert html(locked).css_first("input[type=password]") is not None
    assert html(locked).css(".top-stats") == []
    assert visitor.get(f"/share/{slug}/widget?name=top_stats&format=json").status_code == 401
    assert visitor.get(f"/share/{slug}/export").status_code == 401

    wrong = unlock(visitor, slug, "guess")
    assert wrong.status_code == 400
    assert "Wrong password" in html(wrong).css_first(".form-errors").text()

    right = unlock(visitor, slug, "open sesame", follow_redirects=False)
    assert right.status_code == 303
    cookie = right.headers["set-cookie"]
    assert cookie.startswith(f"{UNLOCK_COOKIE}=")
    assert f"Path=/share/{slug}" in cookie and "HttpOnly" in cookie
    page = visitor.get(f"/share/{slug}?{DAY_RANGE}")
    assert page.status_code == 200
    assert html(page).css_first(".stat[data-metric=visitors] .stat-value").text() == "3"
    # The cookie is for that slug only: the second link still asks.
    assert visitor.get(f"/share/{second}").status_code == 401
    # A cookie signed for one slug does not open another even if sent there.
    value = cookie.split(";", 1)[0].split("=", 1)[1]
    stranger = new_browser()
    stranger.client.cookies.set(UNLOCK_COOKIE, value)
    assert stranger.get(f"/share/{second}").status_code == 401


def test_unprotected_link_needs_no_password(logged_in: Browser, new_browser, shop: int) -> None:
    slug = create_link(logged_in, shop)
    assert new_browser().get(f"/share/{slug}").status_code == 200
