"""Accounts: register, log in, log out, password change, sessions and their cookies."""

from __future__ import annotations

import hashlib
import sqlite3
from http.cookies import SimpleCookie

import time_machine

from pagepulse.config import Settings
from pagepulse.web import auth
from tests.support.forms import PASSWORD, Browser, html


def session_cookie_header(response) -> str:
    headers = [h for h in response.headers.get_list("set-cookie") if h.startswith("pp_session=")]
    assert len(headers) == 1, response.headers.get_list("set-cookie")
    return headers[0]


def session_rows(settings: Settings) -> list[sqlite3.Row]:
    conn = sqlite3.connect(settings.db_path)
    conn.row_factory = sqlite3.Row
    return conn.execute("SELECT * FROM sessions").fetchall()


def test_register_log_out_and_log_in_again(browser: Browser) -> None:
    response = browser.register("Alice@Example.com")
    assert response.url.path == "/sites"
    page = html(response)
    assert page.css_first(".flash").text().startswith("Welcome to PagePulse")
    assert [a.text() for a in page.css("nav.main-nav a")] == ["Sites", "Account"]

    response = browser.submit("/sites", {}, form="form.logout-form")
    assert response.url.path == "/login"
    assert html(response).css_first(".flash").text() == "You are logged out."
    assert browser.get("/sites").url.path == "/login"

    response = browser.login("alice@example.com")
    assert response.url.path == "/sites"
    assert html(response).css_first("h1").text() == "Your sites"


