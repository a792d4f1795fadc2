"""API keys: the account page (create shows the key once, list shows its prefix,
revoke, CSRF) and the control module (hash only, last use at most once a minute)."""

from __future__ import annotations

import datetime as dt
import hashlib
import sqlite3

from pagepulse.config import Settings
from pagepulse.control import api_keys
from pagepulse.control import db as control_db
from tests.support.forms import Browser, html

PAGE = "/account/api-keys"
QUERY = {"site_id": "mine.example", "metrics": ["visitors"], "date_range": "7d"}


def create_key(browser: Browser, name: str) -> str:
    response = browser.submit(PAGE, {"name": name}, form="form.create-api-key")
    assert response.status_code == 200, response.text
    return html(response).css_first("code.api-key").text()


def test_create_shows_the_key_once_then_only_its_prefix(
    logged_in: Browser, settings: Settings
) -> None:
    logged_in.add_site("mine.example")
    key = create_key(logged_in, "weekly report")
    assert key.startswith("pp_") and len(key) > 40

    page = logged_in.get(PAGE)
    assert key not in page.text
    [item] = html(page).css(".api-key-item")
    assert item.css_first(".site-domain").text() == "weekly report"
    assert item.css_first(".api-key-prefix").text() == key[:11] + "…"
    assert "never used" in item.text()

    # Stored as a SHA-256 only.
    with sqlite3.connect(settings.db_path) as conn:
        stored = conn.execute("SELECT prefix, key_hash FROM api_keys").fetchall()
        dump = "\n".join(conn.iterdump())
    assert stored == [(key[:11], hashlib.sha256(key.encode()).hexdigest())]
    assert key not in dump

    # The key works, and its use shows on the page.
    response = logged_in.client.post(
        "/api/v2/query", json=QUERY, headers={"Authorization": f"Bearer {key}"}
    )
    assert response.status_code == 200, response.text
    assert "last used" in html(logged_in.get(PAGE)).css_first(".api-key-item").text()


def test_revoke(logged_in: Browser) -> None:
    logged_in.add_site("mine.example")
    key = create_key(logged_in, "old script")
    keep = create_key(logged_in, "new script")
    page = html(logged_in.get(PAGE))
    forms = page.css("form.revoke-form")
    assert len(forms) == 2
    # Newest first: the second form revokes "old script".
    response = logged_in.submit(PAGE, {}, form=f"form[action='{forms[1].attributes['action']}']")
    assert response.status_code == 200 and response.url.path == PAGE
    assert "API key revoked" in html(response).css_first(".flashes").text()
    revoked = [i for i in html(response).css(".api-key-item") if "revoked" in i.text()]
    assert [i.css_first(".site-domain").text() for i in revoked] == ["old script"]
    assert len(html(response).css("form.revoke-form")) == 1

    def status(k: str) -> int:
        headers = {"Authorization": f"Bearer {k}"}
        return logged_in.client.post("/api/v2/query", json=QUERY, headers=headers).status_code

    assert (status(key), status(keep)) == (401, 200)


def test_name_is_required(logged_in: Browser, settings: Settings) -> None:
    response = logged_in.submit(PAGE, {"name": "   "}, form="form.create-api-key")
    assert response.status_code == 400
    assert "name" in html(response).css_first(".form-errors").text()
    response = logged_in.submit(PAGE, {"name": "x" * 65}, form="form.create-api-key")
    assert response.status_code == 400
    with sqlite3.connect(settings.db_path) as conn:
        assert conn.execute("SELECT count(*) FROM api_keys").fetchone() == (0,)


def test_csrf_required(logged_in: Browser, settings: Settings) -> None:
    create_key(logged_in, "k")
    assert logged_in.client.post(PAGE, data={"name": "no token"}).status_code == 403
    action = html(logged_in.get(PAGE)).css_first("form.revoke-form").attributes["action"]
    assert logged_in.client.post(action or "", data={}).status_code == 403
    assert logged_in.client.post(action or "", data={"csrf_token": "forged"}).status_code == 403
    with sqlite3.connect(settings.db_path) as conn:
        assert conn.execute("SELECT name, revoked_at FROM api_keys").fetchall() == [("k", None)]


def test_anonymous_visitors_are_sent_to_log_in(browser: Browser) -> None:
    response = browser.get(PAGE, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=%2Faccount%2Fapi-keys"


def test_nobody_revokes_or_sees_another_users_key(logged_in: Browser, new_browser) -> None:
    create_key(logged_in, "mine")
    action = html(logged_in.get(PAGE)).css_first("form.revoke-form").attributes["action"]
    other = new_browser()
    other.register("other@example.com")
    assert html(other.get(PAGE)).css(".api-key-item") == []
    token = other.token(PAGE)
    response = other.client.post(action or "", data={"csrf_token": token})
    assert response.status_code == 404
    assert html(logged_in.get(PAGE)).css("form.revoke-form")


def test_account_page_links_to_api_keys(logged_in: Browser) -> None:
    assert html(logged_in.get("/account")).css_first(f"a[href='{PAGE}']") is not None


def test_last_used_written_at_most_once_a_minute(settings: Settings) -> None:
    conn = control_db.open_database(settings.db_path)
    conn.execute("INSERT INTO users (id, email, password_hash) VALUES (1, 'a@example.com', 'x')")
    record, key = api_keys.create_api_key(conn, 1, "k")
    t0 = dt.datetime(2025, 6, 10, 12, 0, 0, tzinfo=dt.UTC)

    def last_used() -> str | None:
        return conn.execute("SELECT last_used_at FROM api_keys").fetchone()[0]

    assert api_keys.authenticate(conn, key, now=t0) is not None
    assert last_used() == "2025-06-10T12:00:00Z"
    changes = conn.total_changes
    api_keys.authenticate(conn, key, now=t0 + dt.timedelta(seconds=59))
    assert conn.total_changes == changes  # no write at all
    assert last_used() == "2025-06-10T12:00:00Z"
    api_keys.authenticate(conn, key, now=t0 + dt.timedelta(seconds=61))
    assert last_used() == "2025-06-10T12:01:01Z"

    assert api_keys.authenticate(conn, key + "x") is None
    assert api_keys.authenticate(conn, "") is None
    assert api_keys.revoke_api_key(conn, 1, record.id)
    assert not api_keys.revoke_api_key(conn, 1, record.id)
    assert api_keys.authenticate(conn, key) is None
    conn.close()