def test_pages_send_anonymous_visitors_to_log_in_and_back(browser: Browser) -> None:
    response = browser.get("/account", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=%2Faccount"
    assert browser.get("/").url.path == "/login"

    browser.register("bob@example.com")
    browser.submit("/sites", {}, form="form.logout-form")
    response = browser.submit(
        "/login?next=/account", {"email": "bob@example.com", "password": PASSWORD}
    )
    assert response.url.path == "/account"
    assert html(response).css_first(".account-email").text() == "bob@example.com"


def test_log_in_never_redirects_off_site(browser: Browser) -> None:
    browser.register("carol@example.com")
    browser.submit("/sites", {}, form="form.logout-form")
    for target in ("//evil.example/x", "https://evil.example/", "/\\evil.example"):
        data = {"email": "carol@example.com", "password": PASSWORD, "next": target}
        response = browser.submit("/login", data, follow_redirects=False)
        assert response.status_code == 303
        assert response.headers["location"] == "/sites", target
        browser.submit("/sites", {}, form="form.logout-form")


def test_session_cookie_flags(browser: Browser) -> None:
    response = browser.register("dave@example.com")
    header = session_cookie_header(response.history[0])
    morsel = SimpleCookie(header)["pp_session"]
    assert morsel["httponly"] is True
    assert morsel["samesite"] == "Lax"
    assert morsel["path"] == "/"
    assert morsel["max-age"] == str(30 * 24 * 3600)
    assert not morsel["secure"]  # base_url is http in these settings


def test_cookies_are_secure_when_served_over_https(settings: Settings, new_browser) -> None:
    settings.base_url = "https://stats.example.com"
    browser = new_browser(base_url="https://testserver")
    response = browser.register("erin@example.com")
    assert response.url.path == "/sites"
    for header in response.history[0].headers.get_list("set-cookie"):
        assert "; Secure" in header, header
    fresh = new_browser(base_url="https://testserver")
    header = fresh.get("/login").headers["set-cookie"]
    assert header.startswith("pp_presession=") and "; Secure" in header


def test_only_a_hash_of_the_session_id_is_stored(browser: Browser, settings: Settings) -> None:
    response = browser.register("frank@example.com")
    cookie = SimpleCookie(session_cookie_header(response.history[0]))["pp_session"].value
    session_id = auth.unsign_cookie(settings.secret, "session", cookie)
    assert session_id
    rows = session_rows(settings)
    assert [r["id_hash"] for r in rows] == [hashlib.sha256(session_id.encode()).hexdigest()]
    assert session_id.encode() not in settings.db_path.read_bytes()


def test_a_forged_session_cookie_is_ignored(browser: Browser, settings: Settings) -> None:
    browser.register("grace@example.com")
    [row] = session_rows(settings)
    browser.client.cookies.set("pp_session", row["id_hash"])  # unsigned: not a session
    assert browser.get("/sites").url.path == "/login"


def test_log_out_deletes_the_session_row(browser: Browser, settings: Settings) -> None:
    browser.register("heidi@example.com")
    old_cookie = browser.client.cookies["pp_session"]
    assert len(session_rows(settings)) == 1
    response = browser.submit("/sites", {}, form="form.logout-form", follow_redirects=False)
    assert 'pp_session=""; HttpOnly; Max-Age=0' in response.headers["set-cookie"]
    assert session_rows(settings) == []
    # The old cookie, replayed, no longer logs anyone in.
    browser.client.cookies.set("pp_session", old_cookie)
    assert browser.get("/sites").url.path == "/login"


def test_session_expiry_slides_and_ends_after_30_idle_days(
    browser: Browser, settings: Settings
) -> None:
    with time_machine.travel("2026-01-01 12:00Z", tick=False) as clock:
        browser.register("ivan@example.com")
        first_expiry = session_rows(settings)[0]["expires_at"]
        clock.shift(20 * 24 * 3600)
        response = browser.get("/sites")
        assert response.url.path == "/sites"
        assert "pp_session=" in response.headers["set-cookie"]  # cookie renewed too
        assert session_rows(settings)[0]["expires_at"] == first_expiry + 20 * 24 * 3600
        clock.shift(29 * 24 * 3600)
        assert browser.get("/sites").url.path == "/sites"  # 49 days in, still active
        cookie = browser.client.cookies["pp_session"]
        clock.shift(31 * 24 * 3600)
        assert browser.get("/sites").url.path == "/login"  # the browser dropped the cookie
        browser.client.cookies.set("pp_session", cookie)  # and the server refuses it
        assert browser.get("/sites").url.path == "/login"
        assert session_rows(settings) == []


def test_register_validates_and_keeps_the_email(browser: Browser) -> None:
    cases = [
        ({"email": "not-an-email", "password": PASSWORD, "confirm": PASSWORD}, "email address"),
        ({"email": "j@example.com", "password": "short", "confirm": "short"}, "at least 8"),
        ({"email": "j@example.com", "password": PASSWORD, "confirm": PASSWORD + "x"}, "differ"),
    ]
    for data, message in cases:
        response = browser.submit("/register", data)
        assert response.status_code == 400
        page = html(response)
        assert message in page.css_first(".form-errors").text()
        assert page.css_first("input[name=email]").attributes["value"] == data["email"]


def test_register_with_a_taken_email_does_not_say_so(browser: Browser, new_browser) -> None:
    browser.register("kim@example.com")
    other = new_browser()
    response = other.register("KIM@example.com", "another password")
    assert response.status_code == 400
    message = html(response).css_first(".form-errors").text()
    assert "could not create an account" in message
    assert "exists" not in message and "taken" not in message
    assert other.get("/sites").url.path == "/login"


def test_registration_closed(settings: Settings, browser: Browser) -> None:
    settings.registration_open = False
    response = browser.get("/register")
    assert response.status_code == 403
    assert html(response).css_first("h1").text() == "Registration is closed"
    assert html(browser.get("/login")).css_first("a[href='/register']") is None
    token = browser.token("/login")
    data = {"email": "x@example.com", "password": PASSWORD, "confirm": PASSWORD}
    response = browser.client.post("/register", data={**data, "csrf_token": token})
    assert response.status_code == 403
    assert browser.get("/sites").url.path == "/login"


def test_change_password(logged_in: Browser, new_browser) -> None:
    elsewhere = new_browser()
    elsewhere.login("owner@example.com")
    assert elsewhere.get("/sites").url.path == "/sites"

    data = {
        "current_password": "wrong password",
        "new_password": "new password 1",
        "confirm": "new password 1",
    }
    response = logged_in.submit("/account", data)
    assert response.status_code == 400
    assert "current password is wrong" in html(response).css_first(".form-errors").text()

    data = {"current_password": PASSWORD, "new_password": "new password 1", "confirm": "nope nope"}
    assert logged_in.submit("/account", data).status_code == 400

    data = {
        "current_password": PASSWORD,
        "new_password": "new password 1",
        "confirm": "new password 1",
    }
    response = logged_in.submit("/account", data)
    assert response.url.path == "/account"
    assert html(response).css_first(".flash").text().startswith("Password changed")
    assert logged_in.get("/sites").url.path == "/sites"  # this session stays
    assert elsewhere.get("/sites").url.path == "/login"  # others are logged out

    logged_in.submit("/sites", {}, form="form.logout-form")
    assert logged_in.login("owner@example.com").status_code == 400
    assert logged_in.login("owner@example.com", "new password 1").url.path == "/sites"
